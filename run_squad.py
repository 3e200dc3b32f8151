"""Fine-tunes BERT on SQuAD v1.1 / v2.0 and writes predictions.json, nbest_predictions.json (and null_odds.json).

The original run_squad.py flags. With answers in --predict_file, the official EM/F1 (v2: HasAns/NoAns and the
best threshold) are written to eval_results.txt and eval_results.json as well.
"""

import os

os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")  # before TensorFlow loads: README, "TensorFlow settings"

import logging

from absl import app, flags

from bert_tf import cli, tasks, tokenization
from bert_tf.config import BertConfig
from bert_tf.finetuning import FineTuning, FineTuningOptions
from bert_tf.tasks import squad_data

flags.DEFINE_string("bert_config_file", None, "The config json file of the pre-trained BERT model.")
flags.DEFINE_string("vocab_file", None, "The vocabulary file the BERT model was trained on.")
flags.DEFINE_string("output_dir", None, "Where the fine-tuned checkpoint and predictions are written.")
flags.DEFINE_string("train_file", None, "SQuAD json for training, e.g. train-v1.1.json.")
flags.DEFINE_string("predict_file", None, "SQuAD json for predictions, e.g. dev-v1.1.json.")
flags.DEFINE_string("init_checkpoint", None, "Initial checkpoint (original TF1, Hugging Face or bert_tf).")
flags.DEFINE_bool("do_lower_case", True, "Lower-case the input (True for uncased models).")
flags.DEFINE_integer("max_seq_length", 384, "The maximum total input sequence length after WordPiece.")
flags.DEFINE_integer("doc_stride", 128, "Stride between the document windows.")
flags.DEFINE_integer("max_query_length", 64, "Questions are truncated to this many tokens.")
flags.DEFINE_bool("do_train", False, "Whether to run training.")
flags.DEFINE_bool("do_predict", False, "Whether to run eval on the dev set.")
flags.DEFINE_integer("train_batch_size", 32, "Total batch size for training.")
flags.DEFINE_integer("predict_batch_size", 8, "Total batch size for predictions.")
flags.DEFINE_float("learning_rate", 5e-5, "The initial learning rate for Adam.")
flags.DEFINE_float("num_train_epochs", 3.0, "Total number of training epochs to perform.")
flags.DEFINE_float("warmup_proportion", 0.1, "Proportion of training for linear learning rate warmup.")
flags.DEFINE_integer("save_checkpoints_steps", 1000, "How often to save the training checkpoint (resumable).")
flags.DEFINE_integer("iterations_per_loop", 1000, "Steps per call of the compiled training loop.")
flags.DEFINE_integer("n_best_size", 20, "The total number of n-best predictions to generate.")
flags.DEFINE_integer("max_answer_length", 30, "The maximum length of an answer that can be generated.")
flags.DEFINE_bool("verbose_logging", False, "Accepted for compatibility.")
flags.DEFINE_bool("version_2_with_negative", False, "SQuAD v2.0: some questions have no answer.")
flags.DEFINE_float("null_score_diff_threshold", 0.0, "Predict null if null_score - best_non_null > threshold.")
flags.DEFINE_integer("seed", None, "Seed of the head's initial weights, dropout and input order.")
flags.DEFINE_string("export_dir", None, "Write a TF Serving SavedModel here (raw question + context -> answer).")
cli.define_tpu_flags()
cli.define_runtime_flags()
FLAGS = flags.FLAGS


def validate(f, config):
    if not f.do_train and not f.do_predict:
        raise ValueError("At least one of `do_train` or `do_predict` must be True.")
    if f.do_train and not f.train_file:
        raise ValueError("If `do_train` is True, then `train_file` must be specified.")
    if f.do_predict and not f.predict_file:
        raise ValueError("If `do_predict` is True, then `predict_file` must be specified.")
    if f.max_seq_length > config.max_position_embeddings:
        raise ValueError(f"Cannot use sequence length {f.max_seq_length} because the BERT model was only trained "
                         f"up to sequence length {config.max_position_embeddings}")
    if f.max_seq_length <= f.max_query_length + 3:
        raise ValueError(f"The max_seq_length ({f.max_seq_length}) must be greater than max_query_length "
                         f"({f.max_query_length}) + 3")


def main(_):
    logging.getLogger().setLevel(logging.INFO)
    f = FLAGS
    config = BertConfig.from_json_file(f.bert_config_file)
    validate(f, config)
    tokenization.validate_case_matches_checkpoint(f.do_lower_case, f.init_checkpoint)
    strategy = cli.create_strategy(f)
    task = tasks.get("squad-v2.0" if f.version_2_with_negative else "squad-v1.1")
    tokenizer = tokenization.FullTokenizer(f.vocab_file, f.do_lower_case)
    options = FineTuningOptions(
        output_dir=f.output_dir, max_seq_length=f.max_seq_length, train_batch_size=f.train_batch_size,
        predict_batch_size=f.predict_batch_size, learning_rate=f.learning_rate, num_train_epochs=f.num_train_epochs,
        warmup_proportion=f.warmup_proportion, iterations_per_loop=f.iterations_per_loop, optimizer=f.optimizer,
        precision=f.precision, use_xla=f.use_xla, seed=f.seed, save_checkpoints_steps=f.save_checkpoints_steps)
    tuner = FineTuning(task, config, options, strategy)
    windows = dict(doc_stride=f.doc_stride, max_query_length=f.max_query_length)
    if f.do_train:
        if f.init_checkpoint:
            tuner.warm_start(f.init_checkpoint, f.bert_config_file)
        examples = squad_data.shuffled_for_training(task.reader(f.train_file, "train", ()))
        tuner.train(task.features(examples, tokenizer, f.max_seq_length, training=True, **windows), len(examples))
        tuner.save(vocab_file=f.vocab_file)
    else:
        tuner.restore_trained(f.init_checkpoint, f.bert_config_file)
    if f.do_predict:
        examples = task.reader(f.predict_file, "dev", ())
        features = task.features(examples, tokenizer, f.max_seq_length, training=False, **windows)
        post = dict(n_best_size=f.n_best_size, max_answer_length=f.max_answer_length, do_lower_case=f.do_lower_case,
                    null_score_diff_threshold=f.null_score_diff_threshold)
        outputs = tuner.predict(features, f.predict_batch_size)
        tuner.write_predictions("dev", examples, features, f.predict_batch_size, outputs=outputs, **post)
        if any(e.answers or e.is_impossible for e in examples):
            results = tuner.evaluate(examples, features, f.predict_batch_size, outputs=outputs, **post)
            cli.write_eval_results(f.output_dir, results)
    if f.export_dir:
        from bert_tf import export

        export.export_task(tuner.model, task, f.export_dir, f.vocab_file, f.do_lower_case, f.max_seq_length,
                           **windows, n_best_size=f.n_best_size, max_answer_length=f.max_answer_length)


if __name__ == "__main__":
    flags.mark_flags_as_required(["vocab_file", "bert_config_file", "output_dir"])
    app.run(main)
