"""The task record and the kind tables of the data layer: a task is data (name, kind, labels, metrics, files,
reader); its kind picks the packing and the output writer. Nothing here branches on a task's name.

| kind            | examples      | features (per example)                          | metrics(labels, predictions)    |
|-----------------|---------------|-------------------------------------------------|---------------------------------|
| classification  | InputExample  | input_ids/input_mask/segment_ids [S], label_ids | class ids [N] or scores [N, K]  |
| regression      | InputExample  | same, label_ids float                           | scores [N]                      |
| multiple_choice | ChoiceExample | [C, S] inputs, label_ids = gold choice          | choice ids [N] or scores [N, C] |
| tagging         | TaggedExample | [S] inputs, label_ids [S] (-1 = ignore)         | tag ids or scores [N, S(, L)]   |
| span            | SquadExample  | SquadFeatures (windows), start/end_positions    | (gold answers, predictions)     |

Every kind also has `is_real_example` (0 for PaddingInputExample; always 1 for span, which has no padding
examples); span features also have `unique_ids`.
"""

from __future__ import annotations

import dataclasses
import functools
import os
from collections.abc import Callable, Mapping

import numpy as np

from bert_tf import files
from bert_tf import finetuning_data as fd
from bert_tf.tasks import outputs, squad_data


@dataclasses.dataclass(frozen=True, eq=False)
class Task:
    """One fine-tuning task. `files` maps a split (train, dev, test, ...) to a path under data_dir; `reader` is
    called as reader(path, split, labels). `submission` maps a test split to its GLUE leaderboard file stem.
    `options` are the kind's settings (multiple_choice: num_choices; span: version_2_with_negative)."""

    name: str
    kind: str
    labels: tuple[str, ...]
    metrics: Callable
    files: Mapping[str, str]
    reader: Callable
    submission: Mapping[str, str] = dataclasses.field(default_factory=dict)
    options: Mapping[str, object] = dataclasses.field(default_factory=dict)

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ValueError(f"task {self.name}: unknown kind {self.kind!r}; expected one of {KINDS}")

    @property
    def num_labels(self) -> int:
        """Width of the head's output: classes, tags, 1 for regression and per choice; 2 (start, end) for span."""
        return {"regression": 1, "multiple_choice": 1, "span": 2}.get(self.kind, len(self.labels))

    def path(self, data_dir: str, split: str) -> str:
        if split not in self.files:
            raise ValueError(f"task {self.name}: unknown split {split!r}; expected one of {sorted(self.files)}")
        return os.path.join(data_dir, self.files[split])

    def read(self, data_dir: str, split: str) -> list:
        """The split's examples; ValueError naming the file and line for bad input."""
        path = self.path(data_dir, split)
        if not os.path.isfile(path):
            raise FileNotFoundError(f"task {self.name}: no {split} file {path}")
        return self.read_file(path, split)

    def read_file(self, path: str, split: str) -> list:
        """The examples of the file `path` read as `split`; text that is not UTF-8 is a ValueError naming its
        line (the readers' text decoding would name only a byte position)."""
        try:
            return self.reader(path, split, self.labels)
        except UnicodeDecodeError:
            raise ValueError(files.utf8_error(path)) from None

    def features(self, examples: list, tokenizer, max_seq_length: int, **options) -> list:
        """Examples -> packed features (span options: training, doc_stride, max_query_length)."""
        return KIND_DATA[self.kind].pack(self, examples, tokenizer, max_seq_length, **options)

    def arrays(self, features: list) -> dict[str, np.ndarray]:
        """Features -> dict of NumPy arrays with the original feature names."""
        return KIND_DATA[self.kind].arrays(features)

    def dataset(self, features: list, batch_size: int, training: bool, **options):
        """Features -> tf.data.Dataset of dict batches (see finetuning_data.make_dataset)."""
        return fd.make_dataset(self.arrays(features), batch_size, training, **options)

    def write_predictions(self, output_dir: str, split: str, examples: list, predictions, **options) -> dict:
        """Writes the kind's prediction files into output_dir and returns {name: path} (see outputs.py)."""
        return KIND_DATA[self.kind].write_predictions(self, output_dir, split, examples, predictions, **options)


def _label_map(task):
    return {label: i for i, label in enumerate(task.labels)}


def _pack_each(convert, task, examples, tokenizer, max_seq_length, **options):
    label_map = _label_map(task)
    return [convert(example, label_map, max_seq_length, tokenizer, **options) for example in examples]


def _pack_choices(task, examples, tokenizer, max_seq_length):
    return _pack_each(fd.convert_choice_example, task, examples, tokenizer, max_seq_length,
                      num_choices=task.options["num_choices"])


def _pack_spans(task, examples, tokenizer, max_seq_length, training=False, doc_stride=128, max_query_length=64):
    return squad_data.convert_examples_to_features(examples, tokenizer, max_seq_length, doc_stride,
                                                   max_query_length, training)


@dataclasses.dataclass(frozen=True)
class KindData:
    """The data side of a task kind (its model side is `bert_tf.kinds`): how examples are packed into features,
    how features are stacked into arrays, and which files predictions are written to."""

    pack: Callable
    arrays: Callable
    write_predictions: Callable


KIND_DATA = {
    "classification": KindData(functools.partial(_pack_each, fd.convert_single_example), fd.feature_arrays,
                               outputs.write_class_predictions),
    "regression": KindData(functools.partial(_pack_each, fd.convert_single_example),
                           functools.partial(fd.feature_arrays, label_dtype=np.float32),
                           outputs.write_class_predictions),
    "multiple_choice": KindData(_pack_choices, fd.feature_arrays, outputs.write_class_predictions),
    "tagging": KindData(functools.partial(_pack_each, fd.convert_tagged_example), fd.feature_arrays,
                        outputs.write_tag_predictions),
    "span": KindData(_pack_spans, squad_data.feature_arrays, outputs.write_span_predictions),
}
KINDS = tuple(KIND_DATA)
