"""BertEncoder: embeddings, L Transformer blocks and the tanh pooler; numerically the original `BertModel`.

Shape legend: B batch, S sequence, T keys, H hidden, N heads, L layers.
"""

from __future__ import annotations

import keras
from keras import ops

from bert_tf.modeling.layers import MASK_ADDER, BertEmbeddings, ConfigModel, TransformerBlock, dense


def attention_mask_adder(input_mask, dtype="float32"):
    """[B, T] 0/1 mask -> [B, 1, 1, T] additive term: 0 for real keys, -10000 for padded keys.

    Only keys are masked: padded query positions are still computed, exactly as the original.
    """
    mask = ops.cast(input_mask, dtype)
    return ((1.0 - mask) * MASK_ADDER)[:, None, None, :]  # [B, 1, 1, T]


@keras.saving.register_keras_serializable(package="bert_tf")
class BertEncoder(ConfigModel):
    """The BERT body. Inputs: a dict with `input_ids` [B, S] and optional `input_mask`, `segment_ids`.

    Returns a dict: `sequence_output` [B, S, H], `pooled_output` [B, H], `encoder_outputs` (list of L [B, S, H],
    the embedding output not included, as the original's `all_encoder_layers`), `embedding_output` [B, S, H], and
    with `return_attention_probs=True` also `attention_probs` (list of L [B, N, S, T]), and with
    `return_word_embedding_lookup=True` also `word_embedding_lookup` [B, S, H] (the rows gathered from the
    word-embedding table, before the sums and LayerNorm).

    with_pooler=False: no pooler weights and no `pooled_output`, for checkpoints saved without one (Hugging Face
    BertForMaskedLM, BertModel(add_pooling_layer=False)); `pooler` is then None.
    """

    def __init__(self, config, with_pooler=True, name="bert", **kwargs):
        super().__init__(config, name=name, **kwargs)
        c = self.config
        self.with_pooler = with_pooler
        self.embeddings = BertEmbeddings(c, name="embeddings")
        self.encoder_layers = [TransformerBlock(c, name=f"layer_{i}") for i in range(c.num_hidden_layers)]
        self.pooler = dense(c, c.hidden_size, "pooler", activation="tanh") if with_pooler else None
        self.build()

    def build(self, input_shape=None):
        self.embeddings.build()
        for block in self.encoder_layers:
            block.build()
        if self.pooler is not None:
            self.pooler.build((None, self.config.hidden_size))
        self.built = True

    def get_config(self):
        return {**super().get_config(), "with_pooler": self.with_pooler}

    @property
    def embedding_table(self):
        """The word-embedding variable [V, H]; the masked-LM head multiplies by it (tied weights)."""
        return self.embeddings.word_embeddings

    def call(self, inputs, training=None, return_attention_probs=False, return_word_embedding_lookup=False):
        input_ids = inputs["input_ids"]
        input_mask = inputs.get("input_mask")
        segment_ids = inputs.get("segment_ids")
        if input_mask is None:
            input_mask = ops.ones_like(input_ids)
        if segment_ids is None:
            segment_ids = ops.zeros_like(input_ids)
        embedding_output = self.embeddings(input_ids, segment_ids, training=training,
                                           return_word_embedding_lookup=return_word_embedding_lookup)
        if return_word_embedding_lookup:
            embedding_output, lookup = embedding_output  # [B, S, H] each
        mask_adder = attention_mask_adder(input_mask)  # [B, 1, 1, T]
        x, encoder_outputs, attention_probs = embedding_output, [], []
        for block in self.encoder_layers:
            x, probs = block(x, mask_adder, training=training)  # [B, S, H], [B, N, S, T]
            encoder_outputs.append(x)
            attention_probs.append(probs)
        outputs = {"sequence_output": x, "encoder_outputs": encoder_outputs, "embedding_output": embedding_output}
        if self.pooler is not None:
            outputs["pooled_output"] = self.pooler(x[:, 0])  # [B, H]: dense+tanh on [CLS], no dropout
        if return_attention_probs:
            outputs["attention_probs"] = attention_probs
        if return_word_embedding_lookup:
            outputs["word_embedding_lookup"] = lookup
        return outputs
