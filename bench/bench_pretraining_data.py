"""Pretraining data creation: ours vs the original google-research/bert script, end to end, in the same run.

  .venv/bin/python bench/bench_pretraining_data.py [--corpus=...] [--dupe_factor=2] [--max_seq_length=128]

Each run is a fresh process (imports, vocab, reading, writing: what a user waits for); wall time and that process'
peak RSS are measured, `--rounds` times each, the commands taking turns, and the best and the median round are
reported (this VM's speed drifts by a third within minutes, so one round of a 2-second job says little). Then the
two outputs are parsed and compared feature by feature, and per-file mode is timed with 1 and 2 worker processes
on the corpus cut into `--parts` files at document boundaries, with `--per_file_dupe_factor`.
"""

import os
import subprocess
import sys
import tempfile
import time

import numpy as np
from absl import app, flags
from common import DATA

flags.DEFINE_string("corpus", str(DATA / "corpus" / "kjv.txt"), "Text in the original input format.")
flags.DEFINE_string("vocab_file", str(DATA / "bert_base_uncased" / "vocab.txt"), "WordPiece vocab.")
flags.DEFINE_integer("dupe_factor", 2, "Passes over the corpus.")
flags.DEFINE_integer("max_seq_length", 128, "Record length.")
flags.DEFINE_bool("skip_original", False, "Time ours only.")
flags.DEFINE_integer("rounds", 3, "Timed runs of each command (they take turns).")
flags.DEFINE_integer("parts", 4, "Per-file mode: the corpus is cut into this many files.")
flags.DEFINE_integer("per_file_dupe_factor", 10, "Per-file mode: passes over each file (the original default).")
FLAGS = flags.FLAGS
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PER_FILE = ("import functools, sys; from bert_tf import tokenization; from bert_tf.pretraining_data import *; "
            "n = int(sys.argv[1]); create_pretraining_data(sys.argv[6:], [sys.argv[2]], functools.partial("
            "tokenization.FullTokenizer, sys.argv[3]), PretrainingDataConfig(max_seq_length=int(sys.argv[4]), "
            "dupe_factor=int(sys.argv[5])), num_workers=n, per_file=True)")


def timed(command):
    """Runs `command`; returns (wall s, CPU s, peak RSS in MB of the largest of it and its children)."""
    with tempfile.TemporaryFile() as log:  # a file, not a pipe: a full pipe would block the child
        started = time.perf_counter()
        process = subprocess.Popen(command, cwd=REPO, stdout=subprocess.DEVNULL, stderr=log)
        _, status, usage = os.wait4(process.pid, 0)
        wall = time.perf_counter() - started
        if status:
            log.seek(0)
            raise RuntimeError(f"{command[:3]} failed: {log.read().decode()[-2000:]}")
    return wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024


def script_flags(output):
    return [f"--input_file={FLAGS.corpus}", f"--output_file={output}", f"--vocab_file={FLAGS.vocab_file}",
            f"--dupe_factor={FLAGS.dupe_factor}", f"--max_seq_length={FLAGS.max_seq_length}"]


def parsed(path):
    import tensorflow as tf

    from bert_tf.pretraining_data.readers import feature_spec

    spec = feature_spec(FLAGS.max_seq_length, 20)
    data = tf.data.TFRecordDataset(path).batch(1 << 20).map(lambda r: tf.io.parse_example(r, spec))
    return {name: value.numpy() for name, value in next(iter(data)).items()}


def split_corpus(directory):
    """The corpus in `--parts` files, each cut at the blank line nearest its share of the lines."""
    lines = open(FLAGS.corpus, encoding="utf-8").read().split("\n")
    blanks = [i for i, line in enumerate(lines) if not line.strip()]
    cuts = [0] + [min(blanks, key=lambda i: abs(i - k * len(lines) // FLAGS.parts)) + 1
                  for k in range(1, FLAGS.parts)] + [len(lines)]
    parts = [os.path.join(directory, f"part{k}.txt") for k in range(FLAGS.parts)]
    for path, start, stop in zip(parts, cuts[:-1], cuts[1:], strict=True):
        open(path, "w", encoding="utf-8").write("\n".join(lines[start:stop]))
    return parts


def main(argv):
    # Every timed run comes first: a child forked from a process that has loaded TensorFlow (to parse) starts
    # with its resident pages and would report them as its peak RSS.
    del argv
    with tempfile.TemporaryDirectory() as out:
        runs = {"ours": [sys.executable, "create_pretraining_data.py", *script_flags(f"{out}/ours")]}
        if not FLAGS.skip_original:
            runs["original"] = [sys.executable, "-m", "bert.create_pretraining_data", *script_flags(f"{out}/original")]
        parts = split_corpus(out)
        for workers in (1, 2):
            runs[f"per-file, {workers} worker(s)"] = [sys.executable, "-c", PER_FILE, str(workers),
                                                      f"{out}/per-file-{workers}", FLAGS.vocab_file,
                                                      str(FLAGS.max_seq_length), str(FLAGS.per_file_dupe_factor),
                                                      *parts]
        rounds = [{name: timed(command) for name, command in runs.items()} for _ in range(FLAGS.rounds)]
        times = {name: [r[name] for r in rounds] for name in runs}
        ours = parsed(f"{out}/ours")
        counts = {name: len(ours["input_ids"]) for name in ("ours", "original")}
        for workers in (1, 2):
            counts[f"per-file, {workers} worker(s)"] = sum(
                len(parsed(f"{out}/per-file-{workers}-{k:05d}-of-{FLAGS.parts:05d}")["input_ids"])
                for k in range(FLAGS.parts))
        best = {name: min(t[0] for t in timings) for name, timings in times.items()}
        median = {name: float(np.median([t[0] for t in timings])) for name, timings in times.items()}
        for name, timings in times.items():
            wall, cpu, rss = min(timings)
            print(f"{name:22s} {counts[name]:7d} instances in {wall:6.2f} s wall (median {median[name]:6.2f} s; "
                  f"{cpu:6.2f} s CPU) = {counts[name] / wall:7.0f} instances/s, peak RSS {rss:4.0f} MB")
        if not FLAGS.skip_original:
            theirs = parsed(f"{out}/original")
            same = ours.keys() == theirs.keys() and all(np.array_equal(ours[k], theirs[k]) for k in ours)
            print(f"speed-up {best['original'] / best['ours']:.1f}x best to best, "
                  f"{median['original'] / median['ours']:.1f}x median to median; records identical (every parsed "
                  f"feature): {same}")
        scaling = best["per-file, 1 worker(s)"] / best["per-file, 2 worker(s)"]
        print(f"per-file mode, 2 workers vs 1: {scaling:.2f}x")
        print(f"os.cpu_count()={os.cpu_count()}, load average {os.getloadavg()[0]:.2f} (per-file scaling needs "
              "idle cores)")


if __name__ == "__main__":
    app.run(main)
