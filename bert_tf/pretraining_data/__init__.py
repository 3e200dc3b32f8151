"""Pretraining data: text -> MLM/NSP instances -> TFRecords (original format), and TFRecords or text -> tf.data.

Modules: `documents` (reading), `instances` (the original's algorithm), `records` (Example/TFRecord encoding),
`creation` (whole runs) need no TensorFlow; `readers` (static records) and `dynamic` (masking each epoch in
TensorFlow ops) import it, so they are loaded only when one of their names is first asked for.
"""

from bert_tf.pretraining_data.creation import create_pretraining_data, read_counts
from bert_tf.pretraining_data.documents import expand_input_patterns, read_documents
from bert_tf.pretraining_data.instances import PretrainingDataConfig

_LAZY = {"pretraining_dataset": "readers", "dynamic_pretraining_dataset": "dynamic"}

# The TensorFlow names stay out of __all__, so that `import *` does not load TensorFlow either.
__all__ = ["PretrainingDataConfig", "create_pretraining_data", "expand_input_patterns", "read_counts",
           "read_documents"]


def __getattr__(name):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(f"bert_tf.pretraining_data.{_LAZY[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
