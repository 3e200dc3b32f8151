"""Checkpoint name tables: original TF1 <-> bert_tf (Keras) <-> Hugging Face, as arrays in memory.

The canonical form is a dict {original TF1 variable name: numpy array in the TF1 layout}. Every format converts
to and from it through one explicit table, so a name is never guessed from another: each layer declares its
weights' names (`weight_names()`, `bert_tf.modeling.names`) and the tables are walked from the model. Files on disk
are `checkpoint_files.py`'s business.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import logging
import random
import re

import numpy as np


@dataclasses.dataclass(frozen=True)
class Entry:
    """One weight's names: TF1, Hugging Face (body names without `bert.`), and how its layouts differ (see
    `bert_tf.modeling.names`)."""

    tf1: str
    hf: str
    hf_transpose: bool = False
    keras_transpose: bool = False


def model_names(model) -> list:
    """The model's `WeightName`s, walked from the top (`weight_names()`), each variable once: a block that serves
    several depths has the names of its first."""
    seen, names = set(), []
    for name in model.weight_names():
        if id(name.variable) not in seen:
            seen.add(id(name.variable))
            names.append(name)
    return names


def _entries(model) -> list[Entry]:
    return [Entry(n.tf1, n.hf, n.hf_transpose, n.keras_transpose) for n in model_names(model)]


@contextlib.contextmanager
def _same_random_state():
    """Building layers draws their default seeds from Python's `random`: a name table built on the side must not
    change what a seeded run draws next."""
    state = random.getstate()
    try:
        yield
    finally:
        random.setstate(state)


@functools.cache
def _body_table(num_hidden_layers: int, pooler: bool) -> tuple[Entry, ...]:
    from bert_tf.config import BertConfig
    from bert_tf.modeling import BertEncoder

    config = BertConfig(vocab_size=1, hidden_size=1, num_hidden_layers=num_hidden_layers, num_attention_heads=1,
                        intermediate_size=1, max_position_embeddings=1, type_vocab_size=1)
    with _same_random_state():
        return tuple(_entries(BertEncoder(config, with_pooler=pooler)))


@functools.cache
def head_tables() -> dict[str, tuple[Entry, ...]]:
    """{head: its weights' names}, as the heads of the models that hold them declare them (HEAD_SCOPES order)."""
    from bert_tf.config import BertConfig
    from bert_tf.modeling import HEAD_SCOPES, BertClassifier, BertPretrainer, BertSpanLabeler
    from bert_tf.modeling.names import scoped

    config = BertConfig(vocab_size=1, hidden_size=1, num_hidden_layers=1, num_attention_heads=1,
                        intermediate_size=1, max_position_embeddings=1, type_vocab_size=1)
    with _same_random_state():
        models = (BertPretrainer(config), BertClassifier(config, 1), BertSpanLabeler(config))
    holders = {head: model for model in models for head in HEAD_SCOPES if getattr(model, head, None) is not None}
    return {head: tuple(Entry(n.tf1, n.hf, n.hf_transpose, n.keras_transpose)
                        for n in scoped(getattr(holders[head], head).weight_names(), *scopes))
            for head, scopes in HEAD_SCOPES.items()}


def name_table(num_hidden_layers: int, heads=(), pooler: bool = True) -> list[Entry]:
    """Every weight of a BERT body with L layers plus the named heads (keys of HEAD_SCOPES), in checkpoint
    order, as the layers declare them (pooler=False: a body saved without one)."""
    return list(_body_table(num_hidden_layers, pooler)) + [e for head in heads for e in head_tables()[head]]


def pooler_table() -> tuple[Entry, ...]:
    """The pooler's weights: what a body with one has and one without lacks."""
    without = set(_body_table(1, False))
    return tuple(e for e in _body_table(1, True) if e not in without)


def _carries(names: set, table) -> bool:
    return any(e.tf1 in names or e.hf in names for e in table)


def heads_of(names) -> tuple[str, ...]:
    """Which heads a set of TF1 or Hugging Face tensor names carries (in HEAD_SCOPES order)."""
    names = set(names)
    return tuple(head for head, table in head_tables().items() if _carries(names, table))


def has_pooler(names) -> bool:
    """Whether TF1 or Hugging Face tensor names (with or without `bert.`) include the pooler."""
    names = {n[len("bert."):] if n.startswith("bert.") else n for n in names}
    return _carries(names, pooler_table())


def heads_of_model(model) -> tuple[str, ...]:
    return tuple(head for head in head_tables() if getattr(model, head, None) is not None)


def model_has_pooler(model) -> bool:
    return getattr(getattr(model, "encoder", model), "pooler", None) is not None


# ----------------------------------------------------------------------------------------------- Hugging Face


def tf1_to_hf(weights: dict[str, np.ndarray], num_hidden_layers: int, prefix: str = "bert.") -> dict:
    """Canonical weights -> HF state dict. Body names get `prefix` ("bert." for models with heads)."""
    body = {e.tf1 for e in _body_table(num_hidden_layers, True)}
    table = name_table(num_hidden_layers, heads_of(weights), has_pooler(weights))
    missing = [e.tf1 for e in table if e.tf1 not in weights]
    if missing:
        raise ValueError(f"cannot convert to Hugging Face names: missing {', '.join(missing)}")
    out = {}
    for e in table:
        value = weights[e.tf1]
        out[prefix + e.hf if e.tf1 in body else e.hf] = np.ascontiguousarray(value.T if e.hf_transpose else value)
    return out


def hf_to_tf1(state: dict, num_hidden_layers: int, source: str = "<state dict>") -> dict[str, np.ndarray]:
    """HF state dict (with or without `bert.`, old gamma/beta names, with or without heads) -> canonical."""
    state = {_modern_hf_name(k): v for k, v in state.items()}
    if any(k.startswith("bert.") for k in state):
        state = {k[len("bert."):] if k.startswith("bert.") else k: v for k, v in state.items()}
    table = name_table(num_hidden_layers, heads_of(state))
    out, known = {}, set()
    for e in table:
        known.add(e.hf)
        if e.hf in state:
            value = np.asarray(state[e.hf])
            out[e.tf1] = np.ascontiguousarray(value.T if e.hf_transpose else value)
    # Buffers and tied copies that carry no weights of their own.
    ignorable = {"embeddings.position_ids", "cls.predictions.decoder.weight", "cls.predictions.decoder.bias"}
    # A layer pruned of every head keeps empty [0, H] projections in Hugging Face: no weights to carry.
    empty = {k for k, v in state.items() if 0 in np.shape(v)}
    unexpected = sorted(set(state) - known - ignorable - empty)
    if unexpected:
        raise ValueError(f"{source}: unexpected Hugging Face tensors (not BERT body or head weights): "
                         + ", ".join(f"{k} {tuple(np.shape(state[k]))}" for k in unexpected))
    return out


def _modern_hf_name(name: str) -> str:
    # Old HF checkpoints name LayerNorm parameters gamma/beta.
    return re.sub(r"LayerNorm\.gamma$", "LayerNorm.weight", re.sub(r"LayerNorm\.beta$", "LayerNorm.bias", name))


# ----------------------------------------------------------------------------------------------- Keras models


def keras_variables(model) -> dict[str, tuple[object, bool]]:
    """{TF1 name: (Keras variable, keras_transpose)} for a BertEncoder or any model holding one as `encoder`."""
    return {n.tf1: (n.variable, n.keras_transpose) for n in model_names(model)}


def get_weights(model) -> dict[str, np.ndarray]:
    """A Keras BERT model's weights in canonical (TF1) form."""
    return {name: (np.asarray(v.numpy()).T if t else np.asarray(v.numpy()))
            for name, (v, t) in keras_variables(model).items()}


def set_weights(model, weights: dict[str, np.ndarray], strict: bool = True, source: str = "checkpoint") -> list:
    """Assigns canonical weights to a Keras BERT model; returns the names restored.

    strict: missing, unexpected or mis-shaped names raise one ValueError listing them all (with shapes).
    Otherwise (warm start, docs/ORIGINAL.md §1.4): the intersection by exact name is restored and the rest logged.
    A checkpoint's heads (or pooler) that the model lacks (e.g. `cls/*` when fine-tuning) are skipped, not
    "unexpected"; what the model has and the checkpoint lacks is "missing" (a pooler, with a hint to do without).
    """
    targets = keras_variables(model)
    message = _misfit(model, weights, targets)
    if message and strict:
        raise ValueError(f"{source} does not fit the model: {message}")
    if message:
        logging.warning("%s: warm start leaves some weights untouched: %s", source, message)
    restored = []
    for name, (variable, transpose) in targets.items():
        if name in weights and tuple(weights[name].shape) == tuple(_shape(variable, transpose)):
            value = weights[name].T if transpose else weights[name]
            variable.assign(value.astype(variable.dtype))
            logging.debug("%s *INIT_FROM_CKPT* %s", name, source)  # one line per weight: callers log the count
            restored.append(name)
    return restored


def _misfit(model, weights: dict, targets: dict) -> str:
    """Every shape mismatch, missing and unexpected name, with shapes, in one message ("" if none)."""
    pooler = {e.tf1 for e in pooler_table()}
    # Weights of heads (or a pooler) the model does not have are another model's business, not "unexpected".
    skipped = {e.tf1 for head, table in head_tables().items() if head not in heads_of_model(model) for e in table}
    skipped |= set() if model_has_pooler(model) else pooler
    # Hugging Face builds span and tagging models without a pooler; those heads never read it.
    optional = pooler if not getattr(model, "uses_pooler", True) else set()
    mismatched = [f"{n}: checkpoint {tuple(weights[n].shape)} vs model {tuple(_shape(*targets[n]))}"
                  for n in targets if n in weights and tuple(weights[n].shape) != tuple(_shape(*targets[n]))]
    missing = [n for n in targets if n not in weights and n not in optional]
    unexpected = [f"{n} {tuple(weights[n].shape)}" for n in weights if n not in targets and n not in skipped]
    problems = [f"{label}: {', '.join(items)}" for label, items in
                (("shape mismatch", mismatched), ("missing from checkpoint",
                                                  [f"{n} {tuple(_shape(*targets[n]))}" for n in missing]),
                 ("unexpected in checkpoint", unexpected)) if items]
    if pooler <= set(missing):
        problems.append("the checkpoint has no pooler (like a Hugging Face BertForMaskedLM, or a BertModel saved "
                        "with add_pooling_layer=False), so it cannot give this model a pooled_output; for sequence "
                        "outputs build BertEncoder(config, with_pooler=False)")
    return "; ".join(problems)


def _shape(variable, transpose):
    shape = tuple(variable.shape)
    return shape[::-1] if transpose else shape
