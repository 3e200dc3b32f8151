"""Shared test helpers: a tiny BERT whose sizes all differ (so swapped axes fail), random weights, inputs."""

import math
import os
import pathlib

import numpy as np

# The head of a script that imports the original google-research/bert code (pip bert-tensorflow) in its own
# process (its scripts define absl flags at import); bert.modeling imports contrib.layers, unused by the scripts.
ORIGINAL_IMPORTS = """
import json, sys, types
contrib = types.ModuleType("tensorflow.contrib")
contrib.layers = None
sys.modules["tensorflow.contrib"] = contrib
"""
# The real data of the slow tests (README, "Data for benchmarks and slow tests"): one setting, BERT_TF_DATA; by
# default the `shared/data` folder beside the checkout.
DATA = pathlib.Path(os.environ.get("BERT_TF_DATA", pathlib.Path(__file__).resolve().parents[2] / "shared" / "data"))
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


def pieces_vocab(original_tokenization, texts, specials, path):
    """A vocab holding pieces of every text, as the original BasicTokenizer splits it (cased and uncased): every
    other word whole, 3-char prefixes and every ##char, so that few pieces become [UNK]."""
    tokens = dict.fromkeys(specials)
    for lower in (True, False):
        basic = original_tokenization.BasicTokenizer(do_lower_case=lower)
        for index, word in enumerate(t for text in texts for t in basic.tokenize(text)):
            if index % 2 == 0:
                tokens[word] = None
            tokens[word[:3]] = None
            tokens.update(dict.fromkeys("##" + char for char in word))
    tokens.pop("", None)
    # A lone surrogate cannot be written as UTF-8, so no vocab file can hold it.
    return write_vocab(path, [t for t in tokens if not any(0xD800 <= ord(c) <= 0xDFFF for c in t)])



def numpy_encoder(w, plan, inputs):
    """The encoder's forward pass written out in NumPy (float64) from canonical weights: the original's (the
    docs/ORIGINAL.md §1.2-1.3 formulas) for a BertConfig's plan; a plan's shared blocks, embedding projection and
    norm_first as EncoderPlan documents them. Returns (per-depth outputs, pooled output)."""
    def ln(x, name):
        mean, var = x.mean(-1, keepdims=True), x.var(-1, keepdims=True)
        return (x - mean) / np.sqrt(var + plan.layer_norm_epsilon) * w[f"{name}/gamma"] + w[f"{name}/beta"]

    def dense(x, name):
        return x @ w[f"{name}/kernel"] + w[f"{name}/bias"]

    def gelu(x):
        return 0.5 * x * (1 + np.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x**3)))

    def post(x, residual, name):
        return x + residual if plan.norm_first else ln(x + residual, name)

    def pre(x, name):
        return ln(x, name) if plan.norm_first else x

    w = {k: v.astype(np.float64) for k, v in w.items()}
    ids, mask, seg = inputs["input_ids"], inputs["input_mask"], inputs["segment_ids"]
    b, s = ids.shape
    x = w["bert/embeddings/word_embeddings"][ids] + w["bert/embeddings/token_type_embeddings"][seg]
    x = ln(x + w["bert/embeddings/position_embeddings"][:s], "bert/embeddings/LayerNorm")
    if plan.embedding_size != plan.hidden_size:
        x = dense(x, "bert/encoder/embedding_hidden_mapping_in")
    adder = (1.0 - mask[:, None, None, :]) * -10000.0
    layers = []
    for depth in plan.depths:
        for index in depth:
            n, d = plan.blocks[index].num_attention_heads, plan.blocks[index].attention_head_size
            p = f"bert/encoder/layer_{index}"
            h = pre(x, f"{p}/attention/output/LayerNorm")
            q, k, v = (dense(h, f"{p}/attention/self/{t}").reshape(b, s, n, d).transpose(0, 2, 1, 3)
                       for t in ("query", "key", "value"))
            scores = q @ k.transpose(0, 1, 3, 2) / math.sqrt(d) + adder
            probs = np.exp(scores - scores.max(-1, keepdims=True))
            probs /= probs.sum(-1, keepdims=True)
            context = (probs @ v).transpose(0, 2, 1, 3).reshape(b, s, n * d)
            attended = post(dense(context, f"{p}/attention/output/dense"), x, f"{p}/attention/output/LayerNorm")
            inner = gelu(dense(pre(attended, f"{p}/output/LayerNorm"), f"{p}/intermediate/dense"))
            x = post(dense(inner, f"{p}/output/dense"), attended, f"{p}/output/LayerNorm")
        layers.append(x)
    last = ln(x, "bert/encoder/LayerNorm") if plan.norm_first else x
    pooled = np.tanh(dense(last[:, 0], "bert/pooler/dense"))
    return layers, pooled
