"""Documents -> masked-LM / next-sentence instances, consuming the random stream exactly as the original does.

Pure Python (no NumPy, no TensorFlow). One `random.Random` is consumed call for call as the original
`create_pretraining_data.py` consumes it (docs/ORIGINAL.md §2.2-2.4), so the same seed gives the same instances. Speed
comes from never touching tokens: A and B are always runs of consecutive segments, so an instance is four offsets into
the corpus' flat token array plus its masked-LM draws, and the hot loops are inlined (the candidate shuffle calls
`getrandbits` exactly as `random.shuffle` does internally).
"""

from __future__ import annotations

import bisect
import dataclasses
import logging

logger = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class PretrainingDataConfig:
    """The original script's generation flags and defaults (docs/ORIGINAL.md §2), validated on construction.

    Attributes:
      max_seq_length: length of every record; real tokens are [CLS] A [SEP] B [SEP] (so at least 5).
      max_predictions_per_seq: length of the masked-LM arrays; must match run_pretraining's flag.
      random_seed: seed of the single `random.Random` behind every choice.
      dupe_factor: passes over all documents, each with fresh masks and pairings.
      masked_lm_prob: share of tokens ([CLS]/[SEP] included in the count) that are predicted.
      short_seq_prob: chance that a document pass aims at a random shorter length.
      do_whole_word_mask: mask all pieces of a word together ("##" pieces join the piece before).
      sentence_order: ALBERT's sentence-order pairs instead of next-sentence pairs: B is the text after A in the
        same document, and the two are swapped (label 1) when a coin says so; a one-segment chunk still takes a
        random B from another document (label 1), as the original ALBERT's create_pretraining_data.py does.
    """

    max_seq_length: int = 128
    max_predictions_per_seq: int = 20
    random_seed: int = 12345
    dupe_factor: int = 10
    masked_lm_prob: float = 0.15
    short_seq_prob: float = 0.1
    do_whole_word_mask: bool = False
    sentence_order: bool = False

    def __post_init__(self):
        # Only what the original crashes on or what is meaningless is refused; every other value is accepted and capped
        # exactly as the original caps it (docs/ORIGINAL.md §2.4: num_to_predict = min(max_predictions_per_seq, max(1,
        # round(len * masked_lm_prob))), so 0 still predicts one token and a large maximum just pads). The original
        # crashes deep inside (randint(2, 1) or an assert) when max_seq_length < 5.
        if self.max_seq_length < 5:
            raise ValueError(f"max_seq_length={self.max_seq_length}: must be >= 5 ([CLS] a [SEP] b [SEP])")
        # A negative width cannot be parsed back (FixedLenFeature([-1])); 0 is NSP-only records, as the original.
        if self.max_predictions_per_seq < 0:
            raise ValueError(f"max_predictions_per_seq={self.max_predictions_per_seq}: must be >= 0")
        if self.dupe_factor < 1:
            raise ValueError(f"dupe_factor={self.dupe_factor}: must be >= 1 (0 writes no instance at all)")
        if not 0.0 <= self.masked_lm_prob <= 1.0:
            raise ValueError(f"masked_lm_prob={self.masked_lm_prob}: must lie in [0, 1]")
        if not 0.0 <= self.short_seq_prob <= 1.0:
            raise ValueError(f"short_seq_prob={self.short_seq_prob}: must lie in [0, 1]")
        expected = round(self.max_seq_length * self.masked_lm_prob)
        if self.max_predictions_per_seq < expected:
            logger.warning(
                "max_predictions_per_seq=%d < round(max_seq_length * masked_lm_prob)=%d: full-length sequences "
                "get fewer predictions than masked_lm_prob asks for (the original caps silently)",
                self.max_predictions_per_seq, expected)


@dataclasses.dataclass(frozen=True)
class VocabInfo:
    """What masking needs from the vocab: special ids and the random-replacement table."""

    cls_id: int
    sep_id: int
    mask_id: int
    word_ids: tuple  # ids of the vocab's tokens in file order (the original's `vocab_words`, unfiltered)

    @classmethod
    def from_vocab(cls, vocab, specials=("[CLS]", "[SEP]", "[MASK]")):
        """Builds it from a token -> id mapping in file order (`FullTokenizer.vocab`) and the (cls, sep, mask)
        tokens."""
        missing = [token for token in specials if token not in vocab]
        if missing:
            raise ValueError(f"the vocab of {len(vocab)} tokens lacks {', '.join(missing)}, needed for pretraining")
        return cls(*(vocab[token] for token in specials), tuple(vocab.values()))

    @classmethod
    def of_tokenizer(cls, tokenizer):
        """From a tokenizer's vocab and its model type's special tokens (`finetuning_data.layout_of`)."""
        from bert_tf.finetuning_data import layout_of

        layout = layout_of(tokenizer)
        return cls.from_vocab(tokenizer.vocab, (layout.cls, layout.sep, layout.mask))


@dataclasses.dataclass
class Instances:
    """Instances in columns, in creation order; `order` is the original's final shuffle of them.

    Instance k is `[CLS] tokens[a_start:a_end] [SEP] tokens[b_start:b_end] [SEP]` over the corpus' flat token
    array, with `mask_counts[k]` masked-LM predictions taken from `mask_positions` / `mask_values` (positions in
    draw order; value = the id written at that position, or -1 where the token is kept).
    """

    spans: list = dataclasses.field(default_factory=list)  # (a_start, a_end, b_start, b_end, is_random_next)
    mask_counts: list = dataclasses.field(default_factory=list)
    mask_positions: list = dataclasses.field(default_factory=list)
    mask_values: list = dataclasses.field(default_factory=list)
    order: list = dataclasses.field(default_factory=list)
    # Instances whose chunk had one segment, hence "random next" without a coin (docs/ORIGINAL.md §2.2): the random-next
    # share is single_segment_chunks / n + (1 - single_segment_chunks / n) / 2, above one half.
    single_segment_chunks: int = 0

    def __len__(self):
        return len(self.spans)


def create_instances(documents, config, vocab_info, rng, subword_flags=None):
    """All instances of `dupe_factor` passes over `documents`, then the final shuffle (docs/ORIGINAL.md §2.2).

    Args:
      documents: as `documents.Corpus.documents`, already shuffled with `rng`; not modified.
      config: a `PretrainingDataConfig`.
      vocab_info: a `VocabInfo`, or None for unmasked pairs (no masked-LM draws at all).
      rng: the run's `random.Random`, positioned after the document shuffle.
      subword_flags: with `config.do_whole_word_mask`, bytes holding 1 where the corpus token is a "##" piece.
    """
    if config.do_whole_word_mask and subword_flags is None and vocab_info is not None:
        raise ValueError("do_whole_word_mask needs the corpus' subword_flags")
    out = Instances()
    for _ in range(config.dupe_factor):
        for document_index in range(len(documents)):
            document_instances(documents, document_index, config, vocab_info, rng, out, subword_flags)
    out.order = list(range(len(out.spans)))
    rng.shuffle(out.order)
    return out


def document_instances(documents, document_index, config, vocab_info, rng, out, subword_flags=None):
    """Appends the instances of one pass over `documents[document_index]` to `out` (docs/ORIGINAL.md §2.2).

    A document is the list of offsets bounding its segments in the flat token array (segment i is
    `[bounds[i], bounds[i + 1])`), so "concatenate segments i..j-1" is the span `[bounds[i], bounds[j])`.
    """
    bounds = documents[document_index]
    num_segments = len(bounds) - 1
    max_num_tokens = config.max_seq_length - 3
    # Quirk (docs/ORIGINAL.md §2.2): the target length is drawn once per document pass, not once per instance.
    target_length = max_num_tokens
    if rng.random() < config.short_seq_prob:
        target_length = rng.randint(2, max_num_tokens)
    first = 0  # the chunk is segments first..i
    i = 0
    while i < num_segments:
        if i == num_segments - 1 or bounds[i + 1] - bounds[first] >= target_length:
            chunk_size = i + 1 - first
            a_end = 1 if chunk_size == 1 else rng.randint(1, chunk_size - 1)
            a_start, a_stop = bounds[first], bounds[first + a_end]
            # Quirk (docs/ORIGINAL.md §2.2): a one-segment chunk is always "random next", and no coin is drawn for it.
            is_random_next = chunk_size == 1 or (not config.sentence_order and rng.random() < 0.5)
            out.single_segment_chunks += chunk_size == 1
            if is_random_next:
                b_start, b_stop = _random_span(documents, document_index, target_length - (a_stop - a_start), rng)
                # The chunk's unused segments are "put back": they start the next chunk.
                i -= chunk_size - a_end
                span = (a_start, a_stop, b_start, b_stop, True)
            elif config.sentence_order and rng.random() < 0.5:  # swapped: the later text comes first
                span = (a_stop, bounds[i + 1], a_start, a_stop, True)
            else:
                span = (a_start, a_stop, a_stop, bounds[i + 1], False)
            _add_instance(out, span, config, vocab_info, rng, subword_flags)
            first = i + 1
        i += 1


def _random_span(documents, document_index, target_b_length, rng):
    """Consecutive segments of a random other document from a random start, until long enough
    (docs/ORIGINAL.md §2.2)."""
    # Quirk (docs/ORIGINAL.md §2.2): at most 10 tries to avoid the current document; with a one-document corpus the
    # "random" B silently comes from the same document.
    for _ in range(10):
        random_index = rng.randint(0, len(documents) - 1)
        if random_index != document_index:
            break
    bounds = documents[random_index]
    start = rng.randint(0, len(bounds) - 2)
    # Segments start.. are added until the length reaches the target (at least one is always taken).
    stop = bisect.bisect_left(bounds, bounds[start] + target_b_length, start + 1)
    return bounds[start], bounds[min(stop, len(bounds) - 1)]


def _truncate_pair(a_start, a_stop, b_start, b_stop, max_num_tokens, rng):
    """The pretraining truncation (docs/ORIGINAL.md §2.3) on spans.

    While too long: the longer of A and B (ties -> B) loses its first token if random() < 0.5, else its last.
    """
    while (a_stop - a_start) + (b_stop - b_start) > max_num_tokens:
        if a_stop - a_start > b_stop - b_start:
            if rng.random() < 0.5:
                a_start += 1
            else:
                a_stop -= 1
        elif rng.random() < 0.5:
            b_start += 1
        else:
            b_stop -= 1
    return a_start, a_stop, b_start, b_stop


def _add_instance(out, span, config, vocab_info, rng, subword_flags):
    """Truncates the pair, draws its masked-LM predictions (docs/ORIGINAL.md §2.3, §2.4) and appends it to `out`."""
    a_start, a_stop, b_start, b_stop = _truncate_pair(*span[:4], config.max_seq_length - 3, rng)
    len_a, len_b = a_stop - a_start, b_stop - b_start
    assert len_a >= 1 and len_b >= 1, "A and B must keep a token each"
    num_tokens = len_a + len_b + 3
    # Python 3 round() is half-to-even, as in the original (docs/ORIGINAL.md §2.4); the count includes [CLS] and [SEP].
    num_to_predict = min(config.max_predictions_per_seq, max(1, int(round(num_tokens * config.masked_lm_prob))))
    # Candidates: every position but [CLS] (0) and the two [SEP] (len_a + 1 and the last).
    candidates = list(range(1, len_a + 1))
    candidates += range(len_a + 2, num_tokens - 1)
    if vocab_info is None:  # pairs only: the masks are drawn later (dynamic masking)
        positions = []
    elif config.do_whole_word_mask:
        positions = _whole_word_positions(candidates, num_to_predict, len_a, a_start, b_start, subword_flags, rng)
    else:
        positions = _shuffled_head(candidates, num_to_predict, rng)
    out.spans.append((a_start, a_stop, b_start, b_stop, span[4]))
    out.mask_counts.append(len(positions))
    out.mask_positions += positions
    if positions:
        _draw_replacements(len(positions), vocab_info, rng, out.mask_values)


def _shuffled_head(items, count, rng):
    """The first `count` items after `rng.shuffle(items)`, drawing exactly the same random numbers.

    `random.shuffle` swaps items[i] with items[randbelow(i + 1)] for i from the end down, where randbelow draws
    getrandbits((i + 1).bit_length()) until the value is at most i. Positions >= count end up unused, so there
    only the item moving down is copied.
    """
    getrandbits = rng.getrandbits
    bits_table = _BITS if len(items) <= len(_BITS) else tuple((i + 1).bit_length() for i in range(len(items)))
    for i in range(len(items) - 1, 0, -1):
        bits = bits_table[i]
        j = getrandbits(bits)
        while j > i:
            j = getrandbits(bits)
        if i >= count:
            items[j] = items[i]
        else:
            items[i], items[j] = items[j], items[i]
    return items[:count]


# _BITS[i] = (i + 1).bit_length(): the getrandbits width of `random._randbelow(i + 1)`.
_BITS = tuple((i + 1).bit_length() for i in range(4096))


def _whole_word_positions(candidates, num_to_predict, len_a, a_start, b_start, subword_flags, rng):
    """Positions of whole words, picked in shuffled order while they fit in `num_to_predict` (docs/ORIGINAL.md §2.4)."""
    groups = []
    for position in candidates:
        offset = a_start + position - 1 if position <= len_a else b_start + position - len_a - 2
        # Quirk (docs/ORIGINAL.md §2.4): a "##" piece joins the previous candidate group even across the [SEP] between A
        # and B (the original only asks whether any group exists yet).
        if groups and subword_flags[offset]:
            groups[-1].append(position)
        else:
            groups.append([position])
    groups = _shuffled_head(groups, len(groups), rng)
    positions = []
    for group in groups:
        if len(positions) >= num_to_predict:
            break
        # A word that would overshoot is skipped, and later (shorter) words may still fit. Groups are
        # disjoint, so the original's "already covered" check can never fire and is left out.
        if len(positions) + len(group) > num_to_predict:
            continue
        positions += group
    return positions


def _draw_replacements(count, vocab_info, rng, out):
    """80% [MASK], 10% kept (-1), 10% a random vocab entry: the draws for `count` pieces (docs/ORIGINAL.md §2.4).

    Quirk (docs/ORIGINAL.md §2.4): with whole-word masking too, the words are chosen whole but these draws are per
    piece.
    """
    random = rng.random
    getrandbits = rng.getrandbits
    word_ids = vocab_info.word_ids
    vocab_size = len(word_ids)
    bits = vocab_size.bit_length()
    mask_id = vocab_info.mask_id
    for _ in range(count):
        if random() < 0.8:
            out.append(mask_id)
        elif random() < 0.5:
            out.append(-1)
        else:
            # Quirk (docs/ORIGINAL.md §2.4): drawn from the whole vocab, [PAD]/[CLS]/[SEP]/[MASK]/[unusedN] included;
            # this is randint(0, vocab_size - 1) inlined (the same getrandbits calls).
            j = getrandbits(bits)
            while j >= vocab_size:
                j = getrandbits(bits)
            out.append(word_ids[j])
