"""Tiny BERT, ALBERT and RoBERTa pretrained on real text, with held-out masked-LM accuracy curves against the
unigram baseline, then each fine-tuned on real SST-2 rows.

  .venv/bin/python bench/pretraining_curve.py [--model_type bert] [--steps 3000] [--every 500] [--precision bfloat16]
      [--fast_dropout] [--fused_optimizer] [--finetune_rows 4000]

The corpus is corpus/python_docs.txt of the real data (BERT_TF_DATA, bench/common.py): Python 3.11's documentation
prose, 497 documents. The last 50 documents are held out for evaluation, a WordPiece vocab is learned from the rest
(`build_vocab.py`), both parts become records (`create_pretraining_data.py`), and `run_pretraining.py` trains from
scratch: BERT-Tiny's shape (L2/H128/A2) with next-sentence pairs; ALBERT with sentence-order pairs
(`--sentence_order`), embeddings of 64 and one block of H192 shared by 4 depths (fewer parameters, more compute);
RoBERTa BERT-Tiny's shape trained RoBERTa's way (raw text, `--full_sentences`, dynamic masking, no next-sentence
head), scored on its own packing of the held-out text (masks drawn by the seed). Every `--every` steps the
checkpoint is evaluated on the held-out records (`run_pretraining.py --do_eval --init_checkpoint=ckpt-N`). The
baseline is what predicting the commonest masked piece of the held-out records would score. Then `run_classifier.py`
fine-tunes the last checkpoint on the first --finetune_rows rows of real SST-2 (seq 64, batch 32, 3 epochs, lr 1e-4)
and scores the dev set. Everything runs through the project's own scripts; a Markdown table and a JSON (--out) are
written. Needs the real data.
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
CONFIGS = {"bert": TINY,
           "albert": {**TINY, "model_type": "albert", "embedding_size": 64, "hidden_size": 192, "num_hidden_layers": 4,
                      "num_attention_heads": 3, "intermediate_size": 768},
           # [PAD] is id 0 of a WordPiece vocab: positions start at row 1, so 129 rows hold 128 tokens.
           "roberta": {**TINY, "model_type": "roberta", "type_vocab_size": 1, "pad_token_id": 0,
                       "max_position_embeddings": 129, "layer_norm_eps": 1e-5, "hidden_act": "gelu_exact"}}
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


def fine_tune(out, config_file, checkpoint, vocab, rows):
    """Dev accuracy on SST-2 after fine-tuning `checkpoint` on its first `rows` train rows."""
    data = f"{out}/sst2"
    os.makedirs(data, exist_ok=True)
    source = DATA / "glue" / "SST-2"
    with open(source / "train.tsv", encoding="utf-8") as f, open(f"{data}/train.tsv", "w", encoding="utf-8") as g:
        g.writelines(line for i, line in enumerate(f) if i <= rows)
    with open(source / "dev.tsv", encoding="utf-8") as f, open(f"{data}/dev.tsv", "w", encoding="utf-8") as g:
        g.write(f.read())
    run("run_classifier.py", task_name="SST-2", data_dir=data, vocab_file=vocab, bert_config_file=config_file,
        init_checkpoint=checkpoint, output_dir=f"{out}/sst2_run", do_train=True, do_eval=True, max_seq_length=64,
        train_batch_size=32, learning_rate=1e-4, num_train_epochs=3, do_lower_case=True)
    with open(f"{out}/sst2_run/eval_results.json") as f:
        return json.load(f)["eval_accuracy"]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model_type", default="bert", choices=sorted(CONFIGS))
    parser.add_argument("--steps", type=int, default=3000)
    parser.add_argument("--every", type=int, default=500)
    parser.add_argument("--learning_rate", type=float, default=2e-4)
    parser.add_argument("--vocab_size", type=int, default=8000)
    parser.add_argument("--precision", default="float32", help="run_pretraining.py --precision (train and eval)")
    parser.add_argument("--fast_dropout", action="store_true", help="run_pretraining.py --fast_dropout")
    parser.add_argument("--fused_optimizer", action="store_true", help="run_pretraining.py --fused_optimizer")
    parser.add_argument("--finetune_rows", type=int, default=4000, help="SST-2 train rows (0: no fine-tuning)")
    parser.add_argument("--out", default=None, help="default out/pretraining_curve/<model_type>")
    args = parser.parse_args()
    out = os.path.abspath(args.out or f"out/pretraining_curve/{args.model_type}")
    os.makedirs(out, exist_ok=True)
    documents = split_corpus(out)
    run("build_vocab.py", input_file=f"{out}/train.txt", output_file=f"{out}/vocab.txt", vocab_size=args.vocab_size)
    vocab_size = sum(1 for _ in open(f"{out}/vocab.txt", encoding="utf-8"))
    with open(f"{out}/bert_config.json", "w") as f:
        json.dump({**CONFIGS[args.model_type], "vocab_size": vocab_size}, f, indent=2)
    shape = dict(max_seq_length=128, max_predictions_per_seq=20)
    pairs = {"sentence_order": True} if args.model_type == "albert" else {}
    for name, dupe in (("train", 3), ("eval", 1)):
        run("create_pretraining_data.py", input_file=f"{out}/{name}.txt", output_file=f"{out}/{name}.tfrecord",
            vocab_file=f"{out}/vocab.txt", dupe_factor=dupe, **pairs, **shape)
    roberta = args.model_type == "roberta"
    # RoBERTa reads the text itself (dynamic masking, FULL-SENTENCES) and has no next-sentence head.
    def inputs(name):  # RoBERTa's one token type cannot read pairs: it is scored on its own packing of the text
        return dict(input_file=f"{out}/{name}.txt", dynamic_masking=True, full_sentences=True, next_sentence=False,
                    vocab_file=f"{out}/vocab.txt") if roberta else dict(input_file=f"{out}/{name}.tfrecord")

    start = time.time()
    run("run_pretraining.py", bert_config_file=f"{out}/bert_config.json", output_dir=f"{out}/run", do_train=True,
        train_batch_size=32, num_train_steps=args.steps, num_warmup_steps=args.steps // 10,
        learning_rate=args.learning_rate, save_checkpoints_steps=args.every,
        keep_checkpoint_max=args.steps // args.every + 1, iterations_per_loop=50, precision=args.precision,
        fast_dropout=args.fast_dropout, fused_optimizer=args.fused_optimizer, **inputs("train"), **shape)
    train_seconds = time.time() - start
    curve = {}
    for step in range(args.every, args.steps + 1, args.every):
        run("run_pretraining.py", bert_config_file=f"{out}/bert_config.json", output_dir=f"{out}/eval-{step}",
            init_checkpoint=f"{out}/run/ckpt-{step}", do_eval=True, eval_batch_size=32, max_eval_steps=50,
            precision=args.precision, **inputs("eval"), **shape)
        with open(f"{out}/eval-{step}/eval_results.txt") as f:
            curve[step] = {k: float(v) for k, v in (line.split(" = ") for line in f.read().splitlines())}
    baseline = unigram_baseline(f"{out}/eval.tfrecord", 128, 20)
    sst2 = fine_tune(out, f"{out}/bert_config.json", f"{out}/run/tf1", f"{out}/vocab.txt",
                     args.finetune_rows) if args.finetune_rows else None
    from bert_tf import checkpoint_files

    parameters = sum(v.size for v in checkpoint_files.load(f"{out}/run/tf1")[1].values())
    result = {"model_type": args.model_type, "parameters": int(parameters), "documents": documents,
              "vocab_size": vocab_size,
              "train_seconds": train_seconds, "unigram_baseline": baseline, "curve": curve,
              "sst2_dev_accuracy": sst2, "args": vars(args)}
    with open(f"{out}/curve.json", "w") as f:
        json.dump(result, f, indent=2)
    print(f"\n{args.model_type}: {parameters / 1e6:.2f}M parameters, held-out documents {documents['eval']}, vocab "
          f"{vocab_size}, training "
          f"{train_seconds / 60:.1f} min, unigram baseline {baseline:.3f}, SST-2 dev accuracy {sst2}")
    print("| step | held-out masked_lm_accuracy | masked_lm_loss | next_sentence_accuracy |\n|---|---|---|---|")
    for step, r in curve.items():
        sentence = f"{r['next_sentence_accuracy']:.3f}" if "next_sentence_accuracy" in r else "-"
        print(f"| {step} | {r['masked_lm_accuracy']:.3f} | {r['masked_lm_loss']:.3f} | {sentence} |")


if __name__ == "__main__":
    main()
