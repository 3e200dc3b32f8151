"""The original BERT's optimisation: warm-up + linear-decay learning rate, AdamWeightDecay and LAMB.

Numerically the original google-research/bert `optimization.py` (docs/ORIGINAL.md §3.3-3.4), as Keras 3
optimizers that work under tf.distribute, mixed precision (`LossScaleOptimizer`) and XLA.
"""

import math
import re
import threading

import keras
import tensorflow as tf

# Substrings (regexes, `re.search`) of a variable's path that exclude it from weight decay: every LayerNorm
# gamma/beta and every bias (incl. `output_bias`); embeddings, kernels and `output_weights` are decayed.
EXCLUDE_FROM_WEIGHT_DECAY = ("LayerNorm", "layer_norm", "bias")


def _check_number(name, value, minimum, allow_minimum=True):
    """Raises ValueError naming `name` unless `value` is a finite real number >= (or >) `minimum`."""
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    if not ok or value < minimum or (value == minimum and not allow_minimum):
        relation = ">=" if allow_minimum else ">"
        raise ValueError(f"{name} must be a finite number {relation} {minimum}, got {value!r}")


def _check_steps(name, value, minimum):
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")


def _check_patterns(name, patterns):
    """Returns `patterns` as a list of regex strings, or raises ValueError naming the bad entry."""
    if isinstance(patterns, str) or not isinstance(patterns, (list, tuple)):
        raise ValueError(f"{name} must be a list of regex strings, got {patterns!r}")
    for pattern in patterns:
        if not isinstance(pattern, str):
            raise ValueError(f"{name} must hold regex strings, got {pattern!r} in {patterns!r}")
        try:
            re.compile(pattern)
        except re.error as error:
            raise ValueError(f"{name}: {pattern!r} is not a valid regex ({error})") from error
    return list(patterns)


def _matches(patterns, variable):
    """Whether any regex in `patterns` occurs in the variable's path.

    Keras 3 `variable.name` is only the last component (`gamma`); `variable.path` is the full layer path
    (`bert/layer_3/attention/output/LayerNorm/gamma`), which is what the original searched in its scoped TF1
    names. A plain `tf.Variable` has no `path`; its `name` is already scoped.
    """
    label = getattr(variable, "path", None) or variable.name
    return any(re.search(pattern, label) is not None for pattern in patterns)


@keras.saving.register_keras_serializable(package="bert_tf")
class WarmupLinearDecay(keras.optimizers.schedules.LearningRateSchedule):
    """The original's learning rate: linear decay to 0 counted from step 0, linear warm-up replacing it early.

    decayed(t) = init_lr * (1 - min(t, num_train_steps) / num_train_steps); while t < num_warmup_steps
    the rate is init_lr * t / num_warmup_steps instead. Decay is measured from step 0, so at
    t = num_warmup_steps the rate is init_lr * (1 - num_warmup_steps / num_train_steps), not init_lr
    (docs/ORIGINAL.md §3.4).

    Keras calls the schedule with the optimizer's iteration count before it is incremented, so update t
    (from 0) uses lr(t), and the very first update uses lr(0) = 0 when warming up. The original grouped its
    update with `global_step.assign_add(1)` without ordering them, so single-threaded runs effectively read
    lr(t + 1) (google-research/bert #1050); we implement the intended order.

    Args:
        init_lr: peak learning rate (> 0).
        num_train_steps: steps over which the rate decays to 0 (> 0); it stays 0 afterwards.
        num_warmup_steps: length of the linear warm-up (>= 0; 0 = no warm-up).
        name: optional name.
    """

    def __init__(self, init_lr, num_train_steps, num_warmup_steps=0, name=None):
        super().__init__()
        _check_number("init_lr", init_lr, 0.0, allow_minimum=False)
        _check_steps("num_train_steps", num_train_steps, 1)
        _check_steps("num_warmup_steps", num_warmup_steps, 0)
        self.init_lr = float(init_lr)
        self.num_train_steps = num_train_steps
        self.num_warmup_steps = num_warmup_steps
        self.name = name

    def __call__(self, step):
        # float32 and the original's operation order, so rates equal the original's bit for bit.
        step = tf.cast(step, tf.float32)
        total = tf.constant(float(self.num_train_steps), tf.float32)
        decayed = self.init_lr * (1.0 - tf.minimum(step, total) / total)
        if not self.num_warmup_steps:
            return decayed
        warmup_steps = tf.constant(float(self.num_warmup_steps), tf.float32)
        warmup = self.init_lr * (step / warmup_steps)
        return tf.where(step < warmup_steps, warmup, decayed)

    def get_config(self):
        return {
            "init_lr": self.init_lr,
            "num_train_steps": self.num_train_steps,
            "num_warmup_steps": self.num_warmup_steps,
            "name": self.name,
        }


def join_repeated_variables(grads_and_vars):
    """[(gradient, variable)] with each variable once, in the order of first appearance.

    A variable given more than once gets its gradients joined as the original's TF1 `tf.gradients` joined the
    gradients of a tensor's uses when one of them was IndexedSlices: concatenated, each dense part as
    IndexedSlices of all its rows (its tied word-embedding table: the masked-LM part, then one row per input
    position). `clip_by_global_norm` then counts every part's rows, as the original's did, and the update sums
    them into the table (`_next_moments`). Dense parts alone are added.
    """
    order, parts = [], {}
    for grad, variable in grads_and_vars:
        if id(variable) not in parts:
            order.append(variable)
            parts[id(variable)] = []
        if grad is not None:
            parts[id(variable)].append(grad)
    joined = []
    for variable in order:
        grads = parts[id(variable)]
        if len(grads) < 2:
            joined.append((grads[0] if grads else None, variable))
        elif not any(isinstance(g, tf.IndexedSlices) for g in grads):
            joined.append((tf.add_n(grads), variable))
        else:
            dense_shape = next(g.dense_shape for g in grads if isinstance(g, tf.IndexedSlices))
            values = [g.values if isinstance(g, tf.IndexedSlices) else g for g in grads]
            indices = [tf.cast(g.indices, tf.int64) if isinstance(g, tf.IndexedSlices)
                       else tf.range(tf.shape(g, out_type=tf.int64)[0]) for g in grads]
            joined.append((tf.IndexedSlices(tf.concat(values, 0), tf.concat(indices, 0), dense_shape), variable))
    return joined


@keras.saving.register_keras_serializable(package="bert_tf")
class AdamWeightDecay(keras.optimizers.Optimizer):
    """The original `AdamWeightDecayOptimizer`: Adam without bias correction plus decoupled weight decay.

    Per variable: m = b1*m + (1-b1)*g; v = b2*v + (1-b2)*g^2; update = m / (sqrt(v) + epsilon), plus
    weight_decay_rate * param unless the variable's path matches `exclude_from_weight_decay`; then
    param -= lr * update. No bias correction (the original's choice, kept for parity). Slots are `adam_m` and
    `adam_v` (as in original checkpoints), zero-initialised.

    `global_clipnorm` clips the global norm of all gradients, as the original's `clip_by_global_norm`, but
    after the gradients are summed across replicas (and a variable given several gradients has them joined, as
    `join_repeated_variables` says): any replica count then clips the gradient one device
    would compute for the same global batch. (Keras' own `global_clipnorm` clips each replica's part before
    the sum, and the original's TPU path clipped each shard's part before `CrossShardOptimizer` averaged
    them; both make the result depend on the replica count.) Under `LossScaleOptimizer` the loss scale is
    removed before this optimizer sees the gradients, so clipping acts on true gradients. The sum runs in
    the replica context, so the same holds for Mirrored, MultiWorkerMirrored and TPU strategies; this
    relies on the TensorFlow backend's optimizer internals (tf.distribute), as Keras' own optimizers do.

    With Keras `gradient_accumulation_steps`, the schedule is called with the number of applied updates (not
    micro-batches), so `num_train_steps` keeps counting optimizer updates.

    Args:
        learning_rate: float or `LearningRateSchedule` (e.g. `WarmupLinearDecay`).
        weight_decay_rate: decoupled decay coefficient (the original: 0.01).
        beta_1, beta_2, epsilon: Adam constants (the original: 0.9, 0.999, 1e-6).
        exclude_from_weight_decay: regexes searched in each variable's `path` (see `_matches`).
        global_clipnorm: clip norm over all gradients (the original: 1.0), or None for no clipping.
        fused: the update as TensorFlow's fused Adam kernel (`ResourceApplyAdam` with no bias correction: three
            passes over each variable where the original's formula takes about ten), the decay applied first as
            param *= 1 - lr * weight_decay_rate. The same update but for rounding and the kernel's float32
            1 - beta_2 (1 - 0.99900001: v 1.3e-5 smaller, each step 6.5e-6 larger, relatively).
        name, **kwargs: as `keras.optimizers.Optimizer`; Keras' `weight_decay` is refused (it would decay a
            second time, before the update).
    """

    def __init__(
        self,
        learning_rate=0.001,
        weight_decay_rate=0.01,
        beta_1=0.9,
        beta_2=0.999,
        epsilon=1e-6,
        exclude_from_weight_decay=EXCLUDE_FROM_WEIGHT_DECAY,
        global_clipnorm=None,
        fused=False,
        name=None,
        **kwargs,
    ):
        if kwargs.pop("weight_decay", None) is not None:
            raise ValueError(f"{type(self).__name__} decays with weight_decay_rate, not Keras' weight_decay")
        super().__init__(learning_rate=learning_rate, global_clipnorm=global_clipnorm, name=name, **kwargs)
        _check_number("weight_decay_rate", weight_decay_rate, 0.0)
        _check_number("beta_1", beta_1, 0.0)
        _check_number("beta_2", beta_2, 0.0)
        _check_number("epsilon", epsilon, 0.0)
        self.weight_decay_rate = float(weight_decay_rate)
        self.fused = bool(fused)
        # Per thread, because MirroredStrategy traces its replicas in concurrent threads.
        self._clipped_norm = threading.local()
        self._chain = threading.local()  # the last variable update of the step being traced
        self.beta_1 = float(beta_1)
        self.beta_2 = float(beta_2)
        self.epsilon = float(epsilon)
        self.exclude_from_weight_decay = _check_patterns(
            "exclude_from_weight_decay", exclude_from_weight_decay
        )

    def build(self, var_list):
        if self.built:
            return
        super().build(var_list)
        self.adam_m, self.adam_v = self.add_optimizer_variables(var_list, ["adam_m", "adam_v"])
        # Decided once from each variable's path: inside update_step TF hands us the bare tf.Variable.
        self._decayed = [
            bool(self.weight_decay_rate) and not _matches(self.exclude_from_weight_decay, variable)
            for variable in var_list
        ]

    def _next_moments(self, gradient, variable, index):
        """Updates the slots of variable `index` and returns their new values (m, v)."""
        # Sparse (embedding) gradients become dense: every row's moments decay, as in the original.
        gradient = tf.cast(tf.convert_to_tensor(gradient), variable.dtype)
        m, v = self.adam_m[index], self.adam_v[index]
        next_m = tf.multiply(self.beta_1, m) + tf.multiply(1.0 - self.beta_1, gradient)
        next_v = tf.multiply(self.beta_2, v) + tf.multiply(1.0 - self.beta_2, tf.square(gradient))
        self.assign(m, next_m)
        self.assign(v, next_v)
        return next_m, next_v

    def update_step(self, gradient, variable, learning_rate):
        """One variable's update (`_update`), run after the previous variable's: the same values, but only one
        variable's temporaries (new moments, update) are alive at a time, where TensorFlow would otherwise run
        every variable's at once and hold them all (README: Throughput)."""
        previous = getattr(self._chain, "last", None)
        with tf.control_dependencies([] if previous is None else [previous]):
            self._update(gradient, variable, learning_rate, self._get_variable_index(variable))
        # A read of the variable runs after its update (TensorFlow orders a variable's ops as written).
        self._chain.last = variable.read_value()

    def _update(self, gradient, variable, learning_rate, index):
        if self.fused:
            return self._fused_update_step(gradient, variable, learning_rate, index)
        next_m, next_v = self._next_moments(gradient, variable, index)
        update = next_m / (tf.sqrt(next_v) + self.epsilon)
        if self._decayed[index]:
            update += self.weight_decay_rate * variable
        self.assign_sub(variable, tf.cast(learning_rate, variable.dtype) * update)

    def _fused_update_step(self, gradient, variable, learning_rate, index):
        """param * (1 - lr * decay) - lr * m / (sqrt(v) + epsilon): with both powers of beta 0, the fused kernel's
        bias-corrected rate lr * sqrt(1 - b2^t) / (1 - b1^t) is lr itself."""
        dtype = variable.dtype
        learning_rate = tf.cast(learning_rate, dtype)
        if self._decayed[index]:
            self.assign(variable, variable * (1.0 - learning_rate * self.weight_decay_rate))
        zero = tf.constant(0.0, dtype)
        tf.raw_ops.ResourceApplyAdam(
            var=variable.handle, m=self.adam_m[index].value.handle, v=self.adam_v[index].value.handle,
            beta1_power=zero, beta2_power=zero, lr=learning_rate, beta1=tf.constant(self.beta_1, dtype),
            beta2=tf.constant(self.beta_2, dtype), epsilon=tf.constant(self.epsilon, dtype),
            grad=tf.cast(tf.convert_to_tensor(gradient), dtype))

    def _get_current_learning_rate(self):
        # `iterations` counts applied updates (Keras' `_iterations` counts micro-batches when accumulating).
        if isinstance(self._learning_rate, keras.optimizers.schedules.LearningRateSchedule):
            return self._learning_rate(self.iterations)
        return super()._get_current_learning_rate()

    def _clip_gradients(self, grads):
        if self.global_clipnorm:
            return grads  # clipped in _backend_update_step, after the cross-replica sum
        return super()._clip_gradients(grads)

    def _backend_update_step(self, grads, trainable_variables, learning_rate):
        """Sums gradients across replicas, joins those of a repeated variable, clips them by their global norm,
        then updates each variable."""
        variables = [v.value if isinstance(v, keras.Variable) else v for v in trainable_variables]
        reduced = self._all_reduce_sum_gradients(list(zip(grads, variables, strict=True)))
        grads, variables = map(list, zip(*join_repeated_variables(reduced), strict=True))
        self._clipped_norm.value = None
        self._chain.last = None
        if self.global_clipnorm:
            grads, self._clipped_norm.value = tf.clip_by_global_norm(grads, self.global_clipnorm)
        tf.__internal__.distribute.interim.maybe_merge_call(
            self._distributed_tf_update_step,
            self._distribution_strategy,
            list(zip(grads, variables, strict=True)),
            learning_rate,
        )

    def clipped_gradient_norm(self):
        """The global norm the last `apply_gradients` traced in this thread (replica) clipped by: that of the
        gradients summed across replicas, a tensor of that trace; None without clipping. The training loop
        reports it instead of computing the norm of every gradient a second time."""
        return getattr(self._clipped_norm, "value", None)

    def get_config(self):
        config = super().get_config()
        config.update(
            weight_decay_rate=self.weight_decay_rate,
            beta_1=self.beta_1,
            beta_2=self.beta_2,
            epsilon=self.epsilon,
            exclude_from_weight_decay=list(self.exclude_from_weight_decay),
            fused=self.fused,
        )
        return config


@keras.saving.register_keras_serializable(package="bert_tf")
class Lamb(AdamWeightDecay):
    """LAMB as NVIDIA's NVLAMB and tf-models' LAMB: the AdamWeightDecay update times a layer trust ratio.

    update = m_hat / (sqrt(v_hat) + epsilon) + weight_decay_rate * param (decay inside the trust ratio),
    with bias correction m_hat = m / (1 - b1^t), v_hat = v / (1 - b2^t), t = updates so far + 1 (applied, as
    tf-models and NVIDIA do, in float32); then param -= ratio * lr * update, ratio = ||param|| / ||update||
    (1.0 when either norm is 0). Variables matching `exclude_from_weight_decay` get no decay; those matching
    `exclude_from_layer_adaptation` (default: the same list, as tf-models) get ratio 1. Keras' own `Lamb`
    differs: decay outside the trust ratio and no exclusion from adaptation. Clipping, slots and the
    schedule are AdamWeightDecay's.
    """

    def __init__(self, *args, exclude_from_layer_adaptation=None, **kwargs):
        """AdamWeightDecay's arguments, and exclude_from_layer_adaptation: regexes of the variables whose update
        is not scaled by the trust ratio (default: exclude_from_weight_decay)."""
        super().__init__(*args, **kwargs)
        if self.fused:
            raise ValueError("Lamb has no fused kernel: its update is scaled by a per-variable trust ratio")
        if exclude_from_layer_adaptation is None:
            exclude_from_layer_adaptation = self.exclude_from_weight_decay
        self.exclude_from_layer_adaptation = _check_patterns(
            "exclude_from_layer_adaptation", exclude_from_layer_adaptation
        )

    def build(self, var_list):
        if self.built:
            return
        super().build(var_list)
        self._adapted = [not _matches(self.exclude_from_layer_adaptation, v) for v in var_list]

    def _update(self, gradient, variable, learning_rate, index):
        next_m, next_v = self._next_moments(gradient, variable, index)
        step = tf.cast(self.iterations + 1, variable.dtype)
        m_hat = next_m / (1.0 - tf.pow(tf.cast(self.beta_1, variable.dtype), step))
        v_hat = next_v / (1.0 - tf.pow(tf.cast(self.beta_2, variable.dtype), step))
        update = m_hat / (tf.sqrt(v_hat) + self.epsilon)
        if self._decayed[index]:
            update += self.weight_decay_rate * variable
        ratio = 1.0
        if self._adapted[index]:
            param_norm = tf.norm(variable)
            update_norm = tf.norm(update)
            positive = tf.logical_and(param_norm > 0.0, update_norm > 0.0)
            ratio = tf.where(positive, param_norm / tf.where(positive, update_norm, 1.0), 1.0)
        self.assign_sub(variable, ratio * tf.cast(learning_rate, variable.dtype) * update)

    def get_config(self):
        config = super().get_config()
        config.update(exclude_from_layer_adaptation=list(self.exclude_from_layer_adaptation))
        return config


OPTIMIZERS = {"adamw": AdamWeightDecay, "lamb": Lamb}


def create_optimizer(
    init_lr,
    num_train_steps,
    num_warmup_steps,
    optimizer_type="adamw",
    weight_decay_rate=0.01,
    global_clipnorm=1.0,
    **kwargs,
):
    """The optimizer the original `create_optimizer` builds: warm-up + linear decay, decay 0.01, clip 1.0.

    Args:
        init_lr, num_train_steps, num_warmup_steps: the `WarmupLinearDecay` schedule.
        optimizer_type: "adamw" (the original AdamWeightDecay) or "lamb".
        weight_decay_rate, global_clipnorm: as the original (0.01 and 1.0).
        **kwargs: further optimizer arguments (e.g. epsilon, gradient_accumulation_steps).

    Returns:
        An `AdamWeightDecay` or `Lamb` whose learning rate is the schedule; the caller increments nothing
        (Keras counts `iterations`).
    """
    if optimizer_type not in OPTIMIZERS:
        raise ValueError(f"optimizer_type must be one of {sorted(OPTIMIZERS)}, got {optimizer_type!r}")
    schedule = WarmupLinearDecay(init_lr, num_train_steps, num_warmup_steps)
    return OPTIMIZERS[optimizer_type](
        learning_rate=schedule, weight_decay_rate=weight_decay_rate, global_clipnorm=global_clipnorm, **kwargs
    )
