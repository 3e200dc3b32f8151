"""CoNLL-2003 NER (IOB1 files -> IOB2, first-sub-token tagging, entity F1) and SWAG (swagaf CSV, 4 choices) on
fixtures in the published layouts."""

import csv
import io
import pathlib

import numpy as np
import pytest
from helpers import write_vocab

from bert_tf import finetuning_data as fd
from bert_tf import tasks
from bert_tf.tasks import metrics
from bert_tf.tasks.conll import TAGS, iob1_to_iob2
from bert_tf.tokenization import FullTokenizer

# eng.train layout: "token POS chunk NER", -DOCSTART- documents, blank lines between sentences, IOB1 tags
# (B- only where an entity directly follows one of the same type). testb's -DOCSTART- line differs.
ENG_TRAIN = """-DOCSTART- -X- O O

EU NNP I-NP I-ORG
rejects VBZ I-VP O
German JJ I-NP I-MISC
call NN I-NP O
. . O O

Peter NNP I-NP I-PER
Blackburn NNP I-NP I-PER

-DOCSTART- -X- O O

Jim NNP I-NP I-PER
Mary NNP I-NP B-PER
Smith NNP I-NP I-PER
visited VBD I-VP O
Paris NNP I-NP I-LOC
Reuters NNP I-NP I-ORG
"""
ENG_TESTB = "-DOCSTART- -X- -X- O\n\nSOCCER NN I-NP O\n- : O O\nJAPAN NNP I-NP I-LOC\n\n\n"


@pytest.fixture(scope="module")
def conll_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("conll2003")
    (root / "eng.train").write_text(ENG_TRAIN, encoding="utf-8")
    (root / "eng.testb").write_text(ENG_TESTB, encoding="utf-8")
    return root


@pytest.fixture(scope="module")
def tokenizer(tmp_path_factory):
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "eu", "rejects", "german", "call", ".", "peter", "black",
             "##burn", "jim", "mary", "smith", "visited", "paris", "reuters", "the", "man", "open", "##s", "door",
             "walks", "in", "away", "she", "a", "sits", "down", ",", "soccer", "-", "japan"]
    return FullTokenizer(write_vocab(tmp_path_factory.mktemp("vocab") / "vocab.txt", vocab))


def test_iob1_to_iob2():
    assert iob1_to_iob2(["I-PER", "I-PER", "B-PER", "I-PER", "O", "I-LOC", "I-ORG", "O", "I-MISC"]) == [
        "B-PER", "I-PER", "B-PER", "I-PER", "O", "B-LOC", "B-ORG", "O", "B-MISC"]
    assert iob1_to_iob2(["B-PER", "I-PER"]) == ["B-PER", "I-PER"]  # already IOB2: unchanged


def test_conll_reader(conll_dir):
    task = tasks.get("conll2003")
    examples = task.read(str(conll_dir), "train")
    assert [e.words for e in examples] == [("EU", "rejects", "German", "call", "."), ("Peter", "Blackburn"),
                                           ("Jim", "Mary", "Smith", "visited", "Paris", "Reuters")]
    assert [e.tags for e in examples] == [("B-ORG", "O", "B-MISC", "O", "O"), ("B-PER", "I-PER"),
                                          ("B-PER", "B-PER", "I-PER", "O", "B-LOC", "B-ORG")]
    test = task.read(str(conll_dir), "test")
    assert [(e.guid, e.words, e.tags) for e in test] == [("test-0", ("SOCCER", "-", "JAPAN"), ("O", "O", "B-LOC"))]


def test_iob2_keeps_every_entity(conll_dir):
    """conlleval chunking (seqeval's default) finds the same entities in the IOB1 file and in the IOB2 reading."""
    from seqeval.metrics.sequence_labeling import get_entities

    blocks = ENG_TRAIN.replace("-DOCSTART- -X- O O\n", "").strip().split("\n\n")
    raw = [[line.split()[3] for line in block.splitlines() if line] for block in blocks]
    converted = [list(e.tags) for e in tasks.get("conll2003").read(str(conll_dir), "train")]
    assert converted != raw  # the tags did change
    # seqeval joins sentences with an "O" between them
    assert get_entities(converted) == get_entities(raw) == [
        ("ORG", 0, 0), ("MISC", 2, 2), ("PER", 6, 7), ("PER", 9, 9), ("PER", 10, 11), ("LOC", 13, 13),
        ("ORG", 14, 14)]


@pytest.mark.parametrize("text,message", [
    ("EU NNP I-ORG\n", r"eng.testa:1: 3 fields, expected 4 \(token POS chunk NER\)"),
    ("EU NNP I-NP I-ORG\n\nX NN I-NP I-FOO\n", r"eng.testa:3: unknown tag 'I-FOO'"),
    ("-DOCSTART- -X- O O\n\n", r"eng.testa: no sentences"),
    ("", r"eng.testa: no sentences"),
])
def test_conll_bad_input(tmp_path, text, message):
    (tmp_path / "eng.testa").write_text(text, encoding="utf-8")
    with pytest.raises(ValueError, match=message):
        tasks.get("conll2003").read(str(tmp_path), "dev")


def test_conll_features_metrics_and_predictions(conll_dir, tokenizer, tmp_path):
    task = tasks.get("conll2003")
    examples = task.read(str(conll_dir), "train")
    features = task.features(examples, tokenizer, 7)  # 5 pieces: "Reuters" is cut off
    tag = {t: i for i, t in enumerate(TAGS)}
    assert features[1].tokens == ("[CLS]", "peter", "black", "##burn", "[SEP]")
    assert features[1].label_id == (-1, tag["B-PER"], tag["I-PER"], -1, -1, -1, -1)
    arrays = task.arrays(features)
    assert arrays["label_ids"].shape == (3, 7) and arrays["label_ids"].dtype == np.int32
    # predict the gold tags except Paris (B-LOC -> O): 5 of the 6 visible entities found, all correct
    predicted = np.where(arrays["label_ids"] < 0, 0, arrays["label_ids"])
    predicted[2, 5] = tag["O"]
    assert features[2].tokens[5] == "paris"
    result = task.metrics(arrays["label_ids"], predicted)
    assert result == pytest.approx({"precision": 1.0, "recall": 5 / 6, "f1": 10 / 11, "accuracy": 11 / 12})
    files = task.write_predictions(str(tmp_path), "dev", examples, predicted, features=features)
    lines = pathlib.Path(files["predictions"]).read_text().split("\n")
    assert lines[:7] == ["EU B-ORG B-ORG", "rejects O O", "German B-MISC B-MISC", "call O O", ". O O", "",
                         "Peter B-PER B-PER"]
    assert lines[9:14] == ["Jim B-PER B-PER", "Mary B-PER B-PER", "Smith I-PER I-PER", "visited O O",
                           "Paris B-LOC O"]
    assert lines[14:17] == ["Reuters B-ORG O", "", ""]  # cut off: no prediction -> O


SWAG_HEADER = ["", "video-id", "fold-ind", "startphrase", "sent1", "sent2", "gold-source", "ending0", "ending1",
               "ending2", "ending3", "label"]


def csv_text(*rows):
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows(rows)
    return out.getvalue()


SWAG_TRAIN = csv_text(
    SWAG_HEADER,
    ["0", "lsmdc3001_21_JUMP_STREET-422", "11783", "The man opens the door. He", "The man opens the door.", "He",
     "gold", "walks in.", "walks away, sits down.", "sits down.", "opens the door.", "0"],
    ["1", "anetv_jkn6uvmqwh4", "4", "She sits down. A man", "She sits down.", "A man", "gen", "walks in.", "sits.",
     "opens, the door.", "walks away.", "3"])
SWAG_TEST = csv_text(SWAG_HEADER[:-1], ["0", "anetv_x", "17", "A man walks in. She", "A man walks in.", "She",
                                        "gold", "sits down.", "walks away.", "opens the door.", "walks in."])


@pytest.fixture(scope="module")
def swag_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("swag")
    (root / "train.csv").write_text(SWAG_TRAIN, encoding="utf-8")
    (root / "test.csv").write_text(SWAG_TEST, encoding="utf-8")
    return root


def test_swag_reader(swag_dir):
    task = tasks.get("swag")
    first, second = task.read(str(swag_dir), "train")
    assert (first.guid, first.context, first.label) == ("train-11783", "The man opens the door.", 0)
    assert first.endings == ("He walks in.", "He walks away, sits down.", "He sits down.", "He opens the door.")
    assert second.label == 3 and second.endings[2] == "A man opens, the door."
    (test,) = task.read(str(swag_dir), "test")
    assert test.label is None and test.endings[0] == "She sits down."


@pytest.mark.parametrize("text,message", [
    (csv_text(SWAG_HEADER, ["0", "v", "1", "s", "s1", "s2", "g", "a", "b", "c", "d", "4"]),
     r"train.csv:2: unknown label '4'; expected one of \['0', '1', '2', '3'\]"),
    (csv_text(SWAG_HEADER, ["0", "v", "1", "s", "s1", "s2", "g", "a", "b", "c", "0"]),
     r"train.csv:2: 11 comma-separated fields, expected 12"),
    (csv_text(SWAG_HEADER[:-1], ["0", "v", "1", "s", "s1", "s2", "g", "a", "b", "c", "d"]),
     r"train.csv:1: header lacks column\(s\) \['label'\]"),
    ("", r"train.csv: empty file"),
    (csv_text(SWAG_HEADER), r"train.csv: no examples"),
])
def test_swag_bad_input(tmp_path, text, message):
    (tmp_path / "train.csv").write_text(text, encoding="utf-8")
    with pytest.raises(ValueError, match=message):
        tasks.get("swag").read(str(tmp_path), "train")


def test_swag_features_dataset_metrics(swag_dir, tokenizer, tmp_path):
    task = tasks.get("swag")
    examples = task.read(str(swag_dir), "train")
    features = task.features(examples + [fd.PaddingInputExample()], tokenizer, 10)
    assert features[0].choices[1].tokens == ("[CLS]", "the", "man", "open", "##s", "[SEP]", "[UNK]", "walks",
                                             "away", "[SEP]")  # 7 + 7 pieces -> 4 + 3 ("he" -> [UNK])
    batch = next(iter(task.dataset(features, 3, training=False)))
    assert batch["input_ids"].shape == (3, 4, 10) and batch["label_ids"].numpy().tolist() == [0, 3, 0]
    assert batch["is_real_example"].numpy().tolist() == [1, 1, 0]
    assert task.metrics([0, 3], np.array([[0.1, 0.5, 0.2, 0.2], [0.0, 0.1, 0.2, 0.7]])) == {"accuracy": 0.5}
    files = task.write_predictions(str(tmp_path), "test", examples + [fd.PaddingInputExample()],
                                   np.array([[0.25, 0.25, 0.25, 0.25], [0.5, 0.125, 0.125, 0.25], [1, 0, 0, 0]]))
    assert pathlib.Path(files["results"]).read_text() == "0.25\t0.25\t0.25\t0.25\n0.5\t0.125\t0.125\t0.25\n"
    assert "submission" not in files


def _tagged(words_and_tags, guid="dev-0"):
    return fd.TaggedExample(guid, tuple(w for w, _ in words_and_tags), tuple(t for _, t in words_and_tags))


def test_words_without_pieces_are_aligned_per_word(tokenizer, tmp_path):
    """A word in the middle that tokenizes to nothing ("\\u200b", a control character; accents only when
    lower-casing) gets "O" and shifts no later tag; gold entities on such words and on words cut by truncation
    still count when the metric is given the examples (conlleval scores every word)."""
    task = tasks.get("conll2003")
    tag = {t: i for i, t in enumerate(TAGS)}
    example = _tagged([("Jim", "B-PER"), ("\u200b", "I-PER"), ("visited", "O"), ("\x07", "O"), ("\u0301", "O"),
                       ("Paris", "B-LOC"), ("Reuters", "B-ORG")])
    features = task.features([example], tokenizer, 5)  # jim visited paris reuters -> cut to 3: reuters lost
    assert features[0].tokens == ("[CLS]", "jim", "visited", "paris", "[SEP]")
    assert features[0].label_id == (-1, tag["B-PER"], tag["O"], tag["B-LOC"], -1)
    perfect = np.array([[0, tag["B-PER"], tag["O"], tag["B-LOC"], 0]])
    files = task.write_predictions(str(tmp_path), "dev", [example], perfect, features=features)
    assert pathlib.Path(files["predictions"]).read_text().split("\n") == [
        "Jim B-PER B-PER", "\u200b I-PER O", "visited O O", "\x07 O O", "\u0301 O O", "Paris B-LOC B-LOC",
        "Reuters B-ORG O", "", ""]
    labels = task.arrays(features)["label_ids"]
    # visible only: PER(Jim), LOC both found; all words: gold PER(Jim ZWSP) is predicted PER(Jim) -> wrong
    # boundary, LOC found, ORG(Reuters) missed: precision 1/2, recall 1/3
    assert task.metrics(labels, perfect) == pytest.approx({"precision": 1.0, "recall": 1.0, "f1": 1.0,
                                                           "accuracy": 1.0})
    assert task.metrics(labels, perfect, examples=[example, fd.PaddingInputExample()]) == pytest.approx(
        {"precision": 0.5, "recall": 1 / 3, "f1": 0.4, "accuracy": 5 / 7})
    # cased: the combining accent alone is a word ([UNK]) with a first piece of its own; the others still none
    vocab = write_vocab(tmp_path / "vocab.txt", ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "visited"])
    cased = FullTokenizer(vocab, do_lower_case=False)
    cased_features = task.features([example], cased, 8)
    assert cased_features[0].tokens == ("[CLS]", "[UNK]", "visited", "[UNK]", "[UNK]", "[UNK]", "[SEP]")
    predicted = [0, tag["B-PER"], tag["O"], tag["B-MISC"], tag["B-LOC"], tag["B-ORG"], 0, 0]
    assert metrics.word_tags(example, cased_features[0].label_id, predicted, TAGS) == (
        list(example.tags), ["B-PER", "O", "O", "O", "B-MISC", "B-LOC", "B-ORG"])


def test_word_tags_rejects_features_of_another_example(tokenizer):
    task = tasks.get("conll2003")
    example = _tagged([("Jim", "B-PER"), ("visited", "O")])
    other = task.features([_tagged([("Paris", "B-LOC"), ("visited", "O")])], tokenizer, 8)[0]
    with pytest.raises(ValueError, match=r"example dev-0: its features' label ids \[5, 0\] are not its tags"):
        metrics.word_tags(example, other.label_id, [0] * 8, TAGS)
    with pytest.raises(ValueError, match="3 first pieces but only 2 of 2 words have pieces"):
        metrics.word_first_pieces(("Jim", "visited"), 3)
