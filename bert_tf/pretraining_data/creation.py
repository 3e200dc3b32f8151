"""Text files -> pretraining TFRecords: the original's one-stream run, or one run per input file in parallel.

No TensorFlow import. Outputs are written under temporary names and renamed when complete, and each output gets a
`<output>.json` beside it with its instance count and the flags that made it.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import multiprocessing
import os
import random
import sys
import time

import numpy as np

from bert_tf.files import atomic_file
from bert_tf.pretraining_data import columns, records
from bert_tf.pretraining_data import documents as documents_lib
from bert_tf.pretraining_data import instances as instances_lib

logger = logging.getLogger(__name__)

# Records encoded per NumPy batch: bounds the writer's memory (~10 KB per record at max_seq_length 512).
_CHUNK = 4096


def create_pretraining_data(input_files, output_files, tokenizer, config, num_workers=1, per_file=False):
    """Writes the pretraining records of `input_files` to `output_files`; returns {output file: instances}.

    Default (one stream): exactly the original script's records for the same files, vocab and flags, written
    round-robin across `output_files` (docs/ORIGINAL.md §2). With `per_file` (implied by `num_workers` > 1), each input
    file is processed as the original would process it alone, with seed `config.random_seed + position` (so a
    single file gets the plain seed; mind that seeds s and s + 1 then share streams, shifted by one file), in
    `num_workers` processes, with memory bounded by one file. Its output
    is `output_files[position]` when there is one output per input, else `<output>-00003-of-00012` for a
    single output.

    `tokenizer` is a `FullTokenizer`, or a picklable zero-argument callable that builds one (such as
    `functools.partial(FullTokenizer, vocab_file, do_lower_case)`), which worker processes call for themselves.

    Raises:
      ValueError: for no input, outputs that cannot be matched to inputs, or input as `read_documents` rejects.
    """
    input_files, output_files = list(input_files), list(output_files)
    if not input_files or not output_files:
        raise ValueError(f"need input and output files, got input_files={input_files} output_files={output_files}")
    if len(set(output_files)) != len(output_files):
        raise ValueError(f"output_files lists a file twice: {output_files}")
    if not per_file and num_workers <= 1:
        counts = _create(input_files, output_files, _built(tokenizer), config)
    else:
        counts = _create_per_file(input_files, output_files, tokenizer, config, max(1, num_workers))
    for path, count in counts.items():
        logger.info("Wrote %d instances to %s", count, path)
    logger.info("Wrote %d total instances", sum(counts.values()))
    return counts


def per_file_outputs(input_files, output_files):
    """Output path of each input file in per-file mode (see `create_pretraining_data`)."""
    if len(output_files) == len(input_files):
        return list(output_files)
    if len(output_files) == 1:
        n = len(input_files)
        return [f"{output_files[0]}-{i:05d}-of-{n:05d}" for i in range(n)] if n > 1 else list(output_files)
    raise ValueError(
        f"per-file mode needs one output file per input file or a single output prefix; got {len(input_files)} "
        f"inputs and {len(output_files)} outputs: {output_files}")


def _create(input_files, output_files, tokenizer, config):
    """The original algorithm on `input_files` as one stream, with one `random.Random(config.random_seed)`."""
    rng = random.Random(config.random_seed)
    corpus = documents_lib.read_documents(input_files, tokenizer, rng)
    if not corpus.documents:
        raise ValueError(f"no documents in {input_files}: every line is blank or tokenizes to nothing")
    if len(corpus.documents) == 1:
        logger.warning("%s hold a single document: every 'random next' B comes from that same document",
                       input_files)
    vocab_info = instances_lib.VocabInfo.of_tokenizer(tokenizer)
    tokens = np.asarray(corpus.tokens, np.int64)
    subword_flags = _subword_flags(tokenizer, tokens) if config.do_whole_word_mask else None
    instances = instances_lib.create_instances(corpus.documents, config, vocab_info, rng, subword_flags)
    if logger.isEnabledFor(logging.INFO):
        _log_examples(instances, tokens, config, vocab_info, tokenizer)
    return write_instances(instances, tokens, config, vocab_info, output_files, input_files)


def _log_examples(instances, tokens, config, vocab_info, tokenizer, count=20):
    """Logs the first `count` records as the original does (tokens, then every feature), and the NSP mix."""
    arrays = columns.instance_arrays(instances)
    features = columns.feature_columns(arrays, instances.order[:count], tokens, config.max_seq_length,
                                       config.max_predictions_per_seq, vocab_info)
    inverse = {index: token for token, index in tokenizer.vocab.items()}
    for k in range(len(features["input_ids"])):
        real = features["input_ids"][k][:int(features["input_mask"][k].sum())]
        lines = ["*** Example ***", "tokens: " + " ".join(inverse[int(i)] for i in real)]
        lines += [f"{name}: " + " ".join(str(v) for v in features[name][k].tolist()) for name, _ in records.FEATURES]
        logger.info("\n".join(lines))
    random_next = sum(span[4] for span in instances.spans)
    logger.info("%d instances: %d random next (%d of them one-segment chunks)", len(instances), random_next,
                instances.single_segment_chunks)


def subword_table(tokenizer):
    """[V] bools: whether each vocab id continues a word (a "##" piece; for a cousin's tokenizer, as its layout
    says: not starting with SentencePiece's "\u2581" or byte-level BPE's "\u0120"), whole-word masking's grouping.
    Per id, as fairseq's whole-word mask: a byte-level BPE line's first word, which has no space, joins the word
    before it."""
    from bert_tf.finetuning_data import layout_of

    layout = layout_of(tokenizer)
    is_subword = np.zeros(max(tokenizer.vocab.values()) + 1, bool)
    for token, index in tokenizer.vocab.items():
        is_subword[index] = layout.continues_word(token)
    return is_subword


def _subword_flags(tokenizer, tokens):
    """Bytes with 1 where the corpus token continues a word (`subword_table`)."""
    return subword_table(tokenizer).astype(np.uint8)[tokens].tobytes()


def write_instances(instances, tokens, config, vocab_info, output_files, input_files=()):
    """Writes `instances` in their shuffled order round-robin across `output_files`; returns the counts.

    Every output appears complete or not at all: data goes to temporary files renamed at the end, and the
    temporaries are removed if anything fails.
    """
    counts = {path: 0 for path in output_files}
    arrays = columns.instance_arrays(instances)
    order = np.asarray(instances.order, np.int64)
    with contextlib.ExitStack() as stack:
        temps = [stack.enter_context(atomic_file(path, "wb")) for path in output_files]
        for start in range(0, len(order), _CHUNK):
            indices = order[start:start + _CHUNK]
            features = columns.feature_columns(arrays, indices, tokens, config.max_seq_length,
                                               config.max_predictions_per_seq, vocab_info)
            flat, lengths = records.encode_records(features)
            # Record g of the run goes to output g % len(output_files), as the original's writer_index.
            target = (start + np.arange(len(indices))) % len(output_files)
            byte_target = np.repeat(target, lengths)
            for k, (path, temp) in enumerate(zip(output_files, temps, strict=True)):
                temp.write(flat[byte_target == k].tobytes() if len(output_files) > 1 else flat.tobytes())
                counts[path] += int(np.count_nonzero(target == k))
    for path in output_files:
        write_counts(path, counts[path], config, input_files)
    return counts


def write_counts(path, count, config, input_files=()):
    """Writes `<path>.json`: the instance count of `path` and the flags that made it."""
    info = {"num_instances": count, **dataclasses.asdict(config), "input_files": [os.fspath(p) for p in input_files]}
    with atomic_file(f"{path}.json") as writer:
        json.dump(info, writer, indent=2, sort_keys=True)
        writer.write("\n")


def read_counts(path):
    """The `<path>.json` written beside a record file, or None when there is none."""
    try:
        with open(f"{path}.json") as reader:
            return json.load(reader)
    except FileNotFoundError:
        return None


def _create_per_file(input_files, output_files, tokenizer, config, num_workers):
    """Per-file mode: one task per input file, in a pool of `num_workers` processes (in-process for 1)."""
    outputs = per_file_outputs(input_files, output_files)
    tasks = [(path, out, dataclasses.replace(config, random_seed=config.random_seed + position))
             for position, (path, out) in enumerate(zip(input_files, outputs, strict=True))]
    counts = {}
    started = time.perf_counter()
    with contextlib.ExitStack() as stack:
        if num_workers == 1:
            built = _built(tokenizer)
            results = (_task_result(built, *task) for task in tasks)
        else:
            # fork starts a worker in milliseconds, spawn re-imports everything (about 0.3 s here); but a fork of
            # a process that already runs TensorFlow threads can deadlock, so spawn then.
            fork = sys.platform.startswith("linux") and "tensorflow" not in sys.modules
            context = multiprocessing.get_context("fork" if fork else "spawn")
            pool = stack.enter_context(context.Pool(min(num_workers, len(tasks)), _init_worker, (tokenizer,)))
            results = pool.imap_unordered(_run_task, tasks)
        for done, (path, count) in enumerate(results, 1):
            counts[path] = count
            elapsed = time.perf_counter() - started
            logger.info("%d/%d files, %d instances, %.0f instances/s", done, len(tasks), sum(counts.values()),
                        sum(counts.values()) / max(elapsed, 1e-9))
    return {path: counts[path] for path in outputs}


_WORKER_TOKENIZER = None


def _built(tokenizer):
    """The tokenizer itself, or what its factory builds."""
    return tokenizer if hasattr(tokenizer, "tokenize") else tokenizer()


def _init_worker(tokenizer):
    global _WORKER_TOKENIZER
    _WORKER_TOKENIZER = _built(tokenizer)


def _run_task(task):
    return _task_result(_WORKER_TOKENIZER, *task)


def _task_result(tokenizer, input_file, output_file, config):
    return output_file, _create([input_file], [output_file], tokenizer, config)[output_file]
