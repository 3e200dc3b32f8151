"""The task kinds: one record per kind, read by fine-tuning, export and checkpoint loading alike.

| kind            | model              | head       | objective (a mean over the batch) | SavedModel | distilled  |
|-----------------|--------------------|------------|-----------------------------------|------------|------------|
| classification  | BertClassifier     | classifier | softmax cross-entropy             | classifier | logits     |
| regression      | BertClassifier(1)  | classifier | squared error                     | classifier | -          |
| multiple_choice | BertMultipleChoice | classifier | cross-entropy over the choices    | -          | logits     |
| tagging         | BertTagger         | classifier | cross-entropy of first sub-tokens | -          | -          |
| span            | BertSpanLabeler    | span       | (start + end cross-entropy) / 2   | squad      | start, end |

The data side of a kind (its examples, packing and output files) is `bert_tf.tasks.task`'s; a task names its kind
and nothing branches on a task's name. Adding a kind is a record here, its model, and its data entry there.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import numpy as np
import tensorflow as tf

from bert_tf import modeling, objectives


def _softmax(logits):
    shifted = np.exp(logits - logits.max(-1, keepdims=True))
    return shifted / shifted.sum(-1, keepdims=True)


def _log_softmax(logits):
    shifted = logits - logits.max(-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(-1, keepdims=True))


def _class_metrics(task, examples, arrays, outputs, **options):
    """`eval_loss`/`eval_accuracy` as the original (padding examples weigh 0; tagging counts only labelled first
    sub-tokens), the task's metrics, and the per-example losses the Estimator's `loss` averages."""
    real = arrays["is_real_example"].astype(bool)
    logits, labels = outputs["logits"], arrays["label_ids"]
    log_probs = _log_softmax(logits)
    keep = labels >= 0  # tagging: only first sub-tokens carry a label
    nll = -np.take_along_axis(log_probs, np.maximum(labels, 0)[..., None], -1)[..., 0]  # [N] or [N, S]
    # tagging scores every word of the examples, as conlleval does (words without a piece included)
    words = {"examples": examples} if task.kind == "tagging" else {}
    results = {"eval_loss": float(nll[real][keep[real]].mean()),
               "eval_accuracy": float((log_probs.argmax(-1) == labels)[real][keep[real]].mean()),
               **task.metrics(labels[real], logits[real], **words)}
    return results, nll[keep]


def _regression_metrics(task, examples, arrays, outputs, **options):
    real = arrays["is_real_example"].astype(bool)
    scores, labels = outputs["logits"][:, 0], arrays["label_ids"]
    losses = (scores - labels) ** 2  # [N]
    return {"eval_loss": float(losses[real].mean()), **task.metrics(labels[real], scores[real])}, losses


def span_predictions(task, examples, features, outputs, **options):
    """SQuAD post-processing: (RawResults, best answers, null odds)."""
    from bert_tf.tasks import squad_predictions

    results = [squad_predictions.RawResult(f.unique_id, tuple(s), tuple(e))
               for f, s, e in zip(features, outputs["start_logits"], outputs["end_logits"], strict=True)]
    answers, _, null_odds = squad_predictions.predictions(examples, features, results,
                                                          **{**task.options, **options})
    return results, answers, null_odds


def _span_metrics(task, examples, arrays, outputs, features=(), **options):
    from bert_tf.tasks import squad_eval

    _, answers, null_odds = span_predictions(task, examples, features, outputs, **options)
    return task.metrics(squad_eval.gold_from_examples(examples), answers, null_odds), None


def _class_outputs(logits, label_names):
    label_ids = tf.argmax(logits, axis=-1, output_type=tf.int32)  # [B]
    return {"probabilities": tf.nn.softmax(logits, axis=-1), "logits": logits, "label_ids": label_ids,
            "labels": tf.gather(label_names, label_ids)}


def _score_outputs(logits, label_names):
    return {"scores": logits[:, 0]}  # [B]


@dataclasses.dataclass(frozen=True)
class Kind:
    """One task kind.

    Attributes:
      name: as `Task.kind` names it.
      model_class: the model, built as model_class(config, task.num_labels).
      head: the HEAD_SCOPES name of its head's weights in checkpoints.
      objective: task -> the Objective fine-tuning trains.
      predictions: (task, examples, features, model outputs, **post-processing options) -> what the task's
        prediction writer takes (class probabilities [N, C], scores [N], SQuAD RawResults).
      metrics: (task, examples, feature arrays, model outputs, features=..., **options) -> (dev metrics,
        per-example losses for the Estimator's `loss`, or None).
      serving: the SavedModel `bert_tf.export` writes for it ("classifier", "squad"), None if none.
      serving_outputs: for the "classifier" SavedModel: (logits [B, C], label names) -> its outputs.
      distilled: the model outputs a student learns as soft targets from a teacher (`bert_tf.distillation`);
        empty: the kind is not distilled.
    """

    name: str
    model_class: type
    head: str
    objective: Callable
    predictions: Callable
    metrics: Callable
    serving: str | None = None
    serving_outputs: Callable | None = None
    distilled: tuple[str, ...] = ()

    def model(self, config, task):
        return self.model_class(config, task.num_labels)

    @property
    def uses_pooler(self) -> bool:
        return self.model_class.uses_pooler


KINDS = {kind.name: kind for kind in (
    Kind("classification", modeling.BertClassifier, "classifier", lambda task: objectives.Classes(),
         lambda task, examples, features, outputs, **_: _softmax(outputs["logits"]), _class_metrics,
         "classifier", _class_outputs, ("logits",)),
    Kind("regression", modeling.BertClassifier, "classifier", lambda task: objectives.Regression(),
         lambda task, examples, features, outputs, **_: outputs["logits"][:, 0], _regression_metrics,
         "classifier", _score_outputs),
    Kind("multiple_choice", modeling.BertMultipleChoice, "classifier",
         lambda task: objectives.Classes("multiple_choice"),
         lambda task, examples, features, outputs, **_: _softmax(outputs["logits"]), _class_metrics,
         distilled=("logits",)),
    Kind("tagging", modeling.BertTagger, "classifier", lambda task: objectives.Tagging(),
         lambda task, examples, features, outputs, **_: _softmax(outputs["logits"]), _class_metrics),
    Kind("span", modeling.BertSpanLabeler, "span", lambda task: objectives.Span(),
         lambda *args, **options: span_predictions(*args, **options)[0], _span_metrics, "squad",
         distilled=("start_logits", "end_logits")),
)}


def get(name: str) -> Kind:
    if name not in KINDS:
        raise ValueError(f"unknown task kind {name!r}; expected one of {tuple(KINDS)}")
    return KINDS[name]


def for_head(head: str) -> Kind:
    """The first kind whose weights a checkpoint head holds (classifier weights build a BertClassifier)."""
    return next(kind for kind in KINDS.values() if kind.head == head)

