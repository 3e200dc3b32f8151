"""Serves an exported SavedModel (run_classifier.py / run_squad.py --export_dir) over TF Serving's REST API with
KServe's model server, in a process that needs tensorflow and tensorflow-text but none of bert_tf's model code.

  python serve_model.py --model_dir=out/mrpc_savedmodel --model_name=mrpc --port=8501
  curl -d '{"instances": [{"text_a": "The cat sat.", "text_b": "A cat was sitting."}]}' \
      localhost:8501/v1/models/mrpc:predict

--model_dir may also be a TF Serving model base folder (<dir>/1/, <dir>/2/, ...): its highest version is served.
Stops on Ctrl-C or SIGTERM once the requests in flight are answered. See README, "Serving".
"""

import os

os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")  # before TensorFlow loads: README, "TensorFlow settings"

from absl import flags

from bert_tf import cli

flags.DEFINE_string("model_dir", None, "The SavedModel folder, or a model base folder of numbered versions.")
flags.DEFINE_string("model_name", None, "The name in the URL: /v1/models/<model_name>:predict.")
flags.DEFINE_integer("port", 8501, "The HTTP port (TF Serving's REST port is 8501).")
flags.DEFINE_string("host", "127.0.0.1", "The interface to listen on (0.0.0.0: every interface).")
flags.mark_flags_as_required(["model_dir", "model_name"])
FLAGS = flags.FLAGS


def main(_):
    from bert_tf.serving import server

    server.serve(FLAGS.model_dir, FLAGS.model_name, FLAGS.port, FLAGS.host)


if __name__ == "__main__":
    cli.run(main)
