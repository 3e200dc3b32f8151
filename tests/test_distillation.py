"""Distillation objectives against their formulas written out in NumPy (value and gradient), students built from
teachers, and distillation through the Trainer and the scripts."""

import numpy as np
import pytest
import tensorflow as tf

from bert_tf import distillation

RNG = np.random.default_rng(7)
B, S, C, HS, HT = 3, 5, 4, 6, 8


def features():
    mask = np.array([[1, 1, 1, 1, 1], [1, 1, 1, 0, 0], [1, 1, 0, 0, 0]], np.float32)
    return {"input_ids": np.ones((B, S), np.int32), "input_mask": mask,
            "masked_lm_weights": np.array([[1, 1, 0], [1, 0, 0], [1, 1, 1]], np.float32)}


def softmax(x):
    e = np.exp(x - x.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def value_and_gradient(objective, student, outputs, feats, key):
    """The objective's loss on one batch (its own totals) and its gradient with respect to outputs[key]."""
    student = tf.Variable(student)
    with tf.GradientTape() as tape:
        loss = objective.sums({**outputs, key: student}, feats, objective.totals(feats))[f"{objective.name}_loss"]
    return float(loss), tape.gradient(loss, student).numpy()


def test_soft_targets_are_t_squared_cross_entropy_at_temperature_t():
    student, teacher = RNG.normal(size=(B, C)), RNG.normal(size=(B, C))
    objective = distillation.SoftTargets(temperature=2.0)
    loss, gradient = value_and_gradient(objective, student.astype(np.float32), {"teacher": {"logits": teacher}},
                                        features(), "logits")
    p, q = softmax(teacher / 2), softmax(student / 2)
    np.testing.assert_allclose(loss, 4 * np.mean(-(p * np.log(q)).sum(-1)), rtol=1e-5)
    # d/ds of T^2 * mean CE(p, softmax(s/T)) = T * (q - p) / B
    np.testing.assert_allclose(gradient, 2 * (q - p) / B, rtol=1e-4, atol=1e-7)
    with pytest.raises(ValueError, match="temperature must be > 0, got 0"):
        distillation.SoftTargets(temperature=0)


def test_soft_masked_lm_targets_weigh_the_predictions():
    student, teacher = RNG.normal(size=(B, 3, C)), RNG.normal(size=(B, 3, C))
    objective = distillation.SoftTargets("masked_lm_logits", temperature=3.0, weights="masked_lm_weights")
    loss, gradient = value_and_gradient(objective, student.astype(np.float32),
                                        {"teacher": {"masked_lm_logits": teacher}}, features(), "masked_lm_logits")
    w = features()["masked_lm_weights"]
    p, q = softmax(teacher / 3), softmax(student / 3)
    ce = -(p * np.log(q)).sum(-1)  # [B, P]
    np.testing.assert_allclose(loss, 9 * (w * ce).sum() / w.sum(), rtol=1e-5)
    np.testing.assert_allclose(gradient, 3 * w[..., None] * (q - p) / w.sum(), rtol=1e-4, atol=1e-7)


def test_scaled_weighs_the_loss_only():
    student, teacher = RNG.normal(size=(B, C)).astype(np.float32), RNG.normal(size=(B, C))
    outputs = {"logits": student, "teacher": {"logits": teacher}}
    inner = distillation.SoftTargets()
    scaled = distillation.Scaled(inner, 0.25)
    totals = inner.totals(features())
    a, b = inner.sums(outputs, features(), totals), scaled.sums(outputs, features(), totals)
    np.testing.assert_allclose(float(b["soft_targets_loss"]), 0.25 * float(a["soft_targets_loss"]), rtol=1e-6)
    assert float(b["soft_targets_cross_entropy"]) == float(a["soft_targets_cross_entropy"])


def hidden_outputs(width, layers, seed):
    rng = np.random.default_rng(seed)
    return {"embedding_output": rng.normal(size=(B, S, width)).astype(np.float32),
            "encoder_outputs": [rng.normal(size=(B, S, width)).astype(np.float32) for _ in range(layers)]}


def test_hidden_mse_maps_student_layers_onto_teacher_layers_through_learned_maps():
    pairs = distillation.layer_map(2, 4)
    assert pairs == ((0, 0), (1, 2), (2, 4))
    objective = distillation.HiddenMSE(pairs, student_width=HS, teacher_width=HT)
    student, teacher = hidden_outputs(HS, 2, 1), hidden_outputs(HT, 4, 2)
    feats = features()
    loss = float(objective.sums({**student, "teacher": teacher}, feats, objective.totals(feats))["hidden_mse_loss"])
    mask = feats["input_mask"][..., None]
    w_e = [v.numpy() for v in objective.embedding_projection.weights]
    w_h = [v.numpy() for v in objective.hidden_projection.weights]
    error = ((mask * (student["embedding_output"] @ w_e[0] + w_e[1] - teacher["embedding_output"]) ** 2).sum()
             + sum((mask * (student["encoder_outputs"][m - 1] @ w_h[0] + w_h[1]
                            - teacher["encoder_outputs"][t - 1]) ** 2).sum() for m, t in ((1, 2), (2, 4))))
    np.testing.assert_allclose(loss, error / (mask.sum() * HT), rtol=1e-5)
    assert len(objective.trainable_variables) == 4
    same = distillation.HiddenMSE(((1, 1),), student_width=HT, teacher_width=HT)
    assert same.trainable_variables == []  # equal widths: no map
    with pytest.raises(ValueError, match="a 3-layer student cannot map uniformly onto a 4-layer teacher"):
        distillation.layer_map(3, 4)


def test_attention_mse_over_real_positions_and_averaged_heads():
    rng = np.random.default_rng(3)
    feats = features()
    student = {"attention_scores": [rng.normal(size=(B, 2, S, S)).astype(np.float32)]}
    teacher = {"attention_scores": [rng.normal(size=(B, 4, S, S)) for _ in range(2)]}
    objective = distillation.AttentionMSE(((0, 0), (1, 2)))  # the embedding pair has no attention: skipped
    scores = tf.Variable(student["attention_scores"][0])
    with tf.GradientTape() as tape:
        loss = objective.sums({"attention_scores": [scores], "teacher": teacher}, feats,
                              objective.totals(feats))["attention_mse_loss"]
    loss, gradient = float(loss), tape.gradient(loss, scores).numpy()
    mask = feats["input_mask"]
    pair = (mask[:, :, None] * mask[:, None, :])[:, None]  # [B, 1, S, S]
    diff = student["attention_scores"][0].mean(1, keepdims=True) - teacher["attention_scores"][1].mean(1,
                                                                                                      keepdims=True)
    np.testing.assert_allclose(loss, (pair * diff ** 2).sum() / pair.sum(), rtol=1e-5)
    np.testing.assert_allclose(gradient, np.repeat(2 * pair * diff / pair.sum() / 2, 2, axis=1), rtol=1e-4,
                               atol=1e-8)


def test_cosine_loss_is_one_minus_cosine_over_real_tokens():
    rng = np.random.default_rng(4)
    student, teacher = rng.normal(size=(B, S, HT)).astype(np.float32), rng.normal(size=(B, S, HT))
    loss, _ = value_and_gradient(distillation.CosineHidden(), student, {"teacher": {"sequence_output": teacher}},
                                 features(), "sequence_output")
    cos = (student * teacher).sum(-1) / np.linalg.norm(student, axis=-1) / np.linalg.norm(teacher, axis=-1)
    mask = features()["input_mask"]
    np.testing.assert_allclose(loss, (mask * (1 - cos)).sum() / mask.sum(), rtol=1e-5)


def test_a_student_of_every_other_layer_runs_them_as_the_teacher_did():
    from helpers import random_weights, tiny_config, tiny_inputs

    from bert_tf import checkpoint_files

    teacher_config = tiny_config(num_hidden_layers=4)
    weights = random_weights(teacher_config)
    student_weights = distillation.layers_of(weights, [0, 2])
    student = checkpoint_files.build_model(teacher_config.replace(num_hidden_layers=2), student_weights)
    teacher = checkpoint_files.build_model(teacher_config, weights)
    inputs = tiny_inputs()
    # The student's first layer is the teacher's: the same output on the same input.
    np.testing.assert_array_equal(student(inputs)["encoder_outputs"][0].numpy(),
                                  teacher(inputs)["encoder_outputs"][0].numpy())
    np.testing.assert_array_equal(student_weights["bert/encoder/layer_1/output/dense/kernel"],
                                  weights["bert/encoder/layer_2/output/dense/kernel"])
    assert "bert/encoder/layer_2/output/dense/kernel" not in student_weights
    assert student_weights["cls/predictions/output_bias"] is weights["cls/predictions/output_bias"]
    with pytest.raises(ValueError, match="the teacher has no layer 7"):
        distillation.layers_of(weights, [0, 7])
    with pytest.raises(ValueError, match="the student \\(s.json\\) has a vocabulary of 98 tokens and the teacher "
                                         "\\(t.json\\) one of 99"):
        distillation.check_vocab(tiny_config(vocab_size=98), teacher_config, "s.json", "t.json")
