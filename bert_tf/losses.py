"""Pretraining losses and eval metrics, exactly the original `run_pretraining.py`'s (spec §3.1-3.2).

Shape legend: B batch, P predictions, V vocab.

Losses are written as sums over the local batch divided by totals over the global batch (`weight_total`,
`batch_total`), so that the per-replica losses of any strategy (and the micro-batches of gradient accumulation)
add up to the original's loss on the whole batch, and their gradients add up to its gradient.
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from bert_tf.config import write_text_atomic

MLM_DENOMINATOR_EPSILON = 1e-5  # the original: sum(w * loss) / (sum(w) + 1e-5)

# Per-batch sums from which every metric is computed; summing them over replicas and batches is exact.
METRIC_SUMS = ("loss", "masked_lm_loss", "next_sentence_loss", "masked_lm_correct", "masked_lm_weight",
               "masked_lm_nll", "next_sentence_correct", "next_sentence_count", "next_sentence_nll")


@tf.custom_gradient
def _label_nll(logits, labels):
    """-log_softmax(logits)[label] per row: [N, V], [N] -> [N]; the gradient written out (bit for bit autodiff's).

    Gathering the label's log-probability equals the original's -sum(one_hot * log_probs) bit for bit. Autodiff
    would scatter the upstream gradient into a dense [N, V] zero tensor, then take LogSoftmax's gradient
    g - sum(g) * exp(log_probs): four passes over [N, V] (vocabulary-sized: the largest tensors of a step). With
    one non-zero per row, sum(g) is exactly -u, so the same values are u * exp(log_probs), less u at the label.
    """
    log_probs = tf.nn.log_softmax(logits, axis=-1)  # [N, V]

    def gradient(upstream):  # [N]
        labelled = tf.stack([tf.range(tf.shape(labels)[0]), labels], axis=1)  # [N, 2]
        return tf.tensor_scatter_nd_sub(upstream[:, None] * tf.exp(log_probs), labelled, upstream), None

    return -tf.gather(log_probs, labels, batch_dims=1), gradient


def masked_lm_nll(masked_lm_logits, masked_lm_ids):
    """-log p(label) per prediction, flattened as the original: [B, P, V], [B, P] -> [B * P]."""
    vocab_size = tf.shape(masked_lm_logits)[-1]
    logits = tf.reshape(masked_lm_logits, [-1, vocab_size])  # [B * P, V]
    return _label_nll(logits, tf.cast(tf.reshape(masked_lm_ids, [-1]), tf.int32))  # [B * P]


def next_sentence_nll(next_sentence_logits, next_sentence_labels):
    """-log p(label) per example: [B, 2], [B, 1] -> [B] (label 1 = random next sentence)."""
    log_probs = tf.nn.log_softmax(next_sentence_logits, axis=-1)  # [B, 2]
    return -tf.gather(log_probs, tf.reshape(next_sentence_labels, [-1]), batch_dims=1)  # [B]


def pretraining_sums(outputs, features, next_sentence=True, weight_total=None, batch_total=None):
    """The losses of one (local part of a) batch, and the sums the eval metrics need.

    Args:
      outputs: the BertPretrainer's outputs (`masked_lm_logits` [B, P, V], `next_sentence_logits` [B, 2]).
      features: the batch's feature dict (original names).
      next_sentence: whether the next-sentence loss is part of the total.
      weight_total: sum of `masked_lm_weights` over the global batch (default: this batch's).
      batch_total: number of examples in the global batch (default: this batch's).

    Returns:
      A dict of float32 scalars keyed by METRIC_SUMS: `loss` = `masked_lm_loss` + `next_sentence_loss`
      (the original's total_loss when the totals are this batch's), the weighted count of correct masked-LM
      argmaxes, the weight sum, the weighted sum of masked-LM -log p, and the next-sentence counterparts.
    """
    weights = tf.reshape(tf.cast(features["masked_lm_weights"], tf.float32), [-1])  # [B * P]
    logits = outputs["masked_lm_logits"]
    nll = masked_lm_nll(logits, features["masked_lm_ids"])  # [B * P]
    weight_sum = tf.reduce_sum(weights)
    weight_total = weight_sum if weight_total is None else weight_total
    mlm_nll = tf.reduce_sum(weights * nll)
    ids = tf.reshape(tf.cast(features["masked_lm_ids"], tf.int32), [-1])
    mlm_hits = tf.cast(tf.equal(tf.argmax(tf.reshape(logits, [tf.size(ids), -1]), -1, output_type=tf.int32), ids),
                       tf.float32)
    sums = {"masked_lm_loss": mlm_nll / (weight_total + MLM_DENOMINATOR_EPSILON),
            "masked_lm_correct": tf.reduce_sum(weights * mlm_hits), "masked_lm_weight": weight_sum,
            "masked_lm_nll": mlm_nll}
    labels = tf.reshape(tf.cast(features["next_sentence_labels"], tf.int32), [-1])  # [B]
    count = tf.cast(tf.size(labels), tf.float32)
    batch_total = count if batch_total is None else tf.cast(batch_total, tf.float32)
    nsp_nll = next_sentence_nll(outputs["next_sentence_logits"], labels)  # [B]
    nsp_hits = tf.equal(tf.argmax(outputs["next_sentence_logits"], -1, output_type=tf.int32), labels)
    sums.update(next_sentence_nll=tf.reduce_sum(nsp_nll), next_sentence_count=count,
                next_sentence_correct=tf.reduce_sum(tf.cast(nsp_hits, tf.float32)))
    sums["next_sentence_loss"] = sums["next_sentence_nll"] / batch_total
    sums["loss"] = sums["masked_lm_loss"] + (sums["next_sentence_loss"] if next_sentence else 0.0)
    return sums


def metrics_from_sums(sums, num_batches, next_sentence=True):
    """Sums over batches (as `pretraining_sums` returns them, summed) -> the original's eval metrics.

    As the original's `tf.metrics`: masked-LM accuracy and loss are means weighted by `masked_lm_weights` (the
    loss without the +1e-5), next-sentence ones plain means over examples, `loss` the mean batch total loss.
    """
    sums = {k: float(v) for k, v in sums.items()}
    results = {
        "loss": sums["loss"] / num_batches,
        "masked_lm_accuracy": sums["masked_lm_correct"] / sums["masked_lm_weight"],
        "masked_lm_loss": sums["masked_lm_nll"] / sums["masked_lm_weight"],
    }
    if next_sentence:
        results["next_sentence_accuracy"] = sums["next_sentence_correct"] / sums["next_sentence_count"]
        results["next_sentence_loss"] = sums["next_sentence_nll"] / sums["next_sentence_count"]
    return results


def format_eval_results(results):
    """The original's `eval_results.txt`: "key = value" lines sorted by key, float32 values as numpy prints them."""
    def text(value):
        return str(value) if isinstance(value, (int, np.integer)) else str(np.float32(value))

    return "".join(f"{key} = {text(results[key])}\n" for key in sorted(results))


def write_eval_results(path, results):
    """Writes `format_eval_results(results)` to `path` (temporary file + rename)."""
    write_text_atomic(path, format_eval_results(results))
