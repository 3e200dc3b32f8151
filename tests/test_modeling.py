"""The encoder and heads: hand facts of the original, a NumPy re-derivation, serialisation."""

import math

import keras
import numpy as np
import pytest
from helpers import BATCH, SEQ, numpy_encoder, random_weights, tiny_config, tiny_inputs

from bert_tf import checkpoints
from bert_tf.config import BertConfig
from bert_tf.modeling import (
    BertEmbeddings,
    BertEncoder,
    BertMaskedLM,
    BertPretrainer,
    ClassificationHead,
    EncoderPlan,
    MaskedLMHead,
    SelfAttention,
    SpanHead,
    TransformerBlock,
    attention_mask_adder,
    gelu_exact,
    gelu_tanh,
    get_activation,
)


def test_gelu_is_the_tanh_approximation():
    assert float(gelu_tanh(np.float32(1.0))) == pytest.approx(0.8411920, abs=1e-6)
    assert float(gelu_exact(np.float32(1.0))) == pytest.approx(0.8413447, abs=1e-6)
    assert float(gelu_tanh(np.float32(0.0))) == 0.0
    assert get_activation("GELU") is gelu_tanh
    # The original's get_activation: "linear", "" and None (any non-string is returned as is) mean no activation.
    assert get_activation("LINEAR") is get_activation("") is get_activation(None) is None
    assert TransformerBlock(32, 4, 37, hidden_act="").intermediate.activation is keras.activations.linear
    with pytest.raises(ValueError, match="Unsupported activation: 'swish'"):
        get_activation("swish")


def test_forward_matches_numpy_derivation(config):
    weights = random_weights(config, with_heads=False)
    model = BertEncoder(config)
    checkpoints.set_weights(model, weights)
    inputs = tiny_inputs()
    out = model(inputs)
    layers, pooled = numpy_encoder(weights, EncoderPlan.from_bert_config(config), inputs)
    assert len(out["encoder_outputs"]) == config.num_hidden_layers
    for ours, ref in zip(out["encoder_outputs"], layers, strict=True):
        np.testing.assert_allclose(ours.numpy(), ref, atol=2e-5, rtol=0)
    np.testing.assert_array_equal(out["encoder_outputs"][-1].numpy(), out["sequence_output"].numpy())
    np.testing.assert_allclose(out["pooled_output"].numpy(), pooled, atol=2e-5, rtol=0)


def test_every_layer_norm_uses_epsilon_1e12_and_constant_rows_give_beta(config):
    model = BertPretrainer(config)
    norms = [layer for layer in model._flatten_layers() if isinstance(layer, keras.layers.LayerNormalization)]
    assert len(norms) == 1 + 2 * config.num_hidden_layers + 1
    assert {n.epsilon for n in norms} == {1e-12}
    norm = norms[0]
    norm.beta.assign(np.arange(32, dtype=np.float32))
    np.testing.assert_array_equal(norm(np.full((2, 32), 3.0, np.float32)).numpy(), np.tile(np.arange(32.0), (2, 1)))


def test_mask_adder_is_minus_10000_on_keys_only():
    adder = attention_mask_adder(np.array([[1, 1, 0]])).numpy()
    assert adder.shape == (1, 1, 1, 3)
    assert adder.ravel().tolist() == [0.0, 0.0, -10000.0]


def test_attention_scaling_and_masked_key_probability(config):
    model = BertEncoder(config)
    inputs = {"input_ids": np.array([[5, 6, 7]]), "input_mask": np.array([[1, 1, 0]])}
    probs = model(inputs, return_attention_probs=True)["attention_probs"]
    assert [p.shape for p in probs] == [(1, 4, 3, 3)] * 2
    for p in probs:
        p = p.numpy()
        np.testing.assert_allclose(p.sum(-1), 1.0, atol=1e-6)
        assert (p[..., 2] < 1e-30).all()  # exp(-10000) underflows: a masked key gets no attention
    # Scores are Q.K^T / sqrt(D): with all-equal keys and values 1/sqrt(8) scaling is visible through softmax.
    attention = model.encoder_layers[0].attention
    x = np.random.default_rng(1).normal(size=(1, 3, 32)).astype(np.float32)
    _, p, raw = attention(x, attention_mask_adder(np.ones((1, 3))))
    q = (x @ attention.query.kernel.numpy() + attention.query.bias.numpy()).reshape(3, 4, 8)
    k = (x @ attention.key.kernel.numpy() + attention.key.bias.numpy()).reshape(3, 4, 8)
    scores = np.einsum("snd,tnd->nst", q, k) / math.sqrt(8)
    expected = np.exp(scores) / np.exp(scores).sum(-1, keepdims=True)
    np.testing.assert_allclose(p.numpy()[0], expected, atol=1e-6)
    np.testing.assert_allclose(raw.numpy()[0], scores, atol=1e-5)  # the scores: before the mask and softmax


def test_padding_invariance_and_padded_queries_still_computed(config):
    model = BertEncoder(config)
    a = {"input_ids": np.array([[5, 6, 7]]), "input_mask": np.array([[1, 1, 0]])}
    b = {"input_ids": np.array([[5, 6, 42]]), "input_mask": np.array([[1, 1, 0]])}
    out_a, out_b = model(a)["sequence_output"].numpy(), model(b)["sequence_output"].numpy()
    np.testing.assert_array_equal(out_a[:, :2], out_b[:, :2])
    assert np.abs(out_a[0, 2]).sum() > 1.0 and not np.array_equal(out_a[0, 2], out_b[0, 2])


def test_defaults_for_missing_mask_and_segments(config):
    model = BertEncoder(config)
    ids = np.array([[5, 6, 7]])
    explicit = model({"input_ids": ids, "input_mask": np.ones_like(ids), "segment_ids": np.zeros_like(ids)})
    implicit = model({"input_ids": ids})
    np.testing.assert_array_equal(explicit["sequence_output"].numpy(), implicit["sequence_output"].numpy())


def test_sequence_longer_than_positions_fails(config):
    model = BertEncoder(config)
    with pytest.raises(ValueError, match="sequence length 17 exceeds max_position_embeddings 16"):
        model({"input_ids": np.ones((1, 17), np.int32)})


def test_pooled_output_is_tanh_dense_of_cls(config):
    model = BertEncoder(config)
    out = model(tiny_inputs())
    cls = out["sequence_output"].numpy()[:, 0]
    expected = np.tanh(cls @ model.pooler.kernel.numpy() + model.pooler.bias.numpy())
    np.testing.assert_allclose(out["pooled_output"].numpy(), expected, atol=1e-6)


def test_dropout_only_in_training_and_only_where_configured():
    inputs = tiny_inputs()
    no_dropout = BertPretrainer(tiny_config(hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0))
    train = no_dropout(inputs, training=True)
    infer = no_dropout(inputs, training=False)
    for key in ("sequence_output", "pooled_output", "masked_lm_logits", "next_sentence_logits"):
        np.testing.assert_array_equal(train[key].numpy(), infer[key].numpy())  # no hidden dropout anywhere else
    for rates in ({"hidden_dropout_prob": 0.0}, {"attention_probs_dropout_prob": 0.0}):
        model = BertEncoder(tiny_config(**rates))
        first, second = model(inputs)["sequence_output"].numpy(), model(inputs)["sequence_output"].numpy()
        np.testing.assert_array_equal(first, second)  # inference is deterministic
        assert not np.allclose(model(inputs, training=True)["sequence_output"].numpy(), first)


def test_parameter_counts():
    base = BertConfig.from_json_file("configs/bert_base.json")
    assert BertEncoder(base).count_params() == 109_482_240
    assert BertPretrainer(base).count_params() == 109_482_240 + 624_188


@pytest.mark.slow
def test_parameter_count_large():
    assert BertEncoder(BertConfig.from_json_file("configs/bert_large.json")).count_params() == 335_141_888


def test_heads_shapes_and_tied_embeddings(config):
    model = BertPretrainer(config)
    out = model(tiny_inputs())
    assert out["masked_lm_logits"].shape == (BATCH, 3, config.vocab_size)
    assert out["next_sentence_logits"].shape == (BATCH, 2)
    # Tied: the MLM output matrix is the word-embedding variable itself, not a copy.
    assert model.encoder.embedding_table is model.encoder.embeddings.word_embeddings
    mlm_variables = {id(v) for v in model.masked_lm.weights}
    assert id(model.encoder.embedding_table) not in mlm_variables
    start, end = SpanHead(32)(out["sequence_output"])
    assert start.shape == end.shape == (BATCH, SEQ)
    tags = ClassificationHead(5)(out["sequence_output"])
    assert tags.shape == (BATCH, SEQ, 5)


LAYERS = [
    (BertEmbeddings, dict(vocab_size=99, embedding_size=24, type_vocab_size=0, max_position_embeddings=16,
                          position_offset=2, hidden_dropout_prob=0.2, initializer_range=0.05,
                          layer_norm_epsilon=1e-6)),
    (SelfAttention, dict(hidden_size=32, num_attention_heads=3, attention_head_size=5, hidden_dropout_prob=0.2,
                         attention_probs_dropout_prob=0.3, initializer_range=0.05, layer_norm_epsilon=1e-6,
                         norm_first=True)),
    (TransformerBlock, dict(hidden_size=32, num_attention_heads=4, intermediate_size=37, attention_head_size=6,
                            hidden_act="gelu_exact", hidden_dropout_prob=0.2, attention_probs_dropout_prob=0.3,
                            initializer_range=0.05, layer_norm_epsilon=1e-6, norm_first=True)),
    (MaskedLMHead, dict(hidden_size=32, vocab_size=99, embedding_size=24, hidden_act="relu", initializer_range=0.05,
                        layer_norm_epsilon=1e-6)),
    (ClassificationHead, dict(num_classes=3, dropout_rate=0.1, initializer_range=0.05)),
    (SpanHead, dict(hidden_size=32, initializer_range=0.05)),
]


@pytest.mark.parametrize("cls, kwargs", LAYERS, ids=[cls.__name__ for cls, _ in LAYERS])
def test_layers_take_plain_sizes_and_get_config_lists_every_argument(cls, kwargs):
    import inspect

    layer = cls(**kwargs, name="x")
    config = layer.get_config()
    arguments = {p for p in inspect.signature(cls.__init__).parameters if p not in ("self", "kwargs")}
    assert arguments <= set(config), arguments - set(config)
    assert {k: config[k] for k in kwargs} == kwargs  # nothing defaulted over what was given
    clone = cls.from_config(config)
    assert clone.get_config() == config


@pytest.mark.parametrize("cls, kwargs", [(BertEncoder, {}), (BertEncoder, {"with_pooler": False}),
                                         (BertPretrainer, {}), (BertMaskedLM, {"with_pooler": False})])
def test_keras_save_load_reproduces_outputs_exactly(cls, kwargs, config, tmp_path):
    model = cls(config, **kwargs)
    checkpoints.set_weights(model, random_weights(config))  # heads and a pooler the model lacks are skipped
    inputs = tiny_inputs()
    path = str(tmp_path / "model.keras")
    model.save(path)
    loaded = keras.saving.load_model(path)
    assert type(loaded) is cls and loaded.config == config
    assert loaded(inputs).keys() == model(inputs).keys()
    assert ("pooled_output" in model(inputs)) == kwargs.get("with_pooler", True)
    for key, value in model(inputs).items():
        if key != "encoder_outputs":
            np.testing.assert_array_equal(value.numpy(), loaded(inputs)[key].numpy())


def test_variable_paths_are_stable(config):
    paths = {v.path for v in BertPretrainer(config).weights}
    assert "bert/layer_1/attention/query/kernel" in paths
    assert "bert/embeddings/LayerNorm/gamma" in paths
    assert "bert_pretrainer/predictions/output_bias" in paths


def test_xla_compiled_forward_matches_eager(config):
    import tensorflow as tf

    model = BertPretrainer(config)
    inputs = {k: tf.constant(v) for k, v in tiny_inputs().items()}
    eager = model(inputs)
    compiled = tf.function(lambda x: model(x), jit_compile=True)(inputs)
    for key in ("sequence_output", "pooled_output", "masked_lm_logits", "next_sentence_logits"):
        np.testing.assert_allclose(compiled[key].numpy(), eager[key].numpy(), atol=1e-5, rtol=0)


def test_mixed_bfloat16_keeps_float32_weights_and_logits(config):
    weights = random_weights(config)
    inputs = tiny_inputs()
    reference = BertPretrainer(config)
    checkpoints.set_weights(reference, weights)
    keras.mixed_precision.set_global_policy("mixed_bfloat16")
    try:
        model = BertPretrainer(config)
    finally:
        keras.mixed_precision.set_global_policy("float32")
    checkpoints.set_weights(model, weights)
    assert {v.dtype for v in model.weights} == {"float32"}
    out, ref = model(inputs), reference(inputs)
    assert out["sequence_output"].dtype == "bfloat16"
    assert out["masked_lm_logits"].dtype == out["next_sentence_logits"].dtype == "float32"
    # bfloat16 keeps 8 mantissa bits: LayerNorm-scaled states agree to a few hundredths, not to 1e-5.
    np.testing.assert_allclose(np.asarray(out["sequence_output"], np.float32), ref["sequence_output"].numpy(),
                               atol=0.15, rtol=0)
    assert np.abs(np.asarray(out["sequence_output"], np.float32) - ref["sequence_output"].numpy()).mean() < 0.02


def test_token_type_gradient_is_dense_as_the_original_one_hot_matmul(config):
    """The original computes token-type embeddings as one_hot(segment_ids) @ table, so their gradient is dense and
    clip_by_global_norm sees the true norm; a gather's IndexedSlices gradient would count every position's row."""
    import tensorflow as tf

    model = BertEncoder(config)
    inputs = tiny_inputs()
    table = next(v for v in model.trainable_variables if "token_type_embeddings" in v.path)
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(model(inputs)["sequence_output"])
    gradient = tape.gradient(loss, table)
    assert isinstance(gradient, tf.Tensor) and gradient.shape == table.shape
    _, norm = tf.clip_by_global_norm([gradient], 1.0)
    np.testing.assert_allclose(norm.numpy(), np.linalg.norm(gradient.numpy()), rtol=1e-6)
