"""Figures of attention analysis as PNG files (matplotlib, no display needed): one sentence's attention maps, layer x
head heatmaps of a statistic or of head importance, pruning curves and distributions."""

from __future__ import annotations

import os

import numpy as np


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig, path):
    from bert_tf.files import atomic_path

    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with atomic_path(path) as temp:
        fig.savefig(temp, dpi=110, bbox_inches="tight", format="png")
    _pyplot().close(fig)
    return path


def attention_maps(probs, tokens, path, title):
    """A layer x head grid of one sentence's maps: `probs` one [N, S, S] per layer; `tokens` its word pieces."""
    plt = _pyplot()
    count, layers, heads = len(tokens), len(probs), max(len(p) for p in probs)
    fig, axes = plt.subplots(layers, heads, figsize=(1.6 * heads + 1, 1.6 * layers + 1.2), squeeze=False)
    for i, layer in enumerate(probs):
        for j in range(heads):
            ax = axes[i][j]
            ax.set_xticks([])
            ax.set_yticks([])
            if j < len(layer):
                ax.imshow(np.asarray(layer[j])[:count, :count], cmap="viridis", vmin=0.0, vmax=1.0)
            if i == layers - 1:
                ax.set_xlabel(f"head {j}", fontsize=8)
            if j == 0:
                ax.set_ylabel(f"layer {i}", fontsize=8)
    fig.suptitle(f"{title}\nrows: queries, columns: keys ({count} tokens: {' '.join(tokens[:12])}"
                 f"{' ...' if count > 12 else ''}); colour: attention probability 0..1", fontsize=9)
    return _save(fig, path)


def head_heatmap(values, path, title, label):
    """A layer x head heatmap of [L, N] `values` (NaN: no such head), each cell annotated."""
    plt = _pyplot()
    values = np.asarray(values, np.float64)
    fig, ax = plt.subplots(figsize=(0.55 * values.shape[1] + 2.5, 0.45 * values.shape[0] + 1.6))
    image = ax.imshow(np.ma.masked_invalid(values), cmap="viridis", aspect="auto")
    for (i, j), value in np.ndenumerate(values):
        if not np.isnan(value):
            ax.text(j, i, f"{value:.2f}", ha="center", va="center", fontsize=6, color="white")
    ax.set_xticks(range(values.shape[1]))
    ax.set_yticks(range(values.shape[0]))
    ax.set_xlabel("head")
    ax.set_ylabel("layer")
    ax.set_title(title, fontsize=9)
    fig.colorbar(image, ax=ax, label=label)
    return _save(fig, path)


def curves(x, series, path, title, xlabel, ylabel):
    """Lines of `series` {name: (y, spread or None)} over `x`, the spread drawn as a band."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    for name, (y, spread) in series.items():
        (line,) = ax.plot(x, y, marker="o", label=name)
        if spread is not None:
            ax.fill_between(x, np.asarray(y) - spread, np.asarray(y) + spread, alpha=0.2, color=line.get_color())
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title, fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend()
    return _save(fig, path)


def histogram(values, path, title, xlabel):
    """A histogram of `values` with its mean marked."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6.4, 4.0))
    ax.hist(values, bins=30, color="tab:blue", alpha=0.8)
    ax.axvline(float(np.mean(values)), color="black", linestyle="--", label=f"mean {np.mean(values):.3f}")
    ax.set_xlabel(xlabel)
    ax.set_ylabel("examples")
    ax.set_title(title, fontsize=10)
    ax.legend()
    return _save(fig, path)
