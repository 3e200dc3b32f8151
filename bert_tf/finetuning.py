"""Fine-tuning: a task's kind (`bert_tf.kinds`) gives its model, objective, predictions and metrics; the Trainer
trains it.

The optimizer is the original AdamW (or LAMB) with warm-up and linear decay over int(num_examples / batch x
epochs) steps. Training writes `ckpt-<step>` checkpoints (weights, optimizer slots, step, dropout seeds) every
`save_checkpoints_steps` into output_dir, and a rerun in the same output_dir resumes from the latest one (the
seeded input order is replayed to the same position), as pretraining does. Evaluation is computed from
predictions in NumPy, weighting by `is_real_example`, so padding examples change nothing in `eval_*`; the
Estimator's `loss` (the mean batch loss, padding examples included) and `global_step` are added as the original's
eval_results.txt has them (docs/ORIGINAL.md §5.4).
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import math
import os

import numpy as np
import tensorflow as tf

from bert_tf import checkpoint_files, checkpoints, distillation, kinds
from bert_tf.config import check_positive
from bert_tf.finetuning_data import train_steps
from bert_tf.training import Trainer, TrainingOptions, output_dir, precision_policy, warm_start
from bert_tf.training.options import RECORDED_WHEN_ON


@dataclasses.dataclass(frozen=True)
class FineTuningOptions:
    """How to fine-tune; defaults are the original run_classifier.py / run_squad.py flags (docs/ORIGINAL.md §8).
    gradient_accumulation_steps, keep_checkpoint_max, fast_dropout and fused_optimizer go beyond them, as in pretraining
    (`bert_tf.training.TrainingOptions`); resume_changed_run
    continues a run in output_dir that was made with other settings (`output_dir.check_run_config`).
    Bad values are a ValueError naming the field (the flag of the same name) before anything runs."""

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
    fast_dropout: bool = False
    fused_optimizer: bool = False
    seed: int | None = None
    save_checkpoints_steps: int = 1000
    keep_checkpoint_max: int = 5
    gradient_accumulation_steps: int = 1
    resume_changed_run: bool = False

    def __post_init__(self):
        for name in ("max_seq_length", "train_batch_size", "eval_batch_size", "predict_batch_size",
                     "iterations_per_loop", "save_checkpoints_steps", "keep_checkpoint_max",
                     "gradient_accumulation_steps"):
            check_positive("FineTuningOptions", name, getattr(self, name))
        for name in ("learning_rate", "num_train_epochs"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value < math.inf:
                raise ValueError(f"FineTuningOptions.{name} must be a finite number > 0, got {value!r}")
        if not 0 <= self.warmup_proportion <= 1:
            raise ValueError(f"FineTuningOptions.warmup_proportion must lie in [0, 1], got {self.warmup_proportion!r}")


class FineTuning:
    """A task's model under a strategy: `train`, then `predict`/`evaluate`; the result is saved as an original
    TF1 checkpoint (bert/* plus the head's `output_weights` or `cls/squad/*`) in output_dir.

    With `teacher_checkpoint` (a model fine-tuned on the same task, any format), the model is a student: it
    trains on `distillation.fine_tuning_objectives` of the teacher's outputs, the teacher frozen in the same step
    (DistillationOptions `distill`)."""

    def __init__(self, task, config, options, strategy=None, teacher_checkpoint=None, distill=None):
        self.task, self.config, self.options = task, config, options
        self.kind = kinds.get(task.kind)
        self.strategy = strategy or tf.distribute.get_strategy()
        self.global_step = 0  # of the weights in self.model: steps trained, or read from the checkpoint loaded
        self.init_checkpoint = None  # what warm_start read: part of the run's settings
        self.teacher_checkpoint, self.distill, self.teacher = teacher_checkpoint, distill, None
        with self.strategy.scope(), precision_policy(options.precision):
            self.model = self.kind.model(config, task)
            if teacher_checkpoint:
                self.teacher = self._teacher(teacher_checkpoint)

    def _teacher(self, path):
        if not self.kind.distilled:
            raise ValueError(f"task {self.task.name}: kind {self.task.kind!r} is not distilled (only "
                             f"{', '.join(k.name for k in kinds.KINDS.values() if k.distilled)})")
        config, weights, _ = checkpoint_files.load(path)
        distillation.check_vocab(self.config, config, "the student's config", path)
        teacher = self.kind.model(config, self.task)
        checkpoints.set_weights(teacher, weights, source=path)
        self.distill = self.distill or distillation.DistillationOptions()
        return teacher

    def warm_start(self, init_checkpoint, config_file=None, layers=None):
        """Body (and any matching head) from a pretraining or fine-tuned checkpoint of any format; None keeps
        the random initial weights, as the original does without --init_checkpoint. `layers`: the model takes
        these layers of the checkpoint, in order (DistilBERT's student of one teacher layer in k)."""
        if not init_checkpoint:
            logging.warning("no checkpoint to start from: %s keeps its random initial weights", self.task.name)
            return []
        self.init_checkpoint = init_checkpoint if not layers else f"{init_checkpoint} layers {list(layers)}"
        return warm_start(self.model, init_checkpoint, config_file=config_file, layers=layers)

    def restore_trained(self, init_checkpoint, config_file=None):
        """For evaluation or prediction without training: the fine-tuned weights in output_dir when there are
        some (bert_model.ckpt, as `save` writes them; global_step is then its step, as the Estimator restored
        it), else `init_checkpoint` (global_step 0: a warm start does not restore the step)."""
        trained = os.path.join(self.options.output_dir, checkpoint_files.TF1_CHECKPOINT_NAME)
        if not os.path.exists(trained + ".index"):
            return self.warm_start(init_checkpoint, config_file)
        try:
            self.global_step = _checkpoint_step(trained)
        except (tf.errors.OpError, IndexError) as error:
            raise checkpoint_files.damaged(trained, error) from None
        return self.warm_start(trained, config_file)

    def trainer(self, num_steps, num_warmup_steps):
        """The Trainer of this task's objective for `num_steps` updates."""
        o = self.options
        options = TrainingOptions(
            output_dir=o.output_dir, train_batch_size=o.train_batch_size, eval_batch_size=o.eval_batch_size,
            learning_rate=o.learning_rate, num_train_steps=num_steps, num_warmup_steps=num_warmup_steps,
            save_checkpoints_steps=o.save_checkpoints_steps, steps_per_execution=o.iterations_per_loop,
            optimizer=o.optimizer, precision=o.precision, use_xla=o.use_xla, fast_dropout=o.fast_dropout,
            fused_optimizer=o.fused_optimizer, gradient_accumulation_steps=o.gradient_accumulation_steps,
            keep_checkpoint_max=o.keep_checkpoint_max)
        with self.strategy.scope():  # distillation's maps are weights
            objectives = [self.kind.objective(self.task)]
            if self.teacher is not None:
                objectives = distillation.fine_tuning_objectives(objectives[0], self.kind.distilled, self.model.plan,
                                                                 self.teacher.plan, self.distill)
        return Trainer(self.model, objectives, options, self.strategy, teacher=self.teacher)

    def train(self, features, num_examples):
        """Trains on `features` for int(num_examples / batch x epochs) steps, resuming from output_dir's latest
        good training checkpoint if there is one; returns the last metrics (None if nothing was left to train).
        `save` then writes the result in the original layout.

        A run in an output_dir holding a run of other settings or data is refused (`run_config`), one whose loss
        or weights become NaN or Inf stops with FloatingPointError naming the last good checkpoint, and the
        output_dir is locked against other processes meanwhile.
        """
        o = self.options
        num_steps, num_warmup = train_steps(num_examples, o.train_batch_size, o.num_train_epochs, o.warmup_proportion)
        if num_steps < 1:
            raise ValueError(f"{num_examples} examples at batch {o.train_batch_size} x {o.num_train_epochs} epochs "
                             "make no training step")
        trainer = self.trainer(num_steps, num_warmup)
        with trainer.holding_output_dir():
            if trainer.is_chief:  # other workers write only their own subfolder
                output_dir.check_run_config(o.output_dir, self.run_config(features, num_steps), o.resume_changed_run)
            done = trainer.restore()
            logging.info("training %s: %d examples, %d steps, %d warm-up%s", self.task.name, num_examples,
                         num_steps, num_warmup, f", resuming at step {done}" if done else "")
            results = None
            if done < num_steps:
                results = trainer.train(lambda context: self.task.dataset(
                    features, context.get_per_replica_batch_size(o.train_batch_size), training=True, seed=o.seed,
                    input_context=context))
        self.global_step = num_steps
        return results

    def run_config(self, features, num_steps):
        """What makes a fine-tuning run the run it is: task, model config, initial checkpoint, the settings that
        change the updates, and a digest of the training features (data, vocab, casing, lengths)."""
        o, digest = self.options, hashlib.sha256()
        for key, array in sorted(self.task.arrays(features).items()):
            digest.update(key.encode() + np.ascontiguousarray(array).tobytes())
        settings = ("max_seq_length", "train_batch_size", "learning_rate", "num_train_epochs", "warmup_proportion",
                    "optimizer", "precision", "seed", "gradient_accumulation_steps")
        teacher = {} if self.teacher is None else {"teacher_checkpoint": self.teacher_checkpoint,
                                                   "distillation": dataclasses.asdict(self.distill)}
        return {"task": self.task.name, "bert_config": self.config.to_dict(), "init_checkpoint": self.init_checkpoint,
                **teacher, **{name: getattr(o, name) for name in settings}, "num_train_steps": num_steps,
                **{name: True for name in RECORDED_WHEN_ON if getattr(o, name)},
                "train_features": len(features), "train_features_sha256": digest.hexdigest()}

    def save(self, vocab_file=None):
        """The fine-tuned weights in the original layout, global_step included as the original's checkpoints
        have it: output_dir/bert_model.ckpt + bert_config.json."""
        weights = {**checkpoints.get_weights(self.model), "global_step": np.int64(self.global_step)}
        checkpoint_files.save(self.config, weights, self.options.output_dir, "tf1", vocab_file=vocab_file)

    def predict(self, features, batch_size):
        """The model's outputs on `features` (in order, every feature): dict of NumPy arrays."""
        inputs = self.model.input_features
        dataset = self.task.dataset(features, batch_size, training=False).map(
            lambda batch: {k: batch[k] for k in inputs})
        return self.model.predict(dataset, verbose=0)

    def evaluate(self, examples, features, batch_size, outputs=None, **options):
        """Dev metrics: the kind's (`eval_accuracy`/`eval_loss` as the original, padding examples weigh 0) and
        the task's, plus the Estimator's `loss` and `global_step`.

        `outputs` are the model's predictions on `features` when already computed; `options` are the span
        post-processing settings (n_best_size, max_answer_length, do_lower_case, null_score_diff_threshold).
        """
        outputs = self.predict(features, batch_size) if outputs is None else outputs
        results, losses = self.kind.metrics(self.task, examples, self.task.arrays(features), outputs,
                                            features=features, **options)
        if losses is None:
            return results
        # The Estimator's `loss` is the mean of the batches' mean losses, padding examples included; every batch
        # is full here (examples are padded to a multiple of the batch size), so it is the mean over all of them.
        return {**results, "loss": float(losses.mean()), "global_step": self.global_step}

    def write_predictions(self, split, examples, features, batch_size, outputs=None, **options):
        """The kind's prediction files (test_results.tsv, GLUE submission, SQuAD JSON, CoNLL tags)."""
        outputs = self.predict(features, batch_size) if outputs is None else outputs
        predictions = self.kind.predictions(self.task, examples, features, outputs, **options)
        return self.task.write_predictions(self.options.output_dir, split, examples, predictions, features=features,
                                           **options)


def _checkpoint_step(prefix):
    """The `global_step` stored in a TF1 checkpoint (0 for one written without it)."""
    reader = tf.train.load_checkpoint(prefix)
    return int(reader.get_tensor("global_step")) if reader.has_tensor("global_step") else 0
