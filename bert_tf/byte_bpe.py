"""RoBERTa's (and GPT-2's) byte-level BPE in pure Python: tokenizing with a vocab.json + merges.txt pair, and
learning such a pair from text.

Text -> UTF-8 bytes, each byte shown as one printable character (`bytes_to_unicode`: printable Latin-1 bytes as
themselves, the others moved to U+0100 and up), split into words by GPT-2's regex (contractions, letters, digits,
other symbols, each with at most one leading space; whitespace runs), then each word merged pair by pair, the
lowest-ranked merge of merges.txt first, until no merge applies. Every byte has a piece, so no text is unknown.

Ids as RoBERTa's: <s>=0, <pad>=1, </s>=2, <unk>=3, the 256 bytes and the learned pieces, <mask> last. Text is text:
"<mask>" written in a line is tokenized as characters, never as the special token. No TensorFlow import; no graph
version (byte-level BPE runs in Python only: tf.data can call it through `tf.py_function`).
"""

from __future__ import annotations

import collections
import functools
import json
import logging
import os

import regex

from bert_tf import vocab_learning
from bert_tf.files import atomic_file, utf8_error

_LOG = logging.getLogger(__name__)
BOS, PAD, EOS, UNK, MASK = "<s>", "<pad>", "</s>", "<unk>", "<mask>"
LEADING_SPECIALS = (BOS, PAD, EOS, UNK)  # ids 0..3; MASK takes the last id
SPECIAL_TOKENS = (*LEADING_SPECIALS, MASK)
# GPT-2's pre-tokenization: English contractions, then runs of letters, of digits, of other non-space symbols
# (each may take one leading space), then whitespace (a run before a word leaves its last space to the word).
_WORDS = regex.compile(r"""'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+""")
_WORD_CACHE_SIZE = 1 << 17  # distinct words of real text stay far below this; bounds memory on odd input
MERGES_HEADER = "#version: 0.2"


@functools.cache
def bytes_to_unicode() -> dict[int, str]:
    """Byte -> the printable character that stands for it: 188 printable Latin-1 bytes map to themselves, the
    other 68 (controls, space, soft hyphen...) to U+0100.. in byte order, so no piece holds a space or control."""
    printable = [*range(ord("!"), ord("~") + 1), *range(ord("\u00a1"), ord("\u00ac") + 1),
                 *range(ord("\u00ae"), ord("\u00ff") + 1)]
    moved = [b for b in range(256) if b not in printable]
    return {**{b: chr(b) for b in printable}, **{b: chr(256 + i) for i, b in enumerate(moved)}}


@functools.cache
def _unicode_to_bytes() -> dict[str, int]:
    return {char: byte for byte, char in bytes_to_unicode().items()}


def pre_tokenize(text: str) -> list[str]:
    """GPT-2's words of `text`, each as its byte characters."""
    table = bytes_to_unicode()
    return ["".join(table[b] for b in word.encode("utf-8")) for word in _WORDS.findall(text)]


def _bad_file(path, what) -> ValueError:
    return ValueError(f"{os.fspath(path)}: {what}")


def load_vocab_json(path) -> dict[str, int]:
    """vocab.json as {piece: id}; ValueError naming the file when it is unreadable, not a JSON object of
    string -> int, has an id twice, or lacks RoBERTa's special tokens."""
    try:
        with open(path, encoding="utf-8") as f:
            vocab = json.load(f)
    except UnicodeDecodeError:
        raise ValueError(utf8_error(path)) from None
    except (OSError, json.JSONDecodeError) as error:
        raise _bad_file(path, f"not a readable vocab.json ({error})") from None
    if not isinstance(vocab, dict) or not all(isinstance(i, int) and not isinstance(i, bool)
                                              for i in vocab.values()):
        raise _bad_file(path, "vocab.json must be one JSON object of piece -> integer id")
    if sorted(vocab.values()) != list(range(len(vocab))):
        raise _bad_file(path, f"the ids of vocab.json's {len(vocab)} pieces are not 0..{len(vocab) - 1}, each once")
    missing = [token for token in SPECIAL_TOKENS if token not in vocab]
    if missing:
        raise _bad_file(path, f"vocab.json lacks RoBERTa's special token(s) {', '.join(missing)}")
    return vocab


def load_merges(path, vocab, vocab_file="vocab.json") -> list[tuple[str, str]]:
    """merges.txt as (left, right) pairs in rank order; ValueError naming the file and line of a line that is not
    two pieces, or whose pieces or merged piece are not in `vocab` (the pair does not belong together)."""
    try:
        with open(path, encoding="utf-8") as f:
            lines = f.read().split("\n")
    except UnicodeDecodeError:
        raise ValueError(utf8_error(path)) from None
    except OSError as error:
        raise _bad_file(path, f"not a readable merges.txt ({error})") from None
    merges = []
    for number, line in enumerate(lines, 1):
        if not line or (number == 1 and line.startswith("#version")):
            continue
        parts = line.split(" ")
        if len(parts) != 2 or not all(parts):
            raise _bad_file(path, f"line {number}: {line!r} is not two pieces separated by one space")
        missing = [piece for piece in (*parts, "".join(parts)) if piece not in vocab]
        if missing:
            raise _bad_file(path, f"line {number}: the merge {line!r} needs {', '.join(map(repr, missing))}, "
                                  f"not in {os.fspath(vocab_file)}: this merges.txt does not belong to that vocab")
        merges.append((parts[0], parts[1]))
    return merges


class ByteLevelBPETokenizer:
    """`tokenize(text) -> pieces`, `encode(text) -> ids`, `build_inputs(ids_a, ids_b)` as RoBERTa packs them.

    Args:
      vocab_file, merges_file: the pair `learn_bpe` writes (or RoBERTa's released files).
      vocab_size: when given, the checkpoint's vocab size: a vocab.json of another size is refused.
    """

    def __init__(self, vocab_file, merges_file, vocab_size=None):
        self.vocab = load_vocab_json(vocab_file)
        if vocab_size is not None and len(self.vocab) != vocab_size:
            raise _bad_file(vocab_file, f"vocab.json has {len(self.vocab)} pieces but the model's vocab_size is "
                                        f"{vocab_size}: the tokenizer does not belong to this checkpoint")
        self.ranks = {}
        for rank, pair in enumerate(load_merges(merges_file, self.vocab, vocab_file)):
            self.ranks.setdefault(pair, rank)
        self.pieces = {i: piece for piece, i in self.vocab.items()}
        self.bos_id, self.pad_id, self.eos_id, self.unk_id, self.mask_id = (self.vocab[t] for t in SPECIAL_TOKENS)
        self._cache = {}

    def _merge(self, word: str) -> list[str]:
        """The pieces of one byte-level word: repeatedly merge every occurrence of its best-ranked pair."""
        parts = list(word)
        while len(parts) > 1:
            ranked = [(self.ranks.get(pair, len(self.ranks)), pair) for pair in zip(parts, parts[1:], strict=False)]
            rank, best = min(ranked)
            if rank == len(self.ranks):
                break
            merged, i = [], 0
            while i < len(parts):
                if i + 1 < len(parts) and (parts[i], parts[i + 1]) == best:
                    merged.append(parts[i] + parts[i + 1])
                    i += 2
                else:
                    merged.append(parts[i])
                    i += 1
            parts = merged
        return parts

    def tokenize(self, text: str) -> list[str]:
        pieces = []
        for word in pre_tokenize(text):
            cached = self._cache.get(word)
            if cached is None:
                if len(self._cache) >= _WORD_CACHE_SIZE:
                    self._cache.clear()
                cached = self._cache[word] = self._merge(word)
            pieces += cached
        return pieces

    def convert_tokens_to_ids(self, pieces) -> list[int]:
        return [self.vocab.get(piece, self.unk_id) for piece in pieces]

    def convert_ids_to_tokens(self, ids) -> list[str]:
        return [self.pieces[int(i)] for i in ids]

    def encode(self, text: str) -> list[int]:
        """The ids of `text`'s pieces (no <s>/</s>)."""
        return self.convert_tokens_to_ids(self.tokenize(text))

    def build_inputs(self, ids_a, ids_b=None) -> list[int]:
        """`<s> a </s>` or `<s> a </s></s> b </s>`, as RoBERTa packs one or two segments."""
        ids = [self.bos_id, *ids_a, self.eos_id]
        return ids + [self.eos_id, *ids_b, self.eos_id] if ids_b is not None else ids

    def decode(self, ids) -> str:
        """The text of `ids`, special tokens dropped; bytes that are not UTF-8 become U+FFFD."""
        specials = {self.vocab[t] for t in SPECIAL_TOKENS}
        table = _unicode_to_bytes()
        chars = "".join(self.pieces[int(i)] for i in ids if int(i) not in specials)
        return bytes(table[c] for c in chars).decode("utf-8", errors="replace")


def count_words(paths) -> collections.Counter:
    """Byte-level words of every line of the UTF-8 `paths` (line ends dropped, as lines are tokenized)."""
    counts = collections.Counter()
    for path in paths:
        try:
            with open(path, encoding="utf-8") as f:
                for line in f:
                    counts.update(pre_tokenize(line.rstrip("\n")))
        except UnicodeDecodeError:
            raise ValueError(utf8_error(path)) from None
    return counts


def learn_bpe(word_counts, vocab_size: int, min_count: int = 2) -> tuple[dict[str, int], list[tuple[str, str]]]:
    """Learns merges bottom-up from the 256 bytes: the most frequent adjacent pair first (ties: the smallest
    pair), until the vocab holds `vocab_size` pieces with the specials, or no pair occurs `min_count` times.

    Returns (vocab {piece: id} in RoBERTa's layout, merges in rank order). A merged piece reached by two
    different pairs is one vocab entry and two merges, as in GPT-2's files.
    """
    alphabet = list(bytes_to_unicode().values())
    if vocab_size < len(SPECIAL_TOKENS) + len(alphabet):
        raise ValueError(f"vocab_size {vocab_size} cannot hold the {len(SPECIAL_TOKENS)} special tokens and the "
                         f"256 bytes; use vocab_size >= {len(SPECIAL_TOKENS) + len(alphabet)}")
    words = [word for word in word_counts if len(word) <= vocab_learning.MAX_WORD_CHARS]
    pairs = vocab_learning._PairCounts([list(w) for w in words], [word_counts[w] for w in words],
                                       join=str.__add__)
    vocab = dict.fromkeys([*LEADING_SPECIALS, *alphabet])
    merges, merged = [], set()
    while len(vocab) < vocab_size - 1:
        pair = pairs.best(min_count)
        if pair is None:
            _LOG.info("no pair occurs %d times any more: %d pieces", min_count, len(vocab) + 1)
            break
        pairs.merge(pair)
        if pair not in merged:  # a pair can come back when one of its pieces is made again by another merge
            merged.add(pair)
            merges.append(pair)
        vocab["".join(pair)] = None
    vocab[MASK] = None
    return {piece: i for i, piece in enumerate(vocab)}, merges


def write_bpe(vocab, merges, vocab_file, merges_file) -> None:
    """Writes vocab.json (pieces in id order) and merges.txt (GPT-2's header, one "left right" per line),
    each atomically."""
    with atomic_file(vocab_file) as f:
        json.dump(dict(sorted(vocab.items(), key=lambda item: item[1])), f, ensure_ascii=False)
    with atomic_file(merges_file) as f:
        f.write(MERGES_HEADER + "\n")
        f.writelines(f"{left} {right}\n" for left, right in merges)
