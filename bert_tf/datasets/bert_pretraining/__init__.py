"""The `bert_pretraining` TFDS dataset (see bert_pretraining_dataset_builder)."""

from bert_tf.datasets.bert_pretraining.bert_pretraining_dataset_builder import (
    VOCAB,
    BertPretraining,
    BertPretrainingConfig,
    build,
    config_from,
)

__all__ = ["VOCAB", "BertPretraining", "BertPretrainingConfig", "build", "config_from"]
