"""SQuAD post-processing, the original `write_predictions` (docs/ORIGINAL.md §6.4, §6.5): n-best spans per question,
answer projection back to the original text; outputs.write_squad_predictions writes the three JSON files.

One deliberate fix: on v2, when no non-empty answer survives in the n-best (the original then crashes with
AttributeError, BERT issues #211, #417, #476), the prediction is "" and its null odds are
null_score_diff_threshold + 1.0, as the fix proposed in BERT pull request #477; null_odds.json keeps that value
so every question has an entry for the official evaluation's --na-prob-file.
"""

from __future__ import annotations

import collections
import dataclasses
import math

import numpy as np

from bert_tf.tokenization import BasicTokenizer


@dataclasses.dataclass(frozen=True)
class RawResult:
    """The span head's output for one feature."""

    unique_id: int
    start_logits: tuple[float, ...]
    end_logits: tuple[float, ...]


@dataclasses.dataclass(frozen=True)
class _Candidate:
    feature_index: int
    start_index: int
    end_index: int
    start_logit: float
    end_logit: float


def best_indexes(logits, n_best_size: int) -> list[int]:
    """Indexes of the n largest logits, largest first; ties keep the lower index first (a stable sort)."""
    return np.argsort(-np.asarray(logits, np.float64), kind="stable")[:n_best_size].tolist()


def softmax(scores: list[float]) -> list[float]:
    """The original's _compute_softmax, in Python floats."""
    if not scores:
        return []
    top = max(scores)
    exps = [math.exp(score - top) for score in scores]
    total = sum(exps)
    return [x / total for x in exps]


def _strip_spaces(text: str) -> tuple[str, dict[int, int]]:
    """text without " ", and index in that text -> index in `text`."""
    kept = [(i, c) for i, c in enumerate(text) if c != " "]
    return "".join(c for _, c in kept), {ns: i for ns, (i, _) in enumerate(kept)}


def get_final_text(pred_text: str, orig_text: str, do_lower_case: bool) -> str:
    """Projects a prediction made on normalised word pieces back onto the original words: basic-tokenize the
    original text, find the prediction in it, align characters ignoring spaces, return that substring of the
    original. Falls back to the whole original text whenever the alignment fails (as the original)."""
    tok_text = " ".join(BasicTokenizer(do_lower_case=do_lower_case).tokenize(orig_text))
    start = tok_text.find(pred_text)
    if start == -1:
        return orig_text
    end = start + len(pred_text) - 1
    orig_ns_text, orig_ns_to_s = _strip_spaces(orig_text)
    tok_ns_text, tok_ns_to_s = _strip_spaces(tok_text)
    if len(orig_ns_text) != len(tok_ns_text):
        return orig_text
    tok_s_to_ns = {s: ns for ns, s in tok_ns_to_s.items()}
    orig_start = orig_ns_to_s.get(tok_s_to_ns.get(start, -1))
    orig_end = orig_ns_to_s.get(tok_s_to_ns.get(end, -1))
    if orig_start is None or orig_end is None:
        return orig_text
    return orig_text[orig_start:orig_end + 1]


def _candidates(features, results, n_best_size, max_answer_length, version_2_with_negative):
    """All valid (feature, start, end) spans of one example, plus the v2 null candidate, best first."""
    candidates, null, score_null = [], _Candidate(0, 0, 0, 0.0, 0.0), 1_000_000.0  # the original's start
    for feature_index, feature in enumerate(features):
        result = results[feature.unique_id]
        if version_2_with_negative and result.start_logits[0] + result.end_logits[0] < score_null:
            score_null = result.start_logits[0] + result.end_logits[0]
            null = _Candidate(feature_index, 0, 0, result.start_logits[0], result.end_logits[0])
        for start in best_indexes(result.start_logits, n_best_size):
            for end in best_indexes(result.end_logits, n_best_size):
                if (start < len(feature.tokens) and end < len(feature.tokens) and start in feature.token_to_orig_map
                        and end in feature.token_to_orig_map and feature.token_is_max_context.get(start, False)
                        and start <= end < start + max_answer_length):
                    candidates.append(_Candidate(feature_index, start, end, result.start_logits[start],
                                                 result.end_logits[end]))
    if version_2_with_negative:
        candidates.append(null)
    candidates.sort(key=lambda c: c.start_logit + c.end_logit, reverse=True)
    return candidates, null, score_null


def _span_text(example, feature, candidate, do_lower_case):
    tok_text = " ".join(feature.tokens[candidate.start_index:candidate.end_index + 1])
    tok_text = " ".join(tok_text.replace(" ##", "").replace("##", "").strip().split())
    first, last = feature.token_to_orig_map[candidate.start_index], feature.token_to_orig_map[candidate.end_index]
    return get_final_text(tok_text, " ".join(example.doc_tokens[first:last + 1]), do_lower_case)


def nbest_entries(example, features, results, n_best_size, max_answer_length, do_lower_case,
                  version_2_with_negative):
    """(n-best [(text, start_logit, end_logit)], score_null) of one example, deduplicated by text."""
    candidates, null, score_null = _candidates(features, results, n_best_size, max_answer_length,
                                               version_2_with_negative)
    nbest, seen = [], set()
    for candidate in candidates:
        if len(nbest) >= n_best_size:
            break
        text = ""
        if candidate.start_index > 0:
            text = _span_text(example, features[candidate.feature_index], candidate, do_lower_case)
            if text in seen:
                continue
        seen.add(text)
        nbest.append((text, candidate.start_logit, candidate.end_logit))
    if version_2_with_negative and "" not in seen:
        nbest.append(("", null.start_logit, null.end_logit))
    if not nbest:
        nbest.append(("empty", 0.0, 0.0))
    return nbest, score_null


def predictions(examples, features, results, n_best_size=20, max_answer_length=30, do_lower_case=True,
                version_2_with_negative=False, null_score_diff_threshold=0.0):
    """(predictions, nbest, null_odds) dicts keyed by question id; `results` is an iterable of RawResult."""
    results = {r.unique_id: RawResult(r.unique_id, tuple(map(float, r.start_logits)),
                                      tuple(map(float, r.end_logits))) for r in results}
    by_example = collections.defaultdict(list)
    for feature in features:
        by_example[feature.example_index].append(feature)
    answers, all_nbest, null_odds = {}, {}, {}
    for example_index, example in enumerate(examples):
        nbest, score_null = nbest_entries(example, by_example[example_index], results, n_best_size,
                                          max_answer_length, do_lower_case, version_2_with_negative)
        probabilities = softmax([start + end for _, start, end in nbest])
        all_nbest[example.qas_id] = [{"text": text, "probability": p, "start_logit": start, "end_logit": end}
                                     for (text, start, end), p in zip(nbest, probabilities, strict=True)]
        if not version_2_with_negative:
            answers[example.qas_id] = nbest[0][0]
            continue
        best = next((entry for entry in nbest if entry[0]), None)
        diff = score_null - best[1] - best[2] if best is not None else null_score_diff_threshold + 1.0
        null_odds[example.qas_id] = diff
        answers[example.qas_id] = "" if diff > null_score_diff_threshold else best[0]
    return answers, all_nbest, null_odds
