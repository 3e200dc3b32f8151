"""finetuning_data: the original convert_single_example (§5.3), padding examples, choices, first-piece tagging."""

import json
import subprocess
import sys

import numpy as np
import pytest
from helpers import ORIGINAL_IMPORTS, write_vocab

from bert_tf import finetuning_data as fd
from bert_tf.tokenization import FullTokenizer

VOCAB = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "the", "cat", "sat", "on", "mat", "dog", "##s", "run",
         "##ning", ".", "a"]
ID = {token: i for i, token in enumerate(VOCAB)}


@pytest.fixture(scope="module")
def vocab_file(tmp_path_factory):
    return write_vocab(tmp_path_factory.mktemp("vocab") / "vocab.txt", VOCAB)


@pytest.fixture(scope="module")
def tokenizer(vocab_file):
    return FullTokenizer(vocab_file)


def ids(*tokens):
    return tuple(ID[t] for t in tokens)


def test_truncate_seq_pair_pops_the_longer_and_b_on_ties():
    a, b = [1, 2, 3, 4, 5], [6, 7]
    fd.truncate_seq_pair(a, b, 4)
    assert (a, b) == ([1, 2], [6, 7])
    a, b = [1, 2, 3], [4, 5, 6]
    fd.truncate_seq_pair(a, b, 5)  # tie -> b loses its last piece
    assert (a, b) == ([1, 2, 3], [4, 5])


def test_pair_layout_ids_mask_segments(tokenizer):
    example = fd.InputExample("g", "The cat sat", "dogs running", label="1")
    f = fd.convert_single_example(example, {"0": 0, "1": 1}, 12, tokenizer)
    assert f.tokens == ("[CLS]", "the", "cat", "sat", "[SEP]", "dog", "##s", "run", "##ning", "[SEP]")
    assert f.input_ids == ids(*f.tokens) + (0, 0)
    assert f.input_mask == (1,) * 10 + (0, 0)
    assert f.segment_ids == (0,) * 5 + (1,) * 5 + (0, 0)
    assert (f.label_id, f.is_real_example) == (1, True)


def test_pair_truncation_longest_first(tokenizer):
    example = fd.InputExample("g", "the cat sat", "dogs running", label="0")
    f = fd.convert_single_example(example, {"0": 0, "1": 1}, 8, tokenizer)  # 3 + 4 pieces -> 5
    assert f.tokens == ("[CLS]", "the", "cat", "sat", "[SEP]", "dog", "##s", "[SEP]")
    assert f.label_id == 0


def test_single_truncation_and_empty_b(tokenizer):
    f = fd.convert_single_example(fd.InputExample("g", "the cat sat on a mat", None, "0"), {"0": 0}, 4, tokenizer)
    assert f.tokens == ("[CLS]", "the", "cat", "[SEP]")
    # text_b present but without pieces: the original's `if tokens_b:` packs a single sentence.
    f = fd.convert_single_example(fd.InputExample("g", "the cat", " \t", "0"), {"0": 0}, 6, tokenizer)
    assert f.tokens == ("[CLS]", "the", "cat", "[SEP]") and f.segment_ids == (0,) * 6
    f = fd.convert_single_example(fd.InputExample("g", "the cat", "a dog", "0"), {"0": 0}, 3, tokenizer)
    assert f.tokens == ("[CLS]", "[SEP]")  # a pair cut to nothing: B and its [SEP] vanish, as the original


def test_b_without_pieces_or_truncated_to_none_packs_one_segment(tokenizer):
    # Zero-width space and \x05 are dropped by text cleaning: B has no pieces, so A gets the max - 2 budget.
    for text_b in ("\u200b", "\x05"):
        f = fd.convert_single_example(fd.InputExample("g", "the cat sat", text_b, "0"), {"0": 0}, 4, tokenizer)
        assert f.tokens == ("[CLS]", "the", "cat", "[SEP]") and f.segment_ids == (0, 0, 0, 0)
    # max 4, budget 1: a (2) pops to 1, then the tie pops b to nothing; no second [SEP], all segment 0.
    f = fd.convert_single_example(fd.InputExample("g", "the cat", "sat", "0"), {"0": 0}, 4, tokenizer)
    assert f.tokens == ("[CLS]", "the", "[SEP]")
    assert (f.input_ids, f.input_mask, f.segment_ids) == (ids("[CLS]", "the", "[SEP]") + (0,), (1, 1, 1, 0),
                                                          (0, 0, 0, 0))
    f = fd.convert_single_example(fd.InputExample("g", "", "sat", "0"), {"0": 0}, 4, tokenizer)  # 0 + 1 fits
    assert f.tokens == ("[CLS]", "[SEP]", "sat", "[SEP]") and f.segment_ids == (0, 0, 1, 1)
    # The packer itself treats [] as no B, for every caller (pack_features, choices, extract_features).
    assert fd.pack_tokens(["the", "cat", "sat"], [], 4) == (["[CLS]", "the", "cat", "[SEP]"], [0, 0, 0, 0])
    assert fd.pack_tokens(["the"], ["cat"], 4) == (["[CLS]", "the", "[SEP]"], [0, 0, 0])
    choices = fd.convert_choice_example(fd.ChoiceExample("s", "the cat", ("\u200b", "sat"), 0), {}, 4, tokenizer, 2)
    assert [c.tokens for c in choices.choices] == [("[CLS]", "the", "cat", "[SEP]"), ("[CLS]", "the", "[SEP]")]


# Sides of the oracle grid: empty, no pieces after cleaning, short, long (11 pieces); B also None.
GRID_A = ["", "\u200b", "cat", "the cat", "the cat sat on a mat . dogs running"]
GRID_B = [None, "", "\u200b", "\x05", " \t", "cat", "the cat", "the cat sat on a mat . dogs running"]
GRID_LENGTHS = [3, 4, 5, 6, 8]
# The original run_classifier.convert_single_example over the grid; its own process (absl flags at import).
_ORACLE = ORIGINAL_IMPORTS + """
from bert import run_classifier, tokenization
run_classifier.FLAGS(["oracle"])
job = json.load(open(sys.argv[1]))
tokenizer = tokenization.FullTokenizer(job["vocab"], do_lower_case=True)
features = [run_classifier.convert_single_example(0, run_classifier.InputExample("g", a, b, "1"), ["0", "1"],
                                                  length, tokenizer)
            for length in job["lengths"] for a, b in job["pairs"]]
json.dump([[f.input_ids, f.input_mask, f.segment_ids, f.label_id] for f in features], open(sys.argv[2], "w"))
"""


def test_grid_matches_original_convert_single_example(tmp_path, vocab_file, tokenizer):
    pairs = [(a, b) for a in GRID_A for b in GRID_B]
    (tmp_path / "job.json").write_text(json.dumps({"vocab": str(vocab_file), "lengths": GRID_LENGTHS, "pairs": pairs}))
    subprocess.run([sys.executable, "-c", _ORACLE, str(tmp_path / "job.json"), str(tmp_path / "out.json")],
                   check=True, capture_output=True)
    want = iter(json.loads((tmp_path / "out.json").read_text()))
    cut_to_one_segment = 0
    for length in GRID_LENGTHS:
        for a, b in pairs:
            expected = next(want)
            f = fd.convert_single_example(fd.InputExample("g", a, b, "1"), {"0": 0, "1": 1}, length, tokenizer)
            assert [list(f.input_ids), list(f.input_mask), list(f.segment_ids), f.label_id] == expected, (length, a, b)
            # The packer called directly with [] for a B without pieces (as extract_features did) agrees too.
            direct = fd.pack_features(tokenizer.tokenize(a), None if b is None else tokenizer.tokenize(b), length,
                                      tokenizer)
            assert [list(direct.input_ids), list(direct.segment_ids)] == expected[0:3:2], (length, a, b)
            cut_to_one_segment += bool(tokenizer.tokenize(b or "")) and 1 not in expected[2]
    # Pairs whose B the truncation empties: every max 3 pair (5 A sides x 3 B sides), and at max 4 those with
    # pieces on both sides (3 x 3).
    assert cut_to_one_segment == 15 + 9


def test_labels_regression_test_and_unknown(tokenizer):
    assert fd.convert_single_example(fd.InputExample("g", "cat", None, "2.75"), {}, 5, tokenizer).label_id == 2.75
    assert fd.convert_single_example(fd.InputExample("g", "cat"), {"x": 0, "y": 1}, 5, tokenizer).label_id == 0
    with pytest.raises(ValueError, match="unknown label 'maybe'"):
        fd.convert_single_example(fd.InputExample("g", "cat", None, "maybe"), {"x": 0}, 5, tokenizer)


def test_padding_examples(tokenizer):
    examples = [fd.InputExample(str(i), "cat", None, "1") for i in range(5)]
    padded = fd.pad_examples(examples, 4)
    assert len(padded) == 8 and padded[:5] == examples
    assert all(isinstance(e, fd.PaddingInputExample) for e in padded[5:])
    assert fd.pad_examples(examples[:4], 4) == examples[:4]
    f = fd.convert_single_example(padded[-1], {"0": 0, "1": 1}, 6, tokenizer)
    assert (f.input_ids, f.input_mask, f.segment_ids) == ((0,) * 6,) * 3
    assert (f.label_id, f.is_real_example) == (0, False)
    arrays = fd.feature_arrays([fd.convert_single_example(e, {"0": 0, "1": 1}, 6, tokenizer) for e in padded])
    assert arrays["is_real_example"].tolist() == [1] * 5 + [0] * 3
    assert arrays["label_ids"].tolist() == [1] * 5 + [0] * 3


def test_train_steps_mrpc():
    assert fd.train_steps(3668, 32, 3.0, 0.1) == (343, 34)
    assert fd.train_steps(10, 4, 1.0, 0.5) == (2, 1)


def test_choice_features(tokenizer):
    example = fd.ChoiceExample("s", "the cat", ("sat", "sat on a mat", "runs", "dogs"), 2)
    f = fd.convert_choice_example(example, {}, 7, tokenizer, num_choices=4)
    assert [c.tokens for c in f.choices] == [
        ("[CLS]", "the", "cat", "[SEP]", "sat", "[SEP]"),
        ("[CLS]", "the", "cat", "[SEP]", "sat", "on", "[SEP]"),  # 2 + 4 pieces -> 4: the ending loses two
        ("[CLS]", "the", "cat", "[SEP]", "run", "##s", "[SEP]"),
        ("[CLS]", "the", "cat", "[SEP]", "dog", "##s", "[SEP]")]
    arrays = fd.feature_arrays([f, fd.convert_choice_example(fd.PaddingInputExample(), {}, 7, tokenizer, 4)])
    assert arrays["input_ids"].shape == (2, 4, 7) and arrays["input_ids"].dtype == np.int32
    assert arrays["input_ids"][0, 1].tolist() == list(ids("[CLS]", "the", "cat", "[SEP]", "sat", "on", "[SEP]"))
    assert arrays["segment_ids"][0, 0].tolist() == [0, 0, 0, 0, 1, 1, 0]
    assert arrays["label_ids"].tolist() == [2, 0] and arrays["is_real_example"].tolist() == [1, 0]
    with pytest.raises(ValueError, match="3 endings, expected 4"):
        fd.convert_choice_example(fd.ChoiceExample("s", "a", ("a", "b", "c"), 0), {}, 7, tokenizer, 4)


def test_tagging_first_piece_labels(tokenizer):
    tags = {"O": 0, "B-X": 1, "I-X": 2}
    example = fd.TaggedExample("t", ("dogs", "sat", "running", "."), ("B-X", "O", "I-X", "O"))
    f = fd.convert_tagged_example(example, tags, 9, tokenizer)
    assert f.tokens == ("[CLS]", "dog", "##s", "sat", "run", "##ning", ".", "[SEP]")
    assert f.label_id == (-1, 1, -1, 0, 2, -1, 0, -1, -1)
    cut = fd.convert_tagged_example(example, tags, 5, tokenizer)  # 3 pieces fit: dog ##s sat
    assert cut.tokens == ("[CLS]", "dog", "##s", "sat", "[SEP]") and cut.label_id == (-1, 1, -1, 0, -1)
    pad = fd.convert_tagged_example(fd.PaddingInputExample(), tags, 4, tokenizer)
    assert pad.label_id == (-1,) * 4 and not pad.is_real_example


def test_make_dataset_training_and_eval(tokenizer):
    features = [fd.convert_single_example(fd.InputExample(str(i), "cat " * (i + 1), None, "1"), {"0": 0, "1": 1},
                                          6, tokenizer) for i in range(5)]
    arrays = fd.feature_arrays(features)
    evaluation = list(fd.make_dataset(arrays, 2, training=False))
    assert [len(b["input_ids"]) for b in evaluation] == [2, 2, 1]
    assert evaluation[0]["input_mask"].numpy().tolist() == [[1, 1, 1, 0, 0, 0], [1, 1, 1, 1, 0, 0]]
    assert sorted(evaluation[0]) == ["input_ids", "input_mask", "is_real_example", "label_ids", "segment_ids"]
    training = fd.make_dataset(arrays, 3, training=True, seed=1)
    batches = list(training.take(4))  # repeats forever, every batch full
    assert all(b["input_ids"].shape == (3, 6) for b in batches)
    lengths = sorted(int(m) for b in batches for m in b["input_mask"].numpy().sum(1))
    assert set(lengths) <= {3, 4, 5, 6} and len(lengths) == 12
