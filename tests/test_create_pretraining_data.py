"""create_pretraining_data: record parity with the original script, a hand-derived golden, workers, bad input.

The oracle is the original `bert.create_pretraining_data` (pip bert-tensorflow 1.0.4), called function by function (its
flags are absl flags). That release predates whole-word masking, so for do_whole_word_mask the oracle's masking function
is replaced by `spec_masked_lm_predictions`, a transcription of docs/ORIGINAL.md §2.4 (the description wins there).
"""

import functools
import hashlib
import json
import os
import random
import subprocess
import sys

import numpy as np
import pytest
from helpers import DATA

from bert_tf import tokenization
from bert_tf.pretraining_data import PretrainingDataConfig, create_pretraining_data
from bert_tf.pretraining_data.records import read_tfrecords

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
WORDS = ["the", "a", "man", "went", "to", "store", "he", "bought", "gallon", "of", "milk", "penguins", "are",
         "birds", "cat", "sat", "on", "mat", "big", "red", "blue", "is", "was", "and", "it", "we", "run", "un",
         "flight"]
PIECES = ["##less", "##want", "##ed", "##ning", "##s"]
TINY_VOCAB = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", ".", ",", "!", *WORDS, *PIECES, "[unused0]"]
# Sentences mixing whole words and multi-piece words (unwanted -> un ##want ##ed, running -> run ##ning).
SENTENCE_WORDS = WORDS[:-3] + ["unwanted", "running", "flightless", "cats", "zebra"]


def write_vocab(path, tokens=TINY_VOCAB):
    path.write_text("".join(t + "\n" for t in tokens), encoding="utf-8")
    return str(path)


def write_corpus(path, seed, num_documents=5, newline="\n", extras=()):
    """Documents of 1-9 random sentences (3-14 words), blank lines between, plus `extras` lines at the end."""
    rng = random.Random(seed)
    lines = []
    for d in range(num_documents):
        if d:
            lines.append(rng.choice(["", "   ", "\t"]))  # blank after strip(): a document boundary
        for _ in range(rng.randint(1, 9)):
            words = [rng.choice(SENTENCE_WORDS) for _ in range(rng.randint(3, 14))]
            lines.append(" ".join(words) + rng.choice([".", "!", ""]))
    lines += list(extras)
    path.write_bytes((newline.join(lines) + newline).encode("utf-8"))
    return str(path)


def spec_masked_lm_predictions(tokens, masked_lm_prob, max_predictions_per_seq, vocab_words, rng,
                               do_whole_word_mask):
    """Spec §2.4 in words -> code: candidate groups, shuffled; whole groups taken while they fit; per piece
    random() < 0.8 -> [MASK], else random() < 0.5 -> keep, else a randint over the whole vocab."""
    groups = []
    for i, token in enumerate(tokens):
        if token in ("[CLS]", "[SEP]"):
            continue
        if do_whole_word_mask and groups and token.startswith("##"):
            groups[-1].append(i)
        else:
            groups.append([i])
    rng.shuffle(groups)
    num_to_predict = min(max_predictions_per_seq, max(1, int(round(len(tokens) * masked_lm_prob))))
    output, picked = list(tokens), []
    for group in groups:
        if len(picked) >= num_to_predict:
            break
        if len(picked) + len(group) > num_to_predict:
            continue
        for i in group:
            if rng.random() < 0.8:
                output[i] = "[MASK]"
            elif rng.random() >= 0.5:
                output[i] = vocab_words[rng.randint(0, len(vocab_words) - 1)]
            picked.append(i)
    picked.sort()
    return output, picked, [tokens[i] for i in picked]


@pytest.fixture(scope="module")
def original():
    from absl import flags
    from bert import create_pretraining_data

    if not flags.FLAGS.is_parsed():
        flags.FLAGS.mark_as_parsed()  # its tokenizer reads --preserve_unused_tokens (default False)
    return create_pretraining_data


def parse(paths, config):
    """Every record of `paths` (in order) parsed by TensorFlow -> name -> array [N, width]."""
    import tensorflow as tf

    from bert_tf.pretraining_data.readers import feature_spec

    spec = feature_spec(config.max_seq_length, config.max_predictions_per_seq)
    records = [r for path in paths for r in read_tfrecords(path)]
    parsed = tf.io.parse_example(tf.constant(records, tf.string), spec) if records else None
    return {name: parsed[name].numpy() for name in spec} if records else {}


def run_original(original, monkeypatch, input_files, output_files, vocab_file, config, do_lower_case=True):
    from bert import tokenization as original_tokenization

    if config.do_whole_word_mask:
        monkeypatch.setattr(original, "create_masked_lm_predictions", lambda *args: spec_masked_lm_predictions(
            *args, do_whole_word_mask=True))
    tokenizer = original_tokenization.FullTokenizer(vocab_file, do_lower_case)
    instances = original.create_training_instances(
        input_files, tokenizer, config.max_seq_length, config.dupe_factor, config.short_seq_prob,
        config.masked_lm_prob, config.max_predictions_per_seq, random.Random(config.random_seed))
    original.write_instance_to_example_files(instances, tokenizer, config.max_seq_length,
                                             config.max_predictions_per_seq, output_files)
    return instances


def assert_same_records(ours, theirs, config):
    a, b = parse(ours, config), parse(theirs, config)
    assert a.keys() == b.keys()
    for name in a:
        np.testing.assert_array_equal(a[name], b[name], err_msg=name)


@pytest.fixture
def corpus(tmp_path):
    """Two files: CRLF line ends, a mid-line CR, runs of blank lines, a 1-token document, an [UNK] word, and a
    first file that does not end with a blank line (files are not document boundaries)."""
    first = write_corpus(tmp_path / "a.txt", 1, 6, "\r\n", ["penguins are flight\rless birds", "", "", "cat", "",
                                                           "zebra run running", "milk"])
    second = write_corpus(tmp_path / "b.txt", 2, 4, "\n", ["the cat sat on the mat \u2028 big . \x0bmilk"])
    return [first, second], write_vocab(tmp_path / "vocab.txt")


@pytest.mark.parametrize("seed,dupe_factor,short_seq_prob,max_seq_length,masked_lm_prob,max_predictions", [
    (12345, 2, 0.1, 32, 0.15, 5), (1, 3, 0.5, 20, 0.15, 4), (7, 1, 1.0, 12, 0.3, 3), (99, 2, 0.0, 64, 0.2, 12),
    (5, 2, 0.1, 5, 0.15, 2),
])
@pytest.mark.parametrize("whole_word", [False, True])
def test_records_equal_the_original(original, monkeypatch, corpus, tmp_path, seed, dupe_factor, short_seq_prob,
                                    max_seq_length, masked_lm_prob, max_predictions, whole_word):
    files, vocab = corpus
    config = PretrainingDataConfig(max_seq_length, max_predictions, seed, dupe_factor, masked_lm_prob,
                                   short_seq_prob, whole_word)
    outputs = [str(tmp_path / "ours-0.tfrecord"), str(tmp_path / "ours-1.tfrecord")]
    counts = create_pretraining_data(files, outputs, tokenization.FullTokenizer(vocab), config)
    theirs = [str(tmp_path / "orig-0.tfrecord"), str(tmp_path / "orig-1.tfrecord")]
    instances = run_original(original, monkeypatch, files, theirs, vocab, config)
    assert sum(counts.values()) == len(instances) > 20
    assert counts == {outputs[0]: (len(instances) + 1) // 2, outputs[1]: len(instances) // 2}  # round-robin
    for ours_file, their_file in zip(outputs, theirs, strict=True):
        assert_same_records([ours_file], [their_file], config)


@pytest.mark.parametrize("max_seq_length,max_predictions,masked_lm_prob", [
    (16, 16, 0.15),  # as many predictions as tokens (128/128 in small): num_to_predict is capped, not refused
    (12, 30, 1.0),  # more than the candidates: every non-special token predicted, the rest padding
    (16, 3, 0.0),  # num_to_predict = max(1, round(0)) = 1: one prediction per instance
    (16, 0, 0.15),  # no prediction at all (NSP-only records); the candidate shuffle still draws
])
@pytest.mark.parametrize("whole_word", [False, True])
def test_edge_flags_equal_the_original(original, monkeypatch, corpus, tmp_path, max_seq_length, max_predictions,
                                       masked_lm_prob, whole_word):
    """Flag values the original accepts and caps silently: the same records, not a refusal."""
    files, vocab = corpus
    config = PretrainingDataConfig(max_seq_length, max_predictions, 17, 2, masked_lm_prob, 0.1, whole_word)
    create_pretraining_data(files, [str(tmp_path / "ours")], tokenization.FullTokenizer(vocab), config)
    instances = run_original(original, monkeypatch, files, [str(tmp_path / "orig")], vocab, config)
    assert len(instances) > 20
    assert_same_records([str(tmp_path / "ours")], [str(tmp_path / "orig")], config)
    weights = parse([str(tmp_path / "ours")], config)["masked_lm_weights"]
    counts = weights.sum(axis=1)
    if masked_lm_prob == 0.0:
        assert (counts == 1).all()
    elif max_predictions == 0:
        assert weights.shape == (len(instances), 0)
    elif not whole_word:
        # num_to_predict = min(P, round(len * prob)) is reached exactly (enough candidates for it).
        lengths = parse([str(tmp_path / "ours")], config)["input_mask"].sum(axis=1)
        expected = np.minimum(np.minimum(max_predictions, np.maximum(1, np.round(lengths * masked_lm_prob))),
                              lengths - 3)
        np.testing.assert_array_equal(counts, expected)


def test_whole_word_mask_without_subwords_equals_plain_original(original, tmp_path):
    """No "##" piece anywhere: whole words are single pieces, so WWM must draw exactly as the unpatched original."""
    vocab = write_vocab(tmp_path / "vocab.txt", [t for t in TINY_VOCAB if not t.startswith("##")])
    files = [write_corpus(tmp_path / "c.txt", 3, 8)]
    config = PretrainingDataConfig(24, 4, 3, 3, do_whole_word_mask=True)
    create_pretraining_data(files, [str(tmp_path / "ours")], tokenization.FullTokenizer(vocab), config)
    run_original(original, None, files, [str(tmp_path / "orig")], vocab,
                 PretrainingDataConfig(24, 4, 3, 3, do_whole_word_mask=False))
    assert_same_records([str(tmp_path / "ours")], [str(tmp_path / "orig")], config)


def test_hand_derived_single_sentence(tmp_path):
    """One document of one segment "the man went": every draw, in the original's order, by hand
    (docs/ORIGINAL.md §2.1-2.5)."""
    vocab = write_vocab(tmp_path / "vocab.txt")
    ids = {t: i for i, t in enumerate(TINY_VOCAB)}
    (tmp_path / "one.txt").write_text("The man went\n")
    config = PretrainingDataConfig(max_seq_length=9, max_predictions_per_seq=2, random_seed=4, dupe_factor=1)
    create_pretraining_data([str(tmp_path / "one.txt")], [str(tmp_path / "out")], tokenization.FullTokenizer(vocab),
                            config)
    got = {name: values[0] for name, values in parse([str(tmp_path / "out")], config).items()}
    rng = random.Random(4)
    rng.shuffle([["the", "man", "went"]])  # the document shuffle (one document: consumes nothing)
    assert not rng.random() < 0.1  # target length: 9 - 3 = 6 (no short sequence for this seed)
    # One segment: a_end = 1 without a draw, "random next" without a coin; 10 tries for another document all
    # give document 0 (the only one), then the random start in it.
    assert [rng.randint(0, 0) for _ in range(10)] == [0] * 10 and rng.randint(0, 0) == 0
    # A = B = [the man went]: 6 tokens fit max_num_tokens 6, no truncation. [CLS] A [SEP] B [SEP] = 9 tokens.
    tokens = ["[CLS]", "the", "man", "went", "[SEP]", "the", "man", "went", "[SEP]"]
    candidates = [1, 2, 3, 5, 6, 7]
    rng.shuffle(candidates)
    num_to_predict = min(2, max(1, round(9 * 0.15)))  # round(1.35) = 1
    masked = []
    for position in sorted(candidates[:num_to_predict]):
        masked.append(position)
    output = list(tokens)
    for position in candidates[:num_to_predict]:
        if rng.random() < 0.8:
            output[position] = "[MASK]"
        elif rng.random() >= 0.5:
            output[position] = TINY_VOCAB[rng.randint(0, len(TINY_VOCAB) - 1)]
    np.testing.assert_array_equal(got["input_ids"], [ids[t] for t in output])
    np.testing.assert_array_equal(got["input_mask"], [1] * 9)
    np.testing.assert_array_equal(got["segment_ids"], [0, 0, 0, 0, 0, 1, 1, 1, 1])
    np.testing.assert_array_equal(got["masked_lm_positions"], [masked[0], 0])
    np.testing.assert_array_equal(got["masked_lm_ids"], [ids[tokens[masked[0]]], 0])
    np.testing.assert_array_equal(got["masked_lm_weights"], [1.0, 0.0])
    np.testing.assert_array_equal(got["next_sentence_labels"], [1])  # one-segment chunk: always random next


def hand_replacements(tokens, picked_in_draw_order, rng):
    """Spec §2.4, per picked piece in the order the picks were made: random() < 0.8 -> [MASK]; else
    random() < 0.5 -> kept; else a uniform randint over the whole vocab (file order, specials included)."""
    output = list(tokens)
    for position in picked_in_draw_order:
        if rng.random() < 0.8:
            output[position] = "[MASK]"
        elif not rng.random() < 0.5:
            output[position] = TINY_VOCAB[rng.randint(0, len(TINY_VOCAB) - 1)]
    return output


def assert_record(got, tokens, output, masked, len_a, padding_predictions):
    """The parsed record equals the hand derivation: `output` tokens after masking, segment A of `len_a` tokens
    ([CLS] a [SEP]), the `masked` positions in order, then `padding_predictions` zero entries."""
    ids = {t: i for i, t in enumerate(TINY_VOCAB)}
    pad = [0] * padding_predictions
    np.testing.assert_array_equal(got["input_ids"], [ids[t] for t in output])
    np.testing.assert_array_equal(got["input_mask"], [1] * len(tokens))
    np.testing.assert_array_equal(got["segment_ids"], [0] * len_a + [1] * (len(tokens) - len_a))
    np.testing.assert_array_equal(got["masked_lm_positions"], masked + pad)
    np.testing.assert_array_equal(got["masked_lm_ids"], [ids[tokens[p]] for p in masked] + pad)
    np.testing.assert_array_equal(got["masked_lm_weights"], [1.0] * len(masked) + [0.0] * padding_predictions)


def hand_record(tmp_path, text, config):
    """The single record `text` gives under `config` (one instance: dupe_factor 1, one chunk)."""
    (tmp_path / "doc.txt").write_text(text)
    create_pretraining_data([str(tmp_path / "doc.txt")], [str(tmp_path / "out")],
                            tokenization.FullTokenizer(write_vocab(tmp_path / "vocab.txt")), config)
    parsed = parse([str(tmp_path / "out")], config)
    assert len(parsed["input_ids"]) == 1
    return {name: values[0] for name, values in parsed.items()}


def test_hand_derived_actual_next_with_truncation(tmp_path):
    """One document of two 6-token segments, max_seq_length 12: an actual-next pair truncated 12 -> 9 tokens,
    every draw in the original's order by hand (docs/ORIGINAL.md §2.2-2.5)."""
    config = PretrainingDataConfig(max_seq_length=12, max_predictions_per_seq=3, random_seed=15, dupe_factor=1)
    got = hand_record(tmp_path, "The man went to the store\nhe bought a gallon of milk\n", config)
    rng = random.Random(15)
    rng.shuffle([0])  # the document shuffle: one document, no draw
    assert not rng.random() < 0.1  # target length = max_num_tokens = 12 - 3 = 9
    # Segment 0 (6 tokens) is short of 9; segment 1 is the last, so the chunk is both segments (12 tokens).
    assert rng.randint(1, 1) == 1  # a_end: A = segment 0 (randint(1, 1) still draws)
    assert not rng.random() < 0.5  # the coin: actual next, B = segment 1 (the rest of the chunk)
    a, b = "the man went to the store".split(), "he bought a gallon of milk".split()
    # Truncation to 9: the longer side (ties -> B) loses its first token if random() < 0.5, else its last.
    assert rng.random() < 0.5 and b.pop(0) == "he"  # 6 + 6: tie, B loses its front
    assert not rng.random() < 0.5 and a.pop() == "store"  # 6 + 5: A is longer, loses its back
    assert rng.random() < 0.5 and b.pop(0) == "bought"  # 5 + 5: tie, B loses its front; 5 + 4 = 9 fit
    tokens = ["[CLS]", *a, "[SEP]", *b, "[SEP]"]
    assert len(tokens) == 12
    candidates = [1, 2, 3, 4, 5, 7, 8, 9, 10]  # all but [CLS] (0) and the [SEP]s (6, 11)
    rng.shuffle(candidates)
    num_to_predict = min(3, max(1, round(12 * 0.15)))  # round(1.8) = 2
    picked = candidates[:num_to_predict]
    output = hand_replacements(tokens, picked, rng)
    masked = sorted(picked)
    assert_record(got, tokens, output, masked, len_a=7, padding_predictions=1)
    np.testing.assert_array_equal(got["next_sentence_labels"], [0])  # 0: B is the actual next


def test_hand_derived_whole_word_masking(tmp_path):
    """"the man went running" (running -> run ##ning) with do_whole_word_mask: words are picked whole in
    shuffled order, and a word that would overshoot num_to_predict is skipped for a later, shorter one."""
    config = PretrainingDataConfig(max_seq_length=13, max_predictions_per_seq=5, random_seed=34, dupe_factor=1,
                                   masked_lm_prob=0.3, do_whole_word_mask=True)
    got = hand_record(tmp_path, "The man went running\n", config)
    rng = random.Random(34)
    rng.shuffle([0])  # the document shuffle: one document, no draw
    assert not rng.random() < 0.1  # target length 10
    # One segment: a_end = 1 and "random next" without draws; 10 tries for another document and the random
    # start all give 0 (the only document, the only segment).
    assert [rng.randint(0, 0) for _ in range(10)] == [0] * 10 and rng.randint(0, 0) == 0
    piece_list = ["the", "man", "went", "run", "##ning"]
    tokens = ["[CLS]", *piece_list, "[SEP]", *piece_list, "[SEP]"]  # 5 + 5 = 10 fit: no truncation
    # Candidate groups: a "##" piece joins the group before it.
    groups = [[1], [2], [3], [4, 5], [7], [8], [9], [10, 11]]
    rng.shuffle(groups)
    num_to_predict = min(5, max(1, round(13 * 0.3)))  # round(3.9) = 4
    picked, skipped = [], []
    for group in groups:
        if len(picked) >= num_to_predict:
            break
        if len(picked) + len(group) > num_to_predict:
            skipped.append(group)
            continue
        picked += group
    # For this seed: B's "run ##ning" whole, "man" (B), then A's "run ##ning" overshoots (3 + 2 > 4) and is
    # skipped, and "the" (A) fills the fourth prediction.
    assert (groups[:4], picked, skipped) == ([[10, 11], [8], [4, 5], [1]], [10, 11, 8, 1], [[4, 5]])
    output = hand_replacements(tokens, picked, rng)  # the 80/10/10 draws are per piece
    masked = sorted(picked)
    assert_record(got, tokens, output, masked, len_a=7, padding_predictions=1)
    np.testing.assert_array_equal(got["next_sentence_labels"], [1])


def test_regression_golden_file(tmp_path):
    """The whole output file of a fixed tiny run, byte for byte (our encoding is deterministic)."""
    vocab = write_vocab(tmp_path / "vocab.txt")
    files = [write_corpus(tmp_path / "g.txt", 11, 4)]
    config = PretrainingDataConfig(16, 3, 11, 2, do_whole_word_mask=True)
    create_pretraining_data(files, [str(tmp_path / "golden")], tokenization.FullTokenizer(vocab), config)
    data = (tmp_path / "golden").read_bytes()
    assert (len(read_tfrecords(tmp_path / "golden")), len(data)) == (26, 6630)
    assert hashlib.sha256(data).hexdigest() == "305abccf50beeeec01bd85cbd5f54c903e864145d2137c0a0dbb4e7bde482dd8"


def test_script_matches_library_and_writes_counts(tmp_path, corpus):
    files, vocab = corpus
    outputs = f"{tmp_path / 'x.tfrecord'},{tmp_path / 'y.tfrecord'}"
    result = subprocess.run(
        [sys.executable, os.path.join(REPO, "create_pretraining_data.py"), f"--input_file={files[0]},{files[1]}",
         f"--output_file={outputs}", f"--vocab_file={vocab}", "--max_seq_length=32", "--max_predictions_per_seq=5",
         "--dupe_factor=2", "--random_seed=3"], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    config = PretrainingDataConfig(32, 5, 3, 2)
    library = [str(tmp_path / "lx"), str(tmp_path / "ly")]
    counts = create_pretraining_data(files, library, tokenization.FullTokenizer(vocab), config)
    for path, mine in zip(outputs.split(","), library, strict=True):
        assert open(path, "rb").read() == open(mine, "rb").read()
        info = json.load(open(path + ".json"))
        assert info["num_instances"] == counts[mine] == len(read_tfrecords(path))
        assert (info["max_seq_length"], info["max_predictions_per_seq"], info["random_seed"]) == (32, 5, 3)
    assert not any(name.endswith(".tmp") for name in os.listdir(tmp_path))


def test_per_file_workers_equal_the_original_on_each_file(original, corpus, tmp_path):
    files, vocab = corpus
    config = PretrainingDataConfig(32, 5, 21, 2)
    tokenizer = functools.partial(tokenization.FullTokenizer, vocab)  # workers build their own
    parallel = create_pretraining_data(files, [str(tmp_path / "w")], tokenizer, config, num_workers=2)
    assert list(parallel) == [str(tmp_path / "w-00000-of-00002"), str(tmp_path / "w-00001-of-00002")]
    serial = create_pretraining_data(files, [str(tmp_path / "s0"), str(tmp_path / "s1")], tokenizer, config,
                                     per_file=True)
    for position, (path, serial_path) in enumerate(zip(parallel, serial, strict=True)):
        assert open(path, "rb").read() == open(serial_path, "rb").read()
        alone = PretrainingDataConfig(32, 5, 21 + position, 2)  # seed + position, file processed alone
        run_original(original, None, [files[position]], [str(tmp_path / f"o{position}")], vocab, alone)
        assert_same_records([path], [str(tmp_path / f"o{position}")], config)
        assert json.load(open(path + ".json"))["num_instances"] == parallel[path]


def leftovers(directory):
    return sorted(name for name in os.listdir(directory) if name.startswith(("out", ".out")))


def test_bad_input_errors_and_no_partial_output(tmp_path):
    tokenizer = tokenization.FullTokenizer(write_vocab(tmp_path / "vocab.txt"))
    out = [str(tmp_path / "out")]
    config = PretrainingDataConfig(16, 3)
    from bert_tf.pretraining_data import expand_input_patterns

    with pytest.raises(ValueError, match=r"missing-\*\.txt.*matches no file"):
        expand_input_patterns(f"{tmp_path}/missing-*.txt")
    (tmp_path / "blank.txt").write_text("\n  \n\t\n\n")
    with pytest.raises(ValueError, match="no documents in .*blank.txt"):
        create_pretraining_data([str(tmp_path / "blank.txt")], out, tokenizer, config)
    (tmp_path / "latin1.txt").write_bytes("the man\nwent to the caf\u00e9\n".encode("latin-1"))
    with pytest.raises(ValueError, match=r"latin1.txt:2: not valid UTF-8.*byte 0xe9 at column 16"):
        create_pretraining_data([str(tmp_path / "latin1.txt")], out, tokenizer, config)
    with pytest.raises(ValueError, match="max_predictions_per_seq=-1"):
        PretrainingDataConfig(16, -1)
    with pytest.raises(ValueError, match="masked_lm_prob=-0.1"):
        PretrainingDataConfig(16, 3, masked_lm_prob=-0.1)
    with pytest.raises(ValueError, match="dupe_factor=0"):
        PretrainingDataConfig(16, 3, dupe_factor=0)
    with pytest.raises(ValueError, match="max_seq_length=4"):
        PretrainingDataConfig(4, 1)
    with pytest.raises(ValueError, match="output_files lists a file twice"):
        create_pretraining_data([str(tmp_path / "blank.txt")], out * 2, tokenizer, config)
    with pytest.raises(ValueError, match="one output file per input file"):
        create_pretraining_data(["a", "b", "c"], ["x", "y"], tokenizer, config, per_file=True)
    assert leftovers(tmp_path) == []


def test_failed_write_leaves_no_file(tmp_path, monkeypatch):
    """An error in the middle of writing removes the temporary files; nothing named like an output remains."""
    from bert_tf.pretraining_data import records

    tokenizer = tokenization.FullTokenizer(write_vocab(tmp_path / "vocab.txt"))
    files = [write_corpus(tmp_path / "c.txt", 5, 6)]
    monkeypatch.setattr(records, "encode_records", lambda features: 1 / 0)
    with pytest.raises(ZeroDivisionError):
        create_pretraining_data(files, [str(tmp_path / "out"), str(tmp_path / "out2")], tokenizer,
                                PretrainingDataConfig(16, 3))
    assert leftovers(tmp_path) == []


@pytest.mark.slow
def test_kjv_records_equal_the_original(original, tmp_path):
    """The benchmark corpus end to end (spec: same instances, order, masks), dupe_factor 2, seq 128."""
    corpus = str(DATA / "corpus" / "kjv.txt")
    vocab = str(DATA / "bert_base_uncased" / "vocab.txt")
    config = PretrainingDataConfig(dupe_factor=2)
    counts = create_pretraining_data([corpus], [str(tmp_path / "ours")], tokenization.FullTokenizer(vocab), config)
    run_original(original, None, [corpus], [str(tmp_path / "orig")], vocab, config)
    assert counts[str(tmp_path / "ours")] == 21357
    assert_same_records([str(tmp_path / "ours")], [str(tmp_path / "orig")], config)
