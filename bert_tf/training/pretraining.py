"""Pretraining: the original run_pretraining's model, objectives and outputs on the Trainer.

With next-sentence prediction the model is a BertPretrainer trained on masked LM + next sentence; without it a
BertMaskedLM trained on masked LM alone. With a teacher it is a BertMaskedLM student trained on DistilBERT's loss
(`bert_tf.distillation.pretraining_objectives`: soft masked-LM targets, masked LM, cosine of hidden states).
Besides the Trainer's checkpoints and summaries, output_dir gets the original's `eval_results.txt` and, after
training, the weights in the original layout in `tf1/`.
"""

from __future__ import annotations

import dataclasses
import logging
import os

import tensorflow as tf

from bert_tf import checkpoint_files, checkpoints, distillation, objectives
from bert_tf.files import format_eval_results, write_eval_results
from bert_tf.modeling import BertMaskedLM, BertPretrainer
from bert_tf.pretraining_data import expand_input_patterns
from bert_tf.training.options import RECORDED_WHEN_ON, precision_policy
from bert_tf.training.trainer import Trainer
from bert_tf.training.warm_start import warm_start

TF1_EXPORT_DIR = "tf1"  # final weights in the original layout: <output_dir>/tf1/bert_model.ckpt.*


class Pretraining(Trainer):
    """One pretraining run: the model for `options.next_sentence`, the original optimizer and the step under a
    strategy, with checkpoints in `options.output_dir`.

    Args:
      config: the BertConfig (or an EncoderPlan).
      options: PretrainingOptions.
      strategy: a tf.distribute strategy (default: the current one).
      teacher_checkpoint: a pretrained model with a masked-LM head (any format) to distill from, as DistilBERT;
        `distill` (DistillationOptions) weighs its losses.
    """

    def __init__(self, config, options, strategy=None, teacher_checkpoint=None, distill=None):
        strategy = strategy or tf.distribute.get_strategy()
        teacher, self.distill = None, distill or distillation.DistillationOptions()
        with strategy.scope(), precision_policy(options.precision):
            model = BertPretrainer(config) if options.next_sentence and not teacher_checkpoint else BertMaskedLM(config)
            goals = objectives.pretraining(options.next_sentence)
            if teacher_checkpoint:
                teacher_config, weights, _ = checkpoint_files.load(teacher_checkpoint)
                distillation.check_vocab(config, teacher_config, "the student's config", teacher_checkpoint)
                teacher = checkpoint_files.build_model(teacher_config, weights, source=teacher_checkpoint)
                if getattr(teacher, "masked_lm", None) is None:
                    raise ValueError(f"{teacher_checkpoint}: the teacher has no masked-LM head to distill from")
                goals = distillation.pretraining_objectives(model.plan, teacher.plan, self.distill)
        super().__init__(model, goals, options, strategy, teacher=teacher)
        self.config, self.teacher_checkpoint = config, teacher_checkpoint

    def restore(self, init_checkpoint=None, config_file=None, layers=None):
        """Resumes from the latest checkpoint in output_dir; else warm-starts from `init_checkpoint` if given
        (with `layers`: these layers of it, `bert_tf.training.warm_start`).

        Returns the step training continues from."""
        if not tf.train.latest_checkpoint(self.options.output_dir) and init_checkpoint:
            warm_start(self.model, init_checkpoint, config_file=config_file, layers=layers)
        return super().restore()

    def run_config(self, input_file, init_checkpoint=None, **data_settings):
        """What makes a pretraining run the run it is (`output_dir.check_run_config`): the model config, the
        settings that change the updates, the initial checkpoint, the input files (paths and sizes) and
        `data_settings` (how they are read)."""
        ignored = {"output_dir", "eval_batch_size", "save_checkpoints_steps", "steps_per_execution", "max_eval_steps",
                   "use_xla", "keep_checkpoint_max"}
        ignored |= {name for name in RECORDED_WHEN_ON if not getattr(self.options, name)}
        settings = {k: v for k, v in dataclasses.asdict(self.options).items() if k not in ignored}
        inputs = {path: os.path.getsize(path) for path in expand_input_patterns(input_file)}
        teacher = {} if self.teacher is None else {"teacher_checkpoint": self.teacher_checkpoint,
                                                   "distillation": dataclasses.asdict(self.distill)}
        return {"bert_config": self.config.to_dict(), **settings, "init_checkpoint": init_checkpoint,
                "input_bytes": inputs, **teacher, **data_settings}

    def export_tf1(self, vocab_file=None):
        """The model's weights as an original-layout checkpoint folder (`bert_model.ckpt` + bert_config.json)."""
        directory = os.path.join(self.options.output_dir, TF1_EXPORT_DIR)
        if self.is_chief:
            checkpoint_files.save(self.config, checkpoints.get_weights(self.model), directory, "tf1", vocab_file)
        return directory

    def evaluate(self, dataset_fn):
        """Runs `max_eval_steps` batches of `dataset_fn(input_context)` (per-replica shares of eval_batch_size)
        and writes `eval_results.txt` as the original; returns the metrics (plus `global_step`)."""
        results = super().evaluate(dataset_fn, self.options.max_eval_steps)
        if self.is_chief:
            write_eval_results(os.path.join(self.options.output_dir, "eval_results.txt"), results)
        logging.info("***** Eval results *****\n%s", format_eval_results(results))
        return results
