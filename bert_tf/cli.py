"""Flags shared by the scripts (TPU plumbing and the runtime choices beyond the original), defined on request.

Each script calls the `define_*` functions it needs at its top level; nothing is defined on import.
"""

from __future__ import annotations

import json
import logging
import os

from absl import flags

from bert_tf import files


def define_tpu_flags():
    """The original scripts' TPU flags; `use_tpu`/`tpu_name` select TPUStrategy."""
    flags.DEFINE_bool("use_tpu", False, "Whether to use TPU (same as --strategy=tpu).")
    flags.DEFINE_string("tpu_name", None, "The Cloud TPU to use for training.")
    flags.DEFINE_string("tpu_zone", None, "GCE zone where the Cloud TPU is located in.")
    flags.DEFINE_string("gcp_project", None, "Project name for the Cloud TPU-enabled project.")
    flags.DEFINE_string("master", None, "TPU address (used when tpu_name is not given).")
    flags.DEFINE_integer("num_tpu_cores", 8, "Accepted for compatibility; TPUStrategy uses every core it finds.")


def define_runtime_flags():
    """Strategy, optimizer, precision and XLA: what users of tf-models expect beyond the original flags."""
    from bert_tf import training

    flags.DEFINE_enum("strategy", "default", training.STRATEGIES, "tf.distribute strategy.")
    flags.DEFINE_enum("optimizer", "adamw", ["adamw", "lamb"], "The original AdamWeightDecay, or LAMB.")
    flags.DEFINE_enum("precision", "float32", list(training.PRECISIONS), "Compute precision (mixed for 16-bit).")
    flags.DEFINE_bool("use_xla", False, "Compile the forward and backward pass with XLA.")


def create_strategy(values):
    """The strategy the parsed flags ask for (call first: multi-worker setup must precede other TF work)."""
    from bert_tf import training

    return training.create_strategy("tpu" if values.use_tpu else values.strategy, values.tpu_name, values.tpu_zone,
                                    values.gcp_project, values.master)


def write_eval_results(output_dir, results):
    """The original's eval_results.txt and, with every digit, eval_results.json; logged as well."""
    files.write_eval_results(os.path.join(output_dir, "eval_results.txt"), results)
    files.write_text(os.path.join(output_dir, "eval_results.json"), json.dumps(results, indent=2) + "\n")
    logging.info("***** Eval results *****\n%s", files.format_eval_results(results))
