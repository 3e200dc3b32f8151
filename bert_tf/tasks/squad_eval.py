"""The official SQuAD evaluation semantics (evaluate-v1.1.py, evaluate-v2.0.py; docs/ORIGINAL.md §6.6).

`gold` maps a question id to its reference answer texts ([] for an unanswerable v2 question): build it from a
SQuAD file with `gold_answers` or from dev examples with `gold_from_examples`.
"""

from __future__ import annotations

import collections
import json
import re
import string

_ARTICLES = re.compile(r"\b(a|an|the)\b", re.UNICODE)
_PUNCTUATION = frozenset(string.punctuation)


def normalize_answer(text: str) -> str:
    """Lower-case, drop ASCII punctuation, drop the articles a/an/the, collapse whitespace."""
    text = "".join(char for char in text.lower() if char not in _PUNCTUATION)
    return " ".join(_ARTICLES.sub(" ", text).split())


def exact_match(prediction: str, truth: str) -> bool:
    return normalize_answer(prediction) == normalize_answer(truth)


def f1_v1(prediction: str, truth: str) -> float:
    """v1.1 token-bag F1 (0 when nothing overlaps, including two empty answers)."""
    return _f1(normalize_answer(prediction).split(), normalize_answer(truth).split())


def f1_v2(prediction: str, truth: str) -> float:
    """v2.0 F1: if either side has no tokens, 1 iff both have none."""
    predicted, gold = normalize_answer(prediction).split(), normalize_answer(truth).split()
    if not predicted or not gold:
        return float(predicted == gold)
    return _f1(predicted, gold)


def _f1(predicted: list[str], gold: list[str]) -> float:
    same = sum((collections.Counter(predicted) & collections.Counter(gold)).values())
    if same == 0:
        return 0.0
    precision, recall = same / len(predicted), same / len(gold)
    return 2 * precision * recall / (precision + recall)


def gold_answers(dataset: list) -> dict[str, list[str]]:
    """The `data` list of a SQuAD JSON file -> {question id: [answer texts]}."""
    return {qa["id"]: [answer["text"] for answer in qa["answers"]]
            for article in dataset for paragraph in article["paragraphs"] for qa in paragraph["qas"]}


def gold_from_file(path: str) -> dict[str, list[str]]:
    with open(path, encoding="utf-8") as f:
        return gold_answers(json.load(f)["data"])


def gold_from_examples(examples) -> dict[str, list[str]]:
    """Dev SquadExamples (read with training=False) -> {question id: [answer texts]}."""
    return {example.qas_id: list(example.answers) for example in examples}


def evaluate_v1(gold: dict, predictions: dict) -> dict:
    """{"exact_match", "f1"} in percent over all gold questions; a missing prediction scores 0."""
    exact = f1 = 0.0
    for qid, truths in gold.items():
        if qid in predictions:
            exact += max(exact_match(predictions[qid], truth) for truth in truths)
            f1 += max(f1_v1(predictions[qid], truth) for truth in truths)
    return {"exact_match": 100.0 * exact / len(gold), "f1": 100.0 * f1 / len(gold)}


def raw_scores_v2(gold: dict, predictions: dict) -> tuple[dict, dict]:
    """Per-question exact and F1 (references normalising to empty dropped; none left -> [""])."""
    exact, f1 = {}, {}
    for qid, truths in gold.items():
        truths = [truth for truth in truths if normalize_answer(truth)] or [""]
        if qid in predictions:
            exact[qid] = max(float(exact_match(predictions[qid], truth)) for truth in truths)
            f1[qid] = max(f1_v2(predictions[qid], truth) for truth in truths)
    return exact, f1


def _summary(exact, f1, qids) -> dict:
    return {"exact": 100.0 * sum(exact[q] for q in qids) / len(qids),
            "f1": 100.0 * sum(f1[q] for q in qids) / len(qids), "total": len(qids)}


def best_threshold(predictions, scores, na_probs, has_answer) -> tuple[float, float]:
    """(best score in percent, its na-prob threshold): predict no-answer above the threshold."""
    current = best = sum(1 for qid in has_answer if not has_answer[qid])
    threshold = 0.0
    for qid in sorted(na_probs, key=lambda q: na_probs[q]):
        if qid not in scores:
            continue
        current += scores[qid] if has_answer[qid] else (-1 if predictions[qid] else 0)
        if current > best:
            best, threshold = current, na_probs[qid]
    return 100.0 * best / len(scores), threshold


def evaluate_v2(gold: dict, predictions: dict, na_probs: dict | None = None, na_prob_thresh: float = 1.0) -> dict:
    """exact, f1, total, HasAns_*/NoAns_* and, given na_probs (BERT's null_odds.json), best_exact(_thresh) and
    best_f1(_thresh); questions without a prediction are left out of every total (the official script leaves them
    out of the overall total and crashes on the HasAns/NoAns ones)."""
    has_answer = {qid: bool(truths) for qid, truths in gold.items()}
    exact_raw, f1_raw = raw_scores_v2(gold, predictions)
    probs = na_probs if na_probs is not None else {qid: 0.0 for qid in predictions}

    def thresholded(scores):
        return {qid: float(not has_answer[qid]) if probs[qid] > na_prob_thresh else s for qid, s in scores.items()}

    exact, f1 = thresholded(exact_raw), thresholded(f1_raw)
    result = _summary(exact, f1, list(exact))
    for prefix, wanted in (("HasAns", True), ("NoAns", False)):
        qids = [qid for qid, has in has_answer.items() if has == wanted and qid in exact]
        if qids:
            result.update({f"{prefix}_{k}": v for k, v in _summary(exact, f1, qids).items()})
    if na_probs is not None:
        result["best_exact"], result["best_exact_thresh"] = best_threshold(predictions, exact_raw, probs, has_answer)
        result["best_f1"], result["best_f1_thresh"] = best_threshold(predictions, f1_raw, probs, has_answer)
    return result
