"""Pretraining data on Apache Beam: create_pretraining_data --beam_runner writes per-file mode's records byte for
byte; the TFDS builder bert_pretraining holds the same records in the same order; run_pretraining reads it; bad
input (empty shard, missing manual_dir or vocab, flags without a runner) is one error naming the file or dataset,
and leaves no output behind."""

import dataclasses
import functools
import json
import os
import subprocess
import sys

import numpy as np
import pytest
import tensorflow_datasets as tfds
from test_create_pretraining_data import parse, write_corpus, write_vocab

from bert_tf import tokenization
from bert_tf.datasets import bert_pretraining
from bert_tf.pretraining_data import PretrainingDataConfig, create_pretraining_data
from bert_tf.pretraining_data import beam as beam_lib

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CONFIG = PretrainingDataConfig(max_seq_length=32, max_predictions_per_seq=5, random_seed=21, dupe_factor=2)


@pytest.fixture
def manual_dir(tmp_path):
    """A TFDS manual_dir: vocab.txt and three corpus shards (CRLF ends, a 1-line document, a hidden file that is
    not a shard)."""
    folder = tmp_path / "manual"
    folder.mkdir()
    write_corpus(folder / "shard-0.txt", 1, 6, "\r\n", ["", "cat"])
    write_corpus(folder / "shard-1.txt", 2, 4)
    write_corpus(folder / "shard-2.txt", 3, 5)
    (folder / ".notes").write_text("not a shard")
    write_vocab(folder / "vocab.txt")
    return folder


def shards(folder):
    return [str(folder / f"shard-{i}.txt") for i in range(3)]


def tokenizer(folder):
    return functools.partial(tokenization.FullTokenizer, str(folder / "vocab.txt"))


def per_file(folder, out, config=CONFIG):
    return create_pretraining_data(shards(folder), [str(out)], tokenizer(folder), config, per_file=True)


@pytest.mark.parametrize("whole_word", [False, True])
def test_beam_records_are_per_file_modes_byte_for_byte(manual_dir, tmp_path, whole_word):
    config = dataclasses.replace(CONFIG, do_whole_word_mask=whole_word)
    expected = per_file(manual_dir, tmp_path / "p", config)
    written = beam_lib.write_files(shards(manual_dir), [str(tmp_path / "b")], tokenizer(manual_dir), config)
    assert list(written.values()) == list(expected.values()) and min(written.values()) > 0
    for ours, theirs in zip(written, expected, strict=True):
        assert ours.endswith(theirs[-len("-00000-of-00003"):])
        assert open(ours, "rb").read() == open(theirs, "rb").read()
        assert open(f"{ours}.json").read() == open(f"{theirs}.json").read()


def test_script_on_multiprocessing_direct_runner_equals_num_workers(manual_dir, tmp_path):
    def script(*flags):
        return subprocess.run([sys.executable, f"{ROOT}/create_pretraining_data.py",
                               f"--input_file={manual_dir}/shard-*", f"--vocab_file={manual_dir / 'vocab.txt'}",
                               "--max_seq_length=32", "--max_predictions_per_seq=5", "--dupe_factor=2",
                               "--random_seed=21", *flags],
                              capture_output=True, text=True, timeout=300)

    pool = script(f"--output_file={tmp_path / 'w'}", "--num_workers=2")
    beam = script(f"--output_file={tmp_path / 'b'}", "--beam_runner=DirectRunner",
                  "--beam_pipeline_options=direct_num_workers=2,direct_running_mode=multi_processing")
    assert pool.returncode == 0 and beam.returncode == 0, beam.stderr
    for i in range(3):
        name = f"-0000{i}-of-00003"
        assert open(tmp_path / f"b{name}", "rb").read() == open(tmp_path / f"w{name}", "rb").read()
    assert "Wrote" in beam.stderr


def read_tfds(builder):
    rows = list(tfds.as_numpy(builder.as_dataset(split="train", shuffle_files=False)))
    return {name: np.stack([row[name] for row in rows]) for name in rows[0]}


def test_tfds_builder_holds_per_file_modes_records_in_order(manual_dir, tmp_path):
    expected = parse(list(per_file(manual_dir, tmp_path / "p")), CONFIG)
    builder = bert_pretraining.build(str(tmp_path / "tfds"), str(manual_dir), bert_pretraining.config_from(CONFIG))
    assert builder.info.full_name == "bert_pretraining/seq32_pred5_mlm0.15_dupe2_seed21_short0.1/1.0.0"
    assert builder.info.splits["train"].num_examples == len(expected["input_ids"])
    got = read_tfds(builder)
    assert got.keys() == expected.keys()
    for name in got:
        assert got[name].dtype == expected[name].dtype, name
        np.testing.assert_array_equal(got[name], expected[name], err_msg=name)

    # run_pretraining --tfds_name: batches of the records, int64 as int32, checked against the model's vocab
    import tensorflow as tf

    from bert_tf.training.inputs import tfds_input

    name, data_dir = builder.info.full_name.rsplit("/", 1)[0], str(tmp_path / "tfds")
    dataset_fn = tfds_input(name, data_dir, 8, 32, 5, is_training=False)
    batch = next(iter(dataset_fn(None)))
    for key in got:
        want = expected[key][:8]
        assert batch[key].dtype == (tf.float32 if key == "masked_lm_weights" else tf.int32)
        np.testing.assert_array_equal(batch[key].numpy(), want, err_msg=key)
    with pytest.raises(ValueError, match="input_ids has shape \\(32,\\), read with width 128"):
        tfds_input(name, data_dir, 8, 128, 5, is_training=True)
    small = type("Config", (), {"vocab_size": 10, "type_vocab_size": 2})
    with pytest.raises(tf.errors.InvalidArgumentError, match="input_ids out of range for the model"):
        next(iter(tfds_input(name, data_dir, 8, 32, 5, is_training=False, config=small)(None)))


def test_script_builds_the_tfds_dataset(manual_dir, tmp_path):
    done = subprocess.run([sys.executable, f"{ROOT}/create_pretraining_data.py", f"--input_file={manual_dir}",
                           f"--tfds_data_dir={tmp_path / 'tfds'}", "--beam_runner=DirectRunner", "--max_seq_length=32",
                           "--max_predictions_per_seq=5", "--dupe_factor=2", "--random_seed=21"],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    expected = parse(list(per_file(manual_dir, tmp_path / "p")), CONFIG)
    builder = tfds.builder("bert_pretraining/seq32_pred5_mlm0.15_dupe2_seed21_short0.1", data_dir=tmp_path / "tfds")
    np.testing.assert_array_equal(read_tfds(builder)["masked_lm_ids"], expected["masked_lm_ids"])


def test_bad_input_names_the_file_or_dataset_and_writes_nothing(manual_dir, tmp_path):
    (manual_dir / "shard-1.txt").write_text("")
    with pytest.raises(ValueError, match=f"{manual_dir / 'shard-1.txt'}: empty input file"):
        beam_lib.write_files(shards(manual_dir), [str(tmp_path / "b")], tokenizer(manual_dir), CONFIG)
    (manual_dir / "shard-1.txt").write_text("   \n\n")  # not empty, but no document: found by the worker
    with pytest.raises(ValueError, match=f"{manual_dir / 'shard-1.txt'}: no documents"):
        bert_pretraining.build(str(tmp_path / "tfds"), str(manual_dir), bert_pretraining.config_from(CONFIG))
    config = bert_pretraining.config_from(CONFIG)
    where = f"bert_pretraining/{config.name}"
    with pytest.raises(ValueError, match=f"{where}: Manual directory {tmp_path / 'nowhere'} does not exist"):
        bert_pretraining.build(str(tmp_path / "tfds"), str(tmp_path / "nowhere"), config)
    os.remove(manual_dir / "vocab.txt")
    with pytest.raises(ValueError, match=f"{where}: no vocab.txt in manual_dir {manual_dir}"):
        bert_pretraining.build(str(tmp_path / "tfds"), str(manual_dir), config)
    assert sorted(os.listdir(tmp_path)) == ["manual", "tfds"]
    assert os.listdir(tmp_path / "tfds" / "bert_pretraining") == [".config"]  # TFDS's registry notes only

    refused = subprocess.run([sys.executable, f"{ROOT}/create_pretraining_data.py", f"--input_file={manual_dir}",
                              f"--tfds_data_dir={tmp_path / 'tfds'}"], capture_output=True, text=True, timeout=120)
    assert refused.returncode == 1
    assert refused.stderr.strip().endswith("error: --tfds_data_dir and pipeline options need --beam_runner "
                                           "(--verbosity=1 for the traceback)")


def test_counts_json_is_per_file_modes(manual_dir, tmp_path):
    written = beam_lib.write_files(shards(manual_dir)[:1], [str(tmp_path / "one")], tokenizer(manual_dir), CONFIG)
    info = json.load(open(tmp_path / "one.json"))
    assert info["num_instances"] == written[str(tmp_path / "one")] and info["random_seed"] == 21
    assert info["input_files"] == shards(manual_dir)[:1]


def test_new_data_modules_import_without_tensorflow():
    code = ("import sys; import bert_tf.tasks.tfds, bert_tf.pretraining_data.beam; "
            "print(sorted(m for m in ('tensorflow', 'keras', 'tensorflow_datasets') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout
    assert out.strip() == "[]"


@pytest.mark.slow
def test_run_pretraining_evaluates_the_tfds_dataset_as_the_records(manual_dir, tmp_path):
    """Evaluation reads in order: the same seeded model on bert_pretraining and on per-file mode's records gives
    the same metrics; a short training run on the TFDS dataset completes."""
    from helpers import tiny_config

    tiny_config(max_position_embeddings=32).to_json_file(str(tmp_path / "bert_config.json"))
    records = list(per_file(manual_dir, tmp_path / "p"))
    config = bert_pretraining.config_from(CONFIG)
    bert_pretraining.build(str(tmp_path / "tfds"), str(manual_dir), config)

    def run(out, *source, mode="--do_eval"):
        done = subprocess.run([sys.executable, f"{ROOT}/run_pretraining.py", *source, mode,
                               f"--bert_config_file={tmp_path / 'bert_config.json'}", f"--output_dir={out}",
                               "--max_seq_length=32", "--max_predictions_per_seq=5", "--eval_batch_size=4",
                               "--max_eval_steps=5", "--train_batch_size=8", "--num_train_steps=2",
                               "--num_warmup_steps=1", "--iterations_per_loop=1"],
                              capture_output=True, text=True, timeout=600)
        assert done.returncode == 0, done.stderr[-3000:]
        return out

    tfds_flags = (f"--tfds_name=bert_pretraining/{config.name}", f"--tfds_data_dir={tmp_path / 'tfds'}")
    from_records = run(tmp_path / "records", f"--input_file={','.join(records)}")
    from_tfds = run(tmp_path / "from_tfds", *tfds_flags)
    assert (from_tfds / "eval_results.txt").read_text() == (from_records / "eval_results.txt").read_text()
    trained = run(tmp_path / "trained", *tfds_flags, mode="--do_train")
    assert (trained / "ckpt-2.index").exists()
