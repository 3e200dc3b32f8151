"""Instances (spans into the corpus + masked-LM draws) -> the padded feature arrays of the records
(docs/ORIGINAL.md §2.5).

NumPy only: one vectorised pass per batch of records, no per-token Python.
"""

from __future__ import annotations

import numpy as np


def instance_arrays(instances):
    """The columns of an `instances.Instances` as NumPy arrays (converted once, then sliced per chunk)."""
    counts = np.asarray(instances.mask_counts, np.int64)
    return {
        "spans": np.asarray(instances.spans, np.int64).reshape(-1, 5),
        "mask_counts": counts,
        "mask_offsets": np.cumsum(counts) - counts,
        "mask_positions": np.asarray(instances.mask_positions, np.int64),
        "mask_values": np.asarray(instances.mask_values, np.int64),
    }


def feature_columns(arrays, indices, tokens, max_seq_length, max_predictions_per_seq, vocab_info):
    """The padded feature arrays of the instances numbered `indices`, in that order (docs/ORIGINAL.md §2.5).

    Args:
      arrays: `instance_arrays(instances)`.
      indices: creation indices of the instances wanted (e.g. a slice of `instances.order`).
      tokens: the corpus' flat token array (NumPy int array).
      max_seq_length, max_predictions_per_seq: the record widths.
      vocab_info: an `instances.VocabInfo`.

    Returns:
      name -> array [len(indices), width] for every name in FEATURES (int64; masked_lm_weights float32).
    """
    indices = np.asarray(indices, np.int64)
    spans = arrays["spans"][indices]
    len_a, len_b = spans[:, 1] - spans[:, 0], spans[:, 3] - spans[:, 2]
    column = np.arange(max_seq_length)[None, :]
    num_tokens = (len_a + len_b + 3)[:, None]
    features = {
        "input_ids": _unmasked_ids(spans, tokens, column, vocab_info),
        "input_mask": (column < num_tokens).astype(np.int64),
        "segment_ids": ((column >= len_a[:, None] + 2) & (column < num_tokens)).astype(np.int64),
        # quirk (docs/ORIGINAL.md §2.2): 1 means B is random, 0 actual next
        "next_sentence_labels": spans[:, 4:5].copy(),
    }
    features.update(_masked_lm_columns(arrays, indices, features["input_ids"], max_predictions_per_seq))
    return features


def _unmasked_ids(spans, tokens, column, vocab_info):
    """[CLS] tokens[a_start:a_end] [SEP] tokens[b_start:b_end] [SEP], zero-padded, one row per span."""
    a_start, len_a, b_start = spans[:, 0], spans[:, 1] - spans[:, 0], spans[:, 2]
    len_b = spans[:, 3] - b_start
    # Column c holds tokens[a_start + c - 1] in A and tokens[b_start + c - len_a - 2] in B; [CLS], [SEP] and
    # padding are out of both and set below.
    in_b = column > len_a[:, None]
    source = column + np.where(in_b, (b_start - len_a - 2)[:, None], (a_start - 1)[:, None])
    rows = np.arange(len(spans))
    input_ids = np.take(tokens, source, mode="clip")
    input_ids[column >= (len_a + len_b + 2)[:, None]] = 0
    input_ids[:, 0] = vocab_info.cls_id
    input_ids[rows, len_a + 1] = vocab_info.sep_id
    input_ids[rows, len_a + len_b + 2] = vocab_info.sep_id
    return input_ids


def _masked_lm_columns(arrays, indices, input_ids, max_predictions_per_seq):
    """The masked-LM arrays of the chosen instances (sorted by position); applies their draws to `input_ids`."""
    chosen = arrays["mask_counts"][indices]
    chosen_starts = np.cumsum(chosen) - chosen
    flat = np.repeat(arrays["mask_offsets"][indices] - chosen_starts, chosen) + np.arange(int(chosen.sum()))
    row = np.repeat(np.arange(len(indices)), chosen)
    # Sorted by position within each row: a row's positions are distinct, so laying the draws out on the
    # [row, position] grid and reading it back in row-major order sorts them (cheaper than a sort).
    width = input_ids.shape[1]
    value_grid = np.full(input_ids.size, -2, np.int32)  # -2: not predicted; -1: kept; else the id written
    value_grid[row * width + arrays["mask_positions"][flat]] = arrays["mask_values"][flat]
    cells = np.flatnonzero(value_grid != -2)
    row, positions, values = cells // width, cells % width, value_grid[cells]
    slots = row * max_predictions_per_seq + np.arange(len(row)) - np.repeat(chosen_starts, chosen)
    shape = (len(indices), max_predictions_per_seq)
    masked_lm_positions = np.zeros(shape, np.int64)
    masked_lm_ids = np.zeros(shape, np.int64)
    masked_lm_weights = np.zeros(shape, np.float32)
    masked_lm_positions.ravel()[slots] = positions
    masked_lm_ids.ravel()[slots] = input_ids.ravel()[cells]  # labels: the tokens before replacement
    masked_lm_weights.ravel()[slots] = 1.0
    replaced = values >= 0
    input_ids.ravel()[cells[replaced]] = values[replaced]
    return {"masked_lm_positions": masked_lm_positions, "masked_lm_ids": masked_lm_ids,
            "masked_lm_weights": masked_lm_weights}
