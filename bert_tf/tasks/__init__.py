"""Fine-tuning tasks as data: `get(name)` returns a frozen Task (name, kind, labels, metrics, files, reader).

    task = tasks.get("mrpc")
    examples = task.read(data_dir, "train")
    features = task.features(examples, tokenizer, max_seq_length=128)
    dataset = task.dataset(features, batch_size=32, training=True)
    task.metrics(labels, predictions)

Kinds: classification, regression, multiple_choice, tagging, span (see task.py for their features).
"""

from __future__ import annotations

from bert_tf.tasks.conll import CONLL2003
from bert_tf.tasks.glue import TASKS as GLUE_TASKS
from bert_tf.tasks.squad import SQUAD_V1, SQUAD_V2
from bert_tf.tasks.swag import SWAG
from bert_tf.tasks.task import KINDS, Task

TASKS = (*GLUE_TASKS, SQUAD_V1, SQUAD_V2, SWAG, CONLL2003)

__all__ = ["KINDS", "TASKS", "Task", "get", "names"]


def _key(name: str) -> str:
    return name.lower().replace("-", "").replace("_", "").replace(".", "")


def names() -> list[str]:
    return [task.name for task in TASKS]


def get(name: str) -> Task:
    """The task called `name`, case-insensitive and ignoring "-", "_", "." ("SST-2", "sst2", "squad_v2.0")."""
    for task in TASKS:
        if _key(task.name) == _key(name):
            return task
    raise ValueError(f"unknown task {name!r}; known tasks: {', '.join(names())}")
