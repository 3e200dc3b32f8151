"""BertConfig: the original `bert_config.json` schema as a frozen dataclass (JSON keys = field names).

No TensorFlow here: configs are read by scripts and converters before any model exists.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from typing import ClassVar

from bert_tf.files import write_text

# Keys that released Chinese and multilingual configs carry; the original code ignores them, and so do we.
KNOWN_UNUSED_KEYS = frozenset(
    {
        "directionality",
        "pooler_fc_size",
        "pooler_num_attention_heads",
        "pooler_num_fc_layers",
        "pooler_size_per_head",
        "pooler_type",
    }
)

# "gelu" keeps the original's meaning (tanh approximation); "gelu_exact" is the erf form that Hugging Face calls
# "gelu". Converters translate between the two vocabularies (see checkpoints.py), never copy names.
# An empty or null hidden_act means no activation, as "linear" (the original's get_activation returns None).
ACTIVATIONS = ("gelu", "gelu_exact", "relu", "tanh", "linear")


def check_positive(owner: str, name: str, value) -> None:
    """Raises ValueError naming `owner.name` unless `value` is an integer >= 1."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{owner}.{name} must be a positive integer, got {value!r}")


def check_activation(owner: str, act) -> None:
    """Raises ValueError naming `owner.hidden_act` unless `act` is one of ACTIVATIONS (any case), "" or None."""
    if act not in (None, "") and (not isinstance(act, str) or act.lower() not in ACTIVATIONS):
        raise ValueError(f"{owner}.hidden_act {act!r} is not supported; use one of {ACTIVATIONS}")


@dataclasses.dataclass(frozen=True)
class BertConfig:
    """Hyperparameters of a BERT encoder, with the original defaults (docs/ORIGINAL.md §1.1).

    Attributes:
      vocab_size: rows of the word-embedding table (required: it must match vocab.txt).
      hidden_size: H, the width of every layer.
      num_hidden_layers: L, the number of Transformer blocks.
      num_attention_heads: N; H must be divisible by N (head size D = H / N).
      intermediate_size: I, the feed-forward inner width (4H in released models).
      hidden_act: the FFN and MLM-transform activation; "gelu" is the original tanh approximation; "", None and
        "linear" mean none.
      hidden_dropout_prob: dropout after the embedding LayerNorm and on both residual branches.
      attention_probs_dropout_prob: dropout on attention probabilities.
      max_position_embeddings: rows of the position table; longer sequences are an error.
      type_vocab_size: rows of the token-type table (code default 16; every released config says 2).
      initializer_range: stddev of the truncated-normal initialiser.
      pruned_heads: the attention heads removed from each layer, {layer: heads}, numbered as in the unpruned
        layer (Hugging Face's `pruned_heads`); each layer keeps N - len(pruned_heads[layer]) heads. Not in the
        original schema: written to `bert_config.json` only when not empty.
    """

    vocab_size: int
    hidden_size: int = 768
    num_hidden_layers: int = 12
    num_attention_heads: int = 12
    intermediate_size: int = 3072
    hidden_act: str | None = "gelu"
    hidden_dropout_prob: float = 0.1
    attention_probs_dropout_prob: float = 0.1
    max_position_embeddings: int = 512
    type_vocab_size: int = 16
    initializer_range: float = 0.02
    pruned_heads: tuple[tuple[int, tuple[int, ...]], ...] = ()

    model_type: ClassVar[str] = "bert"
    _positive: ClassVar[tuple[str, ...]] = ("vocab_size", "hidden_size", "num_hidden_layers", "num_attention_heads",
                                            "intermediate_size", "max_position_embeddings", "type_vocab_size")

    def __post_init__(self):
        for name in self._positive:
            check_positive(type(self).__name__, name, getattr(self, name))
        if self.hidden_size % self.num_attention_heads:
            raise ValueError(
                f"BertConfig.hidden_size ({self.hidden_size}) is not a multiple of "
                f"num_attention_heads ({self.num_attention_heads})"
            )
        for name in ("hidden_dropout_prob", "attention_probs_dropout_prob"):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or not 0.0 <= value <= 1.0:
                raise ValueError(f"BertConfig.{name} must be a probability in [0, 1], got {value!r}")
        if not isinstance(self.initializer_range, (int, float)) or self.initializer_range <= 0:
            raise ValueError(f"BertConfig.initializer_range must be > 0, got {self.initializer_range!r}")
        check_activation("BertConfig", self.hidden_act)
        object.__setattr__(self, "pruned_heads", _pruned_heads(self.pruned_heads, self.num_hidden_layers,
                                                               self.num_attention_heads))

    @property
    def head_size(self) -> int:
        """D = H / N."""
        return self.hidden_size // self.num_attention_heads

    def heads_per_layer(self) -> tuple[int, ...]:
        """N of each layer once `pruned_heads` are removed."""
        pruned = dict(self.pruned_heads)
        return tuple(self.num_attention_heads - len(pruned.get(i, ())) for i in range(self.num_hidden_layers))

    @classmethod
    def from_dict(cls, values: dict, source: str = "<dict>") -> BertConfig:
        """Builds a config from `bert_config.json` keys; released extra keys are ignored, others warned about."""
        fields = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - fields - KNOWN_UNUSED_KEYS)
        if unknown:
            logging.warning("%s: ignoring unknown BertConfig keys %s", source, unknown)
        if "vocab_size" not in values:
            raise ValueError(f"{source}: BertConfig needs 'vocab_size'")
        try:
            return cls(**{k: v for k, v in values.items() if k in fields})
        except ValueError as e:
            raise ValueError(f"{source}: {e}") from None

    @classmethod
    def from_json_file(cls, path: str) -> BertConfig:
        """Reads a `bert_config.json` (any released one loads unchanged)."""
        return cls.from_json_values(read_json_object(path), path)

    @classmethod
    def from_json_values(cls, values: dict, path: str) -> BertConfig:
        """A config from the JSON object read from `path` (which error messages name)."""
        config = cls.from_dict(values, source=path)
        if "hidden_act" not in values:
            # The code default would make it the tanh GELU, which a config written for Hugging Face's exact "gelu"
            # (or another activation) did not mean; every released bert_config.json names it.
            raise ValueError(f"{path}: no 'hidden_act': say \"gelu\" (the original's tanh approximation), "
                             "\"gelu_exact\" (erf, Hugging Face's \"gelu\"), \"relu\" or \"tanh\"")
        return config

    def to_dict(self) -> dict:
        values = dataclasses.asdict(self)
        pruned = values.pop("pruned_heads")
        if pruned:
            values["pruned_heads"] = {str(layer): list(heads) for layer, heads in pruned}
        return values

    def to_json_string(self) -> str:
        """Indent 2, sorted keys, trailing newline: the original's serialisation."""
        return json.dumps(self.to_dict(), indent=2, sort_keys=True) + "\n"

    def to_json_file(self, path: str) -> None:
        write_text(path, self.to_json_string())

    def replace(self, **changes) -> BertConfig:
        return dataclasses.replace(self, **changes)


def read_json_object(path: str) -> dict:
    """A config file's JSON object; errors name the file."""
    try:
        with open(path, encoding="utf-8") as f:
            values = json.load(f)
    except FileNotFoundError:
        raise FileNotFoundError(f"BERT config file not found: {path}") from None
    except json.JSONDecodeError as e:
        raise ValueError(f"{path}: not valid JSON ({e})") from None
    if not isinstance(values, dict):
        raise ValueError(f"{path}: expected a JSON object, got {type(values).__name__}")
    return values


def _pruned_heads(value, num_layers, num_heads):
    """`pruned_heads` as sorted ((layer, (head, ...)), ...) from a mapping (JSON keys are strings) or pairs;
    ValueError naming a layer or head that does not exist."""
    pairs = value.items() if isinstance(value, dict) else (value or ())
    pruned = {}
    for layer, heads in pairs:
        layer = int(layer)
        if not 0 <= layer < num_layers:
            raise ValueError(f"BertConfig.pruned_heads: layer {layer} does not exist (0..{num_layers - 1})")
        for head in heads:
            if not isinstance(head, int) or not 0 <= head < num_heads:
                raise ValueError(f"BertConfig.pruned_heads: head {head!r} of layer {layer} does not exist "
                                 f"(0..{num_heads - 1})")
        if set(heads):
            pruned[layer] = tuple(sorted(set(pruned.get(layer, ())) | set(heads)))
    return tuple(sorted(pruned.items()))

