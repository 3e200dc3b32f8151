"""Output heads and the pretraining model. Every head maps encoder outputs to logits and owns only its weights.

Shape legend: B batch, S sequence, H hidden, V vocab, P predictions, C classes/choices.

The pattern every head follows: constructed from the BertConfig plus its own sizes; `call` takes the encoder
output it needs (`pooled_output` or `sequence_output`) and returns float32 logits. Tasks pick a head by `kind`.
"""

from __future__ import annotations

import keras
import tensorflow as tf
from keras import ops

from bert_tf.modeling.encoder import BertEncoder
from bert_tf.modeling.layers import ConfigLayer, ConfigModel, dense, get_activation, layer_norm


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
class MaskedLMHead(ConfigLayer):
    """Dense + hidden_act + LayerNorm transform, then logits against the tied word-embedding table + bias."""

    def __init__(self, config, name="predictions", **kwargs):
        super().__init__(config, name=name, **kwargs)
        c = self.config
        self.transform = dense(c, c.hidden_size, "dense", get_activation(c.hidden_act))
        self.layer_norm = layer_norm()

    def build(self, input_shape=None):
        h = self.config.hidden_size
        self.transform.build((None, h))
        self.layer_norm.build((None, h))
        # autocast=False: under mixed precision the bias is added to float32 logits at full precision.
        self.output_bias = self.add_weight(
            shape=(self.config.vocab_size,), initializer="zeros", name="output_bias", autocast=False)  # [V]
        self.built = True

    def call(self, sequence_output, masked_lm_positions, embedding_table):
        x = gather_positions(sequence_output, masked_lm_positions)  # [B, P, H]
        x = self.layer_norm(self.transform(x))  # [B, P, H]
        batch, predictions = ops.shape(x)[0], ops.shape(x)[1]
        # The original's [B * P, H] x [V, H]^T matmul: no [V, H] transpose is materialised, forward or backward.
        logits = tf.matmul(tf.reshape(x, [-1, self.config.hidden_size]), ops.cast(embedding_table, x.dtype),
                           transpose_b=True)  # [B * P, V]
        logits = tf.reshape(logits, [batch, predictions, self.config.vocab_size])  # [B, P, V]
        return ops.cast(logits, "float32") + self.output_bias


@keras.saving.register_keras_serializable(package="bert_tf")
class ClassificationHead(keras.layers.Layer):
    """Dropout (training only) + dense: next-sentence, classification, regression (C = 1), multiple choice
    (C = 1 on each choice's pooled output, reshaped to [B, C] by the caller) and token tagging (on [B, S, H]).

    The kernel is stored [H, C] (Keras layout); the original's `output_weights` are [C, H] and the checkpoint
    tables transpose them.
    """

    def __init__(self, num_classes, dropout_rate=0.0, initializer_range=0.02, **kwargs):
        super().__init__(**kwargs)
        self.num_classes = num_classes
        self.dropout_rate = dropout_rate
        self.initializer_range = initializer_range
        self.dropout = keras.layers.Dropout(dropout_rate)
        self.dense = keras.layers.Dense(
            num_classes, kernel_initializer=keras.initializers.TruncatedNormal(stddev=initializer_range),
            name="output")

    def build(self, input_shape):
        self.dense.build(input_shape)
        self.built = True

    def call(self, features, training=None):
        logits = self.dense(self.dropout(features, training=training))  # [..., C]
        return ops.cast(logits, "float32")

    def get_config(self):
        return {**super().get_config(), "num_classes": self.num_classes, "dropout_rate": self.dropout_rate,
                "initializer_range": self.initializer_range}


@keras.saving.register_keras_serializable(package="bert_tf")
class SpanHead(ConfigLayer):
    """Start/end logits per token for extractive QA (the original's `cls/squad` [2, H] head)."""

    def __init__(self, config, **kwargs):
        super().__init__(config, **kwargs)
        self.dense = dense(self.config, 2, "output")

    def build(self, input_shape=None):
        self.dense.build((None, self.config.hidden_size))
        self.built = True

    def call(self, sequence_output):
        logits = ops.cast(self.dense(sequence_output), "float32")  # [B, S, 2]
        return logits[..., 0], logits[..., 1]  # [B, S] each


@keras.saving.register_keras_serializable(package="bert_tf")
class BertMaskedLM(ConfigModel):
    """BertEncoder + masked-LM head only: Hugging Face's BertForMaskedLM, or a TF1 checkpoint without NSP.

    Inputs as BertPretrainer's; outputs the encoder's dict plus `masked_lm_logits` [B, P, V].
    with_pooler: HF's BertForMaskedLM has no pooler; original checkpoints stripped of NSP keep theirs.
    """

    def __init__(self, config, with_pooler=True, name="bert_masked_lm", **kwargs):
        super().__init__(config, name=name, **kwargs)
        self.with_pooler = with_pooler
        self.encoder = BertEncoder(self.config, with_pooler=with_pooler)
        self.masked_lm = MaskedLMHead(self.config)
        self.build()

    def build(self, input_shape=None):
        self.masked_lm.build()
        self.built = True

    def call(self, inputs, training=None):
        return _with_masked_lm(self.encoder, self.masked_lm, inputs, training)

    def get_config(self):
        return {**super().get_config(), "with_pooler": self.with_pooler}


def _with_masked_lm(encoder, masked_lm, inputs, training, return_tied_embeddings=False):
    outputs = dict(encoder(inputs, training=training, return_word_embedding_lookup=return_tied_embeddings))
    table = encoder.embedding_table
    if return_tied_embeddings:
        # [V, H]: a read of the variable (Keras' convert_to_tensor would return the variable itself).
        table = outputs["masked_lm_table"] = tf.convert_to_tensor(table)
    outputs["masked_lm_logits"] = masked_lm(outputs["sequence_output"], inputs["masked_lm_positions"], table)
    return outputs


@keras.saving.register_keras_serializable(package="bert_tf")
class BertPretrainer(ConfigModel):
    """BertEncoder + masked-LM head (tied to the word embeddings) + next-sentence head.

    Inputs: `input_ids`, `input_mask`, `segment_ids` [B, S] and `masked_lm_positions` [B, P].
    Outputs: the encoder's dict plus `masked_lm_logits` [B, P, V] and `next_sentence_logits` [B, 2].
    `return_tied_embeddings=True` adds the two tensors read from the tied word-embedding table:
    `word_embedding_lookup` [B, S, H] (the rows gathered for `input_ids`) and `masked_lm_table` [V, H] (the
    table the masked-LM logits multiply by). The training loop differentiates by them rather than by the table,
    to build the table's gradient as the original's TF1 `tf.gradients` did (`bert_tf.training.loop`).
    """

    def __init__(self, config, name="bert_pretrainer", **kwargs):
        super().__init__(config, name=name, **kwargs)
        self.encoder = BertEncoder(self.config)
        self.masked_lm = MaskedLMHead(self.config)
        self.next_sentence = ClassificationHead(
            2, initializer_range=self.config.initializer_range, name="seq_relationship")
        self.build()

    def build(self, input_shape=None):
        self.masked_lm.build()
        self.next_sentence.build((None, self.config.hidden_size))
        self.built = True

    def call(self, inputs, training=None, return_tied_embeddings=False):
        outputs = _with_masked_lm(self.encoder, self.masked_lm, inputs, training, return_tied_embeddings)
        outputs["next_sentence_logits"] = self.next_sentence(outputs["pooled_output"], training=training)
        return outputs

