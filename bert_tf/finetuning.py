"""Fine-tuning: joins a task's kind to its model, loss and outputs, and trains with Keras `fit`.

| kind                       | model              | loss (the original's, a mean over the batch)       |
|----------------------------|--------------------|----------------------------------------------------|
| classification             | BertClassifier     | softmax cross-entropy                              |
| regression                 | BertClassifier(1)  | squared error                                      |
| multiple_choice            | BertMultipleChoice | softmax cross-entropy over the choices             |
| tagging                    | BertTagger         | cross-entropy over first sub-tokens (label -1 ignored) |
| span                       | BertSpanLabeler    | (start + end cross-entropy) / 2                    |

The optimizer is the original AdamW (or LAMB) with warm-up and linear decay over
int(num_examples / batch x epochs) steps. Training writes `ckpt-<step>` checkpoints (weights, optimizer slots,
step, dropout seeds) every `save_checkpoints_steps` into output_dir, and a rerun in the same output_dir resumes
from the latest one (the seeded input order is replayed to the same position), as pretraining does. Evaluation
is computed from predictions in NumPy, weighting by `is_real_example`, so padding examples change nothing in
`eval_*`; the Estimator's `loss` (the mean batch loss, padding examples included) and `global_step` are added
as the original's eval_results.txt has them (spec §5.4).
"""

from __future__ import annotations

import dataclasses
import logging
import os

import keras
import numpy as np
import tensorflow as tf

from bert_tf import checkpoint_files, checkpoints, modeling
from bert_tf.finetuning_data import train_steps
from bert_tf.optimization import create_optimizer
from bert_tf.tasks.squad_predictions import RawResult
from bert_tf.training import CHECKPOINT_NAME, precision_policy, warm_start

MODEL_INPUTS = ("input_ids", "input_mask", "segment_ids")

MODELS = {
    "classification": lambda config, task: modeling.BertClassifier(config, task.num_labels),
    "regression": lambda config, task: modeling.BertClassifier(config, 1),
    "multiple_choice": lambda config, task: modeling.BertMultipleChoice(config),
    "tagging": lambda config, task: modeling.BertTagger(config, task.num_labels),
    "span": lambda config, task: modeling.BertSpanLabeler(config),
}


def _cross_entropy(**kwargs):
    return keras.losses.SparseCategoricalCrossentropy(from_logits=True, **kwargs)


LOSSES = {
    "classification": lambda: ({"logits": _cross_entropy()}, None),
    "regression": lambda: ({"logits": keras.losses.MeanSquaredError()}, None),
    "multiple_choice": lambda: ({"logits": _cross_entropy()}, None),
    "tagging": lambda: ({"logits": _cross_entropy(ignore_class=-1)}, None),
    "span": lambda: ({"start_logits": _cross_entropy(), "end_logits": _cross_entropy()},
                     {"start_logits": 0.5, "end_logits": 0.5}),
}


def targets(kind, batch):
    if kind == "span":
        return {"start_logits": batch["start_positions"], "end_logits": batch["end_positions"]}
    return {"logits": batch["label_ids"]}


@dataclasses.dataclass(frozen=True)
class FineTuningOptions:
    """How to fine-tune; defaults are the original run_classifier.py / run_squad.py flags (spec §8)."""

    output_dir: str
    max_seq_length: int = 128
    train_batch_size: int = 32
    eval_batch_size: int = 8
    predict_batch_size: int = 8
    learning_rate: float = 5e-5
    num_train_epochs: float = 3.0
    warmup_proportion: float = 0.1
    iterations_per_loop: int = 1000
    optimizer: str = "adamw"
    precision: str = "float32"
    use_xla: bool = False
    seed: int | None = None
    save_checkpoints_steps: int = 1000
    keep_checkpoint_max: int = 5


class FineTuning:
    """A task's model under a strategy: `train`, then `predict`/`evaluate`; the result is saved as an original
    TF1 checkpoint (bert/* plus the head's `output_weights` or `cls/squad/*`) in output_dir."""

    def __init__(self, task, config, options, strategy=None):
        self.task, self.config, self.options = task, config, options
        self.strategy = strategy or tf.distribute.get_strategy()
        self.global_step = 0  # of the weights in self.model: steps trained, or read from the checkpoint loaded
        with self.strategy.scope(), precision_policy(options.precision):
            self.model = MODELS[task.kind](config, task)

    def warm_start(self, init_checkpoint, config_file=None):
        """Body (and any matching head) from a pretraining or fine-tuned checkpoint of any format; None keeps
        the random initial weights, as the original does without --init_checkpoint."""
        if not init_checkpoint:
            logging.warning("no checkpoint to start from: %s keeps its random initial weights", self.task.name)
            return []
        return warm_start(self.model, init_checkpoint, config_file=config_file)

    def restore_trained(self, init_checkpoint, config_file=None):
        """For evaluation or prediction without training: the fine-tuned weights in output_dir when there are
        some (bert_model.ckpt, as `save` writes them; global_step is then its step, as the Estimator restored
        it), else `init_checkpoint` (global_step 0: a warm start does not restore the step)."""
        trained = os.path.join(self.options.output_dir, checkpoint_files.TF1_CHECKPOINT_NAME)
        if not os.path.exists(trained + ".index"):
            return self.warm_start(init_checkpoint, config_file)
        self.global_step = _checkpoint_step(trained)
        return self.warm_start(trained, config_file)

    def train(self, features, num_examples):
        """Trains on `features` for int(num_examples / batch x epochs) steps, resuming from output_dir's latest
        training checkpoint if there is one; returns the Keras history (None if nothing was left to train).
        `save` then writes the result in the original layout."""
        o = self.options
        num_steps, num_warmup = train_steps(num_examples, o.train_batch_size, o.num_train_epochs, o.warmup_proportion)
        if num_steps < 1:
            raise ValueError(f"{num_examples} examples at batch {o.train_batch_size} x {o.num_train_epochs} epochs "
                             "make no training step")
        kind = self.task.kind
        with self.strategy.scope():
            loss, loss_weights = LOSSES[kind]()
            optimizer = create_optimizer(o.learning_rate, num_steps, num_warmup, optimizer_type=o.optimizer)
            if o.precision == "float16":
                optimizer = keras.optimizers.LossScaleOptimizer(optimizer)
            optimizer.build(self.model.trainable_variables)  # slots exist before a resumed run restores them
        saver = _TrainingCheckpoints(self.model, optimizer, o, num_steps)
        done = saver.restore()
        logging.info("training %s: %d examples, %d steps, %d warm-up%s", self.task.name, num_examples, num_steps,
                     num_warmup, f", resuming at step {done}" if done else "")
        history = None
        if done < num_steps:
            dataset = self.task.dataset(features, o.train_batch_size, training=True, seed=o.seed).skip(done).map(
                lambda batch: ({k: batch[k] for k in MODEL_INPUTS}, targets(kind, batch)))
            with self.strategy.scope():
                self.model.compile(optimizer=optimizer, loss=loss, loss_weights=loss_weights, jit_compile=o.use_xla,
                                   steps_per_execution=min(o.iterations_per_loop, o.save_checkpoints_steps,
                                                           num_steps - done))
            history = self.model.fit(dataset, epochs=1, steps_per_epoch=num_steps - done, shuffle=False,
                                     callbacks=[saver],
                                     verbose=2 if num_steps - done > 1 else 0)
        self.global_step = num_steps
        return history

    def save(self, vocab_file=None):
        """The fine-tuned weights in the original layout, global_step included as the original's checkpoints
        have it: output_dir/bert_model.ckpt + bert_config.json."""
        weights = {**checkpoints.get_weights(self.model), "global_step": np.int64(self.global_step)}
        checkpoint_files.save(self.config, weights, self.options.output_dir, "tf1", vocab_file=vocab_file)

    def predict(self, features, batch_size):
        """The model's outputs on `features` (in order, every feature): dict of NumPy arrays."""
        dataset = self.task.dataset(features, batch_size, training=False).map(
            lambda batch: {k: batch[k] for k in MODEL_INPUTS})
        return self.model.predict(dataset, verbose=0)

    def evaluate(self, examples, features, batch_size, outputs=None, **options):
        """Dev metrics: `eval_accuracy`/`eval_loss` as the original (padding examples weigh 0) plus the task's.

        `outputs` are the model's predictions on `features` when already computed; `options` are the span
        post-processing settings (n_best_size, max_answer_length, do_lower_case, null_score_diff_threshold).
        """
        outputs = self.predict(features, batch_size) if outputs is None else outputs
        arrays = self.task.arrays(features)
        if self.task.kind == "span":
            gold, _, answers, null_odds = self.span_predictions(examples, features, outputs, **options)
            return self.task.metrics(gold, answers, null_odds)
        real = arrays["is_real_example"].astype(bool)
        logits, labels = outputs["logits"], arrays["label_ids"]
        if self.task.kind == "regression":
            losses = (logits[:, 0] - labels) ** 2  # [N]
            results = {"eval_loss": float(losses[real].mean()), **self.task.metrics(labels[real], logits[real, 0])}
        else:
            shifted = logits - logits.max(-1, keepdims=True)
            log_probs = shifted - np.log(np.exp(shifted).sum(-1, keepdims=True))
            keep = labels >= 0  # tagging: only first sub-tokens carry a label
            nll = -np.take_along_axis(log_probs, np.maximum(labels, 0)[..., None], -1)[..., 0]  # [N] or [N, S]
            losses = nll[keep]
            # tagging scores every word of the examples, as conlleval does (words without a piece included)
            words = {"examples": examples} if self.task.kind == "tagging" else {}
            results = {"eval_loss": float(nll[real][keep[real]].mean()),
                       "eval_accuracy": float((log_probs.argmax(-1) == labels)[real][keep[real]].mean()),
                       **self.task.metrics(labels[real], logits[real], **words)}
        # The Estimator's `loss` is the mean of the batches' mean losses, padding examples included; every batch
        # is full here (examples are padded to a multiple of the batch size), so it is the mean over all of them.
        return {**results, "loss": float(losses.mean()), "global_step": self.global_step}

    def span_predictions(self, examples, features, outputs, **options):
        """(gold answers, RawResults, predictions): the SQuAD post-processing of span outputs."""
        from bert_tf.tasks import squad_eval, squad_predictions

        results = [RawResult(f.unique_id, tuple(s), tuple(e))
                   for f, s, e in zip(features, outputs["start_logits"], outputs["end_logits"], strict=True)]
        answers, _, null_odds = squad_predictions.predictions(examples, features, results,
                                                              **{**self.task.options, **options})
        return squad_eval.gold_from_examples(examples), results, answers, null_odds

    def write_predictions(self, split, examples, features, batch_size, outputs=None, **options):
        """The kind's prediction files (test_results.tsv, GLUE submission, SQuAD JSON, CoNLL tags)."""
        outputs = self.predict(features, batch_size) if outputs is None else outputs
        if self.task.kind == "span":
            predictions = self.span_predictions(examples, features, outputs, **options)[1]
        elif self.task.kind == "regression":
            predictions = outputs["logits"][:, 0]
        else:
            logits = outputs["logits"]
            predictions = np.exp(logits - logits.max(-1, keepdims=True))
            predictions /= predictions.sum(-1, keepdims=True)
        return self.task.write_predictions(self.options.output_dir, split, examples, predictions, features=features,
                                           **options)


def _checkpoint_step(prefix):
    """The `global_step` stored in a TF1 checkpoint (0 for one written without it)."""
    reader = tf.train.load_checkpoint(prefix)
    return int(reader.get_tensor("global_step")) if reader.has_tensor("global_step") else 0


class _TrainingCheckpoints(keras.callbacks.Callback):
    """`ckpt-<step>` in output_dir every `save_checkpoints_steps` and at the last step: the weights under their
    TF1 names (Keras 3 models are not fully trackable by tf.train.Checkpoint), optimizer slots, the step and the
    dropout seed-generator states, so that a resumed run draws what an uninterrupted one would."""

    def __init__(self, model, optimizer, options, num_steps):
        super().__init__()
        self.step = tf.Variable(0, dtype=tf.int64, trainable=False, name="global_step")
        weights = {name: variable for name, (variable, _) in checkpoints.keras_variables(model).items()}
        seeds = [v for v in model.non_trainable_variables if "seed_generator" in v.path]
        self.checkpoint = tf.train.Checkpoint(weights=weights, optimizer=optimizer, global_step=self.step,
                                              seed_generators=seeds)
        self.manager = tf.train.CheckpointManager(self.checkpoint, options.output_dir,
                                                  max_to_keep=options.keep_checkpoint_max,
                                                  checkpoint_name=CHECKPOINT_NAME, step_counter=self.step)
        self.every, self.done, self.num_steps = options.save_checkpoints_steps, 0, num_steps

    def restore(self):
        """Reads output_dir's latest training checkpoint, if any; returns the step training continues from."""
        if self.manager.latest_checkpoint:
            self.checkpoint.read(self.manager.latest_checkpoint).assert_existing_objects_matched()
            logging.info("resuming from %s", self.manager.latest_checkpoint)
        self.done = int(self.step.numpy())
        return self.done

    def on_train_batch_end(self, batch, logs=None):
        step = self.done + batch + 1  # `batch`: the epoch's last step index of this call of the compiled loop
        crossed = step // self.every > int(self.step.numpy()) // self.every
        self.step.assign(step)
        if crossed or step == self.num_steps:
            logging.info("saved %s", self.manager.save(checkpoint_number=step))
