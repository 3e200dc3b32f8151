"""Fine-tuning examples and features: packing `[CLS] a [SEP] (b [SEP])` as the original, per-kind feature
conversion (classification, regression, multiple choice, tagging), padding examples, and features -> tf.data.

Each model type has its tokenizer (`tokenizer_for`) and its `Layout`: special tokens, how a pair is packed
(RoBERTa: `<s> a </s></s> b </s>`, one token type), its padding id and how its pieces mark words. A WordPiece
tokenizer (BERT, DistilBERT) is the original `FullTokenizer`, whose layout is BERT's.

Pure Python/NumPy except `make_dataset`, which imports TensorFlow when called.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import re
import string

import numpy as np

IGNORE_LABEL_ID = -1  # tagging: label of word pieces that are not a word's first piece, [CLS], [SEP], padding
_SENTENCEPIECE_WORD_STARTS = frozenset(string.punctuation)  # ALBERT's whole-word masking: a mark starts a word


@dataclasses.dataclass(frozen=True)
class Layout:
    """How a model type packs and marks its pieces (Hugging Face's build_inputs_with_special_tokens and
    token_type_ids for each).

    Attributes:
      cls, sep, mask: the special pieces (`<s>`, `</s>`, `<mask>` for RoBERTa).
      pad_id: the id padding positions get.
      pair_seps: separators between A and B (BERT one, RoBERTa two: `</s></s>`).
      segment_b: B's token type id (RoBERTa has one type: 0).
      word_marks: how pieces mark words: "wordpiece" ("##" continues a word), "sentencepiece" ("\u2581" starts
        one; so does a lone punctuation mark, as ALBERT's whole-word masking has it), "byte_bpe" ("\u0120", a
        space, starts one).
      prefix_space: a word tokenized alone is given the space it has inside a text (byte-level BPE: " word").
    """

    cls: str = "[CLS]"
    sep: str = "[SEP]"
    mask: str = "[MASK]"
    pad_id: int = 0
    pair_seps: int = 1
    segment_b: int = 1
    word_marks: str = "wordpiece"
    prefix_space: bool = False

    def continues_word(self, piece: str) -> bool:
        """Whether `piece` continues the word of the piece before it (whole-word masking)."""
        if self.word_marks == "wordpiece":
            return piece.startswith("##")
        if piece in (self.cls, self.sep, self.mask) or piece.startswith("<"):
            return False
        if self.word_marks == "sentencepiece":
            return not (piece.startswith("\u2581") or piece in _SENTENCEPIECE_WORD_STARTS)
        return not piece.startswith("\u0120")


BERT_LAYOUT = Layout()
LAYOUTS = {"bert": BERT_LAYOUT, "distilbert": BERT_LAYOUT, "albert": Layout(word_marks="sentencepiece"),
           "roberta": Layout("<s>", "</s>", "<mask>", pad_id=1, pair_seps=2, segment_b=0, word_marks="byte_bpe",
                             prefix_space=True)}


def layout_of(tokenizer) -> Layout:
    """The tokenizer's layout: a `ModelTokenizer`'s own, BERT's for the original `FullTokenizer`."""
    return getattr(tokenizer, "layout", BERT_LAYOUT)


def tokenize_word(tokenizer, word: str) -> list[str]:
    """The pieces of one whitespace-separated word as it would be tokenized inside a text (SQuAD contexts, tagged
    words): byte-level BPE marks a word's space in its first piece, so the word is given one (as Hugging Face's
    SQuAD features for RoBERTa, `add_prefix_space`)."""
    return tokenizer.tokenize(" " + word if layout_of(tokenizer).prefix_space else word)


class ModelTokenizer:
    """ALBERT's SentencePiece or RoBERTa's byte-level BPE tokenizer with what packing and masking read from a
    tokenizer: `tokenize`, `convert_tokens_to_ids`, `convert_ids_to_tokens`, `vocab` {piece: id} and `layout`."""

    def __init__(self, tokenizer, layout: Layout):
        self.tokenizer = tokenizer
        size = getattr(tokenizer, "vocab_size", None) or len(tokenizer.vocab)
        self.vocab = {piece: i for i, piece in enumerate(tokenizer.convert_ids_to_tokens(range(size)))}
        self.layout = dataclasses.replace(layout, pad_id=tokenizer.pad_id)

    def tokenize(self, text: str) -> list[str]:
        return self.tokenizer.tokenize(text)

    def convert_tokens_to_ids(self, pieces) -> list[int]:
        return self.tokenizer.convert_tokens_to_ids(pieces)

    def convert_ids_to_tokens(self, ids) -> list[str]:
        return self.tokenizer.convert_ids_to_tokens(ids)


def uses_wordpiece(model_type: str, vocab_file: str | None) -> bool:
    """Whether `model_type` tokenizes with WordPiece on `vocab_file`: BERT and DistilBERT always; ALBERT and RoBERTa
    when given a WordPiece `.txt` vocab (their bodies compared on one vocabulary, as bench/pretraining_curve.py)."""
    return model_type in ("bert", "distilbert") or bool(vocab_file and os.fspath(vocab_file).endswith(".txt"))


def tokenizer_for(model_type: str, vocab_file: str, do_lower_case: bool = True, merges_file: str | None = None,
                  vocab_size: int | None = None):
    """The tokenizer of `model_type` on its files: WordPiece `FullTokenizer(vocab_file)` for BERT and DistilBERT
    (and for any type given a `.txt` vocab: `uses_wordpiece`); ALBERT's SentencePiece on a `.model`
    (`vocab_file=spiece.model`); RoBERTa's byte-level BPE on `vocab.json` and `merges_file` (default: merges.txt
    beside it; byte-level BPE is cased: do_lower_case does not apply).

    Raises:
      ValueError: naming the file when it is not the model type's (not a SentencePiece model, not a vocab.json,
        a merges.txt that does not fit it), or when its size is not the model's `vocab_size` (ALBERT, RoBERTa).
    """
    if model_type in LAYOUTS and uses_wordpiece(model_type, vocab_file):
        from bert_tf.tokenization import FullTokenizer

        return FullTokenizer(vocab_file, do_lower_case)
    if model_type == "albert":
        from bert_tf.sentencepiece_tokenization import AlbertTokenizer

        return ModelTokenizer(AlbertTokenizer(vocab_file, do_lower_case, vocab_size=vocab_size), LAYOUTS[model_type])
    if model_type == "roberta":
        from bert_tf.byte_bpe import ByteLevelBPETokenizer

        merges_file = merges_file or os.path.join(os.path.dirname(vocab_file), "merges.txt")
        return ModelTokenizer(ByteLevelBPETokenizer(vocab_file, merges_file, vocab_size), LAYOUTS[model_type])
    raise ValueError(f"model_type {model_type!r} is not one of bert, albert, roberta, distilbert")


@dataclasses.dataclass(frozen=True)
class InputExample:
    """One sentence (pair) example, the original's InputExample; `label` None on test sets (-> label id 0)."""

    guid: str
    text_a: str
    text_b: str | None = None
    label: str | float | None = None


@dataclasses.dataclass(frozen=True)
class ChoiceExample:
    """One multiple-choice example: the context is segment A, each ending segment B; `label` is the gold index."""

    guid: str
    context: str
    endings: tuple[str, ...]
    label: int | None = None


@dataclasses.dataclass(frozen=True)
class TaggedExample:
    """One sentence of words with one tag per word (tags None on unlabelled data)."""

    guid: str
    words: tuple[str, ...]
    tags: tuple[str, ...] | None = None


@dataclasses.dataclass(frozen=True)
class PaddingInputExample:
    """A fake example that pads an eval/predict set to a multiple of the batch size (the original's TPU padding):
    it becomes all-zero features with label 0 and is_real_example False, so weighted metrics ignore it."""


@dataclasses.dataclass(frozen=True)
class InputFeatures:
    """One packed example; keys are the original feature names. `label_id` is an int (classification), a float
    (regression) or a tuple of S ints (tagging); multiple choice uses ChoiceFeatures."""

    tokens: tuple[str, ...]  # the real tokens incl. [CLS]/[SEP], no padding
    input_ids: tuple[int, ...]
    input_mask: tuple[int, ...]
    segment_ids: tuple[int, ...]
    label_id: int | float | tuple[int, ...] = 0
    is_real_example: bool = True


@dataclasses.dataclass(frozen=True)
class ChoiceFeatures:
    """One multiple-choice example packed as C sequences (one InputFeatures per choice) and the gold index."""

    choices: tuple[InputFeatures, ...]
    label_id: int = 0
    is_real_example: bool = True


def truncate_seq_pair(tokens_a: list, tokens_b: list, max_length: int) -> None:
    """Pops from the end of the longer list (ties -> b) until the pair fits, in place (docs/ORIGINAL.md §5.3)."""
    while len(tokens_a) + len(tokens_b) > max_length:
        if len(tokens_a) > len(tokens_b):
            tokens_a.pop()
        else:
            tokens_b.pop()


def pack_tokens(tokens_a, tokens_b, max_seq_length: int, layout: Layout = BERT_LAYOUT) -> tuple[list[str], list[int]]:
    """Truncates as the original and returns (tokens, segment_ids) for `[CLS] a [SEP] (b [SEP])` (or `layout`'s
    packing: RoBERTa's `<s> a </s></s> b </s>`, all segment 0).

    The original tests `if tokens_b:`, so a B of no pieces (None or []) packs a single segment: at most
    max_seq_length - 2 pieces of A. A pair keeps max_seq_length - 3 in total (RoBERTa: - 4), and a B the
    truncation empties (max_seq_length 3, or 4 with pieces on both sides) gets no [SEP]: `[CLS] a [SEP]`, all
    segment 0.
    """
    tokens_a = list(tokens_a)
    tokens_b = list(tokens_b or ())
    if tokens_b:
        truncate_seq_pair(tokens_a, tokens_b, max(max_seq_length - 2 - layout.pair_seps, 0))
    else:
        del tokens_a[max(max_seq_length - 2, 0):]
    tokens = [layout.cls, *tokens_a, layout.sep]
    segment_ids = [0] * len(tokens)
    if tokens_b:  # tested again after truncation, as the original
        tokens += [layout.sep] * (layout.pair_seps - 1) + [*tokens_b, layout.sep]
        segment_ids += [layout.segment_b] * (len(tokens_b) + layout.pair_seps)
    return tokens, segment_ids


def pack_features(tokens_a, tokens_b, max_seq_length: int, tokenizer, label_id=0) -> InputFeatures:
    """Packs word pieces into padded `input_ids`, `input_mask`, `segment_ids` (padding id 0, as the original;
    the tokenizer's layout's for a cousin)."""
    if max_seq_length < 3:
        raise ValueError(f"max_seq_length must be >= 3, got {max_seq_length}")
    tokens, segment_ids = pack_tokens(tokens_a, tokens_b, max_seq_length, layout_of(tokenizer))
    return _padded(tokens, segment_ids, max_seq_length, tokenizer, label_id)


_PAIR = re.compile(r"^(.*) \|\|\| (.*)$")


def read_text_pairs(path):
    """extract_features' input: (text_a, text_b or None) per line, lines stripped; "A ||| B" is a pair."""
    from bert_tf.tokenization import convert_to_unicode

    with open(path, "rb") as f:
        for raw in f:
            line = convert_to_unicode(raw).strip()
            match = _PAIR.match(line)
            yield (match.group(1), match.group(2)) if match else (line, None)


def text_pair_features(pairs, max_seq_length, tokenizer):
    """(text_a, text_b or None) pairs -> InputFeatures, as the original convert_examples_to_features: B only when
    non-empty, and a B without word pieces (or truncated to none) packs a single segment (see pack_tokens)."""
    return [pack_features(tokenizer.tokenize(a), tokenizer.tokenize(b) if b else None, max_seq_length, tokenizer)
            for a, b in pairs]


def _padded(tokens, segment_ids, max_seq_length, tokenizer, label_id) -> InputFeatures:
    pad = max_seq_length - len(tokens)
    return InputFeatures(
        tokens=tuple(tokens),
        input_ids=tuple(tokenizer.convert_tokens_to_ids(tokens)) + (layout_of(tokenizer).pad_id,) * pad,
        input_mask=(1,) * len(tokens) + (0,) * pad,
        segment_ids=tuple(segment_ids) + (0,) * pad,
        label_id=label_id,
    )


def _padding_features(max_seq_length, label_id=0) -> InputFeatures:
    zeros = (0,) * max_seq_length
    return InputFeatures((), zeros, zeros, zeros, label_id=label_id, is_real_example=False)


def label_id_of(label, label_map: dict) -> int | float:
    """Index of `label` in the task's label list; regression (empty map) keeps the float; None (test) -> 0."""
    if label is None:
        return 0 if label_map else 0.0
    if not label_map:
        return float(label)
    if label not in label_map:
        raise ValueError(f"unknown label {label!r}; expected one of {sorted(label_map)}")
    return label_map[label]


def convert_single_example(example, label_map: dict, max_seq_length: int, tokenizer) -> InputFeatures:
    """The original `convert_single_example` (§5.3): text_b only if non-empty; padding examples -> zeros."""
    if isinstance(example, PaddingInputExample):
        return _padding_features(max_seq_length, 0 if label_map else 0.0)
    tokens_a = tokenizer.tokenize(example.text_a)
    tokens_b = tokenizer.tokenize(example.text_b) if example.text_b else None  # no pieces: pack_tokens packs A
    return pack_features(tokens_a, tokens_b, max_seq_length, tokenizer, label_id_of(example.label, label_map))


def convert_choice_example(example, label_map: dict, max_seq_length: int, tokenizer, num_choices: int):
    """[CLS] context [SEP] ending_k [SEP] for each of the `num_choices` endings (BERT issue #38, SWAG)."""
    if isinstance(example, PaddingInputExample):
        return ChoiceFeatures((_padding_features(max_seq_length),) * num_choices, 0, is_real_example=False)
    if len(example.endings) != num_choices:
        raise ValueError(f"example {example.guid}: {len(example.endings)} endings, expected {num_choices}")
    context = tokenizer.tokenize(example.context)
    choices = tuple(pack_features(context, tokenizer.tokenize(ending), max_seq_length, tokenizer)
                    for ending in example.endings)
    return ChoiceFeatures(choices, 0 if example.label is None else int(example.label))


def convert_tagged_example(example, label_map: dict, max_seq_length: int, tokenizer) -> InputFeatures:
    """Each word is word-piece tokenized on its own; its first piece carries the word's tag id, the other pieces,
    [CLS], [SEP] and padding IGNORE_LABEL_ID (paper §5.3, first sub-token). Pieces beyond max_seq_length - 2
    are cut (their words get no prediction; a warning says how many)."""
    if isinstance(example, PaddingInputExample):
        return _padding_features(max_seq_length, (IGNORE_LABEL_ID,) * max_seq_length)
    pieces, labels = [], []
    for i, word in enumerate(example.words):
        word_pieces = tokenize_word(tokenizer, word)
        tag_id = label_id_of(example.tags[i], label_map) if example.tags is not None else 0
        pieces += word_pieces
        labels += ([tag_id] + [IGNORE_LABEL_ID] * (len(word_pieces) - 1)) if word_pieces else []
    if len(pieces) > max_seq_length - 2:
        lost = sum(label != IGNORE_LABEL_ID for label in labels[max_seq_length - 2:])
        logging.warning("example %s: %d word pieces cut to %d; %d words lose their tag", example.guid,
                        len(pieces), max_seq_length - 2, lost)
    tokens, segment_ids = pack_tokens(pieces, None, max_seq_length, layout_of(tokenizer))
    label_ids = [IGNORE_LABEL_ID, *labels[:len(tokens) - 2], IGNORE_LABEL_ID]
    label_ids += [IGNORE_LABEL_ID] * (max_seq_length - len(label_ids))
    return _padded(tokens, segment_ids, max_seq_length, tokenizer, tuple(label_ids))


def pad_examples(examples: list, batch_size: int) -> list:
    """Appends PaddingInputExample until len is a multiple of batch_size (the original's TPU eval/predict)."""
    return list(examples) + [PaddingInputExample()] * (-len(examples) % batch_size)


def train_steps(num_examples: int, batch_size: int, epochs: float, warmup_proportion: float) -> tuple[int, int]:
    """(num_train_steps, num_warmup_steps) as the original: int(n / batch x epochs), int(steps x proportion).

    SQuAD counts examples, not features (docs/ORIGINAL.md §6.3). MRPC: (3668, 32, 3.0, 0.1) -> (343, 34).
    """
    steps = int(num_examples / batch_size * epochs)
    return steps, int(steps * warmup_proportion)


def feature_arrays(features: list, label_dtype=np.int32) -> dict[str, np.ndarray]:
    """InputFeatures or ChoiceFeatures -> dict of stacked arrays with the original names: input_ids,
    input_mask, segment_ids ([N, S] or [N, C, S]), label_ids ([N] or [N, S] for tagging), is_real_example [N]."""
    if not features:
        raise ValueError("no features to stack")

    def column(name, get=lambda f, name: getattr(f, name)):
        return np.asarray([get(f, name) for f in features], np.int32)

    if isinstance(features[0], ChoiceFeatures):
        arrays = {name: column(name, lambda f, n: [getattr(c, n) for c in f.choices])
                  for name in ("input_ids", "input_mask", "segment_ids")}  # [N, C, S]
    else:
        arrays = {name: column(name) for name in ("input_ids", "input_mask", "segment_ids")}  # [N, S]
    arrays["label_ids"] = np.asarray([f.label_id for f in features], label_dtype)
    arrays["is_real_example"] = np.asarray([f.is_real_example for f in features], np.int32)
    return arrays


def make_dataset(arrays: dict, batch_size: int, training: bool, shuffle_buffer: int = 100, seed=None,
                 input_context=None):
    """Arrays -> tf.data.Dataset of dict batches. Training as the original input_fn: repeat, shuffle(100),
    batch(drop_remainder=True); evaluation/prediction: one pass in order, last batch kept (GPU/CPU semantics).
    With a tf.distribute.InputContext of several input pipelines, each takes its share of the one seeded order."""
    import tensorflow as tf

    dataset = tf.data.Dataset.from_tensor_slices(dict(arrays))
    if training:
        dataset = dataset.repeat().shuffle(shuffle_buffer, seed=seed)
    if input_context is not None and input_context.num_input_pipelines > 1:
        dataset = dataset.shard(input_context.num_input_pipelines, input_context.input_pipeline_id)
    return dataset.batch(batch_size, drop_remainder=training)
