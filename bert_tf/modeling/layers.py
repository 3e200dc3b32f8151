"""The encoder's building blocks: activations, embeddings, self-attention and the Transformer block.

Shape legend: B batch, S sequence (queries), T sequence (keys), E embedding width, H hidden, N heads, D head size,
I intermediate, V vocab.

Every layer takes plain sizes and settings (no config object), lists all of them in `get_config`, builds its
weights from them alone (no input shapes needed), and declares its checkpoint names in `weight_names()`
(`bert_tf.modeling.names`). Sub-layers are named so that variable paths read like
`bert/layer_3/attention/query/kernel`.
"""

from __future__ import annotations

import contextlib
import math
import threading

import keras
import tensorflow as tf
from keras import ops

from bert_tf.modeling.names import WeightName, dense_names, layer_norm_names, scoped

LAYER_NORM_EPSILON = 1e-12  # the original's variance_epsilon (Keras' default is 1e-3)
MASK_ADDER = -10000.0  # added to the scores of masked keys before the softmax, as the original


def _in_float32(activation):
    """`activation` computed in float32 for a bfloat16 or float16 input, its result cast back: CPUs have no
    vector kernels for erf, tanh and pow in half precision (TensorFlow runs them element by element, slower than
    the matmuls they follow), and float32 keeps the curve's precision. Float32 inputs pass as they are."""

    def in_float32(x):
        if x.dtype in ("float32", "float64"):
            return activation(x)
        return ops.cast(activation(ops.cast(x, "float32")), x.dtype)

    in_float32.__name__ = activation.__name__
    return in_float32


@_in_float32
def gelu_tanh(x):
    """The original BERT "gelu": the tanh approximation, in the original's operation order."""
    cdf = 0.5 * (1.0 + ops.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * ops.power(x, 3))))
    return x * cdf


@_in_float32
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


def initializer(stddev):
    """Truncated normal with TF semantics (redraw beyond 2 stddev), as the original's create_initializer."""
    return keras.initializers.TruncatedNormal(stddev=stddev)


def dense(units: int, name: str, initializer_range: float, activation=None) -> keras.layers.Dense:
    return keras.layers.Dense(units, activation=activation, kernel_initializer=initializer(initializer_range),
                              name=name)


def layer_norm(epsilon: float = LAYER_NORM_EPSILON, name: str = "LayerNorm") -> keras.layers.LayerNormalization:
    return keras.layers.LayerNormalization(axis=-1, epsilon=epsilon, name=name)


# ---------------------------------------------------------------------------------------------- tied reads

_recorder = threading.local()  # per thread: MirroredStrategy traces its replicas in concurrent threads


@contextlib.contextmanager
def recording_tied_reads():
    """Within it, the tensors a forward pass reads from the tied word-embedding table are recorded in the dict
    it yields: `word_embedding_lookup` [B, S, E] (the rows the embeddings gather) and `masked_lm_table` [V, E]
    (the table the masked-LM logits multiply by). The trainer differentiates by them to build the table's
    gradient as the original's TF1 `tf.gradients` did (`bert_tf.training.trainer`); outside it nothing is kept."""
    previous = getattr(_recorder, "reads", None)
    _recorder.reads = {}
    try:
        yield _recorder.reads
    finally:
        _recorder.reads = previous


def tied_read(name, tensor):
    """Records `tensor` under `name` when a `recording_tied_reads` is open in this thread; returns it."""
    reads = getattr(_recorder, "reads", None)
    if reads is not None:
        reads[name] = tensor
    return tensor


# ---------------------------------------------------------------------------------------------- dropout

MASK_BITS = 16  # random bits per element of a fast dropout mask


@keras.saving.register_keras_serializable(package="bert_tf")
class Dropout(keras.layers.Dropout):
    """Keras' Dropout (the original's: keep where a float32 uniform >= rate, scale kept values by 1 / (1 - rate)),
    with a faster mask on request (`use_fast_dropout`): keep where 16 random bits >= round(rate * 2^16), half the
    random numbers of a float32 uniform (two masks per 32-bit draw). The keep probability is then rate rounded to a
    multiple of 2^-16 (0.1 -> 0.100006) instead of 2^-23, the scale stays 1 / (1 - rate), and the masks are other
    draws: same distribution to 6e-6, other values. The mask multiplies the input in one op, forward and back."""

    fast = False

    def call(self, inputs, training=False):
        if not (self.fast and training and 0 < self.rate < 1 and self.noise_shape is None):
            return super().call(inputs, training=training)
        seed = tf.cast(self.seed_generator.next(), tf.int64)
        dtype = tf.as_dtype(inputs.dtype)
        threshold = tf.constant(min(round(self.rate * 2**MASK_BITS), 2**MASK_BITS - 1), tf.uint16)
        shape = inputs.shape
        if shape.is_fully_defined() and shape.rank and shape[-1] % 2 == 0:  # the training shapes: no slicing
            draws = tf.random.stateless_uniform([*shape[:-1], shape[-1] // 2], seed, minval=None, maxval=None,
                                                dtype=tf.uint32)
            bits = tf.reshape(tf.bitcast(draws, tf.uint16), shape)
        else:
            size = tf.size(inputs)
            draws = tf.random.stateless_uniform([(size + 1) // 2], seed, minval=None, maxval=None, dtype=tf.uint32)
            bits = tf.reshape(tf.reshape(tf.bitcast(draws, tf.uint16), [-1])[:size], tf.shape(inputs))
        mask = tf.where(bits >= threshold, tf.constant(1.0 / (1.0 - self.rate), dtype), tf.constant(0.0, dtype))
        return inputs * mask


def use_fast_dropout(model, fast=True):
    """Turns the fast dropout masks (`Dropout`) on (or off) in every bert_tf Dropout layer of `model`; returns
    how many there are. Calls traced afterwards draw them."""
    layers = [layer for layer in model._flatten_layers(include_self=True) if isinstance(layer, Dropout)]
    for layer in layers:
        layer.fast = fast
    return len(layers)


# ---------------------------------------------------------------------------------------------- layers


class SizedLayer(keras.layers.Layer):
    """A layer whose constructor arguments are plain values, kept in `self.settings` for `get_config`."""

    def __init__(self, settings: dict, **kwargs):
        super().__init__(**kwargs)
        self.settings = dict(settings)

    def get_config(self):
        return {**super().get_config(), **self.settings}


@keras.saving.register_keras_serializable(package="bert_tf")
class BertEmbeddings(SizedLayer):
    """Word + token-type + position embeddings, LayerNorm, dropout (docs/ORIGINAL.md §1.2; TF1 scope
    `bert/embeddings`). type_vocab_size 0 means no token-type table."""

    def __init__(self, vocab_size, embedding_size, type_vocab_size=2, max_position_embeddings=512,
                 position_offset=0, hidden_dropout_prob=0.1, initializer_range=0.02,
                 layer_norm_epsilon=LAYER_NORM_EPSILON, **kwargs):
        super().__init__(dict(vocab_size=vocab_size, embedding_size=embedding_size, type_vocab_size=type_vocab_size,
                              max_position_embeddings=max_position_embeddings, position_offset=position_offset,
                              hidden_dropout_prob=hidden_dropout_prob, initializer_range=initializer_range,
                              layer_norm_epsilon=layer_norm_epsilon), **kwargs)
        self.layer_norm = layer_norm(layer_norm_epsilon)
        self.dropout = Dropout(hidden_dropout_prob)

    def build(self, input_shape=None):
        s = self.settings
        width, stddev = s["embedding_size"], s["initializer_range"]
        # A fresh initializer per table: an unseeded Keras initializer draws its seed once, when it is created.
        self.word_embeddings = self.add_weight(shape=(s["vocab_size"], width), initializer=initializer(stddev),
                                               name="word_embeddings")  # [V, E]
        self.token_type_embeddings = None
        if s["type_vocab_size"]:
            self.token_type_embeddings = self.add_weight(
                shape=(s["type_vocab_size"], width), initializer=initializer(stddev), name="token_type_embeddings")
        self.position_embeddings = self.add_weight(
            shape=(s["max_position_embeddings"], width), initializer=initializer(stddev), name="position_embeddings")
        self.layer_norm.build((None, width))
        self.built = True

    def weight_names(self):
        names = [WeightName(self.word_embeddings, "word_embeddings", "word_embeddings.weight"),
                 WeightName(self.position_embeddings, "position_embeddings", "position_embeddings.weight")]
        if self.token_type_embeddings is not None:
            names.insert(1, WeightName(self.token_type_embeddings, "token_type_embeddings",
                                       "token_type_embeddings.weight"))
        return names + layer_norm_names(self.layer_norm, "LayerNorm", "LayerNorm")

    def call(self, input_ids, segment_ids=None, training=None):
        """[B, S] ids -> [B, S, E]."""
        offset, max_positions = self.settings["position_offset"], self.settings["max_position_embeddings"]
        seq_length = input_ids.shape[1]
        if seq_length is not None and seq_length + offset > max_positions:
            raise ValueError(f"sequence length {seq_length} exceeds max_position_embeddings {max_positions}"
                             + (f" less the position offset {offset}" if offset else ""))
        if seq_length is None:
            seq_length = tf.shape(input_ids)[1]
            tf.debugging.assert_less_equal(seq_length + offset, max_positions,
                                           message="sequence length exceeds max_position_embeddings")
        lookup = tied_read("word_embedding_lookup", ops.take(self.word_embeddings, input_ids, axis=0))  # [B, S, E]
        x = lookup
        if self.token_type_embeddings is not None:
            # Token types go through a one-hot matmul, as in the original: the same values as a gather, but a
            # dense gradient. A gather's gradient is IndexedSlices, whose values clip_by_global_norm counts once
            # per position (B * S rows for 2 table rows), so clipping would see another norm than the original's.
            one_hot = ops.one_hot(segment_ids, self.settings["type_vocab_size"], dtype=lookup.dtype)  # [B, S, T]
            x = x + ops.matmul(one_hot, self.token_type_embeddings)  # [B, S, E]
        x = x + self.position_embeddings[offset:offset + seq_length][None]  # [B, S, E]
        return self.dropout(self.layer_norm(x), training=training)


def _block_settings(hidden_size, num_attention_heads, attention_head_size, hidden_dropout_prob,
                    attention_probs_dropout_prob, initializer_range, layer_norm_epsilon, norm_first):
    if attention_head_size is None:
        if not num_attention_heads or hidden_size % num_attention_heads:
            raise ValueError(f"hidden_size {hidden_size} is not a multiple of num_attention_heads "
                             f"{num_attention_heads}: give attention_head_size")
        attention_head_size = hidden_size // num_attention_heads
    return dict(hidden_size=hidden_size, num_attention_heads=num_attention_heads,
                attention_head_size=attention_head_size, hidden_dropout_prob=hidden_dropout_prob,
                attention_probs_dropout_prob=attention_probs_dropout_prob, initializer_range=initializer_range,
                layer_norm_epsilon=layer_norm_epsilon, norm_first=norm_first)


@keras.saving.register_keras_serializable(package="bert_tf")
class SelfAttention(SizedLayer):
    """Multi-head self-attention with its output projection and residual (docs/ORIGINAL.md §1.2 steps 1-2).

    Post-LN (the original): LayerNorm(x + dropout(dense(attention(x)))). norm_first: x + dropout(dense(
    attention(LayerNorm(x)))). N heads of size D: N * D need not be H (heads pruned from a block); with N = 0
    the attention adds its output bias alone (as Hugging Face after pruning every head of a layer).
    """

    def __init__(self, hidden_size, num_attention_heads, attention_head_size=None, hidden_dropout_prob=0.1,
                 attention_probs_dropout_prob=0.1, initializer_range=0.02, layer_norm_epsilon=LAYER_NORM_EPSILON,
                 norm_first=False, **kwargs):
        super().__init__(_block_settings(hidden_size, num_attention_heads, attention_head_size, hidden_dropout_prob,
                                         attention_probs_dropout_prob, initializer_range, layer_norm_epsilon,
                                         norm_first), **kwargs)
        s = self.settings
        width = s["num_attention_heads"] * s["attention_head_size"]
        self.query = self.key = self.value = None  # Keras has no Dense of 0 units: no projections without heads
        if width:
            self.query = dense(width, "query", initializer_range)
            self.key = dense(width, "key", initializer_range)
            self.value = dense(width, "value", initializer_range)
        self.output_dense = dense(hidden_size, "output", initializer_range)
        self.layer_norm = layer_norm(layer_norm_epsilon)
        self.probs_dropout = Dropout(attention_probs_dropout_prob)
        self.output_dropout = Dropout(hidden_dropout_prob)

    def build(self, input_shape=None):
        s = self.settings
        for sublayer in (self.query, self.key, self.value):
            if sublayer is not None:
                sublayer.build((None, s["hidden_size"]))
        self.output_dense.build((None, s["num_attention_heads"] * s["attention_head_size"]))
        self.layer_norm.build((None, s["hidden_size"]))
        self.built = True

    def weight_names(self):
        projections = [] if self.query is None else [*dense_names(self.query, "self/query", "self.query"),
                                                      *dense_names(self.key, "self/key", "self.key"),
                                                      *dense_names(self.value, "self/value", "self.value")]
        return [*projections,
                *dense_names(self.output_dense, "output/dense", "output.dense"),
                *layer_norm_names(self.layer_norm, "output/LayerNorm", "output.LayerNorm")]

    def _split_heads(self, x, batch, seq):
        return ops.reshape(x, (batch, seq, self.settings["num_attention_heads"], self.settings["attention_head_size"]))

    def call(self, x, mask_adder, head_mask=None, training=None):
        """Returns (output [B, S, H], attention probabilities [B, N, S, T], scores [B, N, S, T]): the scores are
        QK^T / sqrt(D) before the mask and the softmax; both float32, or float64 for a float64 model. `head_mask`
        [N] (or [B, N]) gates each head's probabilities (after dropout): 0 removes the head's context, as Michel et
        al.'s gates; the probabilities returned are the ungated ones."""
        s = self.settings
        batch, seq = ops.shape(x)[0], ops.shape(x)[1]
        inputs = self.layer_norm(x) if s["norm_first"] else x
        if self.query is None:
            context = ops.zeros((batch, seq, 0), x.dtype)  # [B, S, 0]
            probs = ops.zeros((batch, 0, seq, seq), "float64" if x.dtype == "float64" else "float32")
            return self._output(context, x, training), probs, probs
        q = self._split_heads(self.query(inputs), batch, seq)  # [B, S, N, D]
        k = self._split_heads(self.key(inputs), batch, seq)  # [B, T, N, D]
        v = self._split_heads(self.value(inputs), batch, seq)  # [B, T, N, D]
        scores = ops.einsum("bsnd,btnd->bnst", q, k)  # [B, N, S, T]
        # The original multiplies after the matmul, by 1/sqrt(D); softmax runs in float32 under mixed precision
        # (Keras casts the float mask argument to the compute dtype: bfloat16 rounds -10000 to -9984, still 0 after
        # the softmax).
        dtype = "float64" if scores.dtype == "float64" else "float32"
        scores = ops.cast(scores, dtype) * (1.0 / math.sqrt(s["attention_head_size"]))
        probs = ops.softmax(scores + ops.cast(mask_adder, dtype), axis=-1)  # [B, N, S, T]
        probs_c = ops.cast(self.probs_dropout(probs, training=training), v.dtype)
        if head_mask is not None:
            probs_c = probs_c * ops.cast(head_mask, v.dtype)[..., None, None]  # [N] or [B, N] -> [B, N, S, T]
        context = ops.einsum("bnst,btnd->bsnd", probs_c, v)  # [B, S, N, D]
        context = ops.reshape(context, (batch, seq, s["num_attention_heads"] * s["attention_head_size"]))
        return self._output(context, x, training), probs, scores

    def _output(self, context, x, training):
        out = self.output_dropout(self.output_dense(context), training=training) + x  # [B, S, H]
        return out if self.settings["norm_first"] else self.layer_norm(out)


@keras.saving.register_keras_serializable(package="bert_tf")
class TransformerBlock(SizedLayer):
    """One Transformer layer: attention, then the hidden_act feed-forward, each with residual and LayerNorm
    (after the residual, as the original, or before each sub-layer with norm_first)."""

    def __init__(self, hidden_size, num_attention_heads, intermediate_size, attention_head_size=None,
                 hidden_act="gelu", hidden_dropout_prob=0.1, attention_probs_dropout_prob=0.1, initializer_range=0.02,
                 layer_norm_epsilon=LAYER_NORM_EPSILON, norm_first=False, **kwargs):
        settings = _block_settings(hidden_size, num_attention_heads, attention_head_size, hidden_dropout_prob,
                                   attention_probs_dropout_prob, initializer_range, layer_norm_epsilon, norm_first)
        super().__init__({**settings, "intermediate_size": intermediate_size, "hidden_act": hidden_act}, **kwargs)
        self.attention = SelfAttention(**settings, name="attention")
        self.intermediate = dense(intermediate_size, "intermediate", initializer_range, get_activation(hidden_act))
        self.output_dense = dense(hidden_size, "output", initializer_range)
        self.layer_norm = layer_norm(layer_norm_epsilon)
        self.output_dropout = Dropout(hidden_dropout_prob)

    def build(self, input_shape=None):
        s = self.settings
        self.attention.build()
        self.intermediate.build((None, s["hidden_size"]))
        self.output_dense.build((None, s["intermediate_size"]))
        self.layer_norm.build((None, s["hidden_size"]))
        self.built = True

    def weight_names(self):
        return [*scoped(self.attention.weight_names(), "attention/", "attention."),
                *dense_names(self.intermediate, "intermediate/dense", "intermediate.dense"),
                *dense_names(self.output_dense, "output/dense", "output.dense"),
                *layer_norm_names(self.layer_norm, "output/LayerNorm", "output.LayerNorm")]

    def call(self, x, mask_adder, head_mask=None, training=None):
        """Returns (output [B, S, H], attention probabilities and scores [B, N, S, T]); `head_mask` gates the
        heads (SelfAttention)."""
        attended, probs, scores = self.attention(x, mask_adder, head_mask=head_mask, training=training)
        inputs = self.layer_norm(attended) if self.settings["norm_first"] else attended
        inner = self.intermediate(inputs)  # [B, S, I]
        out = self.output_dropout(self.output_dense(inner), training=training) + attended  # [B, S, H]
        return (out if self.settings["norm_first"] else self.layer_norm(out)), probs, scores
