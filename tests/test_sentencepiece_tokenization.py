"""ALBERT's tokenizer (bert_tf.sentencepiece_tokenization, bert_tf.sentencepiece_ops): a SentencePiece model trained
here, tokenized identically by Hugging Face's AlbertTokenizer (the independent reference), by our Python tokenizer
and by our graph ops, on made-up text (default) and on every line of the real corpora (slow)."""

import pathlib
import shutil
import subprocess
import sys
import time
import unicodedata

import pytest
import sentencepiece as spm
from tokenizer_fixtures import CORPORA, DATA, corpus_lines, made_up_lines, write_lines

from bert_tf import sentencepiece_tokenization as spt

REPO = pathlib.Path(__file__).resolve().parents[1]
SETTINGS = [(True, False), (False, True)]  # (do_lower_case, keep_accents): released ALBERT, and cased with accents


def hf_comparable(line, do_lower_case, keep_accents):
    """False for the lines where Hugging Face's AlbertTokenizer is known to differ from the original (tested in
    test_known_differences_from_hugging_face): a capital sigma when lower-casing; when stripping accents, a mark
    of category Mn with combining class 0 (Indic vowel signs: the original keeps it, HF drops every Mn); text in
    which NFKC joins characters (a Hangul syllable that NFKD took apart, a kana and a separate voicing mark),
    which SentencePiece does and HF's copy of its normalizer does not."""
    text = spt.preprocess_text(line, do_lower_case, keep_accents)
    joins = unicodedata.normalize("NFKC", text) != "".join(unicodedata.normalize("NFKC", c) for c in text)
    kept_marks = not keep_accents and any(unicodedata.category(c) == "Mn" for c in text)
    return not joins and not kept_marks and not (do_lower_case and "\u03a3" in line)


def same_or_tied(tokenizer, ids, hf_ids):
    """True when our ids are HF's, or another segmentation of the same text with the same total score: the two
    Viterbi searches break ties differently ("111" as "11" "1" or "1" "11"), both are best. The pieces can be
    anything with a score (ids with or without [CLS]/[SEP], whose scores are 0)."""
    def text_and_score(pieces):
        return "".join(tokenizer.convert_ids_to_tokens(pieces)), sum(tokenizer.sp.GetScore(i) for i in pieces)

    (text, score), (hf_text, hf_score) = text_and_score(ids), text_and_score(hf_ids)
    return ids == hf_ids or (text == hf_text and abs(score - hf_score) < 1e-3)


def hf_albert(model_file, folder, do_lower_case, keep_accents):
    from google.protobuf.runtime_version import VersionError
    from transformers import AlbertTokenizer, convert_slow_tokenizer

    try:
        from sentencepiece import sentencepiece_model_pb2  # noqa: F401
    except VersionError:
        # sentencepiece 0.2.3's schema module needs protobuf >= 7.36 and TensorFlow's range allows 6.x: HF then reads
        # the .model with its own copy of the same schema (it would otherwise give up on the file).
        from transformers.utils import sentencepiece_model_pb2_new

        convert_slow_tokenizer.import_protobuf = lambda error_message="": sentencepiece_model_pb2_new

    folder.mkdir(exist_ok=True)
    shutil.copy(model_file, folder / "spiece.model")
    return AlbertTokenizer.from_pretrained(str(folder), do_lower_case=do_lower_case, keep_accents=keep_accents)


@pytest.fixture(scope="module", params=SETTINGS, ids=["uncased", "cased"])
def trained(request, tmp_path_factory):
    """(settings, model file, HF tokenizer, lines) for a 400-piece model trained on the made-up text."""
    do_lower_case, keep_accents = request.param
    folder = tmp_path_factory.mktemp("albert")
    lines = made_up_lines()
    text = write_lines(folder / "text.txt", lines)
    model, _ = spt.train_sentencepiece([text], str(folder / "spiece"), 400, do_lower_case, keep_accents)
    return (do_lower_case, keep_accents), model, hf_albert(model, folder / "hf", do_lower_case, keep_accents), lines


def test_preprocess_text_hand_computed():
    assert spt.preprocess_text("  Héllo\t\u00a0 ``Wörld''  ") == 'hello "world"'
    assert spt.preprocess_text("Café ﬁne ½", do_lower_case=False) == "Cafe fine 1\u20442"
    assert spt.preprocess_text("Café", do_lower_case=False, keep_accents=True) == "Café"
    assert spt.preprocess_text("ΟΔΟΣ Σ") == "οδος σ"  # Python's lower: a final sigma at a word's end


def test_training_gives_albert_ids_and_the_files(trained):
    (lower, accents), model, _, _ = trained
    tokenizer = spt.AlbertTokenizer(model, lower, accents)
    assert tokenizer.decode(tokenizer.build_inputs(tokenizer.encode(" Sen  ka"))) == ("sen ka" if lower else "Sen ka")
    sp = spm.SentencePieceProcessor(model_file=model)
    assert [sp.IdToPiece(i) for i in range(5)] == ["<pad>", "<unk>", "[CLS]", "[SEP]", "[MASK]"]
    assert sp.GetPieceSize() == 400
    assert model.endswith("spiece.model") and open(model[:-len("model")] + "vocab", encoding="utf-8").readline() \
        .split("\t")[0] == "<pad>"


def test_identical_to_hugging_face_on_every_line(trained):
    (lower, accents), model, hf, lines = trained
    # Without the digit-comma rule (HF's fast tokenizer has none): the same ids on every line.
    ours = spt.AlbertTokenizer(model, lower, accents, split_digit_commas=False)
    lines = [line for line in lines if hf_comparable(line, lower, accents)]
    assert len(lines) > 380
    expected = hf(lines)["input_ids"]
    assert [ours.build_inputs(ours.encode(line)) for line in lines] == expected
    # With it (ALBERT's default): the same except that each "<digit>," piece is re-encoded, comma apart.
    ours = spt.AlbertTokenizer(model, lower, accents)
    differ = 0
    for line, ids in zip(lines, expected, strict=True):
        hf_pieces = hf.convert_ids_to_tokens(ids[1:-1])
        pieces = ours.convert_ids_to_tokens(ours.encode(line))
        if pieces != hf_pieces:
            differ += 1
            assert "".join(pieces).replace("\u2581", "") == "".join(hf_pieces).replace("\u2581", ""), line
            assert any(p[-1:] == "," and p[-2:-1].isdigit() for p in hf_pieces), line
        assert not any(p[-1:] == "," and p[-2:-1].isdigit() for p in pieces), line
    assert differ > 0  # the rule fired


def test_digit_comma_rule_hand_computed():
    class Pieces:  # a stand-in SentencePiece model: the pieces of each re-encoded number
        table = {"12": ["\u2581", "12"], "5": ["\u2581", "5"], "2024": ["\u25812", "024"]}

        def EncodeAsPieces(self, text):  # noqa: N802 (SentencePiece's name)
            return self.table[text]

    tokenizer = object.__new__(spt.AlbertTokenizer)
    tokenizer.sp = Pieces()
    assert tokenizer._split_digit_commas(["\u2581a", "\u258112,"]) == ["\u2581a", "\u2581", "12", ","]
    assert tokenizer._split_digit_commas(["\u2581x", "5,"]) == ["\u2581x", "5", ","]  # "▁" alone goes
    assert tokenizer._split_digit_commas(["x", "2024,"]) == ["x", "2", "024", ","]  # "▁2" loses its "▁"
    assert tokenizer._split_digit_commas(["a,", ",", "\u2581,"]) == ["a,", ",", "\u2581,"]  # no digit: kept


def test_known_differences_from_hugging_face(trained):
    (lower, accents), model, hf, _ = trained
    ours = spt.AlbertTokenizer(model, lower, accents, split_digit_commas=False)

    def hf_pieces(text):
        return hf.convert_ids_to_tokens(hf(text)["input_ids"][1:-1])

    if lower:
        # Python's str.lower (the original's) makes a word-final capital sigma final; HF lowers letter by letter.
        assert ours.tokenize("ΟΔΟΣ")[-1].endswith("ς") and hf.tokenize("ΟΔΟΣ")[-1].endswith("σ")
    if not accents:
        # NFKD splits a Hangul syllable into jamo; SentencePiece's NFKC joins them again, HF's copy of its
        # normalizer does not, so the trained syllables are <unk> there.
        assert ours.tokenize("한국어") == ["\u2581한국어"] and hf_pieces("한국어") == ["\u2581", "<unk>"]
    else:
        assert ours.tokenize("한국어") == hf_pieces("한국어") == ["\u2581한국어"]
    if not accents:  # a vowel sign of category Mn and combining class 0: the original keeps it, HF drops it
        assert ours.preprocess("कि") == "कि" and hf.backend_tokenizer.normalizer.normalize_str("कि") == "क"
    if accents:  # NFKC joins a kana and a separate (half-width) voicing mark: SentencePiece does, HF does not
        assert ours.tokenize("か\uff9e") == ["\u2581が"] and hf_pieces("か\uff9e") == ["\u2581", "<unk>"]
    else:  # NFKD made the mark a combining one, and it is dropped
        assert ours.tokenize("か\uff9e") == hf_pieces("か\uff9e") == ["\u2581か"]


def test_graph_ops_equal_python_and_save(trained, tmp_path):
    import tensorflow as tf

    from bert_tf import sentencepiece_ops

    (lower, accents), model, _, lines = trained
    python = spt.AlbertTokenizer(model, lower, accents)
    graph = sentencepiece_ops.AlbertTextTokenizer(model, lower, accents)
    lines = lines + ["ΟΔΟΣ Σ ΑΣ. ΣΑ", "한국어", "कि", "か\uff9e", "İI", "\x1c\x85x\u2028y", "99,9, x7,"]
    assert graph.tokenize(lines).to_list() == [python.encode(line) for line in lines]
    assert [p.decode() for p in graph.preprocess(lines[:50]).numpy()] == [python.preprocess(x) for x in lines[:50]]
    assert graph.tokenize(lines[0]).numpy().tolist() == python.encode(lines[0])  # a scalar
    module = tf.Module()
    module.tokenizer = graph
    module.serve = tf.function(graph.tokenize, input_signature=[tf.TensorSpec([None], tf.string)])
    tf.saved_model.save(module, str(tmp_path / "saved"))
    loaded = tf.saved_model.load(str(tmp_path / "saved"))
    assert loaded.serve(tf.constant(lines[:64])).to_list() == [python.encode(line) for line in lines[:64]]


def test_errors_name_the_file(trained, tmp_path):
    _, model, _, _ = trained
    with pytest.raises(ValueError, match=r"spiece.model: SentencePiece model has 400 pieces but the model's "
                                         r"vocab_size is 30000"):
        spt.AlbertTokenizer(model, vocab_size=30000)
    assert spt.AlbertTokenizer(model, vocab_size=400).vocab_size == 400
    broken = tmp_path / "broken.model"
    broken.write_bytes(b"not a model")
    with pytest.raises(ValueError, match=r"broken.model: not a readable SentencePiece model"):
        spt.AlbertTokenizer(broken)
    with pytest.raises(ValueError, match=r"missing.model: not a readable SentencePiece model"):
        spt.AlbertTokenizer(tmp_path / "missing.model")
    other = tmp_path / "other"
    spm.SentencePieceTrainer.Train(input=str(write_lines(tmp_path / "t.txt", made_up_lines(200))),
                                   model_prefix=str(other), vocab_size=300, minloglevel=2)  # <unk>=0, <s>, </s>
    with pytest.raises(ValueError, match=r"other.model: not ALBERT's special-token layout .*<pad>=-?\d+ \(wanted 0\)"):
        spt.AlbertTokenizer(str(other) + ".model")


def test_build_vocab_albert(tmp_path):
    text = write_lines(tmp_path / "text.txt", made_up_lines(300))
    out = tmp_path / "out" / "spiece.model"
    run = subprocess.run([sys.executable, "build_vocab.py", "--model_type=albert", f"--input_file={text}",
                          f"--output_file={out}", "--vocab_size=300"], capture_output=True, text=True, cwd=REPO)
    assert run.returncode == 0, run.stderr[-2000:]
    assert sorted(p.name for p in out.parent.iterdir()) == ["spiece.model", "spiece.vocab"]
    assert spt.AlbertTokenizer(out, vocab_size=300).encode("sen") != []
    run = subprocess.run([sys.executable, "build_vocab.py", "--model_type=albert", f"--input_file={text}",
                          f"--output_file={tmp_path / 'spiece.bin'}"], capture_output=True, text=True, cwd=REPO)
    assert run.returncode == 1 and "an ALBERT SentencePiece model is named <name>.model" in run.stderr


@pytest.mark.slow
def test_every_corpus_line_identical_to_hugging_face_and_graph(tmp_path):
    import tensorflow as tf

    from bert_tf import sentencepiece_ops

    corpora = corpus_lines()
    start = time.time()
    model, _ = spt.train_sentencepiece([DATA / "corpus" / name for name in CORPORA], str(tmp_path / "spiece"), 8000)
    trained_s = time.time() - start
    hf = hf_albert(model, tmp_path / "hf", True, False)
    plain = spt.AlbertTokenizer(model, split_digit_commas=False)
    python = spt.AlbertTokenizer(model)
    graph = sentencepiece_ops.AlbertTextTokenizer(model)
    report = {}
    for name, lines in corpora.items():
        expected = hf(lines)["input_ids"]
        same = [i for i, line in enumerate(lines) if hf_comparable(line, True, False)]
        ties = [i for i in same if plain.encode(lines[i]) != expected[i][1:-1]]
        assert all(same_or_tied(plain, plain.build_inputs(plain.encode(lines[i])), expected[i]) for i in ties)
        ids = [python.encode(line) for line in lines]
        in_graph = [row for i in range(0, len(lines), 4096)
                    for row in graph.tokenize(tf.constant(lines[i:i + 4096])).to_list()]
        # tensorflow-text bundles its own SentencePiece build, which breaks equal-score ties its own way.
        graph_ties = [i for i, (a, b) in enumerate(zip(in_graph, ids, strict=True)) if a != b]
        assert all(same_or_tied(python, in_graph[i], ids[i]) for i in graph_ties)
        rule = sum(a != plain.encode(line) for a, line in zip(ids, lines, strict=True))
        report[name] = dict(lines=len(lines), compared=len(same), hf_ties=len(ties), digit_comma_rule=rule,
                            graph_ties=len(graph_ties))
    print(f"\ntrained 8000 pieces in {trained_s:.1f} s; {report}; {time.time() - start:.1f} s in all")
