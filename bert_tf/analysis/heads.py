"""Head importance, masking and pruning ("Are sixteen heads really better than one?", Michel et al., 2019).

A head's gate xi_h multiplies its attention probabilities (1 keeps the head, 0 removes its context:
`BertEncoder(head_mask=...)`). Its importance is I_h = E_x |dL(x)/dxi_h| at xi = 1, over a dataset, each example's
gradient taken on its own (gates with a batch dimension give every example's in one backward pass), then
normalised per layer to unit L2 norm, as in the paper. Pruning removes heads for real: their rows and columns of
the query, key, value and output kernels go, and the config records them (`BertConfig.pruned_heads`, Hugging
Face's convention), so a pruned model saves, loads, converts and exports as any other.
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from bert_tf import checkpoints


def heads_per_run(model) -> list[int]:
    """N of each block run of the model's encoder, in run order (one per layer for BERT)."""
    return getattr(model, "encoder", model).heads_per_run()


def head_mask(model, removed=(), batch_size=None):
    """Gates for `model`'s heads: 1.0, and 0.0 at the (layer, head) pairs in `removed`. One [N] array per block
    run (or [B, N] with `batch_size`). ValueError naming a layer or head the model does not have."""
    heads = heads_per_run(model)
    gates = [np.ones(n, np.float32) for n in heads]
    for layer, head in removed:
        if not 0 <= layer < len(heads) or not 0 <= head < heads[layer]:
            raise ValueError(f"head ({layer}, {head}) does not exist: the model has {len(heads)} layers with "
                             f"{heads} heads")
        gates[layer][head] = 0.0
    if batch_size is not None:
        gates = [np.tile(g, (batch_size, 1)) for g in gates]
    return gates


def head_importance(model, batches, loss_fn, normalize=True):
    """I_h over `batches` (dicts of model inputs and labels): E_x |dL(x)/dxi_h|, [L, N] (NaN past a layer's heads).

    `loss_fn(outputs, batch)` returns the per-example losses [B]; `normalize` scales each layer to unit L2 norm.
    """
    heads = heads_per_run(model)
    totals, count = [np.zeros(n) for n in heads], 0

    @tf.function
    def gradients(inputs, batch, gates):
        with tf.GradientTape() as tape:
            tape.watch(gates)
            # Each example's loss depends on its own row of gates only: the gradient of their sum holds every
            # example's gradient, from one backward pass.
            total = tf.reduce_sum(loss_fn(model(inputs, training=False, head_mask=gates), batch))
        return tape.gradient(total, gates)

    for batch in batches:
        inputs = {k: batch[k] for k in model.input_features if k in batch}
        size = int(np.shape(batch["input_ids"])[0])
        gates = [tf.constant(g) for g in head_mask(model, batch_size=size)]
        for total, grad in zip(totals, gradients(inputs, batch, gates), strict=True):
            total += np.abs(grad.numpy()).sum(0)
        count += size
    importance = [total / count for total in totals]
    if normalize:
        importance = [i / np.linalg.norm(i) if np.linalg.norm(i) > 0 else i for i in importance]
    width = max(heads)
    return np.array([np.pad(i, (0, width - len(i)), constant_values=np.nan) for i in importance])


def pruning_order(importance, seed=None):
    """(layer, head) pairs, least important first; with `seed`, a random order instead (ties: layer, head)."""
    heads = [(i, j) for i in range(importance.shape[0]) for j in range(importance.shape[1])
             if not np.isnan(importance[i, j])]
    if seed is not None:
        return [heads[k] for k in np.random.default_rng(seed).permutation(len(heads))]
    return sorted(heads, key=lambda h: (importance[h], h))


def prune_heads(model, heads):
    """A new model of the same class without `heads` ({layer: [head, ...]}, numbered as the model's current
    heads), the remaining weights copied. The model must be built from a BertConfig (the pruned heads go into
    its `pruned_heads`, numbered as in the unpruned layer); every head of a layer may go (its attention then
    adds its output bias alone). Returns the new model."""
    config = model.config
    if not hasattr(config, "pruned_heads"):
        raise ValueError(f"pruning needs a model built from a BertConfig, not from a {type(config).__name__}")
    current = heads_per_run(model)
    original = _original_numbering(config)
    pruned = dict(config.pruned_heads)
    for layer, removed in heads.items():
        for head in removed:
            if not 0 <= layer < len(current) or not 0 <= head < current[layer]:
                raise ValueError(f"head ({layer}, {head}) does not exist: the model has {len(current)} layers with "
                                 f"{current} heads")
        pruned[layer] = tuple(sorted(set(pruned.get(layer, ())) | {original[layer][h] for h in removed}))
    values = model.get_config()  # the same class and arguments, with the pruned config
    values["config"] = config.replace(pruned_heads=pruned).to_dict()
    pruned_model = type(model).from_config(values)
    checkpoints.set_weights(pruned_model, _sliced(checkpoints.get_weights(model), heads, current, config.head_size),
                            source="the unpruned model")
    return pruned_model


def _original_numbering(config):
    """For each layer, the original number of each of its current heads."""
    pruned = dict(config.pruned_heads)
    return [[h for h in range(config.num_attention_heads) if h not in pruned.get(layer, ())]
            for layer in range(config.num_hidden_layers)]


def _sliced(weights, heads, current, size):
    """Canonical weights without the heads' columns of query/key/value and rows of the attention output."""
    out = dict(weights)
    for layer, removed in heads.items():
        keep = np.concatenate([np.arange(h * size, (h + 1) * size) for h in range(current[layer])
                               if h not in set(removed)] or [np.zeros(0, int)])
        scope = f"bert/encoder/layer_{layer}/attention/"
        for name in ("query", "key", "value"):
            out[f"{scope}self/{name}/kernel"] = weights[f"{scope}self/{name}/kernel"][:, keep]
            out[f"{scope}self/{name}/bias"] = weights[f"{scope}self/{name}/bias"][keep]
            if not keep.size:
                del out[f"{scope}self/{name}/kernel"], out[f"{scope}self/{name}/bias"]
        out[f"{scope}output/dense/kernel"] = weights[f"{scope}output/dense/kernel"][keep]
    return out
