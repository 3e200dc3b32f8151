"""Distillation objectives: a student learns from a frozen teacher's outputs, read by the Trainer in the same step.

Shape legend: B batch, S sequence, C classes, P predictions, V vocab, H hidden (H_S student, H_T teacher),
N heads, L layers.

The teacher's outputs reach an objective as `outputs["teacher"]`; everything else is the student's. Like every
objective (`bert_tf.objectives`), each loss is a local sum over a global total, so replicas and accumulation
compute the loss of the whole batch.

- `SoftTargets` (Hinton et al., 2015): T^2 * cross-entropy between the teacher's and the student's
  distributions at temperature T, per example (classification) or per masked position (masked LM, weighted
  by masked_lm_weights); mixed with a hard objective by `Scaled` weights (alpha and 1 - alpha).
- `HiddenMSE` (TinyBERT, Jiao et al., 2019): mean squared error between the student's hidden states, mapped to
  the teacher's width by a learned linear map when widths differ, and the teacher's at the mapped layers (student
  layer m <- teacher layer m * L_T / L_S, layer 0 being the embedding output), over real tokens.
- `AttentionMSE` (TinyBERT): mean squared error between attention scores (QK^T / sqrt(D), before the softmax) of
  mapped layers, over real query and key positions, per head (heads averaged when the counts differ).
- `CosineHidden` (DistilBERT, Sanh et al., 2019): 1 - cos(student, teacher) of the last hidden states, per real
  token.
"""

from __future__ import annotations

import dataclasses
import math

import keras
import tensorflow as tf

from bert_tf.objectives import MaskedLM, Objective


@dataclasses.dataclass(frozen=True)
class DistillationOptions:
    """How a student learns from its teacher.

    Attributes:
      temperature: T of the soft targets (both distributions divided by it; the loss scaled by T^2).
      alpha: fine-tuning's weight of the soft targets; the hard labels' loss weighs 1 - alpha.
      hidden, attention: add TinyBERT's hidden-state (and embedding) MSE, attention-score MSE.
      layer_map: ((student layer, teacher layer), ...), 0 being the embeddings; empty: the uniform map.
      alpha_ce, alpha_mlm, alpha_cos: DistilBERT pretraining's weights of soft masked-LM targets, the masked LM and
        the cosine loss (DistilBERT's own: 5, 2, 1).
    """

    temperature: float = 2.0
    alpha: float = 0.5
    hidden: bool = False
    attention: bool = False
    layer_map: tuple = ()
    alpha_ce: float = 5.0
    alpha_mlm: float = 2.0
    alpha_cos: float = 1.0

    def __post_init__(self):
        if not (isinstance(self.temperature, (int, float)) and 0 < self.temperature < math.inf):
            raise ValueError(f"distillation temperature must be a finite number > 0, got {self.temperature!r}")
        if not (isinstance(self.alpha, (int, float)) and 0 <= self.alpha <= 1):
            raise ValueError(f"distillation alpha must lie in [0, 1], got {self.alpha!r}")
        for name in ("alpha_ce", "alpha_mlm", "alpha_cos"):
            value = getattr(self, name)
            if not (isinstance(value, (int, float)) and 0 <= value < math.inf):
                raise ValueError(f"distillation {name} must be a finite number >= 0, got {value!r}")
        object.__setattr__(self, "layer_map", tuple(tuple(int(x) for x in pair) for pair in self.layer_map))

    def pairs(self, student_plan, teacher_plan):
        """The (student layer, teacher layer) pairs: `layer_map`, checked against both models, or the uniform map."""
        if not self.layer_map:
            return layer_map(student_plan.num_hidden_layers, teacher_plan.num_hidden_layers)
        for student, teacher in self.layer_map:
            if not (0 <= student <= student_plan.num_hidden_layers and 0 <= teacher <= teacher_plan.num_hidden_layers):
                raise ValueError(f"distillation layer map pair {student}:{teacher} names a layer the student "
                                 f"({student_plan.num_hidden_layers} layers) or the teacher "
                                 f"({teacher_plan.num_hidden_layers}) does not have")
        return self.layer_map


def _real_tokens(features):
    mask = features["input_mask"]
    return tf.cast(tf.reshape(mask, [-1, tf.shape(mask)[-1]]), tf.float32)  # [B, S] ([B * C, S] for choices)


class Scaled(Objective):
    """Another objective whose loss counts `factor` times (its metrics unchanged): the alpha of a mix."""

    def __init__(self, inner, factor):
        self.inner, self.factor = inner, float(factor)
        self.name, self.features, self.outputs = inner.name, inner.features, inner.outputs
        self.sum_keys = inner.sum_keys

    def totals(self, features):
        return self.inner.totals(features)

    def sums(self, outputs, features, totals):
        sums = self.inner.sums(outputs, features, totals)
        return {**sums, f"{self.name}_loss": self.factor * sums[f"{self.name}_loss"]}

    def metrics(self, sums, num_batches):
        return self.inner.metrics(sums, num_batches)


class SoftTargets(Objective):
    """T^2 * sum over classes of -softmax(teacher / T) * log_softmax(student / T), the mean over the global batch's
    examples (or masked positions, weighted: `weights` names the feature, e.g. masked_lm_weights)."""

    def __init__(self, output="logits", temperature=2.0, weights=None, name="soft_targets"):
        if not temperature > 0:
            raise ValueError(f"distillation temperature must be > 0, got {temperature!r}")
        self.name, self.output, self.temperature, self.weights = name, output, float(temperature), weights
        self.outputs, self.features = (output,), (weights,) if weights else ()
        self.sum_keys = (f"{name}_loss", f"{name}_count", f"{name}_cross_entropy")

    def _weights(self, features, logits):
        if self.weights:
            return tf.reshape(tf.cast(features[self.weights], tf.float32), [-1])
        return tf.ones(tf.shape(tf.reshape(logits, [-1, tf.shape(logits)[-1]]))[:1])

    def totals(self, features):
        if self.weights:
            return {f"{self.name}_count": tf.reduce_sum(tf.cast(features[self.weights], tf.float32))}
        return {f"{self.name}_count": tf.cast(tf.shape(features["input_ids"])[0], tf.float32)}

    def sums(self, outputs, features, totals):
        student, teacher = outputs[self.output], outputs["teacher"][self.output]
        classes = tf.shape(student)[-1]
        student = tf.reshape(tf.cast(student, tf.float32), [-1, classes]) / self.temperature
        teacher = tf.reshape(tf.cast(tf.stop_gradient(teacher), tf.float32), [-1, classes]) / self.temperature
        cross = -tf.reduce_sum(tf.nn.softmax(teacher) * tf.nn.log_softmax(student), axis=-1)  # [N]
        weights = self._weights(features, outputs[self.output])
        total = tf.reduce_sum(weights * cross)
        return {f"{self.name}_loss": self.temperature ** 2 * total / totals[f"{self.name}_count"],
                f"{self.name}_count": tf.reduce_sum(weights), f"{self.name}_cross_entropy": total}

    def metrics(self, sums, num_batches):
        n = self.name
        return {f"{n}_cross_entropy": float(sums[f"{n}_cross_entropy"]) / float(sums[f"{n}_count"])}


def layer_map(student_layers, teacher_layers):
    """TinyBERT's uniform map: student layer m <- teacher layer m * L_T / L_S, for m = 0 (embeddings) .. L_S."""
    if teacher_layers % student_layers:
        raise ValueError(f"a {student_layers}-layer student cannot map uniformly onto a {teacher_layers}-layer "
                         "teacher: give the layer map")
    return tuple((m, m * teacher_layers // student_layers) for m in range(student_layers + 1))


def _hidden(outputs, layer):
    """Layer 0 is the embedding output, layer m the m-th block's output."""
    return outputs["embedding_output"] if layer == 0 else outputs["encoder_outputs"][layer - 1]


class HiddenMSE(Objective):
    """Sum over the mapped layers of the mean squared error between W h_student (W: a learned [H_S, H_T] map when
    the widths differ; one for the embedding layer, one for the others, as TinyBERT) and h_teacher, over the real
    tokens and the teacher's width."""

    name = "hidden_mse"
    outputs = ("embedding_output", "encoder_outputs")
    sum_keys = ("hidden_mse_loss", "hidden_mse_count", "hidden_mse_error")

    def __init__(self, pairs, student_width, teacher_width, embedding_widths=None, initializer_range=0.02):
        self.pairs, self.teacher_width = tuple(pairs), teacher_width
        def projection(width, name):
            if width == teacher_width:
                return None
            layer = keras.layers.Dense(teacher_width, name=name,
                                       kernel_initializer=keras.initializers.TruncatedNormal(stddev=initializer_range))
            layer.build((None, width))
            return layer
        embedding_student = (embedding_widths or (student_width, teacher_width))[0]
        self.embedding_projection = projection(embedding_student, "distill_embedding_projection")
        self.hidden_projection = projection(student_width, "distill_hidden_projection")

    @property
    def trainable_variables(self):
        return [v for layer in (self.embedding_projection, self.hidden_projection) if layer is not None
                for v in layer.trainable_variables]

    def totals(self, features):
        return {"hidden_mse_count": tf.reduce_sum(_real_tokens(features)) * self.teacher_width}

    def sums(self, outputs, features, totals):
        mask = _real_tokens(features)[..., None]  # [B, S, 1]
        error = 0.0
        for student_layer, teacher_layer in self.pairs:
            projection = self.embedding_projection if student_layer == 0 else self.hidden_projection
            student = tf.cast(_hidden(outputs, student_layer), tf.float32)
            if projection is not None:
                student = tf.cast(projection(student), tf.float32)  # [B, S, H_T]
            teacher = tf.cast(tf.stop_gradient(_hidden(outputs["teacher"], teacher_layer)), tf.float32)
            error += tf.reduce_sum(mask * tf.square(student - teacher))
        return {"hidden_mse_loss": error / totals["hidden_mse_count"],
                "hidden_mse_count": tf.reduce_sum(mask) * self.teacher_width, "hidden_mse_error": error}

    def metrics(self, sums, num_batches):
        return {"hidden_mse": float(sums["hidden_mse_error"]) / float(sums["hidden_mse_count"])}


class AttentionMSE(Objective):
    """Sum over the mapped layers (m >= 1) of the mean squared error between student and teacher attention scores
    [B, N, S, S], over real query and key positions and heads (each model's heads averaged when they differ)."""

    name = "attention_mse"
    outputs = ("attention_scores",)
    sum_keys = ("attention_mse_loss", "attention_mse_count", "attention_mse_error")

    def __init__(self, pairs):
        self.pairs = tuple((s, t) for s, t in pairs if s > 0)

    def totals(self, features):
        real = tf.reduce_sum(_real_tokens(features), axis=1)  # [B]
        return {"attention_mse_count": tf.reduce_sum(real * real)}

    def sums(self, outputs, features, totals):
        mask = _real_tokens(features)
        pairs_mask = (mask[:, :, None] * mask[:, None, :])[:, None]  # [B, 1, S, S]
        error = 0.0
        for student_layer, teacher_layer in self.pairs:
            student = tf.cast(outputs["attention_scores"][student_layer - 1], tf.float32)
            teacher = tf.cast(tf.stop_gradient(outputs["teacher"]["attention_scores"][teacher_layer - 1]), tf.float32)
            if student.shape[1] != teacher.shape[1]:
                student = tf.reduce_mean(student, axis=1, keepdims=True)
                teacher = tf.reduce_mean(teacher, axis=1, keepdims=True)
            heads = tf.cast(tf.shape(student)[1], tf.float32)
            error += tf.reduce_sum(pairs_mask * tf.square(student - teacher)) / heads
        return {"attention_mse_loss": error / totals["attention_mse_count"],
                "attention_mse_count": tf.reduce_sum(pairs_mask), "attention_mse_error": error}

    def metrics(self, sums, num_batches):
        return {"attention_mse": float(sums["attention_mse_error"]) / float(sums["attention_mse_count"])}


class CosineHidden(Objective):
    """DistilBERT's cosine loss: 1 - cos(student, teacher) of the last hidden states, the mean over real tokens."""

    name = "cosine"
    outputs = ("sequence_output",)
    sum_keys = ("cosine_loss", "cosine_count", "cosine_distance")

    def totals(self, features):
        return {"cosine_count": tf.reduce_sum(_real_tokens(features))}

    def sums(self, outputs, features, totals):
        student = tf.math.l2_normalize(tf.cast(outputs["sequence_output"], tf.float32), axis=-1)
        teacher = tf.math.l2_normalize(tf.cast(tf.stop_gradient(outputs["teacher"]["sequence_output"]), tf.float32),
                                       axis=-1)
        mask = _real_tokens(features)
        distance = tf.reduce_sum(mask * (1.0 - tf.reduce_sum(student * teacher, axis=-1)))
        return {"cosine_loss": distance / totals["cosine_count"], "cosine_count": tf.reduce_sum(mask),
                "cosine_distance": distance}

    def metrics(self, sums, num_batches):
        return {"cosine_distance": float(sums["cosine_distance"]) / float(sums["cosine_count"])}


def layers_of(weights, layers):
    """Canonical weights of a student made of the teacher's `layers` (in order) and everything else of the
    teacher's (embeddings, pooler, heads): DistilBERT's initialisation, taking one layer in k."""
    prefix = "bert/encoder/layer_"
    student = {k: v for k, v in weights.items() if not k.startswith(prefix)}
    for new, old in enumerate(layers):
        old_scope = f"{prefix}{old}/"
        found = {k: v for k, v in weights.items() if k.startswith(old_scope)}
        if not found:
            raise ValueError(f"the teacher has no layer {old}")
        student.update({f"{prefix}{new}/{k[len(old_scope):]}": v for k, v in found.items()})
    return student


def check_vocab(student_config, teacher_config, student_source, teacher_source):
    """A student must read the teacher's token ids: refuse another vocabulary size, naming both sources."""
    if student_config.vocab_size != teacher_config.vocab_size:
        raise ValueError(f"the student ({student_source}) has a vocabulary of {student_config.vocab_size} tokens "
                         f"and the teacher ({teacher_source}) one of {teacher_config.vocab_size}: a student must "
                         "use the teacher's vocabulary")


def fine_tuning_objectives(hard, outputs, student_plan, teacher_plan, options):
    """The hard objective weighing 1 - alpha, soft targets on each of `outputs` (a kind's logits: their weight alpha
    shared), and with `options.hidden` / `options.attention` TinyBERT's intermediate losses. Make them in the
    strategy's scope: the hidden-state maps are weights."""
    if not outputs:
        raise ValueError(f"the {hard.name} objective's outputs have no soft targets: it cannot be distilled")
    objectives = [Scaled(hard, 1.0 - options.alpha)]
    objectives += [Scaled(SoftTargets(name, options.temperature, name=f"soft_{name}"), options.alpha / len(outputs))
                   for name in outputs]
    return objectives + _intermediate(student_plan, teacher_plan, options)


def _intermediate(student_plan, teacher_plan, options):
    pairs, out = options.pairs(student_plan, teacher_plan), []
    if options.hidden:
        out.append(HiddenMSE(pairs, student_plan.hidden_size, teacher_plan.hidden_size,
                             (student_plan.embedding_size, teacher_plan.embedding_size),
                             student_plan.initializer_range))
    if options.attention:
        out.append(AttentionMSE(pairs))
    return out


def pretraining_objectives(student_plan, teacher_plan, options):
    """DistilBERT's loss: alpha_ce * soft masked-LM targets + alpha_mlm * masked LM + alpha_cos * cosine of the last
    hidden states (which needs the teacher's width), plus any intermediate losses asked for."""
    if student_plan.hidden_size != teacher_plan.hidden_size:
        raise ValueError(f"DistilBERT's cosine loss compares hidden states: the student's width "
                         f"{student_plan.hidden_size} must be the teacher's {teacher_plan.hidden_size}")
    return [Scaled(SoftTargets("masked_lm_logits", options.temperature, weights="masked_lm_weights"), options.alpha_ce),
            Scaled(MaskedLM(), options.alpha_mlm), Scaled(CosineHidden(), options.alpha_cos),
            *_intermediate(student_plan, teacher_plan, options)]
