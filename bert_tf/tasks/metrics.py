"""Task metrics on NumPy arrays: (labels, predictions) -> dict of floats.

Classification metrics take predicted class ids [N] or logits/probabilities [N, K] (argmax). Padding examples
(is_real_example 0) must be dropped by the caller. scikit-learn, SciPy and seqeval are imported inside the
functions: importing them at module level would slow every TensorFlow import.
"""

from __future__ import annotations

import numpy as np

from bert_tf.finetuning_data import IGNORE_LABEL_ID


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


def tag_sequences(label_ids, tag_ids, tags: tuple[str, ...]) -> tuple[list[list[str]], list[list[str]]]:
    """[N, S] gold and predicted ids (or [N, S, L] scores) -> per-sentence tag strings at the positions whose
    gold id is not IGNORE_LABEL_ID (the first piece of each word)."""
    label_ids, tag_ids = _checked(label_ids, tag_ids)
    tag_ids = tag_ids.argmax(-1) if tag_ids.ndim == 3 else tag_ids
    gold, predicted = [], []
    for row_labels, row_predictions in zip(label_ids, tag_ids, strict=True):
        keep = row_labels != IGNORE_LABEL_ID
        gold.append([tags[i] for i in row_labels[keep]])
        predicted.append([tags[i] for i in row_predictions[keep]])
    return gold, predicted


def entity_f1(label_ids, tag_ids, tags: tuple[str, ...]) -> dict:
    """Entity-level precision, recall, F1 (seqeval's default, conlleval-compatible chunking) and token accuracy."""
    from seqeval.metrics import accuracy_score, f1_score, precision_score, recall_score

    gold, predicted = tag_sequences(label_ids, tag_ids, tags)
    return {"precision": float(precision_score(gold, predicted, zero_division=0)),
            "recall": float(recall_score(gold, predicted, zero_division=0)),
            "f1": float(f1_score(gold, predicted, zero_division=0)),
            "accuracy": float(accuracy_score(gold, predicted))}
