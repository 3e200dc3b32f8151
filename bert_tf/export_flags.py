"""The scripts' export flags: where a SavedModel goes and what one request to it may be (--export_dir,
--export_max_*), how it serves (--export_length_multiple, --export_precision), the other formats
(--export_format), and the checks made before any work."""

from __future__ import annotations

import logging
import os

from absl import flags


def check_export_dir(values, task=None, output_dir_flag="output_dir"):
    """Before any work: --export_dir can take a SavedModel (`bert_tf.export.folders.export_target`), is not the
    output_dir or a folder above it (its files would be in the way, or replaced with it), and `task`'s kind
    has a SavedModel."""
    export_dir = getattr(values, "export_dir", None)
    if not export_dir:
        return
    from bert_tf import export
    from bert_tf.export import folders

    output = getattr(values, output_dir_flag, None)
    if output:
        inner, outer = os.path.realpath(output), os.path.realpath(export_dir)
        if inner == outer or inner.startswith(outer.rstrip(os.sep) + os.sep):
            raise ValueError(f"--export_dir={export_dir} is --{output_dir_flag}={output} or a folder above it: the "
                             "SavedModel needs a folder of its own")
    if task is not None:
        export.check_task(task, getattr(values, "vocab_file", None))
    target = folders.export_target(export_dir)
    if target != export_dir:
        logging.info("export_dir %s holds numbered versions: the SavedModel will be version %s", export_dir,
                     os.path.basename(target))


def export_limits(values):
    """The per-request limits of SavedModels, from --export_max_batch_size and --export_max_text_bytes."""
    from bert_tf.export import Limits

    return Limits(max_batch_size=values.export_max_batch_size, max_text_bytes=values.export_max_text_bytes)


def define_export_dir_flags():
    """--export_dir of the fine-tuning scripts, with the limits and the serving options of what goes there."""
    flags.DEFINE_string("export_dir", None, "Write a SavedModel for TF Serving here (kinds that have one): a new "
                        "or empty folder, an earlier export, or a TF Serving base folder (the next <N>/ version).")
    define_export_limit_flags()
    from bert_tf.export.requests import DEFAULT_LENGTH_MULTIPLE

    flags.DEFINE_integer("export_length_multiple", DEFAULT_LENGTH_MULTIPLE, "Raw-text requests to a classifier "
                         "SavedModel are padded to their longest row rounded up to a multiple of this (0: always to "
                         "max_seq_length).", lower_bound=0)
    flags.DEFINE_enum("export_precision", "float32", ["float32", "bfloat16"], "The SavedModel computes in this "
                      "precision (bfloat16: on the CPU's bfloat16 units; outputs stay float32).")


def define_export_limit_flags():
    """--export_max_batch_size and --export_max_text_bytes: what one request to a SavedModel may be."""
    from bert_tf.cli import quiet_tensorflow_start

    quiet_tensorflow_start()  # the limits' defaults live beside the checks, which load TensorFlow
    from bert_tf.export.requests import DEFAULT_LIMITS

    flags.DEFINE_integer("export_max_batch_size", DEFAULT_LIMITS.max_batch_size, "The most rows (texts, id rows; "
                         "SQuAD: question-context windows) one request to the SavedModel may have.")
    flags.DEFINE_integer("export_max_text_bytes", DEFAULT_LIMITS.max_text_bytes, "The longest text (bytes) a "
                         "request to the SavedModel may hold.")


def define_export_format_flag(where):
    """--export_format: a comma list of saved_model, tflite, onnx (`bert_tf.export.portable`); `where` says where
    the tflite and onnx files go."""
    flags.DEFINE_list("export_format", ["saved_model"], "Comma list of what to export: saved_model (--export_dir), "
                      f"tflite (TFLite, builtin ops only), onnx; the tflite and onnx files go {where}.")


def export_task(tuner, values, **options):
    """With --export_dir: the fine-tuned model's SavedModel (with --export_max_* limits); logs where it went."""
    if values.export_dir:
        from bert_tf import export

        written = export.export_task(tuner.model, tuner.task, values.export_dir, values.vocab_file,
                                     values.do_lower_case, values.max_seq_length, limits=export_limits(values),
                                     length_multiple=values.export_length_multiple or None,
                                     precision=values.export_precision, **options)
        logging.info("SavedModel: %s", written)
