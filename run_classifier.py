"""Fine-tunes and evaluates BERT on a sentence (pair) task: GLUE, XNLI, SWAG (multiple choice), CoNLL-2003 (tags).

The original run_classifier.py flags; outputs as the original (eval_results.txt, test_results.tsv) plus
eval_results.json, the GLUE submission file for test sets, and with --export_dir a SavedModel for TF Serving.
"""

import os

os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")  # before TensorFlow loads: README, "TensorFlow settings"

import logging

from absl import app, flags

from bert_tf import cli, tasks, tokenization
from bert_tf.config import BertConfig
from bert_tf.finetuning import FineTuning, FineTuningOptions
from bert_tf.finetuning_data import pad_examples

flags.DEFINE_string("data_dir", None, "The input data dir (the task's TSV/CSV/CoNLL files).")
flags.DEFINE_string("bert_config_file", None, "The config json file of the pre-trained BERT model.")
flags.DEFINE_string("task_name", None, f"The task to train: {', '.join(tasks.names())}.")
flags.DEFINE_string("vocab_file", None, "The vocabulary file the BERT model was trained on.")
flags.DEFINE_string("output_dir", None, "Where the fine-tuned checkpoint and results are written.")
flags.DEFINE_string("init_checkpoint", None, "Initial checkpoint (original TF1, Hugging Face or bert_tf).")
flags.DEFINE_bool("do_lower_case", True, "Lower-case the input (True for uncased models).")
flags.DEFINE_integer("max_seq_length", 128, "The maximum total input sequence length after WordPiece.")
flags.DEFINE_bool("do_train", False, "Whether to run training.")
flags.DEFINE_bool("do_eval", False, "Whether to run eval on the dev set.")
flags.DEFINE_bool("do_predict", False, "Whether to run the model in inference mode on the test set.")
flags.DEFINE_integer("train_batch_size", 32, "Total batch size for training.")
flags.DEFINE_integer("eval_batch_size", 8, "Total batch size for eval.")
flags.DEFINE_integer("predict_batch_size", 8, "Total batch size for predict.")
flags.DEFINE_float("learning_rate", 5e-5, "The initial learning rate for Adam.")
flags.DEFINE_float("num_train_epochs", 3.0, "Total number of training epochs to perform.")
flags.DEFINE_float("warmup_proportion", 0.1, "Proportion of training for linear learning rate warmup.")
flags.DEFINE_integer("save_checkpoints_steps", 1000, "How often to save the training checkpoint (resumable).")
flags.DEFINE_integer("iterations_per_loop", 1000, "Steps per call of the compiled training loop.")
flags.DEFINE_string("export_dir", None, "Write a TF Serving SavedModel here (classification and regression).")
flags.DEFINE_integer("seed", None, "Seed of the head's initial weights, dropout and input order.")
cli.define_tpu_flags()
cli.define_runtime_flags()
FLAGS = flags.FLAGS


def main(_):
    logging.getLogger().setLevel(logging.INFO)
    f = FLAGS
    if not (f.do_train or f.do_eval or f.do_predict):
        raise ValueError("At least one of `do_train`, `do_eval` or `do_predict' must be True.")
    tokenization.validate_case_matches_checkpoint(f.do_lower_case, f.init_checkpoint)
    config = BertConfig.from_json_file(f.bert_config_file)
    if f.max_seq_length > config.max_position_embeddings:
        raise ValueError(f"Cannot use sequence length {f.max_seq_length} because the BERT model was only trained "
                         f"up to sequence length {config.max_position_embeddings}")
    strategy = cli.create_strategy(f)
    if f.seed is not None:
        import keras

        keras.utils.set_random_seed(f.seed)
    task = tasks.get(f.task_name)
    tokenizer = tokenization.FullTokenizer(f.vocab_file, f.do_lower_case)
    options = FineTuningOptions(
        output_dir=f.output_dir, max_seq_length=f.max_seq_length, train_batch_size=f.train_batch_size,
        eval_batch_size=f.eval_batch_size, predict_batch_size=f.predict_batch_size, learning_rate=f.learning_rate,
        num_train_epochs=f.num_train_epochs, warmup_proportion=f.warmup_proportion,
        iterations_per_loop=f.iterations_per_loop, optimizer=f.optimizer, precision=f.precision, use_xla=f.use_xla,
        seed=f.seed, save_checkpoints_steps=f.save_checkpoints_steps)
    tuner = FineTuning(task, config, options, strategy)
    if f.do_train:
        if f.init_checkpoint:
            tuner.warm_start(f.init_checkpoint, f.bert_config_file)
        examples = task.read(f.data_dir, "train")
        tuner.train(task.features(examples, tokenizer, f.max_seq_length), len(examples))
        tuner.save(vocab_file=f.vocab_file)
    else:
        tuner.restore_trained(f.init_checkpoint, f.bert_config_file)
    if f.do_eval:
        results = {}
        for split in (s for s in task.files if s.startswith("dev")):
            examples = pad_examples(task.read(f.data_dir, split), f.eval_batch_size)
            suffix = "" if split == "dev" else split[len("dev"):]
            metrics = tuner.evaluate(examples, task.features(examples, tokenizer, f.max_seq_length), f.eval_batch_size)
            results.update({f"{key}{suffix}": value for key, value in metrics.items()})
        cli.write_eval_results(f.output_dir, results)
    if f.do_predict:
        for split in (s for s in task.files if s.startswith("test")):
            examples = task.read(f.data_dir, split)
            features = task.features(examples, tokenizer, f.max_seq_length)
            tuner.write_predictions(split, examples, features, f.predict_batch_size)
    if f.export_dir:
        from bert_tf import export

        export.export_task(tuner.model, task, f.export_dir, f.vocab_file, f.do_lower_case, f.max_seq_length)


if __name__ == "__main__":
    flags.mark_flags_as_required(["data_dir", "task_name", "vocab_file", "bert_config_file", "output_dir"])
    app.run(main)
