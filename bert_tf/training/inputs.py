"""`dataset_fn`s for the training loop: pretraining TFRecords, or raw text masked anew each epoch."""

from __future__ import annotations

import logging


def record_input(input_file, batch_size, max_seq_length, max_predictions_per_seq, is_training, seed=None,
                 config=None):
    """A `dataset_fn` over pretraining TFRecords (the original format), sharded per input pipeline; with the
    model's `config`, every record's ids are checked against its vocab and type vocab."""
    from bert_tf.pretraining_data import pretraining_dataset

    sizes = {} if config is None else {"vocab_size": config.vocab_size, "type_vocab_size": config.type_vocab_size}
    return lambda context: pretraining_dataset(input_file, batch_size, max_seq_length, max_predictions_per_seq,
                                               is_training, input_context=context, seed=seed, **sizes)


def text_input(input_file, tokenizer, batch_size, max_seq_length, max_predictions_per_seq, is_training,
               next_sentence=True, seed=12345, masked_lm_prob=0.15, whole_word_mask=False, full_sentences=False):
    """A `dataset_fn` that masks raw text anew each epoch (dynamic masking), sharded per input pipeline.

    `masked_lm_prob` and `whole_word_mask` mean what create_pretraining_data's masked_lm_prob and
    do_whole_word_mask mean, applied per epoch (see `bert_tf.pretraining_data.dynamic`).
    """
    from bert_tf.pretraining_data import dynamic_pretraining_dataset, expand_input_patterns
    from bert_tf.pretraining_data.dynamic import unmasked_sequences

    # Refused here, before the corpus is read, rather than as a wrong mask count later.
    if not 0.0 <= masked_lm_prob <= 1.0:
        raise ValueError(f"masked_lm_prob={masked_lm_prob}: must lie in [0, 1]")
    sequences = unmasked_sequences(expand_input_patterns(input_file), tokenizer, max_seq_length,
                                   next_sentence=next_sentence, seed=seed, full_sentences=full_sentences)
    logging.info("dynamic masking: %d sequences from %s", len(sequences["input_ids"]), input_file)
    return lambda context: dynamic_pretraining_dataset(
        sequences, batch_size, max_predictions_per_seq, len(tokenizer.vocab), tokenizer.vocab["[MASK]"],
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
