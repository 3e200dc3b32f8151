"""Keras 3 BERT built from parts: embeddings, attention, Transformer blocks, the encoder a plan assembles, and
the heads and models on top of it."""

from bert_tf.modeling.encoder import BertEncoder, ConfiguredModel, attention_mask_adder
from bert_tf.modeling.heads import (
    HEAD_SCOPES,
    BertMaskedLM,
    BertPretrainer,
    ClassificationHead,
    EncoderModel,
    MaskedLMHead,
    SpanHead,
    gather_positions,
)
from bert_tf.modeling.layers import (
    LAYER_NORM_EPSILON,
    MASK_ADDER,
    BertEmbeddings,
    Dropout,
    SelfAttention,
    TransformerBlock,
    gelu_exact,
    gelu_tanh,
    get_activation,
    recording_tied_reads,
    use_fast_dropout,
)
from bert_tf.modeling.names import WeightName
from bert_tf.modeling.plan import BlockPlan, EncoderPlan, as_plan
from bert_tf.modeling.task_models import BertClassifier, BertMultipleChoice, BertSpanLabeler, BertTagger

__all__ = [
    "HEAD_SCOPES",
    "LAYER_NORM_EPSILON",
    "MASK_ADDER",
    "BertClassifier",
    "BertEmbeddings",
    "BertEncoder",
    "BertMaskedLM",
    "BertMultipleChoice",
    "BertPretrainer",
    "BertSpanLabeler",
    "BertTagger",
    "BlockPlan",
    "ClassificationHead",
    "ConfiguredModel",
    "Dropout",
    "EncoderModel",
    "EncoderPlan",
    "MaskedLMHead",
    "SelfAttention",
    "SpanHead",
    "TransformerBlock",
    "WeightName",
    "as_plan",
    "attention_mask_adder",
    "gather_positions",
    "gelu_exact",
    "gelu_tanh",
    "get_activation",
    "recording_tied_reads",
    "use_fast_dropout",
]
