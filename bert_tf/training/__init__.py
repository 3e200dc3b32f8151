"""Training: one Trainer (a model, its objectives, the original optimizer, strategies, checkpoints, resume) and
the pretraining run on it.

Modules: `options` (TrainingOptions, strategies, precision), `trainer` (the loop), `pretraining` (the original
run_pretraining on the Trainer), `inputs` (pretraining dataset_fns), `warm_start`, `output_dir` (one run per
output_dir: its lock and settings).
"""

from bert_tf.training import output_dir
from bert_tf.training.inputs import record_input, text_input
from bert_tf.training.options import (
    PRECISIONS,
    STRATEGIES,
    PretrainingOptions,
    TrainingOptions,
    create_strategy,
    precision_policy,
)
from bert_tf.training.pretraining import TF1_EXPORT_DIR, Pretraining
from bert_tf.training.summaries import write_scalars
from bert_tf.training.trainer import CHECKPOINT_NAME, Trainer
from bert_tf.training.warm_start import read_training_checkpoint, warm_start

__all__ = ["CHECKPOINT_NAME", "PRECISIONS", "STRATEGIES", "TF1_EXPORT_DIR", "Pretraining", "PretrainingOptions",
           "Trainer", "TrainingOptions", "create_strategy", "output_dir", "precision_policy",
           "read_training_checkpoint", "record_input", "text_input", "warm_start", "write_scalars"]
