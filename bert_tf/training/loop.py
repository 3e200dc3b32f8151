"""Pretraining: the original run_pretraining's losses and optimizer in a tf.distribute loop with checkpoints.

`Pretraining` owns the strategy, the BertPretrainer, the optimizer and the step counter. Training runs
`steps_per_execution` steps per call of one compiled function; between calls it checks the loss, logs progress
and TensorBoard scalars, and saves checkpoints. A run in an `output_dir` that holds checkpoints resumes from the
latest one: weights, optimizer slots and loss scale, the step (hence the learning-rate position) and the data
position (the seeded input pipeline is rebuilt and the batches already consumed are skipped).

Losses are normalised by totals over the global batch (`bert_tf.losses`), so every strategy and every gradient
accumulation count computes the gradient of the original's loss on the whole batch. Gradient clipping is the
optimizer's, after the cross-replica sum (see `bert_tf.optimization.AdamWeightDecay`), by the norm the original
clipped by (the tied word-embedding table's gradient in TF1's form: `Pretraining._gradients`).
"""

from __future__ import annotations

import logging
import os
import shutil
import time

import keras
import numpy as np
import tensorflow as tf
from tensorflow.core.framework import summary_pb2

from bert_tf import checkpoint_files, checkpoints, losses
from bert_tf.modeling import BertPretrainer
from bert_tf.optimization import create_optimizer
from bert_tf.training.options import precision_policy
from bert_tf.training.warm_start import warm_start

MODEL_INPUTS = ("input_ids", "input_mask", "segment_ids", "masked_lm_positions")
CHECKPOINT_NAME = "ckpt"  # training checkpoints: <output_dir>/ckpt-<step>.{index,data-*}
TF1_EXPORT_DIR = "tf1"  # final weights in the original layout: <output_dir>/tf1/bert_model.ckpt.*
SUM = tf.distribute.ReduceOp.SUM


class Pretraining:
    """One pretraining run: model, optimizer and step under a strategy, with checkpoints in `output_dir`.

    Args:
      config: the BertConfig.
      options: PretrainingOptions.
      strategy: a tf.distribute strategy (default: the current one).
    """

    def __init__(self, config, options, strategy=None):
        self.config, self.options = config, options
        self.strategy = strategy or tf.distribute.get_strategy()
        replicas = self.strategy.num_replicas_in_sync
        if options.train_batch_size % (replicas * options.gradient_accumulation_steps):
            raise ValueError(f"train_batch_size {options.train_batch_size} is not a multiple of replicas ({replicas}) "
                             f"x gradient_accumulation_steps ({options.gradient_accumulation_steps})")
        if options.eval_batch_size % replicas:
            raise ValueError(f"eval_batch_size {options.eval_batch_size} is not a multiple of replicas ({replicas})")
        with self.strategy.scope(), precision_policy(options.precision):
            self.model = BertPretrainer(config)
            self.optimizer = create_optimizer(options.learning_rate, options.num_train_steps,
                                              options.num_warmup_steps, optimizer_type=options.optimizer)
            if options.precision == "float16":
                self.optimizer = keras.optimizers.LossScaleOptimizer(self.optimizer)
            self.variables = self._trained_variables()
            self._table_index = next(i for i, v in enumerate(self.variables) if v is self.model.encoder.embedding_table)
            self.optimizer.build(self.variables)
            self.global_step = tf.Variable(0, dtype=tf.int64, trainable=False, name="global_step")
        # Keras 3 models are not fully trackable by tf.train.Checkpoint (layer lists are skipped): the weights
        # are listed under their original TF1 names, and the dropout seed-generator states so that a resumed
        # run draws the masks an uninterrupted one would.
        weights = {name: variable for name, (variable, _) in checkpoints.keras_variables(self.model).items()}
        seed_states = [v for v in self.model.non_trainable_variables if "seed_generator" in v.path]
        self.checkpoint = tf.train.Checkpoint(weights=weights, optimizer=self.optimizer,
                                              global_step=self.global_step, seed_generators=seed_states)
        self.is_chief = self.strategy.extended.should_checkpoint
        self._checkpoint_dir = options.output_dir if self.is_chief else os.path.join(
            options.output_dir, f".worker-{self.strategy.cluster_resolver.task_id}")
        self.manager = tf.train.CheckpointManager(
            self.checkpoint, self._checkpoint_dir, max_to_keep=options.keep_checkpoint_max,
            checkpoint_name=CHECKPOINT_NAME, step_counter=self.global_step)
        self._gradients_fn = tf.function(self._gradients, jit_compile=options.use_xla)
        self._train_fn = tf.function(self._train_loop)
        self._eval_fn = tf.function(self._eval_step)

    def learning_rate(self, step):
        """The scheduled learning rate of update `step` (counted from 0)."""
        return float(getattr(self.optimizer, "inner_optimizer", self.optimizer)._learning_rate(step))

    def _trained_variables(self):
        """All trainable variables, less the NSP head and the pooler (which only feeds it) without NSP."""
        if self.options.next_sentence:
            return list(self.model.trainable_variables)
        frozen = {id(v) for layer in (self.model.next_sentence, self.model.encoder.pooler)
                  for v in layer.trainable_variables}
        return [v for v in self.model.trainable_variables if id(v) not in frozen]

    # ------------------------------------------------------------------------------------ checkpoints

    def restore(self, init_checkpoint=None, config_file=None):
        """Resumes from the latest checkpoint in output_dir; else warm-starts from `init_checkpoint` if given.

        Returns the step training continues from."""
        latest = tf.train.latest_checkpoint(self.options.output_dir)
        if latest:
            self.checkpoint.read(latest).assert_existing_objects_matched()
            logging.info("resuming from %s at step %d", latest, int(self.global_step.numpy()))
        elif init_checkpoint:
            warm_start(self.model, init_checkpoint, config_file=config_file)
        return int(self.global_step.numpy())

    def save(self):
        """Writes ckpt-<step> (every worker writes; only the chief's copy is kept) and returns its prefix."""
        path = self.manager.save(checkpoint_number=self.global_step)
        if not self.is_chief:
            shutil.rmtree(self._checkpoint_dir, ignore_errors=True)
        return path

    def export_tf1(self, vocab_file=None):
        """The model's weights as an original-layout checkpoint folder (`bert_model.ckpt` + bert_config.json)."""
        directory = os.path.join(self.options.output_dir, TF1_EXPORT_DIR)
        if self.is_chief:
            checkpoint_files.save(self.config, checkpoints.get_weights(self.model), directory, "tf1", vocab_file)
        return directory

    # ------------------------------------------------------------------------------------ replica steps

    def _loss_scale(self):
        if self.options.precision == "float16":
            return tf.convert_to_tensor(self.optimizer.dynamic_scale.value)
        return tf.constant(1.0)

    def _gradients(self, features, weight_total, batch_total, loss_scale):
        """Forward and backward pass on one micro-batch: (metric sums, gradients of loss_scale * loss, lookup
        gradients [B * S, H]).

        The word-embedding table is used twice: the embedding lookup gathers rows of it and the masked-LM logits
        multiply by it. The original's TF1 `tf.gradients` kept the two uses apart: the table's gradient was
        IndexedSlices concatenating the masked-LM part (every row) and one row per input position, and its
        clip_by_global_norm counted each of those rows. (TensorFlow 2 sums them into one dense tensor, and the
        original code run there clips by that tensor's norm: 4.1% larger on a real batch of a fresh model:
        bench/tied_gradient_norm.py.)
        So the tape differentiates by the two tensors read from the table: the table's entry in the gradients
        is the masked-LM part, and the lookup gradients are the rows of this micro-batch's input positions,
        which the optimizer joins after the sum across replicas (`bert_tf.optimization`).
        """
        with tf.GradientTape() as tape:
            outputs = self.model({k: features[k] for k in MODEL_INPUTS}, training=True, return_tied_embeddings=True)
            sums = losses.pretraining_sums(outputs, features, self.options.next_sentence, weight_total,
                                           batch_total)
            scaled_loss = sums["loss"] * loss_scale
        sources = list(self.variables)
        sources[self._table_index] = outputs["masked_lm_table"]
        *gradients, lookup = tape.gradient(scaled_loss, sources + [outputs["word_embedding_lookup"]])
        dtype = self.variables[self._table_index].dtype
        # Both reads are in the compute dtype under mixed precision: their gradients back to the table's float32.
        gradients[self._table_index] = tf.cast(gradients[self._table_index], dtype)
        lookup = tf.reshape(tf.cast(lookup, dtype), [-1, self.config.hidden_size])  # [B * S, H]
        return sums, [tf.convert_to_tensor(g) for g in gradients], lookup

    def _accumulated_gradients(self, features, weight_total, batch_total):
        """Sums of metric sums and gradients over the micro-batches this replica's batch is split into, and
        their lookup gradients one after another (the rows of the whole batch's input positions, in order)."""
        count = self.options.gradient_accumulation_steps
        scale = self._loss_scale()
        if count == 1:
            return self._gradients_fn(features, weight_total, batch_total, scale)
        size = self.options.train_batch_size // (self.strategy.num_replicas_in_sync * count)

        def micro_batch(k):
            return {name: t[k * size:(k + 1) * size] for name, t in features.items()}

        def body(k, sums, gradients, lookups):
            more_sums, more_gradients, lookup = self._gradients_fn(micro_batch(k), weight_total, batch_total, scale)
            return (k + 1, {n: sums[n] + more_sums[n] for n in sums},
                    [g + h for g, h in zip(gradients, more_gradients, strict=True)], lookups.write(k, lookup))

        sums, gradients, lookup = self._gradients_fn(micro_batch(0), weight_total, batch_total, scale)
        lookups = tf.TensorArray(lookup.dtype, size=count, element_shape=lookup.shape).write(0, lookup)
        _, sums, gradients, lookups = tf.while_loop(lambda k, *_: k < count, body,
                                                    (tf.constant(1), sums, gradients, lookups))
        return sums, gradients, lookups.concat()

    def _train_replica_step(self, features):
        context = tf.distribute.get_replica_context()
        weight_total = context.all_reduce(SUM, tf.reduce_sum(features["masked_lm_weights"]))
        sums, gradients, lookup = self._accumulated_gradients(features, weight_total, self.options.train_batch_size)
        table = self.variables[self._table_index]
        # The lookup rows, as IndexedSlices of the table: the optimizer appends them to the table's gradient.
        gradients.append(tf.IndexedSlices(lookup, tf.reshape(features["input_ids"], [-1]),
                                          tf.constant(list(table.shape), tf.int32)))
        variables = [*self.variables, table]
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
        weight_total = context.all_reduce(SUM, tf.reduce_sum(features["masked_lm_weights"]))
        outputs = self.model({k: features[k] for k in MODEL_INPUTS}, training=False)
        return losses.pretraining_sums(outputs, features, self.options.next_sentence, weight_total,
                                       self.options.eval_batch_size)

    def _reduce(self, per_replica):
        return {k: self.strategy.reduce(SUM, v, axis=None) for k, v in per_replica.items()}

    def _train_loop(self, iterator, num_steps):
        """`num_steps` training steps; returns the per-step metric sums, summed over the steps."""
        def body(i, totals):
            step = self._reduce(self.strategy.run(self._train_replica_step, args=(next(iterator),)))
            return i + 1, {k: totals[k] + step[k] for k in totals}

        totals = {k: tf.constant(0.0) for k in (*losses.METRIC_SUMS, "gradient_norm")}
        return tf.while_loop(lambda i, _: i < num_steps, body, (tf.constant(0), totals))[1]

    def _eval_step(self, iterator):
        return self._reduce(self.strategy.run(self._eval_replica_step, args=(next(iterator),)))

    # ------------------------------------------------------------------------------------ host loops

    def _distribute(self, dataset_fn, skip_steps=0):
        """Per-pipeline datasets from `dataset_fn(input_context)`, less the batches of `skip_steps` steps."""
        def pipeline(context):
            per_pipeline = self.strategy.num_replicas_in_sync // context.num_input_pipelines
            return dataset_fn(context).skip(skip_steps * per_pipeline)

        return iter(self.strategy.distribute_datasets_from_function(pipeline))

    def train(self, dataset_fn):
        """Trains to `num_train_steps` from the current step, saving checkpoints; returns the last step's
        metrics (those of the final call of the compiled loop, averaged over its steps).

        `dataset_fn(input_context)` returns the tf.data.Dataset of one input pipeline: batches of this pipeline's
        per-replica share of `train_batch_size`, the same sequence every time it is called (seeded), so that a
        resumed run sees the batches an uninterrupted one would.

        Raises:
          FloatingPointError: the loss became NaN or Inf; the last good checkpoint is left as it was.
        """
        options, step = self.options, int(self.global_step.numpy())
        iterator = self._distribute(dataset_fn, skip_steps=step)
        writer = self._summary_writer("train")
        results, start_step, start_time = {}, step, time.perf_counter()
        while step < options.num_train_steps:
            next_save = (step // options.save_checkpoints_steps + 1) * options.save_checkpoints_steps
            count = min(options.steps_per_execution, options.num_train_steps - step, next_save - step)
            totals = {k: float(v) for k, v in self._train_fn(iterator, tf.constant(count)).items()}
            if not np.isfinite(totals["loss"]):
                raise FloatingPointError(
                    f"loss is {totals['loss']} in steps {step + 1}..{step + count}; stopping. The last good "
                    f"checkpoint is {self.manager.latest_checkpoint or 'none (no checkpoint was saved)'}")
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
        results = losses.metrics_from_sums(totals, count, self.options.next_sentence)
        for key in ("masked_lm_loss", "next_sentence_loss", "gradient_norm"):
            if key in results or key == "gradient_norm":
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
                     "  ".join(f"{k} {v:.5g}" for k, v in results.items()), rate, _duration(eta))

    def evaluate(self, dataset_fn):
        """Runs `max_eval_steps` batches of `dataset_fn(input_context)` (per-replica shares of eval_batch_size)
        and writes `eval_results.txt` as the original; returns the metrics (plus `global_step`)."""
        iterator = self._distribute(dataset_fn)
        totals = {k: 0.0 for k in losses.METRIC_SUMS}
        for _ in range(self.options.max_eval_steps):
            for key, value in self._eval_fn(iterator).items():
                totals[key] += float(value)
        results = losses.metrics_from_sums(totals, self.options.max_eval_steps, self.options.next_sentence)
        results["global_step"] = int(self.global_step.numpy())
        if self.is_chief:
            losses.write_eval_results(os.path.join(self.options.output_dir, "eval_results.txt"), results)
            write_scalars(self._summary_writer("eval"), results["global_step"], results)
        logging.info("***** Eval results *****\n%s", losses.format_eval_results(results))
        return results


def write_scalars(writer, step, values):
    """TensorBoard scalars, written with the raw summary op: tf.summary.scalar needs the tensorboard package,
    which TensorFlow no longer installs; the records are the same (plugin "scalars", a float32 tensor)."""
    metadata = summary_pb2.SummaryMetadata(
        plugin_data=summary_pb2.SummaryMetadata.PluginData(plugin_name="scalars")).SerializeToString()
    with writer.as_default(step=step):
        for key, value in values.items():
            tf.summary.write(key, tf.constant(value, tf.float32), metadata=metadata)
    writer.flush()


def _duration(seconds):
    if not np.isfinite(seconds):
        return "?"
    seconds = int(seconds)
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"
