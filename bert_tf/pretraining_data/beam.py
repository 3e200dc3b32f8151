"""Pretraining data on Apache Beam: per-file mode (`creation`, `--num_workers`) with a runner in place of the
process pool, so a corpus of many files is made on Dataflow, Flink, Spark or the DirectRunner.

    beam.Create([(position, file, config with seed random_seed + position), ...]) | Reshuffle | ParDo

Each element is one input file processed as per-file mode processes it, so the records are per-file mode's,
byte for byte. `write_files` writes them as TFRecord files (the original format); `FileExamples` yields them as
keyed feature rows for the TFDS builder `bert_tf.datasets.bert_pretraining`. No TensorFlow; apache_beam is
imported here (the package's `__init__` does not import this module).
"""

from __future__ import annotations

import dataclasses
import logging
import os
import random

import apache_beam as beam
import numpy as np
from apache_beam.options.pipeline_options import PipelineOptions

from bert_tf.pretraining_data import columns, creation
from bert_tf.pretraining_data import documents as documents_lib
from bert_tf.pretraining_data import instances as instances_lib

logger = logging.getLogger(__name__)

# Keys are integers (TFDS orders unshuffled data by key): file position * _FILE_KEYS + record number.
_FILE_KEYS = 10**10


def pipeline_options(runner: str, options=()):
    """Beam's PipelineOptions for `runner` and further `--name=value` options (a runner's usual ones:
    --project, --region, --temp_location, --flink_master, --setup_file, --direct_num_workers, ...)."""
    return PipelineOptions([f"--runner={runner}", *options])


def file_tasks(input_files, config):
    """(position, file, config seeded random_seed + position) per input file, as per-file mode seeds them; a
    missing or empty file is a ValueError naming it, before any work."""
    for path in input_files:
        if not os.path.isfile(path):
            raise ValueError(f"{path}: no such input file")
        if os.path.getsize(path) == 0:
            raise ValueError(f"{path}: empty input file (an empty shard: remove it or give it text)")
    return [(position, os.fspath(path), dataclasses.replace(config, random_seed=config.random_seed + position))
            for position, path in enumerate(input_files)]


def write_files(input_files, output_files, tokenizer, config, runner="DirectRunner", options=()):
    """Per-file mode on a Beam runner: writes the records of each input file to its output (the names of
    `creation.per_file_outputs`); returns {output file: instances}. `tokenizer` is a picklable factory of a
    `FullTokenizer` (each worker builds its own)."""
    input_files = list(input_files)
    outputs = creation.per_file_outputs(input_files, list(output_files))
    tasks = [(path, out, seeded) for (_, path, seeded), out in zip(file_tasks(input_files, config), outputs,
                                                                    strict=True)]
    with beam.Pipeline(options=pipeline_options(runner, options)) as pipeline:
        _ = (pipeline | "Files" >> beam.Create(tasks) | "Spread" >> beam.Reshuffle()
             | "Records" >> beam.ParDo(WriteFile(tokenizer)))
    # Each output's count is in the <output>.json its worker wrote beside it.
    counts = {path: (creation.read_counts(path) or {}).get("num_instances") for path in outputs}
    for path, count in counts.items():
        logger.info("Wrote %s instances to %s", count, path)
    return counts


class _TokenizerDoFn(beam.DoFn):
    """A DoFn whose workers build the tokenizer once (`setup`) from a picklable factory."""

    def __init__(self, tokenizer):
        super().__init__()
        self._factory = tokenizer
        self._tokenizer = None

    def setup(self):
        self._tokenizer = creation._built(self._factory)


class WriteFile(_TokenizerDoFn):
    """The DoFn of `write_files`: (input file, output file, config) -> (output file, instances)."""

    def process(self, task):
        yield creation._task_result(self._tokenizer, *task)


class FileExamples(_TokenizerDoFn):
    """The DoFn of the TFDS builder: (position, file, config) -> (key, feature row) per record, keys ordered as
    the records of per-file mode's outputs (file position, then record)."""

    def process(self, task):
        position, path, config = task
        for start, features in file_feature_chunks(path, self._tokenizer, config):
            for k in range(len(features["input_ids"])):
                yield position * _FILE_KEYS + start + k, {name: values[k] for name, values in features.items()}


def file_feature_chunks(path, tokenizer, config, chunk=creation._CHUNK):
    """(first record number, feature columns) of the records per-file mode writes for the file `path` alone
    with `config` (its seed already the file's), in their order, `chunk` records at a time."""
    rng = random.Random(config.random_seed)
    corpus = documents_lib.read_documents([path], tokenizer, rng)
    if not corpus.documents:
        raise ValueError(f"{path}: no documents: every line is blank or tokenizes to nothing")
    vocab_info = instances_lib.VocabInfo.of_tokenizer(tokenizer)
    tokens = np.asarray(corpus.tokens, np.int64)
    subword_flags = creation._subword_flags(tokenizer, tokens) if config.do_whole_word_mask else None
    instances = instances_lib.create_instances(corpus.documents, config, vocab_info, rng, subword_flags)
    arrays = columns.instance_arrays(instances)
    order = np.asarray(instances.order, np.int64)
    for start in range(0, len(order), chunk):
        yield start, columns.feature_columns(arrays, order[start:start + chunk], tokens, config.max_seq_length,
                                             config.max_predictions_per_seq, vocab_info)
