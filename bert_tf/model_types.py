"""BERT's cousins as configs: ALBERT, RoBERTa and DistilBERT, each a BertConfig with what its family adds.

One concept, `model_type` ("bert", "albert", "roberta", "distilbert"), names the family end to end: the config class,
the names its checkpoints give the weights (`bert_tf.modeling.names`), `convert_checkpoint.py --model_type`. The
bodies are the same encoder built from parts (`bert_tf.modeling.plan`): ALBERT's factorised embeddings and shared
blocks, RoBERTa's positions after its padding index, DistilBERT's body without token types or pooler.

Configs read and write their families' JSON: `albert_config.json` (the original ALBERT's keys), and Hugging Face's
`config.json` of each (`from_hf` / `to_hf`, which translate the activation names: Hugging Face's "gelu" is the erf
form, bert_tf's the original tanh approximation). No TensorFlow here.
"""

from __future__ import annotations

import dataclasses
from typing import ClassVar

from bert_tf.config import BertConfig, check_positive, read_json_object

# Hugging Face's "gelu" is the exact erf form; the original's "gelu" is the tanh approximation.
HF_TO_BERT_TF_ACT = {"gelu": "gelu_exact", "gelu_new": "gelu", "gelu_pytorch_tanh": "gelu", "relu": "relu",
                     "tanh": "tanh", "linear": "linear"}
BERT_TF_TO_HF_ACT = {"gelu": "gelu_new", "gelu_exact": "gelu", "relu": "relu", "tanh": "tanh",
                     "linear": "linear"}


def hf_activation(act, source):
    if act not in HF_TO_BERT_TF_ACT:
        raise ValueError(f"{source}: hidden_act {act!r} has no bert_tf equivalent ({sorted(HF_TO_BERT_TF_ACT)})")
    return HF_TO_BERT_TF_ACT[act]


def to_hf_activation(act):
    return BERT_TF_TO_HF_ACT[(act or "linear").lower()]


class _Cousin:
    """What the cousins share: `model_type` in their JSON (a config of another type is refused), a LayerNorm
    epsilon of their own, no head pruning."""

    model_type: ClassVar[str]
    HF_ARCHITECTURES: ClassVar[dict] = {}

    def _check_cousin(self):
        if not (isinstance(self.layer_norm_eps, (int, float)) and 0 < self.layer_norm_eps < 1):
            raise ValueError(f"{type(self).__name__}.layer_norm_eps must lie in (0, 1), got {self.layer_norm_eps!r}")
        if self.pruned_heads:
            raise ValueError(f"{type(self).__name__}: pruned_heads are a BERT config's only")

    @classmethod
    def from_dict(cls, values: dict, source: str = "<dict>"):
        _class_of(values, cls.model_type, source)  # refuses a JSON of another type
        return super().from_dict({k: v for k, v in values.items() if k != "model_type"}, source=source)

    def to_dict(self) -> dict:
        return {"model_type": self.model_type, **super().to_dict()}

    @property
    def has_pooler(self) -> bool:
        return True


@dataclasses.dataclass(frozen=True)
class AlbertConfig(_Cousin, BertConfig):
    """ALBERT (Lan et al., 2019): embeddings of width `embedding_size` projected to `hidden_size`, and
    `num_hidden_groups` groups of `inner_group_num` blocks shared across the depths: depth d runs every block of
    group d // (num_hidden_layers / num_hidden_groups). The keys of the original `albert_config.json`."""

    model_type: ClassVar[str] = "albert"
    type_vocab_size: int = 2
    embedding_size: int = 128
    num_hidden_groups: int = 1
    inner_group_num: int = 1
    layer_norm_eps: float = 1e-12

    def __post_init__(self):
        super().__post_init__()
        for name in ("embedding_size", "num_hidden_groups", "inner_group_num"):
            check_positive("AlbertConfig", name, getattr(self, name))
        if self.num_hidden_layers % self.num_hidden_groups:
            raise ValueError(f"AlbertConfig.num_hidden_layers ({self.num_hidden_layers}) is not a multiple of "
                             f"num_hidden_groups ({self.num_hidden_groups})")
        self._check_cousin()

    def depths(self):
        """The blocks each depth runs (indices into the groups' blocks, group-major)."""
        per_group = self.num_hidden_layers // self.num_hidden_groups
        return tuple(tuple((d // per_group) * self.inner_group_num + j for j in range(self.inner_group_num))
                     for d in range(self.num_hidden_layers))


@dataclasses.dataclass(frozen=True)
class RobertaConfig(_Cousin, BertConfig):
    """RoBERTa (Liu et al., 2019): BERT's body with positions numbered from `pad_token_id` + 1 (row 0 and the
    padding row are never read by a right-padded batch), one token type, LayerNorm epsilon 1e-5, erf GELU."""

    model_type: ClassVar[str] = "roberta"
    hidden_act: str | None = "gelu_exact"
    max_position_embeddings: int = 514
    type_vocab_size: int = 1
    layer_norm_eps: float = 1e-5
    pad_token_id: int = 1

    def __post_init__(self):
        super().__post_init__()
        if isinstance(self.pad_token_id, bool) or not isinstance(self.pad_token_id, int) or self.pad_token_id < 0:
            raise ValueError(f"RobertaConfig.pad_token_id must be an integer >= 0, got {self.pad_token_id!r}")
        self._check_cousin()

    @property
    def position_offset(self) -> int:
        return self.pad_token_id + 1


@dataclasses.dataclass(frozen=True)
class DistilBertConfig(_Cousin, BertConfig):
    """DistilBERT (Sanh et al., 2019): BERT's body without token types and without a pooler. Field names are
    BERT's; Hugging Face's (`dim`, `n_layers`, `n_heads`, `hidden_dim`, `activation`, `dropout`,
    `attention_dropout`) are translated by `from_hf` / `to_hf`."""

    model_type: ClassVar[str] = "distilbert"
    hidden_act: str | None = "gelu_exact"
    type_vocab_size: int = 0
    layer_norm_eps: float = 1e-12

    _positive: ClassVar[tuple[str, ...]] = tuple(n for n in BertConfig._positive if n != "type_vocab_size")

    def __post_init__(self):
        if self.type_vocab_size != 0:
            raise ValueError(f"DistilBertConfig.type_vocab_size must be 0 (no token types), got "
                             f"{self.type_vocab_size!r}")
        super().__post_init__()
        self._check_cousin()

    @property
    def has_pooler(self) -> bool:
        return False


MODEL_TYPES = {"bert": BertConfig, "albert": AlbertConfig, "roberta": RobertaConfig, "distilbert": DistilBertConfig}


def config_class(model_type: str):
    if model_type not in MODEL_TYPES:
        raise ValueError(f"model_type {model_type!r} is not one of {', '.join(MODEL_TYPES)}")
    return MODEL_TYPES[model_type]


def model_type_of(config) -> str:
    return getattr(config, "model_type", "bert")


def _class_of(values: dict, model_type: str | None, source: str):
    """The config class of a JSON object: its `model_type` key (BERT without one), or `model_type` when given; a
    JSON of another type than the one given is refused, naming both."""
    given = values.get("model_type")
    if model_type and given and given != model_type:
        raise ValueError(f"{source}: a config of model_type {given!r}, given as {model_type!r}")
    return config_class(model_type or given or "bert")


def config_from_dict(values: dict, model_type: str | None = None, source: str = "<dict>"):
    """A config of the type its `model_type` key names, or `model_type` (see `_class_of`)."""
    return _class_of(values, model_type, source).from_dict(values, source=source)


def config_from_json_file(path: str, model_type: str | None = None):
    """A `bert_config.json` / `albert_config.json` of the type its `model_type` key names, or `model_type`."""
    values = read_json_object(path)
    return _class_of(values, model_type, path).from_json_values(values, path)


# ----------------------------------------------------------------------------------------------- Hugging Face

_DISTILBERT_HF = {"dim": "hidden_size", "n_layers": "num_hidden_layers", "n_heads": "num_attention_heads",
                  "hidden_dim": "intermediate_size", "activation": "hidden_act", "dropout": "hidden_dropout_prob",
                  "attention_dropout": "attention_probs_dropout_prob"}
_HF_NAMES = {"albert": "Albert", "roberta": "Roberta", "distilbert": "DistilBert"}
_HF_ARCHITECTURES = {model_type: {(): f"{name}Model", ("masked_lm",): f"{name}ForMaskedLM",
                                  ("classifier",): f"{name}ForSequenceClassification",
                                  ("span",): f"{name}ForQuestionAnswering",
                                  **({("masked_lm", "next_sentence"): "AlbertForPreTraining"}
                                     if model_type == "albert" else {})}
                     for model_type, name in _HF_NAMES.items()}


def cousin_from_hf(values: dict, source: str):
    """A Hugging Face config.json of ALBERT, RoBERTa or DistilBERT -> its config (what bert_tf cannot honour, such
    as DistilBERT's sinusoidal positions or relative position embeddings, is refused, naming the file)."""
    model_type = values["model_type"]
    cls = config_class(model_type)
    if values.get("position_embedding_type", "absolute") != "absolute":
        raise ValueError(f"{source}: position_embedding_type {values['position_embedding_type']!r} is not absolute")
    if values.get("sinusoidal_pos_embds"):
        raise ValueError(f"{source}: sinusoidal position embeddings are not supported (learned ones are)")
    if model_type == "distilbert":
        values = {_DISTILBERT_HF.get(k, k): v for k, v in values.items()}
    fields = {f.name for f in dataclasses.fields(cls)} - {"pruned_heads"}
    kept = {k: v for k, v in values.items() if k in fields}
    if model_type == "distilbert":
        kept["type_vocab_size"] = 0
    kept["hidden_act"] = hf_activation(values.get("hidden_act", "gelu"), source)
    return cls.from_dict(kept, source=source)


def cousin_to_hf(config, heads=(), num_labels: int | None = None) -> dict:
    """The Hugging Face config.json values of a cousin's config; `heads` picks the architecture (`num_labels`: a
    sequence classifier's classes)."""
    architectures = _HF_ARCHITECTURES[config.model_type]
    architecture = architectures.get(tuple(heads))
    if architecture is None:
        raise ValueError(f"Hugging Face has no {config.model_type} model with heads {tuple(heads)} (it has "
                         f"{', '.join(map(str, architectures))})")
    values = {k: v for k, v in super(_Cousin, config).to_dict().items() if k != "pruned_heads"}
    values["hidden_act"] = to_hf_activation(config.hidden_act)
    if config.model_type == "distilbert":
        values = {k: v for k, v in values.items() if k != "type_vocab_size"}
        values = {**{_DISTILBERT_HF_BACK.get(k, k): v for k, v in values.items()}, "sinusoidal_pos_embds": False}
    labels = {"id2label": {str(i): f"LABEL_{i}" for i in range(num_labels)},
              "label2id": {f"LABEL_{i}": i for i in range(num_labels)}} if num_labels else {}
    return {"architectures": [architecture], "model_type": config.model_type, **values, **labels}


_DISTILBERT_HF_BACK = {v: k for k, v in _DISTILBERT_HF.items()}
