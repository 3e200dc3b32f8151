"""Pretraining TFRecords (original format) -> tf.data batches of the original feature dict (docs/ORIGINAL.md §3.5).

Training: files shuffled and read interleaved, records shuffled, full batches only. Eval: files read in order.
"""

from __future__ import annotations

import os

import tensorflow as tf

from bert_tf.pretraining_data.creation import read_counts
from bert_tf.pretraining_data.documents import expand_input_patterns
from bert_tf.pretraining_data.records import check_framing


def feature_spec(max_seq_length, max_predictions_per_seq):
    """The original parsing spec: fixed lengths, int64 except the float masked_lm_weights (docs/ORIGINAL.md §2.5)."""
    seq, predictions = [max_seq_length], [max_predictions_per_seq]
    return {
        "input_ids": tf.io.FixedLenFeature(seq, tf.int64),
        "input_mask": tf.io.FixedLenFeature(seq, tf.int64),
        "segment_ids": tf.io.FixedLenFeature(seq, tf.int64),
        "masked_lm_positions": tf.io.FixedLenFeature(predictions, tf.int64),
        "masked_lm_ids": tf.io.FixedLenFeature(predictions, tf.int64),
        "masked_lm_weights": tf.io.FixedLenFeature(predictions, tf.float32),
        "next_sentence_labels": tf.io.FixedLenFeature([1], tf.int64),
    }


def parse_records(serialized, max_seq_length, max_predictions_per_seq):
    """A batch of serialized Examples -> the feature dict, int64 cast to int32 (TPU/XLA friendly, as the original)."""
    parsed = tf.io.parse_example(serialized, feature_spec(max_seq_length, max_predictions_per_seq))
    return {name: tf.cast(t, tf.int32) if t.dtype == tf.int64 else t for name, t in parsed.items()}


def check_record_files(files, max_seq_length, max_predictions_per_seq):
    """Raises ValueError when a file is not a complete TFRecord file (`records.check_framing`: truncated, damaged,
    or something else) or its `<file>.json` says it was made with other lengths (else the parse fails later with
    the cryptic "Can't parse serialized Example"); returns the total instance count when every file has its JSON,
    else None."""
    total = 0
    for path in files:
        check_framing(path)
        info = read_counts(path)
        if info is None:
            total = None
            continue
        for key, wanted in (("max_seq_length", max_seq_length), ("max_predictions_per_seq", max_predictions_per_seq)):
            if info.get(key, wanted) != wanted:
                raise ValueError(f"{path}: records were made with {key}={info[key]} but are read with {wanted}")
        if total is not None:
            total += info["num_instances"]
    return total


def id_checks(vocab_size, type_vocab_size, max_seq_length, max_predictions_per_seq):
    """`check(name, index, record)` -> the record, once its ids fit the model: input_ids and masked_lm_ids in
    [0, vocab_size), segment_ids in [0, type_vocab_size), masked_lm_positions in [0, max_seq_length); else an
    error naming the file and record (a model would fail on the lookup naming neither, or train on garbage)."""
    spec = feature_spec(max_seq_length, max_predictions_per_seq)
    bounds = {"input_ids": vocab_size, "masked_lm_ids": vocab_size, "segment_ids": max(type_vocab_size, 1),
              "masked_lm_positions": max_seq_length}

    def check(name, index, record):
        parsed = tf.io.parse_single_example(record, {k: spec[k] for k in bounds})
        asserts = []
        for key, bound in bounds.items():
            values = parsed[key]
            where = tf.strings.join([name, ": record ", tf.strings.as_string(index), f": {key} holds ",
                                     tf.strings.reduce_join(tf.strings.as_string(values), separator=" "),
                                     f"; they must lie in [0, {bound})"])
            asserts.append(tf.debugging.Assert(
                tf.reduce_all((values >= 0) & (values < bound)), [where]))
        with tf.control_dependencies(asserts):
            return tf.identity(record)

    return check


def pretraining_dataset(input_files, batch_size, max_seq_length, max_predictions_per_seq, is_training,
                        input_context=None, num_cpu_threads=4, shuffle_buffer=100, seed=None, repeat=True,
                        drop_remainder=True, vocab_size=None, type_vocab_size=2):
    """The original `input_fn_builder` as a tf.data.Dataset of feature dicts.

    Args:
      input_files: comma-separated globs or a list of files.
      batch_size: the global batch; with `input_context` each pipeline yields its per-replica share.
      max_seq_length, max_predictions_per_seq: as the records were made with.
      is_training: shuffle files, interleave up to `num_cpu_threads` readers, shuffle records; else read in order.
      input_context: a `tf.distribute.InputContext`: files are sharded across its input pipelines (records,
        of each file, before any shuffle, when there are fewer files than pipelines).
      seed: makes the shuffles and the interleave order deterministic (the original is sloppy).
      repeat: loop forever as the original does (training and eval); False gives one pass.
      drop_remainder: only full batches, as the original (TPU-style fixed shapes).
      vocab_size, type_vocab_size: the model's; given, every record's ids are checked against them (`id_checks`).
    """
    files = expand_input_patterns(input_files) if isinstance(input_files, (str, os.PathLike)) else list(input_files)
    if not files:
        raise ValueError("pretraining_dataset needs at least one input file")
    check_record_files(files, max_seq_length, max_predictions_per_seq)
    pipelines, pipeline_id = 1, 0
    if input_context is not None:
        batch_size = input_context.get_per_replica_batch_size(batch_size)
        pipelines, pipeline_id = input_context.num_input_pipelines, input_context.input_pipeline_id
    check = None if vocab_size is None else id_checks(vocab_size, type_vocab_size, max_seq_length,
                                                      max_predictions_per_seq)
    data = _records(files, is_training, pipelines, pipeline_id, num_cpu_threads, seed, repeat, check)
    if is_training:
        data = data.shuffle(shuffle_buffer, seed=seed)
    elif repeat:
        data = data.repeat()
    data = data.batch(batch_size, drop_remainder=drop_remainder)
    data = data.map(lambda serialized: parse_records(serialized, max_seq_length, max_predictions_per_seq),
                    num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    return data.prefetch(tf.data.AUTOTUNE)


def _records(files, is_training, pipelines, pipeline_id, num_cpu_threads, seed, repeat, check=None):
    """Serialized records: files sharded by pipeline (records when there are fewer files than pipelines);
    training repeats, shuffles the file order and interleaves up to `num_cpu_threads` readers. `check(name,
    index, record)`, if given, sees each record of each file as it is read."""
    names = tf.data.Dataset.from_tensor_slices(tf.constant(files))
    shard_records = pipelines > 1 and len(files) < pipelines
    if pipelines > 1 and not shard_records:
        names = names.shard(pipelines, pipeline_id)

    def read(name):
        records = tf.data.TFRecordDataset(name)
        if check is not None:
            records = records.enumerate().map(lambda index, record: check(name, index, record),
                                              num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
        if shard_records:
            # Each file's records are sharded as it is opened, before any shuffle or interleave: record k of a
            # file goes to pipeline k % pipelines whatever order the pipelines read the files in. Sharding the
            # interleaved stream instead gives overlapping shards when the pipelines' (unseeded) orders differ.
            records = records.shard(pipelines, pipeline_id)
        return records
    if is_training:
        if repeat:
            names = names.repeat()
        return names.shuffle(len(files), seed=seed).interleave(
            read, cycle_length=min(num_cpu_threads, len(files)), num_parallel_calls=tf.data.AUTOTUNE,
            deterministic=seed is not None)
    return names.flat_map(read)
