"""Output files, written to a temporary name and renamed when complete.

* `<split>_results.tsv`: the original run_classifier's test_results.tsv: one line per real example, the class
  probabilities (or the regression score) tab-separated, no header; padding examples dropped.
* `<GLUE name>.tsv`: the GLUE leaderboard submission: header `index\tprediction`, the test file's index and the
  predicted label string (regression: the score with 3 decimals).
* `<split>_predictions.txt`: tagging: "word gold predicted" per line, blank line between sentences (conlleval).
* SQuAD: predictions.json, nbest_predictions.json, null_odds.json (see squad_predictions).
"""

from __future__ import annotations

import json
import os

import numpy as np

from bert_tf import files
from bert_tf.finetuning_data import PaddingInputExample
from bert_tf.tasks import metrics, squad_predictions


def write_text(output_dir: str, name: str, text: str) -> str:
    """Writes text to output_dir/name atomically (bert_tf.files); returns the path."""
    return files.write_text(os.path.join(output_dir, name), text)


def write_json(output_dir: str, name: str, value) -> str:
    """JSON with indent 4 and a trailing newline, as the original run_squad."""
    return write_text(output_dir, name, json.dumps(value, indent=4) + "\n")


def _real(examples, predictions):
    """Predictions of the real examples (padding examples dropped), with their examples."""
    predictions = np.asarray(predictions)
    if len(examples) != len(predictions):
        raise ValueError(f"{len(examples)} examples but {len(predictions)} predictions")
    keep = [i for i, example in enumerate(examples) if not isinstance(example, PaddingInputExample)]
    return [examples[i] for i in keep], predictions[keep]


def test_results_text(rows: np.ndarray) -> str:
    """One line per row: its values tab-separated as str() of float32 (the original prints numpy floats)."""
    rows = np.asarray(rows, np.float32).reshape(len(rows), -1)
    return "".join("\t".join(str(value) for value in row) + "\n" for row in rows)


def submission_text(examples, predictions: np.ndarray, labels: tuple[str, ...]) -> str:
    """GLUE leaderboard rows `index\tprediction`; the index is the guid's id after "<split>-"."""
    lines = ["index\tprediction\n"]
    for example, row in zip(examples, predictions, strict=True):
        index = example.guid.split("-", 1)[1]
        value = labels[int(np.argmax(row))] if labels else f"{float(np.ravel(row)[0]):.3f}"
        lines.append(f"{index}\t{value}\n")
    return "".join(lines)


def write_class_predictions(task, output_dir, split, examples, predictions, features=None) -> dict:
    """Classification, regression, multiple choice: `<split>_results.tsv` from probabilities [N, K] (or
    scores [N]), plus the GLUE submission file when the task names one for this split. `features` is unused
    (accepted so every kind's writer takes the same arguments)."""
    examples, predictions = _real(examples, predictions)
    files = {"results": write_text(output_dir, f"{split}_results.tsv", test_results_text(predictions))}
    if split in task.submission:
        text = submission_text(examples, predictions, task.labels)
        files["submission"] = write_text(output_dir, f"{task.submission[split]}.tsv", text)
    return files


def write_tag_predictions(task, output_dir, split, examples, predictions, features) -> dict:
    """Tagging: predicted tag ids [N, S] (or scores [N, S, L]) read at each word's first piece, as marked by the
    features' label_ids; aligned per word (metrics.word_tags), so a word without a piece, wherever it is (it
    tokenizes to nothing, or truncation cut it), gets metrics.NO_PIECE_TAG ("O") and shifts no other word."""
    examples, predictions = _real(examples, predictions)
    features = [f for f in features if f.is_real_example]
    predictions = predictions.argmax(-1) if predictions.ndim == 3 else predictions
    lines = []
    for example, feature, row in zip(examples, features, predictions, strict=True):
        gold, tags = metrics.word_tags(example, feature.label_id, row, task.labels)
        lines += [f"{w} {g} {p}\n" for w, g, p in zip(example.words, gold, tags, strict=True)] + ["\n"]
    return {"predictions": write_text(output_dir, f"{split}_predictions.txt", "".join(lines))}


def write_squad_predictions(output_dir, answers: dict, nbest: dict, null_odds: dict | None) -> dict:
    """predictions.json, nbest_predictions.json and (v2, null_odds given) null_odds.json."""
    files = {"predictions": write_json(output_dir, "predictions.json", answers),
             "nbest_predictions": write_json(output_dir, "nbest_predictions.json", nbest)}
    if null_odds is not None:
        files["null_odds"] = write_json(output_dir, "null_odds.json", null_odds)
    return files


def write_span_predictions(task, output_dir, split, examples, predictions, features, **options) -> dict:
    """SQuAD: `predictions` are RawResults of `features`; options: n_best_size, max_answer_length,
    do_lower_case, null_score_diff_threshold (version_2_with_negative comes from the task)."""
    options = {**task.options, **options}
    answers, nbest, null_odds = squad_predictions.predictions(examples, features, predictions, **options)
    return write_squad_predictions(output_dir, answers, nbest,
                                   null_odds if options.get("version_2_with_negative") else None)
