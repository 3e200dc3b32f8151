"""The fast dropout masks (`bert_tf.modeling.Dropout`, `--fast_dropout`): re-derived in NumPy from the same random
bits, their keep rate against the binomial bound, their gradient; the option through the trainer is in
test_training.py."""

import numpy as np
import pytest
import tensorflow as tf
from helpers import tiny_config, tiny_inputs

from bert_tf.modeling import BertPretrainer, Dropout, use_fast_dropout


def expected_output(x, seed, rate):
    """NumPy's fast dropout of `x`: 16 bits per element, the low half of each 32-bit draw first (little-endian, as
    the bitcast), kept where >= round(rate * 65536), kept values times 1 / (1 - rate) in x's dtype."""
    draws = tf.random.stateless_uniform([(x.size + 1) // 2], seed, minval=None, maxval=None, dtype=tf.uint32).numpy()
    bits = draws.astype("<u4").view("<u2")[: x.size].reshape(x.shape)
    scale = np.asarray(1.0 / (1.0 - rate), np.float32).astype(x.dtype)
    return x * np.where(bits >= round(rate * 65536), scale, np.zeros((), x.dtype)).astype(x.dtype)


def fast_layer(rate, seed=7, dtype=None):
    layer = Dropout(rate, seed=seed, dtype=dtype)
    layer.fast = True
    return layer


@pytest.mark.parametrize("shape", [(4, 6, 32), (3, 5)])  # an even last dimension, and the sliced odd path
def test_fast_masks_are_the_bits_against_the_threshold(shape):
    layer = fast_layer(0.1)
    x = np.random.default_rng(0).normal(size=shape).astype(np.float32)
    seed = tf.cast(layer.seed_generator.state, tf.int64).numpy()  # the seed the next call draws with
    np.testing.assert_array_equal(layer(x, training=True).numpy(), expected_output(x, seed, 0.1))
    assert not np.array_equal(layer(x, training=True).numpy(), expected_output(x, seed, 0.1))  # the seed moved on
    np.testing.assert_array_equal(layer(x, training=False).numpy(), x)


def test_fast_masks_keep_one_minus_rate_and_scale_exactly():
    x = np.ones((256, 512), np.float32)  # 131,072 draws
    for rate in (0.1, 0.5):
        out = fast_layer(rate)(x, training=True).numpy()
        kept = out != 0
        np.testing.assert_array_equal(out[kept], np.float32(1 / (1 - rate)))
        # The keep rate is (65536 - round(rate * 65536)) / 65536; five binomial standard deviations around it.
        keep = 1 - round(rate * 65536) / 65536
        assert abs(kept.mean() - keep) < 5 * np.sqrt(keep * (1 - keep) / x.size)


def test_fast_masks_in_bfloat16_and_their_gradient():
    layer = fast_layer(0.1, dtype="mixed_bfloat16")  # as built under the bfloat16 policy
    x = tf.constant(np.random.default_rng(1).normal(size=(8, 16)), tf.bfloat16)
    seed = tf.cast(layer.seed_generator.state, tf.int64).numpy()
    with tf.GradientTape() as tape:
        tape.watch(x)
        out = layer(x, training=True)
        upstream = tf.cast(tf.reshape(tf.range(128), (8, 16)), tf.bfloat16)
        loss = tf.reduce_sum(out * upstream)
    assert out.dtype == tf.bfloat16
    mask = expected_output(np.ones((8, 16), np.float32), seed, 0.1)  # float32: 1 / 0.9 or 0
    np.testing.assert_array_equal(out.numpy().astype(np.float32),
                                  (x * tf.cast(mask, tf.bfloat16)).numpy().astype(np.float32))
    # Backward multiplies by the same mask (1 / 0.9 rounded to bfloat16: 1.109375).
    np.testing.assert_array_equal(tape.gradient(loss, x).numpy().astype(np.float32),
                                  (upstream * tf.cast(mask, tf.bfloat16)).numpy().astype(np.float32))


def test_use_fast_dropout_switches_every_dropout_of_a_model():
    model = BertPretrainer(tiny_config(num_hidden_layers=2))
    model(tiny_inputs())
    # Embeddings; per layer the attention probabilities, the attention output and the feed-forward output; the
    # next-sentence head's (rate 0, as the original's).
    assert use_fast_dropout(model) == 1 + 2 * 3 + 1
    layers = [layer for layer in model._flatten_layers() if isinstance(layer, Dropout)]
    assert all(layer.fast for layer in layers)
    assert use_fast_dropout(model, False) == 8 and not any(layer.fast for layer in layers)
