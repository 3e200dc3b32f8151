"""Raw text files -> documents (lists of segments of word-piece ids), read exactly as the original reads them.

Input format (docs/ORIGINAL.md §2.1): one sentence per line, a blank line between documents. No TensorFlow import: the
original's TensorFlow line reader is reproduced on plain bytes.
"""

from __future__ import annotations

import glob
import itertools
import os
import re
from typing import NamedTuple

import numpy as np

from bert_tf.files import utf8_error


def expand_input_patterns(patterns):
    """Comma-separated globs (a string) or a sequence of globs -> the list of files, pattern by pattern.

    Matches of one pattern are sorted (the original's `tf.gfile.Glob` returns them in directory order, which is
    not reproducible across machines). Unlike there, `*` does not match hidden files (Python's glob rules).

    Raises:
      ValueError: naming the pattern when it matches no file (the original silently reads nothing).
    """
    if isinstance(patterns, (str, os.PathLike)):
        patterns = [p for p in os.fspath(patterns).split(",") if p]
    files = []
    for pattern in patterns:
        pattern = os.fspath(pattern)
        matches = sorted(p for p in glob.glob(pattern) if os.path.isfile(p))
        if not matches:
            raise ValueError(f"input_file pattern {pattern!r} matches no file")
        files.extend(matches)
    return files


def read_lines(path):
    """The lines of `path` as the original's `tf.gfile.GFile(path, "r").readline()` returns them, unstripped.

    Quirks reproduced (docs/ORIGINAL.md §2.1): lines end only at "\\n", and TensorFlow's reader drops every "\\r"
    byte, so "a\\rb" is the word "ab" and CRLF files read as LF files.

    Raises:
      ValueError: naming the file, line and byte for text that is not UTF-8 (the original dies there with a bare
        UnicodeDecodeError).
    """
    lines = _read_text(path).decode("utf-8").split("\n")
    if lines[-1] == "":
        lines.pop()  # the newline ending the last line does not start another one
    return lines


def _read_text(path):
    """The bytes of `path` without "\\r", checked to be UTF-8 (see `read_lines`)."""
    with open(path, "rb") as reader:
        data = reader.read().replace(b"\r", b"")
    error = utf8_error(path, data)
    if error:
        raise ValueError(error)
    return data


class Corpus(NamedTuple):
    """Tokenized documents over one flat token array.

    `tokens` (int64 NumPy array) holds every segment's ids back to back; a document is the list of offsets
    bounding its segments (segment i of document d is `tokens[documents[d][i]:documents[d][i + 1]]`).
    """

    tokens: np.ndarray
    documents: list

    def segments(self, document_index):
        """The segments of one document as lists of ids (for inspection and tests)."""
        bounds = self.documents[document_index]
        return [self.tokens[bounds[i]:bounds[i + 1]].tolist() for i in range(len(bounds) - 1)]


def read_documents(input_files, tokenizer, rng=None, block_bytes=1 << 22):
    """Reads and tokenizes `input_files` as one stream of documents (docs/ORIGINAL.md §2.1).

    Quirks reproduced: a line that is empty after Python's `str.strip()` starts a new document (so runs of blank
    lines make no empty documents, and files are not document boundaries: a file that does not end with a blank
    line continues into the next); lines that tokenize to nothing are dropped; empty documents are dropped; then
    the document list is shuffled with `rng` (the first draw of the original's single RNG), if given.

    Args:
      input_files: paths, read in this order.
      tokenizer: a `FullTokenizer` (its `tokenize`, `vocab`, `wordpiece_tokenizer` and
        `basic_tokenizer.do_lower_case` are used), or a cousin's tokenizer (`finetuning_data.ModelTokenizer`),
        which tokenizes each stripped line whole.
      rng: the `random.Random` of the run, or None to keep the documents in file order.
      block_bytes: text is processed this many bytes at a time (cut at line ends; at most 16 MB), which bounds
        memory.

    Returns:
      A `Corpus`.
    """
    if not hasattr(tokenizer, "wordpiece_tokenizer"):
        return _line_documents(input_files, tokenizer, rng)
    block_bytes = min(block_bytes, 1 << 24)  # _group numbers a block's units in 24 bits
    word_ids = _WordIds(tokenizer)
    tokens, line_counts, line_blanks = [], [], []
    for path in input_files:
        data = _read_text(path)
        start = 0
        while start < len(data):
            stop = data.find(b"\n", min(start + block_bytes, len(data)) - 1) + 1 or len(data)
            ids, counts, blanks = _block_lines(data[start:stop], word_ids)
            tokens.append(ids)
            line_counts.append(counts)
            line_blanks.append(blanks)
            start = stop
    if not tokens:
        return Corpus(np.zeros(0, np.int64), [])
    documents = _documents(np.concatenate(line_counts), np.concatenate(line_blanks))
    if rng is not None:
        rng.shuffle(documents)
    return Corpus(np.concatenate(tokens), documents)


def _line_documents(input_files, tokenizer, rng):
    """`read_documents` with a tokenizer that is not WordPiece: each line, stripped, tokenized whole (the fast path
    above relies on WordPiece's word splitting)."""
    tokens, line_counts, line_blanks = [], [], []
    for path in input_files:
        for line in read_lines(path):
            line = line.strip()
            ids = tokenizer.convert_tokens_to_ids(tokenizer.tokenize(line)) if line else []
            tokens += ids
            line_counts.append(len(ids))
            line_blanks.append(not line)
    documents = _documents(np.asarray(line_counts, np.int64), np.asarray(line_blanks, bool)) if line_counts else []
    if rng is not None:
        rng.shuffle(documents)
    return Corpus(np.asarray(tokens, np.int64), documents)


def _documents(line_counts, line_blanks):
    """Segment bounds of each document from each line's token count and blankness (docs/ORIGINAL.md §2.1)."""
    ends = np.cumsum(line_counts)
    document_of_line = np.cumsum(line_blanks)  # a blank line starts the next document
    segment_lines = np.flatnonzero(line_counts > 0)
    if not len(segment_lines):
        return []
    segment_ends, segment_documents = ends[segment_lines], document_of_line[segment_lines]
    firsts = np.flatnonzero(np.diff(segment_documents, prepend=-1))  # each document's first segment
    starts = (segment_ends - line_counts[segment_lines])[firsts]
    return [[start, *group] for start, group in zip(starts.tolist(), np.split(segment_ends, firsts[1:]),
                                                    strict=True) for group in [group.tolist()]]


# Bytes of the characters that str.split() splits on but that are not an ASCII space or tab: lines holding one
# take the per-line path. Deleted controls (see _DELETED_SPACE_RE) first, then the UTF-8 of U+0085, U+00A0,
# U+1680, U+2000-U+200A, U+2028, U+2029, U+202F, U+205F and U+3000 (a test checks this is all of them).
_ASCII_SLOW = b"\x0b\x0c\x1c\x1d\x1e\x1f"
_UNICODE_SPACES = tuple(chr(c).encode() for c in (0x85, 0xA0, 0x1680, *range(0x2000, 0x200B), 0x2028, 0x2029,
                                                   0x202F, 0x205F, 0x3000))
_SLOW_BYTE = np.zeros(256, bool)
_SLOW_BYTE[list(_ASCII_SLOW)] = True
_SLOW_BYTE[list({space[0] for space in _UNICODE_SPACES})] = True  # lead bytes; the rest is checked after
# Byte classes: 0 anything else (non-ASCII, controls), 1 the whitespace of fast lines, 2 ASCII punctuation
# (all of it is punctuation to the original tokenizer, docs/ORIGINAL.md §4.1), 3 ASCII letters and digits.
_CLASS = np.zeros(256, np.uint8)
_CLASS[[9, 10, 32]] = 1
_CLASS[[*range(33, 48), *range(58, 65), *range(91, 97), *range(123, 127)]] = 2
_CLASS[[*range(48, 58), *range(65, 91), *range(97, 123)]] = 3
_LOWER = np.arange(256, dtype=np.uint8)
_LOWER[65:91] += 32


def _block_lines(block, word_ids):
    """Token ids, per-line token counts and per-line blankness of `block` (whole lines of UTF-8 text).

    Most of the work is done in NumPy on the bytes. On lines whose only whitespace is ASCII spaces and tabs,
    a word of ASCII letters, digits and punctuation is split, lower-cased if asked, into its basic tokens
    right there (letter/digit runs and single punctuation marks: what the original's BasicTokenizer does to
    ASCII), and any other word is a unit of its own. Each distinct unit is tokenized once: WordPiece for a
    basic token, the whole tokenizer for a word. Other lines go through `_WordIds.line_ids`, exactly as the
    tokenizer sees them.
    """
    if not block.endswith(b"\n"):
        block += b"\n"  # the last line of a file need not end with a newline
    text = np.frombuffer(block, np.uint8)
    line_ends = np.flatnonzero(text == 10)
    slow = np.zeros(len(line_ends), bool)
    slow[np.searchsorted(line_ends, _slow_positions(text))] = True
    on_slow_line = np.repeat(slow, np.diff(line_ends, prepend=-1)) if slow.any() else None
    starts, ends, plain = _units(text, on_slow_line)
    ids, counts = _unit_tokens(block, text, starts, ends, plain, word_ids)
    unit_lines = np.searchsorted(line_ends, starts)
    line_counts = np.bincount(unit_lines, counts, minlength=len(line_ends)).astype(np.int64)
    blanks = np.bincount(unit_lines, minlength=len(line_ends)) == 0
    if slow.any():
        slow_lines = np.flatnonzero(slow)
        line_starts = np.concatenate([[0], line_ends[:-1] + 1])
        slow_ids = []
        for line in slow_lines.tolist():
            stripped = block[line_starts[line]:line_ends[line]].decode("utf-8").strip()
            slow_ids.append(word_ids.line_ids(stripped) if stripped else [])
            blanks[line] = not stripped
            line_counts[line] = len(slow_ids[-1])
        # The fast lines' tokens keep their order; the slow lines' tokens go in between.
        from_slow = np.repeat(slow, line_counts)
        merged = np.empty(len(from_slow), np.int64)
        merged[~from_slow] = ids
        merged[from_slow] = np.fromiter(itertools.chain.from_iterable(slow_ids), np.int64, int(from_slow.sum()))
        ids = merged
    return ids, line_counts, blanks


def _units(text, on_slow_line):
    """The units of the fast lines of `text` in order: (starts, ends, plain) (see `_block_lines`)."""
    byte_class = _CLASS[text]
    space = byte_class == 1
    if on_slow_line is not None:
        space = space | on_slow_line  # slow lines are left out altogether
    edges = np.diff(np.concatenate([[True], space, [True]]).astype(np.int8))
    word_starts, word_ends = np.flatnonzero(edges == -1), np.flatnonzero(edges == 1)
    other_before = np.concatenate([[0], np.cumsum(byte_class == 0)])
    plain_word = other_before[word_ends] == other_before[word_starts]
    in_plain = np.zeros(len(text) + 1, np.int8)
    in_plain[word_starts[plain_word]] += 1
    in_plain[word_ends[plain_word]] -= 1
    in_plain = np.cumsum(in_plain[:-1], dtype=np.int8).view(bool)
    letters = np.concatenate([[False], byte_class == 3, [False]])
    punctuation = byte_class == 2
    start_mask = in_plain & (punctuation | (letters[1:-1] & ~letters[:-2]))
    end_mask = in_plain & (punctuation | (letters[1:-1] & ~letters[2:]))
    start_mask[word_starts[~plain_word]] = True
    end_mask[word_ends[~plain_word] - 1] = True
    starts, ends = np.flatnonzero(start_mask), np.flatnonzero(end_mask) + 1
    return starts, ends, in_plain[starts]


def _slow_positions(text):
    """Byte offsets in `text` (uint8) where a character from _ASCII_SLOW or _UNICODE_SPACES starts."""
    candidates = np.flatnonzero(_SLOW_BYTE[text])
    found = candidates[text[candidates] < 0x80]
    candidates = candidates[text[candidates] >= 0x80]
    padded = np.concatenate([text, np.zeros(3, np.uint8)])
    for space in _UNICODE_SPACES:
        match = np.ones(len(candidates), bool)
        for k, byte in enumerate(space):
            match &= padded[candidates + k] == byte
        found = np.concatenate([found, candidates[match]])
    return found


def _unit_tokens(block, text, starts, ends, plain, word_ids):
    """Token ids of the units `block[starts[k]:ends[k]]`, in order, and each unit's number of tokens.

    A basic token of at most 15 bytes (nearly all of them) is keyed by its bytes and length packed in two
    uint64s, grouped in NumPy; longer ones and whole words are keyed by their bytes in a dict.
    """
    lengths = ends - starts
    if word_ids.lower_case:
        text = _LOWER[text]  # only the basic tokens' bytes are read from it
    # words[k] = the 8 bytes from offset k, little-endian (from 8 shifted aligned views of the padded text).
    padded = np.zeros(len(text) + 24, np.uint8)
    padded[:len(text)] = text
    words = np.stack([padded[shift:shift + len(text) // 8 * 8 + 16].view("<u8") for shift in range(8)], 1).ravel()
    short = plain & (lengths <= 15)
    short_starts, short_lengths = starts[short], lengths[short]
    low = words[short_starts] & _LOW_BYTES[np.minimum(short_lengths, 8)]
    high = (words[short_starts + 8] & _LOW_BYTES[np.maximum(short_lengths - 8, 0)]
            | short_lengths.astype(np.uint64) << np.uint64(56))
    group, first = _group(low, high)
    inverse = np.empty(len(starts), np.int64)
    inverse[short] = group
    pieces = [word_ids.basic_token_ids((lo.to_bytes(8, "little") + hi.to_bytes(8, "little"))[:hi >> 56]
                                       .decode("ascii")) for lo, hi in zip(low[first].tolist(), high[first].tolist(),
                                                                           strict=True)]
    # The rest, keyed by (bytes, is a basic token): dict order numbers them after the short ones.
    keyed = text.tobytes()
    rest = {}
    rest_index = [rest.setdefault((keyed[a:b] if p else block[a:b], p), len(first) + len(rest))
                  for a, b, p in zip(starts[~short].tolist(), ends[~short].tolist(), plain[~short].tolist(),
                                     strict=True)]
    inverse[~short] = rest_index
    pieces += [word_ids.basic_token_ids(key.decode("ascii")) if p else word_ids.word_ids(key.decode("utf-8"))
               for key, p in rest]
    piece_counts = np.fromiter(map(len, pieces), np.int64, len(pieces))
    piece_ids = np.fromiter(itertools.chain.from_iterable(pieces), np.int64, int(piece_counts.sum()))
    counts = piece_counts[inverse]
    offsets = (np.cumsum(piece_counts) - piece_counts)[inverse]
    ramp = np.arange(int(counts.sum())) - np.repeat(np.cumsum(counts) - counts, counts)
    return piece_ids[np.repeat(offsets, counts) + ramp], counts


_LOW_BYTES = np.array([(1 << 8 * n) - 1 for n in range(9)], np.uint64)  # masks of the low n bytes


_MIX = (0x9E3779B97F4A7C15, 0xC2B2AE3D27D4EB4F)  # odd multipliers of the pair hash in `_group`


def _group(low, high):
    """Groups equal (low, high) pairs of uint64: (the group number of each pair, one member of each group).

    One np.sort (much faster than an argsort) orders a 40-bit hash of each pair with the pair's index in the
    low 24 bits; pairs then are equal exactly where their neighbours' hashes are, which is checked, so a hash
    collision only costs the slower exact lexsort.
    """
    count = len(low)
    assert count < 1 << 24, "a block has at most 2**24 units"
    mixed = (low * np.uint64(_MIX[0]) + high * np.uint64(_MIX[1])) >> np.uint64(24)
    packed = np.sort(mixed << np.uint64(24) | np.arange(count, dtype=np.uint64))
    order = (packed & np.uint64((1 << 24) - 1)).astype(np.int64)
    new = np.ones(count, bool)
    new[1:] = (packed[1:] >> np.uint64(24)) != (packed[:-1] >> np.uint64(24))
    if not (np.array_equal(low[order][1:][~new[1:]], low[order][:-1][~new[1:]])
            and np.array_equal(high[order][1:][~new[1:]], high[order][:-1][~new[1:]])):
        order = np.lexsort((high, low))  # a collision: group by the pairs themselves
        new[1:] = (low[order][1:] != low[order][:-1]) | (high[order][1:] != high[order][:-1])
    group = np.empty(count, np.int64)
    group[order] = np.cumsum(new) - 1
    return group, order[new]


# Characters that str.split() splits on but the original tokenizer deletes as controls, so that they join the
# text around them; every other character keeps word boundaries where str.split() puts them (docs/ORIGINAL.md §4.1).
_DELETED_SPACE_RE = re.compile("[\x0b\x0c\x1c-\x1f\x85]")


class _WordIds:
    """Words, basic tokens and lines -> vocab ids, each distinct word or basic token tokenized once.

    The original tokenizer cleans a line, splits it on whitespace and then works word by word, so a line's
    pieces are the concatenation of its words' pieces, except for lines holding one of `_DELETED_SPACE_RE`'s
    characters, which are tokenized whole.
    """

    def __init__(self, tokenizer):
        self._tokenize = tokenizer.tokenize
        self._word_pieces = tokenizer.wordpiece_tokenizer.tokenize
        self._vocab = tokenizer.vocab
        self.lower_case = tokenizer.basic_tokenizer.do_lower_case
        self._words = {}
        self._basic_tokens = {}

    def line_ids(self, line):
        """The ids of `line` (stripped, not blank)."""
        if _DELETED_SPACE_RE.search(line):
            return [self._vocab[piece] for piece in self._tokenize(line)]
        return list(itertools.chain.from_iterable(map(self.word_ids, line.split())))

    def word_ids(self, word):
        """The ids of one whitespace-free word."""
        return self._cached(self._words, word, self._tokenize)

    def basic_token_ids(self, token):
        """The ids of one basic token (already lower-cased if the tokenizer lower-cases)."""
        return self._cached(self._basic_tokens, token, self._word_pieces)

    def _cached(self, cache, text, tokenize):
        ids = cache.get(text)
        if ids is None:
            if len(cache) >= 1 << 20:
                cache.clear()  # bounds memory on pathological input; real text has far fewer distinct words
            ids = cache[text] = [self._vocab[piece] for piece in tokenize(text)]
        return ids
