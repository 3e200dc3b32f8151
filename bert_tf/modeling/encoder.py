"""BertEncoder: embeddings, the plan's Transformer blocks and the tanh pooler; for a BertConfig, numerically the
original `BertModel`.

Shape legend: B batch, S sequence, T keys, E embedding width, H hidden, N heads, L depths.
"""

from __future__ import annotations

import keras
from keras import ops

from bert_tf.modeling.layers import MASK_ADDER, BertEmbeddings, TransformerBlock, dense, layer_norm
from bert_tf.modeling.names import dense_names, family_names, layer_norm_names, scoped
from bert_tf.modeling.plan import as_plan, config_from_dict


def attention_mask_adder(input_mask, dtype="float32"):
    """[B, T] 0/1 mask -> [B, 1, 1, T] additive term: 0 for real keys, -10000 for padded keys.

    Only keys are masked: padded query positions are still computed, exactly as the original.
    """
    mask = ops.cast(input_mask, dtype)
    # expand_dims, not [:, None, None, :]: a strided slice that adds axes is no TFLite builtin (it would need
    # Flex ops); the values are the same.
    return ops.expand_dims(ops.expand_dims((1.0 - mask) * MASK_ADDER, 1), 1)  # [B, 1, 1, T]


class ConfiguredModel(keras.Model):
    """A model built from a config (BertConfig, EncoderPlan, or another family's config with `to_plan()`), kept as
    given in `self.config`; `self.plan` is its EncoderPlan. Subclasses list their other constructor arguments in
    `extra_config()`, and `get_config`/`from_config` round-trip all of them."""

    def __init__(self, config, **kwargs):
        super().__init__(**kwargs)
        self.config = config_from_dict(config) if isinstance(config, dict) else config
        self.plan = as_plan(self.config)

    def extra_config(self) -> dict:
        return {}

    def get_config(self):
        return {"name": self.name, "trainable": self.trainable, "config": self.config.to_dict(),
                **self.extra_config()}

    @classmethod
    def from_config(cls, config):
        return cls(**config)


@keras.saving.register_keras_serializable(package="bert_tf")
class BertEncoder(ConfiguredModel):
    """The body. Inputs: a dict with `input_ids` [B, S] and optional `input_mask`, `segment_ids`.

    Returns a dict: `sequence_output` [B, S, H], `pooled_output` [B, H], `encoder_outputs` (list of L [B, S, H],
    one per depth, the embedding output not included, as the original's `all_encoder_layers`),
    `embedding_output` [B, S, E], and with `return_attention_probs=True` also `attention_probs` (one [B, N, S, T]
    per block run, in order: L of them when each depth runs one block) and `attention_scores` (the same runs'
    QK^T / sqrt(D), before the mask and the softmax).

    with_pooler=False: no pooler weights and no `pooled_output`, for checkpoints saved without one (Hugging Face
    BertForMaskedLM, BertModel(add_pooling_layer=False)); `pooler` is then None.
    """

    input_features = ("input_ids", "input_mask", "segment_ids")  # the batch features a call reads

    def __init__(self, config, with_pooler=True, name="bert", **kwargs):
        super().__init__(config, name=name, **kwargs)
        p = self.plan
        self.with_pooler = with_pooler and getattr(self.config, "has_pooler", True)  # DistilBERT has none
        self.embeddings = BertEmbeddings(
            p.vocab_size, p.embedding_size, p.type_vocab_size, p.max_position_embeddings, p.position_offset,
            p.hidden_dropout_prob, p.initializer_range, p.layer_norm_epsilon, name="embeddings")
        self.embedding_projection = None
        if p.embedding_size != p.hidden_size:
            self.embedding_projection = dense(p.hidden_size, "embedding_projection", p.initializer_range)
        self.encoder_layers = [
            TransformerBlock(p.hidden_size, b.num_attention_heads, b.intermediate_size, b.attention_head_size,
                             p.hidden_act, p.hidden_dropout_prob, p.attention_probs_dropout_prob, p.initializer_range,
                             p.layer_norm_epsilon, p.norm_first, name=f"layer_{i}")
            for i, b in enumerate(p.blocks)]
        self.final_layer_norm = layer_norm(p.layer_norm_epsilon, "final_layer_norm") if p.norm_first else None
        self.pooler = dense(p.hidden_size, "pooler", p.initializer_range, "tanh") if self.with_pooler else None
        self.build()

    def build(self, input_shape=None):
        p = self.plan
        self.embeddings.build()
        if self.embedding_projection is not None:
            self.embedding_projection.build((None, p.embedding_size))
        for block in self.encoder_layers:
            block.build()
        for layer in (self.final_layer_norm, self.pooler):
            if layer is not None:
                layer.build((None, p.hidden_size))
        self.built = True

    def extra_config(self):
        return {"with_pooler": self.with_pooler}

    @property
    def embedding_table(self):
        """The word-embedding variable [V, E]; the masked-LM head multiplies by it (tied weights)."""
        return self.embeddings.word_embeddings

    def block_scopes(self, index):
        """The TF1 and Hugging Face scopes of block `index`: the original's `bert/encoder/layer_<i>/`."""
        return f"bert/encoder/layer_{index}/", f"encoder.layer.{index}."

    def weight_names(self):
        """Every weight's TF1 and Hugging Face name (HF body names without the `bert.` of models with heads), as
        the config's family names them (`names.family_names`)."""
        return family_names(self.bert_weight_names(), self.config)

    def bert_weight_names(self):
        """The weights' names as BERT's checkpoints would give them."""
        names = scoped(self.embeddings.weight_names(), "bert/embeddings/", "embeddings.")
        if self.embedding_projection is not None:
            names += dense_names(self.embedding_projection, "bert/encoder/embedding_hidden_mapping_in",
                                 "encoder.embedding_hidden_mapping_in")
        for index, block in enumerate(self.encoder_layers):
            names += scoped(block.weight_names(), *self.block_scopes(index))
        if self.final_layer_norm is not None:
            names += layer_norm_names(self.final_layer_norm, "bert/encoder/LayerNorm", "encoder.LayerNorm")
        if self.pooler is not None:
            names += dense_names(self.pooler, "bert/pooler/dense", "pooler.dense")
        return names

    def heads_per_run(self):
        """N of each block run, in run order (one per layer for BERT)."""
        return [self.encoder_layers[i].settings["num_attention_heads"] for depth in self.plan.depths for i in depth]

    def _check_head_mask(self, head_mask):
        heads = self.heads_per_run()
        shapes = [tuple(gates.shape) for gates in head_mask]
        if len(shapes) != len(heads) or any(not s or s[-1] != n for s, n in zip(shapes, heads, strict=False)):
            raise ValueError(f"head_mask of shapes {shapes} does not fit this encoder, whose layers have {heads} "
                             "heads: give one [N] (or [B, N]) gate vector per layer")

    def call(self, inputs, training=None, return_attention_probs=False, head_mask=None):
        """`head_mask`: one [N] gate vector per block run (a list, or a [runs, N] tensor when every block has N
        heads); 0 removes a head's context, 1 keeps it (`SelfAttention`)."""
        input_ids = inputs["input_ids"]
        input_mask = inputs.get("input_mask")
        segment_ids = inputs.get("segment_ids")
        if input_mask is None:
            input_mask = ops.ones_like(input_ids)
        if segment_ids is None:
            segment_ids = ops.zeros_like(input_ids)
        embedding_output = self.embeddings(input_ids, segment_ids, training=training)  # [B, S, E]
        x = embedding_output
        if self.embedding_projection is not None:
            x = self.embedding_projection(x)  # [B, S, H]
        mask_adder = attention_mask_adder(input_mask)  # [B, 1, 1, T]
        if head_mask is not None:
            self._check_head_mask(head_mask)
        encoder_outputs, attention_probs, attention_scores = [], [], []
        for depth in self.plan.depths:
            for index in depth:
                gates = None if head_mask is None else head_mask[len(attention_probs)]  # [N]
                x, probs, scores = self.encoder_layers[index](x, mask_adder, head_mask=gates,
                                                              training=training)  # [B, S, H], [B, N, S, T] x 2
                attention_probs.append(probs)
                attention_scores.append(scores)
            encoder_outputs.append(x)
        if self.final_layer_norm is not None:
            x = self.final_layer_norm(x)
        outputs = {"sequence_output": x, "encoder_outputs": encoder_outputs, "embedding_output": embedding_output}
        if self.pooler is not None:
            outputs["pooled_output"] = self.pooler(x[:, 0])  # [B, H]: dense+tanh on [CLS], no dropout
        if return_attention_probs:
            outputs["attention_probs"], outputs["attention_scores"] = attention_probs, attention_scores
        return outputs
