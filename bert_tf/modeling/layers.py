"""The encoder's building blocks: activations, embeddings, self-attention and the post-LN Transformer block.

Shape legend: B batch, S sequence (queries), T sequence (keys), H hidden, N heads, D head size (H / N),
I intermediate, V vocab, P predictions, C choices.

Every layer takes the frozen `BertConfig` (or its dict) and builds its weights from it alone (no input shapes
are needed; the top-level model builds everything at construction, so weights exist before any call). Sub-layers
are named so that variable paths read like `bert/layer_3/attention/query/kernel`; the checkpoint name table in
`bert_tf/checkpoints.py` is written against these attributes.
"""

from __future__ import annotations

import math

import keras
import tensorflow as tf
from keras import ops

from bert_tf.config import BertConfig

LAYER_NORM_EPSILON = 1e-12  # the original's variance_epsilon (Keras' default is 1e-3)
MASK_ADDER = -10000.0  # added to the scores of masked keys before the softmax, as the original


def gelu_tanh(x):
    """The original BERT "gelu": the tanh approximation, in the original's operation order."""
    cdf = 0.5 * (1.0 + ops.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * ops.power(x, 3))))
    return x * cdf


def gelu_exact(x):
    """The erf form (what Hugging Face calls "gelu")."""
    return ops.gelu(x, approximate=False)


_ACTIVATIONS = {"gelu": gelu_tanh, "gelu_exact": gelu_exact, "relu": ops.relu, "tanh": ops.tanh,
                "linear": None}


def get_activation(name: str | None):
    """Maps a `hidden_act` string (case-insensitive, as the original) to a function; "linear", "" and None -> None
    (no activation: the original's get_activation returns None for an empty or non-string name)."""
    if name is None or name == "":
        return None
    key = name.lower() if isinstance(name, str) else name
    if key not in _ACTIVATIONS:
        raise ValueError(f"Unsupported activation: {name!r} (supported: {sorted(_ACTIVATIONS)})")
    return _ACTIVATIONS[key]


def as_config(config) -> BertConfig:
    return config if isinstance(config, BertConfig) else BertConfig.from_dict(config)


def initializer(config: BertConfig):
    """Truncated normal with TF semantics (redraw beyond 2 stddev), stddev = initializer_range."""
    return keras.initializers.TruncatedNormal(stddev=config.initializer_range)


def dense(config: BertConfig, units: int, name: str, activation=None) -> keras.layers.Dense:
    return keras.layers.Dense(units, activation=activation, kernel_initializer=initializer(config), name=name)


def layer_norm(name: str = "LayerNorm") -> keras.layers.LayerNormalization:
    return keras.layers.LayerNormalization(axis=-1, epsilon=LAYER_NORM_EPSILON, name=name)


class ConfigLayer(keras.layers.Layer):
    """A layer whose only constructor argument (besides Keras' own) is the BertConfig."""

    def __init__(self, config, **kwargs):
        super().__init__(**kwargs)
        self.config = as_config(config)

    def get_config(self):
        return {**super().get_config(), "config": self.config.to_dict()}


class ConfigModel(keras.Model):
    """A model built from the BertConfig alone; its config round-trips through `get_config`/`from_config`."""

    def __init__(self, config, **kwargs):
        super().__init__(**kwargs)
        self.config = as_config(config)

    def get_config(self):
        return {"name": self.name, "trainable": self.trainable, "config": self.config.to_dict()}

    @classmethod
    def from_config(cls, config):
        return cls(**config)


@keras.saving.register_keras_serializable(package="bert_tf")
class BertEmbeddings(ConfigLayer):
    """Word + token-type + position embeddings, LayerNorm, dropout (spec §1.2, scope `bert/embeddings`)."""

    def __init__(self, config, **kwargs):
        super().__init__(config, **kwargs)
        self.layer_norm = layer_norm()
        self.dropout = keras.layers.Dropout(self.config.hidden_dropout_prob)

    def build(self, input_shape=None):
        c = self.config
        self.word_embeddings = self.add_weight(
            shape=(c.vocab_size, c.hidden_size), initializer=initializer(c), name="word_embeddings")  # [V, H]
        self.token_type_embeddings = self.add_weight(
            shape=(c.type_vocab_size, c.hidden_size), initializer=initializer(c), name="token_type_embeddings")
        self.position_embeddings = self.add_weight(
            shape=(c.max_position_embeddings, c.hidden_size), initializer=initializer(c),
            name="position_embeddings")
        self.layer_norm.build((None, c.hidden_size))
        self.built = True

    def call(self, input_ids, segment_ids, training=None, return_word_embedding_lookup=False):
        """[B, S] ids -> [B, S, H]; with `return_word_embedding_lookup`, also the gathered word-embedding rows
        [B, S, H] (before the sums and LayerNorm), which the pretraining loop differentiates by."""
        seq_length = input_ids.shape[1]
        max_positions = self.config.max_position_embeddings
        if seq_length is not None and seq_length > max_positions:
            raise ValueError(f"sequence length {seq_length} exceeds max_position_embeddings {max_positions}")
        if seq_length is None:
            seq_length = tf.shape(input_ids)[1]
            tf.debugging.assert_less_equal(
                seq_length, max_positions, message="sequence length exceeds max_position_embeddings")
        lookup = ops.take(self.word_embeddings, input_ids, axis=0)  # [B, S, H]
        # Token types go through a one-hot matmul, as in the original: the same values as a gather, but a dense
        # gradient. A gather's gradient is IndexedSlices, whose values clip_by_global_norm counts once per
        # position (B * S rows for 2 table rows), so Keras' fit would clip by a different norm than the original.
        # (Word embeddings are a gather in both, as the original's use_one_hot_embeddings=False off TPU; in
        # pretraining that gradient is joined to the masked-LM one as TF1 joined them: `Pretraining._gradients`.)
        one_hot = ops.one_hot(segment_ids, self.config.type_vocab_size, dtype=lookup.dtype)  # [B, S, type vocab]
        x = lookup + ops.matmul(one_hot, self.token_type_embeddings)  # [B, S, H]
        x = x + self.position_embeddings[:seq_length][None]  # positions 0..S-1, no offset
        output = self.dropout(self.layer_norm(x), training=training)
        return (output, lookup) if return_word_embedding_lookup else output


@keras.saving.register_keras_serializable(package="bert_tf")
class SelfAttention(ConfigLayer):
    """Multi-head self-attention with its output projection and post-LN residual (spec §1.2 steps 1-2)."""

    def __init__(self, config, **kwargs):
        super().__init__(config, **kwargs)
        c = self.config
        self.query = dense(c, c.hidden_size, "query")
        self.key = dense(c, c.hidden_size, "key")
        self.value = dense(c, c.hidden_size, "value")
        self.output_dense = dense(c, c.hidden_size, "output")
        self.layer_norm = layer_norm()
        self.probs_dropout = keras.layers.Dropout(c.attention_probs_dropout_prob)
        self.output_dropout = keras.layers.Dropout(c.hidden_dropout_prob)

    def build(self, input_shape=None):
        h = self.config.hidden_size
        for sublayer in (self.query, self.key, self.value, self.output_dense, self.layer_norm):
            sublayer.build((None, h))
        self.built = True

    def _split_heads(self, x, batch, seq):
        return ops.reshape(x, (batch, seq, self.config.num_attention_heads, self.config.head_size))

    def call(self, x, mask_adder, training=None):
        """Returns (output [B, S, H], attention probabilities [B, N, S, T])."""
        batch, seq = ops.shape(x)[0], ops.shape(x)[1]
        q = self._split_heads(self.query(x), batch, seq)  # [B, S, N, D]
        k = self._split_heads(self.key(x), batch, seq)  # [B, T, N, D]
        v = self._split_heads(self.value(x), batch, seq)  # [B, T, N, D]
        scores = ops.einsum("bsnd,btnd->bnst", q, k)  # [B, N, S, T]
        # The original multiplies after the matmul, by 1/sqrt(D); softmax runs in float32 under mixed precision
        # (Keras casts the float mask argument to the compute dtype: bfloat16 rounds -10000 to -9984, still 0 after
        # the softmax).
        scores = ops.cast(scores, "float32") * (1.0 / math.sqrt(self.config.head_size))
        probs = ops.softmax(scores + ops.cast(mask_adder, "float32"), axis=-1)  # [B, N, S, T]
        probs_c = ops.cast(self.probs_dropout(probs, training=training), v.dtype)
        context = ops.einsum("bnst,btnd->bsnd", probs_c, v)  # [B, S, N, D]
        context = ops.reshape(context, (batch, seq, self.config.hidden_size))  # [B, S, H]
        out = self.output_dropout(self.output_dense(context), training=training)
        return self.layer_norm(out + x), probs


@keras.saving.register_keras_serializable(package="bert_tf")
class TransformerBlock(ConfigLayer):
    """One post-LN Transformer layer: attention, then GELU feed-forward with residual and LayerNorm."""

    def __init__(self, config, **kwargs):
        super().__init__(config, **kwargs)
        c = self.config
        self.attention = SelfAttention(c, name="attention")
        self.intermediate = dense(c, c.intermediate_size, "intermediate", get_activation(c.hidden_act))
        self.output_dense = dense(c, c.hidden_size, "output")
        self.layer_norm = layer_norm()
        self.output_dropout = keras.layers.Dropout(c.hidden_dropout_prob)

    def build(self, input_shape=None):
        c = self.config
        self.attention.build()
        self.intermediate.build((None, c.hidden_size))
        self.output_dense.build((None, c.intermediate_size))
        self.layer_norm.build((None, c.hidden_size))
        self.built = True

    def call(self, x, mask_adder, training=None):
        """Returns (output [B, S, H], attention probabilities [B, N, S, T])."""
        attended, probs = self.attention(x, mask_adder, training=training)
        inner = self.intermediate(attended)  # [B, S, I]
        out = self.output_dropout(self.output_dense(inner), training=training)  # [B, S, H]
        return self.layer_norm(out + attended), probs
