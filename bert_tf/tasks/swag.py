"""SWAG (Zellers et al., 2018) as data: the `swagaf` CSV files, four endings per example (paper §4.4).

Columns are found by name in the header (video-id, fold-ind, startphrase, sent1, sent2, gold-source,
ending0-3, label; the released files also start with an unnamed index column). Segment A is `sent1`, segment B
is `sent2` + " " + ending_k, as BERT's SWAG recipe (issue #38) and Hugging Face's run_swag build them.
"""

from __future__ import annotations

import csv

from bert_tf import finetuning_data as fd
from bert_tf.tasks import metrics
from bert_tf.tasks.task import Task

ENDINGS = ("ending0", "ending1", "ending2", "ending3")


def read_swag(path: str, split: str, labels: tuple[str, ...]) -> list[fd.ChoiceExample]:
    """One ChoiceExample per row; the test file has no `label` column (label None)."""
    with open(path, encoding="utf-8", newline="") as f:
        reader = csv.reader(f)
        header = next(reader, None)
        if header is None:
            raise ValueError(f"{path}: empty file")
        wanted = ("fold-ind", "sent1", "sent2", *ENDINGS) + (("label",) if split != "test" else ())
        missing = [name for name in wanted if name not in header]
        if missing:
            raise ValueError(f"{path}:1: header lacks column(s) {missing}")
        at = {name: header.index(name) for name in wanted}
        examples = [_example(path, reader.line_num, row, at, header, split, labels) for row in reader]
    if not examples:
        raise ValueError(f"{path}: no examples")
    return examples


def _example(path, line, row, at, header, split, labels):
    if len(row) != len(header):
        raise ValueError(f"{path}:{line}: {len(row)} comma-separated fields, expected {len(header)}")
    label = None
    if "label" in at:
        if row[at["label"]] not in labels:
            raise ValueError(f"{path}:{line}: unknown label {row[at['label']]!r}; expected one of {list(labels)}")
        label = labels.index(row[at["label"]])
    endings = tuple(f"{row[at['sent2']]} {row[at[name]]}" for name in ENDINGS)
    return fd.ChoiceExample(f"{split}-{row[at['fold-ind']]}", row[at["sent1"]], endings, label)


SWAG = Task("swag", "multiple_choice", ("0", "1", "2", "3"), metrics.accuracy,
            {"train": "train.csv", "dev": "val.csv", "test": "test.csv"}, read_swag, options={"num_choices": 4})
