"""Shared test helpers: a tiny BERT whose sizes all differ (so swapped axes fail), random weights, inputs."""

import numpy as np

# The head of a script that imports the original google-research/bert code (pip bert-tensorflow) in its own
# process (its scripts define absl flags at import); bert.modeling imports contrib.layers, unused by the scripts.
ORIGINAL_IMPORTS = """
import json, sys, types
contrib = types.ModuleType("tensorflow.contrib")
contrib.layers = None
sys.modules["tensorflow.contrib"] = contrib
"""
VOCAB = 99  # B 13, S 7, H 32, N 4, D 8, I 37, V 99, P 3, T 2, positions 16: no two alike
BATCH, SEQ, PREDICTIONS = 13, 7, 3


def tiny_config(**overrides):
    from bert_tf.config import BertConfig

    values = dict(vocab_size=VOCAB, hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=37,
                  max_position_embeddings=16, type_vocab_size=2)
    return BertConfig(**{**values, **overrides})


def random_weights(config, with_heads=True, seed=0):
    """Canonical (TF1-named) weights with every tensor random, LayerNorm and biases included."""
    from bert_tf import checkpoints
    from bert_tf.modeling import BertEncoder, BertPretrainer

    model = (BertPretrainer if with_heads else BertEncoder)(config)
    rng = np.random.default_rng(seed)
    return {name: (value + rng.normal(0.0, 0.2, value.shape)).astype(np.float32)
            for name, value in checkpoints.get_weights(model).items()}


def tiny_inputs(seed=0, vocab=VOCAB):
    """A batch with padding in some rows, two segments and masked-LM positions (the last one padding)."""
    rng = np.random.default_rng(seed)
    input_ids = rng.integers(1, vocab, (BATCH, SEQ)).astype(np.int32)
    lengths = rng.integers(3, SEQ + 1, BATCH)
    input_mask = (np.arange(SEQ)[None] < lengths[:, None]).astype(np.int32)
    input_ids *= input_mask
    segment_ids = ((np.arange(SEQ)[None] >= (lengths[:, None] // 2)) * input_mask).astype(np.int32)
    positions = np.stack([rng.choice(np.arange(1, 3), 2, replace=False) for _ in range(BATCH)])
    return {
        "input_ids": input_ids,
        "input_mask": input_mask,
        "segment_ids": segment_ids,
        "masked_lm_positions": np.concatenate([np.sort(positions), np.zeros((BATCH, 1), int)], 1).astype(np.int32),
        "masked_lm_ids": rng.integers(1, vocab, (BATCH, PREDICTIONS)).astype(np.int32),
        "masked_lm_weights": np.tile(np.array([1.0, 1.0, 0.0], np.float32), (BATCH, 1)),
        "next_sentence_labels": rng.integers(0, 2, (BATCH, 1)).astype(np.int32),
    }


def write_vocab(path, tokens):
    path.write_text("".join(t + "\n" for t in tokens), encoding="utf-8")
    return str(path)

