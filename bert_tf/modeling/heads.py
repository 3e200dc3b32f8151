"""Output heads, the base of every model with heads (`EncoderModel`), and the pretraining models.

Shape legend: B batch, S sequence, H hidden, E embedding width, V vocab, P predictions, C classes/choices.

A head maps encoder outputs to float32 logits and owns only its weights. A model holds its heads as attributes
named after HEAD_SCOPES, which also says where each head's weights live in TF1 and Hugging Face checkpoints.
"""

from __future__ import annotations

import keras
import tensorflow as tf
from keras import ops

from bert_tf.modeling.encoder import BertEncoder, ConfiguredModel
from bert_tf.modeling.layers import Dropout, SizedLayer, dense, get_activation, initializer, layer_norm, tied_read
from bert_tf.modeling.names import WeightName, dense_names, family_names, layer_norm_names, output_names, scoped

# head attribute -> (TF1 scope, Hugging Face scope). The original's classifier weights sit at the root of the
# TF1 checkpoint (`output_weights`, `output_bias`), its masked-LM, next-sentence and SQuAD heads under `cls/`.
HEAD_SCOPES = {"masked_lm": ("cls/predictions/", "cls.predictions."),
               "next_sentence": ("cls/seq_relationship/", "cls.seq_relationship."),
               "classifier": ("", "classifier."),
               "span": ("cls/squad/", "qa_outputs.")}


def gather_positions(sequence_output, positions):
    """[B, S, H] gathered at [B, P] positions -> [B, P, H]: the original's gather_indexes (rows of the flat
    [B * S, H] at position + b * S), unflattened. Its gradient is B * P rows; Keras' take_along_axis gathers
    B * H * P single values from a transposed copy instead, and its gradient sums them into B * H * S segments."""
    batch, seq, hidden = tf.shape(sequence_output)[0], tf.shape(sequence_output)[1], sequence_output.shape[-1]
    offsets = tf.range(batch)[:, None] * seq  # [B, 1]
    flat_positions = tf.reshape(tf.cast(positions, tf.int32) + offsets, [-1])  # [B * P]
    rows = tf.gather(tf.reshape(sequence_output, [-1, hidden]), flat_positions)  # [B * P, H]
    rows = tf.reshape(rows, [batch, -1, hidden])  # [B, P, H]
    rows.set_shape([*positions.shape, hidden])
    return rows


@keras.saving.register_keras_serializable(package="bert_tf")
class MaskedLMHead(SizedLayer):
    """Dense + hidden_act + LayerNorm transform to the embedding width, then logits against the tied
    word-embedding table + bias."""

    def __init__(self, hidden_size, vocab_size, embedding_size=None, hidden_act="gelu", initializer_range=0.02,
                 layer_norm_epsilon=1e-12, name="predictions", **kwargs):
        embedding_size = embedding_size or hidden_size
        super().__init__(dict(hidden_size=hidden_size, vocab_size=vocab_size, embedding_size=embedding_size,
                              hidden_act=hidden_act, initializer_range=initializer_range,
                              layer_norm_epsilon=layer_norm_epsilon), name=name, **kwargs)
        self.transform = dense(embedding_size, "dense", initializer_range, get_activation(hidden_act))
        self.layer_norm = layer_norm(layer_norm_epsilon)

    def build(self, input_shape=None):
        s = self.settings
        self.transform.build((None, s["hidden_size"]))
        self.layer_norm.build((None, s["embedding_size"]))
        # autocast=False: under mixed precision the bias is added to float32 logits at full precision.
        self.output_bias = self.add_weight(shape=(s["vocab_size"],), initializer="zeros", name="output_bias",
                                           autocast=False)  # [V]
        self.built = True

    def weight_names(self):
        return [*dense_names(self.transform, "transform/dense", "transform.dense"),
                *layer_norm_names(self.layer_norm, "transform/LayerNorm", "transform.LayerNorm"),
                WeightName(self.output_bias, "output_bias", "bias")]

    def call(self, sequence_output, masked_lm_positions, embedding_table):
        x = gather_positions(sequence_output, masked_lm_positions)  # [B, P, H]
        x = self.layer_norm(self.transform(x))  # [B, P, E]
        batch, predictions = ops.shape(x)[0], ops.shape(x)[1]
        # The original's [B * P, E] x [V, E]^T matmul: no [V, E] transpose is materialised, forward or backward.
        logits = tf.matmul(tf.reshape(x, [-1, self.settings["embedding_size"]]), ops.cast(embedding_table, x.dtype),
                           transpose_b=True)  # [B * P, V]
        logits = tf.reshape(logits, [batch, predictions, self.settings["vocab_size"]])  # [B, P, V]
        return ops.cast(logits, "float32") + self.output_bias


@keras.saving.register_keras_serializable(package="bert_tf")
class ClassificationHead(SizedLayer):
    """Dropout (training only) + dense: next-sentence, classification, regression (C = 1), multiple choice
    (C = 1 on each choice's pooled output, reshaped to [B, C] by the caller) and token tagging (on [B, S, H]).

    The kernel is stored [H, C] (Keras layout); the original's `output_weights` are [C, H] (`keras_transpose`).
    """

    def __init__(self, num_classes, dropout_rate=0.0, initializer_range=0.02, **kwargs):
        super().__init__(dict(num_classes=num_classes, dropout_rate=dropout_rate,
                              initializer_range=initializer_range), **kwargs)
        self.num_classes = num_classes
        self.dropout = Dropout(dropout_rate)
        self.dense = keras.layers.Dense(num_classes, kernel_initializer=initializer(initializer_range),
                                        name="output")

    def build(self, input_shape):
        self.dense.build(input_shape)
        self.built = True

    def weight_names(self):
        return output_names(self.dense)

    def call(self, features, training=None):
        logits = self.dense(self.dropout(features, training=training))  # [..., C]
        return ops.cast(logits, "float32")


@keras.saving.register_keras_serializable(package="bert_tf")
class FirstTokenHead(SizedLayer):
    """A dense layer of width H on the first token's vector, dropout, then the class logits: the sequence
    classifiers of the families without BERT's pooled head. `family` says which and how Hugging Face names it:

    * "roberta": dropout, dense + tanh, dropout, `out_proj` (HF `classifier.dense`, `classifier.out_proj`);
    * "distilbert": dense + ReLU, dropout, `classifier` (HF `pre_classifier`, `classifier`).

    TF1 names (neither family has a TF1 release): `classifier/dense/{kernel,bias}` and the original classifier's
    `output_weights` [C, H] / `output_bias`, so a checkpoint's class count is read where BERT's is.
    """

    FAMILIES = {"roberta": ("tanh", True, "dense", "out_proj."), "distilbert": ("relu", False, "pre_classifier", "")}

    def __init__(self, num_classes, hidden_size, family, dropout_rate=0.0, initializer_range=0.02, **kwargs):
        super().__init__(dict(num_classes=num_classes, hidden_size=hidden_size, family=family,
                              dropout_rate=dropout_rate, initializer_range=initializer_range), **kwargs)
        if family not in self.FAMILIES:
            raise ValueError(f"FirstTokenHead: family {family!r} is not one of {', '.join(self.FAMILIES)}")
        activation, self.dropout_first, self.dense_hf, self.output_hf = self.FAMILIES[family]
        self.num_classes = num_classes
        self.dropout = Dropout(dropout_rate)
        self.dense = dense(hidden_size, "dense", initializer_range, get_activation(activation))
        self.output_dense = dense(num_classes, "output", initializer_range)

    def build(self, input_shape=None):
        self.dense.build((None, self.settings["hidden_size"]))
        self.output_dense.build((None, self.settings["hidden_size"]))
        self.built = True

    def weight_names(self):
        out = self.output_dense
        return [*dense_names(self.dense, "classifier/dense", self.dense_hf),
                WeightName(out.kernel, "output_weights", f"{self.output_hf}weight", keras_transpose=True),
                WeightName(out.bias, "output_bias", f"{self.output_hf}bias")]

    def call(self, sequence_output, training=None):
        x = sequence_output[:, 0]  # [B, H]: <s> / [CLS]
        if self.dropout_first:
            x = self.dropout(x, training=training)
        x = self.dropout(self.dense(x), training=training)  # [B, H]
        return ops.cast(self.output_dense(x), "float32")  # [B, C]


@keras.saving.register_keras_serializable(package="bert_tf")
class SpanHead(SizedLayer):
    """Start/end logits per token for extractive QA (the original's `cls/squad` [2, H] head, no dropout)."""

    def __init__(self, hidden_size, initializer_range=0.02, **kwargs):
        super().__init__(dict(hidden_size=hidden_size, initializer_range=initializer_range), **kwargs)
        self.dense = dense(2, "output", initializer_range)

    def build(self, input_shape=None):
        self.dense.build((None, self.settings["hidden_size"]))
        self.built = True

    def weight_names(self):
        return output_names(self.dense)

    def call(self, sequence_output):
        logits = ops.cast(self.dense(sequence_output), "float32")  # [B, S, 2]
        return logits[..., 0], logits[..., 1]  # [B, S] each


class EncoderModel(ConfiguredModel):
    """A BertEncoder (`self.encoder`) and heads (attributes named as HEAD_SCOPES' keys).

    `call(inputs, training, return_attention_probs=False, head_mask=None, return_hidden_states=False)` runs the
    encoder on `encoder_inputs(inputs)` (with `head_mask`'s gates, see BertEncoder) and returns
    `head_outputs(...)`, a dict; with `return_attention_probs` it also holds `attention_probs` and
    `attention_scores` (the encoder's, one [B, N, S, T] per block run), with `return_hidden_states` the encoder's
    `embedding_output`, `encoder_outputs` and `sequence_output` (what a distilled student is compared on).
    Subclasses build their heads and define `head_outputs`.
    """

    # False where no head reads `pooled_output` and it is no output users rely on (taggers, span labelers): a
    # checkpoint without a pooler then loads strictly all the same (Hugging Face builds those without one).
    uses_pooler = True
    input_features = BertEncoder.input_features  # the batch features a call reads

    def __init__(self, config, with_pooler=True, **kwargs):
        super().__init__(config, **kwargs)
        self.with_pooler = with_pooler
        self.encoder = BertEncoder(self.config, with_pooler=with_pooler)

    def extra_config(self):
        return {"with_pooler": self.with_pooler}

    def encoder_inputs(self, inputs):
        return inputs

    def head_outputs(self, encoded, inputs, training):
        raise NotImplementedError

    def call(self, inputs, training=None, return_attention_probs=False, head_mask=None, return_hidden_states=False):
        encoded = self.encoder(self.encoder_inputs(inputs), training=training,
                               return_attention_probs=return_attention_probs, head_mask=head_mask)
        outputs = self.head_outputs(encoded, inputs, training)
        names = (("attention_probs", "attention_scores") if return_attention_probs else ()) + (
            ("embedding_output", "encoder_outputs", "sequence_output") if return_hidden_states else ())
        return {**outputs, **{name: encoded[name] for name in names}}

    def heads(self):
        """{head attribute: layer} of the heads this model has, in HEAD_SCOPES order."""
        return {h: getattr(self, h) for h in HEAD_SCOPES if getattr(self, h, None) is not None}

    def build(self, input_shape=None):
        for head in self.heads().values():
            head.build((None, self.plan.hidden_size))
        self.built = True

    def weight_names(self):
        names = self.encoder.bert_weight_names()
        for head, layer in self.heads().items():
            names += scoped(layer.weight_names(), *HEAD_SCOPES[head])
        return family_names(names, self.config)


class _MaskedLMModel(EncoderModel):
    """An encoder with the masked-LM head (tied to the word embeddings); subclasses may add heads, then build."""

    input_features = (*EncoderModel.input_features, "masked_lm_positions")

    def __init__(self, config, **kwargs):
        super().__init__(config, **kwargs)
        p = self.plan
        self.masked_lm = MaskedLMHead(p.hidden_size, p.vocab_size, p.embedding_size, p.hidden_act,
                                      p.initializer_range, p.layer_norm_epsilon)

    def head_outputs(self, encoded, inputs, training):
        # [V, E]: a read of the variable (Keras' convert_to_tensor would return the variable itself).
        table = tied_read("masked_lm_table", tf.convert_to_tensor(self.encoder.embedding_table))
        return {**encoded, "masked_lm_logits": self.masked_lm(encoded["sequence_output"],
                                                                inputs["masked_lm_positions"], table)}


@keras.saving.register_keras_serializable(package="bert_tf")
class BertMaskedLM(_MaskedLMModel):
    """BertEncoder + masked-LM head only: Hugging Face's BertForMaskedLM, a TF1 checkpoint without NSP, and
    pretraining without the next-sentence objective.

    Inputs: `input_ids`, `input_mask`, `segment_ids` [B, S] and `masked_lm_positions` [B, P].
    Outputs: the encoder's dict plus `masked_lm_logits` [B, P, V].
    with_pooler: HF's BertForMaskedLM has no pooler; original checkpoints stripped of NSP keep theirs.
    """

    def __init__(self, config, with_pooler=True, name="bert_masked_lm", **kwargs):
        super().__init__(config, with_pooler=with_pooler, name=name, **kwargs)
        self.build()


@keras.saving.register_keras_serializable(package="bert_tf")
class BertPretrainer(_MaskedLMModel):
    """BertEncoder + masked-LM head (tied to the word embeddings) + next-sentence head: the original pretraining
    model. Outputs: BertMaskedLM's plus `next_sentence_logits` [B, 2]."""

    def __init__(self, config, name="bert_pretrainer", **kwargs):
        kwargs.pop("with_pooler", None)  # always: the next-sentence head reads the pooled output
        super().__init__(config, name=name, **kwargs)
        self.next_sentence = ClassificationHead(2, initializer_range=self.plan.initializer_range,
                                                name="seq_relationship")
        self.build()

    def head_outputs(self, encoded, inputs, training):
        outputs = super().head_outputs(encoded, inputs, training)
        outputs["next_sentence_logits"] = self.next_sentence(outputs["pooled_output"], training=training)
        return outputs
