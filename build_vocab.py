"""Learns a WordPiece vocab.txt for BERT from plain text (one sentence or paragraph per line).

  python build_vocab.py --input_file=corpus/a.txt,corpus/b*.txt --output_file=vocab.txt \
      --vocab_size=30522 --do_lower_case=True --num_unused=99

The text is pre-tokenized by the original BasicTokenizer with the model's casing, so the vocab works with
FullTokenizer unchanged and covers every character of the corpus. No TensorFlow needed.
"""

import glob

from absl import flags, logging

from bert_tf import cli, vocab_learning

FLAGS = flags.FLAGS
flags.DEFINE_string("input_file", None, "Comma-separated list of text files or glob patterns.", required=True)
flags.DEFINE_string("output_file", None, "Where to write vocab.txt (one token per line).", required=True)
flags.DEFINE_integer("vocab_size", 30522, "Total entries, special tokens included.", lower_bound=1)
flags.DEFINE_bool("do_lower_case", True, "Lower-case and strip accents, as for an uncased model.")
flags.DEFINE_integer("num_unused", 0, "[unusedN] slots after [PAD]; 99 gives the released [UNK]=100 ... [MASK]=103.",
                     lower_bound=0)
flags.DEFINE_integer("min_count", 2, "Stop when no pair of pieces occurs this many times.", lower_bound=1)


def expand_inputs(spec):
    """Paths matched by a comma-separated list of files/globs; a part matching nothing is an error."""
    paths = []
    for pattern in filter(None, (part.strip() for part in spec.split(","))):
        matched = sorted(glob.glob(pattern))
        if not matched:
            raise ValueError(f"--input_file: no file matches {pattern!r}")
        paths += matched
    if not paths:
        raise ValueError(f"--input_file names no file: {spec!r}")
    return paths


def main(argv):
    del argv
    paths = expand_inputs(FLAGS.input_file)
    cli.check_output_file("output_file", FLAGS.output_file, inputs=paths)
    logging.info("counting words in %d file(s), do_lower_case=%s", len(paths), FLAGS.do_lower_case)
    counts = vocab_learning.count_words(paths, FLAGS.do_lower_case)
    vocab = vocab_learning.build_vocab(counts, FLAGS.vocab_size, FLAGS.num_unused, FLAGS.min_count)
    vocab_learning.write_vocab(vocab, FLAGS.output_file)
    logging.info("wrote %d tokens to %s", len(vocab), FLAGS.output_file)


if __name__ == "__main__":
    cli.run(main, tensorflow=False)
