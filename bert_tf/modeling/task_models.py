"""Fine-tuning models: the encoder plus one head per task kind.

Shape legend: B batch, S sequence, H hidden, C classes (or choices), L labels.

| kind                       | model              | head input        | output                          |
|----------------------------|--------------------|-------------------|---------------------------------|
| classification, regression | BertClassifier     | pooled [B, H]     | `logits` [B, C] (C = 1: a score) |
| multiple_choice            | BertMultipleChoice | pooled [B*C, H]   | `logits` [B, C]                 |
| tagging                    | BertTagger         | sequence [B, S, H]| `logits` [B, S, L]              |
| span                       | BertSpanLabeler    | sequence [B, S, H]| `start_logits`, `end_logits` [B, S] |

The classifier heads are the original run_classifier's: dropout 0.1 (training only) on the pooled output, then
`output_weights` [C, H] + `output_bias` at the root of the TF1 checkpoint; the span head is run_squad's
`cls/squad/output_weights` [2, H]. Inputs carry the original feature names (`input_ids`, `input_mask`,
`segment_ids`).
"""

from __future__ import annotations

import keras
from keras import ops

from bert_tf.modeling.encoder import BertEncoder
from bert_tf.modeling.heads import ClassificationHead, SpanHead
from bert_tf.modeling.layers import ConfigModel

CLASSIFIER_DROPOUT = 0.1  # the original's keep_prob 0.9 in run_classifier, independent of the config


class _HeadModel(ConfigModel):
    """An encoder plus a ClassificationHead named `classifier`; get_config carries the head's sizes."""

    def __init__(self, config, num_labels, dropout_rate=CLASSIFIER_DROPOUT, **kwargs):
        super().__init__(config, **kwargs)
        self.num_labels = num_labels
        self.dropout_rate = dropout_rate
        self.encoder = BertEncoder(self.config)
        self.classifier = ClassificationHead(num_labels, dropout_rate, self.config.initializer_range,
                                             name="classifier")
        self.build()

    def build(self, input_shape=None):
        self.classifier.build((None, self.config.hidden_size))
        self.built = True

    def get_config(self):
        return {**super().get_config(), "num_labels": self.num_labels, "dropout_rate": self.dropout_rate}


@keras.saving.register_keras_serializable(package="bert_tf")
class BertClassifier(_HeadModel):
    """Sentence (pair) classification or regression from the pooled [CLS] vector: `logits` [B, C]."""

    def __init__(self, config, num_labels, dropout_rate=CLASSIFIER_DROPOUT, name="bert_classifier", **kwargs):
        super().__init__(config, num_labels, dropout_rate, name=name, **kwargs)

    def call(self, inputs, training=None):
        pooled = self.encoder(inputs, training=training)["pooled_output"]  # [B, H]
        return {"logits": self.classifier(pooled, training=training)}  # [B, C]


@keras.saving.register_keras_serializable(package="bert_tf")
class BertMultipleChoice(_HeadModel):
    """One score per choice (SWAG): inputs [B, C, S] are flattened to [B*C, S], scored, reshaped to [B, C]."""

    def __init__(self, config, num_labels=1, dropout_rate=CLASSIFIER_DROPOUT, name="bert_multiple_choice",
                 **kwargs):
        if num_labels != 1:
            raise ValueError(f"BertMultipleChoice scores each choice with one logit; got num_labels={num_labels}")
        super().__init__(config, 1, dropout_rate, name=name, **kwargs)

    def call(self, inputs, training=None):
        choices = ops.shape(inputs["input_ids"])[1]
        flat = {k: ops.reshape(inputs[k], (-1, ops.shape(inputs[k])[-1]))  # [B*C, S]
                for k in ("input_ids", "input_mask", "segment_ids") if k in inputs}
        pooled = self.encoder(flat, training=training)["pooled_output"]  # [B*C, H]
        scores = self.classifier(pooled, training=training)  # [B*C, 1]
        return {"logits": ops.reshape(scores, (-1, choices))}  # [B, C]


@keras.saving.register_keras_serializable(package="bert_tf")
class BertTagger(_HeadModel):
    """Token tagging (NER): `logits` [B, S, L] from every position of the last layer."""

    uses_pooler = False  # checkpoints without pooler weights (HF builds taggers without one) load strictly

    def __init__(self, config, num_labels, dropout_rate=CLASSIFIER_DROPOUT, name="bert_tagger", **kwargs):
        super().__init__(config, num_labels, dropout_rate, name=name, **kwargs)

    def call(self, inputs, training=None):
        sequence = self.encoder(inputs, training=training)["sequence_output"]  # [B, S, H]
        return {"logits": self.classifier(sequence, training=training)}  # [B, S, L]


@keras.saving.register_keras_serializable(package="bert_tf")
class BertSpanLabeler(ConfigModel):
    """Extractive QA (SQuAD): `start_logits`, `end_logits` [B, S] (no dropout on the head, as run_squad)."""

    uses_pooler = False

    def __init__(self, config, name="bert_span_labeler", **kwargs):
        super().__init__(config, name=name, **kwargs)
        self.encoder = BertEncoder(self.config)
        self.span = SpanHead(self.config, name="span")
        self.build()

    def build(self, input_shape=None):
        self.span.build()
        self.built = True

    def call(self, inputs, training=None):
        start, end = self.span(self.encoder(inputs, training=training)["sequence_output"])  # [B, S] each
        return {"start_logits": start, "end_logits": end}
