"""Attention against gradients ("Attention is not explanation", Jain and Wallace, 2019).

Per example: how the last layer's attention from [CLS] (averaged over its heads) ranks the input tokens, against how
a gradient ranks them: the L2 norm of the gradient of the predicted class's logit with respect to each token's word
embedding. Their agreement is Kendall's tau over the example's real tokens.
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf
from scipy import stats

from bert_tf.modeling import recording_tied_reads


def token_scores(model, inputs):
    """(attention [B, S], gradient [B, S]) for a classifier's batch `inputs`: the last layer's [CLS] row averaged
    over heads, and |d logit(predicted class) / d word embedding| per position."""
    with tf.GradientTape() as tape, recording_tied_reads() as reads:
        outputs = model(inputs, training=False, return_attention_probs=True)
        logits = outputs["logits"]  # [B, C]
        predicted = tf.reduce_sum(tf.reduce_max(logits, axis=-1))  # each example's own predicted logit
    lookup = reads["word_embedding_lookup"]  # [B, S, E]
    gradient = tf.norm(tape.gradient(predicted, lookup), axis=-1)  # [B, S]
    attention = tf.reduce_mean(outputs["attention_probs"][-1][:, :, 0, :], axis=1)  # [B, S]: from [CLS]
    return attention.numpy(), gradient.numpy()


def kendall_taus(model, batches):
    """Kendall's tau between the attention and gradient scores of each example's real tokens, in order."""
    taus = []
    for batch in batches:
        inputs = {k: batch[k] for k in model.input_features if k in batch}
        attention, gradient = token_scores(model, inputs)
        for row, mask in enumerate(np.asarray(batch["input_mask"], bool)):
            taus.append(float(stats.kendalltau(attention[row, mask], gradient[row, mask]).statistic))
    return np.array(taus)


def summary(taus) -> dict:
    """The distribution of the taus: count, mean, standard deviation and quantiles."""
    taus = np.asarray(taus, np.float64)
    quantiles = np.quantile(taus, [0.0, 0.1, 0.25, 0.5, 0.75, 0.9, 1.0])
    return {"examples": int(taus.size), "mean": float(taus.mean()), "std": float(taus.std()),
            **{f"q{int(q * 100)}": float(v) for q, v in zip((0.0, 0.1, 0.25, 0.5, 0.75, 0.9, 1.0), quantiles,
                                                            strict=True)}}
