"""Pretraining: the original run_pretraining's losses and optimizer in a tf.distribute loop with checkpoints.

Modules: `options` (PretrainingOptions, strategies, precision), `inputs` (dataset_fns), `warm_start`, `loop`
(the Pretraining run: training, evaluation, checkpoints, summaries).
"""

from bert_tf.training.inputs import record_input, text_input
from bert_tf.training.loop import CHECKPOINT_NAME, TF1_EXPORT_DIR, Pretraining, write_scalars
from bert_tf.training.options import PRECISIONS, STRATEGIES, PretrainingOptions, create_strategy, precision_policy
from bert_tf.training.warm_start import read_training_checkpoint, warm_start

__all__ = ["CHECKPOINT_NAME", "PRECISIONS", "STRATEGIES", "TF1_EXPORT_DIR", "Pretraining", "PretrainingOptions",
           "create_strategy", "precision_policy", "read_training_checkpoint", "record_input", "text_input",
           "warm_start", "write_scalars"]
