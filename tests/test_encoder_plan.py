"""The encoder from parts: plans that share a block across depths, factorise the embeddings, put LayerNorm first or
prune heads, each against the NumPy derivation; names walked from the model; attention maps from every model."""

import keras
import numpy as np
import pytest
from helpers import BATCH, SEQ, numpy_encoder, tiny_config, tiny_inputs

from bert_tf import checkpoint_files, checkpoints
from bert_tf.modeling import (
    BertClassifier,
    BertEncoder,
    BertMaskedLM,
    BertMultipleChoice,
    BertPretrainer,
    BertSpanLabeler,
    BertTagger,
    BlockPlan,
    EncoderPlan,
)


def plan(**changes):
    """A tiny plan whose sizes all differ: V 99, H 32, E 32, I 37, positions 16, two blocks at two depths."""
    values = dict(vocab_size=99, hidden_size=32, blocks=(BlockPlan(4, 8, 37), BlockPlan(4, 8, 37)),
                  depths=((0,), (1,)), max_position_embeddings=16, hidden_dropout_prob=0.0,
                  attention_probs_dropout_prob=0.0)
    return EncoderPlan(**{**values, **changes})


def randomized(model, seed=0):
    """Every weight of `model` perturbed (LayerNorm and biases too); returns the canonical weights."""
    rng = np.random.default_rng(seed)
    weights = {name: (value + rng.normal(0.0, 0.2, value.shape)).astype(np.float32)
               for name, value in checkpoints.get_weights(model).items()}
    checkpoints.set_weights(model, weights)
    return weights


def assert_matches_numpy(model, plan):
    weights = randomized(model)
    inputs = tiny_inputs()
    out = model(inputs)
    layers, pooled = numpy_encoder(weights, plan, inputs)
    assert len(out["encoder_outputs"]) == len(plan.depths)
    for ours, ref in zip(out["encoder_outputs"], layers, strict=True):
        np.testing.assert_allclose(ours.numpy(), ref, atol=3e-5, rtol=0)
    np.testing.assert_allclose(out["pooled_output"].numpy(), pooled, atol=3e-5, rtol=0)
    return weights


def test_a_bert_config_makes_the_original_plan(config):
    p = EncoderPlan.from_bert_config(config)
    assert p.blocks == (BlockPlan(4, 8, 37),) * 2 and p.depths == ((0,), (1,))
    assert (p.embedding_size, p.norm_first, p.position_offset, p.layer_norm_epsilon) == (32, False, 0, 1e-12)
    assert EncoderPlan.from_dict(p.to_dict()) == p


@pytest.mark.parametrize("changes, message", [
    (dict(depths=((0,), (2,))), "must use every one of the 2 blocks"),
    (dict(depths=((0,),)), "must use every one of the 2 blocks"),
    (dict(depths=((0,), ())), "at least one block at every depth"),
    (dict(blocks=(BlockPlan(-1, 8, 37), BlockPlan(4, 8, 37))), "blocks\\[0\\].num_attention_heads"),
    (dict(hidden_act="swish"), "hidden_act 'swish'")])
def test_bad_plans_are_refused_naming_the_field(changes, message):
    with pytest.raises(ValueError, match=message):
        plan(**changes)


def test_one_block_shared_by_every_depth_has_one_set_of_weights_and_names():
    shared = plan(blocks=(BlockPlan(4, 8, 37),), depths=((0,), (0,), (0,)))
    model = BertEncoder(shared)
    assert len(model.encoder_layers) == 1
    names = checkpoints.keras_variables(model)
    assert any(n.startswith("bert/encoder/layer_0/") for n in names)
    assert not any(n.startswith("bert/encoder/layer_1/") for n in names)
    assert model.count_params() == BertEncoder(plan(blocks=(BlockPlan(4, 8, 37),), depths=((0,),))).count_params()
    assert_matches_numpy(model, shared)  # the same weights run at the three depths


def test_factorised_embeddings_project_e_to_h_and_the_masked_lm_head_ties_at_e():
    factorised = plan(embedding_size=16)
    model = BertPretrainer(factorised)
    assert tuple(model.encoder.embedding_table.shape) == (99, 16)
    names = checkpoints.keras_variables(model)
    assert tuple(names["bert/encoder/embedding_hidden_mapping_in/kernel"][0].shape) == (16, 32)
    assert tuple(names["cls/predictions/transform/dense/kernel"][0].shape) == (32, 16)
    weights = assert_matches_numpy(model, factorised)
    out, inputs = model(tiny_inputs()), tiny_inputs()
    rows = out["sequence_output"].numpy()[np.arange(BATCH)[:, None], inputs["masked_lm_positions"]]  # [B, P, H]
    t = rows @ weights["cls/predictions/transform/dense/kernel"] + weights["cls/predictions/transform/dense/bias"]
    t = 0.5 * t * (1 + np.tanh(np.sqrt(2 / np.pi) * (t + 0.044715 * t**3)))
    t = (t - t.mean(-1, keepdims=True)) / np.sqrt(t.var(-1, keepdims=True) + 1e-12)
    t = t * weights["cls/predictions/transform/LayerNorm/gamma"] + weights["cls/predictions/transform/LayerNorm/beta"]
    logits = t @ weights["bert/embeddings/word_embeddings"].T + weights["cls/predictions/output_bias"]
    np.testing.assert_allclose(out["masked_lm_logits"].numpy(), logits, atol=3e-5, rtol=0)


def test_layer_norm_first_normalises_each_sub_layers_input_and_the_last_output():
    pre = plan(norm_first=True)
    model = BertEncoder(pre)
    assert "bert/encoder/LayerNorm/gamma" in checkpoints.keras_variables(model)
    assert_matches_numpy(model, pre)


def test_blocks_with_their_own_head_counts():
    pruned = plan(blocks=(BlockPlan(3, 8, 37), BlockPlan(1, 8, 37)))
    model = BertEncoder(pruned)
    assert tuple(model.encoder_layers[0].attention.query.kernel.shape) == (32, 24)
    assert tuple(model.encoder_layers[1].attention.output_dense.kernel.shape) == (8, 32)
    probs = model(tiny_inputs(), return_attention_probs=True)["attention_probs"]
    assert [tuple(p.shape) for p in probs] == [(BATCH, 3, SEQ, SEQ), (BATCH, 1, SEQ, SEQ)]
    assert_matches_numpy(model, pruned)


def test_a_plan_built_model_saves_and_loads_as_keras(tmp_path):
    model = BertPretrainer(plan(embedding_size=16, norm_first=True, blocks=(BlockPlan(2, 8, 37),),
                                depths=((0,), (0,))))
    randomized(model)
    model.save(str(tmp_path / "model.keras"))
    loaded = keras.saving.load_model(str(tmp_path / "model.keras"))
    assert loaded.config == model.config
    inputs = tiny_inputs()
    np.testing.assert_array_equal(loaded(inputs)["masked_lm_logits"].numpy(), model(inputs)["masked_lm_logits"].numpy())


MODELS = [BertEncoder, BertPretrainer, BertMaskedLM, lambda c: BertClassifier(c, 3), lambda c: BertTagger(c, 5),
          BertSpanLabeler]


@pytest.mark.parametrize("make", MODELS, ids=["encoder", "pretrainer", "masked_lm", "classifier", "tagger", "span"])
def test_every_model_returns_the_encoders_attention_maps_when_asked(make, config):
    model = make(config)
    checkpoints.set_weights(model, {k: v for k, v in checkpoints.get_weights(model).items()})
    inputs = tiny_inputs()
    assert "attention_probs" not in model(inputs)
    probs = model(inputs, return_attention_probs=True)["attention_probs"]
    encoder = getattr(model, "encoder", model)
    expected = encoder(inputs, return_attention_probs=True)["attention_probs"]
    assert [tuple(p.shape) for p in probs] == [(BATCH, 4, SEQ, SEQ)] * config.num_hidden_layers
    for ours, theirs in zip(probs, expected, strict=True):
        np.testing.assert_array_equal(ours.numpy(), theirs.numpy())
        np.testing.assert_allclose(ours.numpy().sum(-1), 1.0, atol=1e-6)


def test_multiple_choice_attention_maps_are_per_choice(config):
    model = BertMultipleChoice(config)
    inputs = {k: np.stack([v, v[::-1]], 1) for k, v in tiny_inputs().items() if k in model.input_features}
    probs = model(inputs, return_attention_probs=True)["attention_probs"]
    assert [tuple(p.shape) for p in probs] == [(BATCH * 2, 4, SEQ, SEQ)] * 2  # [B * C, N, S, S]


def test_tf1_checkpoint_of_a_plan_model_round_trips(tmp_path):
    config = tiny_config()
    model = BertPretrainer(config)
    weights = randomized(model)
    checkpoint_files.save(config, weights, str(tmp_path / "tf1"), "tf1")
    again = checkpoint_files.load(str(tmp_path / "tf1"))[1]
    assert again.keys() == weights.keys()
    for name in weights:
        np.testing.assert_array_equal(again[name], weights[name])
