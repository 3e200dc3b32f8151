"""Pretraining data creation: ours vs the original google-research/bert script, end to end, in the same run.

  .venv/bin/python bench/bench_pretraining_data.py [--corpus=...] [--dupe_factor=2] [--max_seq_length=128]

Each run is a fresh process (imports, vocab, reading, writing: what a user waits for); wall time and that process'
peak RSS are measured. Then the two outputs are parsed and compared feature by feature, and per-file mode is
timed with 1 and 2 worker processes on the corpus split into two halves (at a document boundary).
"""

import os
import subprocess
import sys
import tempfile
import time

import numpy as np
from absl import app, flags

flags.DEFINE_string("corpus", "/work/shared/data/corpus/kjv.txt", "Text in the original input format.")
flags.DEFINE_string("vocab_file", "/work/shared/data/bert_base_uncased/vocab.txt", "WordPiece vocab.")
flags.DEFINE_integer("dupe_factor", 2, "Passes over the corpus.")
flags.DEFINE_integer("max_seq_length", 128, "Record length.")
flags.DEFINE_bool("skip_original", False, "Time ours only.")
FLAGS = flags.FLAGS
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PER_FILE = ("import functools, sys; from bert_tf import tokenization; from bert_tf.pretraining_data import *; "
            "n = int(sys.argv[1]); create_pretraining_data(sys.argv[2:4], [sys.argv[4]], functools.partial("
            "tokenization.FullTokenizer, sys.argv[5]), PretrainingDataConfig(max_seq_length=int(sys.argv[6]), "
            "dupe_factor=int(sys.argv[7])), num_workers=n, per_file=True)")


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
    """The corpus in two files, cut at the blank line nearest its middle."""
    lines = open(FLAGS.corpus, encoding="utf-8").read().split("\n")
    blanks = [i for i, line in enumerate(lines) if not line.strip()]
    cut = min(blanks, key=lambda i: abs(i - len(lines) // 2))
    halves = [os.path.join(directory, f"half{k}.txt") for k in range(2)]
    for path, part in zip(halves, (lines[:cut + 1], lines[cut + 1:]), strict=True):
        open(path, "w", encoding="utf-8").write("\n".join(part))
    return halves


def main(argv):
    # Every timed run comes first: a child forked from a process that has loaded TensorFlow (to parse) starts
    # with its resident pages and would report them as its peak RSS.
    del argv
    with tempfile.TemporaryDirectory() as out:
        runs = {"ours": [sys.executable, "create_pretraining_data.py", *script_flags(f"{out}/ours")]}
        if not FLAGS.skip_original:
            runs["original"] = [sys.executable, "-m", "bert.create_pretraining_data", *script_flags(f"{out}/original")]
        halves = split_corpus(out)
        for workers in (1, 2):
            runs[f"per-file, {workers} worker(s)"] = [sys.executable, "-c", PER_FILE, str(workers), *halves,
                                                      f"{out}/per-file-{workers}", FLAGS.vocab_file,
                                                      str(FLAGS.max_seq_length), str(FLAGS.dupe_factor)]
        times = {name: timed(command) for name, command in runs.items()}
        ours = parsed(f"{out}/ours")
        counts = {name: len(ours["input_ids"]) for name in ("ours", "original")}
        for workers in (1, 2):
            counts[f"per-file, {workers} worker(s)"] = sum(
                len(parsed(f"{out}/per-file-{workers}-{k:05d}-of-00002")["input_ids"]) for k in range(2))
        for name, (wall, cpu, rss) in times.items():
            print(f"{name:22s} {counts[name]:7d} instances in {wall:6.2f} s wall ({cpu:6.2f} s CPU) = "
                  f"{counts[name] / wall:7.0f} instances/s, peak RSS {rss:4.0f} MB")
        if not FLAGS.skip_original:
            theirs = parsed(f"{out}/original")
            same = ours.keys() == theirs.keys() and all(np.array_equal(ours[k], theirs[k]) for k in ours)
            print(f"speed-up {times['original'][0] / times['ours'][0]:.1f}x; records identical (every parsed "
                  f"feature): {same}")
        print(f"os.cpu_count()={os.cpu_count()}, load average {os.getloadavg()[0]:.2f} (per-file scaling needs "
              "idle cores)")


if __name__ == "__main__":
    app.run(main)
