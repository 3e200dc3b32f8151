"""Learns a vocabulary from plain text (one sentence or paragraph per line): BERT's WordPiece vocab.txt, ALBERT's
SentencePiece model or RoBERTa's byte-level BPE vocab.json + merges.txt.

  python build_vocab.py --input_file=corpus/a.txt,corpus/b*.txt --output_file=vocab.txt \
      --vocab_size=30522 --do_lower_case=True --num_unused=99
  python build_vocab.py --model_type=albert --input_file=corpus/*.txt --output_file=spiece.model --vocab_size=30000
  python build_vocab.py --model_type=roberta --input_file=corpus/*.txt --output_file=vocab.json --vocab_size=50265

bert: the text is pre-tokenized by the original BasicTokenizer with the model's casing, so the vocab works with
FullTokenizer unchanged and covers every character of the corpus. albert: a unigram SentencePiece model on the text
preprocessed as ALBERT tokenizes it, with ALBERT's ids (<pad>=0, <unk>=1, [CLS]=2, [SEP]=3, [MASK]=4); writes
<name>.model and <name>.vocab. roberta: GPT-2's byte-level BPE (cased; every byte a piece), <s>=0, <pad>=1, </s>=2,
<unk>=3, <mask> last; merges.txt beside vocab.json unless --merges_file. No TensorFlow needed.
"""

import glob
import os

from absl import flags, logging

from bert_tf import cli, vocab_learning

FLAGS = flags.FLAGS
flags.DEFINE_enum("model_type", "bert", ["bert", "albert", "roberta"],
                  "bert: WordPiece vocab.txt; albert: SentencePiece .model + .vocab; roberta: vocab.json + merges.txt.")
flags.DEFINE_string("input_file", None, "Comma-separated list of text files or glob patterns.", required=True)
flags.DEFINE_string("output_file", None, "Where to write vocab.txt (bert, one token per line), the .model (albert) "
                    "or vocab.json (roberta).", required=True)
flags.DEFINE_string("merges_file", None, "roberta: where to write merges.txt (default: beside --output_file).")
flags.DEFINE_integer("vocab_size", 30522, "Total entries, special tokens included.", lower_bound=1)
flags.DEFINE_bool("do_lower_case", True, "Lower-case and strip accents, as for an uncased model (bert, albert; "
                  "roberta is always cased).")
flags.DEFINE_bool("keep_accents", False, "albert: keep accents (no NFKD and mark removal).")
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
    if FLAGS.model_type == "albert":
        return build_sentencepiece(paths)
    if FLAGS.model_type == "roberta":
        return build_byte_bpe(paths)
    logging.info("counting words in %d file(s), do_lower_case=%s", len(paths), FLAGS.do_lower_case)
    counts = vocab_learning.count_words(paths, FLAGS.do_lower_case)
    vocab = vocab_learning.build_vocab(counts, FLAGS.vocab_size, FLAGS.num_unused, FLAGS.min_count)
    vocab_learning.write_vocab(vocab, FLAGS.output_file)
    logging.info("wrote %d tokens to %s", len(vocab), FLAGS.output_file)


def build_sentencepiece(paths):
    from bert_tf import sentencepiece_tokenization

    if not FLAGS.output_file.endswith(".model"):
        raise ValueError(f"--output_file={FLAGS.output_file}: an ALBERT SentencePiece model is named <name>.model")
    written = sentencepiece_tokenization.train_sentencepiece(
        paths, FLAGS.output_file.removesuffix(".model"), FLAGS.vocab_size, FLAGS.do_lower_case, FLAGS.keep_accents)
    logging.info("wrote %d pieces to %s", FLAGS.vocab_size, " and ".join(written))


def build_byte_bpe(paths):
    from bert_tf import byte_bpe

    merges_file = FLAGS.merges_file or os.path.join(os.path.dirname(FLAGS.output_file), "merges.txt")
    cli.check_output_file("merges_file", merges_file, inputs=[*paths, FLAGS.output_file])
    counts = byte_bpe.count_words(paths)
    vocab, merges = byte_bpe.learn_bpe(counts, FLAGS.vocab_size, FLAGS.min_count)
    byte_bpe.write_bpe(vocab, merges, FLAGS.output_file, merges_file)
    logging.info("wrote %d pieces to %s and %d merges to %s", len(vocab), FLAGS.output_file, len(merges),
                 merges_file)


if __name__ == "__main__":
    cli.run(main, tensorflow=False)
