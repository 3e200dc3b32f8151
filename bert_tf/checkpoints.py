"""Checkpoint name tables: original TF1 <-> bert_tf (Keras) <-> Hugging Face, as arrays in memory.

The canonical form is a dict {original TF1 variable name: numpy array in the TF1 layout}. Every format converts
to and from it through one explicit table (`name_table`), so a name is never guessed from another. Files on disk
are `checkpoint_files.py`'s business.
"""

from __future__ import annotations

import dataclasses
import logging
import re

import numpy as np


@dataclasses.dataclass(frozen=True)
class Entry:
    """One weight: its TF1 name, its Hugging Face name (no `bert.` prefix), and where it lives in Keras.

    `hf_transpose`: HF `nn.Linear.weight` is [out, in] while TF1 kernels are [in, out].
    `keras_transpose`: the original `output_weights` are [out, in] while Keras Dense kernels are [in, out].
    """

    tf1: str
    hf: str
    keras: tuple[str, ...]  # attribute path from the Keras model
    hf_transpose: bool = False
    keras_transpose: bool = False


def _dense(tf1, hf, keras_path):
    return [Entry(f"{tf1}/kernel", f"{hf}.weight", (*keras_path, "kernel"), hf_transpose=True),
            Entry(f"{tf1}/bias", f"{hf}.bias", (*keras_path, "bias"))]


def _layer_norm(tf1, hf, keras_path):
    return [Entry(f"{tf1}/gamma", f"{hf}.weight", (*keras_path, "gamma")),
            Entry(f"{tf1}/beta", f"{hf}.bias", (*keras_path, "beta"))]


def _block_entries(i: int) -> list[Entry]:
    tf1, hf, k = f"bert/encoder/layer_{i}", f"encoder.layer.{i}", ("encoder_layers", str(i))
    return [
        *_dense(f"{tf1}/attention/self/query", f"{hf}.attention.self.query", (*k, "attention", "query")),
        *_dense(f"{tf1}/attention/self/key", f"{hf}.attention.self.key", (*k, "attention", "key")),
        *_dense(f"{tf1}/attention/self/value", f"{hf}.attention.self.value", (*k, "attention", "value")),
        *_dense(f"{tf1}/attention/output/dense", f"{hf}.attention.output.dense",
                (*k, "attention", "output_dense")),
        *_layer_norm(f"{tf1}/attention/output/LayerNorm", f"{hf}.attention.output.LayerNorm",
                     (*k, "attention", "layer_norm")),
        *_dense(f"{tf1}/intermediate/dense", f"{hf}.intermediate.dense", (*k, "intermediate")),
        *_dense(f"{tf1}/output/dense", f"{hf}.output.dense", (*k, "output_dense")),
        *_layer_norm(f"{tf1}/output/LayerNorm", f"{hf}.output.LayerNorm", (*k, "layer_norm")),
    ]


def encoder_table(num_hidden_layers: int, pooler: bool = True) -> list[Entry]:
    """The body: embeddings, L blocks, pooler (spec §1.4). Keras paths are relative to a BertEncoder.

    pooler=False: the body of a Hugging Face model saved without one (BertForMaskedLM, `add_pooling_layer=False`).
    """
    emb = ("embeddings",)
    table = [
        Entry("bert/embeddings/word_embeddings", "embeddings.word_embeddings.weight", (*emb, "word_embeddings")),
        Entry("bert/embeddings/token_type_embeddings", "embeddings.token_type_embeddings.weight",
              (*emb, "token_type_embeddings")),
        Entry("bert/embeddings/position_embeddings", "embeddings.position_embeddings.weight",
              (*emb, "position_embeddings")),
        *_layer_norm("bert/embeddings/LayerNorm", "embeddings.LayerNorm", (*emb, "layer_norm")),
    ]
    for i in range(num_hidden_layers):
        table += _block_entries(i)
    return table + (pooler_table() if pooler else [])


def pooler_table() -> list[Entry]:
    return _dense("bert/pooler/dense", "pooler.dense", ("pooler",))


def masked_lm_table() -> list[Entry]:
    """`cls/predictions/*`: the MLM transform and output bias (the output kernel is tied to word_embeddings)."""
    mlm = ("masked_lm",)
    return [
        *_dense("cls/predictions/transform/dense", "cls.predictions.transform.dense", (*mlm, "transform")),
        *_layer_norm("cls/predictions/transform/LayerNorm", "cls.predictions.transform.LayerNorm",
                     (*mlm, "layer_norm")),
        Entry("cls/predictions/output_bias", "cls.predictions.bias", (*mlm, "output_bias")),
    ]


def next_sentence_table() -> list[Entry]:
    """`cls/seq_relationship/*`: the NSP head on the pooled output."""
    return [Entry("cls/seq_relationship/output_weights", "cls.seq_relationship.weight",
                  ("next_sentence", "dense", "kernel"), keras_transpose=True),
            Entry("cls/seq_relationship/output_bias", "cls.seq_relationship.bias",
                  ("next_sentence", "dense", "bias"))]


def classifier_table() -> list[Entry]:
    """run_classifier's root-scope `output_weights` [C, H] and `output_bias` (also used for tagging and choices)."""
    return [Entry("output_weights", "classifier.weight", ("classifier", "dense", "kernel"), keras_transpose=True),
            Entry("output_bias", "classifier.bias", ("classifier", "dense", "bias"))]


def span_table() -> list[Entry]:
    """run_squad's `cls/squad/output_weights` [2, H] and `output_bias` (HF: `qa_outputs`)."""
    return [Entry("cls/squad/output_weights", "qa_outputs.weight", ("span", "dense", "kernel"), keras_transpose=True),
            Entry("cls/squad/output_bias", "qa_outputs.bias", ("span", "dense", "bias"))]


# Each head is named after the attribute that holds it in a Keras model. The original pretraining checkpoint
# carries masked_lm + next_sentence; Hugging Face's BertForMaskedLM (and TF1 checkpoints stripped of NSP) only
# masked_lm, so the two are separate heads.
HEAD_TABLES = {"masked_lm": masked_lm_table, "next_sentence": next_sentence_table,
               "classifier": classifier_table, "span": span_table}


def name_table(num_hidden_layers: int, heads=(), pooler: bool = True) -> list[Entry]:
    """Every weight of a BERT body plus the named heads (keys of HEAD_TABLES), in checkpoint order."""
    return encoder_table(num_hidden_layers, pooler) + [e for head in heads for e in HEAD_TABLES[head]()]


def _carries(names: set, table: list[Entry]) -> bool:
    return any(e.tf1 in names or e.hf in names for e in table)


def heads_of(names) -> tuple[str, ...]:
    """Which heads a set of TF1 or Hugging Face tensor names carries (in HEAD_TABLES order)."""
    names = set(names)
    return tuple(head for head, table in HEAD_TABLES.items() if _carries(names, table()))


def has_pooler(names) -> bool:
    """Whether TF1 or Hugging Face tensor names (with or without `bert.`) include the pooler."""
    names = {n[len("bert."):] if n.startswith("bert.") else n for n in names}
    return _carries(names, pooler_table())


def heads_of_model(model) -> tuple[str, ...]:
    return tuple(head for head in HEAD_TABLES if hasattr(model, head))


def model_has_pooler(model) -> bool:
    return getattr(getattr(model, "encoder", model), "pooler", None) is not None


# ----------------------------------------------------------------------------------------------- Hugging Face


def tf1_to_hf(weights: dict[str, np.ndarray], num_hidden_layers: int, prefix: str = "bert.") -> dict:
    """Canonical weights -> HF state dict. Body names get `prefix` ("bert." for models with heads)."""
    body = {e.tf1 for e in encoder_table(num_hidden_layers)}
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
    unexpected = sorted(set(state) - known - ignorable)
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
    encoder = getattr(model, "encoder", model)
    body = {e.tf1 for e in encoder_table(encoder.config.num_hidden_layers)}
    out = {}
    for e in name_table(encoder.config.num_hidden_layers, heads_of_model(model), model_has_pooler(model)):
        obj = encoder if e.tf1 in body else model
        for attr in e.keras:
            obj = obj[int(attr)] if attr.isdigit() else getattr(obj, attr)
        out[e.tf1] = (obj, e.keras_transpose)
    return out


def get_weights(model) -> dict[str, np.ndarray]:
    """A Keras BERT model's weights in canonical (TF1) form."""
    return {name: (np.asarray(v.numpy()).T if t else np.asarray(v.numpy()))
            for name, (v, t) in keras_variables(model).items()}


def set_weights(model, weights: dict[str, np.ndarray], strict: bool = True, source: str = "checkpoint") -> list:
    """Assigns canonical weights to a Keras BERT model; returns the names restored.

    strict: missing, unexpected or mis-shaped names raise one ValueError listing them all (with shapes).
    Otherwise (warm start, spec §1.4): the intersection by exact name is restored and the rest logged.
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
            logging.info("%s *INIT_FROM_CKPT* %s", name, source)
            restored.append(name)
    return restored


def _misfit(model, weights: dict, targets: dict) -> str:
    """Every shape mismatch, missing and unexpected name, with shapes, in one message ("" if none)."""
    pooler = {e.tf1 for e in pooler_table()}
    # Weights of heads (or a pooler) the model does not have are another model's business, not "unexpected".
    skipped = {e.tf1 for head, table in HEAD_TABLES.items() if head not in heads_of_model(model) for e in table()}
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
