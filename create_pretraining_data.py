"""Creates masked-LM / next-sentence TFRecords from raw text: the original script's flags, records and order.

One sentence per line, a blank line between documents. With the default --num_workers=1 the output equals the
original google-research/bert script's for the same input, vocab and flags. With --num_workers > 1 each input
file is processed on its own (seed random_seed + its position) in parallel; see bert_tf.pretraining_data.creation.
Each output gets `<output>.json` beside it with its instance count. No TensorFlow import.
"""

import functools
import logging

from absl import flags

from bert_tf import cli, tokenization
from bert_tf.pretraining_data import PretrainingDataConfig, create_pretraining_data, expand_input_patterns

flags.DEFINE_string("input_file", None, "Input raw text file (or comma-separated list of files / globs).")
flags.DEFINE_string("output_file", None, "Output TF example file (or comma-separated list of files).")
flags.DEFINE_string("vocab_file", None, "The vocabulary file that the BERT model was trained on.")
flags.DEFINE_bool("do_lower_case", True, "Whether to lower case the input text (True for uncased models).")
flags.DEFINE_bool("do_whole_word_mask", False, "Whether to use whole word masking rather than per-WordPiece.")
flags.DEFINE_integer("max_seq_length", 128, "Maximum sequence length.")
flags.DEFINE_integer("max_predictions_per_seq", 20, "Maximum number of masked LM predictions per sequence.")
flags.DEFINE_integer("random_seed", 12345, "Random seed for data generation.")
flags.DEFINE_integer("dupe_factor", 10, "Number of times to duplicate the input data (with different masks).")
flags.DEFINE_float("masked_lm_prob", 0.15, "Masked LM probability.")
flags.DEFINE_float("short_seq_prob", 0.1, "Probability of creating sequences shorter than the maximum length.")
flags.DEFINE_integer("num_workers", 1, "Processes; > 1 processes each input file on its own, in parallel.")
FLAGS = flags.FLAGS


def main(argv):
    del argv
    logging.getLogger().setLevel(logging.INFO)
    config = PretrainingDataConfig(
        max_seq_length=FLAGS.max_seq_length, max_predictions_per_seq=FLAGS.max_predictions_per_seq,
        random_seed=FLAGS.random_seed, dupe_factor=FLAGS.dupe_factor, masked_lm_prob=FLAGS.masked_lm_prob,
        short_seq_prob=FLAGS.short_seq_prob, do_whole_word_mask=FLAGS.do_whole_word_mask)
    # A factory rather than a tokenizer: worker processes build their own.
    tokenizer = functools.partial(tokenization.FullTokenizer, FLAGS.vocab_file, FLAGS.do_lower_case)
    input_files = expand_input_patterns(FLAGS.input_file)
    logging.info("*** Reading from input files ***\n  %s", "\n  ".join(input_files))
    output_files = [path for path in FLAGS.output_file.split(",") if path]
    for path in output_files:
        cli.check_output_file("output_file", path, inputs=input_files)
    create_pretraining_data(input_files, output_files, tokenizer, config, num_workers=FLAGS.num_workers)


if __name__ == "__main__":
    flags.mark_flags_as_required(["input_file", "output_file", "vocab_file"])
    cli.run(main, tensorflow=False)
