"""Tests of bert_tf.optimization: schedule, AdamWeightDecay (parity with the original), LAMB, distribution."""

import contextlib
import json
import os
import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest
import tensorflow as tf

from bert_tf.optimization import (
    AdamWeightDecay,
    Lamb,
    WarmupLinearDecay,
    create_optimizer,
)
from bert_tf.training import TrainingOptions

# Paths as the model names its weights; the first two are decayed, the rest excluded by name.
PARITY_SHAPES = {
    "bert/embeddings/word_embeddings": (11, 5),
    "bert/encoder/layer_0/attention/output/dense/kernel": (5, 5),
    "cls/seq_relationship/output_weights": (2, 5),
    "bert/encoder/layer_0/attention/output/LayerNorm/gamma": (5,),
    "bert/encoder/layer_0/attention/output/dense/bias": (5,),
    "cls/seq_relationship/output_bias": (2,),
}
# Gradient scales per step: global norms well above 1 (clipped) and below 1 (left alone).
PARITY_GRAD_SCALES = (3.0, 0.05, 1.5, 0.02, 2.0, 0.1)


def scoped_variable(path, value):
    """A keras.Variable whose `path` is `path` (Keras refuses '/' in a name, so nest name scopes)."""
    *scopes, name = path.split("/")
    with contextlib.ExitStack() as stack:
        for scope in scopes:
            stack.enter_context(keras.name_scope(scope))
        return keras.Variable(np.asarray(value, np.float32), name=name)


# ---------------------------------------------------------------------------------------------- schedule


def test_schedule_worked_example():
    schedule = WarmupLinearDecay(init_lr=1e-4, num_train_steps=100, num_warmup_steps=10)
    rates = [float(schedule(step)) for step in (0, 5, 9, 10, 50, 100)]
    np.testing.assert_allclose(rates, [0.0, 5e-5, 9e-5, 9e-5, 5e-5, 0.0], rtol=1e-7, atol=0)


def test_schedule_decays_from_step_zero_and_stays_at_zero():
    schedule = WarmupLinearDecay(init_lr=2e-5, num_train_steps=1000, num_warmup_steps=100)
    # At the end of warm-up the rate is init * (1 - 100/1000), not init: decay counts from step 0.
    np.testing.assert_allclose(float(schedule(100)), 1.8e-5, rtol=1e-7)
    np.testing.assert_allclose(float(schedule(99)), 2e-5 * 0.99, rtol=1e-7)
    assert float(schedule(1000)) == 0.0
    assert float(schedule(5000)) == 0.0  # no cycling, no negative rates
    no_warmup = WarmupLinearDecay(init_lr=1e-3, num_train_steps=4)
    np.testing.assert_allclose([float(no_warmup(s)) for s in range(5)], [1e-3, 7.5e-4, 5e-4, 2.5e-4, 0.0],
                               rtol=1e-7)


def test_schedule_get_config_round_trip():
    schedule = WarmupLinearDecay(init_lr=3e-5, num_train_steps=36813, num_warmup_steps=3681, name="glue")
    config = schedule.get_config()
    assert config == {"init_lr": 3e-5, "num_train_steps": 36813, "num_warmup_steps": 3681, "name": "glue"}
    restored = keras.optimizers.schedules.deserialize(keras.optimizers.schedules.serialize(schedule))
    assert isinstance(restored, WarmupLinearDecay)
    assert restored.get_config() == config
    assert float(restored(2000)) == float(schedule(2000))


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"init_lr": 0.0, "num_train_steps": 10}, "init_lr"),
        ({"init_lr": float("nan"), "num_train_steps": 10}, "init_lr"),
        ({"init_lr": 1e-4, "num_train_steps": 0}, "num_train_steps"),
        ({"init_lr": 1e-4, "num_train_steps": 10.5}, "num_train_steps"),
        ({"init_lr": 1e-4, "num_train_steps": 10, "num_warmup_steps": -1}, "num_warmup_steps"),
    ],
)
def test_schedule_rejects_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        WarmupLinearDecay(**kwargs)


# ----------------------------------------------------------------------------------------- AdamWeightDecay


def test_first_step_has_no_bias_correction():
    lr = 0.01
    gradient = np.array([0.5, -2.0, 1e-3, 40.0], np.float32)
    variable = scoped_variable("layer_0/output/dense/bias", np.ones(4))  # excluded from decay by name
    optimizer = AdamWeightDecay(learning_rate=lr)
    optimizer.apply([tf.constant(gradient)], [variable])
    moved = 1.0 - variable.numpy()
    expected = lr * 0.1 * gradient / (np.sqrt(0.001) * np.abs(gradient) + 1e-6)
    np.testing.assert_allclose(moved, expected, rtol=1e-6)
    # ~ lr * sqrt(10) * sign(g); bias-corrected Adam would move by lr * sign(g).
    np.testing.assert_allclose(moved[[0, 1, 3]], lr * 3.16227766 * np.sign(gradient[[0, 1, 3]]), rtol=1e-4)
    np.testing.assert_allclose(optimizer.adam_m[0].numpy(), 0.1 * gradient, rtol=1e-6)
    np.testing.assert_allclose(optimizer.adam_v[0].numpy(), 0.001 * gradient**2, rtol=1e-6)


DECAYED = ["bert/embeddings/word_embeddings/embeddings", "bert/layer_2/attention/query/kernel",
           "cls/seq_relationship/output_weights"]
EXCLUDED = ["bert/layer_2/attention/output/LayerNorm/gamma", "bert/embeddings/layer_norm/beta",
            "bert/layer_2/intermediate/dense/bias", "cls/predictions/output_bias"]


def test_weight_decay_only_for_names_without_layernorm_or_bias():
    lr, rate = 0.1, 0.01
    variables = [scoped_variable(path, [2.0, -4.0]) for path in DECAYED + EXCLUDED]
    optimizer = AdamWeightDecay(learning_rate=lr, weight_decay_rate=rate)
    # Zero gradients: the Adam part is 0/(0 + eps) = 0, so only the decoupled decay moves a variable.
    optimizer.apply([tf.zeros(2)] * len(variables), variables)
    for variable in variables[: len(DECAYED)]:
        np.testing.assert_allclose(variable.numpy(), np.array([2.0, -4.0]) * (1 - lr * rate), rtol=1e-7)
    for variable in variables[len(DECAYED):]:
        np.testing.assert_array_equal(variable.numpy(), [2.0, -4.0])


def test_lamb_excludes_the_same_names_from_decay_and_adaptation():
    lr = 0.1
    variables = [scoped_variable(path, [2.0, -4.0]) for path in DECAYED + EXCLUDED]
    optimizer = Lamb(learning_rate=lr, weight_decay_rate=0.01)
    optimizer.apply([tf.zeros(2)] * len(variables), variables)
    # Zero gradients: update = 0.01 * w, trust ratio ||w|| / ||0.01 w|| = 100, so w -= lr * w.
    for variable in variables[: len(DECAYED)]:
        np.testing.assert_allclose(variable.numpy(), [2.0 * (1 - lr), -4.0 * (1 - lr)], rtol=1e-6)
    for variable in variables[len(DECAYED):]:
        np.testing.assert_array_equal(variable.numpy(), [2.0, -4.0])


@pytest.mark.parametrize("optimizer_type", ["adamw", "lamb"])
@pytest.mark.parametrize("norm, scale", [(5.0, 1 / 5.0), (0.5, 1.0)])
def test_gradients_clipped_by_global_norm_one(optimizer_type, norm, scale):
    optimizer = create_optimizer(1e-3, 10, 0, optimizer_type=optimizer_type)
    kernel, bias = scoped_variable("dense/kernel", [1.0, 1.0]), scoped_variable("dense/bias", [1.0])
    # Global norm `norm` over both variables.
    grads = [np.array([0.6, 0.0], np.float32) * norm, np.array([0.8], np.float32) * norm]
    optimizer.apply([tf.constant(g) for g in grads], [kernel, bias])
    # Fresh slots hold 0.1 * g and 0.001 * g^2 of the clipped gradient.
    for slot_m, slot_v, grad in zip(optimizer.adam_m, optimizer.adam_v, grads, strict=True):
        np.testing.assert_allclose(slot_m.numpy(), 0.1 * grad * scale, rtol=1e-6)
        np.testing.assert_allclose(slot_v.numpy(), 0.001 * (grad * scale) ** 2, rtol=1e-6)


def _original_adam_weight_decay(initial, steps, lookup_ids=None):
    """Runs the ORIGINAL AdamWeightDecayOptimizer in TF1 graph mode; `steps` = [(lr, grads), ...].

    With `lookup_ids` [K], each step's grads end with K extra rows for the first variable (a word-embedding
    table): its gradient is then the IndexedSlices TF1's `tf.gradients` made of a table used both densely and
    by a lookup, its dense part's rows followed by the looked-up rows."""
    from bert import optimization as original

    tf1 = tf.compat.v1
    with tf.Graph().as_default() as graph:
        variables = [tf1.get_variable(name, initializer=tf1.constant(v)) for name, v in initial.items()]
        grad_inputs = [tf1.placeholder(tf.float32, value.shape) for value in initial.values()]
        gradients = list(grad_inputs)
        if lookup_ids is not None:
            grad_inputs.append(tf1.placeholder(tf.float32, (len(lookup_ids), grad_inputs[0].shape[1])))
            rows = int(grad_inputs[0].shape[0])
            gradients[0] = tf.IndexedSlices(tf.concat([grad_inputs[0], grad_inputs[-1]], 0),
                                            tf.constant(np.concatenate([np.arange(rows), lookup_ids]), tf.int32),
                                            tf.constant(grad_inputs[0].shape.as_list()))
        # The original's create_optimizer reads lr from global_step and races its increment
        # (google-research/bert #1050);
        # a placeholder feeds it the lr(t) we use, with the same clipping and optimizer arguments.
        lr = tf1.placeholder(tf.float32, [])
        clipped, _ = tf1.clip_by_global_norm(gradients, clip_norm=1.0)
        optimizer = original.AdamWeightDecayOptimizer(
            learning_rate=lr, weight_decay_rate=0.01, beta_1=0.9, beta_2=0.999, epsilon=1e-6,
            exclude_from_weight_decay=["LayerNorm", "layer_norm", "bias"],
        )
        train_op = optimizer.apply_gradients(zip(clipped, variables, strict=True))
        with tf1.Session(graph=graph) as session:
            session.run(tf1.global_variables_initializer())
            for rate, grads in steps:
                session.run(train_op, {lr: rate, **dict(zip(grad_inputs, grads, strict=True))})
            return session.run(variables)


def _parity_problem():
    rng = np.random.default_rng(7)
    initial = {name: rng.normal(0, 0.5, shape).astype(np.float32) for name, shape in PARITY_SHAPES.items()}
    grads = [[(s * rng.normal(0, 1, shape)).astype(np.float32) for shape in PARITY_SHAPES.values()]
             for s in PARITY_GRAD_SCALES]
    return initial, grads


@pytest.mark.parametrize("jit_compile", [False, True])
def test_matches_original_adam_weight_decay(jit_compile):
    initial, grads = _parity_problem()
    num_steps = len(grads)
    optimizer = create_optimizer(init_lr=1e-2, num_train_steps=num_steps + 2, num_warmup_steps=2)
    variables = [scoped_variable(name, value) for name, value in initial.items()]

    @tf.function(jit_compile=jit_compile)
    def apply(step_grads):
        optimizer.apply(step_grads, variables)

    rates = []
    for step_grads in grads:
        rates.append(float(optimizer.learning_rate))
        apply([tf.constant(g) for g in step_grads])
    assert rates[0] == 0.0 and int(optimizer.iterations) == num_steps
    expected = _original_adam_weight_decay(initial, list(zip(rates, grads, strict=True)))
    for name, variable, want in zip(initial, variables, expected, strict=True):
        assert not np.array_equal(variable.numpy(), initial[name]), name
        if jit_compile:
            # XLA fuses the element-wise chain and reorders the global-norm sum: measured at most 3 float32
            # ulps apart from the original after these 6 steps (eager below is bit for bit).
            np.testing.assert_array_max_ulp(variable.numpy(), want, maxulp=4)
        else:
            np.testing.assert_array_equal(variable.numpy(), want, err_msg=name)


def test_fused_update_is_within_1e5_of_each_step_of_the_original():
    """`fused=True` (`--fused_optimizer`): TensorFlow's fused Adam kernel, decay first. The kernel forms 1 - b2 in
    float32 from float32(0.999), 0.99900001: 1.3e-5 relative below the original's 0.001, so v is that much
    smaller and every update m / sqrt(v) 6.5e-6 relatively larger (the rest is rounding). After the 6 steps each
    variable is within 1e-5 of its movement of the original's (measured: 6.4e-6 to 6.8e-6)."""
    initial, grads = _parity_problem()
    optimizer = create_optimizer(init_lr=1e-2, num_train_steps=len(grads) + 2, num_warmup_steps=2, fused=True)
    assert optimizer.fused and optimizer.get_config()["fused"]
    variables = [scoped_variable(name, value) for name, value in initial.items()]
    apply = tf.function(lambda step_grads: optimizer.apply(step_grads, variables))
    rates = []
    for step_grads in grads:
        rates.append(float(optimizer.learning_rate))
        apply([tf.constant(g) for g in step_grads])
    expected = _original_adam_weight_decay(initial, list(zip(rates, grads, strict=True)))
    assert not any(np.array_equal(v.numpy(), want) for v, want in zip(variables, expected, strict=True))
    for name, variable, want in zip(initial, variables, expected, strict=True):
        movement = np.abs(want - initial[name]).max()
        assert movement > 0.05, name  # steps of lr 1e-2 times updates of about 3
        assert np.abs(variable.numpy() - want).max() <= 1e-5 * movement, name
    with pytest.raises(ValueError, match="fused_optimizer is adamw's fused Adam kernel: optimizer 'lamb' has none"):
        TrainingOptions(output_dir="unused", optimizer="lamb", fused_optimizer=True)
    with pytest.raises(ValueError, match="Lamb has no fused kernel"):
        create_optimizer(1e-3, 10, 0, optimizer_type="lamb", fused=True)


def test_a_variable_given_a_dense_and_a_sparse_gradient_is_clipped_and_updated_as_the_original():
    """The pretraining loop gives the tied word-embedding table two gradients: the masked-LM part (dense) and one
    row per input position (IndexedSlices, rows repeated where tokens repeat). They are joined as the original's
    TF1 `tf.gradients` joined them, so clipping counts every row of both parts, not the rows of their sum: bit
    for bit the original optimizer fed that joined gradient, and not what their dense sum gives."""
    initial, grads = _parity_problem()
    ids = np.array([3, 3, 0, 7, 3, 10])
    rng = np.random.default_rng(11)
    lookups = [(s * rng.normal(0, 1, (len(ids), 5))).astype(np.float32) for s in PARITY_GRAD_SCALES]
    rates = [float(WarmupLinearDecay(1e-2, len(grads) + 2, 2)(step)) for step in range(len(grads))]
    expected = _original_adam_weight_decay(
        initial, [(rate, [*g, rows]) for rate, g, rows in zip(rates, grads, lookups, strict=True)], lookup_ids=ids)
    results = {}
    for form in ("joined", "dense sum"):
        optimizer = create_optimizer(init_lr=1e-2, num_train_steps=len(grads) + 2, num_warmup_steps=2)
        variables = [scoped_variable(name, value) for name, value in initial.items()]
        for step_grads, rows in zip(grads, lookups, strict=True):
            sparse = tf.IndexedSlices(tf.constant(rows), tf.constant(ids, tf.int32), tf.constant([11, 5]))
            if form == "joined":
                optimizer.apply([tf.constant(g) for g in step_grads] + [sparse], variables + variables[:1])
            else:
                table = tf.constant(step_grads[0]) + tf.convert_to_tensor(sparse)
                optimizer.apply([table] + [tf.constant(g) for g in step_grads[1:]], variables)
        results[form] = [v.numpy() for v in variables]
    for name, ours, want in zip(initial, results["joined"], expected, strict=True):
        np.testing.assert_array_equal(ours, want, err_msg=name)
    assert not np.array_equal(results["dense sum"][1], expected[1])  # another clipping factor: every weight moves


def test_sparse_embedding_gradient_matches_dense():
    initial, grads = _parity_problem()
    name = "bert/embeddings/word_embeddings"
    rows = np.array([1, 4, 9])
    dense = np.zeros_like(initial[name])
    dense[rows] = grads[0][0][rows]
    results = []
    sparse = tf.IndexedSlices(tf.constant(dense[rows]), tf.constant(rows), tf.constant(dense.shape))
    for gradient in (tf.constant(dense), sparse):
        variable = scoped_variable(name, initial[name])
        optimizer = create_optimizer(init_lr=1e-2, num_train_steps=4, num_warmup_steps=0)
        optimizer.apply([gradient], [variable])
        results.append(variable.numpy())
    np.testing.assert_array_equal(results[0], results[1])
    assert not np.array_equal(results[0], initial[name])


# -------------------------------------------------------------------------------------------------- LAMB


# The bias corrections 1 - beta^t are float32 powers of float32 betas (as tf-models and NVIDIA compute them):
# 1 - float32(0.999) is 0.00099998713, which moves the first step by ~6e-6 relative.
BETA_1, BETA_2 = float(np.float32(0.9)), float(np.float32(0.999))


def _lamb_reference(param, grads, lr, decay, adapt, rate=0.01):
    """LAMB by its formulas in float64 (bias-corrected Adam, decay inside the trust ratio)."""
    param, m, v = np.asarray(param, np.float64), 0.0, 0.0
    for t, g in enumerate(grads, start=1):
        m, v = 0.9 * m + 0.1 * g, 0.999 * v + 0.001 * g**2
        m_hat, v_hat = m / (1 - BETA_1**t), v / (1 - BETA_2**t)
        update = m_hat / (np.sqrt(v_hat) + 1e-6) + (rate * param if decay else 0.0)
        w_norm, u_norm = np.linalg.norm(param), np.linalg.norm(update)
        ratio = w_norm / u_norm if adapt and w_norm > 0 and u_norm > 0 else 1.0
        param = param - ratio * lr * update
    return param


def test_lamb_trust_ratio_by_hand():
    lr = 0.05
    kernel = scoped_variable("dense/kernel", [[3.0, 4.0], [0.0, -12.0]])  # ||w|| = 13
    bias = scoped_variable("dense/bias", [1.0, -1.0])
    kernel_grads = [np.array([[0.2, -0.1], [0.05, 0.3]]), np.array([[-0.1, 0.2], [0.02, 0.1]])]
    bias_grads = [np.array([0.3, 0.1]), np.array([0.1, -0.2])]
    optimizer = Lamb(learning_rate=lr, weight_decay_rate=0.01)
    for kg, bg in zip(kernel_grads, bias_grads, strict=True):
        optimizer.apply([tf.constant(kg, tf.float32), tf.constant(bg, tf.float32)], [kernel, bias])
    want_kernel = _lamb_reference([[3.0, 4.0], [0.0, -12.0]], kernel_grads, lr, decay=True, adapt=True)
    want_bias = _lamb_reference([1.0, -1.0], bias_grads, lr, decay=False, adapt=False)
    np.testing.assert_allclose(kernel.numpy(), want_kernel, rtol=1e-6)
    np.testing.assert_allclose(bias.numpy(), want_bias, rtol=1e-6)
    # First step by hand: the update is ~sign(g) + 0.01 w (norm ~2.03), so the ratio ~13/2.03 dominates.
    assert np.abs(kernel.numpy() - [[3.0, 4.0], [0.0, -12.0]]).max() > 2 * lr


def test_lamb_ratio_is_one_for_zero_weights():
    lr = 0.05
    kernel = scoped_variable("dense/kernel", [0.0, 0.0])
    optimizer = Lamb(learning_rate=lr)
    optimizer.apply([tf.constant([0.5, -0.25])], [kernel])
    # t = 1: m_hat ~ g, v_hat ~ g^2, so update ~ sign(g), and with ||w|| = 0 the ratio falls back to 1.
    want = -lr * 0.1 * np.array([0.5, -0.25]) / (1 - BETA_1)
    want /= np.sqrt(0.001 * np.array([0.5, -0.25]) ** 2 / (1 - BETA_2)) + 1e-6
    np.testing.assert_allclose(kernel.numpy(), want, rtol=1e-6)
    np.testing.assert_allclose(kernel.numpy(), [-lr, lr], rtol=1e-4)  # eps and float32 betas: ~1e-5 off


# -------------------------------------------------------------------------------------- config and errors


@pytest.mark.parametrize("optimizer_type", ["adamw", "lamb"])
def test_optimizer_get_config_round_trip(optimizer_type):
    extra = {"exclude_from_layer_adaptation": ["LayerNorm"]} if optimizer_type == "lamb" else {}
    optimizer = create_optimizer(5e-5, 1000, 100, optimizer_type=optimizer_type, epsilon=1e-7, **extra)
    config = optimizer.get_config()
    assert config["global_clipnorm"] == 1.0 and config["weight_decay_rate"] == 0.01
    assert config["exclude_from_weight_decay"] == ["LayerNorm", "layer_norm", "bias"]
    restored = keras.optimizers.deserialize(keras.optimizers.serialize(optimizer))
    assert type(restored) is type(optimizer)
    assert restored.get_config() == config
    assert isinstance(restored._learning_rate, WarmupLinearDecay)
    if optimizer_type == "lamb":
        assert restored.exclude_from_layer_adaptation == ["LayerNorm"]


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda: AdamWeightDecay(weight_decay=0.01), "weight_decay_rate"),
        (lambda: AdamWeightDecay(exclude_from_weight_decay=["bias", "("]), "'\\('"),
        (lambda: AdamWeightDecay(exclude_from_weight_decay="bias"), "list of regex"),
        (lambda: Lamb(weight_decay_rate=-0.1), "weight_decay_rate"),
        (lambda: create_optimizer(1e-4, 10, 1, optimizer_type="sgd"), "'sgd'"),
    ],
)
def test_bad_arguments_raise_clear_errors(make, message):
    with pytest.raises(ValueError, match=message):
        make()


# ------------------------------------------------------------------------------- Keras training integration


def _tiny_model(seed=3):
    keras.utils.set_random_seed(seed)
    inputs = keras.Input((3,))
    hidden = keras.layers.Dense(4, activation="tanh", name="dense")(inputs)
    hidden = keras.layers.LayerNormalization(name="LayerNorm")(hidden)
    return keras.Model(inputs, keras.layers.Dense(2, name="output")(hidden))


def _tiny_data(num_examples=8):
    rng = np.random.default_rng(0)
    return rng.normal(size=(num_examples, 3)).astype(np.float32), rng.normal(size=(num_examples, 2)) * 10


def test_fit_counts_one_iteration_per_step_and_step_zero_has_lr_zero():
    model = _tiny_model()
    optimizer = create_optimizer(1e-2, num_train_steps=10, num_warmup_steps=3)
    model.compile(optimizer=optimizer, loss="mse", jit_compile=True)
    x, y = _tiny_data()
    initial = [w.numpy() for w in model.trainable_weights]
    model.fit(x, y, batch_size=4, epochs=1, steps_per_epoch=1, shuffle=False, verbose=0)
    assert int(optimizer.iterations) == 1
    for before, weight in zip(initial, model.trainable_weights, strict=True):
        # lr(0) = 0: the slots moved, the weights did not.
        np.testing.assert_array_equal(before, weight.numpy())
    assert np.abs(optimizer.adam_m[0].numpy()).sum() > 0
    model.fit(x, y, batch_size=4, epochs=2, shuffle=False, verbose=0)
    assert int(optimizer.iterations) == 5
    np.testing.assert_allclose(float(optimizer.learning_rate), 1e-2 * 0.5, rtol=1e-7)
    assert not np.array_equal(initial[0], model.trainable_weights[0].numpy())


@pytest.mark.parametrize("optimizer_type", ["adamw", "lamb"])
def test_loss_scale_optimizer_gives_the_unwrapped_result(optimizer_type):
    x, y = _tiny_data()
    results = []
    for wrap in (False, True):
        model = _tiny_model()
        optimizer = create_optimizer(1e-2, 10, 1, optimizer_type=optimizer_type)
        if wrap:
            optimizer = keras.optimizers.LossScaleOptimizer(optimizer, initial_scale=2.0**10)
        model.compile(optimizer=optimizer, loss="mse", jit_compile=False)
        model.fit(x, y, batch_size=4, epochs=2, shuffle=False, verbose=0)
        assert int(optimizer.iterations) == 4
        results.append([w.numpy() for w in model.trainable_weights])
    # The scale is a power of two, so scaling and unscaling are exact.
    for plain, scaled in zip(*results, strict=True):
        np.testing.assert_array_equal(plain, scaled)


def test_mixed_float16_fit_and_overflow_step_skipped():
    keras.utils.set_random_seed(5)
    inputs = keras.Input((3,))
    hidden = keras.layers.Dense(4, name="dense", dtype="mixed_float16")(inputs)
    outputs = keras.layers.Dense(2, name="output", dtype="float32")(hidden)
    model = keras.Model(inputs, outputs)
    # A small initial scale so that no step of this fit overflows float16 (each overflow skips a step).
    optimizer = keras.optimizers.LossScaleOptimizer(create_optimizer(1e-2, 10, 0), initial_scale=16.0)
    model.compile(optimizer=optimizer, loss="mse")
    x, y = _tiny_data()
    initial = [w.numpy() for w in model.trainable_weights]
    history = model.fit(x, y, batch_size=4, epochs=2, shuffle=False, verbose=0)
    assert model.layers[1].compute_dtype == "float16"
    assert all(w.dtype == "float32" for w in model.trainable_weights)  # float32 master weights and slots
    assert all(s.dtype == "float32" for s in optimizer.inner_optimizer.adam_m)
    assert np.isfinite(history.history["loss"]).all()
    assert int(optimizer.iterations) == 4
    before = [w.numpy() for w in model.trainable_weights]
    for old, new in zip(initial, before, strict=True):
        assert np.isfinite(new).all() and not np.array_equal(old, new)
    grads = [tf.fill(w.shape, np.inf) for w in model.trainable_weights]
    optimizer.apply(grads, model.trainable_weights)
    assert int(optimizer.iterations) == 4  # an overflowed step is skipped, schedule position included
    for weight, old in zip(model.trainable_weights, before, strict=True):
        np.testing.assert_array_equal(weight.numpy(), old)


def test_gradient_accumulation_schedule_counts_updates():
    variable = scoped_variable("dense/kernel", [1.0])
    optimizer = create_optimizer(1e-2, 10, 0, gradient_accumulation_steps=2)
    for _ in range(4):
        optimizer.apply([tf.constant([0.5])], [variable])
    assert int(optimizer.iterations) == 2
    np.testing.assert_allclose(float(optimizer.learning_rate), 1e-2 * 0.8, rtol=1e-7)


MIRRORED_SCRIPT = textwrap.dedent(
    """
    import json, sys
    import numpy as np, tensorflow as tf
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    import keras
    from bert_tf.optimization import create_optimizer

    def train(strategy, optimizer_type, loss_scaled=False):
        with strategy.scope():
            keras.utils.set_random_seed(3)
            inputs = keras.Input((3,))
            hidden = keras.layers.Dense(4, activation="tanh", name="dense")(inputs)
            hidden = keras.layers.LayerNormalization(name="LayerNorm")(hidden)
            model = keras.Model(inputs, keras.layers.Dense(2, name="output")(hidden))
            optimizer = create_optimizer(1e-2, 10, 1, optimizer_type=optimizer_type)
            if loss_scaled:
                optimizer = keras.optimizers.LossScaleOptimizer(optimizer)
            model.compile(optimizer=optimizer, loss="mse")
        rng = np.random.default_rng(0)
        x, y = rng.normal(size=(16, 3)).astype("float32"), (rng.normal(size=(16, 2)) * 10).astype("float32")
        with tf.GradientTape() as tape:
            norm = tf.linalg.global_norm(tape.gradient(keras.losses.mean_squared_error(y[:8], model(x[:8])),
                                                       model.trainable_weights))
        model.fit(x, y, batch_size=8, epochs=2, shuffle=False, verbose=0)
        return [w.numpy() for w in model.trainable_weights], int(optimizer.iterations.numpy()), float(norm)

    out = {"replicas": tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"]).num_replicas_in_sync}
    for optimizer_type, loss_scaled in (("adamw", False), ("lamb", False), ("adamw", True)):
        one, one_steps, norm = train(tf.distribute.get_strategy(), optimizer_type, loss_scaled)
        two, two_steps, _ = train(tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"]), optimizer_type,
                                  loss_scaled)
        out[optimizer_type + ("_loss_scaled" if loss_scaled else "")] = {
            "steps": [one_steps, two_steps], "first_grad_norm": norm,
            "max_rel_diff": max(float(np.max(np.abs(a - b) / np.abs(a))) for a, b in zip(one, two)),
        }
    print("RESULT " + json.dumps(out))
    """
)


def test_mirrored_two_replicas_match_one_device():
    # Logical devices must be configured before TensorFlow initialises, so this runs in a fresh process.
    env = dict(os.environ, CUDA_VISIBLE_DEVICES="", TF_CPP_MIN_LOG_LEVEL="2")
    done = subprocess.run([sys.executable, "-c", MIRRORED_SCRIPT], capture_output=True, text=True, env=env,
                          timeout=300)
    lines = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
    assert done.returncode == 0 and lines, done.stderr[-3000:]
    result = json.loads(lines[-1][len("RESULT "):])
    assert result["replicas"] == 2
    for key in ("adamw", "lamb", "adamw_loss_scaled"):
        run = result[key]
        assert run["steps"] == [4, 4]
        # Gradients far above the clip norm: clipping before the cross-replica sum would differ by ~2x.
        assert run["first_grad_norm"] > 4.0
        # Two replicas sum half-batch gradients in another order than one device: float32 rounding only.
        assert run["max_rel_diff"] < 5e-6, run  # measured 4.4e-7


def test_keras_file_round_trip_keeps_optimizer_and_slots(tmp_path):
    model = _tiny_model()
    optimizer = create_optimizer(1e-2, 10, 1, optimizer_type="lamb")
    model.compile(optimizer=optimizer, loss="mse")
    x, y = _tiny_data()
    model.fit(x, y, batch_size=4, epochs=1, shuffle=False, verbose=0)
    model.save(tmp_path / "model.keras")
    restored = keras.saving.load_model(tmp_path / "model.keras").optimizer
    assert type(restored) is Lamb and int(restored.iterations) == 2
    assert restored.get_config() == optimizer.get_config()
    for saved, slot in zip(restored.adam_v, optimizer.adam_v, strict=True):
        np.testing.assert_array_equal(saved.numpy(), slot.numpy())
