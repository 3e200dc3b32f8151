"""Objectives: the losses the trainer sums, each with the features and model outputs it reads and its metrics.

Shape legend: B batch, S sequence, P predictions, V vocab, C classes.

Every loss is written as a sum over the local batch divided by a total over the global batch (`totals`): the
trainer adds each objective's `totals(features)` over replicas and micro-batches first, so the per-replica losses
of any strategy, and the micro-batches of gradient accumulation, add up to the loss of the whole batch, and their
gradients to its gradient. With the totals of one batch, the pretraining losses are exactly the original
run_pretraining's (docs/ORIGINAL.md §3.1) and the fine-tuning losses run_classifier's and run_squad's means.
"""

from __future__ import annotations

import tensorflow as tf

MLM_DENOMINATOR_EPSILON = 1e-5  # the original: sum(w * loss) / (sum(w) + 1e-5)


@tf.custom_gradient
def label_nll(logits, labels):
    """-log_softmax(logits)[label] per row: [N, V], [N] -> [N]; the gradient written out (bit for bit autodiff's).

    Gathering the label's log-probability equals the original's -sum(one_hot * log_probs) bit for bit. Autodiff
    would scatter the upstream gradient into a dense [N, V] zero tensor, then take LogSoftmax's gradient
    g - sum(g) * exp(log_probs): four passes over [N, V] (vocabulary-sized: the largest tensors of a step). With
    one non-zero per row, sum(g) is exactly -u, so the same values are u * exp(log_probs), less u at the label.
    """
    log_probs = tf.nn.log_softmax(logits, axis=-1)  # [N, V]

    def gradient(upstream):  # [N]
        labelled = tf.stack([tf.range(tf.shape(labels)[0]), labels], axis=1)  # [N, 2]
        return tf.tensor_scatter_nd_sub(upstream[:, None] * tf.exp(log_probs), labelled, upstream), None

    return -tf.gather(log_probs, labels, batch_dims=1), gradient


def class_nll(logits, labels):
    """-log p(label) per row of [..., C] logits and [...] labels, flattened: -> [N]."""
    classes = tf.shape(logits)[-1]
    return label_nll(tf.reshape(logits, [-1, classes]), tf.cast(tf.reshape(labels, [-1]), tf.int32))


def masked_lm_nll(masked_lm_logits, masked_lm_ids):
    """-log p(label) per prediction, flattened as the original: [B, P, V], [B, P] -> [B * P]."""
    return class_nll(masked_lm_logits, masked_lm_ids)


def _hits(logits, labels):
    """1.0 where the argmax of [..., C] logits is the label, flattened: -> [N]."""
    classes = tf.shape(logits)[-1]
    predicted = tf.argmax(tf.reshape(logits, [-1, classes]), -1, output_type=tf.int32)
    return tf.cast(tf.equal(predicted, tf.cast(tf.reshape(labels, [-1]), tf.int32)), tf.float32)


def _count(tensor):
    return tf.cast(tf.shape(tensor)[0], tf.float32)


class Objective:
    """A loss and its metrics. `name` prefixes everything it reports (`<name>_loss`, `<name>_accuracy`);
    `features` and `outputs` are the batch features and model outputs it reads; `sum_keys` the sums `sums`
    returns, `<name>_loss` first: this batch's share of the loss (local sum / global total)."""

    name: str
    features: tuple[str, ...] = ()
    outputs: tuple[str, ...] = ()
    sum_keys: tuple[str, ...] = ()

    def totals(self, features) -> dict:
        """Local values whose sums over the global batch normalise the loss."""
        return {}

    def sums(self, outputs, features, totals) -> dict:
        raise NotImplementedError

    def metrics(self, sums, num_batches) -> dict:
        """Metrics from `sums` added over `num_batches` batches (the loss as the mean batch loss)."""
        return {f"{self.name}_loss": float(sums[f"{self.name}_loss"]) / num_batches}


class MaskedLM(Objective):
    """The original masked-LM loss: sum(w * nll) / (sum(w) + 1e-5) over the [B, P] predictions; metrics as its
    `tf.metrics`: accuracy and mean nll weighted by `masked_lm_weights` (the loss without the +1e-5)."""

    name = "masked_lm"
    features = ("masked_lm_ids", "masked_lm_weights")
    outputs = ("masked_lm_logits",)
    sum_keys = ("masked_lm_loss", "masked_lm_correct", "masked_lm_weight", "masked_lm_nll")

    def totals(self, features):
        return {"masked_lm_weight": tf.reduce_sum(tf.cast(features["masked_lm_weights"], tf.float32))}

    def sums(self, outputs, features, totals):
        weights = tf.reshape(tf.cast(features["masked_lm_weights"], tf.float32), [-1])  # [B * P]
        logits, ids = outputs["masked_lm_logits"], features["masked_lm_ids"]
        nll = tf.reduce_sum(weights * masked_lm_nll(logits, ids))
        return {"masked_lm_loss": nll / (totals["masked_lm_weight"] + MLM_DENOMINATOR_EPSILON),
                "masked_lm_correct": tf.reduce_sum(weights * _hits(logits, ids)),
                "masked_lm_weight": tf.reduce_sum(weights), "masked_lm_nll": nll}

    def metrics(self, sums, num_batches):
        return {"masked_lm_accuracy": float(sums["masked_lm_correct"]) / float(sums["masked_lm_weight"]),
                "masked_lm_loss": float(sums["masked_lm_nll"]) / float(sums["masked_lm_weight"])}


class Classes(Objective):
    """Softmax cross-entropy, the mean over the global batch: the original next-sentence loss (`name`
    "next_sentence", [B, 2] logits, [B, 1] labels), run_classifier's classification loss, and over the choices
    of multiple choice ([B, C] logits)."""

    def __init__(self, name="classification", output="logits", label="label_ids"):
        self.name, self.outputs, self.features = name, (output,), (label,)
        self.sum_keys = (f"{name}_loss", f"{name}_correct", f"{name}_count", f"{name}_nll")

    def totals(self, features):
        return {f"{self.name}_count": _count(features[self.features[0]])}

    def sums(self, outputs, features, totals):
        logits, labels = outputs[self.outputs[0]], features[self.features[0]]
        nll = tf.reduce_sum(class_nll(logits, labels))
        n = self.name
        return {f"{n}_loss": nll / totals[f"{n}_count"], f"{n}_correct": tf.reduce_sum(_hits(logits, labels)),
                f"{n}_count": _count(logits), f"{n}_nll": nll}

    def metrics(self, sums, num_batches):
        n, count = self.name, float(sums[f"{self.name}_count"])
        return {f"{n}_accuracy": float(sums[f"{n}_correct"]) / count, f"{n}_loss": float(sums[f"{n}_nll"]) / count}


class Regression(Objective):
    """Squared error of the single logit, the mean over the global batch (STS-B)."""

    name = "regression"
    features = ("label_ids",)
    outputs = ("logits",)
    sum_keys = ("regression_loss", "regression_count", "regression_squared_error")

    def totals(self, features):
        return {"regression_count": _count(features["label_ids"])}

    def sums(self, outputs, features, totals):
        error = outputs["logits"][:, 0] - tf.cast(features["label_ids"], tf.float32)  # [B]
        squared = tf.reduce_sum(tf.square(error))
        return {"regression_loss": squared / totals["regression_count"],
                "regression_count": _count(error), "regression_squared_error": squared}

    def metrics(self, sums, num_batches):
        return {"regression_loss": float(sums["regression_squared_error"]) / float(sums["regression_count"])}


class Tagging(Classes):
    """Cross-entropy per labelled token ([B, S, L] logits, [B, S] labels; label -1 is not scored), the mean over
    the global batch's labelled tokens."""

    def __init__(self):
        super().__init__("tagging")

    def totals(self, features):
        return {"tagging_count": tf.reduce_sum(tf.cast(features["label_ids"] >= 0, tf.float32))}

    def sums(self, outputs, features, totals):
        labels = tf.reshape(features["label_ids"], [-1])  # [B * S]
        scored = tf.cast(labels >= 0, tf.float32)
        logits = outputs["logits"]
        nll = tf.reduce_sum(scored * class_nll(logits, tf.maximum(labels, 0)))
        return {"tagging_loss": nll / totals["tagging_count"],
                "tagging_correct": tf.reduce_sum(scored * _hits(logits, labels)),
                "tagging_count": tf.reduce_sum(scored), "tagging_nll": nll}


class Span(Objective):
    """run_squad's loss: the mean of the start and end positions' cross-entropies, each a mean over the batch."""

    name = "span"
    features = ("start_positions", "end_positions")
    outputs = ("start_logits", "end_logits")
    sum_keys = ("span_loss", "span_count", "span_nll")

    def totals(self, features):
        return {"span_count": _count(features["start_positions"])}

    def sums(self, outputs, features, totals):
        nll = (tf.reduce_sum(class_nll(outputs["start_logits"], features["start_positions"]))
               + tf.reduce_sum(class_nll(outputs["end_logits"], features["end_positions"])))
        return {"span_loss": nll / (2.0 * totals["span_count"]), "span_count": _count(outputs["start_logits"]),
                "span_nll": nll}

    def metrics(self, sums, num_batches):
        return {"span_loss": float(sums["span_nll"]) / (2.0 * float(sums["span_count"]))}


def next_sentence():
    """The original next-sentence objective on `next_sentence_logits` [B, 2] and `next_sentence_labels`."""
    return Classes("next_sentence", "next_sentence_logits", "next_sentence_labels")


def pretraining(next_sentence_prediction=True):
    """The original pretraining objectives: masked LM, and next-sentence prediction unless turned off."""
    return [MaskedLM(), next_sentence()] if next_sentence_prediction else [MaskedLM()]


def totals(objectives, features) -> dict:
    """Every objective's totals over `features` (the trainer sums them over the global batch)."""
    return {k: v for o in objectives for k, v in o.totals(features).items()}


def sums(objectives, outputs, features, global_totals=None) -> dict:
    """The sums of every objective and `loss`, the sum of their losses; `global_totals` default to this batch's."""
    global_totals = totals(objectives, features) if global_totals is None else global_totals
    out = {}
    for objective in objectives:
        out.update(objective.sums(outputs, features, global_totals))
    out["loss"] = tf.add_n([out[f"{o.name}_loss"] for o in objectives])
    return out


def metrics(objectives, summed, num_batches) -> dict:
    """`loss` (the mean batch loss) and every objective's metrics, from sums added over `num_batches` batches."""
    out = {"loss": float(summed["loss"]) / num_batches}
    for objective in objectives:
        out.update(objective.metrics(summed, num_batches))
    return out
