"""Keras 3 BERT: the encoder (embeddings, attention, Transformer blocks, pooler) and its heads."""

from bert_tf.modeling.encoder import BertEncoder, attention_mask_adder
from bert_tf.modeling.heads import (
    BertMaskedLM,
    BertPretrainer,
    ClassificationHead,
    MaskedLMHead,
    SpanHead,
    gather_positions,
)
from bert_tf.modeling.layers import (
    LAYER_NORM_EPSILON,
    MASK_ADDER,
    BertEmbeddings,
    SelfAttention,
    TransformerBlock,
    gelu_exact,
    gelu_tanh,
    get_activation,
)
from bert_tf.modeling.task_models import BertClassifier, BertMultipleChoice, BertSpanLabeler, BertTagger

__all__ = [
    "LAYER_NORM_EPSILON",
    "MASK_ADDER",
    "BertEmbeddings",
    "BertClassifier",
    "BertEncoder",
    "BertMaskedLM",
    "BertMultipleChoice",
    "BertPretrainer",
    "ClassificationHead",
    "MaskedLMHead",
    "SelfAttention",
    "SpanHead",
    "BertSpanLabeler",
    "BertTagger",
    "TransformerBlock",
    "attention_mask_adder",
    "gather_positions",
    "gelu_exact",
    "gelu_tanh",
    "get_activation",
]
