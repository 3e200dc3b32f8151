"""GLUE tasks and XNLI as data: column indices per split for the one shared TSV reader (docs/ORIGINAL.md §5.2, §5.6).

Files are the standard GLUE download layout, relative to the task's data_dir (e.g. glue_data/MRPC). Test
splits have no labels (label id 0, as the original's dummy labels) and carry the GLUE submission file stem.
"""

from __future__ import annotations

from bert_tf.tasks import metrics
from bert_tf.tasks.task import Task
from bert_tf.tasks.tsv import Columns, TsvReader

BINARY = ("0", "1")
NLI = ("contradiction", "entailment", "neutral")
ENTAILMENT = ("entailment", "not_entailment")
SPLIT_FILES = {"train": "train.tsv", "dev": "dev.tsv", "test": "test.tsv"}
PAIR = {"pair": True}  # examples carry text_b: serving signatures take two texts


def _pair_task(name, labels, metric, a, b, label, test_a, test_b, guid=None, **columns):
    """A GLUE task with train/dev/test.tsv (header skipped) and the given column indices. skip_malformed applies
    to train and dev only: the GLUE server rejects a submission that lacks any test id, so a malformed test row
    must fail (naming its file and line), not vanish from the submission file."""
    labelled = Columns(a, b, label, guid, **columns)
    test = Columns(test_a, test_b, guid=0, **{k: v for k, v in columns.items() if k != "skip_malformed"})
    reader = TsvReader((("train", labelled), ("dev", labelled), ("test", test)))
    kind = "classification" if labels else "regression"
    return Task(name, kind, labels, metric, SPLIT_FILES, reader, submission={"test": name.upper()}, options=PAIR)


COLA = Task(
    "cola", "classification", BINARY, metrics.matthews, SPLIT_FILES,
    TsvReader((("train", Columns(3, label=1, header=False, num_columns=4)),
               ("dev", Columns(3, label=1, header=False, num_columns=4)),
               ("test", Columns(1, guid=0)))),
    submission={"test": "CoLA"})
SST2 = Task(
    "sst-2", "classification", BINARY, metrics.accuracy, SPLIT_FILES,
    TsvReader((("train", Columns(0, label=1)), ("dev", Columns(0, label=1)), ("test", Columns(1, guid=0)))),
    submission={"test": "SST-2"})
MRPC = _pair_task("mrpc", BINARY, metrics.accuracy_and_f1, 3, 4, 0, 3, 4)
STSB = _pair_task("sts-b", (), metrics.pearson_spearman, 7, 8, 9, 7, 8, guid=0)
QQP = _pair_task("qqp", BINARY, metrics.accuracy_and_f1, 3, 4, 5, 1, 2, guid=0, skip_malformed=True)
QNLI = _pair_task("qnli", ENTAILMENT, metrics.accuracy, 1, 2, -1, 1, 2, guid=0)
RTE = _pair_task("rte", ENTAILMENT, metrics.accuracy, 1, 2, -1, 1, 2, guid=0)
WNLI = _pair_task("wnli", BINARY, metrics.accuracy, 1, 2, -1, 1, 2, guid=0)

_MNLI_LABELLED = Columns(8, 9, -1, guid=0)
_MNLI_TEST = Columns(8, 9, guid=0)
MNLI = Task(
    "mnli", "classification", NLI, metrics.accuracy,
    {"train": "train.tsv", "dev": "dev_matched.tsv", "dev_mismatched": "dev_mismatched.tsv",
     "test": "test_matched.tsv", "test_mismatched": "test_mismatched.tsv"},
    TsvReader((("train", _MNLI_LABELLED), ("dev", _MNLI_LABELLED), ("dev_mismatched", _MNLI_LABELLED),
               ("test", _MNLI_TEST), ("test_mismatched", _MNLI_TEST))),
    submission={"test": "MNLI-m", "test_mismatched": "MNLI-mm"}, options=PAIR)

# XNLI as the original has it: Chinese only, MultiNLI's machine-translated train set, no test split.
XNLI = Task(
    "xnli", "classification", NLI, metrics.accuracy,
    {"train": "multinli/multinli.train.zh.tsv", "dev": "xnli.dev.tsv"},
    TsvReader((("train", Columns(0, 1, 2, label_aliases=(("contradictory", "contradiction"),))),
               ("dev", Columns(6, 7, 1, where=(0, "zh"))))), options=PAIR)

TASKS = (COLA, SST2, MRPC, STSB, QQP, MNLI, QNLI, RTE, WNLI, XNLI)
