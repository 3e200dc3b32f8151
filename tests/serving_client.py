"""A stand-in for TF Serving's REST predict API, run where bert_tf is NOT importable (only TF + tf-text).

  python tests/serving_client.py SAVED_MODEL JOBS_JSON

JOBS_JSON lists {"signature": name, "request": body, "response_file": path}. Each body is mapped as TF Serving
does: row format {"instances": [...]} (each instance a dict of named inputs, or a bare value when the signature
has one input) or columnar {"inputs": {...}} (or a bare list); binary strings as {"b64": ...}. Answers are
{"predictions": [...]} (one dict per instance when there are several outputs) or {"outputs": {...}}.
"""

import base64
import json
import sys


class _BlockBertTf:
    def find_spec(self, name, path=None, target=None):
        if name == "bert_tf" or name.startswith("bert_tf."):
            raise ImportError("bert_tf must not be needed to serve an exported model")


def _to_json(value):
    value = value.numpy()
    if value.dtype == object:
        return [v.decode("utf-8") for v in value.ravel()] if value.ndim else value.decode("utf-8")
    return value.tolist()


def _decode(value):
    if isinstance(value, dict) and set(value) == {"b64"}:
        return base64.b64decode(value["b64"])
    return [_decode(v) for v in value] if isinstance(value, list) else value


def answer(function, body):
    import tensorflow as tf

    names = sorted(function.structured_input_signature[1])
    body = {k: _decode(v) if k == "instances" else v for k, v in body.items()}
    if "inputs" in body:
        body["inputs"] = ({k: _decode(v) for k, v in body["inputs"].items()} if isinstance(body["inputs"], dict)
                          else _decode(body["inputs"]))
    if "instances" in body:
        rows = body["instances"]
        columns = {n: [row[n] if isinstance(row, dict) else row for row in rows] for n in names}
    else:
        columns = body["inputs"] if isinstance(body["inputs"], dict) else {names[0]: body["inputs"]}
    specs = function.structured_input_signature[1]
    outputs = function(**{n: tf.constant(columns[n], dtype=specs[n].dtype) for n in names})
    if "instances" in body:
        values = {k: _to_json(v) for k, v in outputs.items()}
        count = len(rows)
        response = {"predictions": [{k: values[k][i] for k in values} if len(values) > 1
                                    else next(iter(values.values()))[i] for i in range(count)]}
    else:
        response = {"outputs": {k: _to_json(v) for k, v in outputs.items()}}
    return response


def main(saved_model, jobs_file):
    sys.meta_path.insert(0, _BlockBertTf())
    import tensorflow as tf
    import tensorflow_text  # noqa: F401  (registers the tf-text ops the SavedModel uses)

    model = tf.saved_model.load(saved_model)
    with open(jobs_file, encoding="utf-8") as f:
        jobs = json.load(f)
    for job in jobs:
        response = answer(model.signatures[job["signature"]], job["request"])
        with open(job["response_file"], "w", encoding="utf-8") as f:
            json.dump(response, f)


if __name__ == "__main__":
    main(*sys.argv[1:3])
