"""Creates masked-LM / next-sentence TFRecords from raw text: the original script's flags, records and order.

One sentence per line, a blank line between documents. With the default --num_workers=1 the output equals the
original google-research/bert script's for the same input, vocab and flags. With --num_workers > 1 each input
file is processed on its own (seed random_seed + its position) in parallel; see bert_tf.pretraining_data.creation.
Each output gets `<output>.json` beside it with its instance count. No TensorFlow import.

--model_type=albert tokenizes with ALBERT's SentencePiece (--vocab_file=spiece.model) and makes sentence-order
pairs (--sentence_order, unless given =false); RoBERTa pretrains from text (run_pretraining --dynamic_masking).

With --beam_runner the per-file mode runs on Apache Beam (DirectRunner, DataflowRunner, FlinkRunner,
SparkRunner; the runner's options in --beam_pipeline_options or after `--`): the same records, or with
--tfds_data_dir the TFDS dataset bert_pretraining (bert_tf.datasets.bert_pretraining).
"""

import functools
import logging
import os

from absl import flags

from bert_tf import cli
from bert_tf.finetuning_data import tokenizer_for
from bert_tf.pretraining_data import PretrainingDataConfig, create_pretraining_data, expand_input_patterns

flags.DEFINE_string("input_file", None, "Input raw text file (or comma-separated list of files / globs).")
flags.DEFINE_string("output_file", None, "Output TF example file (or comma-separated list of files).")
flags.DEFINE_string("vocab_file", None, "The vocabulary file that the BERT model was trained on (ALBERT: its "
                    "SentencePiece .model).")
flags.DEFINE_enum("model_type", "bert", ["bert", "albert", "distilbert"], "The model family whose tokenizer and "
                  "pairs the records hold (albert: SentencePiece pieces, sentence-order pairs).")
flags.DEFINE_bool("do_lower_case", True, "Whether to lower case the input text (True for uncased models).")
flags.DEFINE_bool("do_whole_word_mask", False, "Whether to use whole word masking rather than per-WordPiece.")
flags.DEFINE_bool("sentence_order", False, "ALBERT's sentence-order pairs (B follows A in the document, swapped half "
                  "of the time: next_sentence_labels 1) instead of next-sentence pairs.")
flags.DEFINE_integer("max_seq_length", 128, "Maximum sequence length.")
flags.DEFINE_integer("max_predictions_per_seq", 20, "Maximum number of masked LM predictions per sequence.")
flags.DEFINE_integer("random_seed", 12345, "Random seed for data generation.")
flags.DEFINE_integer("dupe_factor", 10, "Number of times to duplicate the input data (with different masks).")
flags.DEFINE_float("masked_lm_prob", 0.15, "Masked LM probability.")
flags.DEFINE_float("short_seq_prob", 0.1, "Probability of creating sequences shorter than the maximum length.")
flags.DEFINE_integer("num_workers", 1, "Processes; > 1 processes each input file on its own, in parallel.")
flags.DEFINE_string("beam_runner", None, "Process each input file on its own (as --num_workers > 1 does) on this "
                    "Apache Beam runner: DirectRunner, DataflowRunner, FlinkRunner, SparkRunner.")
flags.DEFINE_list("beam_pipeline_options", [], "The runner's pipeline options as name=value, comma-separated, "
                  "e.g. direct_num_workers=2,direct_running_mode=multi_processing or project=P,region=R,"
                  "temp_location=gs://B/tmp,extra_package=dist/bert_tf-0.1.0.tar.gz (options after -- are passed "
                  "as they are).")
flags.DEFINE_string("tfds_data_dir", None, "With --beam_runner: build the TFDS dataset bert_pretraining (its "
                    "config named by these flags) in this data_dir instead of writing --output_file; "
                    "--input_file is its manual_dir: a folder of text files and vocab.txt.")
FLAGS = flags.FLAGS


def main(argv):
    logging.getLogger().setLevel(logging.INFO)
    sentence_order = FLAGS.sentence_order if FLAGS["sentence_order"].present else FLAGS.model_type == "albert"
    config = PretrainingDataConfig(
        max_seq_length=FLAGS.max_seq_length, max_predictions_per_seq=FLAGS.max_predictions_per_seq,
        random_seed=FLAGS.random_seed, dupe_factor=FLAGS.dupe_factor, masked_lm_prob=FLAGS.masked_lm_prob,
        short_seq_prob=FLAGS.short_seq_prob, do_whole_word_mask=FLAGS.do_whole_word_mask,
        sentence_order=sentence_order)
    options = [o if o.startswith("--") else f"--{o}" for o in FLAGS.beam_pipeline_options] + argv[1:]
    if not FLAGS.beam_runner and (options or FLAGS.tfds_data_dir):
        raise ValueError("--tfds_data_dir and pipeline options need --beam_runner")
    if FLAGS.beam_runner and FLAGS["num_workers"].present:
        raise ValueError("--num_workers is for the process pool: give a Beam runner its workers in its options")
    if FLAGS.tfds_data_dir:
        if FLAGS.model_type == "albert":
            raise ValueError("--tfds_data_dir builds WordPiece records (the dataset reads vocab.txt): leave out "
                             "--model_type=albert, or write --output_file")
        build_tfds(config, options)
        return
    for name in ("output_file", "vocab_file"):
        if not FLAGS[name].value:
            raise ValueError(f"--{name} is required")
    # A factory rather than a tokenizer: worker processes build their own.
    tokenizer = functools.partial(tokenizer_for, FLAGS.model_type, FLAGS.vocab_file, FLAGS.do_lower_case)
    tokenizer()  # a file that is not the model type's is refused here, naming it, before any work
    input_files = expand_input_patterns(FLAGS.input_file)
    logging.info("*** Reading from input files ***\n  %s", "\n  ".join(input_files))
    output_files = [path for path in FLAGS.output_file.split(",") if path]
    for path in output_files:
        cli.check_output_file("output_file", path, inputs=input_files)
    if FLAGS.beam_runner:
        from bert_tf.pretraining_data import beam

        beam.write_files(input_files, output_files, tokenizer, config, FLAGS.beam_runner, options)
        return
    create_pretraining_data(input_files, output_files, tokenizer, config, num_workers=FLAGS.num_workers)


def build_tfds(config, options):
    """bert_pretraining/<config of the flags> in --tfds_data_dir from the folder --input_file."""
    from bert_tf.datasets import bert_pretraining

    if not os.path.isdir(FLAGS.input_file):
        raise ValueError(f"--input_file={FLAGS.input_file}: with --tfds_data_dir, give the folder of the text files "
                         "and vocab.txt (the dataset's manual_dir)")
    vocab = os.path.join(FLAGS.input_file, bert_pretraining.VOCAB)
    if FLAGS.vocab_file and not (os.path.exists(vocab) and os.path.samefile(FLAGS.vocab_file, vocab)):
        raise ValueError(f"--vocab_file={FLAGS.vocab_file}: the dataset reads {vocab}; leave --vocab_file out")
    builder = bert_pretraining.build(FLAGS.tfds_data_dir, FLAGS.input_file,
                                     bert_pretraining.config_from(config, FLAGS.do_lower_case), FLAGS.beam_runner,
                                     options)
    logging.info("TFDS dataset %s: %d instances in %s (run_pretraining --tfds_name=%s --tfds_data_dir=%s)",
                 builder.info.full_name, builder.info.splits["train"].num_examples, builder.data_dir,
                 builder.info.full_name, FLAGS.tfds_data_dir)


if __name__ == "__main__":
    flags.mark_flags_as_required(["input_file"])
    cli.run(main, tensorflow=False)
