"""What the scripts share: their common flags (the original names and defaults), defined on request, and the
steps that every fine-tuning script takes with them.

Each script calls the `define_*` functions it needs at its top level; nothing is defined on import.
"""

from __future__ import annotations

import json
import logging
import os

from absl import flags

from bert_tf import files


def define_model_flags(max_seq_length=128):
    """The checkpoint, its config and vocabulary, and the packed length."""
    flags.DEFINE_string("bert_config_file", None, "The config json file of the pre-trained BERT model (scripts that "
                        "read a checkpoint default to the one beside it).")
    flags.DEFINE_string("vocab_file", None, "The vocabulary file the BERT model was trained on (likewise).")
    flags.DEFINE_string("init_checkpoint", None, "Checkpoint: original TF1 prefix, Hugging Face or bert_tf folder.")
    flags.DEFINE_bool("do_lower_case", True, "Lower-case the input (True for uncased models).")
    flags.DEFINE_integer("max_seq_length", max_seq_length, "The maximum total input sequence length after WordPiece.")


def define_finetuning_flags():
    """run_classifier's and run_squad's training flags (and bert_tf's seed and export)."""
    flags.DEFINE_string("output_dir", None, "Where the fine-tuned checkpoint and results are written.")
    flags.DEFINE_bool("do_train", False, "Whether to run training.")
    flags.DEFINE_bool("do_predict", False, "Whether to run the model in inference mode on the prediction set.")
    flags.DEFINE_integer("train_batch_size", 32, "Total batch size for training.")
    flags.DEFINE_integer("predict_batch_size", 8, "Total batch size for predict.")
    flags.DEFINE_float("learning_rate", 5e-5, "The initial learning rate for Adam.")
    flags.DEFINE_float("num_train_epochs", 3.0, "Total number of training epochs to perform.")
    flags.DEFINE_float("warmup_proportion", 0.1, "Proportion of training for linear learning rate warmup.")
    flags.DEFINE_integer("save_checkpoints_steps", 1000, "How often to save the training checkpoint (resumable).")
    flags.DEFINE_integer("iterations_per_loop", 1000, "Steps per call of the compiled training loop.")
    flags.DEFINE_integer("seed", None, "Seed of the head's initial weights, dropout and input order.")
    flags.DEFINE_string("export_dir", None, "Write a SavedModel for TF Serving here (kinds that have one).")
    define_tpu_flags()
    define_runtime_flags()


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


def fine_tuning(values, task):
    """The checked flags' FineTuning of `task` and its tokenizer: the config fits max_seq_length, the casing fits
    the checkpoint's name, the strategy is made first and the seed set."""
    from bert_tf import tokenization
    from bert_tf.config import BertConfig
    from bert_tf.finetuning import FineTuning, FineTuningOptions

    config = BertConfig.from_json_file(values.bert_config_file)
    if values.max_seq_length > config.max_position_embeddings:
        raise ValueError(f"Cannot use sequence length {values.max_seq_length} because the BERT model was only "
                         f"trained up to sequence length {config.max_position_embeddings}")
    tokenization.validate_case_matches_checkpoint(values.do_lower_case, values.init_checkpoint)
    strategy = create_strategy(values)
    if values.seed is not None:
        import keras

        keras.utils.set_random_seed(values.seed)
    options = FineTuningOptions(
        output_dir=values.output_dir, max_seq_length=values.max_seq_length,
        train_batch_size=values.train_batch_size, eval_batch_size=getattr(values, "eval_batch_size", 8),
        predict_batch_size=values.predict_batch_size, learning_rate=values.learning_rate,
        num_train_epochs=values.num_train_epochs, warmup_proportion=values.warmup_proportion,
        iterations_per_loop=values.iterations_per_loop, optimizer=values.optimizer, precision=values.precision,
        use_xla=values.use_xla, seed=values.seed, save_checkpoints_steps=values.save_checkpoints_steps)
    return FineTuning(task, config, options, strategy), tokenization.FullTokenizer(values.vocab_file,
                                                                                 values.do_lower_case)


def train_or_restore(tuner, values, training_data):
    """With --do_train: warm start from --init_checkpoint, train on `training_data()` (examples, features) and
    save; otherwise restore the fine-tuned weights of output_dir (or --init_checkpoint)."""
    if not values.do_train:
        tuner.restore_trained(values.init_checkpoint, values.bert_config_file)
        return
    if values.init_checkpoint:
        tuner.warm_start(values.init_checkpoint, values.bert_config_file)
    examples, features = training_data()
    tuner.train(features, len(examples))
    tuner.save(vocab_file=values.vocab_file)


def load_checkpoint(values):
    """(config, canonical weights, vocab file) of --init_checkpoint, with --bert_config_file and --vocab_file
    defaulting to the files beside it; refuses a vocab that does not fit or a max_seq_length beyond the model's."""
    from bert_tf import checkpoint_files

    config, weights, vocab = checkpoint_files.load(values.init_checkpoint, config_file=values.bert_config_file)
    vocab_file = values.vocab_file or vocab
    if vocab_file is None:
        raise ValueError(f"no vocab.txt beside {values.init_checkpoint}: pass --vocab_file")
    if values.max_seq_length > config.max_position_embeddings:
        raise ValueError(f"max_seq_length {values.max_seq_length} exceeds the model's max_position_embeddings "
                         f"{config.max_position_embeddings}")
    checkpoint_files.check_vocab(config, vocab_file)
    return config, weights, vocab_file
