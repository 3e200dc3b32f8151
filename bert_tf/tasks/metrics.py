"""Task metrics on NumPy arrays: (labels, predictions) -> dict of floats.

Classification metrics take predicted class ids [N] or logits/probabilities [N, K] (argmax). Padding examples
(is_real_example 0) must be dropped by the caller. scikit-learn, SciPy and seqeval are imported inside the
functions: importing them at module level would slow every TensorFlow import.
"""

from __future__ import annotations

import functools

import numpy as np

from bert_tf.finetuning_data import IGNORE_LABEL_ID, PaddingInputExample
from bert_tf.tokenization import BasicTokenizer

# Our convention for a word that has no first word piece (it tokenizes to nothing, or truncation cut it off): it
# gets no prediction, so it is scored and written as outside any entity.
NO_PIECE_TAG = "O"


def class_ids(predictions) -> np.ndarray:
    """Class ids [N] from ids [N] or scores [N, K] (argmax over the last axis)."""
    predictions = np.asarray(predictions)
    return predictions.argmax(-1) if predictions.ndim == 2 else predictions


def _checked(labels, predictions):
    labels, predictions = np.asarray(labels), np.asarray(predictions)
    if labels.shape[0] != predictions.shape[0]:
        raise ValueError(f"{labels.shape[0]} labels but {predictions.shape[0]} predictions")
    if labels.shape[0] == 0:
        raise ValueError("no labels to score")
    return labels, predictions


def accuracy(labels, predictions) -> dict:
    labels, predictions = _checked(labels, class_ids(predictions))
    return {"accuracy": float(np.mean(labels == predictions))}


def accuracy_and_f1(labels, predictions) -> dict:
    """Accuracy and the F1 of the positive class 1 (MRPC, QQP)."""
    from sklearn.metrics import f1_score

    labels, predictions = _checked(labels, class_ids(predictions))
    return {"accuracy": float(np.mean(labels == predictions)),
            "f1": float(f1_score(labels, predictions, pos_label=1, average="binary", zero_division=0.0))}


def matthews(labels, predictions) -> dict:
    """Matthews correlation (CoLA's GLUE metric; 0.0 when undefined), plus the accuracy the original reports."""
    from sklearn.metrics import matthews_corrcoef

    labels, predictions = _checked(labels, class_ids(predictions))
    return {"matthews_corrcoef": float(matthews_corrcoef(labels, predictions)),
            "accuracy": float(np.mean(labels == predictions))}


def pearson_spearman(labels, predictions) -> dict:
    """Pearson and Spearman correlations of regression scores [N] (or [N, 1]) with the gold scores (STS-B)."""
    from scipy.stats import pearsonr, spearmanr

    labels, predictions = _checked(np.ravel(labels), np.ravel(predictions))
    return {"pearson": float(pearsonr(predictions, labels)[0]),
            "spearman": float(spearmanr(predictions, labels)[0])}


@functools.cache
def _basic_tokenizer(do_lower_case: bool) -> BasicTokenizer:
    return BasicTokenizer(do_lower_case)


def word_first_pieces(words, num_first_pieces: int) -> list[int | None]:
    """Per word, the index of its first piece among a feature's first pieces (label id not IGNORE_LABEL_ID), or
    None. convert_tagged_example gives one, in order, to every word that tokenizes to something, up to the cut at
    max_seq_length - 2: so a word anywhere that tokenizes to nothing (only control/format characters such as
    "\u200b"; lower-cased, also only combining accents) and every word after the cut get None. do_lower_case is
    not known here; the readings differ only on accents-only words: the one whose count of words with pieces is
    num_first_pieces wins, else the lower-cased one (the flag's default)."""
    readings = [[bool(_basic_tokenizer(lower).tokenize(word)) for word in words] for lower in (True, False)]
    has_pieces = next((r for r in readings if sum(r) == num_first_pieces), readings[0])
    positions, count = [], 0
    for has in has_pieces:
        positions.append(count if has and count < num_first_pieces else None)
        count += positions[-1] is not None
    if count != num_first_pieces:
        raise ValueError(f"{num_first_pieces} first pieces but only {count} of {len(words)} words have pieces")
    return positions


def word_tags(example, label_row, predicted_row, tags: tuple[str, ...]) -> tuple[list[str], list[str]]:
    """(gold, predicted) tag of every word of a TaggedExample, as conlleval scores every word of the file: gold
    from the example ("O" when unlabelled), predicted at the word's first piece, NO_PIECE_TAG without one.
    ValueError if the feature's gold ids are not the example's tags (features of another example)."""
    label_row, predicted_row = np.asarray(label_row), np.asarray(predicted_row)
    keep = label_row != IGNORE_LABEL_ID
    first = predicted_row[keep]
    positions = word_first_pieces(example.words, len(first))
    gold = list(example.tags) if example.tags is not None else ["O"] * len(example.words)
    if example.tags is not None:
        visible = [tag for tag, position in zip(gold, positions, strict=True) if position is not None]
        if visible != [tags[i] for i in label_row[keep]]:
            raise ValueError(f"example {example.guid}: its features' label ids {label_row[keep].tolist()} are not "
                             f"its tags {visible}")
    predicted = [NO_PIECE_TAG if position is None else tags[first[position]] for position in positions]
    return gold, predicted


def tag_sequences(label_ids, tag_ids, tags: tuple[str, ...], examples=None) -> tuple[list[list[str]], list[list[str]]]:
    """[N, S] gold and predicted ids (or [N, S, L] scores) -> per-sentence tag strings. Without `examples`: at
    the positions whose gold id is not IGNORE_LABEL_ID (first pieces), so words without a piece are not scored.
    With the N real examples (PaddingInputExample dropped): every word, as word_tags."""
    label_ids, tag_ids = _checked(label_ids, tag_ids)
    tag_ids = tag_ids.argmax(-1) if tag_ids.ndim == 3 else tag_ids
    if examples is not None:
        examples = [e for e in examples if not isinstance(e, PaddingInputExample)]
        if len(examples) != len(label_ids):
            raise ValueError(f"{len(examples)} real examples but {len(label_ids)} label rows")
        rows = zip(examples, label_ids, tag_ids, strict=True)
        pairs = [word_tags(example, row, predicted, tags) for example, row, predicted in rows]
        return [gold for gold, _ in pairs], [predicted for _, predicted in pairs]
    gold, predicted = [], []
    for row_labels, row_predictions in zip(label_ids, tag_ids, strict=True):
        keep = row_labels != IGNORE_LABEL_ID
        gold.append([tags[i] for i in row_labels[keep]])
        predicted.append([tags[i] for i in row_predictions[keep]])
    return gold, predicted


def entity_f1(label_ids, tag_ids, tags: tuple[str, ...], examples=None) -> dict:
    """Entity-level precision, recall, F1 (seqeval's default, conlleval-compatible chunking) and token accuracy.
    Pass the examples to score every word (conlleval's count); without them words with no piece are missed."""
    from seqeval.metrics import accuracy_score, f1_score, precision_score, recall_score

    gold, predicted = tag_sequences(label_ids, tag_ids, tags, examples)
    return {"precision": float(precision_score(gold, predicted, zero_division=0)),
            "recall": float(recall_score(gold, predicted, zero_division=0)),
            "f1": float(f1_score(gold, predicted, zero_division=0)),
            "accuracy": float(accuracy_score(gold, predicted))}
