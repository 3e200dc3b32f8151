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


# ----------------------------------------------------------------------------------------------- BERT's cousins

# A block's sub-layers by their BERT TF1 path: (the family's TF1 path, its Hugging Face path).
_BERT_PARTS = ("attention/self/query", "attention/self/key", "attention/self/value", "attention/output/dense",
               "attention/output/LayerNorm", "intermediate/dense", "output/dense", "output/LayerNorm")


@dataclasses.dataclass(frozen=True)
class Family:
    """How a family names BERT's weights: the Hugging Face prefix of its body (`bert.`), each block's scopes, its
    blocks' sub-layers, and Hugging Face prefixes renamed outside the blocks (pooler, heads)."""

    hf_body: str
    block_tf1: str  # formatted with group, inner (ALBERT) or layer
    block_hf: str
    parts: tuple[tuple[str, str], ...]  # per _BERT_PARTS: (TF1 path, HF path)
    hf_renames: tuple[tuple[str, str], ...] = ()


FAMILIES = {
    "bert": Family("bert.", "bert/encoder/layer_{layer}/", "encoder.layer.{layer}.",
                   tuple((p, p.replace("/", ".")) for p in _BERT_PARTS)),
    # The original ALBERT's TF1 scopes (google-research/albert) and Hugging Face's AlbertModel / ForPreTraining.
    "albert": Family(
        "albert.", "bert/encoder/transformer/group_{group}/inner_group_{inner}/",
        "encoder.albert_layer_groups.{group}.albert_layers.{inner}.",
        (("attention_1/self/query", "attention.query"), ("attention_1/self/key", "attention.key"),
         ("attention_1/self/value", "attention.value"), ("attention_1/output/dense", "attention.dense"),
         ("LayerNorm", "attention.LayerNorm"), ("ffn_1/intermediate/dense", "ffn"),
         ("ffn_1/intermediate/output/dense", "ffn_output"), ("LayerNorm_1", "full_layer_layer_norm")),
        (("pooler.dense.", "pooler."), ("cls.predictions.transform.", "predictions."),
         ("cls.predictions.bias", "predictions.bias"), ("cls.seq_relationship.", "sop_classifier.classifier."))),
    # RoBERTa and DistilBERT have no TF1 release: their TF1 names are BERT's.
    "roberta": Family(
        "roberta.", "bert/encoder/layer_{layer}/", "encoder.layer.{layer}.",
        tuple((p, p.replace("/", ".")) for p in _BERT_PARTS),
        (("cls.predictions.transform.dense.", "lm_head.dense."),
         ("cls.predictions.transform.LayerNorm.", "lm_head.layer_norm."), ("cls.predictions.bias", "lm_head.bias"))),
    "distilbert": Family(
        "distilbert.", "bert/encoder/layer_{layer}/", "transformer.layer.{layer}.",
        tuple(zip(_BERT_PARTS, ("attention.q_lin", "attention.k_lin", "attention.v_lin", "attention.out_lin",
                                "sa_layer_norm", "ffn.lin1", "ffn.lin2", "output_layer_norm"), strict=True)),
        (("cls.predictions.transform.dense.", "vocab_transform."),
         ("cls.predictions.transform.LayerNorm.", "vocab_layer_norm."),
         ("cls.predictions.bias", "vocab_projector.bias"),
         ("classifier.pre_classifier.", "pre_classifier."))),  # HF's sequence classifier: two root layers
}


def family_of(config) -> Family:
    return FAMILIES[getattr(config, "model_type", "bert")]


def family_names(names, config) -> list[WeightName]:
    """BERT's names (`bert/encoder/layer_<k>/...` for the k-th distinct block) as `config`'s family names them;
    ALBERT's block k is inner block k % inner_group_num of group k // inner_group_num."""
    family = family_of(config)
    if family is FAMILIES["bert"]:
        return list(names)
    inner = getattr(config, "inner_group_num", 1)
    parts = dict(zip(_BERT_PARTS, family.parts, strict=True))
    out = []
    for n in names:
        tf1, hf = n.tf1, n.hf
        if tf1.startswith("bert/encoder/layer_"):
            layer, rest = tf1[len("bert/encoder/layer_"):].split("/", 1)
            part, leaf = rest.rsplit("/", 1)
            scope = dict(layer=int(layer), group=int(layer) // inner, inner=int(layer) % inner)
            tf1 = family.block_tf1.format(**scope) + parts[part][0] + "/" + leaf
            hf = family.block_hf.format(**scope) + parts[part][1] + "." + hf.rsplit(".", 1)[1]
        else:
            hf = next((new + hf[len(old):] for old, new in family.hf_renames if hf.startswith(old)), hf)
        out.append(dataclasses.replace(n, tf1=tf1, hf=hf))
    return out
