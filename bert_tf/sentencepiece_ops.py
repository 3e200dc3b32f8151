"""ALBERT's tokenizer as TensorFlow graph ops: strings in, SentencePiece ids out, for tf.data and SavedModels.

Identical ids to `bert_tf.sentencepiece_tokenization.AlbertTokenizer`, every step in graph:

* whitespace collapse and the `` / '' quotes: RE2 over the UTF-8 text, with Python's own whitespace set;
* NFKD, dropping combining marks, lower-casing (final sigma included): code-point tables built from the running
  Python's `unicodedata` and `str.lower()` (never ICU's, whose Unicode version differs), as `text_ops` does;
* SentencePiece: tensorflow-text's `SentencepieceTokenizer` on the same model file (its normalization inside);
* the digit-comma rule: pieces matched by RE2, encoded again, spliced back with ragged gathers.

RoBERTa's byte-level BPE has no graph version (`bert_tf.byte_bpe` is Python only).
"""

from __future__ import annotations

import functools
import os
import sys
import unicodedata

import tensorflow as tf
import tensorflow_text as tf_text

from bert_tf import sentencepiece_tokenization as spt
from bert_tf import text_ops


@functools.cache
def _nfkd_map():
    # The NFKD of a string is its characters' full decompositions, concatenated, then canonically ordered.
    return text_ops.code_point_map(functools.partial(unicodedata.normalize, "NFKD"))


@functools.cache
def _lower_map():
    return text_ops.code_point_map(str.lower)


def _class_of(predicate) -> str:
    """An RE2 character class of every code point for which `predicate(chr(cp))` holds, as ranges."""
    ranges, start = [], None
    for cp in range(sys.maxunicode + 2):
        inside = cp <= sys.maxunicode and predicate(chr(cp))
        if inside and start is None:
            start = cp
        elif not inside and start is not None:
            ranges.append(f"\\x{{{start:x}}}" + (f"-\\x{{{cp - 1:x}}}" if cp - 1 > start else ""))
            start = None
    return "[" + "".join(ranges) + "]"


@functools.cache
def _patterns() -> tuple[str, str]:
    """(Python's whitespace class, a piece that ends in a str.isdigit() character and a comma)."""
    return _class_of(str.isspace), "(?s).*" + _class_of(str.isdigit) + ","


def _keep(cps, row_splits, keep):
    """The code points where `keep` holds, rows kept."""
    ends = tf.concat([[0], tf.cumsum(tf.cast(keep, tf.int64))], 0)
    return tf.boolean_mask(cps, keep), tf.gather(ends, row_splits)


class AlbertTextTokenizer(tf.Module):
    """`AlbertTokenizer` as graph ops: `tokenize(strings [B]) -> RaggedTensor [B, (pieces)]` of int64 ids.

    Works eagerly, inside `tf.function` and `tf.data.Dataset.map`, and saves in a SavedModel (the model file
    travels as an asset and its bytes inside the SentencePiece op). A scalar string gives a vector of ids.
    """

    def __init__(self, model_file, do_lower_case=True, keep_accents=False, vocab_size=None,
                 split_digit_commas=True, name=None):
        super().__init__(name=name)
        python = spt.AlbertTokenizer(model_file, do_lower_case, keep_accents, vocab_size, split_digit_commas)
        self.vocab_size = python.vocab_size
        self.do_lower_case, self.keep_accents = python.do_lower_case, python.keep_accents
        self.split_digit_commas = python.split_digit_commas
        self.special_ids = {token: index for index, token in enumerate(spt.SPECIAL_TOKENS)}  # as BertTextTokenizer's
        self.model_file = tf.saved_model.Asset(os.fspath(model_file))
        with open(model_file, "rb") as f:
            model = f.read()
        self._pieces = tf_text.SentencepieceTokenizer(model, out_type=tf.string)
        self._properties = tuple(tf.constant(x) for x in text_ops._code_point_properties())
        self._nfkd = None if self.keep_accents else tuple(tf.constant(x) for x in _nfkd_map())
        self._lower = tuple(tf.constant(x) for x in _lower_map()) if self.do_lower_case else None
        self._space_class, self._digit_comma = _patterns()

    def preprocess(self, strings):
        """ALBERT's `preprocess_text` of each string: [B] -> [B] UTF-8 strings."""
        return self._apply(strings, lambda text: text)

    def tokenize_pieces(self, strings):
        """`AlbertTokenizer.tokenize` of each string: [B] -> RaggedTensor [B, (pieces)] of UTF-8 pieces."""
        return self._apply(strings, self._sentencepieces)

    def tokenize(self, strings):
        """Piece ids of each string: [B] -> RaggedTensor [B, (pieces)] int64 (scalar -> [(pieces)])."""
        return self._apply(strings, lambda text: tf.cast(
            self._pieces.string_to_id(self._sentencepieces(text)), tf.int64))

    def _apply(self, strings, text_to_output):
        return text_ops.on_strings(strings, lambda vector: text_to_output(self._preprocess(vector)))

    def _preprocess(self, strings):
        # Invalid UTF-8 is dropped first (Python's errors="ignore"), so RE2 sees valid text.
        text = tf.strings.unicode_encode(tf.strings.unicode_decode(strings, "UTF-8", errors="ignore"), "UTF-8")
        text = tf.strings.regex_replace(text, self._space_class + "+", " ")
        text = tf.strings.regex_replace(text, "^ | $", "")
        text = tf.strings.regex_replace(tf.strings.regex_replace(text, "``", '"'), "''", '"')
        if self.keep_accents and not self.do_lower_case:
            return text
        decoded = tf.strings.unicode_decode(text, "UTF-8")
        cps, row_splits = decoded.flat_values, decoded.row_splits
        if not self.keep_accents:
            cps, row_splits = text_ops._lower_nfd(cps, row_splits, self._nfkd)  # a generic 1 -> n expansion
            cps = text_ops._canonical_order(cps, row_splits, self._properties)
            ccc = tf.bitwise.right_shift(text_ops._lookup_properties(cps, *self._properties), text_ops._CCC_SHIFT)
            cps, row_splits = _keep(cps, row_splits, ccc == 0)
        if self.do_lower_case:
            cps = text_ops._mark_final_sigmas(cps, row_splits, self._properties)
            cps, row_splits = text_ops._lower_nfd(cps, row_splits, self._lower)
        return tf.strings.unicode_encode(tf.RaggedTensor.from_row_splits(cps, row_splits), "UTF-8")

    def _sentencepieces(self, text):
        pieces = self._pieces.tokenize(text)  # [B, (pieces)]
        if not self.split_digit_commas:
            return pieces
        return tf.RaggedTensor.from_row_splits(*self._split_digit_commas(pieces.flat_values, pieces.row_splits))

    def _split_digit_commas(self, flat, row_splits):
        """The digit-comma rule on all pieces `flat` [N]: (new flat pieces, new row splits of the strings)."""
        match = tf.strings.regex_full_match(flat, self._digit_comma)
        chosen = tf.boolean_mask(flat, match)  # [M]
        number = tf.strings.regex_replace(tf.strings.regex_replace(chosen, ",$", ""), spt.SPIECE_UNDERLINE, "")
        again = self._pieces.tokenize(number)  # [M, (k)]
        # A continuation piece ("2,") stays one: the new first piece loses its leading "▁" (or goes, if only "▁").
        first = again.flat_values
        is_first = text_ops._row_starts(again.row_splits)
        continues = ~tf.strings.regex_full_match(chosen, "(?s)" + spt.SPIECE_UNDERLINE + ".*")
        strip = is_first & tf.gather(continues, again.value_rowids()) & tf.strings.regex_full_match(
            first, "(?s)" + spt.SPIECE_UNDERLINE + ".*")
        first = tf.where(strip, tf.strings.regex_replace(first, "^" + spt.SPIECE_UNDERLINE, ""), first)
        again = tf.RaggedTensor.from_row_splits(*_keep(first, again.row_splits, ~strip | (first != "")))
        again = tf.concat([again, tf.RaggedTensor.from_tensor(tf.fill([tf.size(chosen), 1], ","))], axis=1)
        # Output position -> source: piece i itself, or position t of its re-encoding (after the N pieces).
        counts = tf.tensor_scatter_nd_update(tf.ones_like(flat, tf.int32), tf.where(match),
                                             tf.cast(again.row_lengths(), tf.int32))
        source, local, piece_splits = text_ops._expand(tf.range(tf.size(flat) + 1, dtype=tf.int64), counts)
        nth = tf.cumsum(tf.cast(match, tf.int64)) - 1
        index = tf.where(tf.gather(match, source),
                         tf.cast(tf.size(flat), tf.int64) + tf.gather(again.row_splits, tf.maximum(
                             tf.gather(nth, source), 0)) + tf.cast(local, tf.int64),
                         tf.cast(source, tf.int64))
        values = tf.gather(tf.concat([flat, again.flat_values], 0), index)
        return values, tf.gather(piece_splits, row_splits)
