"""bert_tf.vocab_learning and build_vocab.py: special-token layout, hand-computed merges, full coverage, errors."""

import collections
import pathlib
import subprocess
import sys

import pytest

from bert_tf import tokenization, vocab_learning

REPO = pathlib.Path(__file__).resolve().parents[1]
CORPUS = [
    "The Quick brown fox jumps over the lazy dog. Naïve café-goers don’t say “résumé”…",
    "",
    "In the beginning God created the heaven and the earth; ＦＵＬＬ width ½ ≠ ß",
    "床前明月光，疑是地上霜。举头望明月，低头思故乡。",
    "한국어 텍스트 and ガ かﾞ ΟΔΟΣ 😀 x^2 $5",
    "the the the quick quick brown",
]


def test_import_does_not_load_tensorflow():
    code = "import sys, bert_tf.vocab_learning; sys.exit('tensorflow' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], timeout=60).returncode == 0


def test_special_tokens_are_placed_as_in_the_released_vocabs():
    assert vocab_learning.special_tokens() == ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    released = vocab_learning.special_tokens(99)
    assert [released.index(t) for t in ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")] == [0, 100, 101, 102, 103]
    assert released[1:3] == ["[unused0]", "[unused1]"] and released[99] == "[unused98]"
    with pytest.raises(ValueError, match="num_unused must be >= 0, got -1"):
        vocab_learning.special_tokens(-1)


def test_hand_computed_merges():
    # Pair counts: (##e,##s) = (##s,##t) = 9 (newest 6 + widest 3), ties to the smaller pair; then ##es+##t = 9;
    # (l,##o) = (##o,##w) = 7, '##o' < 'l'; (l,##ow) = 7; then three 6s (##e,##w) < (##w,##est) < (n,##e):
    # ##ew, then (##ew,##est) < (n,##ew), then (n,##ewest).
    counts = collections.Counter({"low": 5, "lower": 2, "newest": 6, "widest": 3})
    alphabet = ["l", "n", "w", "##d", "##e", "##i", "##o", "##r", "##s", "##t", "##w"]
    merges = ["##es", "##est", "##ow", "low", "##ew", "##ewest", "newest"]
    assert vocab_learning.learn_wordpieces(counts, 5 + 11 + 7, 5) == alphabet + merges
    assert vocab_learning.learn_wordpieces(counts, 100, 5, min_count=10) == alphabet  # no pair occurs 10 times
    # Left then: widest = w ##i ##d ##est (3), lower = low ##e ##r (2): three 3s, (##d,##est) first.
    assert vocab_learning.learn_wordpieces(counts, 100, 5, min_count=3) == alphabet + merges + [
        "##dest", "##idest", "widest"]
    assert vocab_learning.learn_wordpieces(counts, 100, 5, min_count=1)[-2:] == ["##er", "lower"]
    with pytest.raises(ValueError, match=r"vocab_size 15 cannot hold the 5 special .* 11 characters.*>= 16"):
        vocab_learning.learn_wordpieces(counts, 15, 5)


def test_count_words_uses_the_original_pre_tokenization(tmp_path):
    path = tmp_path / "text.txt"
    path.write_text("Hello, Wörld! hello\n\nx^2\n", encoding="utf-8")
    assert vocab_learning.count_words([path], do_lower_case=True) == {
        "hello": 2, ",": 1, "world": 1, "!": 1, "x": 1, "^": 1, "2": 1}
    assert vocab_learning.count_words([path], do_lower_case=False)["Wörld"] == 1


@pytest.mark.parametrize("lower", [True, False])
def test_learned_vocab_covers_the_corpus_in_every_tokenizer(tmp_path, original_tokenization, lower):
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("\n".join(CORPUS) + "\n", encoding="utf-8")
    counts = vocab_learning.count_words([corpus], do_lower_case=lower)
    vocab = vocab_learning.build_vocab(counts, vocab_size=120, num_unused=3, min_count=1)
    assert len(vocab) == len(set(vocab)) == 120
    # With room to spare and min_count=1, merging goes on until every word of the corpus is one piece.
    everything = vocab_learning.build_vocab(counts, vocab_size=1000, min_count=1)
    assert len(everything) < 1000 and set(counts) <= set(everything)
    assert vocab[:9] == ["[PAD]", "[unused0]", "[unused1]", "[unused2]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "$"]
    vocab_file = tmp_path / "vocab.txt"
    vocab_learning.write_vocab(vocab, vocab_file)
    ours = tokenization.FullTokenizer(vocab_file, do_lower_case=lower)
    theirs = original_tokenization.FullTokenizer(str(vocab_file), do_lower_case=lower)
    assert list(ours.vocab) == vocab
    for line in CORPUS:
        pieces = ours.tokenize(line)
        assert pieces == theirs.tokenize(line) and "[UNK]" not in pieces
    assert ours.tokenize("the") == ["the"]  # the most frequent word is learned whole
    assert ours.tokenize("床前") == ["床", "前"]  # CJK ideographs are words of their own


def test_bad_input_errors_name_file_and_line(tmp_path):
    bad = tmp_path / "bad.txt"
    bad.write_bytes(b"fine line\nbroken \xff byte\n")
    with pytest.raises(ValueError, match=r"bad\.txt:2: text is not valid UTF-8"):
        vocab_learning.count_words([bad], do_lower_case=True)
    empty = tmp_path / "empty.txt"
    empty.write_text(" \n\x00\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"no words in .*empty\.txt"):
        vocab_learning.count_words([empty], do_lower_case=True)
    with pytest.raises(ValueError, match="vocab_size must be > 0, got 0"):
        vocab_learning.build_vocab({"a": 1}, vocab_size=0)


def test_write_vocab_leaves_no_partial_file(tmp_path):
    target = tmp_path / "vocab.txt"
    with pytest.raises(UnicodeEncodeError):
        vocab_learning.write_vocab(["a", "\ud800"], target)  # a lone surrogate cannot be written as UTF-8
    assert list(tmp_path.iterdir()) == []


def test_build_vocab_script(tmp_path):
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("\n".join(CORPUS) + "\n", encoding="utf-8")
    output = tmp_path / "out" / "vocab.txt"
    output.parent.mkdir()
    command = [sys.executable, str(REPO / "build_vocab.py"), f"--input_file={tmp_path}/corp*.txt",
               f"--output_file={output}", "--vocab_size=1000", "--do_lower_case=False", "--num_unused=2",
               "--min_count=1"]
    result = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    tokens = output.read_text(encoding="utf-8").splitlines()
    assert f"wrote {len(tokens)} tokens" in result.stderr and len(tokens) < 1000  # every word whole, see above
    assert tokens[:7] == ["[PAD]", "[unused0]", "[unused1]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    assert "The" in tokens and "the" in tokens  # cased
    assert list(output.parent.iterdir()) == [output]
    missing = subprocess.run(command[:2] + [f"--input_file={tmp_path}/nothing*.txt", f"--output_file={output}"],
                             capture_output=True, text=True, timeout=120)
    assert missing.returncode != 0 and "no file matches" in missing.stderr
