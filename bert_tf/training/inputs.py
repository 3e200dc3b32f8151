"""`dataset_fn`s for the training loop: pretraining TFRecords, or raw text masked anew each epoch."""

from __future__ import annotations

import dataclasses
import logging


@dataclasses.dataclass(frozen=True)
class Recipe:
    """What a model type pretrains on: a two-way sentence head (`next_sentence`: BERT's next-sentence pairs, or
    with `sentence_order` ALBERT's sentence-order pairs) or none, and RoBERTa's FULL-SENTENCES packing."""

    next_sentence: bool
    sentence_order: bool = False
    full_sentences: bool = False


def recipe(model_type, dynamic_masking, next_sentence=None, full_sentences=None) -> Recipe:
    """The pretraining recipe of `model_type`; `next_sentence` and `full_sentences` are the flags given (None: the
    type's default). bert: next-sentence pairs; albert: sentence-order pairs (records made by
    create_pretraining_data --sentence_order, or made so from text with dynamic masking); roberta: masked LM on
    FULL-SENTENCES text masked anew each epoch; distilbert: masked LM only. A flag that contradicts the type is a
    ValueError naming both."""
    if model_type in ("roberta", "distilbert") and next_sentence:
        raise ValueError(f"--next_sentence: {model_type} pretrains the masked LM alone (no sentence head); leave "
                         "the flag out")
    if model_type == "roberta" and not dynamic_masking:
        raise ValueError("--model_type=roberta trains on text masked anew each epoch: give --dynamic_masking and "
                         "text as --input_file")
    pairs = (model_type in ("bert", "albert")) if next_sentence is None else next_sentence
    full = (model_type == "roberta") if full_sentences is None else full_sentences
    return Recipe(pairs, sentence_order=pairs and model_type == "albert", full_sentences=full)


def record_input(input_file, batch_size, max_seq_length, max_predictions_per_seq, is_training, seed=None,
                 config=None):
    """A `dataset_fn` over pretraining TFRecords (the original format), sharded per input pipeline; with the
    model's `config`, every record's ids are checked against its vocab and type vocab."""
    from bert_tf.pretraining_data import pretraining_dataset

    sizes = {} if config is None else {"vocab_size": config.vocab_size, "type_vocab_size": config.type_vocab_size}
    return lambda context: pretraining_dataset(input_file, batch_size, max_seq_length, max_predictions_per_seq,
                                               is_training, input_context=context, seed=seed, **sizes)


def check_sentence_order(input_file):
    """ALBERT's records hold sentence-order pairs: ValueError naming a record file whose `<file>.json` says it was
    made without `create_pretraining_data --sentence_order` (next-sentence pairs would train another task)."""
    from bert_tf.pretraining_data import expand_input_patterns, read_counts

    for path in expand_input_patterns(input_file):
        info = read_counts(path)
        if info is not None and not info.get("sentence_order", False):
            raise ValueError(f"{path}: records of next-sentence pairs (made without create_pretraining_data "
                             "--sentence_order), but ALBERT trains sentence order")


def text_input(input_file, tokenizer, batch_size, max_seq_length, max_predictions_per_seq, is_training,
               next_sentence=True, seed=12345, masked_lm_prob=0.15, whole_word_mask=False, full_sentences=False,
               sentence_order=False):
    """A `dataset_fn` that masks raw text anew each epoch (dynamic masking), sharded per input pipeline.

    `masked_lm_prob` and `whole_word_mask` mean what create_pretraining_data's masked_lm_prob and
    do_whole_word_mask mean, applied per epoch (see `bert_tf.pretraining_data.dynamic`); `sentence_order` makes
    ALBERT's sentence-order pairs. The tokenizer's model type gives the mask token (`finetuning_data.layout_of`).
    """
    from bert_tf.finetuning_data import layout_of
    from bert_tf.pretraining_data import dynamic_pretraining_dataset, expand_input_patterns
    from bert_tf.pretraining_data.dynamic import unmasked_sequences

    # Refused here, before the corpus is read, rather than as a wrong mask count later.
    if not 0.0 <= masked_lm_prob <= 1.0:
        raise ValueError(f"masked_lm_prob={masked_lm_prob}: must lie in [0, 1]")
    sequences = unmasked_sequences(expand_input_patterns(input_file), tokenizer, max_seq_length,
                                   next_sentence=next_sentence, seed=seed, full_sentences=full_sentences,
                                   sentence_order=sentence_order)
    logging.info("dynamic masking: %d sequences from %s", len(sequences["input_ids"]), input_file)
    mask_id = tokenizer.vocab[layout_of(tokenizer).mask]
    return lambda context: dynamic_pretraining_dataset(
        sequences, batch_size, max_predictions_per_seq, len(tokenizer.vocab), mask_id,
        masked_lm_prob=masked_lm_prob, whole_word_mask=whole_word_mask, seed=seed, is_training=is_training,
        input_context=context)


def prepared_tfds(tfds_name, data_dir):
    """The prepared TFDS dataset `tfds_name` (bert_tf's own builders registered); its files are
    `<builder.data_dir>/*`. ValueError naming it when it is not prepared in `data_dir`."""
    import bert_tf.datasets.bert_pretraining  # noqa: F401 (registers the builder with TFDS)
    from bert_tf.tasks.tfds import builder

    return builder(tfds_name, data_dir)


def tfds_input(tfds_name, data_dir, batch_size, max_seq_length, max_predictions_per_seq, is_training, seed=None,
               config=None):
    """A `dataset_fn` over a prepared TFDS dataset of pretraining records (`bert_pretraining/<config>`, made by
    create_pretraining_data --beam_runner --tfds_data_dir), its files sharded per input pipeline; with the
    model's `config`, every batch's ids are checked against its vocab and type vocab."""
    import tensorflow as tf
    import tensorflow_datasets as tfds

    dataset = prepared_tfds(tfds_name, data_dir)
    features = dataset.info.features
    for key, width in (("input_ids", max_seq_length), ("masked_lm_positions", max_predictions_per_seq)):
        have = tuple(features[key].shape) if key in features else None
        if have != (width,):
            raise ValueError(f"TFDS dataset {tfds_name!r}: {key} has shape {have}, read with width {width} "
                             "(max_seq_length, max_predictions_per_seq)")
    bounds = {} if config is None else {"input_ids": config.vocab_size, "masked_lm_ids": config.vocab_size,
                                        "segment_ids": max(config.type_vocab_size, 1)}

    def checked(batch):
        asserts = [tf.debugging.assert_less(batch[key], tf.constant(bound, batch[key].dtype),
                                            message=f"TFDS dataset {tfds_name}: {key} out of range for the model")
                   for key, bound in bounds.items()]
        with tf.control_dependencies(asserts):
            # int64 cast to int32 as the TFRecord reader does (TPU/XLA friendly, as the original)
            return {k: tf.cast(v, tf.int32) if v.dtype == tf.int64 else tf.identity(v) for k, v in batch.items()}

    def dataset_fn(context):
        per_replica = context.get_per_replica_batch_size(batch_size) if context is not None else batch_size
        read = tfds.ReadConfig(input_context=context, shuffle_seed=seed)
        # An ordered dataset (bert_pretraining keeps per-file mode's order) refuses shuffled files: its records
        # are already shuffled within each input file, a larger buffer mixes the files.
        ordered = dataset.info.disable_shuffling
        data = dataset.as_dataset(split="train", shuffle_files=is_training and not ordered, read_config=read)
        data = data.repeat()
        if is_training:
            data = data.shuffle(1000 if ordered else 100, seed=seed)
        return data.batch(per_replica, drop_remainder=True).map(checked).prefetch(tf.data.AUTOTUNE)

    return dataset_fn
