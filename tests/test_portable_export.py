"""TFLite (builtin ops only) and ONNX exports: run by the TFLite interpreter and onnxruntime, they give the Keras
model's outputs within 1e-5 on ids with padding, at any batch size and length."""

import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest
from helpers import random_weights, tiny_config, tiny_inputs, write_vocab

from bert_tf import checkpoints
from bert_tf.export import portable
from bert_tf.export.requests import FEATURE_KEYS
from bert_tf.modeling import BertClassifier, BertEncoder

ROOT = os.path.dirname(os.path.dirname(__file__))
TOLERANCE = 1e-5  # float32 kernels of three runtimes on O(1) values: measured up to 3.3e-6


def run_tflite(path, inputs):
    import tensorflow as tf

    interpreter = tf.lite.Interpreter(model_path=str(path))
    return interpreter.get_signature_runner("serving_default")(**inputs)


def run_onnx(path, inputs):
    import onnxruntime

    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    names = [o.name for o in session.get_outputs()]
    return dict(zip(names, session.run(names, inputs), strict=True))


RUNTIMES = {"tflite": run_tflite, "onnx": run_onnx}


def batches():
    """The tiny batch (13 rows of 7, padded rows) and one row cut to 5 ids: the files take any [B, S]."""
    full = {k: v for k, v in tiny_inputs(seed=1).items() if k in FEATURE_KEYS}
    return [full, {k: v[2:3, :5] for k, v in full.items()}]


def with_weights(model, config, seed=0):
    weights = random_weights(config, with_heads=False, seed=seed)
    if isinstance(model, BertClassifier):
        rng = np.random.default_rng(seed)
        weights["output_weights"] = rng.normal(size=(model.num_labels, config.hidden_size)).astype(np.float32)
        weights["output_bias"] = rng.normal(size=model.num_labels).astype(np.float32)
    checkpoints.set_weights(model, weights)
    return model


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """An encoder (the original's tanh gelu) and a 3-class classifier (the erf gelu: ONNX has no Erfc, which TF's
    exact gelu uses), each exported to both formats."""
    folder = tmp_path_factory.mktemp("portable")
    encoder = with_weights(BertEncoder(tiny_config()), tiny_config())
    config = tiny_config(hidden_act="gelu_exact")
    classifier = with_weights(BertClassifier(config, num_labels=3), config, seed=1)
    models = {"encoder": (encoder, {}), "classifier": (classifier, {"label_names": ["no", "maybe", "yes"]})}
    paths = {}
    for name, (model, options) in models.items():
        for fmt, export in portable.EXPORTERS.items():
            paths[name, fmt] = export(model, str(folder / f"{name}{portable.FORMATS[fmt]}"), **options)
    return {name: model for name, (model, _) in models.items()}, paths


def expected(model, inputs):
    out = model(inputs, training=False)
    if "logits" not in out:
        return {k: out[k].numpy() for k in ("pooled_output", "sequence_output")}
    logits = out["logits"].numpy()
    probabilities = np.exp(logits - logits.max(-1, keepdims=True))
    return {"logits": logits, "probabilities": probabilities / probabilities.sum(-1, keepdims=True),
            "label_ids": logits.argmax(-1).astype(np.int32)}


@pytest.mark.parametrize("fmt", ["tflite", "onnx"])
@pytest.mark.parametrize("name", ["encoder", "classifier"])
def test_the_runtime_gives_the_keras_models_outputs(exported, name, fmt):
    models, paths = exported
    for inputs in batches():
        want = expected(models[name], inputs)
        got = RUNTIMES[fmt](paths[name, fmt], inputs)
        assert sorted(got) == sorted(want)
        for key, value in want.items():
            assert got[key].shape == value.shape, key
            if key == "label_ids":
                np.testing.assert_array_equal(got[key], value)
            else:
                np.testing.assert_allclose(got[key], value, rtol=0, atol=TOLERANCE, err_msg=f"{name} {fmt} {key}")


def test_tflite_holds_builtin_ops_only(exported):
    _, paths = exported
    for name in ("encoder", "classifier"):
        ops = portable.tflite_operators(open(paths[name, "tflite"], "rb").read())
        assert not [op for op in ops if op.startswith("custom:") or op in ("CUSTOM", "DELEGATE")], ops
        assert {"FULLY_CONNECTED", "GATHER", "SOFTMAX", "TANH"} <= set(ops), ops
    assert "GELU" in portable.tflite_operators(open(paths["classifier", "tflite"], "rb").read())


def test_the_mask_broadcast_needs_no_flex_op():
    """The attention mask [B, T] -> [B, 1, 1, T]: an indexing that adds axes is a strided slice TFLite has no
    builtin for (the converter refuses it with builtins only); the encoder's is builtin, with the same values."""
    import tensorflow as tf
    from keras import ops

    from bert_tf.modeling import attention_mask_adder

    mask = np.array([[1, 1, 0], [1, 0, 0]], np.int32)
    assert np.array_equal(attention_mask_adder(mask).numpy(), [[[[0.0, 0.0, -10000.0]]], [[[0.0, -10000.0,
                                                                                             -10000.0]]]])
    for adder, builtin in ((lambda m: ops.cast(m, "float32")[:, None, None, :], False), (attention_mask_adder, True)):
        function = tf.function(adder, input_signature=[tf.TensorSpec([None, None], tf.int32)])
        converter = tf.lite.TFLiteConverter.from_concrete_functions([function.get_concrete_function()])
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
        if builtin:
            assert "STRIDED_SLICE" not in portable.tflite_operators(converter.convert())
        else:
            with pytest.raises(Exception, match="StridedSlice"):  # ConverterError, not public in tf.lite
                converter.convert()


def test_files_record_what_they_hold(exported):
    _, paths = exported
    info = portable.read_info(paths["classifier", "onnx"])
    assert info["kind"] == "classification" and info["format"] == "onnx" and info["opset"] == portable.OPSET
    assert info["label_names"] == ["no", "maybe", "yes"]
    assert info["outputs"] == ["label_ids", "logits", "probabilities"] and info["inputs"] == list(FEATURE_KEYS)
    info = portable.read_info(paths["encoder", "tflite"])
    assert (info["kind"], info["format"], info["shape"], info["max_seq_length"]) == ("encoder", "tflite",
                                                                                      [None, None], 16)
    assert info["outputs"] == ["pooled_output", "sequence_output"]


def test_fixed_shapes_and_regression(tmp_path):
    """batch_size/seq_length fix the input shape; a regression model gives `scores` [B]."""
    config = tiny_config()
    model = with_weights(BertClassifier(config, num_labels=1), config, seed=2)
    path = portable.export_tflite(model, str(tmp_path / "scores.tflite"), regression=True, batch_size=2,
                                  seq_length=7)
    import tensorflow as tf

    interpreter = tf.lite.Interpreter(model_path=path)
    assert [d["shape_signature"].tolist() for d in interpreter.get_input_details()] == [[2, 7]] * 3
    inputs = {k: v[:2] for k, v in batches()[0].items()}
    got = interpreter.get_signature_runner()(**inputs)
    assert list(got) == ["scores"]
    np.testing.assert_allclose(got["scores"], model(inputs)["logits"].numpy()[:, 0], rtol=0, atol=TOLERANCE)
    with pytest.raises(ValueError, match="seq_length 17: the model takes 1 to 16 positions"):
        portable.export_onnx(model, str(tmp_path / "long.onnx"), seq_length=17)
    with pytest.raises(ValueError, match="a regression model has one output; this classifier has 3"):
        portable.export_onnx(BertClassifier(config, num_labels=3), str(tmp_path / "r.onnx"), regression=True)
    assert sorted(os.listdir(tmp_path)) == ["scores.tflite"]


def test_never_replaces_what_bert_tf_did_not_write(exported, tmp_path):
    models, paths = exported
    theirs = tmp_path / "theirs.onnx"
    theirs.write_bytes(b"not a model")
    foreign_tflite = tmp_path / "foreign.tflite"
    # A real TFLite model, but not one bert_tf exported: its metadata entry renamed.
    data = open(paths["encoder", "tflite"], "rb").read()
    assert data.count(portable.MARKER.encode()) == 1
    foreign_tflite.write_bytes(data.replace(portable.MARKER.encode(), b"x" * len(portable.MARKER)))
    (tmp_path / "folder.onnx").mkdir()
    cases = [(theirs, "exists and is not a file bert_tf exported"),
             (foreign_tflite, "exists and is not a file bert_tf exported"),
             (tmp_path / "folder.onnx", "is a folder"), (tmp_path / "model.bin", "a onnx file's name ends in .onnx")]
    for path, message in cases:
        export = portable.export_tflite if str(path).endswith(".tflite") else portable.export_onnx
        with pytest.raises(ValueError, match=message):
            export(models["encoder"], str(path))
    assert theirs.read_bytes() == b"not a model"
    assert portable.read_info(str(foreign_tflite)) is None
    with pytest.raises(ValueError, match="portable exports are of a BertEncoder or a BertClassifier"):
        portable.export_onnx(object(), str(tmp_path / "new.onnx"))
    with pytest.raises(ValueError, match="unknown tf_js \\(saved_model, tflite, onnx\\)"):
        portable.plan_files(["tflite", "tf_js"], str(tmp_path), "model")
    with pytest.raises(ValueError, match="are of encoder, classification, regression models, not span"):
        portable.plan_files(["onnx"], str(tmp_path), "model", "span")
    assert sorted(os.listdir(tmp_path)) == ["folder.onnx", "foreign.tflite", "theirs.onnx"]
    # One bert_tf wrote is replaced, atomically: nothing else is left in the folder.
    again = tmp_path / "again"
    again.mkdir()
    shutil.copyfile(paths["classifier", "onnx"], again / "model.onnx")
    portable.export_onnx(models["encoder"], str(again / "model.onnx"))
    assert os.listdir(again) == ["model.onnx"]
    assert portable.read_info(str(again / "model.onnx"))["kind"] == "encoder"


@pytest.mark.slow
def test_export_encoder_script_writes_both_files(tmp_path):
    """export_encoder.py --export_format=tflite,onnx: the files only, beside what export_dir held."""
    from bert_tf import checkpoint_files

    config = tiny_config()
    encoder = with_weights(BertEncoder(config), config)
    vocab = write_vocab(tmp_path / "vocab.txt", ["[PAD]", "[UNK]", "[CLS]", "[SEP]"] + [f"w{i}" for i in range(95)])
    checkpoint_files.save(config, checkpoints.get_weights(encoder), str(tmp_path / "ckpt"), "tf1", vocab)
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "notes.txt").write_text("the user's")
    subprocess.run([sys.executable, f"{ROOT}/export_encoder.py", f"--init_checkpoint={tmp_path / 'ckpt'}",
                    f"--export_dir={tmp_path / 'out'}", "--export_format=tflite,onnx", "--max_seq_length=12"],
                   check=True, capture_output=True)
    assert sorted(os.listdir(tmp_path / "out")) == ["encoder.onnx", "encoder.tflite", "notes.txt"]
    inputs = batches()[0]
    want = expected(encoder, inputs)
    for fmt, run in RUNTIMES.items():
        got = run(tmp_path / "out" / f"encoder.{fmt}", inputs)
        for key, value in want.items():
            np.testing.assert_allclose(got[key], value, rtol=0, atol=TOLERANCE)
    assert json.loads(json.dumps(portable.read_info(str(tmp_path / "out" / "encoder.onnx"))))["kind"] == "encoder"
