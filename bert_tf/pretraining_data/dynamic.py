"""Dynamic masking (RoBERTa-style): sequences are built once, masks are drawn anew each epoch in TF ops.

`unmasked_sequences` builds the sequences from text in Python: with next-sentence prediction, the original's pairs
([CLS] A [SEP] B [SEP], same random-next rules, docs/ORIGINAL.md §2.2-2.3); without, runs of whole segments of one
document ([CLS] X [SEP]). `dynamic_pretraining_dataset` then masks in the tf.data pipeline and yields the static path's
feature dict, so the model cannot tell the two apart. Masking follows docs/ORIGINAL.md §2.4: [CLS]/[SEP]/padding are
never picked, num_to_predict = min(max_predictions, max(1, round_half_even(len * masked_lm_prob))), each picked piece is
80% [MASK] / 10% kept / 10% a uniform vocab id. Whole-word masking takes whole words in random order while they fit (the
original also tries later, shorter words after one overshoots; here the first overshoot ends the pick, so a sequence may
get a few predictions fewer). Deterministic for a seed; each epoch differs.
"""

from __future__ import annotations

import random

import numpy as np
import tensorflow as tf

from bert_tf.pretraining_data import columns
from bert_tf.pretraining_data import documents as documents_lib
from bert_tf.pretraining_data import instances as instances_lib
from bert_tf.pretraining_data.creation import subword_table


def unmasked_sequences(input_files, tokenizer, max_seq_length, next_sentence=True, seed=12345, dupe_factor=1,
                       short_seq_prob=0.1, full_sentences=False, sentence_order=False):
    """Text files -> padded unmasked sequences: name -> array [N, ...] (the feature names, plus `is_subword`).

    full_sentences (without next_sentence): RoBERTa's FULL-SENTENCES packing, whole segments run on across
    document boundaries, a [SEP] between documents.
    sentence_order (with next_sentence): ALBERT's sentence-order pairs instead of next-sentence pairs.
    A cousin's tokenizer brings its special tokens (RoBERTa: `<s> x </s>`, `</s>` between documents) and its
    word marks for whole-word masking (`creation.subword_table`).

    Raises:
      ValueError: as `read_documents`, or when the files hold no document.
    """
    config = instances_lib.PretrainingDataConfig(
        max_seq_length=max_seq_length, max_predictions_per_seq=max_seq_length - 3, random_seed=seed,
        dupe_factor=dupe_factor, short_seq_prob=short_seq_prob, sentence_order=sentence_order)
    rng = random.Random(seed)
    corpus = documents_lib.read_documents(input_files, tokenizer, rng)
    if not corpus.documents:
        raise ValueError(f"no documents in {list(input_files)}")
    tokens = np.asarray(corpus.tokens, np.int64)
    vocab_info = instances_lib.VocabInfo.of_tokenizer(tokenizer)
    if next_sentence:
        pairs = instances_lib.create_instances(corpus.documents, config, None, rng)
        features = columns.feature_columns(columns.instance_arrays(pairs), pairs.order, tokens, max_seq_length, 1,
                                           vocab_info)
    elif full_sentences:
        features = _padded_sequences(_full_sentences(corpus.documents, tokens, max_seq_length - 2,
                                                     vocab_info.sep_id), max_seq_length, vocab_info)
    else:
        features = _single_segment_features(corpus.documents, tokens, max_seq_length, vocab_info)
    is_subword = subword_table(tokenizer)
    return {
        "input_ids": features["input_ids"].astype(np.int32),
        "input_mask": features["input_mask"].astype(np.int32),
        "segment_ids": features["segment_ids"].astype(np.int32),
        "next_sentence_labels": features["next_sentence_labels"].astype(np.int32),
        "is_subword": is_subword[features["input_ids"]] & (features["input_mask"] == 1),
    }


def _single_segment_features(documents, tokens, max_seq_length, vocab_info):
    """[CLS] X [SEP] where X is as many whole consecutive segments of one document as fit (a longer segment
    alone is cut to fit): the no-NSP sequences."""
    limit = max_seq_length - 2
    spans = []
    for bounds in documents:
        start = bounds[0]
        for i in range(1, len(bounds)):
            if bounds[i] - start > limit and bounds[i - 1] > start:
                spans.append((start, bounds[i - 1]))
                start = bounds[i - 1]
            while bounds[i] - start > limit:
                spans.append((start, start + limit))
                start += limit
        if bounds[-1] > start:
            spans.append((start, bounds[-1]))
    spans = np.asarray(spans, np.int64).reshape(-1, 2)
    length = spans[:, 1] - spans[:, 0]
    column = np.arange(max_seq_length)[None, :]
    inside = (column >= 1) & (column <= length[:, None])
    input_ids = np.where(inside, tokens[np.where(inside, spans[:, :1] + column - 1, 0)], 0)
    input_ids[:, 0] = vocab_info.cls_id
    input_ids[np.arange(len(spans)), length + 1] = vocab_info.sep_id
    return {"input_ids": input_ids, "input_mask": (column < (length + 2)[:, None]).astype(np.int64),
            "segment_ids": np.zeros_like(input_ids), "next_sentence_labels": np.zeros((len(spans), 1), np.int64)}


def _full_sentences(documents, tokens, limit, sep_id):
    """RoBERTa's FULL-SENTENCES (Liu et al., 2019, §4.2): sequences of up to `limit` ids packed with whole segments
    in corpus order, crossing document boundaries with `sep_id` between two documents; a segment longer than
    `limit` is cut. No sequence starts with the separator."""
    sequences, current = [], []
    for bounds in documents:
        separated = bool(current)  # this document starts inside the sequence being packed
        for i in range(len(bounds) - 1):
            segment = tokens[bounds[i]:bounds[i + 1]].tolist()
            if separated:
                segment, separated = [sep_id, *segment], False
            if current and len(current) + len(segment) > limit:
                sequences.append(current)
                current = segment[1:] if segment[0] == sep_id else segment
            else:
                current += segment
            while len(current) > limit:
                sequences.append(current[:limit])
                current = current[limit:]
    if current:
        sequences.append(current)
    return sequences


def _padded_sequences(sequences, max_seq_length, vocab_info):
    """[CLS] x [SEP] of each id list x, zero-padded: the no-NSP feature arrays."""
    input_ids = np.zeros((len(sequences), max_seq_length), np.int64)
    for row, ids in zip(input_ids, sequences, strict=True):
        row[:len(ids) + 2] = [vocab_info.cls_id, *ids, vocab_info.sep_id]
    input_mask = (np.arange(max_seq_length)[None] < np.array([len(x) + 2 for x in sequences])[:, None])
    return {"input_ids": input_ids, "input_mask": input_mask.astype(np.int64), "segment_ids": np.zeros_like(input_ids),
            "next_sentence_labels": np.zeros((len(sequences), 1), np.int64)}


def mask_sequence(features, seed, max_predictions_per_seq, masked_lm_prob, vocab_size, mask_id,
                  whole_word_mask=False):
    """Draws the masked-LM predictions of one unmasked sequence with stateless TF ops seeded by `seed` [2]."""
    input_ids, input_mask = features["input_ids"], features["input_mask"]
    length = tf.shape(input_ids)[0]
    positions = tf.range(length)
    num_tokens = tf.reduce_sum(input_mask)
    # [CLS] is position 0, the last [SEP] is the last real token, the one between A and B ends segment 0.
    segment_end = tf.concat([features["segment_ids"][1:] != features["segment_ids"][:-1], [True]], 0)
    candidate = (positions > 0) & (positions < num_tokens - 1) & ~segment_end
    starts_word = candidate & ~features["is_subword"] if whole_word_mask else candidate
    starts_word |= candidate & (tf.cumsum(tf.cast(candidate, tf.int32)) == 1)  # a leading "##" starts a word
    num_to_predict = tf.minimum(max_predictions_per_seq, tf.maximum(1, tf.cast(
        tf.round(tf.cast(num_tokens, tf.float64) * masked_lm_prob), tf.int32)))  # tf.round is half-to-even
    seeds = tf.random.experimental.stateless_split(seed, 4)
    picked = _pick_whole_words(candidate, starts_word, num_to_predict, seeds[0])
    draw = tf.random.stateless_uniform([length], seeds[1])
    keep = tf.random.stateless_uniform([length], seeds[2]) < 0.5
    random_ids = tf.random.stateless_uniform([length], seeds[3], maxval=vocab_size, dtype=tf.int32)
    replacement = tf.where(draw < 0.8, mask_id, tf.where(keep, input_ids, random_ids))
    masked_positions = tf.cast(tf.where(picked)[:, 0], tf.int32)  # ascending
    count = tf.shape(masked_positions)[0]
    width = max_predictions_per_seq
    return {
        "input_ids": tf.where(picked, replacement, input_ids),
        "input_mask": input_mask,
        "segment_ids": features["segment_ids"],
        "masked_lm_positions": _padded(masked_positions, width),
        "masked_lm_ids": _padded(tf.gather(input_ids, masked_positions), width),
        "masked_lm_weights": _padded(tf.ones([count], tf.float32), width),
        "next_sentence_labels": features["next_sentence_labels"],
    }


def _padded(values, width):
    """`values` zero-padded to `width`, with the static shape [width] the static reader's records have.

    The pad amount depends on the data, so tf.pad alone leaves the shape [None]; pinning it gives the dynamic
    dataset the static reader's element_spec (fixed shapes, as TPU/XLA and a traced train step expect).
    """
    return tf.ensure_shape(tf.pad(values, [[0, width - tf.shape(values)[0]]]), [width])


def _pick_whole_words(candidate, starts_word, num_to_predict, seed):
    """Marks whole words, taken in a random order while the picked pieces stay within `num_to_predict`."""
    length = tf.shape(candidate)[0]
    positions = tf.range(length)
    word = tf.cumsum(tf.cast(starts_word, tf.int32)) - 1  # word index of each candidate
    word_rank = tf.argsort(tf.argsort(tf.random.stateless_uniform([length], seed)))
    # Sort key: the word's random rank, then the position: words in random order, each kept together.
    key = tf.where(candidate, tf.gather(word_rank, tf.maximum(word, 0)) * length + positions, length * length)
    order = tf.argsort(key, stable=True)
    ordered_candidate = tf.gather(candidate, order)
    taken_before = tf.cumsum(tf.cast(ordered_candidate, tf.int32))
    # A word is picked when the count up to its last piece fits; counts grow along the order, so the picked
    # words are a prefix of it (non-candidates, sorted last, go to an extra segment).
    ordered_word = tf.where(ordered_candidate, tf.gather(word, order), length)
    word_end_count = tf.math.unsorted_segment_max(taken_before, ordered_word, length + 1)
    picked_ordered = ordered_candidate & (tf.gather(word_end_count, ordered_word) <= num_to_predict)
    return tf.scatter_nd(order[:, None], picked_ordered, [length])


def dynamic_pretraining_dataset(sequences, batch_size, max_predictions_per_seq, vocab_size, mask_id,
                                masked_lm_prob=0.15, whole_word_mask=False, seed=0, is_training=True,
                                input_context=None, repeat=True, drop_remainder=True):
    """Unmasked sequences (from `unmasked_sequences`) -> batches of the static path's feature dict, with masks
    drawn anew every epoch; the same `seed` gives the same batches.

    Args:
      sequences: name -> array [N, ...] as `unmasked_sequences` returns.
      batch_size: the global batch; with `input_context` each pipeline yields its per-replica share of
        its shard of the sequences.
      vocab_size, mask_id: the random-replacement range and the [MASK] id.
      is_training: reshuffle the sequences every epoch.
    """
    data = tf.data.Dataset.from_tensor_slices(dict(sequences))
    if input_context is not None:
        batch_size = input_context.get_per_replica_batch_size(batch_size)
        data = data.shard(input_context.num_input_pipelines, input_context.input_pipeline_id)
    if is_training:
        data = data.shuffle(len(sequences["input_ids"]), seed=seed, reshuffle_each_iteration=True)
    if repeat:
        data = data.repeat()
    # One stateless seed pair per element, from a seeded stream that runs on across epochs.
    data = tf.data.Dataset.zip(data, tf.data.Dataset.random(seed=seed).batch(2))
    data = data.map(lambda features, element_seed: mask_sequence(
        features, element_seed, max_predictions_per_seq, masked_lm_prob, vocab_size, mask_id, whole_word_mask),
        num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    return data.batch(batch_size, drop_remainder=drop_remainder).prefetch(tf.data.AUTOTUNE)
