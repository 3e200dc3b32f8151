"""Pretraining data on Apache Beam's DirectRunner (multi-processing) against per-file mode's process pool.

  .venv/bin/python bench/bench_beam.py [--corpus=...] [--parts=8] [--per_file_dupe_factor=2] [--rounds=2]

The corpus is cut into `--parts` shards at document boundaries (as bench_pretraining_data.py cuts it). Each run is
a fresh `create_pretraining_data.py` process: per-file mode with 1 and 2 pool workers (`--num_workers`; 1 worker
runs in-process), and `--beam_runner=DirectRunner` with `direct_running_mode=multi_processing` and 1 and 2
workers. Reported: instances/s over the whole command (imports and pipeline start-up included, as a user waits)
and the peak RSS (VmHWM, sampled every 50 ms from /proc) of the main process and of the largest worker process
(pool workers; Beam's SDK worker processes), the best of `--rounds`. Beam's outputs are checked byte for byte
against the pool's.
"""

import filecmp
import os
import subprocess
import sys
import tempfile
import threading
import time

from absl import app
from bench_pretraining_data import FLAGS, PER_FILE, REPO, split_corpus
from common import cpu_model


def commands(out, parts):
    data_flags = [f"--vocab_file={FLAGS.vocab_file}", f"--max_seq_length={FLAGS.max_seq_length}",
                  f"--dupe_factor={FLAGS.per_file_dupe_factor}"]
    runs = {}
    for workers in (1, 2):
        runs[f"pool, {workers} worker(s)"] = (
            f"{out}/pool-{workers}", [sys.executable, "-c", PER_FILE, str(workers), f"{out}/pool-{workers}",
                                      FLAGS.vocab_file, str(FLAGS.max_seq_length), str(FLAGS.per_file_dupe_factor),
                                      *parts])
        options = f"direct_num_workers={workers},direct_running_mode=multi_processing"
        runs[f"Beam, {workers} worker(s)"] = (
            f"{out}/beam-{workers}", [sys.executable, "create_pretraining_data.py", f"--input_file={','.join(parts)}",
                                      f"--output_file={out}/beam-{workers}", "--beam_runner=DirectRunner",
                                      f"--beam_pipeline_options={options}", *data_flags])
    return runs


def _status(pid):
    """(parent pid, VmHWM in MB) of a live process, else None."""
    try:
        fields = dict(line.split(":", 1) for line in open(f"/proc/{pid}/status"))
    except (OSError, ValueError):
        return None
    return int(fields["PPid"]), int(fields.get("VmHWM", "0 kB").split()[0]) / 1024


def measured(command):
    """Runs `command`; returns (wall s, peak MB of the main process, peak MB of the largest worker process)."""
    started = time.perf_counter()
    process = subprocess.Popen(command, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    peaks, done = {}, threading.Event()

    def sample():
        while not done.is_set():
            found = {int(p): _status(p) for p in os.listdir("/proc") if p.isdigit()}
            family = {process.pid}
            for _ in range(4):  # workers' own children (Beam's SDK harness) within a few generations
                family |= {pid for pid, info in found.items() if info and info[0] in family}
            for pid in family:
                if found.get(pid):
                    peaks[pid] = max(peaks.get(pid, 0), found[pid][1])
            time.sleep(0.05)

    sampler = threading.Thread(target=sample)
    sampler.start()
    _, errors = process.communicate()
    wall = time.perf_counter() - started
    done.set()
    sampler.join()
    if process.returncode:
        raise RuntimeError(f"{command[:3]} failed: {errors.decode()[-2000:]}")
    workers = [peak for pid, peak in peaks.items() if pid != process.pid]
    return wall, peaks.get(process.pid, 0), max(workers, default=0)


def instances(prefix):
    from bert_tf.pretraining_data import read_counts

    return sum(read_counts(f"{prefix}-{k:05d}-of-{FLAGS.parts:05d}")["num_instances"] for k in range(FLAGS.parts))


def main(argv):
    del argv
    with tempfile.TemporaryDirectory() as out:
        parts = split_corpus(out)
        runs = commands(out, parts)
        rounds = [{name: measured(command) for name, (_, command) in runs.items()} for _ in range(FLAGS.rounds)]
        for name, (prefix, _) in runs.items():
            wall, main_peak, worker_peak = min(r[name] for r in rounds)
            count = instances(prefix)
            workers = f"largest worker {worker_peak:4.0f} MB" if worker_peak else "no worker process"
            print(f"{name:20s} {count:7d} instances in {wall:6.2f} s = {count / wall:7.0f} instances/s; peak RSS: "
                  f"main {main_peak:4.0f} MB, {workers}")
        shards = [f"-{k:05d}-of-{FLAGS.parts:05d}" for k in range(FLAGS.parts)]
        same = all(filecmp.cmp(f"{out}/pool-1{s}", f"{out}/beam-{w}{s}", shallow=False) for s in shards for w in (1, 2))
        print(f"Beam records identical to the pool's, byte for byte: {same}")
        print(f"{cpu_model()}, os.cpu_count()={os.cpu_count()}, load average {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    app.run(main)
