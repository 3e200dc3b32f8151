"""ALBERT's sentence-order pairs (create_pretraining_data --sentence_order): B is the text after A in the same
document, swapped when a coin says so (label 1), every draw in the original ALBERT script's order; a one-segment
chunk still takes a random B from another document."""

import random
import subprocess
import sys

import numpy as np
from test_create_pretraining_data import REPO, assert_record, hand_record, hand_replacements, parse

from bert_tf.pretraining_data import PretrainingDataConfig
from bert_tf.pretraining_data.instances import create_instances

TEXT = "The man went to the store\nhe bought a gallon of milk\n"


def hand_derived(seed):
    """The record of TEXT at `seed` (two 6-token segments, max_seq_length 15: no truncation)."""
    rng = random.Random(seed)
    rng.shuffle([0])  # the document shuffle: one document, no draw
    assert not rng.random() < 0.1  # the target length stays max_num_tokens = 12
    assert rng.randint(1, 1) == 1  # a_end: A = segment 0
    # No next-sentence coin is drawn (a two-segment chunk is never "random next" here); the order coin:
    swapped = rng.random() < 0.5
    a, b = "the man went to the store".split(), "he bought a gallon of milk".split()
    if swapped:
        a, b = b, a
    tokens = ["[CLS]", *a, "[SEP]", *b, "[SEP]"]
    candidates = [p for p in range(1, 14) if p != 7]  # all but [CLS] and the [SEP]s (7, 14)
    rng.shuffle(candidates)
    picked = candidates[:min(3, max(1, round(15 * 0.15)))]  # round(2.25) = 2
    return swapped, tokens, hand_replacements(tokens, picked, rng), sorted(picked)


def test_hand_derived_swapped_and_kept_pairs(tmp_path):
    for seed, expect_swap in ((1, True), (4, False)):
        config = PretrainingDataConfig(max_seq_length=15, max_predictions_per_seq=3, random_seed=seed,
                                       dupe_factor=1, sentence_order=True)
        (tmp_path / str(seed)).mkdir()
        got = hand_record(tmp_path / str(seed), TEXT, config)
        swapped, tokens, output, masked = hand_derived(seed)
        assert swapped == expect_swap
        assert_record(got, tokens, output, masked, len_a=8, padding_predictions=1)
        np.testing.assert_array_equal(got["next_sentence_labels"], [int(swapped)])


def test_pairs_come_from_one_document_in_or_against_its_order():
    """Documents of 2-4 segments, never truncated: a kept pair is A then the text right after it, a swapped pair
    the same two spans the other way round (label 1); only one-segment chunks reach into another document."""
    rng = random.Random(0)
    documents, start = [], 0
    for _ in range(60):
        lengths = [rng.randint(1, 3) for _ in range(rng.randint(2, 4))]
        bounds = [start]
        for length in lengths:
            bounds.append(bounds[-1] + length)
        documents.append(bounds)
        start = bounds[-1]
    owner = {t: d for d, bounds in enumerate(documents) for t in range(bounds[0], bounds[-1])}
    config = PretrainingDataConfig(max_seq_length=64, short_seq_prob=0.0, dupe_factor=4, sentence_order=True)
    instances = create_instances(documents, config, None, random.Random(7))
    kept = swapped = other = 0
    for a_start, a_stop, b_start, b_stop, label in instances.spans:
        if owner[a_start] != owner[b_start]:
            other += 1
            assert label
        elif a_stop == b_start:
            kept += 1
            assert not label
        else:
            swapped += 1
            assert label and b_stop == a_start and owner[a_stop - 1] == owner[b_start]
    assert other == 0  # every chunk of these documents has two segments or more
    assert kept + swapped == len(instances.spans) == 240 and 100 < swapped < 140


def test_the_script_flag_writes_the_hand_derived_record(tmp_path):
    from test_create_pretraining_data import TINY_VOCAB, write_vocab

    (tmp_path / "doc.txt").write_text(TEXT)
    subprocess.run([sys.executable, f"{REPO}/create_pretraining_data.py", f"--input_file={tmp_path / 'doc.txt'}",
                    f"--output_file={tmp_path / 'out'}", f"--vocab_file={write_vocab(tmp_path / 'vocab.txt')}",
                    "--max_seq_length=15", "--max_predictions_per_seq=3", "--random_seed=1", "--dupe_factor=1",
                    "--sentence_order"], check=True, capture_output=True)
    got = parse([str(tmp_path / "out")], PretrainingDataConfig(max_seq_length=15, max_predictions_per_seq=3))
    swapped, _, output, _ = hand_derived(1)
    assert swapped and got["next_sentence_labels"].tolist() == [[1]]
    assert got["input_ids"][0].tolist() == [TINY_VOCAB.index(t) for t in output]
