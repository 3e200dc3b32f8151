"""The model server (serve_model.py: KServe's ModelServer answering TF Serving's REST API) as a real process on
127.0.0.1, serving a tiny exported classifier where bert_tf's model code cannot be imported: its answers equal the
SavedModel's own, malformed or oversized requests get a 400 naming what is wrong and the server keeps serving, and
SIGTERM stops it cleanly."""

import base64
import concurrent.futures
import os
import socket
import sys

import numpy as np
import pytest
from helpers import random_weights, tiny_config, write_vocab
from test_export import MAX_SEQ_LENGTH, VOCAB

from bert_tf import checkpoints, export
from bert_tf.modeling import BertClassifier
from bert_tf.serving import client, server

HERE = os.path.dirname(__file__)
ROOT = os.path.dirname(HERE)
NAME = "tiny"
LABELS = ["no", "maybe", "yes"]
PAIRS = [("the cat sat on the mat", "hello world!"), ("", "猫 é café"), ("Hello", ""), ("the cats", "sat " * 30)]
# The server under the import hook of serving_client.py: only bert_tf.serving (and the error lines of bert_tf.cli)
# may load.
SERVE = ("import runpy, sys; sys.path.insert(0, {here!r}); import serving_client; "
         "sys.meta_path.insert(0, serving_client.BlockBertTf()); "
         "sys.argv = ['serve_model.py'] + sys.argv[1:]; runpy.run_path({script!r}, run_name='__main__')")


@pytest.fixture(scope="module")
def saved_model(tmp_path_factory):
    root = tmp_path_factory.mktemp("model_server")
    config = tiny_config()
    model = BertClassifier(config, num_labels=3)
    weights = random_weights(config, with_heads=False)
    weights["output_weights"] = np.random.default_rng(1).normal(size=(3, config.hidden_size)).astype(np.float32)
    weights["output_bias"] = np.array([0.1, -0.2, 0.3], np.float32)
    checkpoints.set_weights(model, weights)
    vocab = write_vocab(root / "vocab.txt", VOCAB)
    return export.export_classifier(model, str(root / "base" / "1"), vocab, True, MAX_SEQ_LENGTH,
                                    label_names=LABELS, pair=True)


def own_calls(saved, calls):
    """[(signature, {input: value})] -> each call's outputs from the SavedModel loaded here."""
    import tensorflow as tf

    model = tf.saved_model.load(saved)
    return [{k: v.numpy() for k, v in model.signatures[name](**{k: tf.constant(v) for k, v in inputs.items()}).items()}
            for name, inputs in calls]


def assert_answers(rows, expected):
    """A row-format answer equals the SavedModel's own outputs: labels exactly, floats to float32 rounding."""
    assert [r["labels"] for r in rows] == [v.decode() for v in expected["labels"]]
    assert [r["label_ids"] for r in rows] == expected["label_ids"].tolist()
    for key in ("probabilities", "logits"):
        np.testing.assert_allclose(np.array([r[key] for r in rows], np.float32), expected[key], rtol=0, atol=1e-6)


def test_the_server_answers_like_the_saved_model_refuses_bad_requests_and_stops_cleanly(saved_model, tmp_path):
    port = client.free_port()
    base = os.path.dirname(saved_model)  # a model base folder: the server picks its highest version, 1
    command = [sys.executable, "-c", SERVE.format(here=HERE, script=os.path.join(ROOT, "serve_model.py")),
               f"--model_dir={base}", f"--model_name={NAME}", f"--port={port}"]
    log = open(tmp_path / "server.log", "w")
    process = client.start(command, log)
    user = client.Client(port)
    try:  # the SavedModel's own answers are computed here while the server starts
        columns = {"inputs": {"text_a": [a for a, _ in PAIRS], "text_b": [b for _, b in PAIRS]}}
        id_columns = {"input_ids": [[2, 9, 3, 0]], "input_mask": [[1, 1, 1, 0]], "segment_ids": [[0, 0, 0, 0]]}
        expected, ids = own_calls(saved_model, [("serving_default", columns["inputs"]), ("serve_ids", id_columns)])
        client.wait_ready(process, NAME, port, log)
        rows = {"instances": [{"text_a": a, "text_b": b} for a, b in PAIRS]}
        status, answer = user.predict(NAME, rows)
        assert status == 200, answer
        assert_answers(answer["predictions"], expected)
        b64 = {"instances": [{"text_a": {"b64": base64.b64encode(a.encode()).decode()}, "text_b": b}
                             for a, b in PAIRS]}
        assert user.predict(NAME, b64) == (200, answer)
        status, by_column = user.predict(NAME, columns)
        assert status == 200 and by_column["outputs"]["labels"] == [r["labels"] for r in answer["predictions"]]
        status, by_ids = user.predict(NAME, {"signature_name": "serve_ids", "inputs": id_columns})
        assert status == 200
        np.testing.assert_allclose(by_ids["outputs"]["logits"], ids["logits"], rtol=0, atol=1e-6)
        # The plain curl of the README (form content type, no JSON header) is read as TF Serving reads it: as JSON.
        form = {"content_type": "application/x-www-form-urlencoded"}
        assert user.predict(NAME, rows, **form) == (200, answer)
        assert user.predict(NAME, b"", **form) == (400, {"error": "the request body is empty; send a JSON object "
                                                                 "with 'instances' or 'inputs'"})
        status, error = user.predict(NAME, b"{'instances'", **form)
        assert status == 400 and error["error"].startswith("the request body is not JSON: Expecting property name")
        # A text at the limit is answered; bad requests are refused with a message naming the key, input or limit.
        assert user.predict(NAME, {"instances": [{"text_a": "x" * 100_000, "text_b": "y"}]})[0] == 200
        refused = {
            # A JSON-typed body is parsed by KServe, which names the problem and where it is.
            "empty body": (b"", "Unrecognized request format: Input is a zero-length, empty document"),
            "not JSON": (b'{"instances": [', "Unrecognized request format: unexpected end of data"),
            "a list, not an object": ([1, 2], "must be a JSON object"),
            "misspelt key": ({"instance": rows["instances"]}, "'instance'"),
            "neither rows nor columns": ({"signature_name": "serving_default"}, "exactly one of 'instances'"),
            "both rows and columns": ({**rows, **columns}, "exactly one of 'instances'"),
            "misspelt input": ({"instances": [{"text_a": "x", "text_c": "y"}]}, "lacks 'text_b' and has 'text_c'"),
            "missing input column": ({"inputs": {"text_a": ["x"]}}, "'inputs' lacks 'text_b'"),
            "instances not a list": ({"instances": {"text_a": "x"}}, 'Expected "instances" to be a list'),  # KServe
            "no instances": ({"instances": []}, "'instances' must be a non-empty list"),
            "number for a string": ({"instances": [{"text_a": 5, "text_b": "y"}]}, "'text_a' (string"),
            "bad base64": ({"instances": [{"text_a": {"b64": "%%%"}, "text_b": "y"}]}, "not base64"),
            "strings for ids": ({"signature_name": "serve_ids", "inputs": {
                "input_ids": [["a"]], "input_mask": [[1]], "segment_ids": [[0]]}}, "'input_ids' (int32"),
            "ids beyond int32": ({"signature_name": "serve_ids", "inputs": {
                "input_ids": [[2**40]], "input_mask": [[1]], "segment_ids": [[0]]}}, "outside the range of int32"),
            "ragged ids": ({"signature_name": "serve_ids", "inputs": {
                "input_ids": [[2, 3], [2]], "input_mask": [[1, 1], [1]], "segment_ids": [[0, 0], [0]]}},
                "not all of one length"),
            "id outside the vocab": ({"signature_name": "serve_ids", "inputs": {
                "input_ids": [[2, 500]], "input_mask": [[1, 1]], "segment_ids": [[0, 0]]}}, "(the vocab)"),
            "unknown signature": ({"signature_name": "serve", **rows}, "serve_examples, serve_ids, serving_default"),
            "100,001-character text": ({"instances": [{"text_a": "x" * 100_001, "text_b": "y"}]},
                                       "longer than 100000 bytes (max_text_bytes)"),
            "10,000 rows": ({"instances": [{"text_a": "the cat", "text_b": "sat"}] * 10_000},
                            "at most 256 (max_batch_size)"),
        }
        for what, (body, message) in refused.items():
            status, error = user.predict(NAME, body)
            assert status == 400 and message in error["error"], (what, status, error)
        assert user.predict("other", rows)[0] == 404
        # Still serving, now to several users at once.
        with concurrent.futures.ThreadPoolExecutor(4) as pool:
            answers = list(pool.map(lambda _: client.Client(port).predict(NAME, rows), range(8)))
        assert answers == [(200, answer)] * 8
        assert user.request("GET", f"/v1/models/{NAME}") == (200, {"name": NAME, "ready": True})
        status, metadata = user.request("GET", f"/v1/models/{NAME}/metadata")
        signature = metadata["metadata"]["signature_def"]["signature_def"]["serving_default"]
        assert status == 200 and metadata["model_spec"] == {"name": NAME, "signature_name": "", "version": "1"}
        assert signature["inputs"]["text_b"] == {"dtype": "DT_STRING",
                                                 "tensor_shape": {"dim": [{"size": "-1"}], "unknown_rank": False}}
        assert signature["outputs"]["probabilities"]["tensor_shape"]["dim"] == [{"size": "-1"}, {"size": "3"}]
    finally:
        user.close()
        code = client.stop(process) if process.poll() is None else process.returncode
        log.close()
    log = (tmp_path / "server.log").read_text()
    assert code == 0 and "Finished server process" in log, log[-3000:]


def test_model_path_takes_a_saved_model_or_the_highest_version_and_names_a_folder_without_one(tmp_path):
    for version in ("1", "2", "10"):  # TensorFlow recognises a SavedModel folder by its saved_model.pb
        (tmp_path / version).mkdir()
        (tmp_path / version / "saved_model.pb").write_bytes(b"")
    (tmp_path / "11").mkdir()  # a version still being written, without saved_model.pb: not served
    (tmp_path / "99.bak").mkdir()
    assert server.model_path(str(tmp_path)) == str(tmp_path / "10")
    assert server.model_path(str(tmp_path / "2")) == str(tmp_path / "2")
    with pytest.raises(ValueError, match=f"{tmp_path / '11'}: no SavedModel there"):
        server.model_path(str(tmp_path / "11"))
    with pytest.raises(ValueError, match="no SavedModel there"):
        server.model_path(str(tmp_path / "missing"))


def test_a_port_in_use_is_refused_before_the_model_loads(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        # No model there either: the port is what it names, so nothing was loaded first.
        with pytest.raises(ValueError, match=f"cannot listen on 127.0.0.1:{port}: Address already in use"):
            server.serve(str(tmp_path / "no_model"), NAME, port)
