"""SavedModel export: served through a TF-Serving-style REST client in a process where bert_tf is not importable."""

import base64
import json
import os
import subprocess
import sys

import numpy as np
import pytest
from helpers import random_weights, write_vocab

from bert_tf import checkpoints, export, tokenization
from bert_tf.finetuning_data import pack_features
from bert_tf.modeling import BertClassifier, BertEncoder

HERE = os.path.dirname(__file__)
ROOT = os.path.dirname(HERE)
WORDS = ["hello", "world", "the", "cat", "sat", "##s", "on", "mat", "!", "猫", "é"]
VOCAB = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *WORDS] + [f"w{i}" for i in range(99 - 16)]
MAX_SEQ_LENGTH = 12
ODD_TEXTS = ["Hello world!", "", "the cats sat on the mat " * 4, "x" * 100_000, "cat 🐱 猫 é café ☃ ﾃｽﾄ",
             "  \u200b\u00ad\t ", "the"]


def serve(tmp_path, saved_model, jobs):
    """Runs the REST stand-in on `jobs` [(signature, body)] and returns the response bodies."""
    files = [str(tmp_path / f"response_{i}.json") for i in range(len(jobs))]
    job_file = tmp_path / "jobs.json"
    job_file.write_text(json.dumps([{"signature": s, "request": b, "response_file": f}
                                    for (s, b), f in zip(jobs, files, strict=True)]))
    subprocess.run([sys.executable, f"{HERE}/serving_client.py", saved_model, str(job_file)], check=True,
                   capture_output=True)
    return [json.loads(open(f).read()) for f in files]


def python_probabilities(model, tokenizer, pairs):
    features = [pack_features(tokenizer.tokenize(a), tokenizer.tokenize(b) if b is not None else None,
                              MAX_SEQ_LENGTH, tokenizer) for a, b in pairs]
    inputs = {k: np.array([getattr(f, k) for f in features], np.int32) for k in export.FEATURE_KEYS}
    logits = model(inputs)["logits"].numpy()
    return np.exp(logits) / np.exp(logits).sum(-1, keepdims=True), inputs


@pytest.fixture
def classifier(config, tmp_path):
    vocab_file = write_vocab(tmp_path / "vocab.txt", VOCAB)
    model = BertClassifier(config, num_labels=3)
    weights = random_weights(config, with_heads=False)
    weights["output_weights"] = np.random.default_rng(0).normal(size=(3, 32)).astype(np.float32)
    weights["output_bias"] = np.array([0.1, -0.2, 0.3], np.float32)
    checkpoints.set_weights(model, weights)
    return model, tokenization.FullTokenizer(vocab_file), vocab_file


def test_classifier_signatures_serve_rest_requests_like_the_python_model(classifier, tmp_path):
    model, tokenizer, vocab_file = classifier
    saved = str(tmp_path / "exported")
    export.export_classifier(model, saved, vocab_file, True, MAX_SEQ_LENGTH, label_names=["no", "maybe", "yes"],
                             pair=True)
    pairs = [(a, b) for a, b in zip(ODD_TEXTS, ODD_TEXTS[::-1], strict=True)]
    expected, inputs = python_probabilities(model, tokenizer, pairs)
    import tensorflow as tf

    examples = [tf.train.Example(features=tf.train.Features(feature={
        k: tf.train.Feature(int64_list=tf.train.Int64List(value=inputs[k][i])) for k in export.FEATURE_KEYS}))
        .SerializeToString() for i in range(len(pairs))]
    limit = export.DEFAULT_LIMITS.max_batch_size  # the largest request a SavedModel takes by default
    rows, columns, ids, serialized, largest, packed = serve(tmp_path, saved, [
        ("serving_default", {"instances": [{"text_a": a, "text_b": b} for a, b in pairs]}),
        ("serving_default", {"inputs": {"text_a": [a for a, _ in pairs], "text_b": [b for _, b in pairs]}}),
        ("serve_ids", {"inputs": {k: inputs[k].tolist() for k in export.FEATURE_KEYS}}),
        ("serve_examples", {"instances": [{"b64": base64.b64encode(e).decode()} for e in examples]}),
        ("serving_default", {"inputs": {"text_a": ["the cat"] * limit, "text_b": ["sat"] * limit}}),
        ("pack_text", {"inputs": {"text_a": ["the cat", "hello"], "text_b": ["sat", ""]}}),
    ])
    # Text requests pad to their longest row rounded up to 8 (the default length multiple), not to 12: the
    # answers above equal the Python model's on rows padded to 12.
    assert packed["outputs"]["input_ids"] == [[2, 7, 8, 3, 9, 3, 0, 0], [2, 5, 3, 0, 0, 0, 0, 0]]
    assert packed["outputs"]["segment_ids"] == [[0, 0, 0, 0, 1, 1, 0, 0], [0] * 8]
    np.testing.assert_allclose([p["probabilities"] for p in rows["predictions"]], expected, atol=1e-6)
    assert [p["labels"] for p in rows["predictions"]] == [["no", "maybe", "yes"][i] for i in expected.argmax(-1)]
    for response in (columns, ids, serialized):
        body = response.get("outputs") or {"probabilities": [p["probabilities"] for p in response["predictions"]]}
        np.testing.assert_allclose(body["probabilities"], expected, atol=1e-6)
    single, _ = python_probabilities(model, tokenizer, [("the cat", "sat")])
    np.testing.assert_allclose(largest["outputs"]["probabilities"], np.repeat(single, limit, 0), atol=1e-6)


def test_regression_export_returns_scores(config, tmp_path):
    vocab_file = write_vocab(tmp_path / "vocab.txt", VOCAB)
    model = BertClassifier(config, num_labels=1)
    saved = str(tmp_path / "stsb")
    export.export_classifier(model, saved, vocab_file, True, MAX_SEQ_LENGTH, regression=True)
    (response,) = serve(tmp_path, saved, [("serving_default", {"instances": ["the cat sat"]})])
    _, inputs = python_probabilities(model, tokenization.FullTokenizer(vocab_file), [("the cat sat", None)])
    score = model(inputs)["logits"].numpy()[0, 0]
    assert response["predictions"] == [pytest.approx(float(score), abs=1e-6)]


def test_only_ops_stock_tf_serving_has(classifier, tmp_path):
    import tensorflow as tf

    model, _, vocab_file = classifier
    saved = str(tmp_path / "exported")
    export.export_classifier(model, saved, vocab_file, True, MAX_SEQ_LENGTH, label_names=["a", "b", "c"])
    graph = tf.saved_model.load(saved).signatures["serving_default"].graph.as_graph_def()
    ops = {n.op for n in graph.node} | {n.op for f in graph.library.function for n in f.node_def}
    assert sorted(op for op in ops if not hasattr(tf.raw_ops, op)) == ["WordpieceTokenizeWithOffsets"]
    assert not any(op.startswith(("FastBertNormalize", "FastWordpieceTokenize", "RoundRobin")) for op in ops)
    cli = subprocess.run([os.path.join(os.path.dirname(sys.executable), "saved_model_cli"), "show", "--dir", saved,
                          "--all"], check=True, capture_output=True, text=True).stdout
    for signature in ("serving_default", "serve_ids", "serve_examples"):
        assert f"signature_def['{signature}']" in cli


def test_encoder_pair_from_the_script_works_from_keras_like_the_encoder(config, tmp_path):
    import keras
    import tensorflow as tf

    from bert_tf import checkpoint_files

    vocab_file = write_vocab(tmp_path / "vocab.txt", VOCAB)
    encoder = BertEncoder(config)
    checkpoints.set_weights(encoder, random_weights(config, with_heads=False))
    checkpoint_files.save(config, checkpoints.get_weights(encoder), str(tmp_path / "ckpt"), "tf1", vocab_file)
    (tmp_path / "hub").mkdir()
    (tmp_path / "hub" / "notes.txt").write_text("the user's")  # survives the export
    subprocess.run([sys.executable, f"{ROOT}/export_encoder.py", f"--init_checkpoint={tmp_path / 'ckpt'}",
                    f"--export_dir={tmp_path / 'hub'}", f"--max_seq_length={MAX_SEQ_LENGTH}"], check=True,
                   capture_output=True)
    preprocess = keras.layers.TFSMLayer(str(tmp_path / "hub" / "preprocessor"), call_endpoint="serving_default")
    encode = keras.layers.TFSMLayer(str(tmp_path / "hub" / "encoder"), call_endpoint="serve")
    texts = ["hello world", "the cats sat on the mat !"]
    packed = preprocess(tf.constant(texts))
    out = encode(packed)
    inputs = {k: packed[k] for k in export.FEATURE_KEYS}
    direct = encoder(inputs, return_attention_probs=True)
    # The SavedModel runs Grappler's fused kernels (matmul + bias + activation), eager runs the ops one by one:
    # float32 agreement to a few ulps of these O(1) values (measured up to 1.03e-6, i.e. 7e-6 relative), not bits.
    np.testing.assert_allclose(out["pooled_output"].numpy(), direct["pooled_output"].numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(out["encoder_outputs"].numpy()[-1], direct["sequence_output"].numpy(), rtol=1e-5,
                               atol=1e-6)
    loaded_encoder = tf.saved_model.load(str(tmp_path / "hub" / "encoder"))
    attention = loaded_encoder.signatures["attention"](**inputs)["attention_probs"].numpy()
    assert attention.shape == (2, 2, 4, MAX_SEQ_LENGTH, MAX_SEQ_LENGTH)  # [L, B, N, S, S]
    np.testing.assert_allclose(attention, np.stack([p.numpy() for p in direct["attention_probs"]]), atol=1e-6)
    tokenizer = tokenization.FullTokenizer(vocab_file)
    assert packed["input_ids"].numpy()[1].tolist() == list(pack_features(
        tokenizer.tokenize(texts[1]), None, MAX_SEQ_LENGTH, tokenizer).input_ids)
    loaded = tf.saved_model.load(str(tmp_path / "hub" / "preprocessor"))
    ids = loaded.tokenize(tf.constant(texts))
    pair = loaded.bert_pack_inputs([ids, ids])
    assert pair["input_type_ids"].numpy()[0].tolist() == [0, 0, 0, 0, 1, 1, 1] + [0] * 5  # TF Hub's names
    info = loaded_encoder.signatures["tokenization_info"]()
    assert open(info["vocab_file"].numpy().decode()).read().splitlines() == VOCAB
    assert bool(info["do_lower_case"].numpy())
    assert sorted(os.listdir(tmp_path / "hub")) == ["encoder", "notes.txt", "preprocessor"]
    assert (tmp_path / "hub" / "notes.txt").read_text() == "the user's"


def test_export_task_refuses_the_kinds_without_a_saved_model(config, tmp_path):
    from bert_tf import tasks
    from bert_tf.modeling import BertMultipleChoice, BertTagger

    vocab_file = write_vocab(tmp_path / "vocab.txt", VOCAB)
    cases = [(BertMultipleChoice(config), tasks.get("swag")), (BertTagger(config, num_labels=9),
                                                              tasks.get("conll2003"))]
    for model, task in cases:
        with pytest.raises(ValueError, match=f"^task {task.name}: task kind '{task.kind}' has no SavedModel export "
                                             "\\(only classification, regression, span\\)"):
            export.export_task(model, task, str(tmp_path / "out"), vocab_file, True, MAX_SEQ_LENGTH)
    with pytest.raises(ValueError, match="exports classification and regression models \\(BertClassifier\\); "
                                         "got a BertTagger"):
        export.export_classifier(cases[1][0], str(tmp_path / "out"), vocab_file, True, MAX_SEQ_LENGTH)
    assert not (tmp_path / "out").exists()
