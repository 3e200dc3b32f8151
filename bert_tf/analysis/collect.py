"""Running a model over packed sentences for analysis: batches, attention maps per sentence, per-example losses
and accuracy (with a head mask)."""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from bert_tf.analysis.attention import AttentionStatistics
from bert_tf.finetuning_data import read_text_pairs, text_pair_features

FEATURES = ("input_ids", "input_mask", "segment_ids")


def features_from_file(path, tokenizer, max_seq_length):
    """InputFeatures of a text file, one sentence (or "A ||| B" pair) per line; ValueError naming an empty file."""
    features = text_pair_features([p for p in read_text_pairs(path) if p[0]], max_seq_length, tokenizer)
    if not features:
        raise ValueError(f"{path}: no sentence (the file is empty or holds only blank lines)")
    return features


def batches(features, batch_size):
    """Dicts of int32 arrays (and `label_ids`), `batch_size` features at a time, in order."""
    for start in range(0, len(features), batch_size):
        chunk = features[start:start + batch_size]
        batch = {k: np.array([getattr(f, k) for f in chunk], np.int32) for k in FEATURES}
        batch["label_ids"] = np.array([f.label_id for f in chunk])
        yield batch


def _attention_fn(model):
    encoder = getattr(model, "encoder", model)
    return tf.function(lambda inputs: encoder(inputs, training=False, return_attention_probs=True)["attention_probs"])


def attention_statistics(model, features, batch_size=32):
    """AttentionStatistics of `model`'s encoder over every feature."""
    run, statistics = _attention_fn(model), AttentionStatistics()
    for start, batch in zip(range(0, len(features), batch_size), batches(features, batch_size), strict=False):
        probs = [p.numpy() for p in run({k: batch[k] for k in FEATURES})]  # L x [B, N, S, S]
        for row, feature in enumerate(features[start:start + batch_size]):
            statistics.add([p[row] for p in probs], feature.tokens, feature.segment_ids)
    return statistics


def sentence_attention(model, feature):
    """One feature's attention maps: one [N, T, T] per layer over its real tokens."""
    probs = _attention_fn(model)({k: np.array([getattr(feature, k)], np.int32) for k in FEATURES})
    count = len(feature.tokens)
    return [p.numpy()[0, :, :count, :count] for p in probs]


def class_losses(outputs, batch):
    """Per-example cross-entropy of a classifier's `logits` [B, C] against `label_ids` [B]."""
    labels = tf.cast(batch["label_ids"], tf.int32)
    return tf.nn.sparse_softmax_cross_entropy_with_logits(labels, outputs["logits"])


class Scorer:
    """A classifier's accuracy on features under head masks, traced once for every mask of the same shapes."""

    def __init__(self, model, features, batch_size=32):
        self.features, self.batches = features, list(batches(features, batch_size))
        self._logits = tf.function(lambda inputs, mask: model(inputs, training=False, head_mask=mask)["logits"])

    def accuracy(self, head_mask):
        """The accuracy with the heads gated by `head_mask` (one [N] array per layer; ones keep every head)."""
        mask = [tf.constant(m, tf.float32) for m in head_mask]
        correct = 0
        for batch in self.batches:
            logits = self._logits({k: batch[k] for k in FEATURES}, mask).numpy()
            correct += int((logits.argmax(-1) == batch["label_ids"]).sum())
        return correct / len(self.features)
