"""Lines/s of bert_tf's in-graph tokenizer in a batched tf.data pipeline next to HF's Rust BERT tokenizer.

Same lines, same vocab, same run; both may use every core (tf.data's thread pool, the Rust tokenizer's rayon
pool). The best of --repeats timed passes counts (the first tf.data pass also traces). Exits non-zero unless
the in-graph ids equal bert_tf's Python FullTokenizer on every line.
  python bench/bench_text_ops.py [--file corpus.txt] [--vocab vocab.txt] [--cased] [--batch_size 256]
"""

import argparse
import os
import pathlib
import sys
import time

from common import add_text_arguments


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_text_arguments(parser)
    parser.add_argument("--batch_size", type=int, default=256)
    parser.add_argument("--repeats", type=int, default=3, help="best of this many timed passes")
    return parser.parse_args()


def best_of(repeats, fn):
    """(best seconds, output of the last call) of `fn()` called `repeats` times."""
    best, output = float("inf"), None
    for _ in range(repeats):
        start = time.perf_counter()
        output = fn()
        best = min(best, time.perf_counter() - start)
    return best, output


def in_graph(lines, vocab, do_lower_case, batch_size):
    """A callable running the whole file through `Dataset.batch(...).map(tokenize)`; returns ids per line."""
    import tensorflow as tf

    from bert_tf import text_ops

    tokenizer = text_ops.BertTextTokenizer(vocab, do_lower_case=do_lower_case)
    dataset = (tf.data.Dataset.from_tensor_slices(lines).batch(batch_size)
               .map(tokenizer.tokenize, num_parallel_calls=tf.data.AUTOTUNE).prefetch(tf.data.AUTOTUNE))
    return lambda: [row for batch in dataset for row in batch.to_list()]


def hf_rust(lines, vocab, do_lower_case, batch_size):
    """HF's Rust tokenizer (BertTokenizerFast) encoding the same batches; returns ids per line."""
    from transformers import BertTokenizerFast

    tokenizer = BertTokenizerFast(vocab, do_lower_case=do_lower_case)

    def run():
        out = []
        for i in range(0, len(lines), batch_size):
            out += tokenizer(lines[i:i + batch_size], add_special_tokens=False)["input_ids"]
        return out

    return run


def main():
    args = parse_args()
    lines = pathlib.Path(args.file).read_text(encoding="utf-8").split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    from bert_tf import tokenization

    python = tokenization.FullTokenizer(args.vocab, do_lower_case=not args.cased)
    reference = [python.convert_tokens_to_ids(python.tokenize(line)) for line in lines]
    results = {}
    for name, make in (("in_graph", in_graph), ("hf_rust", hf_rust)):
        fn = make(lines, args.vocab, not args.cased, args.batch_size)
        fn()  # warm-up: tracing, thread pools, caches
        results[name] = best_of(args.repeats, fn)
    pieces = sum(map(len, reference))
    print(f"{args.file}: {len(lines)} lines, {pieces} pieces, do_lower_case={not args.cased}, "
          f"batch {args.batch_size}, {os.cpu_count()} cores")
    for name, (seconds, outputs) in results.items():
        agree = sum(a == b for a, b in zip(outputs, reference, strict=True))
        print(f"{name:9s} {len(lines) / seconds:10,.0f} lines/s {pieces / seconds:12,.0f} pieces/s  "
              f"x{results['hf_rust'][0] / seconds:5.2f} HF Rust  equal to bert_tf Python on {agree}/{len(lines)}")
    bad = [i for i, (a, b) in enumerate(zip(results["in_graph"][1], reference, strict=True)) if a != b]
    if bad:
        print(f"FAIL: in-graph ids differ on {len(bad)} lines, first line {bad[0] + 1}: {lines[bad[0]]!r}")
        return 1
    print("OK: in-graph ids equal the Python tokenizer on every line")
    return 0


if __name__ == "__main__":
    sys.exit(main())
