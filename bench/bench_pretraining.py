"""Pretraining step throughput: bert_tf vs keras-hub BertMaskedLM (TF backend) vs HF PyTorch BertForPreTraining.

  .venv/bin/python bench/bench_pretraining.py [--shapes small,base] [--rounds 3] [--steps 3] [--peers ...]

Same shapes for every implementation (seq 128, 20 masked positions, AdamW). Each peer runs in its own worker
process, so that each gets the TensorFlow settings its users get: bert_tf's scripts turn TensorFlow's oneDNN
kernels on before TensorFlow loads; keras-hub gets TensorFlow's default for this CPU. The same
implementation is also measured with the other setting ("oneDNN on"/"oneDNN off" peers), so that the table
separates what the switch gives from what the model code gives. Workers are built first, then take turns, round
by round (the order flips each round), each running `--steps` steps while the others wait; the median seconds per
step are reported as sequences/s, tokens/s, achieved GFLOP/s (the usual convention: 2 FLOPs per multiply-add,
QKV/O/FFN/attention/pooler and the MLM head on the masked positions only, training = 3x forward), the share of the
float32 and bfloat16 matmul peaks (best of the measurements before and after each shape) and each worker's peak
resident memory (RSS). HF PyTorch in bfloat16 runs under `torch.autocast("cpu", dtype=torch.bfloat16)`. HF
computes masked-LM logits on all 128 positions: its extra work is not counted.
A peer that is not installed is skipped (and said so). Workers stay alive for their shape's whole run: at
L6/H384 each holds 3-5 GB, at Base 4-5 GB, so on a 24 GB machine pass at most six `--peers` (the default) at
L6/H384 and four at Base. The "fast" and "xla" peers are bert_tf with those VARIANTS.
"""

import argparse
import json
import os
import resource
import statistics
import sys
import time

import numpy as np
from common import Worker, cpu_model

SHAPES = {"small": dict(layers=6, hidden=384, heads=12, batch=32),
          "base": dict(layers=12, hidden=768, heads=12, batch=8)}
SEQ, PREDICTIONS, VOCAB = 128, 20, 30522


def train_flops_per_sequence(layers, hidden, seq=SEQ, predictions=PREDICTIONS, vocab=VOCAB):
    inner = 4 * hidden
    per_layer = 2 * seq * (4 * hidden * hidden + 2 * hidden * inner) + 4 * seq * seq * hidden
    heads = 2 * hidden * hidden + predictions * 2 * (hidden * hidden + hidden * vocab)  # pooler + MLM head
    return 3 * (layers * per_layer + heads)


def matmul_peak(dtype, size=2048, repeats=10):
    """GFLOP/s of a size^3 matmul chain in TensorFlow (best of 3)."""
    import tensorflow as tf

    a = tf.random.normal([size, size], dtype=tf.float32)
    a = tf.cast(a, dtype)

    @tf.function
    def chain(x):
        for _ in range(repeats):
            x = tf.matmul(x, a) * tf.cast(1e-3, dtype)
        return x

    chain(a).numpy()
    best = float("inf")
    for _ in range(3):
        start = time.perf_counter()
        chain(a).numpy()
        best = min(best, time.perf_counter() - start)
    return 2 * size**3 * repeats / best / 1e9


def synthetic_batch(batch, seed=0):
    rng = np.random.default_rng(seed)
    positions = np.sort(np.stack([rng.choice(np.arange(1, SEQ - 1), PREDICTIONS, replace=False)
                                  for _ in range(batch)]), -1)
    return {"input_ids": rng.integers(5, VOCAB, (batch, SEQ)).astype(np.int32),
            "input_mask": np.ones((batch, SEQ), np.int32),
            "segment_ids": (np.arange(SEQ)[None] >= SEQ // 2).repeat(batch, 0).astype(np.int32),
            "masked_lm_positions": positions.astype(np.int32),
            "masked_lm_ids": rng.integers(5, VOCAB, (batch, PREDICTIONS)).astype(np.int32),
            "masked_lm_weights": np.ones((batch, PREDICTIONS), np.float32),
            "next_sentence_labels": rng.integers(0, 2, (batch, 1)).astype(np.int32)}


def bert_tf_runner(shape, precision="float32", **options):
    """bert_tf's step function; `options`: TrainingOptions beyond the defaults (a VARIANTS entry)."""
    import tempfile

    os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")  # as bert_tf's scripts set it before TensorFlow loads
    import tensorflow as tf

    from bert_tf import training
    from bert_tf.config import BertConfig

    config = BertConfig(vocab_size=VOCAB, hidden_size=shape["hidden"], num_hidden_layers=shape["layers"],
                        num_attention_heads=shape["heads"], intermediate_size=4 * shape["hidden"], type_vocab_size=2)
    options = training.PretrainingOptions(output_dir=tempfile.mkdtemp(), train_batch_size=shape["batch"],
                                          learning_rate=1e-4, num_train_steps=10**6, num_warmup_steps=100,
                                          precision=precision, **options)
    run = training.Pretraining(config, options)
    batch = synthetic_batch(shape["batch"])
    iterator = run.distribute(lambda context: tf.data.Dataset.from_tensors(batch).repeat())

    def steps(count):
        float(run._train_fn(iterator, tf.constant(count))["loss"])

    return steps


def keras_hub_runner(shape, precision="float32"):
    import keras
    import keras_hub
    import tensorflow as tf

    keras.config.set_dtype_policy({"float32": "float32", "bfloat16": "mixed_bfloat16"}[precision])
    backbone = keras_hub.models.BertBackbone(
        vocabulary_size=VOCAB, num_layers=shape["layers"], num_heads=shape["heads"], hidden_dim=shape["hidden"],
        intermediate_dim=4 * shape["hidden"], max_sequence_length=512, num_segments=2)
    model = keras_hub.models.BertMaskedLM(backbone, preprocessor=None)
    keras.config.set_dtype_policy("float32")
    model.compile(optimizer=keras.optimizers.AdamW(1e-4, weight_decay=0.01, epsilon=1e-6, global_clipnorm=1.0),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True), weighted_metrics=[])
    batch = synthetic_batch(shape["batch"])
    x = {"token_ids": batch["input_ids"], "padding_mask": batch["input_mask"].astype(bool),
         "segment_ids": batch["segment_ids"], "mask_positions": batch["masked_lm_positions"]}
    x = {k: tf.constant(v) for k, v in x.items()}
    y, weights = tf.constant(batch["masked_lm_ids"]), tf.constant(batch["masked_lm_weights"])

    def steps(count):  # train_on_batch reuses one compiled train function (fit would rebuild its iterator)
        for _ in range(count):
            model.train_on_batch(x, y, sample_weight=weights)

    return steps


def hf_runner(shape, precision="float32"):
    import contextlib

    import torch
    from transformers import BertConfig, BertForPreTraining

    torch.set_num_threads(os.cpu_count())
    torch.manual_seed(0)
    config = BertConfig(vocab_size=VOCAB, hidden_size=shape["hidden"], num_hidden_layers=shape["layers"],
                        num_attention_heads=shape["heads"], intermediate_size=4 * shape["hidden"],
                        hidden_act="gelu_new", layer_norm_eps=1e-12)
    model = BertForPreTraining(config).train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4, eps=1e-6, weight_decay=0.01)
    batch = synthetic_batch(shape["batch"])
    labels = np.full((shape["batch"], SEQ), -100, np.int64)
    np.put_along_axis(labels, batch["masked_lm_positions"], batch["masked_lm_ids"], 1)
    inputs = {"input_ids": torch.tensor(batch["input_ids"], dtype=torch.long),
              "attention_mask": torch.tensor(batch["input_mask"]), "token_type_ids": torch.tensor(batch["segment_ids"],
                                                                                                dtype=torch.long),
              "labels": torch.tensor(labels), "next_sentence_label": torch.tensor(batch["next_sentence_labels"][:, 0],
                                                                                  dtype=torch.long)}

    def autocast():  # what a user of this CPU tries next: bfloat16 matmuls, float32 weights and optimizer
        if precision == "bfloat16":
            return torch.autocast("cpu", dtype=torch.bfloat16)
        return contextlib.nullcontext()

    def steps(count):
        for _ in range(count):
            optimizer.zero_grad()
            with autocast():
                loss = model(**inputs).loss
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()

    return steps


# bert_tf's variants: TrainingOptions beyond the defaults. "fast": the options that change results (other dropout
# draws, the optimizer's update within 1e-5); "xla": the step compiled with XLA.
VARIANTS = {"fast": {"fast_dropout": True, "fused_optimizer": True}, "xla": {"use_xla": True}}
# name -> (implementation, precision, TF_ENABLE_ONEDNN_OPTS for the worker: None = what its users get)
PEERS = {
    "bert_tf float32": ("bert_tf", "float32", None),
    "bert_tf float32 fast": ("bert_tf fast", "float32", None),
    "bert_tf bfloat16": ("bert_tf", "bfloat16", None),
    "bert_tf bfloat16 fast": ("bert_tf fast", "bfloat16", None),
    "bert_tf float32 xla": ("bert_tf xla", "float32", None),
    "bert_tf bfloat16 xla": ("bert_tf xla", "bfloat16", None),
    "bert_tf float32 oneDNN off": ("bert_tf", "float32", "0"),
    "keras-hub float32": ("keras_hub", "float32", None),
    "keras-hub bfloat16": ("keras_hub", "bfloat16", None),
    "keras-hub float32 oneDNN on": ("keras_hub", "float32", "1"),
    "HF PyTorch float32": ("hf", "float32", None),
    "HF PyTorch bfloat16 autocast": ("hf", "bfloat16", None),
}
# What one run holds in 24 GB at L6/H384 (each worker holds 3-5 GB): the TensorFlow peers; HF in a second run.
DEFAULT_PEERS = ("bert_tf float32", "bert_tf float32 fast", "bert_tf bfloat16", "bert_tf bfloat16 fast",
                 "keras-hub float32", "keras-hub bfloat16")
RUNNERS = {"bert_tf": bert_tf_runner, "keras_hub": keras_hub_runner, "hf": hf_runner}
REQUIRES = {"bert_tf": ("tensorflow",), "keras_hub": ("keras_hub",), "hf": ("torch", "transformers")}


def runner(implementation, shape_name, precision):
    """The step function of `implementation` ("bert_tf fast": bert_tf with VARIANTS["fast"])."""
    name, _, variant = implementation.partition(" ")
    return RUNNERS[name](SHAPES[shape_name], precision, **VARIANTS.get(variant, {}))


def onednn_enabled():
    if "tensorflow" not in sys.modules:
        return None
    from tensorflow.python.util import _pywrap_util_port

    return bool(_pywrap_util_port.IsMklEnabled())


def worker(implementation, precision, shape_name):
    """Builds one peer, warms it up, then runs the step counts read from stdin, answering with the seconds."""
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    steps = runner(implementation, shape_name, precision)
    steps(2)  # build, trace, compile
    print(json.dumps({"ready": True, "onednn": onednn_enabled()}), flush=True)
    for line in sys.stdin:
        count = int(line)
        start = time.perf_counter()
        steps(count)
        seconds = time.perf_counter() - start
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # KiB on Linux -> GiB
        print(json.dumps({"seconds": seconds, "peak_rss_gib": peak}), flush=True)


def start_worker(name, shape_name):
    """The peer `name` in its own process (`common.Worker`), with oneDNN set as PEERS says."""
    implementation, precision, onednn = PEERS[name]
    env = dict(os.environ)
    env.pop("TF_ENABLE_ONEDNN_OPTS", None)
    if onednn is not None:
        env["TF_ENABLE_ONEDNN_OPTS"] = onednn
    return Worker(name, [sys.executable, os.path.abspath(__file__), "--worker",
                         f"{implementation},{precision},{shape_name}"], env)


def available(name):
    import importlib.util

    missing = [module for module in REQUIRES[PEERS[name][0].split()[0]] if importlib.util.find_spec(module) is None]
    if missing:
        print(f"{name}: {', '.join(missing)} not installed, skipped")
    return not missing


def measure(shape_name, args, peaks):
    shape = SHAPES[shape_name]
    workers = []
    try:
        for name in args.peers.split(","):
            if available(name):
                workers.append(start_worker(name, shape_name))  # one at a time: builds do not overlap
        times = {worker.name: [] for worker in workers}
        peak_rss = {}
        for round_index in range(args.rounds):
            for worker in workers if round_index % 2 == 0 else workers[::-1]:  # the order flips each round
                answer = worker.ask(args.steps)
                times[worker.name].append(answer["seconds"] / args.steps)
                peak_rss[worker.name] = answer["peak_rss_gib"]
    finally:
        for worker in workers:
            worker.close()
    # Other processes share this CPU: the peak is taken as the best of the measurements before and after.
    peaks = {dtype: max(peak, matmul_peak(dtype)) for dtype, peak in peaks.items()}
    print(f"matmul peak after: float32 {peaks['float32']:.0f} GFLOP/s, bfloat16 {peaks['bfloat16']:.0f} GFLOP/s")
    flops = train_flops_per_sequence(shape["layers"], shape["hidden"])
    print(f"\nL{shape['layers']}/H{shape['hidden']} batch {shape['batch']} seq {SEQ} ({flops / 1e9:.1f} GFLOP/seq)")
    print(f"{'implementation':28s} {'oneDNN':>6s} {'seq/s':>7s} {'tokens/s':>9s} {'GFLOP/s':>8s} {'%fp32pk':>8s} "
          f"{'%bf16pk':>8s} {'best':>7s} {'RSS GiB':>8s}")
    onednn = {True: "on", False: "off", None: "-"}
    for worker in workers:
        values = times[worker.name]
        rate = shape["batch"] / statistics.median(values)
        gflops = rate * flops / 1e9
        print(f"{worker.name:28s} {onednn[worker.ready['onednn']]:>6s} {rate:7.2f} {rate * SEQ:9.0f} {gflops:8.1f} "
              f"{100 * gflops / peaks['float32']:7.0f}% {100 * gflops / peaks['bfloat16']:7.0f}% "
              f"{shape['batch'] / min(values):7.2f} {peak_rss[worker.name]:8.2f}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shapes", default="small,base")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--peers", default=",".join(DEFAULT_PEERS), help=f"comma-separated, of: {', '.join(PEERS)}")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args()
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    if args.worker:
        return worker(*args.worker.split(","))
    unknown = set(args.peers.split(",")) - set(PEERS)
    if unknown:
        parser.error(f"unknown peers {sorted(unknown)}; choose from {list(PEERS)}")
    peaks = {dtype: matmul_peak(dtype) for dtype in ("float32", "bfloat16")}
    print(f"matmul peak (TensorFlow, 2048^3): float32 {peaks['float32']:.0f} GFLOP/s, "
          f"bfloat16 {peaks['bfloat16']:.0f} GFLOP/s; {cpu_model()}, {os.cpu_count()} CPUs")
    for name in args.shapes.split(","):
        measure(name, args, peaks)


if __name__ == "__main__":
    main()
