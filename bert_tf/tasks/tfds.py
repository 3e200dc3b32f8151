"""Tasks read from TensorFlow Datasets: a catalog dataset's features and splits -> the task's examples.

    examples = tfds.read(tasks.get("mrpc"), "glue/mrpc", "dev", data_dir)

The examples are those the task's own reader makes of the same rows (TSV, SQuAD JSON, CoNLL), so features,
training and prediction files are the same whichever way the data came. GLUE rows are put in `idx` order (the
order of the TSV files and of a test submission). tensorflow_datasets is imported when a dataset is read, not
when this module is: levels 0-1 import without TensorFlow.
"""

from __future__ import annotations

import logging

from bert_tf.finetuning_data import InputExample, TaggedExample
from bert_tf.tasks import squad_data
from bert_tf.tasks.conll import iob1_to_iob2
from bert_tf.tasks.task import Task

# The catalog's names of the tasks that have one (the task is found from --tfds_name alone).
CATALOG = {"glue/cola": "cola", "glue/sst2": "sst-2", "glue/mrpc": "mrpc", "glue/stsb": "sts-b", "glue/qqp": "qqp",
           "glue/mnli": "mnli", "glue/qnli": "qnli", "glue/rte": "rte", "glue/wnli": "wnli",
           "squad/v1.1": "squad-v1.1", "squad/v2.0": "squad-v2.0", "conll2003": "conll2003"}
# A task's split -> the catalog's (MNLI's dev and test have a _matched suffix, CoNLL's dev keeps its name).
SPLITS = {"train": "train", "dev": "validation", "dev_mismatched": "validation_mismatched", "test": "test",
          "test_mismatched": "test_mismatched"}
# The text fields of sentence (pair) datasets, in the order text_a, text_b.
TEXT_FIELDS = (("sentence", None), ("sentence1", "sentence2"), ("question1", "question2"), ("question", "sentence"),
               ("premise", "hypothesis"))


def task_name(tfds_name: str) -> str:
    """The task of a catalog name ("glue/mrpc" -> "mrpc", a version suffix ignored); ValueError for others."""
    key = _catalog_key(tfds_name)
    if key not in CATALOG:
        raise ValueError(f"TFDS dataset {tfds_name!r} is not one of a task's ({', '.join(CATALOG)}): give "
                         "--task_name as well")
    return CATALOG[key]


def _catalog_key(tfds_name: str) -> str:
    parts = tfds_name.split(":")[0].split("/")  # "glue/mrpc:2.0.0" -> glue/mrpc
    return "/".join(parts[:2])


def builder(tfds_name: str, data_dir: str | None = None):
    """The prepared dataset `tfds_name` in `data_dir`; ValueError naming it when it is not prepared there (nothing
    is downloaded: `tfds build` or `download_and_prepare` makes it)."""
    import tensorflow_datasets as tfds

    try:
        found = tfds.builder(tfds_name, data_dir=data_dir)
    except Exception as error:  # TFDS raises its own DatasetNotFoundError, KeyError-like registry errors, ...
        raise ValueError(f"TFDS dataset {tfds_name!r}: {str(error).splitlines()[0]}") from None
    if not found.is_prepared():
        raise ValueError(f"TFDS dataset {tfds_name!r} is not prepared in {found.data_dir}: prepare it first "
                         "(tfds build, or builder.download_and_prepare)")
    return found


def _split_name(dataset, split: str) -> str | None:
    """The dataset's split for the task's `split` (None when the dataset has none)."""
    mapped = SPLITS.get(split, split)
    return next((name for name in (mapped, f"{mapped}_matched", split) if name in dataset.info.splits), None)


def read(task: Task, tfds_name: str, split: str, data_dir: str | None = None) -> list:
    """The examples of the task's `split` read from the TFDS dataset `tfds_name`; ValueError naming the dataset
    and split when the dataset does not fit the task (its features, label names, splits)."""
    import tensorflow_datasets as tfds

    dataset = builder(tfds_name, data_dir)
    found = _split_name(dataset, split)
    if found is None:
        raise ValueError(f"TFDS dataset {tfds_name!r} has no split for {split!r} (it has "
                         f"{sorted(dataset.info.splits)})")
    where = f"TFDS dataset {tfds_name!r} split {found!r}"
    reader = READERS.get(task.kind)
    if reader is None:
        raise ValueError(f"task {task.name} ({task.kind}) has no TFDS reader")
    convert = reader(task, dataset.info.features, where)
    rows = tfds.as_numpy(dataset.as_dataset(split=found, shuffle_files=False))
    examples = convert(rows, split)
    if not examples:
        raise ValueError(f"{where}: no examples")
    return examples


def _text(value) -> str:
    return value.decode("utf-8") if isinstance(value, bytes) else str(value)


def _require(features, names, where, task):
    missing = [name for name in names if name not in features]
    if missing:
        raise ValueError(f"{where} does not fit task {task.name}: no feature {missing[0]!r} (it has "
                         f"{sorted(features)})")


def _label_names(feature, task, where):
    """The task's label of each class id: by name where the catalog's names are the task's (NLI), else by id
    (GLUE's binary tasks are "0"/"1" in the TSV files, named in the catalog)."""
    names = getattr(feature, "names", None)
    if names is None or not task.labels:
        if task.labels or names is not None:
            have = "class names" if names is not None else "a number"
            want = "class names" if task.labels else "a number (regression)"
            raise ValueError(f"{where} does not fit task {task.name}: its label is {have}, the task's is {want}")
        return None
    if set(names) <= set(task.labels):
        return list(names)
    if len(names) == len(task.labels) and task.labels == tuple(str(i) for i in range(len(names))):
        return list(task.labels)
    raise ValueError(f"{where} does not fit task {task.name}: label names {list(names)}, the task's are "
                     f"{list(task.labels)}")


def _sentences(task, features, where):
    """Reader of sentence (pair) rows: text fields, label (-1: unlabelled test row), idx."""
    pair = next((fields for fields in TEXT_FIELDS if all(f in features for f in fields if f)), None)
    if pair is None:
        raise ValueError(f"{where} does not fit task {task.name}: none of the text fields "
                         f"{[list(filter(None, p)) for p in TEXT_FIELDS]} (it has {sorted(features)})")
    if (pair[1] is not None) != bool(task.options.get("pair")):
        raise ValueError(f"{where} does not fit task {task.name}: its rows have "
                         f"{'two texts' if pair[1] else 'one text'}, the task's {'two' if pair[1] is None else 'one'}")
    _require(features, ("label", "idx"), where, task)
    names = _label_names(features["label"], task, where)

    def convert(rows, split):
        examples = []
        for row in sorted(rows, key=lambda row: int(row["idx"])):
            label = row["label"]
            if names is not None:
                label = names[int(label)] if int(label) >= 0 else None
            elif split.startswith("test"):
                label = None  # the catalog's unlabelled regression rows hold -1
            else:
                label = float(label)
            text_b = _text(row[pair[1]]) if pair[1] else None
            examples.append(InputExample(f"{split}-{int(row['idx'])}", _text(row[pair[0]]), text_b, label))
        return examples

    return convert


def _spans(task, features, where):
    """Reader of SQuAD rows, made into examples exactly as the JSON reader makes them (training answers checked
    against the context's words, not-found answers skipped)."""
    version_2 = bool(task.options.get("version_2_with_negative"))
    _require(features, ("id", "question", "context", "answers") + (("is_impossible",) if version_2 else ()),
             where, task)

    def convert(rows, split):
        examples, skipped = [], 0
        for row in rows:
            answers = row["answers"]
            qa = {"id": _text(row["id"]), "question": _text(row["question"]),
                  "answers": [{"text": _text(text), "answer_start": int(start)}
                              for text, start in zip(answers["text"], answers["answer_start"], strict=True)]}
            if version_2:
                qa["is_impossible"] = bool(row["is_impossible"])
            words, char_to_word = squad_data.split_context(_text(row["context"]))
            example = squad_data._example(where, qa, words, char_to_word, split == "train", version_2)
            skipped += example is None
            if example is not None:
                examples.append(example)
        if skipped:
            logging.warning("%s: skipped %d questions whose answer text is not in the context", where, skipped)
        return examples

    return convert


def _tags(task, features, where):
    """Reader of CoNLL rows: tokens and their NER tags, made IOB2 as the file reader makes them."""
    _require(features, ("tokens", "ner"), where, task)
    names = list(getattr(features["ner"].feature, "names", None) or ())
    unknown = [name for name in names if name not in task.labels]
    if not names or unknown:
        raise ValueError(f"{where} does not fit task {task.name}: ner tags {names}, the task's are "
                         f"{list(task.labels)}")

    def convert(rows, split):
        return [TaggedExample(f"{split}-{i}", tuple(_text(token) for token in row["tokens"]),
                              tuple(iob1_to_iob2([names[int(tag)] for tag in row["ner"]])))
                for i, row in enumerate(rows)]

    return convert


READERS = {"classification": _sentences, "regression": _sentences, "span": _spans, "tagging": _tags}
