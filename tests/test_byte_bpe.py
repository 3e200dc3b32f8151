"""RoBERTa's byte-level BPE (bert_tf.byte_bpe): a vocab.json + merges.txt learned here, tokenized identically by
Hugging Face's RobertaTokenizer (the independent reference) and by ours, on made-up text (default) and on every
line of the real corpora (slow); hand-computed merges; errors naming the file."""

import collections
import json
import pathlib
import subprocess
import sys
import time

import pytest
from tokenizer_fixtures import CORPORA, DATA, corpus_lines, made_up_lines, write_lines

from bert_tf import byte_bpe

REPO = pathlib.Path(__file__).resolve().parents[1]


def learned(folder, paths, vocab_size):
    """Learns and writes a pair into `folder`; returns (ours, Hugging Face's) tokenizers of it."""
    from transformers import RobertaTokenizer

    vocab, merges = byte_bpe.learn_bpe(byte_bpe.count_words(paths), vocab_size)
    byte_bpe.write_bpe(vocab, merges, folder / "vocab.json", folder / "merges.txt")
    ours = byte_bpe.ByteLevelBPETokenizer(folder / "vocab.json", folder / "merges.txt", vocab_size=vocab_size)
    return ours, RobertaTokenizer.from_pretrained(str(folder))


@pytest.fixture(scope="module")
def pair(tmp_path_factory):
    folder = tmp_path_factory.mktemp("roberta")
    lines = made_up_lines()
    ours, hf = learned(folder, [write_lines(folder / "text.txt", lines)], 700)
    return folder, ours, hf, lines


def test_byte_map_and_pre_tokenization_hand_computed():
    table = byte_bpe.bytes_to_unicode()
    assert len(set(table.values())) == 256
    assert table[ord("A")] == "A" and table[ord(" ")] == "\u0120" and table[ord("\n")] == "\u010a"
    assert table[0] == "\u0100" and table[0xAD] == "\u0143" and table[0xE9] == "\u00e9"
    assert byte_bpe.pre_tokenize("Hello world's  café 12,5!") == [
        "Hello", "\u0120world", "'s", "\u0120", "\u0120caf\u00c3\u00a9", "\u012012", ",", "5", "!"]


def test_hand_computed_merges(tmp_path):
    # Pairs in "low"x5 "lower"x2 "newest"x6 "widest"x3: (e,s) = (s,t) = 9 -> "es" (smaller pair); (es,t) = 9;
    # (l,o) = (o,w) = 7 -> "lo", then (lo,w) = 7.
    counts = collections.Counter({"low": 5, "lower": 2, "newest": 6, "widest": 3})
    vocab, merges = byte_bpe.learn_bpe(counts, 4 + 256 + 4 + 1)
    assert merges == [("e", "s"), ("es", "t"), ("l", "o"), ("lo", "w")]
    assert list(vocab)[:4] == ["<s>", "<pad>", "</s>", "<unk>"] and list(vocab)[-5:] == [
        "es", "est", "lo", "low", "<mask>"]
    assert list(vocab.values()) == list(range(265))
    byte_bpe.write_bpe(vocab, merges, tmp_path / "vocab.json", tmp_path / "merges.txt")
    assert (tmp_path / "merges.txt").read_text() == "#version: 0.2\ne s\nes t\nl o\nlo w\n"
    tokenizer = byte_bpe.ByteLevelBPETokenizer(tmp_path / "vocab.json", tmp_path / "merges.txt")
    assert tokenizer.tokenize("lowest slow") == ["low", "est", "\u0120", "s", "low"]
    assert tokenizer.build_inputs([10], [11]) == [0, 10, 2, 2, 11, 2]
    assert tokenizer.mask_id == 264 and tokenizer.decode(tokenizer.encode("lowest  é")) == "lowest  é"


def test_identical_to_hugging_face_on_every_line(pair):
    _, ours, hf, lines = pair
    assert [ours.build_inputs(ours.encode(line)) for line in lines] == hf(lines)["input_ids"]
    assert hf(lines[0], lines[1])["input_ids"] == ours.build_inputs(ours.encode(lines[0]), ours.encode(lines[1]))
    assert all(ours.decode(ours.encode(line)) == line for line in lines)


def test_errors_name_the_file(pair, tmp_path):
    folder, _, _, _ = pair
    vocab = json.loads((folder / "vocab.json").read_text(encoding="utf-8"))
    merges = (folder / "merges.txt").read_text(encoding="utf-8").split("\n")
    with pytest.raises(ValueError, match=r"vocab.json: vocab.json has 700 pieces but the model's vocab_size is 50265"):
        byte_bpe.ByteLevelBPETokenizer(folder / "vocab.json", folder / "merges.txt", vocab_size=50265)
    # A merge whose result is not in the vocab: the pair does not belong together.
    smaller = {piece: i for i, piece in enumerate(p for p in vocab if p != "".join(merges[5].split(" ")))}
    (tmp_path / "small.json").write_text(json.dumps(smaller), encoding="utf-8")
    with pytest.raises(ValueError, match=r"merges.txt: line 6: the merge .* needs .*, not in .*small.json"):
        byte_bpe.ByteLevelBPETokenizer(tmp_path / "small.json", folder / "merges.txt")
    (tmp_path / "merges.txt").write_text("\n".join(merges[:3] + ["a b c"] + merges[3:]), encoding="utf-8")
    with pytest.raises(ValueError, match=r"merges.txt: line 4: 'a b c' is not two pieces"):
        byte_bpe.ByteLevelBPETokenizer(folder / "vocab.json", tmp_path / "merges.txt")
    (tmp_path / "bad.json").write_text("{not json", encoding="utf-8")
    with pytest.raises(ValueError, match=r"bad.json: not a readable vocab.json"):
        byte_bpe.ByteLevelBPETokenizer(tmp_path / "bad.json", folder / "merges.txt")
    with pytest.raises(ValueError, match=r"missing.txt: not a readable merges.txt"):
        byte_bpe.ByteLevelBPETokenizer(folder / "vocab.json", tmp_path / "missing.txt")
    del vocab["<mask>"]
    (tmp_path / "nomask.json").write_text(json.dumps(vocab), encoding="utf-8")
    with pytest.raises(ValueError, match=r"nomask.json: vocab.json lacks RoBERTa's special token\(s\) <mask>"):
        byte_bpe.ByteLevelBPETokenizer(tmp_path / "nomask.json", folder / "merges.txt")
    with pytest.raises(ValueError, match=r"cannot hold the 5 special tokens and the 256 bytes"):
        byte_bpe.learn_bpe(collections.Counter({"ab": 3}), 260)


def test_build_vocab_roberta(tmp_path):
    text = write_lines(tmp_path / "text.txt", made_up_lines(300))
    out = tmp_path / "out"
    run = subprocess.run([sys.executable, "build_vocab.py", "--model_type=roberta", f"--input_file={text}",
                          f"--output_file={out / 'vocab.json'}", "--vocab_size=500"], capture_output=True, text=True,
                         cwd=REPO)
    assert run.returncode == 0, run.stderr[-2000:]
    assert sorted(p.name for p in out.iterdir()) == ["merges.txt", "vocab.json"]
    tokenizer = byte_bpe.ByteLevelBPETokenizer(out / "vocab.json", out / "merges.txt", vocab_size=500)
    assert tokenizer.vocab["<mask>"] == 499 and tokenizer.pad_id == 1


@pytest.mark.slow
def test_every_corpus_line_identical_to_hugging_face(tmp_path):
    start = time.time()
    ours, hf = learned(tmp_path, [DATA / "corpus" / name for name in CORPORA], 8000)
    learned_s = time.time() - start
    report = {}
    for name, lines in corpus_lines().items():
        expected = hf(lines)["input_ids"]
        assert [ours.build_inputs(ours.encode(line)) for line in lines] == expected
        report[name] = len(lines)
    print(f"\nlearned 8000 pieces in {learned_s:.1f} s; lines identical: {report}; {time.time() - start:.1f} s in all")
