"""Packing word pieces into model inputs: `[CLS] a [SEP] (b [SEP])`, the original truncation and padding.

Pure Python (no TensorFlow): shared by feature extraction, fine-tuning and the in-graph packer's tests.
"""

from __future__ import annotations

import dataclasses


@dataclasses.dataclass(frozen=True)
class InputFeatures:
    """One packed example; keys are the original feature names."""

    tokens: tuple[str, ...]  # the real tokens incl. [CLS]/[SEP], no padding
    input_ids: tuple[int, ...]
    input_mask: tuple[int, ...]
    segment_ids: tuple[int, ...]


def truncate_seq_pair(tokens_a: list, tokens_b: list, max_length: int) -> None:
    """Pops from the end of the longer list (ties -> b) until the pair fits, in place (spec §5.3)."""
    while len(tokens_a) + len(tokens_b) > max_length:
        if len(tokens_a) > len(tokens_b):
            tokens_a.pop()
        else:
            tokens_b.pop()


def pack_tokens(tokens_a, tokens_b, max_seq_length: int) -> tuple[list[str], list[int]]:
    """Truncates as the original and returns (tokens, segment_ids) for `[CLS] a [SEP] (b [SEP])`.

    A single segment keeps at most max_seq_length - 2 pieces, a pair max_seq_length - 3 in total.
    """
    tokens_a = list(tokens_a)
    tokens_b = list(tokens_b) if tokens_b is not None else None
    if tokens_b is not None:
        truncate_seq_pair(tokens_a, tokens_b, max_seq_length - 3)
    else:
        del tokens_a[max(max_seq_length - 2, 0):]
    tokens = ["[CLS]", *tokens_a, "[SEP]"]
    segment_ids = [0] * len(tokens)
    if tokens_b is not None:
        tokens += [*tokens_b, "[SEP]"]
        segment_ids += [1] * (len(tokens_b) + 1)
    return tokens, segment_ids


def pack_features(tokens_a, tokens_b, max_seq_length: int, tokenizer) -> InputFeatures:
    """Packs word pieces into padded `input_ids`, `input_mask`, `segment_ids` (padding id 0, as the original)."""
    if max_seq_length < 3:
        raise ValueError(f"max_seq_length must be >= 3, got {max_seq_length}")
    tokens, segment_ids = pack_tokens(tokens_a, tokens_b, max_seq_length)
    input_ids = tokenizer.convert_tokens_to_ids(tokens)
    pad = max_seq_length - len(tokens)
    return InputFeatures(
        tokens=tuple(tokens),
        input_ids=tuple(input_ids) + (0,) * pad,
        input_mask=(1,) * len(tokens) + (0,) * pad,
        segment_ids=tuple(segment_ids) + (0,) * pad,
    )
