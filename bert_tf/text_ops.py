"""The original BERT tokenization as TensorFlow graph ops: strings in, word-piece ids out, for tf.data and SavedModels.

Identical ids to `bert_tf.tokenization.FullTokenizer`: every character property comes from tables built from the
running Python's `unicodedata` and `str.lower()`, never from RE2's or ICU's own (older or newer) Unicode data.
Only ops stock TF Serving has: core TF plus tensorflow-text's classic `WordpieceTokenizeWithOffsets`.
"""

from __future__ import annotations

import functools
import os
import unicodedata

import numpy as np
import tensorflow as tf
import tensorflow_text as tf_text

from bert_tf import tokenization

# Bits of the per-code-point property word (see `_code_point_properties`). Bits 0-1: what text cleaning does.
_KEEP, _DROP, _SPACE, _CJK = 0, 1, 2, 3
_CLEAN_MASK = 3
_CASE_IGNORABLE = 1 << 2  # skipped when looking for the context of a final sigma (Python's _PyUnicode_IsCaseIgnorable)
_CASED = 1 << 3  # a cased letter that is not case-ignorable (Python's _PyUnicode_IsCased)
_NONSPACING_MARK = 1 << 4  # category Mn: dropped after NFD when lower-casing
_SPLIT_SPACE = 1 << 5  # str.split() splits here (str.isspace(): also U+2028, U+2029, which cleaning keeps)
_PUNCTUATION = 1 << 6  # the original's punctuation class: becomes a token of its own
_CCC_SHIFT = 8  # bits 8-15: canonical combining class, for NFD's canonical ordering

_CAPITAL_SIGMA, _FINAL_SIGMA, _SPACE_CP = 0x3A3, 0x3C2, 0x20
# Unassigned, private-use and surrogate code points (the bulk of the code space): no case, no mapping, no class
# beyond cleaning (an unassigned code point inside a CJK block is still spaced); surrogates never reach the graph.
_NO_PROPERTIES = ("Cn", "Co", "Cs")
# Words longer than this many characters become one [UNK] (the original's max_input_chars_per_word).
MAX_INPUT_CHARS_PER_WORD = 200


def _clean_class(char: str) -> int:
    """What the original's _clean_text and _tokenize_chinese_chars do with `char`."""
    cp = ord(char)
    if cp == 0 or cp == 0xFFFD or tokenization._is_control(char):
        return _DROP
    if tokenization._is_whitespace(char):
        return _SPACE
    return _CJK if tokenization._is_chinese_char(cp) else _KEEP


def _case_bits(char: str) -> int:
    """Reads Python's final-sigma predicates back through `str.lower()` itself.

    str.lower() turns U+03A3 into a final sigma when a cased letter precedes it and none follows, skipping
    case-ignorable characters in both directions; probing that rule classifies `char` exactly.
    """
    if (char + "\u03a3").lower()[-1] == "\u03c2":  # a cased letter that is not skipped
        return _CASED
    if ("A" + char + "\u03a3").lower()[-1] == "\u03c2":  # skipped back to the "A"
        return _CASE_IGNORABLE
    return 0


def _properties(char: str) -> int:
    """The packed property word of one assigned character outside the CJK blocks."""
    props = _clean_class(char) | _case_bits(char)
    if unicodedata.category(char) == "Mn":
        props |= _NONSPACING_MARK
    if char.isspace():
        props |= _SPLIT_SPACE
    if tokenization._is_punctuation(char):
        props |= _PUNCTUATION
    return props | unicodedata.combining(char) << _CCC_SHIFT


@functools.cache
def _code_point_properties() -> tuple[np.ndarray, np.ndarray]:
    """Run-length table of the property word over all code points: (run starts, run values), both int32."""
    props = np.zeros(0x110000, np.int32)
    for cp in range(0x110000):
        if unicodedata.category(chr(cp)) not in _NO_PROPERTIES:
            props[cp] = _properties(chr(cp))
    for low, high in tokenization._CJK_RANGES:  # CJK ideographs are letters without case or mapping
        props[low:high + 1] = props[low:high + 1] & ~_CLEAN_MASK | _CJK
    starts = np.concatenate([[0], np.flatnonzero(np.diff(props)) + 1]).astype(np.int32)
    return starts, props[starts]


def code_point_map(function) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Code point -> function(chr(cp)) for each assigned code point it changes: (keys, starts, lengths, pool), the
    1 -> n mapping format the graph ops expand."""
    keys, starts, lengths, pool = [], [], [], []
    for cp in range(0x110000):
        if unicodedata.category(chr(cp)) in _NO_PROPERTIES:
            continue
        mapped = function(chr(cp))
        if mapped != chr(cp):
            keys.append(cp)
            starts.append(len(pool))
            lengths.append(len(mapped))
            pool.extend(ord(c) for c in mapped)
    return tuple(np.array(x, np.int32) for x in (keys, starts, lengths, pool))


@functools.cache
def _lower_nfd_map() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Code point -> NFD(chr(cp).lower()) for each code point it changes: (keys, starts, lengths, pool).

    Lower-casing and canonical decomposition are per character; only the final sigma (handled before) and the
    canonical ordering of combining marks (handled after) look at neighbours.
    """
    return code_point_map(lambda char: unicodedata.normalize("NFD", char.lower()))


def _lookup_properties(cps, run_starts, run_values):
    """Property word of each code point in `cps` (int32 vector)."""
    return tf.gather(run_values, tf.searchsorted(run_starts, cps, side="right") - 1)


def _row_starts(row_splits):
    """True at each position that begins a row of the flat values split by `row_splits`."""
    rows = tf.ragged.row_splits_to_segment_ids(row_splits)
    return tf.not_equal(rows, tf.concat([[-1], rows[:-1]], 0))


def _expand(row_splits, counts):
    """Expands item i into counts[i] outputs; returns (source index, index within the expansion, row splits)."""
    local = tf.ragged.range(counts)
    source = local.value_rowids()
    ends = tf.concat([[0], tf.cumsum(tf.cast(counts, tf.int64))], 0)
    return source, local.flat_values, tf.gather(ends, row_splits)


def _clean(cps, row_splits, tables):
    """The original's text cleaning and CJK spacing: controls dropped, whitespace -> " ", CJK c -> " c "."""
    clean = _lookup_properties(cps, *tables) & _CLEAN_MASK
    counts = tf.gather(tf.constant([1, 0, 1, 3], tf.int32), clean)
    source, local, row_splits = _expand(row_splits, counts)
    clean = tf.gather(clean, source)
    space = (clean == _SPACE) | ((clean == _CJK) & (local != 1))
    return tf.where(space, _SPACE_CP, tf.gather(cps, source)), row_splits


def _mark_final_sigmas(cps, row_splits, tables):
    """Replaces each capital sigma that str.lower() would make final by U+03C2.

    The original lower-cases word by word; a space is neither cased nor case-ignorable, so looking across the
    whole row finds the same neighbours.
    """
    return tf.cond(tf.reduce_any(cps == _CAPITAL_SIGMA), lambda: _final_sigmas(cps, row_splits, tables),
                   lambda: cps)


def _final_sigmas(cps, row_splits, tables):
    """`_mark_final_sigmas` for rows that hold a capital sigma."""
    props = _lookup_properties(cps, *tables)
    rows = tf.ragged.row_splits_to_segment_ids(row_splits)
    counted = tf.cast(props & _CASE_IGNORABLE == 0, tf.int32)
    anchors = tf.cast(tf.where(counted > 0)[:, 0], tf.int32)  # positions of the characters not skipped
    seen = tf.cumsum(counted)  # anchors up to and including each position (a sigma is an anchor itself)
    padded = tf.concat([[-1], anchors, [-1]], 0)
    previous = tf.gather(padded, seen - counted)
    following = tf.gather(padded, tf.minimum(seen + 1, tf.size(anchors) + 1))

    def cased_in_row(positions):
        safe = tf.maximum(positions, 0)
        same_row = (positions >= 0) & (tf.gather(rows, safe) == rows)
        return same_row & (tf.gather(props, safe) & _CASED != 0)

    final = (cps == _CAPITAL_SIGMA) & cased_in_row(previous) & ~cased_in_row(following)
    return tf.where(final, _FINAL_SIGMA, cps)


def _lower_nfd(cps, row_splits, mapping):
    """Maps every code point through `_lower_nfd_map` (1 -> n code points)."""
    keys, starts, lengths, pool = mapping
    index = tf.minimum(tf.searchsorted(keys, cps, side="left"), tf.size(keys) - 1)
    hit = tf.gather(keys, index) == cps
    counts = tf.where(hit, tf.gather(lengths, index), 1)
    first = tf.where(hit, tf.gather(starts, index), tf.size(pool) + tf.range(tf.size(cps)))
    source, local, row_splits = _expand(row_splits, counts)
    flat = tf.gather(first, source) + tf.cast(local, tf.int32)
    return tf.gather(tf.concat([pool, cps], 0), flat), row_splits


def _canonical_order(cps, row_splits, tables):
    """NFD's canonical ordering: stable sort of each run of non-starters by combining class."""
    ccc = tf.bitwise.right_shift(_lookup_properties(cps, *tables), _CCC_SHIFT)
    starts_run = (ccc == 0) | _row_starts(row_splits)
    descending = (ccc[:-1] > ccc[1:]) & (ccc[1:] > 0) & ~starts_run[1:]

    def reorder():
        run = tf.cumsum(tf.cast(starts_run, tf.int64))
        order = tf.argsort(run * 256 + tf.cast(ccc, tf.int64), stable=True)
        return tf.gather(cps, order)

    return tf.cond(tf.reduce_any(descending), reorder, lambda: cps)


def _strip_marks(cps, row_splits, tables):
    """Drops the nonspacing marks (category Mn)."""
    keep = _lookup_properties(cps, *tables) & _NONSPACING_MARK == 0
    ends = tf.concat([[0], tf.cumsum(tf.cast(keep, tf.int64))], 0)
    return tf.boolean_mask(cps, keep), tf.gather(ends, row_splits)


def _split_words(cps, row_splits, tables):
    """Whitespace split plus punctuation split: [B] rows of code points -> [B, (words), (chars)]."""
    props = _lookup_properties(cps, *tables)
    space = props & _SPLIT_SPACE != 0
    breaks = space | (props & _PUNCTUATION != 0)  # a punctuation character ends the word before and after it
    after_break = tf.concat([[True], breaks[:-1]], 0) | _row_starts(row_splits)
    starts = ((props & _PUNCTUATION != 0) | after_break) & ~space
    keep = ~space
    word_ids = tf.cumsum(tf.cast(tf.boolean_mask(starts, keep), tf.int64)) - 1
    rows = tf.ragged.row_splits_to_segment_ids(row_splits)
    word_rows = tf.boolean_mask(rows, starts & keep)
    words = tf.RaggedTensor.from_value_rowids(tf.boolean_mask(cps, keep), word_ids,
                                              nrows=tf.size(word_rows, out_type=tf.int64))
    return tf.RaggedTensor.from_value_rowids(words, word_rows, nrows=tf.size(row_splits, out_type=tf.int64) - 1)


def on_strings(strings, vector_to_output):
    """`vector_to_output` ([B] strings -> [B, ...]) of a vector of strings, or of a scalar (then its one row)."""
    strings = tf.convert_to_tensor(strings, tf.string)
    if strings.shape.rank == 0:
        return vector_to_output(tf.expand_dims(strings, 0))[0]
    if strings.shape.rank != 1:
        raise ValueError(f"expected a scalar or a vector of strings, got shape {strings.shape}")
    return vector_to_output(strings)


class BertTextTokenizer(tf.Module):
    """`FullTokenizer` as graph ops: `tokenize(strings [B]) -> RaggedTensor [B, (pieces)]` of int64 ids.

    Works eagerly, inside `tf.function` and `tf.data.Dataset.map`, and saves in a SavedModel (vocab as a table of
    constants; the file also travels as an asset). A scalar string gives a vector of ids.
    """

    def __init__(self, vocab_file, do_lower_case=True, required_tokens=tokenization.BERT_SPECIAL_TOKENS,
                 name=None):
        super().__init__(name=name)
        vocab = tokenization.load_vocab(vocab_file)
        missing = [token for token in required_tokens if token not in vocab]
        if missing:
            raise ValueError(f"{os.fspath(vocab_file)}: vocab of {len(vocab)} entries lacks the special "
                             f"token(s) {', '.join(missing)} that BERT needs")
        self.vocab_file = tf.saved_model.Asset(os.fspath(vocab_file))
        self.do_lower_case = bool(do_lower_case)
        self.vocab_size = len(vocab)
        self.special_ids = {token: vocab[token] for token in tokenization.BERT_SPECIAL_TOKENS if token in vocab}
        self._unk_token = "[UNK]"
        self._table = tf.lookup.StaticHashTable(
            tf.lookup.KeyValueTensorInitializer(list(vocab), tf.constant(list(vocab.values()), tf.int64)), -1)
        # Longer words are replaced by [UNK] before the op, so it sees <= 200 characters of <= 4 bytes each.
        options = dict(max_bytes_per_word=4 * MAX_INPUT_CHARS_PER_WORD, unknown_token=self._unk_token)
        self._wordpiece_ids = tf_text.WordpieceTokenizer(self._table, token_out_type=tf.int64, **options)
        self._wordpiece_pieces = tf_text.WordpieceTokenizer(self._table, token_out_type=tf.string, **options)
        self._properties = tuple(tf.constant(x) for x in _code_point_properties())
        self._lower_nfd = tuple(tf.constant(x) for x in _lower_nfd_map()) if self.do_lower_case else None

    def basic_tokenize(self, strings):
        """`BasicTokenizer.tokenize` of each string: [B] -> RaggedTensor [B, (words)] of UTF-8 strings."""
        return self._apply(strings, lambda words: tf.strings.unicode_encode(words, "UTF-8"))

    def tokenize_pieces(self, strings):
        """`FullTokenizer.tokenize` of each string: [B] -> RaggedTensor [B, (pieces)] of UTF-8 word pieces."""
        return self._apply(strings, lambda words: self._wordpieces(words, self._wordpiece_pieces))

    def tokenize(self, strings):
        """Word-piece ids of each string: [B] -> RaggedTensor [B, (pieces)] int64 (scalar -> [(pieces)])."""
        return self._apply(strings, lambda words: self._wordpieces(words, self._wordpiece_ids))

    def tokenize_words(self, strings):
        """Word-piece ids word by word: [B] -> RaggedTensor [B, (words), (pieces)] int64, `tokenize` before the
        words of a string are joined (TF Hub's preprocessor `tokenize` gives this shape)."""

        def by_word(words):  # one word per row for `_wordpieces`, then the rows regrouped by string
            one_per_row = tf.RaggedTensor.from_row_lengths(words.values, tf.ones_like(words.values.row_lengths()))
            return tf.RaggedTensor.from_row_splits(self._wordpieces(one_per_row, self._wordpiece_ids),
                                                   words.row_splits)

        return self._apply(strings, by_word)

    def _apply(self, strings, words_to_output):
        """Runs `words_to_output` on the words ([B, (words), (chars)] code points) of a scalar or vector."""
        return on_strings(strings, lambda vector: words_to_output(self._words(vector)))

    def _words(self, strings):
        """The basic tokens of each string of `strings` [B], as code points: [B, (words), (chars)] int32."""
        decoded = tf.strings.unicode_decode(strings, "UTF-8", errors="ignore")  # as Python's errors="ignore"
        cps, row_splits = _clean(decoded.flat_values, decoded.row_splits, self._properties)
        if self.do_lower_case:
            cps = _mark_final_sigmas(cps, row_splits, self._properties)
            cps, row_splits = _lower_nfd(cps, row_splits, self._lower_nfd)
            cps = _canonical_order(cps, row_splits, self._properties)
            cps, row_splits = _strip_marks(cps, row_splits, self._properties)
        return _split_words(cps, row_splits, self._properties)

    def _wordpieces(self, words, wordpiece):
        """Greedy longest-match-first word pieces of `words`; a word over 200 characters is one [UNK]."""
        encoded = tf.strings.unicode_encode(words, "UTF-8")
        # The vocab maps the unknown token to itself, so this becomes exactly one [UNK].
        encoded = tf.where(words.row_lengths(axis=2) > MAX_INPUT_CHARS_PER_WORD, self._unk_token, encoded)
        return wordpiece.tokenize(encoded).merge_dims(-2, -1)


def _truncated_lengths(len_a, len_b, max_tokens):
    """The original truncation in closed form: pop from the longer list's end (ties -> b) until the pair fits.

    Popping keeps the lengths as equal as possible, a keeping the extra one when `max_tokens` is odd.
    """
    keep_a = tf.minimum(len_a, tf.maximum(max_tokens - len_b, (max_tokens + 1) // 2))
    return keep_a, tf.minimum(len_b, max_tokens - keep_a)


def pack_inputs(ids_a, ids_b=None, *, max_seq_length, cls_id, sep_id, dtype=tf.int32, length_multiple=None):
    """`[CLS] a [SEP] (b [SEP])` in graph, truncated and zero-padded exactly as `finetuning_data.pack_features`.

    Row by row as the original's `if tokens_b:`: a row whose B has no pieces is a single segment (A keeps up to
    max_seq_length - 2 pieces); a pair keeps max_seq_length - 3 in total, and a B truncated to nothing gets no
    [SEP] (max_seq_length 3, or 4 with pieces on both sides).

    Args:
      ids_a, ids_b: RaggedTensor [B, (pieces)] of ids; ids_b optional.
      max_seq_length: length of every output row (>= 3), or with `length_multiple` the most a row keeps.
      length_multiple: pad the batch only to its longest row rounded up to a multiple of this (at most
        max_seq_length), not to max_seq_length: the pieces, truncation and ids are the same, the tail of padding
        shorter. Serving pads so: a model's outputs do not depend on padding past the mask.
    Returns:
      dict of `input_ids`, `input_mask`, `segment_ids`, each [B, max_seq_length] of `dtype` (with
      `length_multiple`: [B, L], L <= max_seq_length).
    """
    if max_seq_length < 3:
        raise ValueError(f"max_seq_length must be >= 3, got {max_seq_length}")
    if length_multiple is not None and length_multiple < 1:
        raise ValueError(f"length_multiple must be >= 1, got {length_multiple}")
    input_ids, segment_ids = _packed(ids_a, ids_b, tf.constant(max_seq_length, tf.int64), cls_id, sep_id, dtype)
    shape = [None, max_seq_length]
    if length_multiple:
        longest = tf.reduce_max(tf.concat([tf.ones([1], tf.int64), input_ids.row_lengths()], 0))  # empty batch: 1
        rounded = (longest + length_multiple - 1) // length_multiple * length_multiple
        shape = tf.stack([tf.constant(-1, tf.int64), tf.minimum(rounded, max_seq_length)])
    return _padded(input_ids, segment_ids, shape)


def pack_inputs_to_length(ids_a, ids_b=None, *, seq_length, cls_id, sep_id):
    """`pack_inputs` at a `seq_length` that may be a scalar tensor (TF Hub's `bert_pack_inputs(segments,
    seq_length=N)` traces it once for every N): the same pieces, truncation and [SEP] rule, int32 [B, seq_length].
    A seq_length below 3 fails in graph, naming it."""
    seq_length = tf.cast(seq_length, tf.int64)
    check = tf.debugging.assert_greater_equal(seq_length, tf.constant(3, tf.int64),
                                              message="seq_length must be at least 3 ([CLS] a [SEP])")
    with tf.control_dependencies([check]):
        input_ids, segment_ids = _packed(ids_a, ids_b, seq_length, cls_id, sep_id, tf.int32)
    return _padded(input_ids, segment_ids, tf.stack([tf.constant(-1, tf.int64), seq_length]))


def _packed(ids_a, ids_b, seq_length, cls_id, sep_id, dtype):
    """The ragged (input_ids, segment_ids) of `pack_inputs` for rows of at most `seq_length` (int64 scalar)."""
    ids_a = tf.cast(ids_a, dtype)
    len_a = ids_a.row_lengths()
    keep_a, keep_b = tf.minimum(len_a, seq_length - 2), None
    if ids_b is not None:
        ids_b = tf.cast(ids_b, dtype)
        pair_a, keep_b = _truncated_lengths(len_a, ids_b.row_lengths(), seq_length - 3)
        keep_a = tf.where(ids_b.row_lengths() > 0, pair_a, keep_a)
    column = tf.ones_like(len_a, dtype)[:, None]  # [B, 1]
    pieces = [(column * cls_id, 0), (_keep_first(ids_a, keep_a), 0), (column * sep_id, 0)]
    if ids_b is not None:  # no pieces of B left: neither pieces nor a second [SEP] (the original's `if tokens_b:`)
        pieces += [(_keep_first(ids_b, keep_b), 1), (tf.ragged.boolean_mask(column * sep_id, keep_b[:, None] > 0), 1)]
    input_ids = tf.concat([part for part, _ in pieces], axis=1)
    return input_ids, tf.concat([tf.ones_like(part) * segment for part, segment in pieces], axis=1)


def _padded(input_ids, segment_ids, shape):
    """The packed ragged rows zero-padded to `shape` ([B, L]; None or -1: the batch's)."""
    return {"input_ids": input_ids.to_tensor(0, shape=shape),
            "input_mask": tf.ones_like(input_ids).to_tensor(0, shape=shape),
            "segment_ids": segment_ids.to_tensor(0, shape=shape)}


def _keep_first(ragged, lengths):
    """The first lengths[i] items of each row i of `ragged` (lengths <= row lengths)."""
    positions = tf.ragged.range(ragged.row_lengths())
    return tf.ragged.boolean_mask(ragged, positions < lengths[:, None])
