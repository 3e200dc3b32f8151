"""The one TSV reader every GLUE-style task shares: a task is column indices per split (docs/ORIGINAL.md §5.2, §5.6).

Files are read as the original DataProcessor reads them: csv module, tab delimiter, quotechar None (quotes are
literal text). A UTF-8 byte-order mark (MRPC train/dev) is dropped.
"""

from __future__ import annotations

import csv
import dataclasses
import logging

from bert_tf.finetuning_data import InputExample


@dataclasses.dataclass(frozen=True)
class Columns:
    """Where one split's fields are. Indices are 0-based; negative counts from the end (the original's
    `line[-1]`). `label` None: unlabelled (test) split. `num_columns` None: every row must have as many fields
    as the header. `where`: keep only rows whose column equals a value (XNLI's language filter)."""

    text_a: int
    text_b: int | None = None
    label: int | None = None
    guid: int | None = None
    header: bool = True
    num_columns: int | None = None
    where: tuple[int, str] | None = None
    label_aliases: tuple[tuple[str, str], ...] = ()
    skip_malformed: bool = False  # count and skip rows with a wrong field count (QQP) instead of failing


def read_rows(path: str, columns: Columns) -> tuple[list[tuple[int, list[str]]], int]:
    """Returns ([(line_number, fields)], number of malformed rows skipped). Raises ValueError naming the file
    and line of a row with the wrong field count (unless skip_malformed) or a file without data rows."""
    with open(path, encoding="utf-8-sig", newline="") as f:
        reader = csv.reader(f, delimiter="\t", quotechar=None)
        rows = [(reader.line_num, row) for row in reader]
    if not rows:
        raise ValueError(f"{path}: empty file")
    expected = columns.num_columns
    if columns.header:
        expected = expected or len(rows[0][1])
        rows = rows[1:]
    kept, skipped = [], 0
    for line, row in rows:
        if expected is not None and len(row) != expected:
            if not columns.skip_malformed:
                # an unlabelled (test) row is a prediction the submission needs: say why it is not skipped
                why = "; an unlabelled row cannot be skipped: every test id needs a prediction"
                why = why if columns.label is None else ""
                raise ValueError(f"{path}:{line}: {len(row)} tab-separated fields, expected {expected}{why}")
            skipped += 1
            continue
        kept.append((line, row))
    if skipped:
        logging.warning("%s: skipped %d malformed rows (field count != %d)", path, skipped, expected)
    return kept, skipped


@dataclasses.dataclass(frozen=True)
class TsvReader:
    """A task's reader: `Columns` per split. Called as reader(path, split, labels) -> list[InputExample].

    Labels are checked against the task's label list (empty list: regression, the label is a float);
    guid is "<split>-<id column>" or "<split>-<data row number>"."""

    splits: tuple[tuple[str, Columns], ...]

    def columns(self, split: str) -> Columns:
        found = dict(self.splits)
        if split not in found:
            raise ValueError(f"unknown split {split!r}; this task has {sorted(found)}")
        return found[split]

    def __call__(self, path: str, split: str, labels: tuple[str, ...]) -> list[InputExample]:
        columns = self.columns(split)
        rows, _ = read_rows(path, columns)
        aliases = dict(columns.label_aliases)
        examples = []
        for line, row in rows:
            if columns.where is not None and row[columns.where[0]] != columns.where[1]:
                continue
            label = None
            if columns.label is not None:
                label = _checked_label(aliases.get(row[columns.label], row[columns.label]), labels, path, line)
            ident = row[columns.guid] if columns.guid is not None else len(examples)
            text_b = row[columns.text_b] if columns.text_b is not None else None
            examples.append(InputExample(f"{split}-{ident}", row[columns.text_a], text_b, label))
        if not examples:
            raise ValueError(f"{path}: no examples for split {split!r}")
        return examples


def _checked_label(value: str, labels: tuple[str, ...], path: str, line: int):
    if not labels:
        try:
            return float(value)
        except ValueError:
            raise ValueError(f"{path}:{line}: regression label {value!r} is not a number") from None
    if value not in labels:
        raise ValueError(f"{path}:{line}: unknown label {value!r}; expected one of {list(labels)}")
    return value
