"""Warm start: initial weights from a bert_tf training checkpoint or any checkpoint format bert_tf reads."""

from __future__ import annotations

import logging
import os

import numpy as np
import tensorflow as tf

from bert_tf import checkpoint_files, checkpoints, distillation


def _checkpoint_key(name):
    """The key tf.train.Checkpoint gives a variable tracked as `weights[name]` (its escaping of "." and "/")."""
    return "weights/" + name.replace(".", "..").replace("/", ".S") + "/.ATTRIBUTES/VARIABLE_VALUE"


def read_training_checkpoint(prefix, model):
    """Canonical (TF1-named) weights from one of our training checkpoints, or None if `prefix` is not one."""
    try:
        reader = tf.train.load_checkpoint(prefix)
    except (tf.errors.OpError, ValueError):
        return None
    if not reader.has_tensor("_CHECKPOINTABLE_OBJECT_GRAPH"):
        return None
    weights = {}
    for name, (_, transpose) in checkpoints.keras_variables(model).items():
        if reader.has_tensor(_checkpoint_key(name)):
            try:
                value = reader.get_tensor(_checkpoint_key(name))
            except (tf.errors.OpError, IndexError) as error:
                raise checkpoint_files.damaged(prefix, error) from None
            weights[name] = value.T if transpose else value
    return weights


def warm_start(model, path, config_file=None, layers=None):
    """Initialises `model` from a bert_tf training checkpoint (prefix or output_dir) or any checkpoint that
    `checkpoint_files` reads (original TF1, Hugging Face, Keras): what matches by name is restored, the rest
    logged (`checkpoints.set_weights(strict=False)`); weights that are not finite are a ValueError naming the
    checkpoint. With `layers` (one per layer of `model`), the model's layers are these layers of the checkpoint,
    in order, the rest as named (DistilBERT's student: one teacher layer in k). Returns the canonical names
    restored."""
    model_type = getattr(model.config, "model_type", None)  # a config file without the key reads as the model's
    if layers:
        if len(layers) != model.plan.num_hidden_layers:
            raise ValueError(f"{len(layers)} layers of {path} for a model of {model.plan.num_hidden_layers}: give "
                             "one per layer of the model")
        # The checkpoint's own config tells its depth; config_file describes the model, which has fewer layers.
        own = checkpoint_files.has_own_config(path)
        weights = distillation.layers_of(checkpoint_files.load(path, config_file=None if own else config_file,
                                                               model_type=model_type)[1], layers)
    else:
        prefix = tf.train.latest_checkpoint(path) if os.path.isdir(path) else path
        weights = read_training_checkpoint(prefix, model) if prefix else None
    if weights is None:
        _, weights, _ = checkpoint_files.load(path, config_file=config_file, model_type=model_type)
    bad = [name for name, value in weights.items() if not np.isfinite(value).all()]
    if bad:  # a diverged run's weights: everything computed from them would be NaN
        raise ValueError(f"{path}: weights hold NaN or Inf ({', '.join(bad[:3])}{', ...' if len(bad) > 3 else ''})")
    restored = checkpoints.set_weights(model, weights, strict=False, source=path)
    logging.info("warm start: %d of %d weights restored from %s", len(restored),
                 len(checkpoints.keras_variables(model)), path)
    return restored
