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


def structure(config=None):
    """The smallest config whose model has the same weight names as `config`'s (a BertConfig, a cousin's config
    of `bert_tf.model_types`, or for BERT just its number of layers; None: one BERT layer): name tables are
    walked from a model of it."""
    from bert_tf.config import BertConfig

    if type(config) is BertConfig:  # BERT's names depend on the depth alone
        config = config.num_hidden_layers
    if not isinstance(config, BertConfig):  # a model built from an EncoderPlan has BERT's names
        layers = config if isinstance(config, int) else 1
        return BertConfig(vocab_size=1, hidden_size=1, num_hidden_layers=layers, num_attention_heads=1,
                          intermediate_size=1, max_position_embeddings=1, type_vocab_size=1)
    sizes = dict(vocab_size=1, hidden_size=1, num_attention_heads=1, intermediate_size=1, max_position_embeddings=1,
                 pruned_heads=())
    if hasattr(config, "embedding_size"):  # ALBERT: a projection when the widths differ
        sizes.update(embedding_size=1 if config.embedding_size == config.hidden_size else 2)
    if config.type_vocab_size:
        sizes.update(type_vocab_size=1)
    return dataclasses.replace(config, **sizes)


@functools.cache
def _body_table(shape, pooler: bool) -> tuple[Entry, ...]:
    from bert_tf.modeling import BertEncoder

    with _same_random_state():
        return tuple(_entries(BertEncoder(shape, with_pooler=pooler)))


@functools.cache
def _head_tables(shape) -> dict[str, tuple[Entry, ...]]:
    from bert_tf.modeling import HEAD_SCOPES, BertClassifier, BertPretrainer, BertSpanLabeler
    from bert_tf.modeling.names import family_names, scoped

    with _same_random_state():
        models = (BertPretrainer(shape), BertClassifier(shape, 1), BertSpanLabeler(shape))
    holders = {head: model for model in models for head in HEAD_SCOPES if getattr(model, head, None) is not None}
    return {head: tuple(Entry(n.tf1, n.hf, n.hf_transpose, n.keras_transpose)
                        for n in family_names(scoped(getattr(holders[head], head).weight_names(), *scopes), shape))
            for head, scopes in HEAD_SCOPES.items()}


def head_tables(config=None) -> dict[str, tuple[Entry, ...]]:
    """{head: its weights' names}, as the heads of the models that hold them declare them (HEAD_SCOPES order),
    named as `config`'s family names them (BERT by default)."""
    return _head_tables(structure(config))


def name_table(config, heads=(), pooler: bool = True) -> list[Entry]:
    """Every weight of the body `config` describes (or of a BERT body of that many layers) plus the named heads
    (keys of HEAD_SCOPES), in checkpoint order, as the layers declare them (pooler=False: a body saved without
    one)."""
    shape = structure(config)
    return list(_body_table(shape, pooler)) + [e for head in heads for e in _head_tables(shape)[head]]


def pooler_table(config=None) -> tuple[Entry, ...]:
    """The pooler's weights: what a body with one has and one without lacks."""
    shape = structure(config)
    without = set(_body_table(shape, False))
    return tuple(e for e in _body_table(shape, True) if e not in without)


def _carries(names: set, table) -> bool:
    return any(e.tf1 in names or e.hf in names for e in table)


def heads_of(names, config=None) -> tuple[str, ...]:
    """Which heads a set of TF1 or Hugging Face tensor names carries (in HEAD_SCOPES order)."""
    names = set(names)
    return tuple(head for head, table in head_tables(config).items() if _carries(names, table))


def has_pooler(names, config=None) -> bool:
    """Whether TF1 or Hugging Face tensor names (with or without the body prefix, `bert.`) include the pooler."""
    prefix = _hf_body(config)
    names = {n[len(prefix):] if n.startswith(prefix) else n for n in names}
    return _carries(names, pooler_table(config))


def heads_of_model(model) -> tuple[str, ...]:
    return tuple(head for head in head_tables(model.config) if getattr(model, head, None) is not None)


def _hf_body(config) -> str:
    from bert_tf.modeling.names import family_of

    return family_of(config).hf_body


def model_has_pooler(model) -> bool:
    return getattr(getattr(model, "encoder", model), "pooler", None) is not None


# ----------------------------------------------------------------------------------------------- Hugging Face


def tf1_to_hf(weights: dict[str, np.ndarray], config, prefix: str | None = None) -> dict:
    """Canonical weights -> HF state dict of the body `config` describes (or a BERT body of that many layers).
    Body names get `prefix` (the family's, "bert." for BERT, by default; "" for a model without heads)."""
    prefix = _hf_body(config) if prefix is None else prefix
    body = {e.tf1 for e in name_table(config)}
    table = name_table(config, heads_of(weights, config), has_pooler(weights, config))
    missing = [e.tf1 for e in table if e.tf1 not in weights]
    if missing:
        raise ValueError(f"cannot convert to Hugging Face names: missing {', '.join(missing)}")
    out = {}
    for e in table:
        value = weights[e.tf1]
        out[prefix + e.hf if e.tf1 in body else e.hf] = np.ascontiguousarray(value.T if e.hf_transpose else value)
    return out


# Buffers and tied copies of the word embeddings and masked-LM bias: no weights of their own.
_HF_IGNORABLE = re.compile(r"(^|\.)(position_ids|token_type_ids)$|^(cls\.predictions|predictions|lm_head)\.decoder\."
                           r"(weight|bias)$|^vocab_projector\.weight$")


_DISPLAY_NAMES = {"bert": "BERT", "albert": "ALBERT", "roberta": "RoBERTa", "distilbert": "DistilBERT"}


def hf_to_tf1(state: dict, config, source: str = "<state dict>") -> dict[str, np.ndarray]:
    """HF state dict (with or without the body prefix, old gamma/beta names, with or without heads) of the body
    `config` describes (or a BERT body of that many layers) -> canonical."""
    prefix = _hf_body(config)
    state = {_modern_hf_name(k): v for k, v in state.items()}
    if any(k.startswith(prefix) for k in state):
        state = {k[len(prefix):] if k.startswith(prefix) else k: v for k, v in state.items()}
    table = name_table(config, heads_of(state, config))
    out, known = {}, set()
    for e in table:
        known.add(e.hf)
        if e.hf in state:
            value = np.asarray(state[e.hf])
            out[e.tf1] = np.ascontiguousarray(value.T if e.hf_transpose else value)
    # A layer pruned of every head keeps empty [0, H] projections in Hugging Face: no weights to carry.
    empty = {k for k, v in state.items() if 0 in np.shape(v)}
    unexpected = sorted(k for k in set(state) - known - empty if not _HF_IGNORABLE.search(k))
    if unexpected:
        kind = _DISPLAY_NAMES[getattr(config, "model_type", "bert")]
        raise ValueError(f"{source}: unexpected Hugging Face tensors (not {kind} body or head weights): "
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
    pooler = {e.tf1 for e in pooler_table(model.config)}
    # Weights of heads (or a pooler) the model does not have are another model's business, not "unexpected".
    skipped = {e.tf1 for head, table in head_tables(model.config).items() if head not in heads_of_model(model)
               for e in table}
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
    if pooler and pooler <= set(missing):
        problems.append("the checkpoint has no pooler (like a Hugging Face BertForMaskedLM, or a BertModel saved "
                        "with add_pooling_layer=False), so it cannot give this model a pooled_output; for sequence "
                        "outputs build BertEncoder(config, with_pooler=False)")
    return "; ".join(problems)


def _shape(variable, transpose):
    shape = tuple(variable.shape)
    return shape[::-1] if transpose else shape
