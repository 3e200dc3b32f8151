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
               next_sentence=True, seed=12345, masked_lm_prob=0.15, whole_word_mask=False):
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
                                   next_sentence=next_sentence, seed=seed)
    logging.info("dynamic masking: %d sequences from %s", len(sequences["input_ids"]), input_file)
    return lambda context: dynamic_pretraining_dataset(
        sequences, batch_size, max_predictions_per_seq, len(tokenizer.vocab), tokenizer.vocab["[MASK]"],
        masked_lm_prob=masked_lm_prob, whole_word_mask=whole_word_mask, seed=seed, is_training=is_training,
        input_context=context)
