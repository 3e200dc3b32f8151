"""Fine-tuning models: the encoder plus one head per task kind (`bert_tf.kinds` says which kind uses which).

Shape legend: B batch, S sequence, H hidden, C classes (or choices), L labels.

| model              | head input         | output                              |
|--------------------|--------------------|-------------------------------------|
| BertClassifier     | pooled [B, H]      | `logits` [B, C] (C = 1: a score)    |
| BertMultipleChoice | pooled [B*C, H]    | `logits` [B, C]                     |
| BertTagger         | sequence [B, S, H] | `logits` [B, S, L]                  |
| BertSpanLabeler    | sequence [B, S, H] | `start_logits`, `end_logits` [B, S] |

The classifier heads are the original run_classifier's: dropout 0.1 (training only) on the pooled output, then
`output_weights` [C, H] + `output_bias` at the root of the TF1 checkpoint; the span head is run_squad's
`cls/squad/output_weights` [2, H]. Inputs carry the original feature names (`input_ids`, `input_mask`,
`segment_ids`).

BERT's cousins read what Hugging Face's models of their family read (`FirstTokenHead`): RoBERTa's sequence
classifier a dense + tanh layer on `<s>` (no pooler); DistilBERT, which has no pooler, a dense + ReLU layer on its
first token for sequences and choices alike, dropout 0.2 (HF's `seq_classif_dropout`). ALBERT's are BERT's.
"""

from __future__ import annotations

import keras
from keras import ops

from bert_tf.modeling.heads import ClassificationHead, EncoderModel, FirstTokenHead, SpanHead

CLASSIFIER_DROPOUT = 0.1  # the original's keep_prob 0.9 in run_classifier, independent of the config
FAMILY_DROPOUT = {"distilbert": 0.2}  # Hugging Face's seq_classif_dropout


def _family(config) -> str:
    """The model type of a config, its get_config dict, or an EncoderPlan (BERT's names)."""
    return config.get("model_type", "bert") if isinstance(config, dict) else getattr(config, "model_type", "bert")


class _HeadModel(EncoderModel):
    """An encoder plus a head named `classifier`: a ClassificationHead, or for the families in
    `first_token_families` a FirstTokenHead (the model then has no pooler, as Hugging Face's); get_config carries
    the head's sizes. dropout_rate None: 0.1, or the first-token head's family's (DistilBERT's 0.2)."""

    first_token_families = ()

    def __init__(self, config, num_labels, dropout_rate=None, **kwargs):
        kwargs.pop("with_pooler", None)  # task models keep the original's pooler, unless the head reads none
        family = _family(config)
        first_token = family in self.first_token_families
        super().__init__(config, with_pooler=not first_token, **kwargs)
        self.num_labels = num_labels
        if dropout_rate is None:
            dropout_rate = FAMILY_DROPOUT.get(family, CLASSIFIER_DROPOUT) if first_token else CLASSIFIER_DROPOUT
        self.dropout_rate = dropout_rate
        if first_token:
            self.uses_pooler = False  # checkpoints with a pooler (a pretrained body) still load into it
            self.classifier = FirstTokenHead(num_labels, self.plan.hidden_size, family, self.dropout_rate,
                                             self.plan.initializer_range, name="classifier")
        else:
            self.classifier = ClassificationHead(num_labels, self.dropout_rate, self.plan.initializer_range,
                                                 name="classifier")
        self.build()

    def extra_config(self):
        return {"num_labels": self.num_labels, "dropout_rate": self.dropout_rate}

    def sentence_logits(self, encoded, training):
        """The head on the pooled output, or on the sequence (its first token) for a FirstTokenHead."""
        if isinstance(self.classifier, FirstTokenHead):
            return self.classifier(encoded["sequence_output"], training=training)
        return self.classifier(encoded["pooled_output"], training=training)


@keras.saving.register_keras_serializable(package="bert_tf")
class BertClassifier(_HeadModel):
    """Sentence (pair) classification or regression from the pooled [CLS] vector (RoBERTa, DistilBERT: their
    heads on the first token): `logits` [B, C]."""

    first_token_families = ("roberta", "distilbert")

    def __init__(self, config, num_labels, dropout_rate=None, name="bert_classifier", **kwargs):
        super().__init__(config, num_labels, dropout_rate, name=name, **kwargs)

    def head_outputs(self, encoded, inputs, training):
        return {"logits": self.sentence_logits(encoded, training)}  # [B, C]


@keras.saving.register_keras_serializable(package="bert_tf")
class BertMultipleChoice(_HeadModel):
    """One score per choice (SWAG): inputs [B, C, S] are flattened to [B*C, S], scored, reshaped to [B, C]
    (DistilBERT: its first-token head; RoBERTa's multiple choice reads the pooler, as Hugging Face's)."""

    first_token_families = ("distilbert",)

    def __init__(self, config, num_labels=1, dropout_rate=None, name="bert_multiple_choice",
                 **kwargs):
        if num_labels != 1:
            raise ValueError(f"BertMultipleChoice scores each choice with one logit; got num_labels={num_labels}")
        super().__init__(config, 1, dropout_rate, name=name, **kwargs)

    def encoder_inputs(self, inputs):
        return {k: ops.reshape(inputs[k], (-1, ops.shape(inputs[k])[-1]))  # [B*C, S]
                for k in ("input_ids", "input_mask", "segment_ids") if k in inputs}

    def head_outputs(self, encoded, inputs, training):
        scores = self.sentence_logits(encoded, training)  # [B*C, 1]
        return {"logits": ops.reshape(scores, (-1, ops.shape(inputs["input_ids"])[1]))}  # [B, C]


@keras.saving.register_keras_serializable(package="bert_tf")
class BertTagger(_HeadModel):
    """Token tagging (NER): `logits` [B, S, L] from every position of the last layer."""

    uses_pooler = False  # checkpoints without pooler weights (HF builds taggers without one) load strictly

    def __init__(self, config, num_labels, dropout_rate=None, name="bert_tagger", **kwargs):
        super().__init__(config, num_labels, dropout_rate, name=name, **kwargs)

    def head_outputs(self, encoded, inputs, training):
        return {"logits": self.classifier(encoded["sequence_output"], training=training)}  # [B, S, L]


@keras.saving.register_keras_serializable(package="bert_tf")
class BertSpanLabeler(EncoderModel):
    """Extractive QA (SQuAD): `start_logits`, `end_logits` [B, S] (no dropout on the head, as run_squad)."""

    uses_pooler = False

    def __init__(self, config, num_labels=2, name="bert_span_labeler", **kwargs):
        if num_labels != 2:
            raise ValueError(f"BertSpanLabeler scores a start and an end per token; got num_labels={num_labels}")
        kwargs.pop("with_pooler", None)
        super().__init__(config, name=name, **kwargs)
        self.span = SpanHead(self.plan.hidden_size, self.plan.initializer_range, name="span")
        self.build()

    def head_outputs(self, encoded, inputs, training):
        start, end = self.span(encoded["sequence_output"])  # [B, S] each
        return {"start_logits": start, "end_logits": end}
