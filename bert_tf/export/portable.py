"""Portable files of an encoder or a fine-tuned classifier: TFLite (builtin ops only) and ONNX, token ids in.

Inputs: `input_ids`, `input_mask`, `segment_ids` int32 [B, S]. Outputs, as the Keras model's: an encoder gives
`pooled_output` [B, H] (when it has a pooler) and `sequence_output` [B, S, H]; a classifier gives `logits` [B, C],
`probabilities` [B, C] and `label_ids` [B] (int32), a regression model `scores` [B]. B and S are dynamic unless
`batch_size` / `seq_length` fix them; S may not exceed the model's max_position_embeddings. No tokenizer is inside:
text is tokenized outside (README, "Serving").

The TFLite file holds only TFLite builtin ops (no Flex delegate needed); the ONNX file is tf2onnx's at `OPSET`.
Each file carries what bert_tf wrote in it (`read_info`: the kind, label names, shapes, bert_tf's version): in the
TFLite flatbuffer's metadata, in the ONNX model's metadata_props. A file is written atomically, and only over a
file bert_tf wrote (`check_target`).
"""

from __future__ import annotations

import json
import os

import numpy as np
import tensorflow as tf

import bert_tf
from bert_tf import files
from bert_tf.export.requests import FEATURE_KEYS
from bert_tf.modeling import BertClassifier, BertEncoder

MARKER = "bert_tf_export"  # the metadata key of the export's description
OPSET = 17  # ONNX opset: onnxruntime 1.x runs it; tf2onnx 1.17 writes up to 18
FORMATS = {"tflite": ".tflite", "onnx": ".onnx"}  # the file formats and their extensions
TFLITE_IDENTIFIER = b"TFL3"  # the flatbuffer file identifier of TFLite models, bytes 4-8
KINDS = ("encoder", "classification", "regression")


def _kind(model, label_names, regression):
    """What the model is: "encoder", "classification" or "regression"; ValueError for another model, or label
    names or a regression that do not fit it."""
    if isinstance(model, BertClassifier):
        if regression and model.num_labels != 1:
            raise ValueError(f"a regression model has one output; this classifier has {model.num_labels}")
        if label_names and len(label_names) != model.num_labels:
            raise ValueError(f"{len(label_names)} label names for a classifier of {model.num_labels} classes")
        return "regression" if regression else "classification"
    if isinstance(model, BertEncoder):
        return "encoder"
    raise ValueError("portable exports are of a BertEncoder or a BertClassifier (classification, regression); got "
                     f"a {type(model).__name__}")


def serving_function(model, label_names=(), regression=False, batch_size=None, seq_length=None):
    """(description, tf.function of the ids -> the outputs the module docstring lists, in inference mode)."""
    kind = _kind(model, label_names, regression)
    limit = model.plan.max_position_embeddings - model.plan.position_offset
    if seq_length is not None and not 0 < seq_length <= limit:
        raise ValueError(f"seq_length {seq_length}: the model takes 1 to {limit} positions")
    specs = [tf.TensorSpec([batch_size, seq_length], tf.int32, name=key) for key in FEATURE_KEYS]

    def outputs(input_ids, input_mask, segment_ids):
        out = model({"input_ids": input_ids, "input_mask": input_mask, "segment_ids": segment_ids}, training=False)
        if kind == "encoder":
            return {key: out[key] for key in ("pooled_output", "sequence_output") if key in out}
        logits = out["logits"]  # [B, C]
        if kind == "regression":
            return {"scores": logits[:, 0]}  # [B]
        return {"logits": logits, "probabilities": tf.nn.softmax(logits, axis=-1),
                "label_ids": tf.argmax(logits, axis=-1, output_type=tf.int32)}  # [B, C], [B, C], [B]

    function = tf.function(outputs, input_signature=specs)
    names = sorted(function.get_concrete_function().structured_outputs)
    info = {"bert_tf_version": bert_tf.__version__, "kind": kind, "inputs": list(FEATURE_KEYS), "outputs": names,
            "shape": [batch_size, seq_length], "max_seq_length": limit, "label_names": list(label_names),
            "model_type": getattr(model.config, "model_type", "bert")}
    return info, function


# ---------------------------------------------------------------------------------------------- TFLite


def _tflite_schema():
    from tensorflow.lite.python import schema_py_generated

    return schema_py_generated


def tflite_bytes(function):
    """The TFLite flatbuffer of a `serving_function`, builtin ops only; its one signature is `serving_default`."""
    from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2

    # The weights become constants first: given the model's variables, the converter keeps them as resource
    # variables that the interpreter never initialises (every output NaN).
    concrete = function.get_concrete_function()
    frozen = convert_variables_to_constants_v2(concrete)
    holder = tf.Module()
    holder.serve = tf.function(
        lambda *ids: tf.nest.pack_sequence_as(concrete.structured_outputs, frozen(*ids)),
        input_signature=function.input_signature)
    converter = tf.lite.TFLiteConverter.from_concrete_functions([holder.serve.get_concrete_function()], holder)
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
    return converter.convert()


def _with_tflite_metadata(data, name, value: bytes):
    """The flatbuffer `data` with one more metadata entry `name` (a buffer holding `value`)."""
    import flatbuffers

    schema = _tflite_schema()
    model = schema.ModelT.InitFromPackedBuf(bytearray(data), 0)
    buffer = schema.BufferT()
    buffer.data = np.frombuffer(value, np.uint8)
    model.buffers.append(buffer)
    entry = schema.MetadataT()
    entry.name, entry.buffer = name, len(model.buffers) - 1
    model.metadata = [*(model.metadata or []), entry]
    builder = flatbuffers.Builder(len(data) + len(value) + 1024)
    builder.Finish(model.Pack(builder), file_identifier=TFLITE_IDENTIFIER)
    return bytes(builder.Output())


def tflite_operators(data):
    """The sorted operator names of a TFLite flatbuffer: builtins by name (`FULLY_CONNECTED`), custom ops (Flex
    ops among them) as `custom:<code>`."""
    schema = _tflite_schema()
    names = {code: name for name, code in vars(schema.BuiltinOperator).items() if not name.startswith("_")}
    model = schema.Model.GetRootAsModel(data, 0)
    found = set()
    for i in range(model.OperatorCodesLength()):
        code = model.OperatorCodes(i)
        builtin = max(code.BuiltinCode(), code.DeprecatedBuiltinCode())  # codes below 127 sit in the old field
        custom = code.CustomCode()
        found.add(f"custom:{custom.decode()}" if custom else names[builtin])
    return sorted(found)


def _tflite_info(data):
    if data[4:8] != TFLITE_IDENTIFIER:
        return None
    model = _tflite_schema().Model.GetRootAsModel(data, 0)
    for i in range(model.MetadataLength()):
        entry = model.Metadata(i)
        if entry.Name() == MARKER.encode():
            return json.loads(model.Buffers(entry.Buffer()).DataAsNumpy().tobytes())
    return None


def export_tflite(model, path, label_names=(), regression=False, batch_size=None, seq_length=None):
    """Writes `model` (a BertEncoder or BertClassifier) as a TFLite file of builtin ops only at `path` (ending in
    .tflite); returns the path. See the module docstring for inputs and outputs."""
    check_target(path, "tflite")
    info, function = serving_function(model, label_names, regression, batch_size, seq_length)
    data = tflite_bytes(function)
    custom = [op for op in tflite_operators(data) if op.startswith("custom:")]
    if custom:  # the converter refuses them with builtins only; checked again so a file never holds one
        raise ValueError(f"the TFLite model of {path} needs ops outside TFLite's builtins: {custom}")
    info = {**info, "format": "tflite"}
    data = _with_tflite_metadata(data, MARKER, json.dumps(info, sort_keys=True).encode())
    with files.atomic_file(path, "wb") as f:
        f.write(data)
    return path


# ---------------------------------------------------------------------------------------------- ONNX


def _erfc_as_erf(graph, nodes):
    """tf2onnx rewriter: TF computes the exact gelu with Erfc, which ONNX lacks; erfc(x) = 1 - erf(x) (within a
    float32 rounding of 1 where erfc is tiny, and gelu multiplies it by 0.5 x there)."""
    from tf2onnx import utils

    for node in nodes:
        if node.type == "Erfc":
            dtype = utils.map_onnx_to_numpy_type(graph.get_dtype(node.input[0]))
            one = graph.make_const(utils.make_name(f"{node.name}_one"), np.array(1, dtype))
            erf = graph.make_node("Erf", [node.input[0]], op_name_scope=node.name)
            node.type = "Sub"  # still a TF op here: tf2onnx maps it after the rewriters
            graph.replace_inputs(node, [one.output[0], erf.output[0]])
    return graph.get_nodes()


def onnx_model(function, opset=OPSET):
    """The ONNX ModelProto of a `serving_function` (tf2onnx), checked by onnx's checker."""
    import onnx
    import tf2onnx

    proto, _ = tf2onnx.convert.from_function(function, input_signature=function.input_signature, opset=opset,
                                             custom_rewriter=[_erfc_as_erf])
    try:  # tf2onnx logs an op it cannot map and goes on; the checker names it
        onnx.checker.check_model(proto)
    except onnx.checker.ValidationError as err:
        raise ValueError(f"tf2onnx made an invalid ONNX model: {str(err).splitlines()[0]}") from err
    return proto


def _onnx_info(path):
    import onnx
    from google.protobuf.message import DecodeError

    try:
        proto = onnx.load(path, load_external_data=False)
    except (DecodeError, ValueError, RuntimeError):
        return None
    values = {entry.key: entry.value for entry in proto.metadata_props}
    return json.loads(values[MARKER]) if MARKER in values else None


def export_onnx(model, path, label_names=(), regression=False, batch_size=None, seq_length=None, opset=OPSET):
    """Writes `model` (a BertEncoder or BertClassifier) as an ONNX file at `path` (ending in .onnx); returns the
    path. See the module docstring for inputs and outputs."""
    import onnx

    check_target(path, "onnx")
    info, function = serving_function(model, label_names, regression, batch_size, seq_length)
    proto = onnx_model(function, opset)
    onnx.helper.set_model_props(proto, {MARKER: json.dumps({**info, "format": "onnx", "opset": opset},
                                                           sort_keys=True)})
    with files.atomic_path(path) as temp:
        onnx.save_model(proto, temp)
    return path


# ---------------------------------------------------------------------------------------------- files

EXPORTERS = {"tflite": export_tflite, "onnx": export_onnx}


def read_info(path):
    """What bert_tf recorded in the TFLite or ONNX file at `path` (a dict: kind, inputs, outputs, label_names,
    shape, format, ...); None for a file bert_tf did not write."""
    with open(path, "rb") as f:
        head = f.read(8)
    if head[4:8] == TFLITE_IDENTIFIER:
        with open(path, "rb") as f:
            return _tflite_info(f.read())
    return _onnx_info(path)


def check_target(path, fmt):
    """ValueError, naming `path`, unless a `fmt` file may be written there: a new path with the format's
    extension, or a file bert_tf wrote (replaced)."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown export format {fmt!r} (portable formats: {', '.join(FORMATS)})")
    if not path.endswith(FORMATS[fmt]):
        raise ValueError(f"{path}: a {fmt} file's name ends in {FORMATS[fmt]}")
    if os.path.isdir(path):
        raise ValueError(f"{path} is a folder: give the name of the {fmt} file to write")
    if os.path.lexists(path) and read_info(path) is None:
        raise ValueError(f"{path} exists and is not a file bert_tf exported; refusing to replace it")


def plan_files(formats, folder, stem, kind="encoder"):
    """{format: path} of the portable files among export `formats` (flag values: saved_model, tflite, onnx) of a
    model of `kind` (encoder, or a task kind): `<folder>/<stem>.tflite`, `.onnx`, each checked (`check_target`)
    before any work. ValueError for an unknown format, or a kind without portable files."""
    unknown = sorted(set(formats) - {"saved_model", *FORMATS})
    if unknown:
        raise ValueError(f"--export_format: unknown {', '.join(unknown)} (saved_model, {', '.join(FORMATS)})")
    paths = {fmt: os.path.join(folder, stem + FORMATS[fmt]) for fmt in FORMATS if fmt in formats}
    if paths and kind not in KINDS:
        raise ValueError(f"--export_format: tflite and onnx files are of {', '.join(KINDS)} models, not {kind}")
    for fmt, path in paths.items():
        check_target(path, fmt)
    return paths


def write_files(model, paths, label_names=(), regression=False):
    """Writes `model` in each format of `paths` ({format: path}, `plan_files`); returns the paths."""
    for fmt, path in paths.items():
        EXPORTERS[fmt](model, path, label_names=label_names, regression=regression)
    return paths
