"""Where a pretraining step's seconds go: TensorFlow's profiler over a few steps, summed by op type and region.

  .venv/bin/python bench/profile_pretraining_step.py [--implementation bert_tf|"bert_tf fast"|keras_hub]
      [--shape small] [--precision float32] [--steps 2] [--top_ops N]

The shapes and runners are bench_pretraining.py's ("bert_tf fast": with its VARIANTS["fast"]). Times are op durations
summed over the executor's threads (ops overlap on 2 cores, so they add up to more than the wall time) and reported
per step and as shares of all op time. Regions are read from the op names (bert_tf's layer names; keras-hub's are
reported by op type only). `TF_ENABLE_ONEDNN_OPTS=0` in the environment profiles TensorFlow's Eigen kernels instead
of oneDNN's.
"""

import argparse
import collections
import glob
import os
import re
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

REGIONS = (("optimizer", r"adam_weight_decay|lamb"), ("masked-LM head", r"predictions"),
           ("attention", r"attention"), ("feed-forward", r"intermediate|layer_\d+_1/(output|LayerNorm|dropout)"),
           ("embeddings", r"embeddings"))


def op_durations(logdir):
    """{(op name, op type): seconds} from the profiler's trace in `logdir`."""
    from tensorflow.tsl.profiler.protobuf import xplane_pb2

    space = xplane_pb2.XSpace()
    with open(glob.glob(f"{logdir}/**/*.xplane.pb", recursive=True)[0], "rb") as f:
        space.ParseFromString(f.read())
    durations = collections.Counter()
    for plane in space.planes:
        names = {key: meta.name for key, meta in plane.event_metadata.items()}
        for line in plane.lines:
            for event in line.events:
                name = names.get(event.metadata_id, "")
                if ":" in name and "while/body" in name:  # an op of the compiled training loop
                    durations[tuple(name.rsplit(":", 1))] += event.duration_ps / 1e12
    return durations


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--implementation", default="bert_tf", choices=("bert_tf", "bert_tf fast", "keras_hub"))
    parser.add_argument("--shape", default="small")
    parser.add_argument("--precision", default="float32")
    parser.add_argument("--steps", type=int, default=2)
    parser.add_argument("--top_ops", type=int, default=0, help="also list the N costliest ops by name")
    args = parser.parse_args()
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import bench_pretraining as bench

    steps = bench.runner(args.implementation, args.shape, args.precision)
    steps(2)  # build and trace outside the profile
    import tensorflow as tf

    logdir = tempfile.mkdtemp()
    start = time.perf_counter()
    tf.profiler.experimental.start(logdir)
    steps(args.steps)
    tf.profiler.experimental.stop()
    wall = (time.perf_counter() - start) / args.steps
    durations = op_durations(logdir)
    total = sum(durations.values())
    print(f"{args.implementation} {args.shape} {args.precision}, oneDNN {bench.onednn_enabled()}: "
          f"{wall:.2f} s/step wall (profiled), {total / args.steps:.2f} s/step of op time")
    by_type, by_region = collections.Counter(), collections.Counter()
    for (name, op_type), seconds in durations.items():
        by_type[op_type] += seconds
        region = next((region for region, pattern in REGIONS if re.search(pattern, name)), "other")
        by_region[("backward " if "gradient_tape" in name else "forward ") + region] += seconds
    by_name = collections.Counter()  # the layers' copies of one op summed: layer_3 -> layer_*
    for (name, op_type), seconds in durations.items():
        by_name[f"{op_type} {re.sub(r'layer_[0-9]+', 'layer_*', name)}"] += seconds
    tables = [("op type", by_type, 20), ("region", by_region, 20), ("op", by_name, args.top_ops)]
    for title, counter, rows in tables:
        if not rows:
            continue
        print(f"\n{title:28s} {'s/step':>7s} {'share':>6s}")
        for key, seconds in counter.most_common(rows):
            print(f"{key[-90:]:28s} {seconds / args.steps:7.3f} {100 * seconds / total:5.1f}%")


if __name__ == "__main__":
    main()
