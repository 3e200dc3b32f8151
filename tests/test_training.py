"""Pretraining losses, metrics and the training loop: hand-computed values, parity with the original code,
accumulation and strategies against one-device training, resume, NaN stop, summaries, warm start."""

import glob
import json
import logging
import os
import subprocess
import sys

import keras
import numpy as np
import pytest
import tensorflow as tf
from helpers import random_weights, tiny_config, tiny_inputs

from bert_tf import checkpoint_files, checkpoints, files, objectives, training
from bert_tf.modeling import BertMaskedLM, BertPretrainer, BlockPlan, Dropout, EncoderPlan

HERE = os.path.dirname(__file__)
ROOT = os.path.dirname(HERE)
SEQ, PREDICTIONS = 7, 3


def write_records(path, count, seed=0, vocab=99, seq=SEQ, predictions=PREDICTIONS):
    """Pretraining TFRecords in the original format (docs/ORIGINAL.md §2.5), with 1..P real predictions per example."""
    rng = np.random.default_rng(seed)

    def ints(values):
        return tf.train.Feature(int64_list=tf.train.Int64List(value=[int(v) for v in values]))

    with tf.io.TFRecordWriter(str(path)) as writer:
        for _ in range(count):
            length = int(rng.integers(4, seq + 1))
            real = int(rng.integers(1, min(predictions, length - 1) + 1))
            ids = np.zeros(seq, np.int64)
            ids[:length] = rng.integers(5, vocab, length)
            positions, labels, weights = (np.zeros(predictions, t) for t in (np.int64, np.int64, np.float32))
            positions[:real] = np.sort(rng.choice(np.arange(1, length), real, replace=False))
            labels[:real], weights[:real] = rng.integers(5, vocab, real), 1.0
            features = {
                "input_ids": ints(ids), "input_mask": ints(np.arange(seq) < length),
                "segment_ids": ints((np.arange(seq) >= length // 2) & (np.arange(seq) < length)),
                "masked_lm_positions": ints(positions), "masked_lm_ids": ints(labels),
                "masked_lm_weights": tf.train.Feature(float_list=tf.train.FloatList(value=weights)),
                "next_sentence_labels": ints([rng.integers(0, 2)])}
            writer.write(tf.train.Example(features=tf.train.Features(feature=features)).SerializeToString())
    return str(path)


def no_dropout_config(**overrides):
    return tiny_config(hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0, **overrides)


def make_run(tmp_path, config=None, weights=None, strategy=None, **options):
    values = dict(output_dir=str(tmp_path), train_batch_size=8, eval_batch_size=4, learning_rate=1e-3,
                  num_train_steps=6, num_warmup_steps=2, save_checkpoints_steps=3, steps_per_execution=2,
                  max_eval_steps=2)
    run = training.Pretraining(config or no_dropout_config(), training.PretrainingOptions(**{**values, **options}),
                               strategy)
    if weights is not None:
        checkpoints.set_weights(run.model, weights)
    return run


def records_input(path, batch_size=8, is_training=True):
    return training.record_input(path, batch_size, SEQ, PREDICTIONS, is_training, seed=3)


@pytest.fixture(scope="module")
def records(tmp_path_factory):
    return write_records(tmp_path_factory.mktemp("data") / "train.tfrecord", 64)


# ------------------------------------------------------------------------------------------------ losses


def test_masked_lm_loss_is_the_weighted_mean_with_the_original_epsilon():
    logits = np.log(np.array([[[0.5, 0.25, 0.25], [0.1, 0.8, 0.1], [0.2, 0.2, 0.6]]], np.float32))  # [1, 3, 3]
    features = {"masked_lm_ids": np.array([[0, 1, 2]]), "masked_lm_weights": np.array([[1.0, 1.0, 0.0]], np.float32),
                "next_sentence_labels": np.array([[1]])}
    nsp_logits = np.log(np.array([[0.75, 0.25]], np.float32))
    outputs = {"masked_lm_logits": logits, "next_sentence_logits": nsp_logits}
    sums = objectives.sums(objectives.pretraining(), outputs, features)
    mlm = (-np.log(0.5) - np.log(0.8)) / (2.0 + 1e-5)  # the padded third prediction has weight 0
    np.testing.assert_allclose(sums["masked_lm_loss"], mlm, rtol=1e-6)
    np.testing.assert_allclose(sums["next_sentence_loss"], -np.log(0.25), rtol=1e-6)
    np.testing.assert_allclose(sums["loss"], mlm - np.log(0.25), rtol=1e-6)
    assert float(sums["masked_lm_correct"]) == 2.0 and float(sums["next_sentence_correct"]) == 0.0
    without_nsp = objectives.sums(objectives.pretraining(next_sentence_prediction=False), outputs, features)
    np.testing.assert_allclose(without_nsp["loss"], mlm, rtol=1e-6)


def test_masked_lm_nll_and_its_gradient_are_autodiffs_of_the_original_formula_bit_for_bit():
    """The written-out gradient (u * softmax, less u at the label) equals autodiff of the original's
    -sum(one_hot * log_softmax) bit for bit, in eager and graph mode, zero weights and repeated labels included."""
    rng = np.random.default_rng(5)
    logits = tf.constant(rng.normal(0, 4, (2, 20, 300)).astype(np.float32))  # [B, P, V]
    labels = rng.integers(0, 300, (2, 20)).astype(np.int32)
    labels[1, :5] = labels[0, 0]
    weights = tf.constant((rng.random(40) * (rng.random(40) > 0.2)).astype(np.float32))

    def original(x):
        log_probs = tf.nn.log_softmax(tf.reshape(x, [-1, 300]), axis=-1)
        return -tf.reduce_sum(log_probs * tf.one_hot(labels.reshape(-1), 300), axis=-1)

    def value_and_gradient(nll, x):
        with tf.GradientTape() as tape:
            tape.watch(x)
            values = nll(x)
            loss = tf.reduce_sum(weights * values)
        return values, tape.gradient(loss, x)

    for mode in (lambda f: f, tf.function):
        ours = mode(lambda x: value_and_gradient(lambda y: objectives.masked_lm_nll(y, labels), x))(logits)
        want = mode(lambda x: value_and_gradient(original, x))(logits)
        for a, b in zip(ours, want, strict=True):
            np.testing.assert_array_equal(a.numpy(), b.numpy())
    assert np.count_nonzero(want[1].numpy()) > 0.5 * want[1].numpy().size


def test_local_sums_with_global_totals_add_up_to_the_whole_batch_loss(config):
    inputs = tiny_inputs()
    outputs = BertPretrainer(config)(inputs)
    pretraining = objectives.pretraining()
    whole = objectives.sums(pretraining, outputs, inputs)
    totals = {"masked_lm_weight": float(np.sum(inputs["masked_lm_weights"])), "next_sentence_count": 13.0}
    assert {k: float(v) for k, v in objectives.totals(pretraining, inputs).items()} == totals
    parts = [objectives.sums(pretraining, {k: outputs[k][rows] for k in ("masked_lm_logits", "next_sentence_logits")},
                             {k: v[rows] for k, v in inputs.items()}, totals)
             for rows in (slice(0, 5), slice(5, 13))]
    for key in whole:
        np.testing.assert_allclose(sum(float(p[key]) for p in parts), float(whole[key]), rtol=1e-6)


def test_losses_and_metrics_match_the_original_run_pretraining(config, tmp_path):
    """Same weights and batch: the original's get_masked_lm_output / get_next_sentence_output losses, and its
    metric_fn's weighted accuracy and mean loss (computed from the original's log-probabilities)."""
    weights = random_weights(config)
    checkpoint_files.save(config, weights, str(tmp_path), "tf1")
    inputs = tiny_inputs(seed=1)
    np.savez(tmp_path / "inputs.npz", **inputs)
    subprocess.run([sys.executable, f"{HERE}/original_oracle.py", str(tmp_path / "bert_model.ckpt"),
                    str(tmp_path / "bert_config.json"), str(tmp_path / "inputs.npz"), str(tmp_path / "out.npz")],
                   check=True, capture_output=True)
    ref = np.load(tmp_path / "out.npz")
    model = checkpoint_files.build_model(config, weights)
    pretraining = objectives.pretraining()
    sums = objectives.sums(pretraining, model(inputs), inputs)
    np.testing.assert_allclose(float(sums["masked_lm_loss"]), ref["masked_lm_loss"], rtol=1e-6)
    np.testing.assert_allclose(float(sums["next_sentence_loss"]), ref["next_sentence_loss"], rtol=1e-6)
    np.testing.assert_allclose(float(sums["loss"]), ref["masked_lm_loss"] + ref["next_sentence_loss"], rtol=1e-6)
    w, ids = inputs["masked_lm_weights"].reshape(-1), inputs["masked_lm_ids"].reshape(-1)
    log_probs, nsp_log_probs = ref["masked_lm_log_probs"], ref["next_sentence_log_probs"]
    labels = inputs["next_sentence_labels"].reshape(-1)
    expected = {"masked_lm_accuracy": np.sum(w * (log_probs.argmax(-1) == ids)) / np.sum(w),
                "masked_lm_loss": np.sum(w * -log_probs[np.arange(len(ids)), ids]) / np.sum(w),
                "next_sentence_accuracy": np.mean(nsp_log_probs.argmax(-1) == labels),
                "next_sentence_loss": np.mean(-nsp_log_probs[np.arange(len(labels)), labels]),
                "loss": ref["masked_lm_loss"] + ref["next_sentence_loss"]}
    results = objectives.metrics(pretraining, sums, 1)
    assert results.keys() == expected.keys()
    for key, value in expected.items():
        np.testing.assert_allclose(results[key], value, rtol=1e-5, err_msg=key)


def test_eval_results_file_is_sorted_key_equals_value_lines(tmp_path):
    path = tmp_path / "eval_results.txt"
    files.write_eval_results(str(path), {"masked_lm_loss": 0.0979328, "loss": 0.0979674, "global_step": 20,
                                          "masked_lm_accuracy": 0.985479, "next_sentence_accuracy": 1.0})
    assert path.read_text() == ("global_step = 20\nloss = 0.0979674\nmasked_lm_accuracy = 0.985479\n"
                                "masked_lm_loss = 0.0979328\nnext_sentence_accuracy = 1.0\n")
    assert os.listdir(tmp_path) == ["eval_results.txt"]


# ------------------------------------------------------------------------------------------------ options


@pytest.mark.parametrize("change, message", [
    (dict(precision="float64"), "precision"), (dict(train_batch_size=10, gradient_accumulation_steps=4), "multiple"),
    (dict(save_checkpoints_steps=0), "save_checkpoints_steps"), (dict(steps_per_execution=1.5), "steps_per_execution")])
def test_options_reject_bad_values_naming_them(change, message, tmp_path):
    with pytest.raises(ValueError, match=message):
        training.PretrainingOptions(output_dir=str(tmp_path), **change)


def test_tpu_strategy_without_a_tpu_is_a_clear_error():
    with pytest.raises(ValueError, match="no TPU reachable for tpu_name='no-such-tpu'"):
        training.create_strategy("tpu", tpu_name="no-such-tpu")


# ------------------------------------------------------------------------------------------------ training


def final_weights(run):
    return checkpoints.get_weights(run.model)


def assert_same_weights(a, b, rtol=1e-5, atol=1e-6):
    assert a.keys() == b.keys()
    for name in a:
        np.testing.assert_allclose(a[name], b[name], rtol=rtol, atol=atol, err_msg=name)


def test_train_saves_exports_and_evaluates(records, tmp_path):
    weights = random_weights(no_dropout_config())
    run = make_run(tmp_path, weights=weights)
    results = run.train(records_input(records))
    assert int(run.global_step.numpy()) == 6 and int(run.optimizer.iterations.numpy()) == 6
    assert sorted(os.path.basename(p) for p in glob.glob(f"{tmp_path}/ckpt-*.index")) == ["ckpt-3.index",
                                                                                          "ckpt-6.index"]
    # The learning rate of the last update (step 5 of 6, warm-up 2): 1e-3 * (1 - 5/6).
    np.testing.assert_allclose(results["learning_rate"], 1e-3 / 6, rtol=1e-6)
    assert results["gradient_norm"] > 0 and np.isfinite(results["loss"])
    changed = final_weights(run)
    assert not np.allclose(changed["bert/pooler/dense/kernel"], weights["bert/pooler/dense/kernel"])
    exported = checkpoint_files.read_tf1(os.path.join(run.export_tf1(), "bert_model.ckpt"))
    assert_same_weights(exported, changed, rtol=0, atol=0)
    evaluated = run.evaluate(records_input(records, batch_size=4, is_training=False))
    assert evaluated["global_step"] == 6
    text = (tmp_path / "eval_results.txt").read_text()
    assert [line.split(" = ")[0] for line in text.splitlines()] == [
        "global_step", "loss", "masked_lm_accuracy", "masked_lm_loss", "next_sentence_accuracy",
        "next_sentence_loss"]


def original_gradients(model, batch):
    """The gradients of the original's loss, as the original's TF1 `tf.gradients` gave them: the tied
    word-embedding table's is IndexedSlices of the masked-LM part's rows (every row) followed by one row per
    input position. Built with an untied copy of the table for the masked-LM logits, so that the tape returns
    the two parts apart (the lookup's as IndexedSlices)."""
    table = model.encoder.embedding_table
    untied = tf.Variable(table.numpy())
    with tf.GradientTape() as tape:
        outputs = model.encoder(batch, training=True)
        outputs["masked_lm_logits"] = model.masked_lm(outputs["sequence_output"], batch["masked_lm_positions"],
                                                      untied)
        outputs["next_sentence_logits"] = model.next_sentence(outputs["pooled_output"], training=True)
        loss = objectives.sums(objectives.pretraining(), outputs, batch)["loss"]
    variables = model.trainable_variables
    *gradients, masked_lm_part = tape.gradient(loss, variables + [untied])
    index = next(i for i, v in enumerate(variables) if v is table)
    lookups = gradients[index]
    assert isinstance(lookups, tf.IndexedSlices) and lookups.values.shape[0] == batch["input_ids"].shape.num_elements()
    gradients[index] = tf.IndexedSlices(tf.concat([masked_lm_part, lookups.values], 0),
                                        tf.concat([tf.range(table.shape[0]), lookups.indices], 0), lookups.dense_shape)
    return gradients, variables


FACTORISED_SHARED = EncoderPlan(vocab_size=99, hidden_size=32, embedding_size=24, blocks=(BlockPlan(4, 8, 37),),
                                depths=((0,), (0,)), max_position_embeddings=16, hidden_dropout_prob=0.0,
                                attention_probs_dropout_prob=0.0)


@pytest.mark.parametrize("config", [no_dropout_config(), FACTORISED_SHARED], ids=["bert", "factorised_shared"])
def test_one_step_is_the_optimizer_step_on_the_original_gradient(config, records, tmp_path):
    """After one step the weights equal an AdamWeightDecay step on the gradient of the original loss in the
    original's form (computed here directly with a tape) at lr(0) of a schedule without warm-up, and the
    reported norm is the one the original clipped by; also for a plan whose table is E wide and whose block
    serves both depths."""
    weights = random_weights(config)
    run = make_run(tmp_path, config, weights=weights, num_train_steps=1, num_warmup_steps=0)
    batch = next(iter(records_input(records)(tf.distribute.InputContext())))
    reference = make_run(tmp_path / "ref", config, weights=weights, num_train_steps=1, num_warmup_steps=0)
    gradients, variables = original_gradients(reference.model, batch)
    original_norm = float(tf.linalg.global_norm(gradients))  # counts every row of both parts of the table's
    dense_norm = float(tf.linalg.global_norm([tf.convert_to_tensor(g) for g in gradients]))
    # Clipped, and not by the dense norm: that is 5.6e-4 away here, 56 times the tolerance below.
    assert original_norm > 1 and abs(original_norm / dense_norm - 1) > 1e-4
    reference.optimizer.apply_gradients(zip(gradients, variables, strict=True))
    results = run.train(records_input(records))
    np.testing.assert_allclose(results["gradient_norm"], original_norm, rtol=1e-5)
    # Adam's first step moves each weight by about lr * sign(g) (1e-3): where |g| is near epsilon / sqrt(1 - b2)
    # the float rounding of two graphs shows, so the bound is 1% of one step.
    assert_same_weights(final_weights(run), final_weights(reference), rtol=0, atol=1e-5)


def numpy_lamb_step(model, gradients, variables, norm, lr, decay=0.01, beta_1=0.9, beta_2=0.999, epsilon=1e-6):
    """LAMB's first update written out in NumPy (float64) on gradients clipped by `norm` to 1.0; returns the new
    weights in canonical (TF1) form. Bias-corrected moments of one step; decay and the trust ratio skip the names
    with LayerNorm or bias, as tf-models' and NVIDIA's LAMB."""
    scale = 1.0 / max(norm, 1.0)
    updated = {}
    for g, v in zip(gradients, variables, strict=True):
        g = tf.convert_to_tensor(g).numpy().astype(np.float64) * scale  # the table's rows summed, as applied
        w = v.numpy().astype(np.float64)
        m_hat, v_hat = (1 - beta_1) * g / (1 - beta_1), (1 - beta_2) * g * g / (1 - beta_2)
        update = m_hat / (np.sqrt(v_hat) + epsilon)
        excluded = any(word in v.path for word in ("LayerNorm", "layer_norm", "bias"))
        ratio = 1.0
        if not excluded:
            update += decay * w
            w_norm, u_norm = np.linalg.norm(w), np.linalg.norm(update)
            ratio = w_norm / u_norm if w_norm > 0 and u_norm > 0 else 1.0
        updated[id(v)] = w - ratio * lr * update
    return {name: (updated[id(v)].T if t else updated[id(v)])
            for name, (v, t) in checkpoints.keras_variables(model).items()}


def test_one_lamb_step_is_numpy_lamb_on_the_original_gradient(records, tmp_path):
    weights = random_weights(no_dropout_config())
    run = make_run(tmp_path, weights=weights, num_train_steps=1, num_warmup_steps=0, optimizer="lamb")
    batch = next(iter(records_input(records)(tf.distribute.InputContext())))
    reference = make_run(tmp_path / "ref", weights=weights, num_train_steps=1, num_warmup_steps=0)
    gradients, variables = original_gradients(reference.model, batch)
    norm = float(tf.linalg.global_norm(gradients))
    expected = numpy_lamb_step(reference.model, gradients, variables, norm, lr=1e-3)
    results = run.train(records_input(records))
    np.testing.assert_allclose(results["gradient_norm"], norm, rtol=1e-5)
    # Every tensor moves by 10 to 100 times the tolerance below, but the key biases: their gradient is 0 in theory
    # (a key bias shifts all of a query's scores alike), rounding noise in practice, so they move by about
    # lr * noise / epsilon. As for AdamW, the bound is 1% of a step of 1e-3.
    moved = {name: np.abs(expected[name] - weights[name]).max() for name in weights if "key/bias" not in name}
    assert min(moved.values()) > 1e-4
    assert_same_weights(final_weights(run), expected, rtol=0, atol=1e-5)


def test_gradient_accumulation_equals_the_full_batch(records, tmp_path):
    weights = random_weights(no_dropout_config())
    full = make_run(tmp_path / "full", weights=weights)
    full.train(records_input(records))
    accumulated = make_run(tmp_path / "accumulated", weights=weights, gradient_accumulation_steps=4)
    accumulated.train(records_input(records))
    assert_same_weights(final_weights(full), final_weights(accumulated))


def test_xla_and_bfloat16_train(records, tmp_path):
    weights = random_weights(no_dropout_config())
    plain = make_run(tmp_path / "plain", weights=weights)
    plain_result = plain.train(records_input(records))
    xla = make_run(tmp_path / "xla", weights=weights, use_xla=True)
    xla.train(records_input(records))
    assert_same_weights(final_weights(plain), final_weights(xla), rtol=1e-4, atol=1e-5)
    half = make_run(tmp_path / "bf16", weights=weights, precision="bfloat16")
    result = half.train(records_input(records))
    assert half.model.encoder.embeddings.word_embeddings.dtype == "float32"  # float32 master weights
    assert half.model.encoder.encoder_layers[0].intermediate.compute_dtype == "bfloat16"
    # bfloat16 keeps 8 bits of mantissa: the same run's loss agrees to about 1%.
    np.testing.assert_allclose(result["masked_lm_loss"], plain_result["masked_lm_loss"], rtol=0.02)


def test_fast_options_train_and_are_part_of_the_run(records, tmp_path):
    run = make_run(tmp_path / "fast", config=tiny_config(), fast_dropout=True, fused_optimizer=True)
    dropouts = [layer for layer in run.model._flatten_layers() if isinstance(layer, Dropout)]
    assert len(dropouts) == 8 and all(layer.fast for layer in dropouts)  # embeddings, 3 per layer of 2, NSP head
    assert run.optimizer.fused
    result = run.train(records_input(records))
    assert np.isfinite(result["loss"]) and result["loss"] > 0
    config = run.run_config(records)
    assert config["fast_dropout"] is True and config["fused_optimizer"] is True
    plain = make_run(tmp_path / "plain", config=tiny_config())
    assert not plain.optimizer.fused
    assert not {"fast_dropout", "fused_optimizer"} & set(plain.run_config(records))  # earlier runs: unchanged
    assert not any(layer.fast for layer in plain.model._flatten_layers() if isinstance(layer, Dropout))


def test_float16_scales_the_loss_and_reports_true_gradients(records, tmp_path):
    weights = random_weights(no_dropout_config())
    plain = make_run(tmp_path / "plain", weights=weights).train(records_input(records))
    run = make_run(tmp_path / "half", weights=weights, precision="float16")
    result = run.train(records_input(records))
    # Keras starts at 2^15 and doubles only after 2000 good steps: six steps without overflow leave it there,
    # and the gradient norm reported is the true one (the scaled one would be 2^15 times larger).
    assert float(run.optimizer.dynamic_scale.numpy()) == 2.0**15
    assert int(run.optimizer.iterations.numpy()) == 6
    np.testing.assert_allclose(result["gradient_norm"], plain["gradient_norm"], rtol=0.01)
    np.testing.assert_allclose(result["masked_lm_loss"], plain["masked_lm_loss"], rtol=0.01)


def test_without_next_sentence_the_model_has_no_nsp_head_and_needs_no_nsp_labels(records, tmp_path):
    weights = random_weights(no_dropout_config())
    run = make_run(tmp_path, weights=weights, next_sentence=False)  # the checkpoint's NSP head is not the model's
    assert type(run.model) is BertMaskedLM and "next_sentence" not in run.model.heads()

    def without_labels(context):
        return records_input(records)(context).map(
            lambda f: {k: v for k, v in f.items() if k != "next_sentence_labels"})

    results = run.train(without_labels)
    after = final_weights(run)
    assert not any(name.startswith("cls/seq_relationship") for name in after)
    np.testing.assert_array_equal(after["bert/pooler/dense/kernel"], weights["bert/pooler/dense/kernel"])
    assert not np.array_equal(after["bert/encoder/layer_0/output/dense/kernel"],
                              weights["bert/encoder/layer_0/output/dense/kernel"])
    assert "next_sentence_loss" not in results and "next_sentence_accuracy" not in results
    np.testing.assert_allclose(results["loss"], results["masked_lm_loss"], rtol=1e-6)


def test_interrupted_run_resumes_to_the_uninterrupted_weights(records, tmp_path):
    """Crash after the step-3 checkpoint (the input runs dry at step 5), restart in the same output_dir: weights,
    optimizer slots, step, schedule and data position are restored; the end equals an uninterrupted run."""
    config = tiny_config()  # dropout on: its seed-generator state is part of the checkpoint
    weights = random_weights(config)
    keras.utils.set_random_seed(5)  # the dropout seeds of both runs
    whole = make_run(tmp_path / "whole", config, weights)
    whole.train(records_input(records))
    keras.utils.set_random_seed(5)
    crashed = make_run(tmp_path / "crashed", config, weights)
    with pytest.raises(tf.errors.OutOfRangeError):
        crashed.train(lambda context: records_input(records)(context).take(4))
    resumed = make_run(tmp_path / "crashed", config)
    assert resumed.restore() == 3
    resumed.train(records_input(records))
    assert_same_weights(final_weights(whole), final_weights(resumed), rtol=0, atol=0)


def test_nan_loss_stops_with_a_clear_error_and_keeps_the_last_good_checkpoint(records, tmp_path):
    def poisoned(context):  # batches 0-3 are fine, batch 4 carries a NaN weight
        data = records_input(records)(context)
        return data.enumerate().map(lambda i, f: {**f, "masked_lm_weights": tf.where(
            i == 4, np.nan, f["masked_lm_weights"])})

    run = make_run(tmp_path, weights=random_weights(no_dropout_config()), steps_per_execution=1)
    with pytest.raises(FloatingPointError, match=r"loss is nan in steps 5\.\.5.*ckpt-3"):
        run.train(poisoned)
    assert tf.train.latest_checkpoint(str(tmp_path)).endswith("ckpt-3")


def test_tensorboard_scalars_are_written(records, tmp_path):
    make_run(tmp_path).train(records_input(records))
    for tag in ("loss", "masked_lm_loss", "next_sentence_loss", "masked_lm_accuracy", "next_sentence_accuracy",
                "gradient_norm", "examples_per_second"):
        curve = scalar_curve(tmp_path / "train", tag)
        assert [step for step, _ in curve] == [2, 3, 5, 6], tag  # calls end at 2, then the checkpoint at 3, 5, 6
        assert all(np.isfinite(value) and value >= 0 for _, value in curve), tag
    # The rate of each call's last update: steps 1, 2, 4, 5 of the 6-step schedule with 2 warm-up steps.
    np.testing.assert_allclose([v for _, v in scalar_curve(tmp_path / "train", "learning_rate")],
                               [5e-4, 1e-3 * 4 / 6, 1e-3 * 2 / 6, 1e-3 / 6], rtol=1e-6)


def test_warm_start_from_tf1_and_hf_restores_and_logs(tmp_path, caplog):
    config = no_dropout_config()
    weights = random_weights(config)
    for fmt in ("tf1", "hf"):
        checkpoint_files.save(config, weights, str(tmp_path / fmt), fmt)
        run = make_run(tmp_path / f"out-{fmt}")
        with caplog.at_level(logging.INFO):
            run.restore(init_checkpoint=str(tmp_path / fmt))
        assert_same_weights(final_weights(run), weights, rtol=0, atol=0)
        assert "warm start: 46 of 46 weights restored" in caplog.text


def test_warm_start_from_a_bert_tf_training_checkpoint_and_partial_tf1(records, tmp_path, caplog):
    source = make_run(tmp_path / "source", weights=random_weights(no_dropout_config()))
    source.train(records_input(records))
    run = make_run(tmp_path / "out")
    run.restore(init_checkpoint=str(tmp_path / "source"))
    assert_same_weights(final_weights(run), final_weights(source), rtol=0, atol=0)
    assert int(run.global_step.numpy()) == 0  # a warm start, not a resume
    body = {k: v for k, v in random_weights(no_dropout_config()).items() if not k.startswith("cls/")}
    checkpoint_files.save(no_dropout_config(), body, str(tmp_path / "body"), "tf1")
    with caplog.at_level(logging.INFO):
        make_run(tmp_path / "out2").restore(init_checkpoint=str(tmp_path / "body"))
    assert "missing from checkpoint: cls/predictions/transform/dense/kernel (32, 32)" in caplog.text
    assert "warm start: 39 of 46 weights restored" in caplog.text


# ------------------------------------------------------------------------------------------------ strategies

MIRRORED_SCRIPT = """
import sys, numpy as np, tensorflow as tf
cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
sys.path.insert(0, {tests!r})
from pathlib import Path
from helpers import random_weights
from test_training import final_weights, make_run, no_dropout_config, records_input
weights, out = random_weights(no_dropout_config()), {{}}
for name, strategy in (("one", None), ("two", tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"]))):
    run = make_run(Path({tmp!r}) / name, weights=weights, strategy=strategy, gradient_accumulation_steps=2)
    assert run.strategy.num_replicas_in_sync == (2 if strategy else 1)
    results = run.train(records_input({records!r}))
    out[name + "_loss"], out[name + "_norm"] = results["loss"], results["gradient_norm"]
    out.update({{name + ":" + k: v for k, v in final_weights(run).items()}})
np.savez({tmp!r} + "/out.npz", **out)
"""


def test_mirrored_strategy_on_two_cpus_equals_one_device(records, tmp_path):
    script = MIRRORED_SCRIPT.format(tests=HERE, tmp=str(tmp_path), records=records)
    subprocess.run([sys.executable, "-c", script], check=True, capture_output=True, cwd=ROOT)
    out = np.load(tmp_path / "out.npz")
    np.testing.assert_allclose(out["one_loss"], out["two_loss"], rtol=1e-5)
    np.testing.assert_allclose(out["one_norm"], out["two_norm"], rtol=1e-5)  # the whole batch's, not a replica's
    for key in out.files:
        if key.startswith("one:"):
            np.testing.assert_allclose(out[key], out["two:" + key[4:]], rtol=1e-4, atol=1e-6, err_msg=key)


WORKER_SCRIPT = """
import sys, keras, numpy as np
sys.path.insert(0, {tests!r})
from helpers import random_weights
from test_training import final_weights, make_run, no_dropout_config, records_input
from bert_tf import training
strategy = training.create_strategy(sys.argv[1])  # first: collectives are configured before any other op
keras.utils.set_random_seed(0)  # random_weights perturbs a fresh model's initial values: the same in every process
run = make_run(sys.argv[2], weights=random_weights(no_dropout_config()), strategy=strategy, steps_per_execution=1)
run.train(records_input({records!r}, is_training=False))
np.savez(sys.argv[3], **final_weights(run))
"""


def scalar_curve(log_dir, tag):
    """The (step, value) series of one TensorBoard scalar."""
    curve = []
    for path in sorted(glob.glob(f"{log_dir}/events.out.tfevents.*")):
        for record in tf.data.TFRecordDataset(path):
            event = tf.compat.v1.Event.FromString(record.numpy())
            curve += [(event.step, tf.make_ndarray(v.tensor).item()) for v in event.summary.value if v.tag == tag]
    return curve


@pytest.mark.slow  # two TensorFlow processes talking over localhost; one-process mirroring is tested above
def test_multi_worker_mirrored_on_localhost_reproduces_one_worker(records, tmp_path):
    """Two worker processes (TF_CONFIG, 127.0.0.1), each reading its shard of unshuffled records: the global
    batches hold the same examples as one worker's, so the loss and weights match."""
    import socket

    ports = []
    for _ in range(2):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            ports.append(s.getsockname()[1])
    script = WORKER_SCRIPT.format(tests=HERE, records=records)
    cluster = {"worker": [f"127.0.0.1:{port}" for port in ports]}
    workers = []
    for index in range(2):
        env = {**os.environ, "TF_CONFIG": json.dumps({"cluster": cluster, "task": {"type": "worker", "index": index}})}
        command = [sys.executable, "-c", script, "multi_worker_mirrored", str(tmp_path / "multi"),
                   str(tmp_path / f"w{index}")]
        workers.append(subprocess.Popen(command, env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT))
    single = subprocess.run([sys.executable, "-c", script, "default", str(tmp_path / "single"),
                             str(tmp_path / "one")], cwd=ROOT, capture_output=True)
    assert single.returncode == 0, single.stderr.decode()[-3000:]
    for worker in workers:
        output = worker.communicate(timeout=300)[0].decode()
        assert worker.returncode == 0, output[-3000:]
    single_curve, multi_curve = (scalar_curve(tmp_path / name / "train", "loss") for name in ("single", "multi"))
    assert [step for step, _ in single_curve] == [1, 2, 3, 4, 5, 6]
    assert [step for step, _ in multi_curve] == [1, 2, 3, 4, 5, 6]  # only the chief writes summaries
    np.testing.assert_allclose([v for _, v in multi_curve], [v for _, v in single_curve], rtol=1e-5)
    one = np.load(tmp_path / "one.npz")
    for worker in ("w0", "w1"):
        out = np.load(tmp_path / f"{worker}.npz")
        for key in one.files:
            np.testing.assert_allclose(out[key], one[key], rtol=1e-4, atol=1e-6, err_msg=key)
    assert os.path.exists(tmp_path / "multi" / "ckpt-6.index")
    assert not glob.glob(str(tmp_path / "multi" / ".worker-*"))


# ------------------------------------------------------------------------------------------------ HF gradients


def hf_total_loss(model, inputs):
    """The original's total loss, built from HF BertForPreTraining logits (HF scores MLM at every position:
    the masked positions are gathered, so both sides differentiate the same scalar)."""
    import torch

    out = model(input_ids=torch.tensor(inputs["input_ids"], dtype=torch.long),
                attention_mask=torch.tensor(inputs["input_mask"], dtype=torch.long),
                token_type_ids=torch.tensor(inputs["segment_ids"], dtype=torch.long))
    positions = torch.tensor(inputs["masked_lm_positions"], dtype=torch.long)
    vocab_size = out.prediction_logits.shape[-1]
    logits = torch.gather(out.prediction_logits, 1, positions[:, :, None].expand(-1, -1, vocab_size))  # [B, P, V]
    log_probs = torch.log_softmax(logits, -1).reshape(-1, logits.shape[-1])  # [B * P, V]
    ids = torch.tensor(inputs["masked_lm_ids"], dtype=torch.long).reshape(-1)
    weights = torch.tensor(inputs["masked_lm_weights"]).reshape(-1)
    nll = -log_probs[torch.arange(len(ids)), ids]
    mlm = torch.sum(weights * nll) / (torch.sum(weights) + 1e-5)
    nsp_log_probs = torch.log_softmax(out.seq_relationship_logits, -1)
    labels = torch.tensor(inputs["next_sentence_labels"], dtype=torch.long).reshape(-1)
    return mlm - torch.mean(nsp_log_probs[torch.arange(len(labels)), labels])


@pytest.mark.slow
def test_gradients_match_hf_bert_for_pretraining(tmp_path):
    """Converted identical weights, the same batch, dropout off: the gradient of the total loss matches HF
    PyTorch (hidden_act "gelu_new") within 1e-5 relative (norm of the difference over the norm, per tensor)."""
    from transformers import BertForPreTraining

    config = no_dropout_config()
    weights = random_weights(config)
    checkpoint_files.save(config, weights, str(tmp_path), "hf")
    hf = BertForPreTraining.from_pretrained(str(tmp_path)).train()
    assert hf.config.hidden_act == "gelu_new"
    inputs = tiny_inputs(seed=2)
    hf_total_loss(hf, inputs).backward()
    hf_grads = checkpoints.hf_to_tf1({name: p.grad.numpy() for name, p in hf.named_parameters()},
                                     config.num_hidden_layers)
    model = checkpoint_files.build_model(config, weights)
    variables = checkpoints.keras_variables(model)
    with tf.GradientTape() as tape:
        loss = objectives.sums(objectives.pretraining(), model(inputs, training=True), inputs)["loss"]
    grads = tape.gradient(loss, [v for v, _ in variables.values()])
    assert hf_grads.keys() == variables.keys()
    ours = {name: tf.convert_to_tensor(g).numpy() for name, g in zip(variables, grads, strict=True)}
    ours = {name: g.T if variables[name][1] else g for name, g in ours.items()}
    scale = np.sqrt(sum(np.sum(g.astype(np.float64) ** 2) for g in hf_grads.values()))
    for name, grad in ours.items():
        if name.endswith("/key/bias"):
            # Exactly 0 in theory (a key bias shifts all of a query's scores alike; the softmax ignores it):
            # both sides hold rounding noise only.
            assert np.linalg.norm(grad) < 1e-6 * scale and np.linalg.norm(hf_grads[name]) < 1e-6 * scale
            continue
        relative = np.linalg.norm(grad - hf_grads[name]) / np.linalg.norm(hf_grads[name])
        assert relative < 1e-5, (name, relative)
