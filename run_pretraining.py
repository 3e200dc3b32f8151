"""Masked-LM and next-sentence pretraining: the original script's flags, losses, optimizer and outputs.

Restarting with the same output_dir resumes from its latest checkpoint. The final weights are also written in
the original TF1 layout to <output_dir>/tf1. See bert_tf.training for what each extra flag does. --model_type
picks the body, objectives and data of BERT's cousins (`bert_tf.training.inputs.recipe`).
"""

import os

os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")  # before TensorFlow loads: README, "TensorFlow settings"

import logging

from absl import flags

from bert_tf import checkpoint_files, cli, model_types

cli.define_model_flags()  # vocab_file and do_lower_case serve dynamic masking; vocab_file is copied to the export
cli.define_model_type_flags()
flags.DEFINE_string("input_file", None, "Input TF example files (can be a glob or comma separated).")
cli.define_tfds_flags("the pretraining records (bert_pretraining/<config>, made by create_pretraining_data "
                      "--beam_runner --tfds_data_dir) instead of --input_file")
flags.DEFINE_string("output_dir", None, "The output directory where the model checkpoints will be written.")
flags.DEFINE_integer("max_predictions_per_seq", 20, "Maximum number of masked LM predictions per sequence.")
flags.DEFINE_bool("do_train", False, "Whether to run training.")
flags.DEFINE_bool("do_eval", False, "Whether to run eval on the dev set.")
flags.DEFINE_integer("train_batch_size", 32, "Total batch size for training.")
flags.DEFINE_integer("eval_batch_size", 8, "Total batch size for eval.")
flags.DEFINE_float("learning_rate", 5e-5, "The initial learning rate for Adam.")
flags.DEFINE_integer("num_train_steps", 100000, "Number of training steps.")
flags.DEFINE_integer("num_warmup_steps", 10000, "Number of warmup steps.")
flags.DEFINE_integer("save_checkpoints_steps", 1000, "How often to save the model checkpoint.")
flags.DEFINE_integer("iterations_per_loop", 1000, "Steps per call of the compiled training loop.")
flags.DEFINE_integer("max_eval_steps", 100, "Maximum number of eval steps.")
cli.define_tpu_flags()
cli.define_runtime_flags()  # beyond the original: strategy, optimizer, precision, use_xla
flags.DEFINE_integer("gradient_accumulation_steps", 1, "Micro-batches per update (train_batch_size is the sum).")
flags.DEFINE_bool("next_sentence", True, "Train the next-sentence head (False: masked LM only).")
flags.DEFINE_bool("dynamic_masking", False, "input_file is raw text (one sentence per line), masked anew each "
                  "epoch; needs vocab_file.")
flags.DEFINE_bool("full_sentences", False, "RoBERTa's FULL-SENTENCES packing: whole sentences run on across "
                  "documents, [SEP] between two (dynamic masking, --next_sentence=false).")
flags.DEFINE_float("masked_lm_prob", 0.15, "Masked LM probability (dynamic masking; as create_pretraining_data).")
flags.DEFINE_bool("do_whole_word_mask", False, "Whether to use whole word masking rather than per-WordPiece "
                  "(dynamic masking; as create_pretraining_data).")
flags.DEFINE_integer("keep_checkpoint_max", 5, "Training checkpoints kept in output_dir.")
flags.DEFINE_integer("seed", 12345, "Seed of the initial weights, dropout and input order.")
cli.define_resume_flag()
cli.define_distillation_flags(pretraining=True)
FLAGS = flags.FLAGS


def input_fn(is_training, config=None, tokenizer=None, plan=None):
    """The dataset_fn of the flags; `tokenizer` and `plan` (the model type's recipe) default to BERT's."""
    from bert_tf import tokenization, training
    from bert_tf.training.inputs import Recipe

    plan = plan or Recipe(FLAGS.next_sentence, full_sentences=FLAGS.full_sentences)

    f = FLAGS
    batch_size = f.train_batch_size if is_training else f.eval_batch_size
    if f.tfds_name:
        from bert_tf.training.inputs import tfds_input

        return tfds_input(f.tfds_name, f.tfds_data_dir, batch_size, f.max_seq_length, f.max_predictions_per_seq,
                          is_training, seed=f.seed, config=config)
    if not f.dynamic_masking:
        return training.record_input(f.input_file, batch_size, f.max_seq_length, f.max_predictions_per_seq,
                                     is_training, seed=f.seed, config=config)
    tokenizer = tokenizer or tokenization.FullTokenizer(f.vocab_file, f.do_lower_case)
    return training.text_input(f.input_file, tokenizer, batch_size, f.max_seq_length, f.max_predictions_per_seq,
                               is_training, next_sentence=plan.next_sentence, seed=f.seed,
                               masked_lm_prob=f.masked_lm_prob, whole_word_mask=f.do_whole_word_mask,
                               full_sentences=plan.full_sentences, sentence_order=plan.sentence_order)


def input_files(f):
    """The files the run reads: --input_file, or the prepared folder of --tfds_name."""
    if not f.tfds_name:
        return f.input_file
    from bert_tf.training.inputs import prepared_tfds

    return os.path.join(prepared_tfds(f.tfds_name, f.tfds_data_dir).data_dir, "*")


def main(_):
    from bert_tf.finetuning_data import uses_wordpiece
    from bert_tf.training.inputs import check_sentence_order, recipe

    logging.getLogger().setLevel(logging.INFO)
    f = FLAGS
    if not f.do_train and not f.do_eval:
        raise ValueError("At least one of `do_train` or `do_eval` must be True.")
    for name in ("masked_lm_prob", "do_whole_word_mask", "full_sentences"):
        # TFRecords were masked by create_pretraining_data: without dynamic masking these would be ignored.
        if FLAGS[name].present and not f.dynamic_masking:
            raise ValueError(f"--{name}={FLAGS[name].value} needs --dynamic_masking (TFRecord input was masked by "
                             "create_pretraining_data)")
    if bool(f.input_file) == bool(f.tfds_name) or (f.tfds_name and f.dynamic_masking):
        raise ValueError("give --input_file (records, or text with --dynamic_masking) or --tfds_name")
    config = cli.model_config(f)  # a cousin's by its model_type key, or --model_type
    model_type = model_types.model_type_of(config)
    given = {n: f[n].value if f[n].present else None for n in ("next_sentence", "full_sentences")}
    plan = recipe(model_type, f.dynamic_masking, **given)
    if plan.full_sentences and plan.next_sentence:
        raise ValueError("--full_sentences packs single sequences: give --next_sentence=false")
    if f.dynamic_masking and not f.vocab_file:
        raise ValueError("--dynamic_masking needs --vocab_file")
    cli.check_output_folder("output_dir", f.output_dir)
    if f.max_seq_length > config.max_position_embeddings - getattr(config, "position_offset", 0):
        raise ValueError(f"--max_seq_length={f.max_seq_length} exceeds max_position_embeddings="
                         f"{config.max_position_embeddings} of {f.bert_config_file}")
    if uses_wordpiece(model_type, f.vocab_file):
        checkpoint_files.check_vocab(config, f.vocab_file)
    tokenizer = cli.model_tokenizer(f, config) if f.vocab_file else None  # a cousin's checks its files here
    if plan.sentence_order and f.input_file and not f.dynamic_masking:
        check_sentence_order(f.input_file)
    teacher, distill = cli.distillation_options(f)
    layers = cli.init_layers(f)
    # First: a multi-worker strategy must configure collectives before TensorFlow runs anything else.
    strategy = cli.create_strategy(f)
    cli.set_seed(f.seed)
    from bert_tf import training

    options = training.PretrainingOptions(
        output_dir=f.output_dir, train_batch_size=f.train_batch_size, eval_batch_size=f.eval_batch_size,
        learning_rate=f.learning_rate, num_train_steps=f.num_train_steps, num_warmup_steps=f.num_warmup_steps,
        save_checkpoints_steps=f.save_checkpoints_steps, steps_per_execution=f.iterations_per_loop,
        max_eval_steps=f.max_eval_steps, optimizer=f.optimizer, precision=f.precision, use_xla=f.use_xla,
        fast_dropout=f.fast_dropout, fused_optimizer=f.fused_optimizer,
        gradient_accumulation_steps=f.gradient_accumulation_steps,
        next_sentence=plan.next_sentence, keep_checkpoint_max=f.keep_checkpoint_max)
    run = training.Pretraining(config, options, strategy, teacher_checkpoint=teacher, distill=distill)
    reading = {k: f[k].value for k in ("dynamic_masking", "masked_lm_prob", "do_whole_word_mask", "do_lower_case",
                                         "init_layers")}
    reading.update({"full_sentences": True} if plan.full_sentences else {})  # runs made before it keep their settings
    with cli.output_dir_lock(f, strategy):
        if f.do_train and run.is_chief:
            run_config = run.run_config(input_files(f), f.init_checkpoint, **reading)
            training.output_dir.check_run_config(f.output_dir, run_config, f.resume_changed_run)
        run.restore(f.init_checkpoint, config_file=f.bert_config_file, layers=layers)
        if f.do_train:
            run.train(input_fn(True, config, tokenizer, plan))
            logging.info("TF1-layout export: %s", run.export_tf1(f.vocab_file))
        if f.do_eval:
            run.evaluate(input_fn(False, config, tokenizer, plan))


if __name__ == "__main__":
    flags.mark_flags_as_required(["bert_config_file", "output_dir"])
    cli.run(main)
