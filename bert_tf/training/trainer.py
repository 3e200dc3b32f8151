"""The one training loop: a model, its objectives and the original optimizer under a tf.distribute strategy, with
checkpoints, summaries and resume. Pretraining and fine-tuning are both a Trainer with other objectives.

Training runs `steps_per_execution` steps per call of one compiled function; between calls it checks the loss,
logs progress and TensorBoard scalars, and saves checkpoints. A run in an `output_dir` that holds checkpoints
resumes from the latest one: weights, optimizer slots and loss scale, the step (hence the learning-rate position),
the dropout seeds and the data position (the seeded input pipeline is rebuilt and the batches already consumed
are skipped).

Losses are normalised by totals over the global batch (`bert_tf.objectives`), so every strategy and every
gradient accumulation count computes the gradient of the loss of the whole batch. Gradient clipping is the
optimizer's, after the cross-replica sum (`bert_tf.optimization.AdamWeightDecay`), by the norm the original
clipped by (the tied word-embedding table's gradient in TF1's form: `Trainer._gradients`).
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import time

import keras
import numpy as np
import tensorflow as tf

from bert_tf import checkpoints, objectives
from bert_tf.modeling import recording_tied_reads, use_fast_dropout
from bert_tf.optimization import create_optimizer
from bert_tf.training import output_dir
from bert_tf.training.summaries import duration, write_scalars

CHECKPOINT_NAME = "ckpt"  # training checkpoints: <output_dir>/ckpt-<step>.{index,data-*}
SUM = tf.distribute.ReduceOp.SUM


class Trainer:
    """Trains `model` on the sum of `objectives` (a list of `bert_tf.objectives.Objective`).

    Args:
      model: a Keras model built in `strategy.scope()` under the precision policy (`precision_policy`); its
        `input_features` are the batch features it is called on.
      objectives: what the loss sums; each reads the model outputs and batch features it names.
      options: TrainingOptions.
      strategy: a tf.distribute strategy (default: the current one).
      teacher: a frozen model (built like `model`) whose outputs objectives read as `outputs["teacher"]`
        (`bert_tf.distillation`); it runs in inference mode, outside the gradient tape.

    Objectives with weights of their own (`trainable_variables`, e.g. distillation's learned maps; made in
    `strategy.scope()`) are trained and checkpointed with the model.
    """

    def __init__(self, model, objective_list, options, strategy=None, teacher=None):
        self.model, self.objectives, self.options, self.teacher = model, list(objective_list), options, teacher
        objective_variables = [v for o in self.objectives for v in getattr(o, "trainable_variables", ())]
        # What models return beyond their heads' outputs: what the objectives read (distillation's).
        read = {k for o in self.objectives for k in o.outputs}
        self._call = {"return_attention_probs": bool(read & {"attention_probs", "attention_scores"}),
                      "return_hidden_states": bool(read & {"embedding_output", "encoder_outputs", "sequence_output"})}
        self.strategy = strategy or tf.distribute.get_strategy()
        replicas = self.strategy.num_replicas_in_sync
        if options.train_batch_size % (replicas * options.gradient_accumulation_steps):
            raise ValueError(f"train_batch_size {options.train_batch_size} is not a multiple of replicas ({replicas}) "
                             f"x gradient_accumulation_steps ({options.gradient_accumulation_steps})")
        if options.eval_batch_size % replicas:
            raise ValueError(f"eval_batch_size {options.eval_batch_size} is not a multiple of replicas ({replicas})")
        with self.strategy.scope():
            self.optimizer = create_optimizer(options.learning_rate, options.num_train_steps,
                                              options.num_warmup_steps, optimizer_type=options.optimizer,
                                              fused=options.fused_optimizer)
            if options.precision == "float16":
                self.optimizer = keras.optimizers.LossScaleOptimizer(self.optimizer)
            self.variables = [*model.trainable_variables, *objective_variables]
            self.optimizer.build(self.variables)
            self.global_step = tf.Variable(0, dtype=tf.int64, trainable=False, name="global_step")
        if options.fast_dropout:
            use_fast_dropout(model)
        table = model.encoder.embedding_table
        self._table_index = next(i for i, v in enumerate(self.variables) if v is table)
        # Keras 3 models are not fully trackable by tf.train.Checkpoint (layer lists are skipped): the weights
        # are listed under their original TF1 names, and the dropout seed-generator states so that a resumed
        # run draws the masks an uninterrupted one would.
        weights = {name: variable for name, (variable, _) in checkpoints.keras_variables(model).items()}
        seed_states = [v for v in model.non_trainable_variables if "seed_generator" in v.path]
        self.checkpoint = tf.train.Checkpoint(weights=weights, optimizer=self.optimizer,
                                              global_step=self.global_step, seed_generators=seed_states,
                                              objective_weights=objective_variables)
        self.is_chief = self.strategy.extended.should_checkpoint
        self._checkpoint_dir = options.output_dir if self.is_chief else os.path.join(
            options.output_dir, f".worker-{self.strategy.cluster_resolver.task_id}")
        self.manager = tf.train.CheckpointManager(
            self.checkpoint, self._checkpoint_dir, max_to_keep=options.keep_checkpoint_max,
            checkpoint_name=CHECKPOINT_NAME, step_counter=self.global_step)
        self.last_good = None  # the checkpoint restored or last saved: what a failed run falls back to
        self._finite_fn = tf.function(lambda: tf.reduce_all([tf.reduce_all(tf.math.is_finite(v))
                                                             for v in self.variables]))
        self._gradients_fn = tf.function(self._gradients, jit_compile=options.use_xla)
        self._train_fn = tf.function(self._train_loop)
        self._eval_fn = tf.function(self._eval_step)

    @property
    def step(self) -> int:
        return int(self.global_step.numpy())

    def learning_rate(self, step):
        """The scheduled learning rate of update `step` (counted from 0)."""
        return float(getattr(self.optimizer, "inner_optimizer", self.optimizer)._learning_rate(step))

    # ------------------------------------------------------------------------------------ checkpoints

    def holding_output_dir(self):
        """output_dir's lock (`output_dir.hold`) for the chief; other workers write only their own subfolder."""
        return output_dir.hold(self.options.output_dir) if self.is_chief else contextlib.nullcontext()

    def restore(self):
        """Resumes from the latest good checkpoint in output_dir, if any; returns the step training continues from.

        A checkpoint that cannot be read (truncated by a full disk or a crash, damaged) or whose weights are not
        finite is skipped with a warning naming it, and the one before it restored. ValueError, naming them, when
        checkpoints exist and none is good. Temporaries that a killed save left are removed first.
        """
        directory = self.options.output_dir
        with self.holding_output_dir():
            if self.is_chief:
                output_dir.remove_checkpoint_temporaries(directory)
            state = tf.train.get_checkpoint_state(directory)
            if state is None:
                return self.step
            candidates = list(dict.fromkeys([state.model_checkpoint_path,
                                             *reversed(state.all_model_checkpoint_paths)]))
            skipped = []
            for path in candidates:
                problem = self._read(path)
                if problem is None:
                    self.last_good = path
                    logging.info("resuming from %s at step %d%s", path, self.step,
                                 " (the latest good checkpoint)" if skipped else "")
                    return self.step
                skipped.append(f"{path}: {problem}")
                logging.warning("cannot resume from %s", skipped[-1])
            raise ValueError(f"no checkpoint in {directory} can be restored ({'; '.join(skipped)}): move them away "
                             "to start afresh")

    def _read(self, path):
        """Restores `path`; returns why it is not good (None when it is)."""
        try:
            self.checkpoint.read(path).assert_existing_objects_matched()
        except (tf.errors.OpError, IndexError, AssertionError, ValueError) as error:
            lines = str(error).strip().splitlines()
            return f"damaged or incomplete ({lines[0] if lines else type(error).__name__})"
        if not bool(self._finite_fn()):
            return "its weights hold NaN or Inf"
        return None

    def save(self):
        """Writes ckpt-<step> (every worker writes; only the chief's copy is kept) and returns its prefix.

        Raises FloatingPointError, writing nothing, when a weight is NaN or Inf: a run that diverged never rotates
        good checkpoints out. A save that fails (a full disk) leaves no partial checkpoint behind.
        """
        if not bool(self._finite_fn()):
            bad = [v.path for v in self.variables if not np.isfinite(v.numpy()).all()]
            raise self._diverged(f"weights hold NaN or Inf after step {self.step} ({', '.join(bad[:3])}"
                                 f"{', ...' if len(bad) > 3 else ''})")
        try:
            path = self.manager.save(checkpoint_number=self.global_step)
        except BaseException:
            output_dir.remove_checkpoint_temporaries(self._checkpoint_dir, f"{CHECKPOINT_NAME}-{self.step}")
            raise
        if not self.is_chief:
            shutil.rmtree(self._checkpoint_dir, ignore_errors=True)
        self.last_good = path
        return path

    # ------------------------------------------------------------------------------------ replica steps

    def _loss_scale(self):
        if self.options.precision == "float16":
            return tf.convert_to_tensor(self.optimizer.dynamic_scale.value)
        return tf.constant(1.0)

    def _model_outputs(self, features, training, teacher=None):
        """The model's outputs on `features`, with the teacher's (computed beforehand) as `teacher`."""
        outputs = self.model({k: features[k] for k in self.model.input_features if k in features},
                             training=training, **self._call)
        return outputs if teacher is None else {**outputs, "teacher": teacher}

    def _teacher_outputs(self, features):
        if self.teacher is None:
            return None
        inputs = {k: features[k] for k in self.teacher.input_features if k in features}
        return self.teacher(inputs, training=False, **self._call)

    def _gradients(self, features, totals, loss_scale):
        """Forward and backward pass on one micro-batch: (objective sums, gradients of loss_scale * loss), the
        gradients one per variable (None where the loss does not reach it) and one more: the rows of the tied
        word-embedding table's lookup, or None.

        A masked-LM head multiplies by the word-embedding table that the embeddings gather rows from. The
        original's TF1 `tf.gradients` kept the two uses apart: the table's gradient was IndexedSlices of the
        masked-LM part (every row) followed by one row per input position, and its clip_by_global_norm counted
        each of those rows. (TensorFlow 2 sums them into one dense tensor, and the original code run there clips
        by that tensor's norm: bench/tied_gradient_norm.py measures the difference.) So the tape differentiates
        by the two tensors the forward pass read from the table (`recording_tied_reads`): the table's entry is
        the masked-LM part, and the extra one the rows of this micro-batch's input positions, which the optimizer
        joins to it after the sum across replicas (`bert_tf.optimization.join_repeated_variables`).
        """
        teacher = self._teacher_outputs(features)  # before the tape: nothing of it is differentiated
        with tf.GradientTape() as tape, recording_tied_reads() as reads:
            outputs = self._model_outputs(features, training=True, teacher=teacher)
            sums = objectives.sums(self.objectives, outputs, features, totals)
            scaled_loss = sums["loss"] * loss_scale
        tied = "masked_lm_table" in reads
        sources = list(self.variables)
        if tied:
            sources[self._table_index] = reads["masked_lm_table"]
            sources.append(reads["word_embedding_lookup"])
        gradients = tape.gradient(scaled_loss, sources)
        lookup = None
        if tied:
            *gradients, lookup = gradients
            table = self.variables[self._table_index]
            # Both reads are in the compute dtype under mixed precision: their gradients back to the table's.
            gradients[self._table_index] = tf.cast(gradients[self._table_index], table.dtype)
            rows = tf.reshape(tf.cast(lookup, table.dtype), [-1, table.shape[-1]])  # [B * S, E]
            lookup = tf.IndexedSlices(rows, tf.reshape(features["input_ids"], [-1]),
                                      tf.constant(list(table.shape), tf.int32))
        return sums, [*gradients, lookup]

    def _accumulated_gradients(self, features, totals):
        """`_gradients` of the whole replica batch, split into gradient_accumulation_steps micro-batches: metric
        sums and dense gradients added, IndexedSlices rows concatenated in order (as one batch would have them)."""
        count = self.options.gradient_accumulation_steps
        scale = self._loss_scale()
        if count == 1:
            return self._gradients_fn(features, totals, scale)
        size = self.options.train_batch_size // (self.strategy.num_replicas_in_sync * count)

        def micro_batch(k):
            return {name: t[k * size:(k + 1) * size] for name, t in features.items()}

        sums, gradients = self._gradients_fn(micro_batch(0), totals, scale)
        present = [i for i, g in enumerate(gradients) if g is not None]
        sparse = [i for i in present if isinstance(gradients[i], tf.IndexedSlices)]
        dense = [gradients[i] for i in present if i not in sparse]
        arrays = [(tf.TensorArray(g.values.dtype, size=count, infer_shape=False).write(0, g.values),
                   tf.TensorArray(g.indices.dtype, size=count, infer_shape=False).write(0, g.indices))
                  for g in (gradients[i] for i in sparse)]

        def body(k, sums, dense, arrays):
            more_sums, more = self._gradients_fn(micro_batch(k), totals, scale)
            more_dense = [more[i] for i in present if i not in sparse]
            arrays = [(values.write(k, more[i].values), indices.write(k, more[i].indices))
                      for (values, indices), i in zip(arrays, sparse, strict=True)]
            return (k + 1, {n: sums[n] + more_sums[n] for n in sums},
                    [g + h for g, h in zip(dense, more_dense, strict=True)], arrays)

        _, sums, dense, arrays = tf.while_loop(lambda k, *_: k < count, body, (tf.constant(1), sums, dense, arrays))
        joined = dict(zip([i for i in present if i not in sparse], dense, strict=True))
        for i, (values, indices) in zip(sparse, arrays, strict=True):
            joined[i] = tf.IndexedSlices(values.concat(), indices.concat(), gradients[i].dense_shape)
        return sums, [joined.get(i) for i in range(len(gradients))]

    def _train_replica_step(self, features):
        context = tf.distribute.get_replica_context()
        totals = context.all_reduce(SUM, objectives.totals(self.objectives, features))
        sums, gradients = self._accumulated_gradients(features, totals)
        table = self.variables[self._table_index]
        pairs = [(g, v) for g, v in zip(gradients, [*self.variables, table], strict=True) if g is not None]
        gradients, variables = [g for g, _ in pairs], [v for _, v in pairs]
        replicas = self.strategy.num_replicas_in_sync
        if replicas > 1 and self.options.precision == "float16":
            # Keras' LossScaleOptimizer checks only the first replica's gradients for inf/NaN: make all see it.
            bad = tf.cast(tf.logical_not(tf.math.is_finite(tf.linalg.global_norm(gradients))), tf.float32)
            bad = context.all_reduce(SUM, bad)
            gradients = [tf.where(bad > 0, np.nan, gradients[0])] + gradients[1:]
        self.optimizer.apply_gradients(zip(gradients, variables, strict=True))
        # The norm of the gradient of the whole global batch: the one the optimizer clipped by, where it is a
        # tensor of this trace (not under float16, whose update runs in a tf.cond); else computed here (an
        # extra sum across replicas when there are several).
        norm = None if self.options.precision == "float16" else self.optimizer.clipped_gradient_norm()
        if norm is None:
            summed = context.all_reduce(SUM, gradients) if replicas > 1 else gradients
            norm = tf.linalg.global_norm(summed) / self._loss_scale()
        sums["gradient_norm"] = norm / replicas
        return sums

    def _eval_replica_step(self, features):
        context = tf.distribute.get_replica_context()
        totals = context.all_reduce(SUM, objectives.totals(self.objectives, features))
        outputs = self._model_outputs(features, training=False, teacher=self._teacher_outputs(features))
        return objectives.sums(self.objectives, outputs, features, totals)

    def _reduce(self, per_replica):
        return {k: self.strategy.reduce(SUM, v, axis=None) for k, v in per_replica.items()}

    def _sum_keys(self):
        return ("loss", *(k for o in self.objectives for k in o.sum_keys))

    def _train_loop(self, iterator, num_steps):
        """`num_steps` training steps; returns the per-step metric sums, summed over the steps."""
        def body(i, totals):
            step = self._reduce(self.strategy.run(self._train_replica_step, args=(next(iterator),)))
            return i + 1, {k: totals[k] + step[k] for k in totals}

        totals = {k: tf.constant(0.0) for k in (*self._sum_keys(), "gradient_norm")}
        return tf.while_loop(lambda i, _: i < num_steps, body, (tf.constant(0), totals))[1]

    def _eval_step(self, iterator):
        return self._reduce(self.strategy.run(self._eval_replica_step, args=(next(iterator),)))

    # ------------------------------------------------------------------------------------ host loops

    def distribute(self, dataset_fn, skip_steps=0):
        """An iterator over per-replica batches from `dataset_fn(input_context)`, less those of `skip_steps`
        steps."""
        def pipeline(context):
            per_pipeline = self.strategy.num_replicas_in_sync // context.num_input_pipelines
            return dataset_fn(context).skip(skip_steps * per_pipeline)

        return iter(self.strategy.distribute_datasets_from_function(pipeline))

    def train(self, dataset_fn):
        """Trains to `num_train_steps` from the current step, saving checkpoints; returns the last step's
        metrics (those of the final call of the compiled loop, averaged over its steps), {} if no step was left.

        `dataset_fn(input_context)` returns the tf.data.Dataset of one input pipeline: batches of this pipeline's
        per-replica share of `train_batch_size`, the same sequence every time it is called (seeded), so that a
        resumed run sees the batches an uninterrupted one would.

        Raises:
          FloatingPointError: the loss or a weight became NaN or Inf; the last good checkpoint is left as it was.
        """
        with self.holding_output_dir():
            return self._train(dataset_fn)

    def _diverged(self, what):
        return FloatingPointError(f"{what}; stopping without saving. The last good checkpoint is "
                                  f"{self.last_good or 'none (no checkpoint was saved)'}")

    def _train(self, dataset_fn):
        options, step = self.options, self.step
        iterator = self.distribute(dataset_fn, skip_steps=step)
        writer = self._summary_writer("train")
        results, start_step, start_time = {}, step, time.perf_counter()
        while step < options.num_train_steps:
            next_save = (step // options.save_checkpoints_steps + 1) * options.save_checkpoints_steps
            count = min(options.steps_per_execution, options.num_train_steps - step, next_save - step)
            totals = {k: float(v) for k, v in self._train_fn(iterator, tf.constant(count)).items()}
            if not np.isfinite(totals["loss"]):
                raise self._diverged(f"loss is {totals['loss']} in steps {step + 1}..{step + count}")
            self.global_step.assign_add(count)
            step += count
            results = self._train_results(totals, count, step)
            results["examples_per_second"] = (step - start_step) * options.train_batch_size / (
                time.perf_counter() - start_time)
            self._report(writer, step, results, start_step, start_time)
            if step % options.save_checkpoints_steps == 0 or step == options.num_train_steps:
                logging.info("saved %s", self.save())
        return results

    def _train_results(self, totals, count, step):
        results = objectives.metrics(self.objectives, totals, count)
        for key in (*(f"{o.name}_loss" for o in self.objectives), "gradient_norm"):
            results[key] = totals[key] / count  # means of the per-step losses (with the original's +1e-5)
        results["learning_rate"] = self.learning_rate(step - 1)  # that of the last update
        return results

    def _summary_writer(self, name):
        if self.is_chief:
            return tf.summary.create_file_writer(os.path.join(self.options.output_dir, name))
        return tf.summary.create_noop_writer()

    def _report(self, writer, step, results, start_step, start_time):
        write_scalars(writer, step, results)
        rate = (step - start_step) / (time.perf_counter() - start_time)
        eta = (self.options.num_train_steps - step) / rate if rate else float("inf")
        logging.info("step %d/%d  %s  %.2f steps/s  ETA %s", step, self.options.num_train_steps,
                     "  ".join(f"{k} {v:.5g}" for k, v in results.items()), rate, duration(eta))

    def evaluate(self, dataset_fn, num_batches):
        """The objectives' metrics over `num_batches` batches of `dataset_fn(input_context)` (per-replica shares of
        eval_batch_size), plus `global_step`; written as TensorBoard scalars under output_dir/eval."""
        iterator = self.distribute(dataset_fn)
        totals = {k: 0.0 for k in self._sum_keys()}
        for _ in range(num_batches):
            for key, value in self._eval_fn(iterator).items():
                totals[key] += float(value)
        results = objectives.metrics(self.objectives, totals, num_batches)
        results["global_step"] = self.step
        if self.is_chief:
            write_scalars(self._summary_writer("eval"), results["global_step"], results)
        return results
