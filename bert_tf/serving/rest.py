"""TF Serving's REST predict API over a loaded SavedModel: a request body to one signature's input tensors, its
outputs back to the response body, and every malformed request to a `RequestError` (HTTP 400) saying what is wrong.

Request: {"signature_name": name (default "serving_default"), "instances": [...]} (row format: each instance an
object of the named inputs, or a bare value when the signature has one input) or {"inputs": {...}} (columnar: an
object of whole tensors, or a bare value for one input). Strings may be sent as {"b64": base64}. Response:
{"predictions": [...]} for rows (one object per instance, or a bare value when the signature has one output),
{"outputs": {...}} for columns (a bare value for one output); string outputs whose name ends in "_bytes" come back as
{"b64": ...}, others as UTF-8 text. As TF Serving, a request needs exactly one of "instances" and "inputs"; unlike
it, a key it does not know is refused rather than ignored, so that a misspelt "signature_name" does not silently
run the default signature.
"""

from __future__ import annotations

import base64
import binascii
import json

import numpy as np
import tensorflow as tf

from bert_tf import cli

DEFAULT_SIGNATURE = "serving_default"
BODY_KEYS = ("signature_name", "instances", "inputs")


class RequestError(ValueError):
    """A request the model cannot answer as sent (HTTP 400); the message names the key, input or limit."""


def parse_body(body) -> dict:
    """The request body (bytes, text or already-decoded JSON) as a JSON object."""
    if isinstance(body, (bytes, bytearray, str)):
        if not body.strip():
            raise RequestError("the request body is empty; send a JSON object with 'instances' or 'inputs'")
        try:
            body = json.loads(body)
        except (ValueError, UnicodeDecodeError) as error:
            raise RequestError(f"the request body is not JSON: {error}") from None
    if not isinstance(body, dict):
        raise RequestError(f"the request body must be a JSON object, got {_json_type(body)}")
    unknown = sorted(set(body) - set(BODY_KEYS))
    if unknown:
        raise RequestError(f"unknown key(s) {', '.join(map(repr, unknown))} in the request body; it takes "
                           f"{', '.join(map(repr, BODY_KEYS))}")
    if ("instances" in body) == ("inputs" in body):
        raise RequestError("the request body needs exactly one of 'instances' (rows) and 'inputs' (columns)")
    return body


def signature(model, body: dict):
    """(name, concrete function) of the signature the body names."""
    name = body.get("signature_name", DEFAULT_SIGNATURE)
    if not isinstance(name, str) or name not in model.signatures:
        raise RequestError(f"signature_name {name!r} is not one of this model's signatures: "
                           f"{', '.join(sorted(model.signatures))}")
    return name, model.signatures[name]


def input_specs(function) -> dict:
    """{input name: tf.TensorSpec} of a signature."""
    return dict(function.structured_input_signature[1])


def input_tensors(name: str, function, body: dict) -> dict:
    """{input name: tensor} for `function` from the body's rows or columns, each checked against its spec."""
    specs = input_specs(function)
    names = sorted(specs)
    what = f"signature {name!r} takes {', '.join(map(repr, names))}"
    if "instances" in body:
        rows = body["instances"]
        if not isinstance(rows, list) or not rows:
            raise RequestError(f"'instances' must be a non-empty list of rows, got {_json_type(rows)}")
        columns = {n: [] for n in names}
        for i, row in enumerate(rows):
            if len(names) == 1 and not _is_named_row(row, names):
                columns[names[0]].append(row)
                continue
            _check_keys(row, names, f"instance {i}", what)
            for n in names:
                columns[n].append(row[n])
    else:
        columns = body["inputs"]
        if len(names) == 1 and not _is_named_row(columns, names):
            columns = {names[0]: columns}
        _check_keys(columns, names, "'inputs'", what)
    return {n: _tensor(n, specs[n], columns[n]) for n in names}


def call(function, tensors: dict) -> dict:
    """The signature's outputs as NumPy arrays; a request its checks refuse (tf.errors.InvalidArgumentError: the
    batch or text limits, ids outside the vocab) raises RequestError with the check's message."""
    try:
        outputs = function(**tensors)
    except tf.errors.InvalidArgumentError as error:
        raise RequestError(cli.one_line(error)) from None
    return {k: v.numpy() for k, v in outputs.items()}


def response(outputs: dict, rows: bool) -> dict:
    """The response body for `outputs` ({name: array}): "predictions" (one per row) or "outputs"."""
    values = {k: _to_json(k, v) for k, v in outputs.items()}
    if not rows:
        return {"outputs": next(iter(values.values())) if len(values) == 1 else values}
    counts = {k: len(v) if v.ndim else None for k, v in outputs.items()}
    if len(set(counts.values())) != 1 or None in counts.values():
        raise RequestError(f"the outputs do not have one row per instance ({counts}); send 'inputs' (columns)")
    count = next(iter(counts.values()))
    if len(values) == 1:
        return {"predictions": next(iter(values.values()))}
    return {"predictions": [{k: values[k][i] for k in values} for i in range(count)]}


def predict(model, body) -> dict:
    """The whole request: body -> signature -> outputs -> response body."""
    body = parse_body(body)
    name, function = signature(model, body)
    return response(call(function, input_tensors(name, function, body)), "instances" in body)


def _is_named_row(value, names) -> bool:
    return isinstance(value, dict) and set(value) != {"b64"} and set(value) <= set(names)


def _check_keys(value, names, where, what):
    if not isinstance(value, dict):
        raise RequestError(f"{where} must be an object of named inputs ({what}), got {_json_type(value)}")
    missing, unknown = sorted(set(names) - set(value)), sorted(set(value) - set(names))
    if missing or unknown:
        parts = ([f"lacks {', '.join(map(repr, missing))}"] if missing else []) + (
            [f"has {', '.join(map(repr, unknown))}, which it does not take"] if unknown else [])
        raise RequestError(f"{where} {' and '.join(parts)} ({what})")


def _tensor(name, spec, value):
    """One input as a tensor of the spec's dtype and a compatible shape; JSON of another type, ragged rows and
    integers out of the dtype's range (which tf.constant would wrap around) are refused."""
    where = f"input {name!r} ({spec.dtype.name}, shape {spec.shape})"
    if spec.dtype == tf.string:
        value = _decode_strings(value, where)
        array = None
    else:
        try:
            array = np.asarray(value)
        except ValueError:
            raise RequestError(f"{where}: the rows are not all of one length") from None
        kinds = {"integer": "iu", "floating": "iuf", "bool": "b"}[
            "bool" if spec.dtype.is_bool else "integer" if spec.dtype.is_integer else "floating"]
        if array.dtype.kind not in kinds:
            raise RequestError(f"{where} takes {spec.dtype.name} values; got {_leaf_type(array)}")
        if spec.dtype.is_integer and array.size:
            info = np.iinfo(spec.dtype.as_numpy_dtype)
            if array.min() < info.min or array.max() > info.max:
                raise RequestError(f"{where}: a value is outside the range of {spec.dtype.name}")
        value = array
    try:
        tensor = tf.constant(value, dtype=spec.dtype)
    except ValueError:
        raise RequestError(f"{where}: the rows are not all of one length") from None
    if not spec.shape.is_compatible_with(tensor.shape):
        raise RequestError(f"{where}: got shape {tensor.shape}")
    return tensor


def _decode_strings(value, where):
    if isinstance(value, list):
        return [_decode_strings(v, where) for v in value]
    if isinstance(value, dict) and set(value) == {"b64"} and isinstance(value["b64"], str):
        try:
            return base64.b64decode(value["b64"], validate=True)
        except binascii.Error:
            raise RequestError(f"{where}: a 'b64' value is not base64") from None
    if not isinstance(value, str):
        raise RequestError(f"{where} takes strings (or {{\"b64\": ...}}); got {_json_type(value)}")
    return value


def _to_json(name, array):
    if array.dtype != object:
        return array.tolist()
    if name.endswith("_bytes"):
        return _map_leaves(array.tolist(), lambda b: {"b64": base64.b64encode(b).decode("ascii")})
    return _map_leaves(array.tolist(), lambda b: b.decode("utf-8", "replace"))


def _map_leaves(value, fn):
    return [_map_leaves(v, fn) for v in value] if isinstance(value, list) else fn(value)


def _json_type(value) -> str:
    names = {dict: "an object", list: "a list", str: "a string", bool: "a boolean", type(None): "null"}
    kind = names.get(type(value), "a number" if isinstance(value, (int, float)) else type(value).__name__)
    text = json.dumps(value, default=str)
    return f"{kind} {text[:40] + '...' if len(text) > 40 else text}"


def _leaf_type(array) -> str:
    kinds = {"U": "strings", "S": "strings", "f": "floating-point numbers", "b": "booleans", "i": "integers",
             "u": "integers", "O": "mixed or null values"}
    return kinds.get(array.dtype.kind, str(array.dtype))
