"""How to train: TrainingOptions (and PretrainingOptions), the tf.distribute strategy by name, the Keras precision
policy."""

from __future__ import annotations

import contextlib
import dataclasses

import keras
import tensorflow as tf

STRATEGIES = ("default", "mirrored", "multi_worker_mirrored", "tpu")
PRECISIONS = {"float32": "float32", "bfloat16": "mixed_bfloat16", "float16": "mixed_float16"}
# Options a run's config records only when on, so that runs made before they existed resume unchanged.
RECORDED_WHEN_ON = ("fast_dropout", "fused_optimizer")


@dataclasses.dataclass(frozen=True)
class TrainingOptions:
    """How the Trainer trains; defaults are the original run_pretraining.py flags (docs/ORIGINAL.md §8).

    Attributes:
      output_dir: checkpoints and TensorBoard logs (`train/`, `eval/`).
      train_batch_size, eval_batch_size: global batch sizes (all replicas, all accumulated micro-batches).
      learning_rate, num_train_steps, num_warmup_steps: the warm-up + linear-decay schedule; steps count updates.
      save_checkpoints_steps: checkpoint interval (steps); the last step is always saved.
      steps_per_execution: steps per call of the compiled loop (the original's iterations_per_loop); progress,
        summaries and the loss check happen between calls.
      max_eval_steps: eval batches.
      optimizer: "adamw" (the original AdamWeightDecay) or "lamb".
      precision: "float32", "bfloat16" or "float16" (mixed: LayerNorm, softmax, logits and losses stay float32;
        float16 adds dynamic loss scaling).
      use_xla: compile each replica's forward and backward pass with XLA.
      fast_dropout: dropout masks from 16 random bits per element instead of a float32 uniform: half the random
        numbers, the keep probability rounded to a multiple of 2^-16 (`bert_tf.modeling.layers.Dropout`).
      fused_optimizer: AdamWeightDecay's update as TensorFlow's fused Adam kernel: the same update within 1e-5
        of each step (`bert_tf.optimization.AdamWeightDecay` says why); adamw only.
      gradient_accumulation_steps: micro-batches per update (each replica's batch is split into this many).
      keep_checkpoint_max: training checkpoints kept.
    """

    output_dir: str
    train_batch_size: int = 32
    eval_batch_size: int = 8
    learning_rate: float = 5e-5
    num_train_steps: int = 100000
    num_warmup_steps: int = 10000
    save_checkpoints_steps: int = 1000
    steps_per_execution: int = 1000
    max_eval_steps: int = 100
    optimizer: str = "adamw"
    precision: str = "float32"
    use_xla: bool = False
    fast_dropout: bool = False
    fused_optimizer: bool = False
    gradient_accumulation_steps: int = 1
    keep_checkpoint_max: int = 5

    def __post_init__(self):
        for name in ("train_batch_size", "eval_batch_size", "num_train_steps", "save_checkpoints_steps",
                     "steps_per_execution", "max_eval_steps", "gradient_accumulation_steps", "keep_checkpoint_max"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        if self.precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {sorted(PRECISIONS)}, got {self.precision!r}")
        if self.fused_optimizer and self.optimizer != "adamw":
            raise ValueError(f"fused_optimizer is adamw's fused Adam kernel: optimizer {self.optimizer!r} has none")
        if self.train_batch_size % self.gradient_accumulation_steps:
            raise ValueError(f"train_batch_size {self.train_batch_size} is not a multiple of "
                             f"gradient_accumulation_steps {self.gradient_accumulation_steps}")


@dataclasses.dataclass(frozen=True)
class PretrainingOptions(TrainingOptions):
    """TrainingOptions of run_pretraining.py; output_dir also gets eval_results.txt and the TF1 export.

    next_sentence: pretrain with the next-sentence objective (a BertPretrainer); off, masked LM alone (a
    BertMaskedLM: no next-sentence head, no next_sentence_labels needed).
    """

    next_sentence: bool = True


def create_strategy(name="default", tpu_name=None, tpu_zone=None, gcp_project=None, master=None):
    """A tf.distribute strategy by name. "multi_worker_mirrored" reads TF_CONFIG; "tpu" resolves
    `tpu_name` (or `master`) and raises ValueError naming it when no TPU is reachable."""
    if name not in STRATEGIES:
        raise ValueError(f"strategy must be one of {STRATEGIES}, got {name!r}")
    if name == "mirrored":
        return tf.distribute.MirroredStrategy()
    if name == "multi_worker_mirrored":
        return tf.distribute.MultiWorkerMirroredStrategy()
    if name == "tpu":
        tpu = tpu_name or master
        try:
            resolver = tf.distribute.cluster_resolver.TPUClusterResolver(tpu=tpu, zone=tpu_zone, project=gcp_project)
            tf.config.experimental_connect_to_cluster(resolver)
            tf.tpu.experimental.initialize_tpu_system(resolver)
        except (ValueError, OSError, RuntimeError, tf.errors.OpError) as error:
            raise ValueError(f"no TPU reachable for tpu_name={tpu_name!r} master={master!r} zone={tpu_zone!r} "
                             f"project={gcp_project!r}: {error}") from error
        return tf.distribute.TPUStrategy(resolver)
    return tf.distribute.get_strategy()


@contextlib.contextmanager
def precision_policy(precision):
    """Builds layers under the Keras dtype policy of `precision`; the global policy is restored afterwards."""
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(PRECISIONS[precision])
    try:
        yield
    finally:
        keras.config.set_dtype_policy(previous)
