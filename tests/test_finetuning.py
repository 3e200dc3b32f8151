"""Fine-tuning: run_classifier.py and run_squad.py end to end on tiny fixtures, eval semantics, learning."""

import json
import os
import random
import subprocess
import sys

import numpy as np
import pytest
from helpers import tiny_config, write_vocab

from bert_tf import tasks, tokenization
from bert_tf.finetuning import FineTuning, FineTuningOptions
from bert_tf.finetuning_data import pad_examples

ROOT = os.path.dirname(os.path.dirname(__file__))
WORDS = ["the", "cat", "sat", "on", "mat", "dog", "ran", "fast", "a", "big", "red", "ball"]
VOCAB = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *WORDS] + [f"w{i}" for i in range(99 - 17)]


def mrpc_fixture(directory, rows=(48, 16, 6), seed=0):
    """MRPC's layout (header; Quality, #1 ID, #2 ID, #1 String, #2 String); label 1 iff the first mentions a cat."""
    rng = random.Random(seed)
    os.makedirs(directory, exist_ok=True)

    def sentence():
        return " ".join(rng.choice(WORDS) for _ in range(rng.randint(3, 7)))

    for split, count in zip(("train", "dev", "test"), rows, strict=True):
        with open(os.path.join(directory, f"{split}.tsv"), "w") as f:
            f.write(("index" if split == "test" else "Quality") + "\t#1 ID\t#2 ID\t#1 String\t#2 String\n")
            for i in range(count):
                a, b = sentence(), sentence()
                label = i if split == "test" else int("cat" in a.split())
                f.write(f"{label}\t{i}\t{i + 1}\t{a}\t{b}\n")


@pytest.fixture
def workspace(tmp_path):
    mrpc_fixture(str(tmp_path / "mrpc"))
    vocab = write_vocab(tmp_path / "vocab.txt", VOCAB)
    config = tiny_config(max_position_embeddings=64)
    config.to_json_file(str(tmp_path / "bert_config.json"))
    return tmp_path, vocab, config


def with_sentinels(folder, *names):
    """`folder` holding files (or empty folders, names ending in /) a user put there; returns a check that they
    are all still there, unchanged."""
    folder.mkdir(parents=True, exist_ok=True)
    for name in names:
        if name.endswith("/"):
            (folder / name).mkdir()
        else:
            (folder / name).write_text(f"the user's {name}")
    return lambda: all((folder / n).is_dir() if n.endswith("/") else (folder / n).read_text() == f"the user's {n}"
                       for n in names)


def test_run_classifier_end_to_end(workspace):
    tmp_path, vocab, _ = workspace
    out = tmp_path / "out"
    # A user's files in output_dir, and a TF Serving base folder (version 1, a README) as export_dir: all stay.
    kept = [with_sentinels(out, "notes.txt"), with_sentinels(tmp_path / "export", "1/", "README")]
    subprocess.run([sys.executable, f"{ROOT}/run_classifier.py", f"--data_dir={tmp_path / 'mrpc'}", "--task_name=MRPC",
                    f"--vocab_file={vocab}", f"--bert_config_file={tmp_path / 'bert_config.json'}",
                    f"--output_dir={out}", "--do_train", "--do_eval", "--do_predict", "--train_batch_size=8",
                    "--num_train_epochs=1", "--max_seq_length=24", f"--export_dir={tmp_path / 'export'}", "--seed=3"],
                   check=True, capture_output=True)
    assert all(check() for check in kept)
    lines = (out / "eval_results.txt").read_text().splitlines()
    keys = ["accuracy", "eval_accuracy", "eval_loss", "f1", "global_step", "loss"]  # the original's + ours, sorted
    assert [line.split(" = ")[0] for line in lines] == keys
    results = json.loads((out / "eval_results.json").read_text())
    assert results["accuracy"] == results["eval_accuracy"]
    assert results["global_step"] == 6  # int(48 examples / batch 8 x 1 epoch)
    # no padding (16 dev examples, eval batch 8): the Estimator's mean batch loss is the mean loss
    assert results["loss"] == pytest.approx(results["eval_loss"], rel=1e-6)
    probabilities = np.loadtxt(out / "test_results.tsv", delimiter="\t")
    assert probabilities.shape == (6, 2)
    np.testing.assert_allclose(probabilities.sum(1), 1.0, atol=1e-6)
    submission = (out / "MRPC.tsv").read_text().splitlines()
    assert submission[0] == "index\tprediction" and len(submission) == 7
    assert {"bert_model.ckpt.index", "bert_config.json", "vocab.txt"} <= set(os.listdir(out))
    assert sorted(os.listdir(tmp_path / "export")) == ["1", "2", "README"]  # the next version
    assert os.path.exists(tmp_path / "export" / "2" / "saved_model.pb")


def test_padding_examples_change_no_metric(workspace):
    tmp_path, vocab, config = workspace
    task = tasks.get("mrpc")
    tokenizer = tokenization.FullTokenizer(vocab)
    tuner = FineTuning(task, config, FineTuningOptions(output_dir=str(tmp_path / "o"), max_seq_length=24))
    examples = task.read(str(tmp_path / "mrpc"), "dev")
    plain = tuner.evaluate(examples, task.features(examples, tokenizer, 24), 8)
    padded_examples = pad_examples(examples[:13], 8)
    assert len(padded_examples) == 16
    padded_features = task.features(padded_examples, tokenizer, 24)
    padded = tuner.evaluate(padded_examples, padded_features, 8)
    unpadded = tuner.evaluate(examples[:13], task.features(examples[:13], tokenizer, 24), 8)
    assert {k: v for k, v in padded.items() if k != "loss"} == pytest.approx(
        {k: v for k, v in unpadded.items() if k != "loss"}, abs=1e-7)
    assert plain.keys() == {"eval_accuracy", "eval_loss", "accuracy", "f1", "loss", "global_step"}
    # `loss` is the Estimator's: padding examples (all-zero inputs, label 0) count in it, as on the original's TPU
    logits = tuner.predict(padded_features[13:], 8)["logits"]
    padding_nll = -(logits[:, 0] - np.log(np.exp(logits).sum(-1)))  # [3]
    assert padded["loss"] == pytest.approx((13 * unpadded["eval_loss"] + padding_nll.sum()) / 16, rel=1e-5)


def test_a_separable_task_is_learned(workspace):
    import keras

    tmp_path, vocab, config = workspace
    mrpc_fixture(str(tmp_path / "big"), rows=(160, 40, 2), seed=1)
    keras.utils.set_random_seed(7)
    task = tasks.get("mrpc")
    tokenizer = tokenization.FullTokenizer(vocab)
    options = FineTuningOptions(output_dir=str(tmp_path / "o"), max_seq_length=24, train_batch_size=16,
                                learning_rate=2e-3, num_train_epochs=6, seed=7)
    tuner = FineTuning(task, tiny_config(max_position_embeddings=64, hidden_dropout_prob=0.0), options)
    train = task.read(str(tmp_path / "big"), "train")
    tuner.train(task.features(train, tokenizer, 24), len(train))
    dev = task.read(str(tmp_path / "big"), "dev")
    majority = max(np.mean([e.label == "1" for e in dev]), np.mean([e.label == "0" for e in dev]))
    accuracy = tuner.evaluate(dev, task.features(dev, tokenizer, 24), 8)["eval_accuracy"]
    assert accuracy >= 0.9 > majority


def squad_fixture(path):
    context = "The cat sat on the mat. A big red dog ran fast."
    data = {"version": "v2.0", "data": [{"title": "t", "paragraphs": [{"context": context, "qas": [
        {"id": "q1", "question": "where the cat sat?", "answers": [{"text": "the mat", "answer_start": 15}],
         "is_impossible": False},
        {"id": "q2", "question": "what ran fast?", "answers": [{"text": "A big red dog", "answer_start": 24}],
         "is_impossible": False},
        {"id": "q3", "question": "the ball?", "answers": [], "plausible_answers": [], "is_impossible": True}]}]}]}
    path.write_text(json.dumps(data))


def test_run_squad_v2_end_to_end(workspace):
    tmp_path, vocab, _ = workspace
    squad_fixture(tmp_path / "squad.json")
    out = tmp_path / "squad_out"
    kept = with_sentinels(out, "notes.txt")
    subprocess.run([sys.executable, f"{ROOT}/run_squad.py", f"--vocab_file={vocab}",
                    f"--bert_config_file={tmp_path / 'bert_config.json'}", f"--output_dir={out}",
                    f"--train_file={tmp_path / 'squad.json'}", f"--predict_file={tmp_path / 'squad.json'}",
                    "--do_train", "--do_predict", "--version_2_with_negative", "--max_seq_length=24", "--doc_stride=8",
                    "--max_query_length=8", "--train_batch_size=2", "--num_train_epochs=1"], check=True,
                   capture_output=True)
    predictions = json.loads((out / "predictions.json").read_text())
    assert sorted(predictions) == ["q1", "q2", "q3"]
    assert sorted(json.loads((out / "null_odds.json").read_text())) == ["q1", "q2", "q3"]
    assert len(json.loads((out / "nbest_predictions.json").read_text())["q1"]) >= 1
    results = json.loads((out / "eval_results.json").read_text())
    assert {"exact", "f1", "HasAns_exact", "NoAns_exact", "best_f1_thresh"} <= set(results)
    assert (out / "predictions.json").read_text().endswith("}\n") and kept()


def test_bad_flags_fail_clearly(workspace):
    tmp_path, vocab, _ = workspace
    run = subprocess.run([sys.executable, f"{ROOT}/run_squad.py", f"--vocab_file={vocab}",
                          f"--bert_config_file={tmp_path / 'bert_config.json'}", f"--output_dir={tmp_path / 'x'}",
                          "--do_predict", "--predict_file=x.json", "--max_seq_length=70"], capture_output=True)
    assert b"Cannot use sequence length 70 because the BERT model was only trained up to sequence length 64" \
        in run.stderr


def test_interrupted_fine_tuning_resumes_to_the_uninterrupted_weights(workspace):
    import keras
    import tensorflow as tf

    from bert_tf import checkpoints

    tmp_path, vocab, config = workspace
    task = tasks.get("mrpc")
    train = task.read(str(tmp_path / "mrpc"), "train")
    features = task.features(train, tokenization.FullTokenizer(vocab), 24)

    def fine_tune(out):  # 48 examples, batch 8, 2 epochs: 12 steps; dropout on (the seeds must be resumed too)
        keras.utils.set_random_seed(5)
        options = FineTuningOptions(output_dir=str(out), max_seq_length=24, train_batch_size=8, num_train_epochs=2,
                                    seed=5, save_checkpoints_steps=4, iterations_per_loop=3)
        tuner = FineTuning(task, config, options)
        return tuner, tuner.train(features, len(train))

    full, _ = fine_tune(tmp_path / "full")
    # calls of at most 3 steps that stop at each multiple of 4: checkpoints at 4, 8 and the end (12)
    assert tf.train.get_checkpoint_state(str(tmp_path / "full")).all_model_checkpoint_paths == [
        str(tmp_path / "full" / f"ckpt-{step}") for step in (4, 8, 12)]
    interrupted = tmp_path / "interrupted"  # as if killed after step 4: only ckpt-4 is there
    interrupted.mkdir()
    for name in os.listdir(tmp_path / "full"):
        if name.startswith("ckpt-4."):
            os.link(tmp_path / "full" / name, interrupted / name)
    tf.compat.v1.train.update_checkpoint_state(str(interrupted), str(interrupted / "ckpt-4"))
    resumed, results = fine_tune(interrupted)
    assert resumed.global_step == 12 and np.isfinite(results["loss"])
    expected, got = checkpoints.get_weights(full.model), checkpoints.get_weights(resumed.model)
    assert expected.keys() == got.keys()
    for name in expected:
        np.testing.assert_array_equal(got[name], expected[name], err_msg=name)
    _, nothing_left = fine_tune(tmp_path / "full")  # a finished run restarted trains no further step
    assert nothing_left is None
