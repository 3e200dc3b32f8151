"""What one request to an exported SavedModel may be: limits that bound its memory, and ids checked before the
model sees them. Every signature checks its inputs in graph, so TF Serving answers a request beyond them with an
error (HTTP 400) naming the limit instead of exhausting the machine or answering garbage.

Limits (`Limits`, recorded in each SavedModel's `assets.extra/bert_tf_export.json`):
- `max_batch_size`: rows the model runs on per request: texts or id rows; for SQuAD the question-context windows
  (a context makes about one window per doc_stride word pieces) and at most as many questions.
- `max_text_bytes`: bytes of any one text (a text, question or context), checked before tokenization.
Ids: `input_ids` in [0, vocab_size), `segment_ids` in [0, type_vocab_size), `input_mask` 0 or 1 and of the
ids' shape, sequence length at most the export's (or the model's) maximum.
"""

from __future__ import annotations

import dataclasses

import tensorflow as tf

FEATURE_KEYS = ("input_ids", "input_mask", "segment_ids")


@dataclasses.dataclass(frozen=True)
class Limits:
    """Per-request limits of a SavedModel (see the module docstring); the defaults keep a request of BERT-Base at
    sequence length 128 within a few GB (README, "What bert_tf promises")."""

    max_batch_size: int = 256
    max_text_bytes: int = 100_000

    def __post_init__(self):
        for name in ("max_batch_size", "max_text_bytes"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")


DEFAULT_LIMITS = Limits()
# A raw-text request is padded to its longest row rounded up to a multiple of this, not to max_seq_length.
DEFAULT_LENGTH_MULTIPLE = 8


def _after(checks, tensors):
    """`tensors` (a dict) computed only once `checks` have passed: what follows never runs on a refused request."""
    with tf.control_dependencies(checks):
        return {k: tf.identity(v) for k, v in tensors.items()}


def _batch_check(rows, limits, what):
    return tf.debugging.assert_less_equal(
        tf.cast(rows, tf.int64), tf.constant(limits.max_batch_size, tf.int64),
        message=f"too many {what} in one request: this SavedModel takes at most {limits.max_batch_size} "
                "(max_batch_size); split the request")


def checked_texts(texts, limits):
    """{name: string [B]} -> the same, once every batch has at most max_batch_size texts and every text at most
    max_text_bytes bytes."""
    checks = []
    for name, text in texts.items():
        checks.append(_batch_check(tf.size(text), limits, f"texts ({name})"))
        checks.append(tf.debugging.assert_less_equal(
            tf.reduce_max(tf.strings.length(text)), limits.max_text_bytes,
            message=f"a {name} is longer than {limits.max_text_bytes} bytes (max_text_bytes)"))
    return _after(checks, texts)


def checked_windows(features, limits):
    """SQuAD's packed windows, once there are at most max_batch_size of them."""
    return _after([_batch_check(tf.shape(features["input_ids"])[0], limits,
                                "question-context windows (a long context makes many)")], features)


def checked_ids(features, limits, plan):
    """`input_ids`, `input_mask`, `segment_ids` [B, S] from a client, once they are what the model (`plan`: its
    EncoderPlan) was trained on: the mask and segments of the ids' shape, B <= max_batch_size, S <=
    max_position_embeddings, ids in the vocab, segments in [0, type_vocab_size), the mask 0/1. (A negative id, a
    segment beyond the table or a mask of another length would otherwise be answered as if valid.)"""
    ids, mask, segments = (features[k] for k in FEATURE_KEYS)
    shape = tf.shape(ids)
    types = max(plan.type_vocab_size, 1)

    def within(tensor, high, message):  # an empty batch passes: min and max of nothing are the extremes
        return [tf.debugging.assert_greater_equal(tf.reduce_min(tensor), 0, message=message),
                tf.debugging.assert_less(tf.reduce_max(tensor), high, message=message)]

    checks = [
        tf.debugging.assert_equal(tf.shape(mask), shape, message="input_mask must have the shape of input_ids [B, S]"),
        tf.debugging.assert_equal(tf.shape(segments), shape,
                                  message="segment_ids must have the shape of input_ids [B, S]"),
        _batch_check(shape[0], limits, "rows"),
        tf.debugging.assert_less_equal(shape[1], plan.max_position_embeddings, message=(
            f"sequences longer than {plan.max_position_embeddings} positions (max_position_embeddings)")),
        *within(ids, plan.vocab_size, f"input_ids must lie in [0, {plan.vocab_size}) (the vocab)"),
        *within(segments, types, f"segment_ids must lie in [0, {types}) (type_vocab_size)"),
        *within(mask, 2, "input_mask must be 0 or 1"),
    ]
    return _after(checks, {k: features[k] for k in FEATURE_KEYS})
