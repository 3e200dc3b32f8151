"""Learning a WordPiece vocabulary from text, pre-tokenized exactly as the original BasicTokenizer
(docs/ORIGINAL.md §4).

Bottom-up: start from every character seen (word-initial `c` and continuation `##c`, so the corpus never
tokenizes to [UNK]), then repeatedly merge the most frequent adjacent pair of pieces. Pure Python, no TensorFlow.
"""

from __future__ import annotations

import collections
import heapq
import logging

from bert_tf import tokenization
from bert_tf.files import atomic_file

_LOG = logging.getLogger(__name__)
SUFFIX_PREFIX = "##"  # marks a piece that continues a word (the original's WordpieceTokenizer convention)
# Words the tokenizer never splits (> 200 characters become one [UNK]) teach nothing, so they are not counted.
MAX_WORD_CHARS = 200


def special_tokens(num_unused: int = 0) -> list[str]:
    """BERT's special tokens placed as in the released vocabs: [PAD], [unused0..], [UNK], [CLS], [SEP], [MASK].

    With num_unused=99 the ids are the released ones: [PAD]=0, [UNK]=100, [CLS]=101, [SEP]=102, [MASK]=103.
    """
    if num_unused < 0:
        raise ValueError(f"num_unused must be >= 0, got {num_unused}")
    return ["[PAD]", *(f"[unused{i}]" for i in range(num_unused)), "[UNK]", "[CLS]", "[SEP]", "[MASK]"]


def count_words(paths, do_lower_case: bool, log_every: int = 100_000) -> collections.Counter:
    """Counts the basic tokens (BasicTokenizer, same casing as the model) of every line of the UTF-8 `paths`.

    Raises:
      ValueError: naming the file and line of text that is not UTF-8, or the files when they hold no word.
    """
    basic = tokenization.BasicTokenizer(do_lower_case=do_lower_case)
    counts = collections.Counter()
    lines = 0
    for path in paths:
        with open(path, "rb") as reader:
            for number, raw in enumerate(reader, 1):
                try:
                    line = raw.decode("utf-8")
                except UnicodeDecodeError as err:
                    raise ValueError(f"{path}:{number}: text is not valid UTF-8 ({err}): {raw[:80]!r}") from None
                counts.update(basic.tokenize(line))
                lines += 1
                if lines % log_every == 0:
                    _LOG.info("read %d lines, %d distinct words", lines, len(counts))
    if not counts:
        raise ValueError(f"no words in {', '.join(map(str, paths)) or 'an empty list of files'}")
    _LOG.info("read %d lines: %d words, %d distinct", lines, sum(counts.values()), len(counts))
    return counts


def _split(word: str) -> list[str]:
    """A word as its characters: the first as is, the others as continuation pieces."""
    return [word[0], *(SUFFIX_PREFIX + char for char in word[1:])]


def _join(left: str, right: str) -> str:
    return left + right[len(SUFFIX_PREFIX):]


class _PairCounts:
    """Adjacent-piece pair counts over all words, with the words holding each pair and a max-heap of counts.

    `join` makes the merged piece of a pair (WordPiece drops the "##" of the right piece; byte-level BPE
    concatenates, `bert_tf.byte_bpe`)."""

    def __init__(self, words, counts, join=_join):
        self.words, self.counts, self.join = words, counts, join
        self.count = collections.Counter()
        self.where = collections.defaultdict(set)
        for index, pieces in enumerate(words):
            self._add(index, pieces, 1)
        # Ties go to the smallest pair, so the result does not depend on hash order.
        self.heap = [(-count, pair) for pair, count in self.count.items()]
        heapq.heapify(self.heap)

    def _add(self, index, pieces, sign):
        for pair in zip(pieces, pieces[1:], strict=False):
            self.count[pair] += sign * self.counts[index]
            if sign > 0:
                self.where[pair].add(index)

    def best(self, min_count):
        """The most frequent pair with at least `min_count` occurrences, or None."""
        while self.heap:
            negative, pair = self.heap[0]
            if self.count.get(pair, 0) == -negative:  # the top current count is the maximum
                return pair if -negative >= min_count else None
            heapq.heappop(self.heap)  # a count that has changed since it was pushed
        return None

    def merge(self, pair):
        """Replaces every occurrence of `pair` by the joined piece and updates the counts."""
        joined = self.join(*pair)
        changed = set()
        for index in self.where.pop(pair):
            pieces = self.words[index]
            merged, i = [], 0
            while i < len(pieces):
                if i + 1 < len(pieces) and (pieces[i], pieces[i + 1]) == pair:
                    merged.append(joined)
                    i += 2
                else:
                    merged.append(pieces[i])
                    i += 1
            if len(merged) == len(pieces):
                continue  # an index left behind by an earlier merge of this word
            self._add(index, pieces, -1)
            self._add(index, merged, 1)
            changed.update(zip(pieces, pieces[1:], strict=False), zip(merged, merged[1:], strict=False))
            self.words[index] = merged
        for changed_pair in changed:
            heapq.heappush(self.heap, (-self.count[changed_pair], changed_pair))
        self.count.pop(pair, None)


def learn_wordpieces(word_counts, vocab_size: int, num_reserved: int, min_count: int = 2,
                     log_every: int = 1000) -> list[str]:
    """Learns `vocab_size - num_reserved` pieces (fewer when no pair occurs `min_count` times).

    Every character of the corpus comes first (sorted), so no word of it tokenizes to [UNK]; then joined pieces
    in the order they were learned.

    Raises:
      ValueError: when the characters alone do not fit in vocab_size.
    """
    words = [word for word in word_counts if len(word) <= MAX_WORD_CHARS]
    pieces = [_split(word) for word in words]
    alphabet = sorted({piece for split in pieces for piece in split}, key=lambda p: (p.startswith("##"), p))
    budget = vocab_size - num_reserved
    if len(alphabet) > budget:
        raise ValueError(f"vocab_size {vocab_size} cannot hold the {num_reserved} special tokens and the "
                         f"{len(alphabet)} characters of the corpus; use vocab_size >= {num_reserved + len(alphabet)}")
    vocab = dict.fromkeys(alphabet)
    pairs = _PairCounts(pieces, [word_counts[word] for word in words])
    while len(vocab) < budget:
        pair = pairs.best(min_count)
        if pair is None:
            _LOG.info("no pair occurs %d times any more: %d pieces", min_count, len(vocab))
            break
        pairs.merge(pair)
        vocab[_join(*pair)] = None  # a piece reached by two different merges is kept once
        if len(vocab) % log_every == 0:
            _LOG.info("%d / %d pieces", len(vocab), budget)
    return list(vocab)


def build_vocab(word_counts, vocab_size: int, num_unused: int = 0, min_count: int = 2) -> list[str]:
    """The special tokens, then the learned pieces: a vocab FullTokenizer loads unchanged."""
    specials = special_tokens(num_unused)
    if vocab_size <= 0:
        raise ValueError(f"vocab_size must be > 0, got {vocab_size}")
    return specials + learn_wordpieces(word_counts, vocab_size, len(specials), min_count=min_count)


def write_vocab(tokens, path) -> None:
    """Writes one token per line, atomically (bert_tf.files)."""
    with atomic_file(path) as writer:
        writer.writelines(token + "\n" for token in tokens)
