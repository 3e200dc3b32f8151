"""SQuAD v1.1 and v2.0 as data: the span kind, the original's reading and the official evaluation.

metrics(gold, predictions, na_probs=None): gold from squad_eval.gold_from_examples (dev examples) or
squad_eval.gold_from_file; predictions and na_probs are the predictions.json / null_odds.json dicts.
"""

from __future__ import annotations

from bert_tf.tasks import squad_eval
from bert_tf.tasks.squad_data import read_squad_examples
from bert_tf.tasks.task import Task


def read_v1(path: str, split: str, labels=()) -> list:
    """Training examples (one answer each, answer-not-found skipped) for "train"; all questions otherwise."""
    return read_squad_examples(path, training=split == "train")


def read_v2(path: str, split: str, labels=()) -> list:
    return read_squad_examples(path, training=split == "train", version_2_with_negative=True)


def metrics_v1(gold: dict, predictions: dict, na_probs=None) -> dict:
    return squad_eval.evaluate_v1(gold, predictions)


SQUAD_V1 = Task("squad-v1.1", "span", (), metrics_v1, {"train": "train-v1.1.json", "dev": "dev-v1.1.json"},
                read_v1, options={"version_2_with_negative": False})
SQUAD_V2 = Task("squad-v2.0", "span", (), squad_eval.evaluate_v2,
                {"train": "train-v2.0.json", "dev": "dev-v2.0.json"}, read_v2,
                options={"version_2_with_negative": True})
