"""Fine-tunes and evaluates BERT on a sentence (pair) task: GLUE, XNLI, SWAG (multiple choice), CoNLL-2003 (tags).

The original run_classifier.py flags; outputs as the original (eval_results.txt, test_results.tsv) plus
eval_results.json, the GLUE submission file for test sets, and with --export_dir a SavedModel for TF Serving;
--export_format=tflite,onnx also writes output_dir/model.tflite and model.onnx (classification, regression).
"""

import os

os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")  # before TensorFlow loads: README, "TensorFlow settings"

import logging

from absl import flags

from bert_tf import cli, export_flags, tasks
from bert_tf.finetuning_data import pad_examples

flags.DEFINE_string("data_dir", None, "The input data dir (the task's TSV/CSV/CoNLL files).")
flags.DEFINE_string("task_name", None, f"The task to train: {', '.join(tasks.names())} (with --tfds_name: "
                    "default, the catalog dataset's task).")
flags.DEFINE_bool("do_eval", False, "Whether to run eval on the dev set.")
flags.DEFINE_integer("eval_batch_size", 8, "Total batch size for eval.")
cli.define_tfds_flags("the task's splits (glue/mrpc, glue/mnli, conll2003, ...) instead of --data_dir")
cli.define_model_flags()
cli.define_model_type_flags()
cli.define_finetuning_flags()
export_flags.define_export_format_flag("to output_dir/model.tflite and model.onnx (classification and regression)")
FLAGS = flags.FLAGS


def main(_):
    logging.getLogger().setLevel(logging.INFO)
    f = FLAGS
    if not (f.do_train or f.do_eval or f.do_predict):
        raise ValueError("At least one of `do_train`, `do_eval` or `do_predict' must be True.")
    task, read_split = cli.task_reader(f, f.task_name)
    tuner, tokenizer = cli.fine_tuning(f, task)
    portable = portable_files(f, task)

    def read(split, padded=False):
        examples = read_split(split)
        examples = pad_examples(examples, f.eval_batch_size) if padded else examples
        return examples, task.features(examples, tokenizer, f.max_seq_length)

    # Every input is read first: a malformed dev or test file stops the run before training, not after it.
    train = read("train") if f.do_train else (None, None)
    dev = {s: read(s, padded=True) for s in task.files if s.startswith("dev")} if f.do_eval else {}
    test = {s: read(s) for s in task.files if s.startswith("test")} if f.do_predict else {}
    with cli.output_dir_lock(f, tuner.strategy):
        cli.train_or_restore(tuner, f, *train)
        if f.do_eval:
            results = {}
            for split, (examples, features) in dev.items():
                suffix = "" if split == "dev" else split[len("dev"):]
                metrics = tuner.evaluate(examples, features, f.eval_batch_size)
                results.update({f"{key}{suffix}": value for key, value in metrics.items()})
            cli.write_eval_results(f.output_dir, results)
        for split, (examples, features) in test.items():
            tuner.write_predictions(split, examples, features, f.predict_batch_size)
        export_flags.export_task(tuner, f)
        if portable:
            from bert_tf.export.portable import write_files

            write_files(tuner.model, portable, task.labels, regression=task.kind == "regression")


def portable_files(f, task):
    """{format: path} of the --export_format files, checked before any work."""
    from bert_tf.export.portable import plan_files

    if f.export_dir and "saved_model" not in f.export_format:
        raise ValueError(f"--export_dir is where the SavedModel goes; --export_format={','.join(f.export_format)} "
                         "has no saved_model")
    return plan_files(f.export_format, f.output_dir, "model", task.kind)


if __name__ == "__main__":
    flags.mark_flags_as_required(["vocab_file", "bert_config_file", "output_dir"])
    cli.run(main)
