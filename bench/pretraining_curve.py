"""BERT-Tiny pretraining on real text, with a held-out masked-LM accuracy curve against the unigram baseline.

  .venv/bin/python bench/pretraining_curve.py [--steps 3000] [--every 500] [--precision bfloat16]

The corpus is corpus/python_docs.txt of the real data (BERT_TF_DATA, bench/common.py): Python 3.11's documentation
prose, 497 documents. The last 50 documents are held out for evaluation, a WordPiece vocab is learned from the rest
(`build_vocab.py`), both parts become records (`create_pretraining_data.py`), and `run_pretraining.py` trains BERT-
Tiny's shape (L2/H128/A2) from scratch. Every `--every` steps the checkpoint is evaluated on the held-out records
(`run_pretraining.py --do_eval --init_checkpoint=ckpt-N`). The baseline is what predicting the commonest masked
piece of the held-out records would score. Everything runs through the project's own scripts; a Markdown table and a
JSON (--output) are written. Needs the real data.
"""

import argparse
import collections
import json
import os
import subprocess
import sys
import time

from common import DATA

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
CORPUS = str(DATA / "corpus" / "python_docs.txt")
TINY = {"hidden_size": 128, "num_hidden_layers": 2, "num_attention_heads": 2, "intermediate_size": 512,
        "max_position_embeddings": 128, "type_vocab_size": 2, "hidden_act": "gelu"}
HELD_OUT_DOCUMENTS = 50


def run(script, **flags):
    command = [sys.executable, os.path.join(ROOT, script)] + [f"--{k}={v}" for k, v in flags.items()]
    print("$ python " + " ".join([script] + command[2:]), flush=True)
    subprocess.run(command, check=True, stderr=subprocess.DEVNULL)


def split_corpus(out):
    """Documents are separated by blank lines (the original's rule); the last ones are held out."""
    with open(CORPUS, encoding="utf-8") as f:
        documents = [d for d in f.read().split("\n\n") if d.strip()]
    parts = {"train": documents[:-HELD_OUT_DOCUMENTS], "eval": documents[-HELD_OUT_DOCUMENTS:]}
    for name, docs in parts.items():
        with open(f"{out}/{name}.txt", "w", encoding="utf-8") as f:
            f.write("\n\n".join(docs) + "\n")
    return {name: len(docs) for name, docs in parts.items()}


def unigram_baseline(records, max_seq_length, max_predictions):
    """Accuracy of always predicting the commonest masked piece of `records` (weights count, as in the eval)."""
    from bert_tf.pretraining_data import pretraining_dataset

    counts = collections.Counter()
    for batch in pretraining_dataset([records], 256, max_seq_length, max_predictions, is_training=False,
                                     repeat=False, drop_remainder=False):
        ids, weights = batch["masked_lm_ids"].numpy().ravel(), batch["masked_lm_weights"].numpy().ravel()
        counts.update(ids[weights > 0].tolist())
    return counts.most_common(1)[0][1] / sum(counts.values())


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=3000)
    parser.add_argument("--every", type=int, default=500)
    parser.add_argument("--learning_rate", type=float, default=2e-4)
    parser.add_argument("--vocab_size", type=int, default=8000)
    parser.add_argument("--precision", default="float32", help="run_pretraining.py --precision (train and eval)")
    parser.add_argument("--out", default="out/pretraining_curve")
    args = parser.parse_args()
    out = os.path.abspath(args.out)
    os.makedirs(out, exist_ok=True)
    documents = split_corpus(out)
    run("build_vocab.py", input_file=f"{out}/train.txt", output_file=f"{out}/vocab.txt", vocab_size=args.vocab_size)
    vocab_size = sum(1 for _ in open(f"{out}/vocab.txt", encoding="utf-8"))
    with open(f"{out}/bert_config.json", "w") as f:
        json.dump({**TINY, "vocab_size": vocab_size}, f, indent=2)
    shape = dict(max_seq_length=128, max_predictions_per_seq=20)
    for name, dupe in (("train", 3), ("eval", 1)):
        run("create_pretraining_data.py", input_file=f"{out}/{name}.txt", output_file=f"{out}/{name}.tfrecord",
            vocab_file=f"{out}/vocab.txt", dupe_factor=dupe, **shape)
    start = time.time()
    run("run_pretraining.py", bert_config_file=f"{out}/bert_config.json", input_file=f"{out}/train.tfrecord",
        output_dir=f"{out}/run", do_train=True, train_batch_size=32, num_train_steps=args.steps,
        num_warmup_steps=args.steps // 10, learning_rate=args.learning_rate, save_checkpoints_steps=args.every,
        keep_checkpoint_max=args.steps // args.every + 1, iterations_per_loop=50, precision=args.precision, **shape)
    train_seconds = time.time() - start
    curve = {}
    for step in range(args.every, args.steps + 1, args.every):
        run("run_pretraining.py", bert_config_file=f"{out}/bert_config.json", input_file=f"{out}/eval.tfrecord",
            output_dir=f"{out}/eval-{step}", init_checkpoint=f"{out}/run/ckpt-{step}", do_eval=True,
            eval_batch_size=32, max_eval_steps=50, precision=args.precision, **shape)
        with open(f"{out}/eval-{step}/eval_results.txt") as f:
            curve[step] = {k: float(v) for k, v in (line.split(" = ") for line in f.read().splitlines())}
    baseline = unigram_baseline(f"{out}/eval.tfrecord", 128, 20)
    result = {"documents": documents, "vocab_size": vocab_size, "train_seconds": train_seconds,
              "unigram_baseline": baseline, "curve": curve, "args": vars(args)}
    with open(f"{out}/curve.json", "w") as f:
        json.dump(result, f, indent=2)
    print(f"\nheld-out documents {documents['eval']}, vocab {vocab_size}, training {train_seconds / 60:.1f} min, "
          f"unigram baseline {baseline:.3f}")
    print("| step | held-out masked_lm_accuracy | masked_lm_loss | next_sentence_accuracy |\n|---|---|---|---|")
    for step, r in curve.items():
        print(f"| {step} | {r['masked_lm_accuracy']:.3f} | {r['masked_lm_loss']:.3f} | "
              f"{r['next_sentence_accuracy']:.3f} |")


if __name__ == "__main__":
    main()
