"""SQuAD v1.1/v2.0 examples and sliding-window features, exactly as the original run_squad (docs/ORIGINAL.md §6.1,
§6.2). A cousin's tokenizer packs its own way (`finetuning_data.Layout`): RoBERTa's windows are
`<s> query </s></s> span </s>`, all segment 0, and its context words are tokenized with their leading space."""

from __future__ import annotations

import dataclasses
import json
import logging
import random

import numpy as np

from bert_tf.finetuning_data import layout_of, tokenize_word

FIRST_UNIQUE_ID = 1_000_000_000  # the original's unique_id counter start


@dataclasses.dataclass(frozen=True)
class SquadExample:
    """One question. doc_tokens are the context's whitespace words; start/end_position are word indices of the
    training answer (-1 if impossible, None when not training). `answers` holds every gold answer text of the
    file (not used by features; the evaluation's references)."""

    qas_id: str
    question_text: str
    doc_tokens: tuple[str, ...]
    orig_answer_text: str | None = None
    start_position: int | None = None
    end_position: int | None = None
    is_impossible: bool = False
    answers: tuple[str, ...] = ()


@dataclasses.dataclass(frozen=True)
class SquadFeatures:
    """One window of one example: [CLS] query [SEP] doc span [SEP], zero-padded. token_to_orig_map and
    token_is_max_context are keyed by positions of span tokens; start/end_position are training labels."""

    unique_id: int
    example_index: int
    doc_span_index: int
    tokens: tuple[str, ...]
    token_to_orig_map: dict
    token_is_max_context: dict
    input_ids: tuple[int, ...]
    input_mask: tuple[int, ...]
    segment_ids: tuple[int, ...]
    start_position: int | None = None
    end_position: int | None = None
    is_impossible: bool = False


def is_whitespace(char: str) -> bool:
    """The characters the original splits SQuAD contexts on (U+202F, narrow no-break space, included)."""
    return char in " \t\r\n" or ord(char) == 0x202F


def split_context(text: str) -> tuple[list[str], list[int]]:
    """(doc words, char -> word index) of a context; whitespace maps to the preceding word (-1 before any)."""
    words, char_to_word, after_space = [], [], True
    for char in text:
        if is_whitespace(char):
            after_space = True
        else:
            if after_space:
                words.append(char)
            else:
                words[-1] += char
            after_space = False
        char_to_word.append(len(words) - 1)
    return words, char_to_word


def read_squad_examples(path: str, training: bool, version_2_with_negative: bool = False) -> list[SquadExample]:
    """A SQuAD JSON file -> examples. Training: one answer per answerable question (else ValueError); an answer
    whose text is not found in its word span is skipped with a warning, as the original does."""
    with open(path, encoding="utf-8") as f:
        try:
            data = json.load(f)["data"]
        except (json.JSONDecodeError, KeyError, TypeError) as error:
            raise ValueError(f"{path}: not a SQuAD file ({error!r})") from None
    examples, skipped = [], 0
    for a, article in enumerate(data):
        for p, paragraph in enumerate(_field(path, f"article {a}", article, "paragraphs")):
            words, char_to_word = split_context(_field(path, f"article {a} paragraph {p}", paragraph, "context"))
            for qa in _field(path, f"article {a} paragraph {p}", paragraph, "qas"):
                example = _example(path, qa, words, char_to_word, training, version_2_with_negative)
                skipped += example is None
                if example is not None:
                    examples.append(example)
    if skipped:
        logging.warning("%s: skipped %d questions whose answer text is not in the context", path, skipped)
    if not examples:
        raise ValueError(f"{path}: no questions")
    return examples


def _field(path, where, record, key, hint=""):
    """record[key], or a ValueError naming the file, the record and the key (the original: a bare KeyError)."""
    try:
        return record[key]
    except (KeyError, TypeError, IndexError):
        raise ValueError(f"{path}: {where} has no {key!r}{hint}") from None


def _example(path, qa, words, char_to_word, training, version_2_with_negative):
    qa_id = _field(path, "a question", qa, "id")
    where = f"question {qa_id}"
    answers = tuple(_field(path, f"{where} answer", answer, "text") for answer in qa.get("answers", ()))
    example = SquadExample(qa_id, _field(path, where, qa, "question"), tuple(words), answers=answers)
    if not training:
        return example
    impossible = version_2_with_negative and bool(_field(
        path, where, qa, "is_impossible", " (a SQuAD v1.1 file read with --version_2_with_negative?)"))
    if impossible:
        return dataclasses.replace(example, orig_answer_text="", start_position=-1, end_position=-1,
                                   is_impossible=True)
    if len(_field(path, where, qa, "answers", " (training needs each question's answer)")) != 1:
        raise ValueError(f"{path}: question {qa_id}: for training, each question should have exactly 1 answer")
    answer = qa["answers"][0]
    text, offset = _field(path, f"{where} answer", answer, "text"), _field(path, f"{where} answer", answer,
                                                                              "answer_start")
    start, end = _answer_words(path, qa_id, char_to_word, offset, len(text))
    if " ".join(words[start:end + 1]).find(" ".join(text.split())) == -1:
        logging.warning("could not find answer: %r vs. %r", " ".join(words[start:end + 1]), " ".join(text.split()))
        return None
    return dataclasses.replace(example, orig_answer_text=text, start_position=start, end_position=end)


def _answer_words(path, qa_id, char_to_word, offset, length) -> tuple[int, int]:
    """Word indices of the answer's first and last character, indexed exactly as the original does: Python list
    semantics, so a negative index wraps (an empty answer's last character is offset - 1, i.e. the context's last
    word at offset 0) and only an index past either end fails (the original's IndexError, here a ValueError)."""
    try:
        return char_to_word[offset], char_to_word[offset + length - 1]
    except (IndexError, TypeError):
        raise ValueError(f"{path}: question {qa_id}: answer_start {offset!r} + {length} chars outside context "
                         f"of {len(char_to_word)} chars") from None


def shuffled_for_training(examples: list, seed: int = 12345) -> list:
    """A copy shuffled as the original run_squad shuffles training examples before featurisation."""
    examples = list(examples)
    random.Random(seed).shuffle(examples)
    return examples


def doc_spans(num_tokens: int, max_tokens_for_doc: int, doc_stride: int) -> list[tuple[int, int]]:
    """(start, length) windows: from 0, length min(rest, max), until one reaches the end; next start +=
    min(length, doc_stride). 500 tokens, max 371, stride 128 -> (0, 371), (128, 371), (256, 244)."""
    spans, start = [], 0
    while start < num_tokens:
        length = min(num_tokens - start, max_tokens_for_doc)
        spans.append((start, length))
        if start + length == num_tokens:
            break
        start += min(length, doc_stride)
    return spans


def max_context_span(spans: list[tuple[int, int]], position: int) -> int | None:
    """Index of the span that owns `position`: max of min(left, right context) + 0.01 x length; first wins ties."""
    best_score, best = None, None
    for index, (start, length) in enumerate(spans):
        end = start + length - 1
        if start <= position <= end:
            score = min(position - start, end - position) + 0.01 * length
            if best_score is None or score > best_score:
                best_score, best = score, index
    return best


def improve_answer_span(doc_tokens, start: int, end: int, tokenizer, answer_text: str) -> tuple[int, int]:
    """The first (shortest-from-the-left) sub-span whose pieces equal the tokenized answer, else unchanged."""
    answer = " ".join(tokenize_word(tokenizer, answer_text))
    for new_start in range(start, end + 1):
        for new_end in range(end, new_start - 1, -1):
            if " ".join(doc_tokens[new_start:new_end + 1]) == answer:
                return new_start, new_end
    return start, end


def _doc_pieces(example, tokenizer):
    """(word pieces of the context, piece -> word index, word -> first piece index)."""
    pieces, piece_to_word, word_to_piece = [], [], []
    for i, word in enumerate(example.doc_tokens):
        word_to_piece.append(len(pieces))
        for piece in tokenize_word(tokenizer, word):
            piece_to_word.append(i)
            pieces.append(piece)
    return pieces, piece_to_word, word_to_piece


def _answer_pieces(example, pieces, word_to_piece, tokenizer):
    """The training answer as (first piece, last piece), or (-1, -1) if impossible."""
    if example.is_impossible:
        return -1, -1
    start = word_to_piece[example.start_position]
    if example.end_position < len(example.doc_tokens) - 1:
        end = word_to_piece[example.end_position + 1] - 1
    else:
        end = len(pieces) - 1
    return improve_answer_span(pieces, start, end, tokenizer, example.orig_answer_text)


def convert_examples_to_features(examples, tokenizer, max_seq_length: int, doc_stride: int,
                                 max_query_length: int, training: bool) -> list[SquadFeatures]:
    """Sliding windows over each context (docs/ORIGINAL.md §6.2); unique ids count from 1,000,000,000 over all
    features."""
    features, layout = [], layout_of(tokenizer)
    specials = 2 + layout.pair_seps
    if max_seq_length <= max_query_length + specials:
        raise ValueError(f"max_seq_length {max_seq_length} must exceed max_query_length {max_query_length} + "
                         f"{specials}")
    for example_index, example in enumerate(examples):
        query = tokenizer.tokenize(example.question_text)[:max_query_length]
        pieces, piece_to_word, word_to_piece = _doc_pieces(example, tokenizer)
        answer = _answer_pieces(example, pieces, word_to_piece, tokenizer) if training else None
        spans = doc_spans(len(pieces), max_seq_length - len(query) - specials, doc_stride)
        for span_index in range(len(spans)):
            window = _window(query, pieces, piece_to_word, spans, span_index, max_seq_length, tokenizer)
            offset = len(query) + specials - 1  # the span's first position: after [CLS] query [SEP]
            labels = _window_labels(answer, spans[span_index], offset) if training else (None, None)
            features.append(SquadFeatures(FIRST_UNIQUE_ID + len(features), example_index, span_index, **window,
                                          start_position=labels[0], end_position=labels[1],
                                          is_impossible=example.is_impossible))
    return features


def _window(query, pieces, piece_to_word, spans, span_index, max_seq_length, tokenizer) -> dict:
    start, length = spans[span_index]
    layout = layout_of(tokenizer)
    offset = len(query) + 1 + layout.pair_seps
    tokens = [layout.cls, *query, *[layout.sep] * layout.pair_seps, *pieces[start:start + length], layout.sep]
    segment_ids = [0] * offset + [layout.segment_b] * (length + 1)
    positions = range(offset, offset + length)
    pad = max_seq_length - len(tokens)
    return dict(
        tokens=tuple(tokens),
        token_to_orig_map={p: piece_to_word[start + p - offset] for p in positions},
        token_is_max_context={p: max_context_span(spans, start + p - offset) == span_index for p in positions},
        input_ids=tuple(tokenizer.convert_tokens_to_ids(tokens)) + (layout.pad_id,) * pad,
        input_mask=(1,) * len(tokens) + (0,) * pad,
        segment_ids=tuple(segment_ids) + (0,) * pad,
    )


def _window_labels(answer, span, offset) -> tuple[int, int]:
    """Answer positions inside this window (whose span starts at `offset`), or (0, 0) ([CLS]) if impossible or
    not fully inside it."""
    start, end = answer
    span_start, span_end = span[0], span[0] + span[1] - 1
    if start < 0 or not (start >= span_start and end <= span_end):
        return 0, 0
    return start - span_start + offset, end - span_start + offset


def feature_arrays(features: list[SquadFeatures]) -> dict[str, np.ndarray]:
    """unique_ids [N], input_ids/input_mask/segment_ids [N, S], is_real_example [N] (all 1: SQuAD has no
    padding examples), and with training labels start_positions, end_positions [N] (int32, as the original
    input_fn casts every int64 feature)."""
    if not features:
        raise ValueError("no features to stack")
    arrays = {"unique_ids": np.asarray([f.unique_id for f in features], np.int32)}
    for name in ("input_ids", "input_mask", "segment_ids"):
        arrays[name] = np.asarray([getattr(f, name) for f in features], np.int32)
    arrays["is_real_example"] = np.ones(len(features), np.int32)
    if features[0].start_position is not None:
        arrays["start_positions"] = np.asarray([f.start_position for f in features], np.int32)
        arrays["end_positions"] = np.asarray([f.end_position for f in features], np.int32)
    return arrays
