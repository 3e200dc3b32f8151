"""Raw text files -> documents (lists of segments of word-piece ids), read exactly as the original reads them.

Input format (spec §2.1): one sentence per line, a blank line between documents. No TensorFlow import: the
original's TensorFlow line reader is reproduced on plain bytes.
"""

from __future__ import annotations

import glob
import itertools
import os
import re
from typing import NamedTuple


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

    Quirks reproduced (spec §2.1): lines end only at "\\n", and TensorFlow's reader drops every "\\r" byte, so
    "a\\rb" is the word "ab" and CRLF files read as LF files.

    Raises:
      ValueError: naming the file, line and byte for text that is not UTF-8 (the original dies there with a bare
        UnicodeDecodeError).
    """
    with open(path, "rb") as reader:
        data = reader.read().replace(b"\r", b"")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as err:
        line_start = data.rfind(b"\n", 0, err.start) + 1
        line = data.count(b"\n", 0, err.start) + 1
        raise ValueError(
            f"{path}:{line}: not valid UTF-8 ({err.reason}: byte 0x{data[err.start]:02x} at column "
            f"{err.start - line_start + 1})") from None
    lines = text.split("\n")
    if lines[-1] == "":
        lines.pop()  # the newline ending the last line does not start another one
    return lines


class Corpus(NamedTuple):
    """Tokenized documents over one flat token array.

    `tokens` holds every segment's ids back to back; a document is the list of offsets bounding its segments
    (segment i of document d is `tokens[documents[d][i]:documents[d][i + 1]]`).
    """

    tokens: list
    documents: list

    def segments(self, document_index):
        """The segments of one document as lists of ids (for inspection and tests)."""
        bounds = self.documents[document_index]
        return [self.tokens[bounds[i]:bounds[i + 1]] for i in range(len(bounds) - 1)]


def read_documents(input_files, tokenizer, rng=None):
    """Reads and tokenizes `input_files` as one stream of documents (spec §2.1).

    Quirks reproduced: a line that is empty after Python's `str.strip()` starts a new document (so runs of blank
    lines make no empty documents, and files are not document boundaries: a file that does not end with a blank
    line continues into the next); lines that tokenize to nothing are dropped; empty documents are dropped; then
    the document list is shuffled with `rng` (the first draw of the original's single RNG), if given.

    Args:
      input_files: paths, read in this order.
      tokenizer: a `FullTokenizer` (its `tokenize` and `vocab` are used).
      rng: the `random.Random` of the run, or None to keep the documents in file order.

    Returns:
      A `Corpus`.
    """
    line_ids = _LineIds(tokenizer)
    tokens = []
    documents = [[0]]
    for path in input_files:
        for line in read_lines(path):
            line = line.strip()
            if not line:
                documents.append([len(tokens)])
                continue
            size = len(tokens)
            line_ids.extend(tokens, line)
            if len(tokens) > size:
                documents[-1].append(len(tokens))
    documents = [bounds for bounds in documents if len(bounds) > 1]
    if rng is not None:
        rng.shuffle(documents)
    return Corpus(tokens, documents)


# Characters that str.split() splits on but the original tokenizer deletes as controls, so that they join the
# text around them; every other character keeps word boundaries where str.split() puts them (spec §4.1).
_DELETED_SPACE_RE = re.compile("[\x0b\x0c\x1c-\x1f\x85]")


class _LineIds:
    """Line -> vocab ids, tokenizing each distinct whitespace-separated word once.

    The original tokenizer cleans a line, splits it on whitespace and then works word by word, so a line's
    pieces are the concatenation of its words' pieces, except for lines holding one of `_DELETED_SPACE_RE`'s
    characters, which are tokenized whole.
    """

    def __init__(self, tokenizer):
        self._tokenize = tokenizer.tokenize
        self._vocab = tokenizer.vocab
        self._cache = {}

    def extend(self, out, line):
        """Appends the ids of `line` to the list `out`."""
        if _DELETED_SPACE_RE.search(line):
            out += [self._vocab[piece] for piece in self._tokenize(line)]
            return
        words = line.split()
        ids = list(map(self._cache.get, words))  # the loops stay in C for words seen before
        if None in ids:
            for k, word in enumerate(words):
                if ids[k] is None:
                    ids[k] = self._word_ids(word)
        out += itertools.chain.from_iterable(ids)

    def _word_ids(self, word):
        cache = self._cache
        if len(cache) >= 1 << 20:
            cache.clear()  # bounds memory on pathological input; real text has far fewer distinct words
        ids = cache[word] = [self._vocab[piece] for piece in self._tokenize(word)]
        return ids
