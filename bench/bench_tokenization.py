"""Lines/s and pieces/s of bert_tf's FullTokenizer vs the original, HF's Python and HF's Rust BERT tokenizers.

Each tokenizer is built fresh per repeat (cold word cache) and tokenizes the same lines one at a time; the best
repeat counts. Exits non-zero unless bert_tf's output equals the original's on every line.
  python bench/bench_tokenization.py [--file corpus.txt] [--vocab vocab.txt] [--cased] [--repeats 3]
"""

import argparse
import pathlib
import sys
import time

from common import add_text_arguments


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_text_arguments(parser)
    parser.add_argument("--repeats", type=int, default=3, help="best of this many cold runs")
    return parser.parse_args()


def make_tokenizers(vocab, do_lower_case):
    """name -> factory of a fresh `str -> list of pieces` callable."""
    from absl import flags
    from bert import tokenization as original
    from transformers import BertTokenizerFast
    from transformers.models.bert.tokenization_bert_legacy import BertTokenizerLegacy

    from bert_tf import tokenization

    # The original reads an absl flag (preserve_unused_tokens) that raises unless flags are parsed.
    flags.FLAGS.mark_as_parsed()
    return {
        "bert_tf": lambda: tokenization.FullTokenizer(vocab, do_lower_case).tokenize,
        "original": lambda: original.FullTokenizer(vocab, do_lower_case).tokenize,
        "hf_python": lambda: BertTokenizerLegacy(vocab, do_lower_case=do_lower_case).tokenize,
        "hf_rust": lambda: BertTokenizerFast(vocab, do_lower_case=do_lower_case).tokenize,
    }


def run(factory, lines, repeats):
    """(best seconds, outputs of the last run) tokenizing `lines` one by one with a fresh tokenizer per run."""
    best = float("inf")
    for _ in range(repeats):
        tokenize = factory()
        start = time.perf_counter()
        outputs = [tokenize(line) for line in lines]
        best = min(best, time.perf_counter() - start)
    return best, outputs


def main():
    args = parse_args()
    lines = pathlib.Path(args.file).read_text(encoding="utf-8").split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    factories = make_tokenizers(args.vocab, not args.cased)
    results = {}
    for name, factory in factories.items():
        # The slow pure-Python references run once: their timing varies little and they take ~5 s a run.
        repeats = args.repeats if name in ("bert_tf", "hf_rust") else 1
        results[name] = run(factory, lines, repeats)
    ours, reference = results["bert_tf"][1], results["original"][1]
    bad = [i for i, (a, b) in enumerate(zip(ours, reference, strict=True)) if a != b]
    pieces = sum(map(len, reference))
    print(f"{args.file}: {len(lines)} lines, {pieces} pieces (original), do_lower_case={not args.cased}")
    for name, (seconds, outputs) in results.items():
        agree = sum(a == b for a, b in zip(outputs, reference, strict=True))
        print(f"{name:10s} {len(lines) / seconds:10,.0f} lines/s {sum(map(len, outputs)) / seconds:12,.0f} "
              f"pieces/s  x{results['original'][0] / seconds:5.2f} the original  "
              f"equal to the original on {agree}/{len(lines)} lines")
    if bad:
        print(f"FAIL: bert_tf differs from the original on {len(bad)} lines, first line {bad[0] + 1}: "
              f"{lines[bad[0]]!r}")
        return 1
    print("OK: bert_tf equals the original on every line")
    return 0


if __name__ == "__main__":
    sys.exit(main())
