"""Checkpoint names as each layer declares them: every weight's original TF1 name and Hugging Face name.

A layer's `weight_names()` lists its own weights relative to its scope and its children's under their scopes;
`bert_tf.checkpoints` walks a model from the top to get the whole table. The canonical layout of a weight is the
TF1 one: `hf_transpose` says the Hugging Face tensor is its transpose (`nn.Linear.weight` is [out, in] while TF1
kernels are [in, out]), `keras_transpose` that the Keras variable is (the original's `output_weights` are
[out, in] while Keras Dense kernels are [in, out]).
"""

from __future__ import annotations

import dataclasses


@dataclasses.dataclass(frozen=True)
class WeightName:
    variable: object
    tf1: str
    hf: str
    hf_transpose: bool = False
    keras_transpose: bool = False


def scoped(names, tf1_scope: str, hf_scope: str) -> list[WeightName]:
    """`names` under a TF1 scope ("attention/") and a Hugging Face scope ("attention.")."""
    return [dataclasses.replace(n, tf1=tf1_scope + n.tf1, hf=hf_scope + n.hf) for n in names]


def dense_names(layer, tf1: str, hf: str) -> list[WeightName]:
    """A Keras Dense as TF1's `<tf1>/kernel`, `<tf1>/bias` and HF's `<hf>.weight` (transposed), `<hf>.bias`."""
    return [WeightName(layer.kernel, f"{tf1}/kernel", f"{hf}.weight", hf_transpose=True),
            WeightName(layer.bias, f"{tf1}/bias", f"{hf}.bias")]


def layer_norm_names(layer, tf1: str, hf: str) -> list[WeightName]:
    """A Keras LayerNormalization as TF1's `<tf1>/gamma`, `<tf1>/beta` and HF's `<hf>.weight`, `<hf>.bias`."""
    return [WeightName(layer.gamma, f"{tf1}/gamma", f"{hf}.weight"),
            WeightName(layer.beta, f"{tf1}/beta", f"{hf}.bias")]


def output_names(layer) -> list[WeightName]:
    """A Keras Dense stored as the original's `output_weights` [C, H] and `output_bias` (HF `weight`, `bias`)."""
    return [WeightName(layer.kernel, "output_weights", "weight", keras_transpose=True),
            WeightName(layer.bias, "output_bias", "bias")]
