"""Fine-tunes BERT on SQuAD v1.1 / v2.0 and writes predictions.json, nbest_predictions.json (and null_odds.json).

The original run_squad.py flags. With answers in --predict_file, the official EM/F1 (v2: HasAns/NoAns and the
best threshold) are written to eval_results.txt and eval_results.json as well.
"""

import os

os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")  # before TensorFlow loads: README, "TensorFlow settings"

import logging

from absl import flags

from bert_tf import cli, export_flags, tasks
from bert_tf.tasks import squad_data

flags.DEFINE_string("train_file", None, "SQuAD json for training, e.g. train-v1.1.json.")
flags.DEFINE_string("predict_file", None, "SQuAD json for predictions, e.g. dev-v1.1.json.")
flags.DEFINE_integer("doc_stride", 128, "Stride between the document windows.")
flags.DEFINE_integer("max_query_length", 64, "Questions are truncated to this many tokens.")
flags.DEFINE_integer("n_best_size", 20, "The total number of n-best predictions to generate.")
flags.DEFINE_integer("max_answer_length", 30, "The maximum length of an answer that can be generated.")
flags.DEFINE_bool("verbose_logging", False, "Accepted for compatibility.")
flags.DEFINE_bool("version_2_with_negative", False, "SQuAD v2.0: some questions have no answer.")
flags.DEFINE_float("null_score_diff_threshold", 0.0, "Predict null if null_score - best_non_null > threshold.")
cli.define_tfds_flags("SQuAD (squad/v1.1, squad/v2.0: its train and validation splits) instead of --train_file "
                      "and --predict_file")
cli.define_model_flags(max_seq_length=384)
cli.define_model_type_flags()
cli.define_finetuning_flags()
FLAGS = flags.FLAGS


def validate(f):
    if not f.do_train and not f.do_predict:
        raise ValueError("At least one of `do_train` or `do_predict` must be True.")
    if f.do_train and not (f.train_file or f.tfds_name):
        raise ValueError("If `do_train` is True, then `train_file` must be specified.")
    if f.do_predict and not (f.predict_file or f.tfds_name):
        raise ValueError("If `do_predict` is True, then `predict_file` must be specified.")
    for name in ("doc_stride", "max_query_length", "n_best_size", "max_answer_length"):
        if f[name].value < 1:
            raise ValueError(f"--{name}={f[name].value}: must be at least 1")
    if f.max_seq_length <= f.max_query_length + 3:
        raise ValueError(f"The max_seq_length ({f.max_seq_length}) must be greater than max_query_length "
                         f"({f.max_query_length}) + 3")


def squad_task(f):
    """The task and `read(split)` of its examples: from --tfds_name, else from --train_file and --predict_file."""
    if f.tfds_name:
        # --version_2_with_negative with squad/v1.1 is refused when read (its rows have no is_impossible)
        task, read = cli.task_reader(f, "squad-v2.0" if f.version_2_with_negative else None)
        if task.kind != "span":
            raise ValueError(f"--tfds_name={f.tfds_name} is not SQuAD (its task is {task.name})")
        return task, read
    task = tasks.get("squad-v2.0" if f.version_2_with_negative else "squad-v1.1")
    return task, lambda split: task.read_file(f.train_file if split == "train" else f.predict_file, split)


def main(_):
    logging.getLogger().setLevel(logging.INFO)
    f = FLAGS
    validate(f)
    task, read = squad_task(f)
    tuner, tokenizer = cli.fine_tuning(f, task)
    windows = dict(doc_stride=f.doc_stride, max_query_length=f.max_query_length)
    # Both files are read first: a malformed predict file stops the run before training, not after it.
    train = predict = (None, None)
    if f.do_train:
        examples = squad_data.shuffled_for_training(read("train"))
        train = examples, task.features(examples, tokenizer, f.max_seq_length, training=True, **windows)
    if f.do_predict:
        examples = read("dev")
        predict = examples, task.features(examples, tokenizer, f.max_seq_length, training=False, **windows)
    with cli.output_dir_lock(f, tuner.strategy):
        cli.train_or_restore(tuner, f, *train)
        if f.do_predict:
            examples, features = predict
            post = dict(n_best_size=f.n_best_size, max_answer_length=f.max_answer_length,
                        do_lower_case=f.do_lower_case, null_score_diff_threshold=f.null_score_diff_threshold)
            outputs = tuner.predict(features, f.predict_batch_size)
            tuner.write_predictions("dev", examples, features, f.predict_batch_size, outputs=outputs, **post)
            if any(e.answers or e.is_impossible for e in examples):
                cli.write_eval_results(f.output_dir, tuner.evaluate(examples, features, f.predict_batch_size,
                                                                    outputs=outputs, **post))
        export_flags.export_task(tuner, f, **windows, n_best_size=f.n_best_size, max_answer_length=f.max_answer_length)


if __name__ == "__main__":
    flags.mark_flags_as_required(["vocab_file", "bert_config_file", "output_dir"])
    cli.run(main)
