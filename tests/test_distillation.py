"""Distillation objectives against their formulas written out in NumPy (value and gradient), students built from
teachers, and distillation through the Trainer and the scripts."""

import keras
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


# ------------------------------------------------------------------------------------------------ the Trainer


def classifier(config, seed):
    """A BertClassifier (2 classes, no dropout) with every weight random."""
    from bert_tf import checkpoints
    from bert_tf.modeling import BertClassifier

    model = BertClassifier(config, 2, dropout_rate=0.0)
    rng = np.random.default_rng(seed)
    checkpoints.set_weights(model, {k: (v + rng.normal(0, 0.2, v.shape)).astype(np.float32)
                                    for k, v in checkpoints.get_weights(model).items()})
    return model


def classification_batches(seed=0, count=16, seq=7):
    rng = np.random.default_rng(seed)
    lengths = rng.integers(3, seq + 1, count)
    mask = (np.arange(seq) < lengths[:, None]).astype(np.int32)
    batch = {"input_ids": (rng.integers(5, 99, (count, seq)) * mask).astype(np.int32), "input_mask": mask,
             "segment_ids": ((np.arange(seq) >= lengths[:, None] // 2) * mask).astype(np.int32),
             "label_ids": rng.integers(0, 2, count).astype(np.int32)}
    return batch, lambda context: tf.data.Dataset.from_tensor_slices(batch).batch(8)


def distillation_trainer(tmp_path, student, teacher, options, **training):
    from bert_tf import objectives
    from bert_tf.training import Trainer, TrainingOptions

    values = dict(output_dir=str(tmp_path), train_batch_size=8, learning_rate=1e-3, num_train_steps=1,
                  num_warmup_steps=0, steps_per_execution=1)
    goals = distillation.fine_tuning_objectives(objectives.Classes(), ("logits",), student.plan, teacher.plan, options)
    return Trainer(student, goals, TrainingOptions(**{**values, **training}), teacher=teacher)


def numpy_distillation_loss(student, teacher, batch, projections, alpha, temperature, pairs):
    """(1 - alpha) * label cross-entropy + alpha * T^2 * soft cross-entropy + TinyBERT's hidden MSE through the
    given [H_S, H_T] maps + attention-score MSE (heads averaged), written out from both models' outputs."""
    s = student(batch, return_attention_probs=True, return_hidden_states=True)
    t = teacher(batch, return_attention_probs=True, return_hidden_states=True)
    logits, soft = s["logits"].numpy().astype(np.float64), t["logits"].numpy().astype(np.float64)
    labels = batch["label_ids"]
    log_q = np.log(softmax(logits))
    hard = -log_q[np.arange(len(labels)), labels].mean()
    soft_ce = -(softmax(soft / temperature) * np.log(softmax(logits / temperature))).sum(-1).mean()
    mask = batch["input_mask"].astype(np.float64)
    states = lambda o, m: (o["embedding_output"] if m == 0 else o["encoder_outputs"][m - 1]).numpy()  # noqa: E731
    hidden = sum((mask[..., None] * (states(s, m) @ projections[m > 0] + projections[2 + (m > 0)]
                                     - states(t, n)) ** 2).sum() for m, n in pairs) / (mask.sum() * 8)
    pair_mask = mask[:, None, :, None] * mask[:, None, None, :]
    scores = lambda o, m: o["attention_scores"][m - 1].numpy().mean(1, keepdims=True)  # noqa: E731
    attention = sum((pair_mask * (scores(s, m) - scores(t, n)) ** 2).sum() for m, n in pairs if m) / (
        mask.sum(1) ** 2).sum()
    return (1 - alpha) * hard + alpha * temperature ** 2 * soft_ce + hidden, attention


def test_a_trainer_step_with_a_teacher_is_the_written_out_distillation_loss(tmp_path):
    """A 2-layer student (H 32, 4 heads) of a narrower 4-layer teacher (H 8, 2 heads): labels, soft targets,
    hidden states through learned maps and attention scores (heads averaged), on the uniform layer map. The first
    step's loss is the NumPy sum; the step trains the student and the maps and leaves the teacher as it was."""
    from helpers import tiny_config

    from bert_tf import checkpoints

    student_config = tiny_config(hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)
    teacher_config = tiny_config(num_hidden_layers=4, hidden_size=8, num_attention_heads=2, intermediate_size=11)
    student, teacher = classifier(student_config, 1), classifier(teacher_config, 2)
    options = distillation.DistillationOptions(temperature=3.0, alpha=0.7, hidden=True, attention=True)
    trainer = distillation_trainer(tmp_path, student, teacher, options)
    hidden = next(o for o in trainer.objectives if isinstance(o, distillation.HiddenMSE))
    maps = [hidden.embedding_projection, hidden.hidden_projection]
    projections = [m.kernel.numpy() for m in maps] + [m.bias.numpy() for m in maps]
    batch, dataset_fn = classification_batches()
    first = {k: v[:8] for k, v in batch.items()}
    loss, attention = numpy_distillation_loss(student, teacher, first, projections, 0.7, 3.0, ((0, 0), (1, 2), (2, 4)))
    teacher_before = checkpoints.get_weights(teacher)
    student_before = checkpoints.get_weights(student)
    results = trainer.train(dataset_fn)
    reported = sum(results[f"{name}_loss"] for name in ("classification", "soft_logits", "hidden_mse"))
    np.testing.assert_allclose(reported, loss, rtol=1e-5)
    np.testing.assert_allclose(results["attention_mse_loss"], attention, rtol=1e-5)
    assert attention > 0.01 and results["hidden_mse_loss"] > 0.01
    for name, value in checkpoints.get_weights(teacher).items():
        np.testing.assert_array_equal(value, teacher_before[name])
    moved = checkpoints.get_weights(student)["bert/encoder/layer_0/output/dense/kernel"]
    assert np.abs(moved - student_before["bert/encoder/layer_0/output/dense/kernel"]).max() > 1e-4
    assert np.abs(maps[1].kernel.numpy() - projections[1]).max() > 1e-4  # the learned map is trained as well


def test_the_learned_maps_are_checkpointed_and_a_resumed_run_continues_them(tmp_path):
    from helpers import tiny_config

    student_config = tiny_config(hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)
    teacher_config = tiny_config(hidden_size=16, num_attention_heads=2)
    options = distillation.DistillationOptions(hidden=True)
    _, dataset_fn = classification_batches(count=32)
    def trainer(folder):
        keras.utils.set_random_seed(5)  # the same initial maps
        return distillation_trainer(tmp_path / folder, classifier(student_config, 1), classifier(teacher_config, 2),
                                    options, num_train_steps=4, save_checkpoints_steps=2)

    whole = trainer("whole")
    whole.train(dataset_fn)
    crashed = trainer("crashed")
    with pytest.raises(tf.errors.OutOfRangeError):  # the input runs dry after the step-2 checkpoint
        crashed.train(lambda context: dataset_fn(context).take(3))
    resumed = trainer("crashed")
    maps = lambda trainer: next(o for o in trainer.objectives if o.name == "hidden_mse").hidden_projection  # noqa: E731
    initial = maps(resumed).kernel.numpy()
    assert resumed.restore() == 2
    assert np.abs(maps(resumed).kernel.numpy() - initial).max() > 1e-4  # the step-2 maps, not the initial ones
    resumed.train(dataset_fn)
    np.testing.assert_allclose(maps(resumed).kernel.numpy(), maps(whole).kernel.numpy(), rtol=0, atol=1e-6)


# ------------------------------------------------------------------------------------------------ pretraining


def test_distilbert_pretraining_step_is_the_written_out_loss_from_every_other_teacher_layer(tmp_path):
    """A 2-layer student made of a 4-layer teacher's layers 1 and 3 (DistilBERT's initialisation), trained on
    5 * soft masked-LM targets + 2 * masked LM (the original's, epsilon included) + 1 * cosine of the last hidden
    states: the first step's loss is the NumPy sum of the three."""
    from helpers import random_weights, tiny_config
    from test_training import records_input, write_records

    from bert_tf import checkpoint_files, checkpoints, training

    teacher_config = tiny_config(num_hidden_layers=4)
    teacher_weights = random_weights(teacher_config)
    checkpoint_files.save(teacher_config, teacher_weights, str(tmp_path / "teacher"), "tf1")
    student_config = tiny_config(hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)
    options = training.PretrainingOptions(output_dir=str(tmp_path / "out"), train_batch_size=8, learning_rate=1e-3,
                                          num_train_steps=1, num_warmup_steps=0, steps_per_execution=1)
    run = training.Pretraining(student_config, options, teacher_checkpoint=str(tmp_path / "teacher"),
                               distill=distillation.DistillationOptions(temperature=2.0))
    assert run.restore(str(tmp_path / "teacher"), layers=[1, 3]) == 0
    np.testing.assert_array_equal(checkpoints.get_weights(run.model)["bert/encoder/layer_1/output/dense/kernel"],
                                  teacher_weights["bert/encoder/layer_3/output/dense/kernel"])
    records = records_input(write_records(tmp_path / "train.tfrecord", 16))
    batch = next(iter(records(tf.distribute.InputContext())))
    inputs = {k: batch[k] for k in run.model.input_features}
    s, t = run.model(inputs, training=False), run.teacher(inputs, training=False)
    w = batch["masked_lm_weights"].numpy().astype(np.float64)
    logits, soft = (o["masked_lm_logits"].numpy().astype(np.float64) for o in (s, t))
    soft_ce = -(softmax(soft / 2) * np.log(softmax(logits / 2))).sum(-1)
    log_q = np.log(softmax(logits))
    nll = -np.take_along_axis(log_q, batch["masked_lm_ids"].numpy()[..., None], -1)[..., 0]
    a, b = s["sequence_output"].numpy().astype(np.float64), t["sequence_output"].numpy().astype(np.float64)
    cos = (a * b).sum(-1) / np.linalg.norm(a, axis=-1) / np.linalg.norm(b, axis=-1)
    mask = batch["input_mask"].numpy()
    expected = (5 * 4 * (w * soft_ce).sum() / w.sum() + 2 * (w * nll).sum() / (w.sum() + 1e-5)
                + (mask * (1 - cos)).sum() / mask.sum())
    results = run.train(records)
    np.testing.assert_allclose(results["loss"], expected, rtol=1e-5)
    assert run.run_config(str(tmp_path / "train.tfrecord"))["distillation"]["alpha_ce"] == 5.0
    with pytest.raises(ValueError, match="the student's width 16 must be the teacher's 32"):
        training.Pretraining(tiny_config(hidden_size=16), options, teacher_checkpoint=str(tmp_path / "teacher"))


# ------------------------------------------------------------------------------------------------ the scripts


def test_run_classifier_distils_a_student_of_teacher_layers_and_refuses_bad_flags(tmp_path):
    """run_classifier.py with --teacher_checkpoint: a 2-layer student of a 4-layer teacher's layers 0 and 2, with
    soft targets, hidden-state and attention losses; its run settings name the teacher. Flags that weigh a
    teacher's losses without a teacher, and a teacher of another vocabulary, are one-line errors."""
    import json
    import subprocess
    import sys

    from helpers import tiny_config, write_vocab
    from test_finetuning import ROOT, VOCAB, mrpc_fixture

    from bert_tf import checkpoint_files, checkpoints

    mrpc_fixture(str(tmp_path / "mrpc"))
    vocab = write_vocab(tmp_path / "vocab.txt", VOCAB)
    teacher_config = tiny_config(num_hidden_layers=4, max_position_embeddings=64)
    teacher = classifier(teacher_config, 3)
    checkpoint_files.save(teacher_config, checkpoints.get_weights(teacher), str(tmp_path / "teacher"), "tf1")
    tiny_config(max_position_embeddings=64).to_json_file(str(tmp_path / "student.json"))
    tiny_config(max_position_embeddings=64, vocab_size=98).to_json_file(str(tmp_path / "other_vocab.json"))

    def run_classifier(*extra, config="student.json"):
        return subprocess.run([sys.executable, f"{ROOT}/run_classifier.py", f"--data_dir={tmp_path / 'mrpc'}",
                               "--task_name=MRPC", f"--vocab_file={vocab}", f"--bert_config_file={tmp_path / config}",
                               f"--output_dir={tmp_path / 'out'}", "--train_batch_size=8", "--num_train_epochs=1",
                               "--max_seq_length=24", "--seed=3", *extra], capture_output=True, text=True)

    done = run_classifier("--do_train", "--do_eval", f"--teacher_checkpoint={tmp_path / 'teacher'}",
                          f"--init_checkpoint={tmp_path / 'teacher'}", "--init_layers=0,2", "--distill_hidden",
                          "--distill_attention", "--distill_alpha=0.8")
    assert done.returncode == 0, done.stderr
    results = json.loads((tmp_path / "out" / "eval_results.json").read_text())
    assert results["global_step"] == 6 and 0 <= results["eval_accuracy"] <= 1
    settings = json.loads((tmp_path / "out" / "run_config.json").read_text())
    assert settings["teacher_checkpoint"] == str(tmp_path / "teacher")
    assert settings["distillation"]["alpha"] == 0.8 and settings["distillation"]["attention"] is True
    assert settings["init_checkpoint"] == f"{tmp_path / 'teacher'} layers [0, 2]"
    refused = run_classifier("--do_train", "--distill_alpha=0.8")
    assert refused.returncode == 1
    assert refused.stderr.strip().endswith("run_classifier.py: error: --distill_alpha needs --teacher_checkpoint "
                                           "(--verbosity=1 for the traceback)")
    other = run_classifier("--do_train", f"--teacher_checkpoint={tmp_path / 'teacher'}", config="other_vocab.json")
    assert other.returncode == 1
    assert ("error: the student (the student's config) has a vocabulary of 98 tokens and the teacher "
            f"({tmp_path / 'teacher'}) one of 99") in other.stderr
