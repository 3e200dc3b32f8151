"""A stand-in for TF Serving's REST predict API, run where bert_tf's model code is NOT importable (only TF + tf-text
and bert_tf.serving, which maps the bodies: `bert_tf.serving.rest`).

  python tests/serving_client.py SAVED_MODEL JOBS_JSON

JOBS_JSON lists {"signature": name, "request": body, "response_file": path}. Each body is mapped as TF Serving
does: row format {"instances": [...]} or columnar {"inputs": {...}}, binary strings as {"b64": ...}; answers are
{"predictions": [...]} or {"outputs": {...}}. The job's signature is the body's signature_name.
"""

import json
import sys

# What serving may import of bert_tf: the package's (empty) __init__, the REST mapping and the one-line error
# messages it reuses (bert_tf.cli, which imports bert_tf.files). Nothing that builds or knows the model.
SERVING_MODULES = ("bert_tf", "bert_tf.serving", "bert_tf.serving.rest", "bert_tf.serving.server",
                   "bert_tf.serving.client", "bert_tf.cli", "bert_tf.files")


class BlockBertTf:
    """An import hook refusing every bert_tf module but SERVING_MODULES."""

    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] == "bert_tf" and name not in SERVING_MODULES:
            raise ImportError(f"{name}: bert_tf's model code must not be needed to serve an exported model")


def main(saved_model, jobs_file):
    sys.meta_path.insert(0, BlockBertTf())
    import tensorflow as tf
    import tensorflow_text  # noqa: F401  (registers the tf-text ops the SavedModel uses)

    from bert_tf.serving import rest

    model = tf.saved_model.load(saved_model)
    with open(jobs_file, encoding="utf-8") as f:
        jobs = json.load(f)
    for job in jobs:
        response = rest.predict(model, {"signature_name": job["signature"], **job["request"]})
        with open(job["response_file"], "w", encoding="utf-8") as f:
            json.dump(response, f)


if __name__ == "__main__":
    main(*sys.argv[1:3])
