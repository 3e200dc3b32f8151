"""Reliability (issue 21): nothing a user owns is deleted, a diverging or damaged run never replaces a good one,
every error says where in one line, each output_dir belongs to one run. The serving side is in
test_serving_limits.py."""

import json
import os
import signal
import subprocess
import sys

import numpy as np
import pytest
from helpers import random_weights, tiny_config, write_vocab
from test_finetuning import VOCAB, mrpc_fixture

from bert_tf import checkpoint_files, export_flags, tasks, tokenization
from bert_tf.finetuning import FineTuning, FineTuningOptions

ROOT = os.path.dirname(os.path.dirname(__file__))
TASK = tasks.get("mrpc")


@pytest.fixture
def workspace(tmp_path):
    """MRPC-layout data (48 train rows), vocab, tiny config and its features at max_seq_length 24."""
    mrpc_fixture(str(tmp_path / "mrpc"))
    vocab = write_vocab(tmp_path / "vocab.txt", VOCAB)
    config = tiny_config(max_position_embeddings=64, hidden_dropout_prob=0.0)
    config.to_json_file(str(tmp_path / "bert_config.json"))
    train = TASK.read(str(tmp_path / "mrpc"), "train")
    return tmp_path, vocab, config, train, TASK.features(train, tokenization.FullTokenizer(vocab), 24)


def fine_tune(config, features, out, **options):
    values = dict(output_dir=str(out), max_seq_length=24, train_batch_size=8, num_train_epochs=1, seed=5,
                  save_checkpoints_steps=2, iterations_per_loop=2)
    tuner = FineTuning(TASK, config, FineTuningOptions(**{**values, **options}))
    return tuner, tuner.train(features, len(features))


def contents(folder):
    """{relative path: bytes} of every file under `folder`."""
    found = {}
    for root, _, names in os.walk(folder):
        for name in names:
            path = os.path.join(root, name)
            with open(path, "rb") as f:
                found[os.path.relpath(path, folder)] = f.read()
    return found


def run_script(script, *arguments, cwd=None):
    return subprocess.run([sys.executable, os.path.join(ROOT, script), *map(str, arguments)], capture_output=True,
                          text=True, cwd=cwd)


def classifier_flags(tmp_path, out, *extra):
    return ("--task_name=MRPC", f"--data_dir={tmp_path / 'mrpc'}", f"--vocab_file={tmp_path / 'vocab.txt'}",
            f"--bert_config_file={tmp_path / 'bert_config.json'}", f"--output_dir={out}", "--max_seq_length=24",
            "--train_batch_size=8", "--num_train_epochs=1", *extra)


# ------------------------------------------------------------------------------------------ 1. data loss


def test_output_and_export_folders_that_would_lose_a_users_files_are_refused(tmp_path):
    from types import SimpleNamespace

    from bert_tf import cli

    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("the user's")
    (tmp_path / "a_file").write_text("x")
    out = tmp_path / "out"
    cases = [(mine, f"export_dir {mine} holds notes.txt: not a SavedModel bert_tf wrote, nor a TF Serving base "
                    "folder of numbered versions; refusing to replace it (give an empty or new folder)"),
             (out, f"--export_dir={out} is --output_dir={out} or a folder above it: the SavedModel needs a folder "
                   "of its own"),
             (tmp_path, f"--export_dir={tmp_path} is --output_dir={out} or a folder above it"),
             (tmp_path / "a_file", f"export_dir {tmp_path / 'a_file'} is a file, not a folder")]
    for export_dir, message in cases:
        with pytest.raises(ValueError, match=f"^{__import__('re').escape(message)}"):
            export_flags.check_export_dir(SimpleNamespace(export_dir=str(export_dir), output_dir=str(out)), TASK)
    with pytest.raises(ValueError, match=f"^--output_dir={tmp_path / 'a_file'} is a file, not a folder$"):
        cli.check_output_folder("output_dir", str(tmp_path / "a_file"))
    with pytest.raises(ValueError, match="^task conll2003: task kind 'tagging' has no SavedModel export"):
        export_flags.check_export_dir(SimpleNamespace(export_dir=str(tmp_path / "new"), output_dir=str(out)),
                             tasks.get("conll2003"))
    assert contents(mine) == {"notes.txt": b"the user's"} and not out.exists()


def test_output_files_are_never_a_folder_or_an_input(tmp_path):
    """The output-file flags: pointed at a folder holding a user's file, or at an input, refused in one line."""
    folder = tmp_path / "folder"
    folder.mkdir()
    (folder / "sentinel.txt").write_text("keep")
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("a b c\nd e f\n")
    vocab = write_vocab(tmp_path / "vocab.txt", ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "a", "b"])
    cases = [("build_vocab.py", [f"--input_file={corpus}", f"--output_file={folder}"], "is a folder"),
             ("build_vocab.py", [f"--input_file={corpus}", f"--output_file={corpus}"], "is an input file"),
             ("create_pretraining_data.py", [f"--input_file={corpus}", f"--output_file={folder}",
                                             f"--vocab_file={vocab}"], "is a folder"),
             ("extract_features.py", [f"--input_file={corpus}", f"--output_file={folder}",
                                      f"--init_checkpoint={tmp_path}"], "is a folder")]
    for script, arguments, message in cases:
        result = run_script(script, *arguments)
        assert result.returncode == 1
        assert result.stderr.splitlines()[-1].startswith(f"{script}: error: --output_file="), result.stderr
        assert message in result.stderr
    assert contents(folder) == {"sentinel.txt": b"keep"} and corpus.read_text() == "a b c\nd e f\n"


# ------------------------------------------------------------------------------------------ 2. divergence


def test_a_diverging_fine_tuning_run_never_replaces_good_checkpoints(workspace):
    tmp_path, _, config, _, features = workspace
    out = tmp_path / "out"
    fine_tune(config, features, out)  # 6 steps: ckpt-2, ckpt-4, ckpt-6
    good = contents(out)
    # Resumed with more epochs and a learning rate of 1e39 (inf in float32): the first update makes the weights
    # Inf while the loss it came from is finite; nothing may be saved from there on.
    with pytest.raises(FloatingPointError, match=r"weights hold NaN or Inf after step 7 .*stopping without saving\. "
                                                 rf"The last good checkpoint is {out}/ckpt-6$"):
        fine_tune(config, features, out, num_train_epochs=3, learning_rate=1e39, resume_changed_run=True,
                  save_checkpoints_steps=1, iterations_per_loop=1)
    after = contents(out)
    assert {k: v for k, v in after.items() if k != "run_config.json" and not k.startswith("train/")} == {
        k: v for k, v in good.items() if not k.startswith("train/") and k != "run_config.json"}


def test_run_classifier_stops_on_divergence_in_one_line_and_writes_no_result(workspace):
    tmp_path = workspace[0]
    out = tmp_path / "out"
    result = run_script("run_classifier.py", *classifier_flags(
        tmp_path, out, "--do_train", "--do_eval", "--do_predict", "--learning_rate=1e39", "--iterations_per_loop=1",
        "--save_checkpoints_steps=1", f"--export_dir={tmp_path / 'export'}"))
    assert result.returncode == 1
    # The last line says what is wrong (before it: INFO progress, and numpy's warning that 1e39 overflows float32)
    assert result.stderr.splitlines()[-1:] == [
        "run_classifier.py: error: weights hold NaN or Inf after step 1 (bert/embeddings/word_embeddings, "
        "bert/embeddings/token_type_embeddings, bert/embeddings/position_embeddings, ...); stopping without saving. "
        "The last good checkpoint is none (no checkpoint was saved) (--verbosity=1 for the traceback)"], result.stderr
    assert not any(noise in result.stderr for noise in ("Traceback", "oneDNN", "cuda", "absl::InitializeLog"))
    assert sorted(os.listdir(out)) == [".lock", "run_config.json", "train"]  # no checkpoint, result or model
    assert not (tmp_path / "export").exists()


def test_weights_that_are_not_finite_are_never_started_from(config, tmp_path):
    weights = random_weights(config)
    weights["bert/pooler/dense/bias"][3] = np.nan
    checkpoint_files.save(config, weights, str(tmp_path / "diverged"), "tf1")
    tuner = FineTuning(TASK, config, FineTuningOptions(output_dir=str(tmp_path / "out")))
    with pytest.raises(ValueError, match=rf"^{tmp_path}/diverged: weights hold NaN or Inf \(bert/pooler/dense/bias\)$"):
        tuner.warm_start(str(tmp_path / "diverged"))


# ------------------------------------------------------------------------------------------ 4. where


def test_a_damaged_latest_checkpoint_falls_back_to_the_previous_one(workspace, caplog):
    tmp_path, _, config, _, features = workspace
    full, _ = fine_tune(config, features, tmp_path / "full")
    damaged = tmp_path / "damaged"
    damaged.mkdir()
    for name, data in contents(tmp_path / "full").items():
        if name.startswith(("ckpt-", "checkpoint", "run_config")):
            (damaged / name).write_bytes(data)
    data_file = damaged / "ckpt-6.data-00000-of-00001"
    data_file.write_bytes(data_file.read_bytes()[:100])  # a full disk cut it short
    with caplog.at_level("INFO"):
        resumed, results = fine_tune(config, features, damaged)
    assert f"cannot resume from {damaged}/ckpt-6: damaged or incomplete (Read less bytes than requested)" in \
        caplog.text and f"resuming from {damaged}/ckpt-4 at step 4 (the latest good checkpoint)" in caplog.text
    expected, got = (checkpoint_files.checkpoints.get_weights(t.model) for t in (full, resumed))
    for name in expected:  # steps 5 and 6 trained again: the uninterrupted run's weights
        np.testing.assert_array_equal(got[name], expected[name], err_msg=name)
    for name in os.listdir(damaged):
        if name.startswith("ckpt-") and name.endswith(".index"):
            (damaged / name).write_bytes(b"not an index")
    with pytest.raises(ValueError, match=rf"^no checkpoint in {damaged} can be restored \({damaged}/ckpt-6: "
                                         r"damaged or incomplete .*ckpt-4: damaged .*ckpt-2: damaged"):
        fine_tune(config, features, damaged)


def test_damaged_checkpoints_and_records_name_the_file(config, tmp_path):
    from test_training import write_records

    from bert_tf.pretraining_data import pretraining_dataset
    from bert_tf.pretraining_data.readers import check_record_files

    checkpoint_files.save(config, random_weights(config), str(tmp_path / "tf1"), "tf1")
    checkpoint_files.save(config, random_weights(config), str(tmp_path / "hf"), "hf")
    for path in (tmp_path / "tf1" / "bert_model.ckpt.data-00000-of-00001", tmp_path / "hf" / "model.safetensors"):
        path.write_bytes(path.read_bytes()[:-200])
    with pytest.raises(ValueError, match=rf"^{tmp_path}/tf1/bert_model.ckpt: cannot read this checkpoint: damaged "
                                         r"or incomplete \(Read less bytes than requested\)$"):
        checkpoint_files.load(str(tmp_path / "tf1"))
    with pytest.raises(ValueError, match=rf"^{tmp_path}/hf/model.safetensors: cannot read this checkpoint: damaged "
                                         r"or incomplete \(Error while deserializing header"):
        checkpoint_files.load(str(tmp_path / "hf"))
    records = write_records(tmp_path / "r.tfrecord", 5)
    whole = open(records, "rb").read()
    (tmp_path / "cut.tfrecord").write_bytes(whole[:-10])
    (tmp_path / "text.tfrecord").write_bytes(b"not a record file at all, just some text\n" * 3)
    with pytest.raises(ValueError, match=rf"^{tmp_path}/cut.tfrecord: record 4 at byte \d+: truncated \(the record "
                                         r"needs 10 bytes more than the file has\)$"):
        check_record_files([records, str(tmp_path / "cut.tfrecord")], 7, 3)
    with pytest.raises(ValueError, match=rf"^{tmp_path}/text.tfrecord: record 0 at byte 0: not a TFRecord header"):
        pretraining_dataset(str(tmp_path / "text.tfrecord"), 2, 7, 3, is_training=False)
    # Ids beyond a vocab of 50 (the records hold ids up to 98): the file and record are named.
    import tensorflow as tf

    with pytest.raises(tf.errors.InvalidArgumentError, match=rf"{records}: record 0: input_ids holds .*; they must "
                                                             r"lie in \[0, 50\)"):
        next(iter(pretraining_dataset(records, 2, 7, 3, is_training=False, vocab_size=50)))
    assert next(iter(pretraining_dataset(records, 2, 7, 3, is_training=False, vocab_size=99)))["input_ids"].shape == (
        2, 7)


def test_bad_text_and_squad_files_name_the_file_line_and_key(tmp_path):
    mrpc_fixture(str(tmp_path))
    train = tmp_path / "train.tsv"
    lines = train.read_bytes().split(b"\n")
    lines[3] = lines[3][:10] + b"\xff\xfe" + lines[3][10:]
    train.write_bytes(b"\n".join(lines))
    with pytest.raises(ValueError, match=rf"^{train}:4: not valid UTF-8 \(invalid start byte: byte 0xff at column "
                                         r"11\)$"):
        TASK.read(str(tmp_path), "train")
    squad = tasks.get("squad-v2.0")
    v1 = {"data": [{"paragraphs": [{"context": "the cat sat", "qas": [
        {"id": "q1", "question": "who?", "answers": [{"text": "cat", "answer_start": 4}]}]}]}]}
    (tmp_path / "v1.json").write_text(json.dumps(v1))
    with pytest.raises(ValueError, match=r"v1.json: question q1 has no 'is_impossible' \(a SQuAD v1.1 file read "
                                         r"with --version_2_with_negative\?\)$"):
        squad.read_file(str(tmp_path / "v1.json"), "train")
    del v1["data"][0]["paragraphs"][0]["qas"][0]["answers"]
    (tmp_path / "v1.json").write_text(json.dumps(v1))
    with pytest.raises(ValueError, match=r"v1.json: question q1 has no 'answers' \(training needs each question's "
                                         r"answer\)$"):
        tasks.get("squad-v1.1").read_file(str(tmp_path / "v1.json"), "train")


def test_config_without_hidden_act_and_bad_fine_tuning_values_are_refused(tmp_path):
    from bert_tf.config import BertConfig

    (tmp_path / "bert_config.json").write_text(json.dumps({"vocab_size": 99, "hidden_size": 32,
                                                                      "num_attention_heads": 4}))
    with pytest.raises(ValueError, match=rf"^{tmp_path}/bert_config.json: no 'hidden_act': say \"gelu\""):
        BertConfig.from_json_file(str(tmp_path / "bert_config.json"))
    for field, value, message in [("train_batch_size", 0, "must be a positive integer, got 0"),
                                  ("eval_batch_size", 0, "must be a positive integer, got 0"),
                                  ("save_checkpoints_steps", 0, "must be a positive integer, got 0"),
                                  ("iterations_per_loop", -1, "must be a positive integer, got -1"),
                                  ("num_train_epochs", float("nan"), "must be a finite number > 0, got nan"),
                                  ("learning_rate", float("inf"), "must be a finite number > 0, got inf"),
                                  ("warmup_proportion", 1.5, "must lie in \\[0, 1\\], got 1.5")]:
        with pytest.raises(ValueError, match=f"^FineTuningOptions.{field} {message}$"):
            FineTuningOptions(output_dir=str(tmp_path), **{field: value})


# ------------------------------------------------------------------------------------------ 5. late checks


def test_bad_paths_and_a_malformed_test_file_stop_run_classifier_before_training(workspace):
    from types import SimpleNamespace

    from bert_tf import cli

    tmp_path = workspace[0]
    out = tmp_path / "out"
    # The paths are checked first of all: before the (missing) config file is even read.
    values = dict(output_dir=str(out), export_dir=str(out), max_seq_length=24, train_batch_size=8,
                  predict_batch_size=8, learning_rate=5e-5, num_train_epochs=1.0, warmup_proportion=0.1,
                  iterations_per_loop=10, optimizer="adamw", precision="float32", use_xla=False, fast_dropout=False,
                  fused_optimizer=False, seed=None,
                  save_checkpoints_steps=10, resume_changed_run=False, export_max_batch_size=8,
                  export_max_text_bytes=100, bert_config_file=str(tmp_path / "missing.json"))
    with pytest.raises(ValueError, match=f"^--export_dir={out} is --output_dir={out} or a folder above it"):
        cli.fine_tuning(SimpleNamespace(**values), TASK)
    with pytest.raises(ValueError, match=f"^--output_dir={tmp_path / 'vocab.txt'} is a file, not a folder$"):
        cli.fine_tuning(SimpleNamespace(**{**values, "output_dir": str(tmp_path / "vocab.txt")}), TASK)
    with open(tmp_path / "mrpc" / "test.tsv", "a") as f:
        f.write("7\tonly three\tfields\n")
    result = run_script("run_classifier.py", *classifier_flags(tmp_path, out, "--do_train", "--do_predict"))
    assert result.returncode == 1 and result.stderr.splitlines()[-1] == (
        f"run_classifier.py: error: {tmp_path / 'mrpc' / 'test.tsv'}:8: 3 tab-separated fields, expected 5; an "
        "unlabelled row cannot be skipped: every test id needs a prediction (--verbosity=1 for the traceback)")
    assert "training MRPC" not in result.stderr and not out.exists()


# ------------------------------------------------------------------------------------------ 6. exact steps


def test_fine_tuning_trains_exactly_num_train_steps(tmp_path):
    mrpc_fixture(str(tmp_path / "mrpc"), rows=(374, 2, 2))
    vocab = write_vocab(tmp_path / "vocab.txt", VOCAB)
    train = TASK.read(str(tmp_path / "mrpc"), "train")
    features = TASK.features(train, tokenization.FullTokenizer(vocab), 16)
    # 374 examples at batch 2: 187 steps, where a compiled call may run 200 and a checkpoint is due at 1000
    tuner, _ = fine_tune(tiny_config(), features, tmp_path / "out", max_seq_length=16, train_batch_size=2,
                         iterations_per_loop=200, save_checkpoints_steps=1000, learning_rate=1e-4)
    import tensorflow as tf

    state = tf.train.get_checkpoint_state(str(tmp_path / "out"))
    assert state.all_model_checkpoint_paths == [str(tmp_path / "out" / "ckpt-187")]
    reader = tf.train.load_checkpoint(str(tmp_path / "out" / "ckpt-187"))
    assert reader.get_tensor("optimizer/_iterations/.ATTRIBUTES/VARIABLE_VALUE") == 187
    assert reader.get_tensor("global_step/.ATTRIBUTES/VARIABLE_VALUE") == 187 and tuner.global_step == 187


# ------------------------------------------------------------------------------------------ 7. one run per dir


def test_a_rerun_with_other_data_or_settings_is_refused_unless_asked(workspace, caplog):
    tmp_path, vocab, config, _, features = workspace
    out = tmp_path / "out"
    fine_tune(config, features, out)
    mrpc_fixture(str(tmp_path / "other"), seed=1)
    other = TASK.read(str(tmp_path / "other"), "train")
    other_features = TASK.features(other, tokenization.FullTokenizer(vocab), 24)
    before = contents(out)
    with pytest.raises(ValueError, match=rf"^output_dir {out} holds a run made with other settings "
                                         r"\(train_features_sha256 '[0-9a-f]{64}' -> '[0-9a-f]{64}'\): choose another "
                                         r"output_dir, or pass --resume_changed_run to continue that run"):
        fine_tune(config, other_features, out)
    with pytest.raises(ValueError, match=r"\(learning_rate 5e-05 -> 0.001; num_train_epochs 1 -> 2; "
                                         r"num_train_steps 6 -> 12\)"):
        fine_tune(config, features, out, learning_rate=1e-3, num_train_epochs=2)
    assert contents(out) == before
    _, results = fine_tune(config, features, out, num_train_epochs=2, resume_changed_run=True)
    assert "continuing the run with changed settings: num_train_epochs 1 -> 2; num_train_steps 6 -> 12" in caplog.text
    assert np.isfinite(results["loss"])


HOLDER = """
import importlib.util, sys, time
spec = importlib.util.spec_from_file_location("output_dir", sys.argv[1])
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
with module.hold(sys.argv[2]):
    print("held", flush=True)
    time.sleep(60)
"""


def test_two_runs_never_share_an_output_dir_and_a_killed_one_leaves_no_lock(workspace):
    tmp_path, _, config, _, features = workspace
    out = tmp_path / "out"
    module = os.path.join(ROOT, "bert_tf", "training", "output_dir.py")
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, module, str(out)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline() == "held\n"
        with pytest.raises(ValueError, match=rf"^output_dir {out} is in use by another run \(pid {holder.pid}\)"):
            fine_tune(config, features, out)
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    assert not any(name.startswith("ckpt-") for name in os.listdir(out))
    _, results = fine_tune(config, features, out)  # the kernel released the killed holder's lock
    assert np.isfinite(results["loss"])


# ------------------------------------------------------------------------------------------ 8. leftovers


def test_temporaries_of_killed_writers_are_removed_and_files_are_readable_by_others(workspace):
    from bert_tf import files

    tmp_path, _, config, _, features = workspace
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    out = tmp_path / "out"
    out.mkdir()
    left = [out / "ckpt-4_temp", out / f".tmp-{dead.pid}-abc.eval_results.txt"]
    left[0].mkdir()
    (left[0] / "part-00000-of-00001.data-00000-of-00001").write_bytes(b"half")
    left[1].write_text("half")
    (out / "checkpoint.tmp5d41402abc4b2a76").write_text("half")
    live = out / f".tmp-{os.getpid()}-xyz.eval_results.txt"  # a writer still running: left alone
    live.write_text("writing")
    previous = os.umask(0o022)
    try:
        fine_tune(config, features, out)
        files.write_text(str(out / "eval_results.txt"), "x = 1\n")
    finally:
        os.umask(previous)
    names = os.listdir(out)
    assert not any(p.name in names for p in left) and "checkpoint.tmp5d41402abc4b2a76" not in names
    assert live.name in names and "eval_results.txt" in names
    assert oct(os.stat(out / "eval_results.txt").st_mode & 0o777) == "0o644"


def test_a_failed_checkpoint_save_leaves_nothing_behind(workspace, monkeypatch):
    import tensorflow as tf

    tmp_path, _, config, _, features = workspace
    original = tf.train.CheckpointManager.save

    def full_disk(manager, checkpoint_number=None):
        os.makedirs(os.path.join(manager.directory, f"ckpt-{int(checkpoint_number)}_temp"))
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(tf.train.CheckpointManager, "save", full_disk)
    with pytest.raises(OSError, match="No space left on device"):
        fine_tune(config, features, tmp_path / "out")
    assert sorted(os.listdir(tmp_path / "out")) == [".lock", "run_config.json", "train"]
    monkeypatch.setattr(tf.train.CheckpointManager, "save", original)


# ------------------------------------------------------------------------------------------ 10. quiet logs


def test_restoring_weights_logs_a_count_not_every_name(config, caplog):
    import logging

    from bert_tf import checkpoints
    from bert_tf.modeling import BertEncoder

    with caplog.at_level(logging.INFO):
        checkpoints.set_weights(BertEncoder(config), random_weights(config, with_heads=False), strict=False)
    assert "INIT_FROM_CKPT" not in caplog.text


def test_one_line_of_an_error_is_the_line_that_says_what_is_wrong(tmp_path):
    import tensorflow as tf
    from test_training import write_records

    from bert_tf import cli
    from bert_tf.pretraining_data import pretraining_dataset

    records = write_records(tmp_path / "r.tfrecord", 5)
    batches = iter(pretraining_dataset(records, 2, 7, 3, is_training=False, vocab_size=50))
    with pytest.raises(tf.errors.InvalidArgumentError) as error:  # inside a graph, as in the training loop
        tf.function(lambda: next(batches))()
    assert cli.one_line(error.value) == f"{records}: record 0: input_ids holds 53 30 33 8 12 6 21; they must lie " \
                                        "in [0, 50)"
    assert cli.one_line(ValueError("x.tsv:3: bad\nmore")) == "x.tsv:3: bad"
    assert cli.one_line(KeyError("is_impossible")) == "KeyError: 'is_impossible'"
