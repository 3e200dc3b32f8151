"""bert_tf.pretraining_data: reading quirks, instance invariants (docs/ORIGINAL.md), the record encoding, the
static tf.data reader and dynamic masking. Parity with the original script is in test_create_pretraining_data."""

import collections
import random
import subprocess
import sys

import numpy as np
import pytest
from helpers import DATA
from test_create_pretraining_data import TINY_VOCAB, parse, write_corpus, write_vocab

from bert_tf import tokenization
from bert_tf.pretraining_data import PretrainingDataConfig, create_pretraining_data, documents, instances, records
from bert_tf.pretraining_data.columns import feature_columns, instance_arrays

CORPUS = str(DATA / "corpus" / "kjv.txt")
BASE_VOCAB = str(DATA / "bert_base_uncased" / "vocab.txt")


@pytest.fixture
def tokenizer(tmp_path):
    return tokenization.FullTokenizer(write_vocab(tmp_path / "vocab.txt"))


# ----------------------------------------------------------------------------------------------- reading


def test_read_lines_reproduces_the_tensorflow_reader(tmp_path):
    path = tmp_path / "t.txt"
    path.write_bytes(b"ab\rcd\r\n\r\n line two \n\nlast")
    # Every CR is dropped (TF's line reader), lines end only at LF, a last line without LF still counts.
    assert documents.read_lines(path) == ["abcd", "", " line two ", "", "last"]
    path.write_bytes(b"")
    assert documents.read_lines(path) == []


def test_documents_split_on_blank_lines_not_on_files(tmp_path, tokenizer):
    ids = {t: i for i, t in enumerate(TINY_VOCAB)}
    (tmp_path / "a.txt").write_text("the man\n\n \t \n\n\ncat sat\nmilk\n")
    (tmp_path / "b.txt").write_text("he went\n\x0b\n!!\n,\n\x00\n")
    corpus = documents.read_documents([str(tmp_path / "a.txt"), str(tmp_path / "b.txt")], tokenizer)
    got = [corpus.segments(d) for d in range(len(corpus.documents))]
    # "he went" continues the document of a.txt; "\x0b" is blank after strip(); "\x00" tokenizes to nothing.
    assert got == [[[ids["the"], ids["man"]]],
                   [[ids["cat"], ids["sat"]], [ids["milk"]], [ids["he"], ids["went"]]],
                   [[ids["!"], ids["!"]], [ids[","]]]]
    shuffled = documents.read_documents([str(tmp_path / "a.txt"), str(tmp_path / "b.txt")], tokenizer,
                                        random.Random(0))
    expected = list(corpus.documents)
    random.Random(0).shuffle(expected)
    assert shuffled.documents == expected


def whole_line_reference(paths, tokenizer):
    """What the original reads: every stripped line tokenized whole, blank lines ending documents."""
    tokens, bounds = [], [[0]]
    for path in paths:
        for line in documents.read_lines(path):
            line = line.strip()
            if not line:
                bounds.append([len(tokens)])
                continue
            ids = tokenizer.convert_tokens_to_ids(tokenizer.tokenize(line))
            if ids:
                tokens += ids
                bounds[-1].append(len(tokens))
    return tokens, [b for b in bounds if len(b) > 1]


@pytest.mark.parametrize("do_lower_case", [True, False])
def test_vectorised_reading_equals_whole_line_tokenization(tmp_path, do_lower_case):
    """Random text from hard pieces (Unicode spaces, deleted controls, accents, CJK, punctuation runs, long and
    case-mixed words, blank-looking lines, files without a final newline), read in blocks down to one byte."""
    vocab = write_vocab(tmp_path / "vocab.txt", [*TINY_VOCAB, "The", "Man", "caf", "##e", "##\u00e9", "x", "##x",
                                                "\u4e2d", "-", ":"])
    tokenizer = tokenization.FullTokenizer(vocab, do_lower_case)
    pieces = ["the", "Man", "MAN", "ran", "runs", "caf\u00e9", "CAFE\u0301", "\u4e2d\u6587", "a\u00a0b", "x\x0by",
              "p\x1cq", "\x85", "\u3000", "\u2028", "\u2009", "\u2014x", "\u201cq\u201d", "", " ", "\t", "\x00",
              "\x01z", "run,ning!", "--:", "x" * 15, "x" * 16, "x" * 15 + "h", "X" * 23, "y" * 300, "\xad", "\u200b",
              "\ufeff", "\n", "\n\n", "  \n", "\x1c\n", "\x7f"]
    rng = random.Random(0)
    for trial in range(60):
        paths = []
        for k in range(rng.randint(1, 3)):
            text = "".join(rng.choice(pieces) + rng.choice([" ", "\t", "", "\n", "  "])
                           for _ in range(rng.randint(0, 50)))
            paths.append(tmp_path / f"t{k}.txt")
            paths[-1].write_text(text, encoding="utf-8")
        tokens, bounds = whole_line_reference(paths, tokenizer)
        for block_bytes in (1, 7, 1 << 22):
            corpus = documents.read_documents(paths, tokenizer, block_bytes=block_bytes)
            assert corpus.tokens.tolist() == tokens and corpus.documents == bounds, (trial, block_bytes)


def test_unicode_spaces_are_every_non_ascii_character_str_split_splits_on():
    found = [chr(c).encode() for c in range(0x80, sys.maxunicode + 1) if chr(c).isspace()]
    assert sorted(found) == sorted(documents._UNICODE_SPACES)


def test_unit_grouping_survives_hash_collisions(monkeypatch):
    rng = np.random.default_rng(0)
    low, high = (rng.integers(0, n, 1000).astype(np.uint64) for n in (5, 3))
    pairs = list(zip(low.tolist(), high.tolist(), strict=True))
    for mix in (documents._MIX, (0, 0)):  # (0, 0): every pair has the same hash, so the exact path is taken
        monkeypatch.setattr(documents, "_MIX", mix)
        group, first = documents._group(low, high)
        assert len(first) == len(set(pairs)) == 15
        assert all(pairs[first[group[k]]] == pairs[k] for k in range(1000))
        assert len({(group[k], pairs[k]) for k in range(1000)}) == 15


def test_word_cache_gives_the_tokenizer_output_on_hard_lines(tokenizer):
    """Whole-line tokenization == per-word tokenization, except around deleted whitespace-like controls."""
    line_ids = documents._WordIds(tokenizer)
    for line in ["the man\x0bwent", "cat\x1csat\x85on", "milk\u2028mat\u2029red", "un\x00wanted caf\u00e9 ZEBRA",
                 "penguins\u00a0are\u3000birds", "中the文 \tcat", "running,flightless!", "x" * 250]:
        assert line_ids.line_ids(line) == tokenizer.convert_tokens_to_ids(tokenizer.tokenize(line)), line


def test_deleted_space_characters_are_exactly_the_isspace_controls():
    import unicodedata

    found = [chr(c) for c in range(sys.maxunicode + 1) if chr(c).isspace() and chr(c) not in "\t\n\r"
             and unicodedata.category(chr(c)).startswith("C")]
    assert all(documents._DELETED_SPACE_RE.fullmatch(c) for c in found) and len(found) == 7


def test_importing_and_creating_never_loads_tensorflow(tmp_path):
    vocab = write_vocab(tmp_path / "vocab.txt")
    corpus = write_corpus(tmp_path / "c.txt", 0)
    code = ("import sys; from bert_tf import tokenization; from bert_tf.pretraining_data import *; "
            f"create_pretraining_data([{corpus!r}], [{str(tmp_path / 'o')!r}], "
            f"tokenization.FullTokenizer({vocab!r}), PretrainingDataConfig(16, 3)); "
            "assert 'tensorflow' not in sys.modules, 'tensorflow imported'")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr


# ----------------------------------------------------------------------------------------------- instances


def make_instances(tmp_path, tokenizer, config, num_documents=12, seed=0):
    rng = random.Random(config.random_seed)
    corpus = documents.read_documents([write_corpus(tmp_path / f"c{seed}.txt", seed, num_documents)], tokenizer, rng)
    vocab_info = instances.VocabInfo.from_vocab(tokenizer.vocab)
    tokens = np.asarray(corpus.tokens)
    flags = np.array([t.startswith("##") for t in tokenizer.vocab], np.uint8)[tokens].tobytes()
    made = instances.create_instances(corpus.documents, config, vocab_info, rng, flags)
    features = feature_columns(instance_arrays(made), made.order, tokens, config.max_seq_length,
                               config.max_predictions_per_seq, vocab_info)
    return corpus, made, features


@pytest.mark.parametrize("whole_word", [False, True])
def test_every_instance_has_the_original_structure(tmp_path, tokenizer, whole_word):
    """Spec checklist: [CLS] A [SEP] B [SEP], lengths, segment ids, padding, mask count/positions/labels."""
    config = PretrainingDataConfig(24, 5, 3, 4, 0.15, 0.3, whole_word)
    corpus, made, f = make_instances(tmp_path, tokenizer, config)
    cls, sep, mask = (TINY_VOCAB.index(t) for t in ("[CLS]", "[SEP]", "[MASK]"))
    for k, original in enumerate(made.order):
        a_start, a_stop, b_start, b_stop, random_next = made.spans[original]
        n = int(f["input_mask"][k].sum())
        len_a, len_b = a_stop - a_start, b_stop - b_start
        assert len_a >= 1 and len_b >= 1 and n == len_a + len_b + 3 <= config.max_seq_length
        np.testing.assert_array_equal(f["input_mask"][k], [1] * n + [0] * (24 - n))
        np.testing.assert_array_equal(f["segment_ids"][k], [0] * (len_a + 2) + [1] * (len_b + 1) + [0] * (24 - n))
        unmasked = [cls, *corpus.tokens[a_start:a_stop], sep, *corpus.tokens[b_start:b_stop], sep] + [0] * (24 - n)
        count = int(f["masked_lm_weights"][k].sum())
        positions = f["masked_lm_positions"][k][:count]
        expected = min(5, max(1, round(n * 0.15)))
        assert count == expected or (whole_word and 1 <= count < expected)
        assert list(positions) == sorted(set(positions)) and not {0, len_a + 1, n - 1} & set(positions)
        np.testing.assert_array_equal(f["masked_lm_ids"][k][:count], np.array(unmasked)[positions])
        np.testing.assert_array_equal(f["masked_lm_positions"][k][count:], 0)
        np.testing.assert_array_equal(f["masked_lm_weights"][k], [1.0] * count + [0.0] * (5 - count))
        unchanged = np.setdiff1d(np.arange(24), positions)
        np.testing.assert_array_equal(f["input_ids"][k][unchanged], np.array(unmasked)[unchanged])
        assert f["input_ids"][k][0] == cls and f["input_ids"][k][len_a + 1] == f["input_ids"][k][n - 1] == sep
        assert f["next_sentence_labels"][k][0] == random_next
        if not random_next:  # actual next: B continues A in the same document
            assert any(bounds[0] <= a_start and b_stop <= bounds[-1] for bounds in corpus.documents)
            assert a_stop <= b_start
    assert 0 < f["next_sentence_labels"].mean() < 1 and (f["input_ids"] == mask).any()


def test_whole_word_groups_are_masked_whole(tmp_path, tokenizer):
    config = PretrainingDataConfig(40, 12, 8, 5, 0.3, 0.1, True)
    corpus, made, f = make_instances(tmp_path, tokenizer, config, seed=4)
    subword = np.array([t.startswith("##") for t in TINY_VOCAB])
    checked = 0
    for k, original in enumerate(made.order):
        a_start, a_stop, b_start, b_stop, _ = made.spans[original]
        pieces = [*corpus.tokens[a_start:a_stop], *corpus.tokens[b_start:b_stop]]
        slots = [*range(1, a_stop - a_start + 1), *range(a_stop - a_start + 2, len(pieces) + 2)]
        masked = set(f["masked_lm_positions"][k][f["masked_lm_weights"][k] > 0])
        for j, position in enumerate(slots):
            # A "##" piece and the piece before it among the candidates (even across the middle [SEP],
            # docs/ORIGINAL.md §2.4 quirk) are masked together or not at all.
            if j and subword[pieces[j]]:
                checked += 1
                assert (position in masked) == (slots[j - 1] in masked), (k, position)
    assert checked > 100


def test_inlined_shuffle_draws_exactly_as_random_shuffle():
    """Same head of the permutation and the same generator state after, for every size and head length."""
    for n in range(0, 300):
        for count in {0, 1, 2, n // 3, max(n - 1, 0), n, n + 2}:
            expected, ours = random.Random(n * 7 + count), random.Random(n * 7 + count)
            items = list(range(n))
            expected.shuffle(items)
            assert instances._shuffled_head(list(range(n)), count, ours) == items[:count]
            assert expected.getstate() == ours.getstate(), (n, count)


def test_truncation_and_short_targets(tmp_path, tokenizer):
    """With short_seq_prob=1 every document pass aims at randint(2, max_num_tokens); lengths then vary."""
    config = PretrainingDataConfig(32, 4, 1, 6, 0.15, 1.0)
    _, made, f = make_instances(tmp_path, tokenizer, config)
    lengths = f["input_mask"].sum(axis=1)
    assert lengths.max() <= 32 and lengths.min() >= 5 and len(set(lengths)) > 10


# ----------------------------------------------------------------------------------------------- records


def test_crc32c_reference_vectors_and_vectorised_rows():
    assert records.crc32c(b"123456789") == 0xE3069283  # the CRC32C check value
    assert records.crc32c(b"") == 0 and records.crc32c(b"\x00" * 32) == 0x8A9136AA  # RFC 3720 B.4
    rng = np.random.default_rng(0)
    datas = [rng.integers(0, 256, n).astype(np.uint8).tobytes() for n in [0, 1, 2, 3, 4, 5, 7, 8, 31, 64, 65]]
    rows = np.zeros((len(datas), 68), np.uint8)
    for r, data in enumerate(datas):
        rows[r, 68 - len(data):] = np.frombuffer(data, np.uint8)
    got = records.crc32c_right_justified(rows, [len(d) for d in datas])
    assert got.tolist() == [records.crc32c(d) for d in datas]
    assert records.mask_crc(0) == 0xA282EAD8


@pytest.mark.parametrize("top", [1 << 16, 1 << 22])  # the table path (ids below 2^16) and the arithmetic one
def test_encoded_records_parse_back_exactly(tmp_path, top):
    """Multi-byte varints (ids >= 2^7, 2^14, 2^21), floats, one-byte fast paths: parsed by TensorFlow."""
    rng = np.random.default_rng(1)
    edges = np.array([0, 1, 127, 128, 16383, 16384, top - 1])
    features = {
        "input_ids": np.concatenate([rng.integers(0, top, (9, 11)) * (rng.random((9, 11)) < 0.7),
                                     np.resize(edges, (9, 7))], axis=1),
        "input_mask": rng.integers(0, 2, (9, 18)), "segment_ids": rng.integers(0, 2, (9, 18)),
        "masked_lm_positions": rng.integers(0, 300, (9, 3)), "masked_lm_ids": rng.integers(0, 100, (9, 3)),
        "masked_lm_weights": rng.random((9, 3)).astype(np.float32), "next_sentence_labels": np.ones((9, 1), int),
    }
    flat, lengths = records.encode_records(features)
    (tmp_path / "r").write_bytes(flat.tobytes())
    assert [len(r) + 16 for r in records.read_tfrecords(tmp_path / "r")] == lengths.tolist()
    parsed = parse([str(tmp_path / "r")], PretrainingDataConfig(18, 3))
    for name, values in features.items():
        np.testing.assert_array_equal(parsed[name], values, err_msg=name)


def test_corrupt_or_truncated_record_files_are_named(tmp_path):
    flat, _ = records.encode_records({name: np.ones((2, 1), np.float32 if f else np.int64)
                                      for name, f in records.FEATURES})
    data = bytearray(flat.tobytes())
    (tmp_path / "cut").write_bytes(bytes(data[:-3]))
    with pytest.raises(ValueError, match="cut: truncated record at byte"):
        records.read_tfrecords(tmp_path / "cut")
    data[20] ^= 1
    (tmp_path / "bad").write_bytes(bytes(data))
    with pytest.raises(ValueError, match="bad: CRC mismatch in record at byte 0"):
        records.read_tfrecords(tmp_path / "bad")


# ----------------------------------------------------------------------------------------------- tf.data


@pytest.fixture
def record_files(tmp_path, tokenizer):
    """Two record files (distinct instance counts) of a run with max_seq_length 16, max_predictions 3."""
    corpus = [write_corpus(tmp_path / "a.txt", 1, 8), write_corpus(tmp_path / "b.txt", 2, 5)]
    outputs = [str(tmp_path / "r0"), str(tmp_path / "r1")]
    counts = create_pretraining_data(corpus, outputs, tokenizer, PretrainingDataConfig(16, 3, 1, 2), per_file=True)
    return outputs, counts


def test_static_reader_eval_is_the_files_in_order(record_files):
    from bert_tf.pretraining_data import pretraining_dataset

    outputs, counts = record_files
    expected = parse(outputs, PretrainingDataConfig(16, 3))
    total = sum(counts.values())
    batches = list(pretraining_dataset(",".join(outputs), 4, 16, 3, is_training=False, repeat=False))
    assert len(batches) == total // 4  # drop_remainder
    for name, value in batches[0].items():
        assert value.dtype.name == ("float32" if name == "masked_lm_weights" else "int32"), name
        assert value.shape == (4, {"next_sentence_labels": 1}.get(name, 3 if name.startswith("masked") else 16))
    got = {name: np.concatenate([b[name].numpy() for b in batches]) for name in expected}
    for name in expected:
        np.testing.assert_array_equal(got[name], expected[name][:total // 4 * 4], err_msg=name)


def test_static_reader_training_shuffles_repeats_and_shards(record_files):
    import tensorflow as tf

    from bert_tf.pretraining_data import pretraining_dataset

    outputs, counts = record_files
    all_ids = {tuple(row) for row in parse(outputs, PretrainingDataConfig(16, 3))["input_ids"]}
    steps = 4 * len(all_ids) // 8
    train = pretraining_dataset(outputs, 8, 16, 3, is_training=True, seed=3)
    seen = [tuple(row) for batch in train.take(steps) for row in batch["input_ids"].numpy()]
    assert set(seen) == all_ids and len(seen) == 8 * steps  # repeats forever, every record comes
    again = [tuple(row) for batch in pretraining_dataset(outputs, 8, 16, 3, True, seed=3).take(steps)
             for row in batch["input_ids"].numpy()]
    assert seen == again and seen[:len(all_ids)] != sorted(seen[:len(all_ids)])  # seeded: deterministic
    shards = []
    for pipeline in range(2):
        context = tf.distribute.InputContext(num_input_pipelines=2, input_pipeline_id=pipeline,
                                             num_replicas_in_sync=2)
        data = pretraining_dataset(outputs, 4, 16, 3, is_training=False, input_context=context, repeat=False,
                                   drop_remainder=False)
        shards.append([tuple(r) for b in data for r in b["input_ids"].numpy()])
        assert max(len(b["input_ids"]) for b in data) == 2  # per-replica batch
    counts = list(counts.values())
    assert sorted(map(len, shards)) == sorted(counts) and set(shards[0]) | set(shards[1]) == all_ids


@pytest.mark.parametrize("pipelines", [2, 3])
def test_static_reader_record_shards_are_disjoint_and_cover_without_a_seed(record_files, pipelines):
    """One or two files for two or three pipelines: records are sharded. With seed=None each pipeline shuffles
    files and records its own way, so the shards must be cut before any shuffle: disjoint, every record once."""
    import tensorflow as tf

    from bert_tf.pretraining_data import pretraining_dataset

    outputs = record_files[0][:pipelines - 1]  # fewer files than pipelines
    expected = collections.Counter(tuple(r) for r in parse(outputs, PretrainingDataConfig(16, 3))["input_ids"])
    for trial in range(3):  # unseeded orders differ run to run: several tries of every pipeline
        got = collections.Counter()
        for pipeline in range(pipelines):
            context = tf.distribute.InputContext(num_input_pipelines=pipelines, input_pipeline_id=pipeline,
                                                 num_replicas_in_sync=pipelines)
            data = pretraining_dataset(outputs, pipelines, 16, 3, is_training=True, input_context=context,
                                       repeat=False, drop_remainder=False, shuffle_buffer=50)
            got.update(tuple(r) for b in data for r in b["input_ids"].numpy())
        assert got == expected, trial


def test_static_reader_rejects_records_of_other_lengths(record_files):
    from bert_tf.pretraining_data import pretraining_dataset

    with pytest.raises(ValueError, match=r"r0: records were made with max_seq_length=16 but are read with 128"):
        pretraining_dataset(record_files[0], 8, 128, 3, is_training=True)


@pytest.fixture
def sequences(tmp_path, tokenizer):
    from bert_tf.pretraining_data.dynamic import unmasked_sequences

    corpus = [write_corpus(tmp_path / "d.txt", 9, 30)]
    return unmasked_sequences(corpus, tokenizer, 32, seed=5, dupe_factor=3)


def dynamic_batches(sequences, seed=7, whole_word=False, count=30, masked_lm_prob=0.15):
    from bert_tf.pretraining_data import dynamic_pretraining_dataset

    data = dynamic_pretraining_dataset(sequences, 16, 6, len(TINY_VOCAB), TINY_VOCAB.index("[MASK]"),
                                       masked_lm_prob=masked_lm_prob, whole_word_mask=whole_word, seed=seed)
    return [{k: v.numpy() for k, v in b.items()} for b in data.take(count)]


def test_dynamic_masking_statistics_and_structure(sequences):
    """80/10/10 per picked piece, counts as the original formula, never [CLS]/[SEP]/padding, labels = tokens."""
    unmasked = {tuple(row) for row in sequences["input_ids"]}
    mask = TINY_VOCAB.index("[MASK]")
    kinds = collections.Counter()
    for batch in dynamic_batches(sequences):
        for k in range(16):
            n = batch["input_mask"][k].sum()
            count = int(batch["masked_lm_weights"][k].sum())
            assert count == min(6, max(1, round(n * 0.15)))
            positions = batch["masked_lm_positions"][k][:count]
            assert list(positions) == sorted(set(positions)) and positions.min() > 0 and positions.max() < n - 1
            sep = np.flatnonzero(np.diff(batch["segment_ids"][k][:n]))
            assert not set(positions) & set(sep.tolist())
            # Putting the labels back gives one of the unmasked sequences: labels are the original tokens.
            original = batch["input_ids"][k].copy()
            original[positions] = batch["masked_lm_ids"][k][:count]
            assert tuple(original) in unmasked
            new = batch["input_ids"][k][positions]
            kinds.update("mask" if t == mask else "same" if t == o else "random"
                         for t, o in zip(new, original[positions], strict=True))
    total = sum(kinds.values())
    # ~2,000 picks: binomial standard deviations are ~0.9% (80%) and ~0.7% (10%); 4 sigma bounds.
    assert abs(kinds["mask"] / total - 0.8) < 0.04 and abs(kinds["same"] / total - 0.1 - 0.1 / 40) < 0.03
    assert abs(kinds["random"] / total - 0.1 + 0.1 / 40) < 0.03  # a random id equal to the token reads "same"


def test_dynamic_masking_is_deterministic_and_new_each_epoch(sequences):
    first, again = dynamic_batches(sequences, seed=7, count=4), dynamic_batches(sequences, seed=7, count=4)
    for a, b in zip(first, again, strict=True):
        for name in a:
            np.testing.assert_array_equal(a[name], b[name])
    other = dynamic_batches(sequences, seed=8, count=4)
    assert not np.array_equal(first[0]["masked_lm_positions"], other[0]["masked_lm_positions"])
    # Unshuffled single pass twice: the same sequences, new masks the second epoch.
    from bert_tf.pretraining_data import dynamic_pretraining_dataset

    n = len(sequences["input_ids"])
    data = dynamic_pretraining_dataset(sequences, n, 6, len(TINY_VOCAB), 4, seed=1, is_training=False)
    epoch1, epoch2 = [b for b in data.take(2)]
    np.testing.assert_array_equal(epoch1["segment_ids"], epoch2["segment_ids"])
    assert not np.array_equal(epoch1["masked_lm_positions"], epoch2["masked_lm_positions"])


@pytest.mark.parametrize("is_training,drop_remainder,whole_word", [(True, True, False), (False, False, True)])
def test_dynamic_element_spec_equals_the_static_readers(record_files, tmp_path, tokenizer, is_training,
                                                        drop_remainder, whole_word):
    """Same names, dtypes and fully static masked-LM widths [B, P] (not [B, None] from the data-dependent pad)."""
    import tensorflow as tf

    from bert_tf.pretraining_data import dynamic_pretraining_dataset, pretraining_dataset
    from bert_tf.pretraining_data.dynamic import unmasked_sequences

    seqs = unmasked_sequences([write_corpus(tmp_path / "e.txt", 4, 6)], tokenizer, 16, seed=2)
    context = tf.distribute.InputContext(num_input_pipelines=2, input_pipeline_id=1, num_replicas_in_sync=2)
    static = pretraining_dataset(record_files[0], 8, 16, 3, is_training, input_context=context,
                                 drop_remainder=drop_remainder, seed=1)
    dynamic = dynamic_pretraining_dataset(seqs, 8, 3, len(TINY_VOCAB), TINY_VOCAB.index("[MASK]"),
                                          whole_word_mask=whole_word, is_training=is_training,
                                          input_context=context, drop_remainder=drop_remainder)
    assert dynamic.element_spec == static.element_spec
    batch = 4 if drop_remainder else None
    assert dynamic.element_spec["masked_lm_weights"] == tf.TensorSpec([batch, 3], tf.float32)
    assert dynamic.element_spec["masked_lm_positions"] == tf.TensorSpec([batch, 3], tf.int32)
    assert next(iter(dynamic))["masked_lm_ids"].shape == (4, 3)


def test_dynamic_whole_word_masking_keeps_words_whole(sequences):
    subword = np.array([t.startswith("##") for t in TINY_VOCAB])
    checked = 0
    for batch in dynamic_batches(sequences, whole_word=True, count=10, masked_lm_prob=0.4):
        for k in range(16):
            picked = np.zeros(32, bool)
            picked[batch["masked_lm_positions"][k][batch["masked_lm_weights"][k] > 0]] = True
            labels = np.zeros(32, int)
            labels[picked] = batch["masked_lm_ids"][k][batch["masked_lm_weights"][k] > 0]
            original = np.where(picked, labels, batch["input_ids"][k])
            for p in range(2, int(batch["input_mask"][k].sum()) - 1):
                if subword[original[p]] and batch["segment_ids"][k][p] == batch["segment_ids"][k][p - 1]:
                    checked += 1
                    assert picked[p] == picked[p - 1]
            assert picked.sum() <= 6
    assert checked > 50


def test_dynamic_without_next_sentence(tmp_path, tokenizer):
    from bert_tf.pretraining_data.dynamic import unmasked_sequences

    corpus = write_corpus(tmp_path / "n.txt", 3, 10)
    seqs = unmasked_sequences([corpus], tokenizer, 20, next_sentence=False)
    cls, sep = TINY_VOCAB.index("[CLS]"), TINY_VOCAB.index("[SEP]")
    lengths = seqs["input_mask"].sum(axis=1)
    assert (seqs["segment_ids"] == 0).all() and (seqs["next_sentence_labels"] == 0).all()
    assert (seqs["input_ids"][:, 0] == cls).all()
    assert (seqs["input_ids"][np.arange(len(lengths)), lengths - 1] == sep).all()
    assert ((seqs["input_ids"] == sep).sum(axis=1) == 1).all() and lengths.max() == 20
    # Every corpus token appears exactly once, each sequence a run of whole lines (documents are shuffled).
    reread = documents.read_documents([corpus], tokenizer)
    bodies = [row[1:n - 1].tolist() for row, n in zip(seqs["input_ids"], lengths, strict=True)]
    assert sorted(t for body in bodies for t in body) == sorted(reread.tokens.tolist())
    line_starts = {b for bounds in reread.documents for b in bounds}
    for body in bodies:
        start = next(s for s in line_starts if reread.tokens[s:s + len(body)].tolist() == body)
        assert start + len(body) in line_starts or len(body) == 18
    batch = dynamic_batches(seqs, count=1)[0]
    assert batch["input_ids"].shape == (16, 20) and (batch["masked_lm_weights"].sum(axis=1) >= 1).all()


# ----------------------------------------------------------------------------------------------- real text


def assert_random_next_share(labels, single_segment_chunks):
    """Random-next share = one-segment chunks (always random) + half of the rest, within 4 binomial sigmas."""
    coins = len(labels) - single_segment_chunks
    random_coins = labels.sum() - single_segment_chunks
    assert 0 < single_segment_chunks < len(labels) and abs(random_coins - coins / 2) < 4 * (coins / 4) ** 0.5


@pytest.mark.slow
def test_statistics_on_real_text():
    """kjv.txt, default flags but dupe_factor 1: 80/10/10 over ~150k picks, the NSP random share, mask counts."""
    tokenizer = tokenization.FullTokenizer(BASE_VOCAB)
    config = PretrainingDataConfig(dupe_factor=1)
    rng = random.Random(config.random_seed)
    corpus = documents.read_documents([CORPUS], tokenizer, rng)
    vocab_info = instances.VocabInfo.from_vocab(tokenizer.vocab)
    made = instances.create_instances(corpus.documents, config, vocab_info, rng)
    f = feature_columns(instance_arrays(made), made.order, np.asarray(corpus.tokens), 128, 20, vocab_info)
    weights = f["masked_lm_weights"] > 0
    picked = np.take_along_axis(f["input_ids"], f["masked_lm_positions"], 1)[weights]
    labels = f["masked_lm_ids"][weights]
    mask_share = (picked == tokenizer.vocab["[MASK]"]).mean()
    same_share = (picked == labels).mean()
    # sigma: sqrt(0.8 * 0.2 / 150k) = 0.1%, sqrt(0.1 * 0.9 / 150k) = 0.08%; a random id equal to the label
    # counts as "same" (about 0.1 / 30522 of picks: negligible).
    assert weights.sum() > 150_000 and abs(mask_share - 0.8) < 0.004 and abs(same_share - 0.1) < 0.003
    assert_random_next_share(f["next_sentence_labels"].ravel(), made.single_segment_chunks)
    lengths = f["input_mask"].sum(axis=1)
    np.testing.assert_array_equal(weights.sum(axis=1), np.minimum(20, np.maximum(1, np.round(lengths * 0.15))))


@pytest.mark.slow
def test_dynamic_statistics_on_real_text():
    from bert_tf.pretraining_data.dynamic import unmasked_sequences

    tokenizer = tokenization.FullTokenizer(BASE_VOCAB)
    seqs = unmasked_sequences([CORPUS], tokenizer, 128)
    from bert_tf.pretraining_data import dynamic_pretraining_dataset

    data = dynamic_pretraining_dataset(seqs, 256, 20, len(tokenizer.vocab), tokenizer.vocab["[MASK]"], seed=1)
    picked = labels = np.zeros(0)
    for batch in data.take(20):
        weights = batch["masked_lm_weights"].numpy() > 0
        picked = np.append(picked, np.take_along_axis(batch["input_ids"].numpy(),
                                                      batch["masked_lm_positions"].numpy(), 1)[weights])
        labels = np.append(labels, batch["masked_lm_ids"].numpy()[weights])
    assert abs((picked == tokenizer.vocab["[MASK]"]).mean() - 0.8) < 0.01
    assert abs((picked == labels).mean() - 0.1) < 0.01
    assert 0.5 - 4 * 0.5 / len(seqs["input_ids"]) ** 0.5 < seqs["next_sentence_labels"].mean() < 0.6
