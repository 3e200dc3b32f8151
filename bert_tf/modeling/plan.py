"""EncoderPlan: what an encoder is built from, as plain data (no TensorFlow here).

A plan says how wide the embeddings are, which Transformer blocks exist (their sizes), which of them runs at each
depth (so one block can serve several depths, as ALBERT shares one), and where LayerNorm sits. `BertConfig` is one
way to make a plan (`EncoderPlan.from_bert_config`); other configs (ALBERT's, a pruned model's) make others.
"""

from __future__ import annotations

import dataclasses

from bert_tf import model_types
from bert_tf.config import BertConfig, check_activation, check_positive


@dataclasses.dataclass(frozen=True)
class BlockPlan:
    """One Transformer block's sizes: N heads of size D (N * D may differ from H once heads are pruned; N = 0
    leaves the attention sub-layer its output bias alone) and the feed-forward inner width I."""

    num_attention_heads: int
    attention_head_size: int
    intermediate_size: int


@dataclasses.dataclass(frozen=True)
class EncoderPlan:
    """An encoder's parts.

    Attributes:
      vocab_size, type_vocab_size, max_position_embeddings: the embedding tables' rows (type_vocab_size 0: no
        token-type table, as DistilBERT).
      hidden_size: H, the width between blocks.
      embedding_size: E, the width of the embedding tables; when it differs from H a dense projection maps E to H
        (ALBERT's factorised embeddings).
      blocks: the distinct blocks (their weights).
      depths: for each depth (each entry of `encoder_outputs`), the indices into `blocks` run there, in order:
        BERT runs block i at depth i; ALBERT runs block 0 at every depth.
      norm_first: False is the original post-LN block (x + f(x), then LayerNorm); True runs LayerNorm before
        each sub-layer and once more after the last block.
      position_offset: the index of the first position's row (RoBERTa starts at its padding index + 1).
      hidden_act, hidden_dropout_prob, attention_probs_dropout_prob, initializer_range, layer_norm_epsilon: as
        `bert_config.json` means them.
    """

    vocab_size: int
    hidden_size: int
    blocks: tuple[BlockPlan, ...]
    depths: tuple[tuple[int, ...], ...]
    embedding_size: int | None = None
    type_vocab_size: int = 2
    max_position_embeddings: int = 512
    position_offset: int = 0
    hidden_act: str | None = "gelu"
    hidden_dropout_prob: float = 0.1
    attention_probs_dropout_prob: float = 0.1
    initializer_range: float = 0.02
    layer_norm_epsilon: float = 1e-12
    norm_first: bool = False

    def __post_init__(self):
        object.__setattr__(self, "blocks", tuple(b if isinstance(b, BlockPlan) else BlockPlan(**b)
                                                 for b in self.blocks))
        object.__setattr__(self, "depths", tuple(tuple(d) for d in self.depths))
        if self.embedding_size is None:
            object.__setattr__(self, "embedding_size", self.hidden_size)
        for name in ("vocab_size", "hidden_size", "embedding_size", "max_position_embeddings"):
            check_positive("EncoderPlan", name, getattr(self, name))
        for i, block in enumerate(self.blocks):
            for name in ("attention_head_size", "intermediate_size"):
                check_positive("EncoderPlan", f"blocks[{i}].{name}", getattr(block, name))
            heads = block.num_attention_heads
            if isinstance(heads, bool) or not isinstance(heads, int) or heads < 0:
                raise ValueError(f"EncoderPlan.blocks[{i}].num_attention_heads must be an integer >= 0, got {heads!r}")
        if not self.depths or any(not d for d in self.depths):
            raise ValueError(f"EncoderPlan.depths must name at least one block at every depth, got {self.depths}")
        used = {i for depth in self.depths for i in depth}
        if not used <= set(range(len(self.blocks))) or len(used) != len(self.blocks):
            raise ValueError(f"EncoderPlan.depths {self.depths} must use every one of the {len(self.blocks)} "
                             "blocks and no other")
        check_activation("EncoderPlan", self.hidden_act)

    @property
    def num_hidden_layers(self) -> int:
        """L: the number of depths (of `encoder_outputs`)."""
        return len(self.depths)

    @classmethod
    def from_bert_config(cls, config: BertConfig) -> EncoderPlan:
        """The original BERT: one block per depth, post-LN, embeddings as wide as the blocks (and the heads of
        each layer less its `pruned_heads`). Its cousins (`bert_tf.model_types`) change what their configs say:
        ALBERT's embedding width and blocks shared by groups of depths, RoBERTa's position offset, DistilBERT's
        absent token types, their LayerNorm epsilon."""
        depths = config.depths() if hasattr(config, "depths") else tuple((i,) for i in range(config.num_hidden_layers))
        heads = config.heads_per_layer() if not hasattr(config, "depths") else \
            (config.num_attention_heads,) * (1 + max(i for depth in depths for i in depth))
        blocks = tuple(BlockPlan(n, config.head_size, config.intermediate_size) for n in heads)
        return cls(vocab_size=config.vocab_size, hidden_size=config.hidden_size, blocks=blocks, depths=depths,
                   embedding_size=getattr(config, "embedding_size", None), type_vocab_size=config.type_vocab_size,
                   max_position_embeddings=config.max_position_embeddings,
                   position_offset=getattr(config, "position_offset", 0), hidden_act=config.hidden_act,
                   hidden_dropout_prob=config.hidden_dropout_prob,
                   attention_probs_dropout_prob=config.attention_probs_dropout_prob,
                   initializer_range=config.initializer_range,
                   layer_norm_epsilon=getattr(config, "layer_norm_eps", 1e-12))

    @classmethod
    def from_dict(cls, values: dict) -> EncoderPlan:
        return cls(**values)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    def replace(self, **changes) -> EncoderPlan:
        return dataclasses.replace(self, **changes)


def as_plan(config) -> EncoderPlan:
    """A plan from an EncoderPlan, a BertConfig, either's dict, or any config with a `to_plan()`."""
    if isinstance(config, EncoderPlan):
        return config
    if isinstance(config, BertConfig):
        return EncoderPlan.from_bert_config(config)
    if isinstance(config, dict):
        return as_plan(config_from_dict(config))
    if hasattr(config, "to_plan"):
        return config.to_plan()
    raise TypeError(f"expected a BertConfig or an EncoderPlan, got {type(config).__name__}")


def config_from_dict(values: dict):
    """A model's `config` back from its `get_config` dict: an EncoderPlan's has `blocks`, a BertConfig's (or a
    cousin's, by its `model_type`) not."""
    return EncoderPlan.from_dict(values) if "blocks" in values else model_types.config_from_dict(values)
