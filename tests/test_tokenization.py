"""bert_tf.tokenization: reference vectors, parity with the original on torture strings, vocab errors."""

import json
import random
import subprocess
import sys
import unicodedata

import pytest
from helpers import DATA, pieces_vocab, write_vocab

from bert_tf import tokenization

SPECIALS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
# The original tokenization_test.py vocab (ids 0..10); it has no [MASK], see test_reference_full_tokenizer.
ORIGINAL_TEST_VOCAB = ["[UNK]", "[CLS]", "[SEP]", "want", "##want", "##ed", "wa", "un", "runn", "##ing", ","]

# Torture strings; every one goes through ours, the original and HF's Python tokenizer (uncased and cased).
TORTURE = [
    "", "   ", "Hello, World!", " \tHeLLo!how  \n Are yoU?  ", "UNwant\u00e9d,running",
    "Ünïcödé café naïve résumé", "e\u0301 vs \u00e9", "ＦＵＬＬ ｗｉｄｔｈ ３ａ！", "“curly” ‘quotes’ don’t",
    "wait… what", "Straße STRASSE ß ẞ", "½ ¼ ≠ ≤ ± × ÷ ° ™ ©", "ガ か\u3099 ぱ は\u309a パン",
    "😀 👍🏽 👨\u200d👩\u200d👧 ❤️",
    "zero\u200bwidth\u200cjoin\u200dx\ufeffbom", "bidi \u202aa\u202c \u2066b\u2069 \u200e\u200f \u061cc",
    "soft\u00adhyphen", "c0 a\x01b\x05c\x1bd\x7fe \x0b\x0c \x1c\x1d\x1e\x1f end", "c1 a\x80b\x85c\x9fd",
    "line\u2028sep\u2029par", "nbsp\u00a0x\u2002y\u3000z\u202fw\u1680v", "nul\x00x \ufffd repl",
    "中文字符和English混合", "㐀㐁 \U00020000\U0002a6df \U0002a700 \U0002b740 \U0002b820 \U0002cea1",
    "ext-e end \U0002cea1\U0002ceaf", "ext-f \U0002ceb0\U0002ebe0 ext-g \U00030000\U0003134a",
    "compat 豈 \U0002f800 radical ⺀ ⼀ stroke ㇀",
    "한국어 텍스트 안녕하세요", "ภาษาไทย สวัสดี", "ΟΔΟΣ ΣΟΦΟΣ Σ ΑΣ. ὈΔΥΣΣΕΎΣ", "İstanbul ǅemal ﬁne",
    "private \ue000\uf8ff \U000f0000 \U0010fffd", "unassigned a\u0378b \U000e0080", "surrogate \ud800x",
    "format \u0890 \u08e2 \u180e \U000e0001 \U00013430", "x^2 $5 `q` a+b<c>d|e~f", "e.g. 3.14 -- 1,000",
    "[MASK] [mask] [CLS]x [SEP] [UNK]", "John Johanson's,", "a\u00adb\u0005c\tde\u00a0f", "ah\u535a\u63a8zz",
    "\u0345\u0307 lone marks \u0301", "tab\ttab\r\ncrlf", "a" * 200, "b" * 201, "é" * 200, "é" * 201,
]


@pytest.fixture(scope="module")
def built_vocab(tmp_path_factory, original_tokenization):
    return pieces_vocab(original_tokenization, TORTURE, SPECIALS, tmp_path_factory.mktemp("vocab") / "built.txt")


@pytest.fixture(scope="module")
def tiny_vocab(tmp_path_factory):
    tokens = SPECIALS + ["want", "##want", "##ed", "wa", "un", "runn", "##ing", ",", "hello", "!", "how", "a",
                         "##b", "##c", "x", "中", "文", "cafe", "caf", "##é", "ο", "##δ", "##ος", "##ς", "σ",
                         "[", "]", "mask"]
    return write_vocab(tmp_path_factory.mktemp("vocab") / "tiny.txt", tokens)


# --- docs/ORIGINAL.md §4.4 reference vectors --------------------------------------------------------------------


def test_reference_full_tokenizer(tmp_path):
    vocab_file = write_vocab(tmp_path / "vocab.txt", ORIGINAL_TEST_VOCAB)
    # The original test vocab lacks [MASK]; FullTokenizer demands BERT's special tokens unless told otherwise.
    tokenizer = tokenization.FullTokenizer(vocab_file, required_tokens=("[UNK]",))
    tokens = tokenizer.tokenize("UNwant\u00e9d,running")
    assert tokens == ["un", "##want", "##ed", ",", "runn", "##ing"]
    assert tokenizer.convert_tokens_to_ids(tokens) == [7, 4, 5, 10, 8, 9]
    assert tokenizer.convert_ids_to_tokens([7, 4, 5, 10, 8, 9]) == tokens
    assert list(tokenizer.vocab.items())[:3] == [("[UNK]", 0), ("[CLS]", 1), ("[SEP]", 2)]
    assert tokenizer.inv_vocab[10] == ","


def test_reference_basic_tokenizer():
    lower = tokenization.BasicTokenizer(do_lower_case=True)
    cased = tokenization.BasicTokenizer(do_lower_case=False)
    assert lower.tokenize(" \tHeLLo!how  \n Are yoU?  ") == ["hello", "!", "how", "are", "you", "?"]
    assert cased.tokenize(" \tHeLLo!how  \n Are yoU?  ") == ["HeLLo", "!", "how", "Are", "yoU", "?"]
    assert lower.tokenize("H\u00e9llo") == ["hello"]
    assert lower.tokenize("ah\u535a\u63a8zz") == ["ah", "\u535a", "\u63a8", "zz"]
    assert lower.tokenize("John Johanson's,") == ["john", "johanson", "'", "s", ","]
    assert lower.tokenize("[MASK] don't") == ["[", "mask", "]", "don", "'", "t"]
    assert lower.tokenize("a\u00adb\u0005c\tde\u00a0f") == ["abc", "de", "f"]
    assert lower.tokenize("x^2 $5 `q`") == ["x", "^", "2", "$", "5", "`", "q", "`"]
    assert lower.tokenize("e.g. 3.14") == ["e", ".", "g", ".", "3", ".", "14"]
    assert lower.tokenize("Ünïcödé café") == ["unicode", "cafe"]
    assert cased.tokenize("Ünïcödé café") == ["Ünïcödé", "café"]
    assert lower.tokenize("３ａ") == ["３ａ"]  # no NFKC: full-width stays one token


def test_reference_wordpiece_tokenizer():
    vocab = {token: index for index, token in enumerate(ORIGINAL_TEST_VOCAB[:-1])}
    wordpiece = tokenization.WordpieceTokenizer(vocab=vocab)
    assert wordpiece.tokenize("") == []
    assert wordpiece.tokenize("unwanted running") == ["un", "##want", "##ed", "runn", "##ing"]
    assert wordpiece.tokenize("unwantedX running") == ["[UNK]", "runn", "##ing"]


def test_reference_character_classes():
    assert all(tokenization._is_whitespace(c) for c in " \t\r\n\u00a0")
    assert not any(tokenization._is_whitespace(c) for c in "A-")
    assert tokenization._is_control("\u0005")
    assert not any(tokenization._is_control(c) for c in "A \t\r\U0001f4a9")
    assert all(tokenization._is_punctuation(c) for c in "-$`.")
    assert not any(tokenization._is_punctuation(c) for c in "A ")


def test_issue_log_ids(tmp_path):
    """The uncased ids of an example from the original's issue log, on a vocab with those tokens at those lines."""
    ids = {"[PAD]": 0, "[UNK]": 100, "[CLS]": 101, "[SEP]": 102, "[MASK]": 103, "who": 2040, "was": 2001,
           "jim": 3958, "henson": 27227, "?": 1029, "a": 1037, "puppet": 13997, "##eer": 11510}
    lines = [f"[unused{i}]" for i in range(27228)]
    for token, index in ids.items():
        lines[index] = token
    tokenizer = tokenization.FullTokenizer(write_vocab(tmp_path / "vocab.txt", lines))
    tokens = ["[CLS]"] + tokenizer.tokenize("Who was Jim Henson ?") + ["[SEP]"]
    tokens += tokenizer.tokenize("Jim Henson was a puppeteer") + ["[SEP]"]
    assert tokenizer.convert_tokens_to_ids(tokens) == [
        101, 2040, 2001, 3958, 27227, 1029, 102, 3958, 27227, 2001, 1037, 13997, 11510, 102]


# --- checklist items and hand-computed edge cases ----------------------------------------------------------


def test_word_length_limit_counts_characters_after_accent_stripping(tmp_path):
    long_word = "k" * 200
    vocab_file = write_vocab(tmp_path / "vocab.txt", SPECIALS + [long_word, "e", "##e", "##\u0301"])
    lower = tokenization.FullTokenizer(vocab_file)
    cased = tokenization.FullTokenizer(vocab_file, do_lower_case=False)
    assert lower.tokenize(long_word) == [long_word]
    assert lower.tokenize("k" * 201) == ["[UNK]"]
    # 200 é are 400 code points after NFD but 200 after dropping the accents: not over the limit.
    assert lower.tokenize("é" * 200) == ["e"] + ["##e"] * 199
    assert lower.tokenize("é" * 201) == ["[UNK]"]
    # Cased text is not normalised: a decomposed é is two characters.
    assert cased.tokenize("e\u0301" * 100) == ["e"] + ["##\u0301", "##e"] * 99 + ["##\u0301"]
    assert cased.tokenize("e\u0301" * 100 + "e") == ["[UNK]"]


def test_cjk_split_but_hangul_and_kana_not(tiny_vocab):
    basic = tokenization.BasicTokenizer()
    assert basic.tokenize("中文ab") == ["中", "文", "ab"]
    assert basic.tokenize("\U0002b820\U0002ceb0\U00030000") == ["\U0002b820", "\U0002ceb0\U00030000"]
    assert basic.tokenize("カタカナ ひらがな") == ["カタカナ", "ひらかな"]  # dakuten stripped when uncased
    assert len(basic.tokenize("안녕")[0]) == 6  # NFD leaves Hangul as conjoining jamo
    assert tokenization.FullTokenizer(tiny_vocab).tokenize("中文x") == ["中", "文", "x"]


def test_torture_basic_tokens_by_hand():
    lower = tokenization.BasicTokenizer(do_lower_case=True)
    cased = tokenization.BasicTokenizer(do_lower_case=False)
    # str.lower() applies the final-sigma rule per word; HF's Rust tokenizer lower-cases per char (always σ).
    assert lower.tokenize("ΟΔΟΣ ΣΟΦΟΣ Σ ΑΣ.") == ["οδος", "σοφος", "σ", "ας", "."]
    # ß has no lower-case change or decomposition; ½ (No) and ≠ (Sm) are not punctuation; … and ’ are (Po, Pf).
    # But NFD turns ≠ into "=" + U+0338 (Mn): uncased, the mark goes and the "=" left is ASCII punctuation.
    assert lower.tokenize("Straße ½a≠b wait…what don’t") == [
        "straße", "½a", "=", "b", "wait", "…", "what", "don", "’", "t"]
    assert cased.tokenize("½a≠b") == ["½a≠b"]
    # No NFKC: full-width letters, the ﬁ ligature and emoji stay inside their words; İ loses its dot (Mn).
    assert lower.tokenize("ＦＵＬＬ ﬁne 😀ok İz") == ["ｆｕｌｌ", "ﬁne", "😀ok", "iz"]
    assert cased.tokenize("ＦＵＬＬ ﬁne 😀ok İz") == ["ＦＵＬＬ", "ﬁne", "😀ok", "İz"]
    # Dakuten (U+3099, Mn) is stripped when uncased, both precomposed (ガ -> カ) and combining.
    assert lower.tokenize("ガか\u3099") == ["カか"]
    assert cased.tokenize("ガか\u3099") == ["ガか\u3099"]
    # Zero-width, bidi and BOM characters (Cf) and C0/C1 controls are deleted; U+2028 (Zl) splits words.
    assert lower.tokenize("a\u200bb\u202ac\ufeffd\x01e\x85f g\u2028h") == ["abcdef", "g", "h"]
    # Private use (Co) and unassigned (Cn) code points are kept as text.
    assert cased.tokenize("a\ue000b \u0378") == ["a\ue000b", "\u0378"]


def test_whole_word_unk_and_mask_split(tiny_vocab):
    tokenizer = tokenization.FullTokenizer(tiny_vocab)
    assert tokenizer.tokenize("unwantedz hello") == ["[UNK]", "hello"]
    # Special tokens in raw text get no protection: "[MASK]" is three ordinary tokens, not id 4.
    assert tokenizer.tokenize("[MASK]") == ["[", "mask", "]"]
    assert 4 not in tokenizer.convert_tokens_to_ids(tokenizer.tokenize("[MASK] x"))


def test_bytes_are_utf8_with_invalid_bytes_dropped(tiny_vocab):
    tokenizer = tokenization.FullTokenizer(tiny_vocab, do_lower_case=False)
    assert tokenizer.tokenize(b"caf\xc3\xa9 \xff\xfehello!") == ["caf", "##é", "hello", "!"]
    assert tokenization.convert_to_unicode(b"a\x80b") == "ab"
    assert tokenization.printable_text(b"caf\xc3\xa9") == "café"
    with pytest.raises(ValueError, match="int"):
        tokenization.convert_to_unicode(5)


def test_convert_unknown_token_raises_key_error(tiny_vocab):
    tokenizer = tokenization.FullTokenizer(tiny_vocab)
    with pytest.raises(KeyError, match="nope"):
        tokenizer.convert_tokens_to_ids(["hello", "nope"])
    with pytest.raises(KeyError):
        tokenizer.convert_ids_to_tokens([10_000])


def test_validate_case_matches_checkpoint():
    check = tokenization.validate_case_matches_checkpoint
    with pytest.raises(ValueError, match="uncased_L-12_H-768_A-12.*--do_lower_case=True"):
        check(False, "/models/uncased_L-12_H-768_A-12/bert_model.ckpt")
    with pytest.raises(ValueError, match="multi_cased_L-12_H-768_A-12.*--do_lower_case=False"):
        check(True, "gs://b/multi_cased_L-12_H-768_A-12/bert_model.ckpt-1000")
    passing = [(True, "/m/uncased_L-12_H-768_A-12/bert_model.ckpt"), (False, "/m/my_model/bert_model.ckpt"),
               (False, "/m/cased_L-24_H-1024_A-16/bert_model.ckpt"), (False, ""), (False, "model.ckpt")]
    for do_lower_case, init_checkpoint in passing:
        assert check(do_lower_case, init_checkpoint) is None


def test_word_cache_is_bounded_and_transparent(monkeypatch, built_vocab, original_tokenization):
    monkeypatch.setattr(tokenization, "_WORD_CACHE_SIZE", 4)
    ours = tokenization.FullTokenizer(built_vocab)
    theirs = original_tokenization.FullTokenizer(str(built_vocab))
    for text in TORTURE * 2:
        assert ours.tokenize(text) == theirs.tokenize(text), repr(text)
        assert len(ours._cache) <= 4
        assert len(ours.basic_tokenizer._cache) <= 4
        assert len(ours.wordpiece_tokenizer._cache) <= 4


def test_import_does_not_load_tensorflow():
    code = "import sys, bert_tf.tokenization; sys.exit('tensorflow' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0


# --- parity with the original on torture strings and random text -------------------------------------------


@pytest.mark.parametrize("do_lower_case", [True, False])
@pytest.mark.parametrize("vocab_name", ["tiny_vocab", "built_vocab"])
def test_torture_parity_with_original(request, original_tokenization, vocab_name, do_lower_case):
    vocab_file = str(request.getfixturevalue(vocab_name))
    ours = tokenization.FullTokenizer(vocab_file, do_lower_case=do_lower_case)
    theirs = original_tokenization.FullTokenizer(vocab_file, do_lower_case=do_lower_case)
    for text in TORTURE:
        expected = theirs.tokenize(text)
        assert ours.tokenize(text) == expected, repr(text)
        assert ours.tokenize(text.encode("utf-8", "surrogatepass")) == theirs.tokenize(
            text.encode("utf-8", "surrogatepass")), repr(text)
        basic = theirs.basic_tokenizer.tokenize(text)
        assert ours.basic_tokenizer.tokenize(text) == basic, repr(text)
        assert ours.wordpiece_tokenizer.tokenize(" ".join(basic)) == expected, repr(text)


# Code points from every class the tokenizer distinguishes, for random strings.
FUZZ_ALPHABET = (
    "aZ09 .,-'$^`~_\t\n\r\x00\x05\x1f\x7f\x85\u00a0\u00ad\u00e9\u00df\u0130\u03a3\u0301\u0345\u0378\u2028"
    "\u200b\u200d\u2066\u3000\ud800\u3099\u30ac\u4e2d\uac00\ue000\uff21\ufffd\u2026\u2019\u00bd\u2260\u0e01\U0001f600"
    "\U00020000\U0002b820\U0002cea5\U0002ceb0\U00030000\U0002f800\U000e0001"
)


@pytest.mark.parametrize("do_lower_case", [True, False])
def test_random_strings_parity_with_original(original_tokenization, tmp_path, do_lower_case):
    rng = random.Random(1234)
    texts = ["".join(rng.choices(FUZZ_ALPHABET, k=rng.randrange(0, 24))) for _ in range(600)]
    # Vocab lines are stripped and UTF-8: whitespace and the lone surrogate cannot be pieces.
    chars = [c for c in FUZZ_ALPHABET if not c.isspace() and c != "\ud800"]
    pieces = {"##" + c for c in chars} | set(chars) | {"aa", "##aa", "##a9", "za", "中z"}
    vocab_file = str(write_vocab(tmp_path / "vocab.txt", SPECIALS + sorted(pieces)))
    ours = tokenization.FullTokenizer(vocab_file, do_lower_case=do_lower_case)
    theirs = original_tokenization.FullTokenizer(vocab_file, do_lower_case=do_lower_case)
    for text in texts:
        assert ours.tokenize(text) == theirs.tokenize(text), repr(text)


# Planes 0-3 (all scripts, symbols, CJK Extensions B-G) and plane 14 (tags, variation selectors); the rest
# (planes 4-13, 15-16) is unassigned or private use in Unicode 14 and is covered by the slow variant.
ASSIGNED_PLANES = [*range(0x40000), *range(0xE0000, 0xF0000), 0xF0000, 0x10FFFD, 0x10FFFF]


@pytest.mark.parametrize("code_points", [
    pytest.param(ASSIGNED_PLANES, id="assigned_planes"),
    pytest.param(range(0x110000), id="all", marks=pytest.mark.slow),
])
def test_character_classes_match_original(original_tokenization, code_points):
    # Fresh tables: filling the module's own with every code point would keep ~100 MB alive.
    clean = tokenization._CharTable(tokenization._clean_rule)
    punctuation = tokenization._CharTable(tokenization._punctuation_rule)
    basic = original_tokenization.BasicTokenizer()
    for cp in code_points:
        char = chr(cp)
        assert tokenization._is_whitespace(char) == original_tokenization._is_whitespace(char), hex(cp)
        assert tokenization._is_control(char) == original_tokenization._is_control(char), hex(cp)
        assert tokenization._is_punctuation(char) == original_tokenization._is_punctuation(char), hex(cp)
        assert (char.translate(punctuation) == f" {char} ") == original_tokenization._is_punctuation(char), hex(cp)
        # The clean table's decision for a char equals the original's cleaning and CJK spacing of it.
        assert char.translate(clean) == basic._tokenize_chinese_chars(basic._clean_text(char)), hex(cp)


# --- vocab validation ---------------------------------------------------------------------------------------


def test_load_vocab_ids_are_line_numbers(tmp_path):
    vocab_file = tmp_path / "vocab.txt"
    vocab_file.write_bytes("[PAD]\r\n  b  \n\n##ç\nlast".encode())  # CRLF, padding, a blank line, no final \n
    vocab = tokenization.load_vocab(vocab_file)
    assert list(vocab.items()) == [("[PAD]", 0), ("b", 1), ("", 2), ("##ç", 3), ("last", 4)]


def test_duplicate_vocab_entry_names_file_and_both_lines(tmp_path):
    vocab_file = write_vocab(tmp_path / "dup.txt", ["[UNK]", "a", "b", "a "])
    with pytest.raises(ValueError, match=r"dup\.txt:4: duplicate vocab entry 'a', first on line 2"):
        tokenization.load_vocab(vocab_file)


def test_empty_vocab_names_file(tmp_path):
    for name, content in [("empty.txt", b""), ("blank.txt", b" \t\r\n")]:
        (tmp_path / name).write_bytes(content)
        with pytest.raises(ValueError, match=rf"{name}: vocab file has no token"):
            tokenization.load_vocab(tmp_path / name)


def test_non_utf8_vocab_names_file_and_line(tmp_path):
    vocab_file = tmp_path / "latin1.txt"
    vocab_file.write_bytes("[UNK]\nok\ncaf\u00e9\n".encode("latin-1"))
    with pytest.raises(ValueError, match=r"latin1\.txt:3: vocab line is not valid UTF-8"):
        tokenization.load_vocab(vocab_file)


def test_full_tokenizer_requires_bert_special_tokens(tmp_path):
    vocab_file = write_vocab(tmp_path / "nospecial.txt", ["[PAD]", "[UNK]", "[CLS]", "hello"])
    with pytest.raises(ValueError, match=r"nospecial\.txt: vocab of 4 entries lacks .*\[SEP\], \[MASK\]"):
        tokenization.FullTokenizer(vocab_file)
    # WordpieceTokenizer takes any vocab; FullTokenizer can be told which special tokens to demand.
    vocab = tokenization.load_vocab(vocab_file)
    assert tokenization.WordpieceTokenizer(vocab).tokenize("hello hellox") == ["hello", "[UNK]"]
    assert tokenization.FullTokenizer(vocab_file, required_tokens=()).tokenize("Hello") == ["hello"]


# --- cross-check with Hugging Face's Python BertTokenizer ---------------------------------------------------

# Every torture string on which HF's Python tokenizer (transformers 5: BertTokenizerLegacy) differs from the
# original, for which casing, and why. Everything else must agree.
_HF_REMOVES_ALL_C = ("HF deletes every category C* (Co private use, Cn unassigned, Cs surrogates); the "
                     "original deletes only Cc and Cf, so these survive as [UNK] or as vocab pieces")
_HF_NFC = ("HF NFC-normalises text before splitting even when cased; the original leaves cased text as it is "
           "(HF composes é and が, unifies CJK compatibility ideographs, reorders combining marks)")
HF_DIFFERENCES = {
    "private \ue000\uf8ff \U000f0000 \U0010fffd": ({True, False}, _HF_REMOVES_ALL_C),
    "unassigned a\u0378b \U000e0080": ({True, False}, _HF_REMOVES_ALL_C),
    "surrogate \ud800x": ({True, False}, _HF_REMOVES_ALL_C),
    # U+2CEAF is in the original's Extension E range but unassigned in Unicode 14: HF deletes it (Cn).
    "ext-e end \U0002cea1\U0002ceaf": ({True, False}, _HF_REMOVES_ALL_C),
    "[MASK] [mask] [CLS]x [SEP] [UNK]": (
        {True, False}, "HF matches its special tokens in raw text; the original splits them: [ mask ]"),
    "a" * 200: ({True, False}, "HF turns words over 100 characters into [UNK]; the original's limit is 200"),
    "é" * 200: ({True, False}, "HF's 100-character limit (the original's 200 count after accent stripping)"),
    "e\u0301 vs \u00e9": ({False}, _HF_NFC),
    "ガ か\u3099 ぱ は\u309a パン": ({False}, _HF_NFC),
    "compat 豈 \U0002f800 radical ⺀ ⼀ stroke ㇀": ({False}, _HF_NFC),
    "\u0345\u0307 lone marks \u0301": ({False}, _HF_NFC),
}
# Not differences from HF's Python tokenizer, but from HF's Rust BertTokenizerFast (see bench/): it
# lower-cases per character, so a final capital sigma becomes σ, not ς ("ΟΔΟΣ" -> "οδοσ"), and its older
# Unicode tables keep format characters new in Unicode 14 (U+0890, U+08E2) and unassigned ones as text, where HF's
# Python tokenizer and the original (both on Python's unicodedata) delete or keep them alike.


@pytest.fixture(scope="module")
def hf_tokenizer_class():
    from transformers.models.bert.tokenization_bert_legacy import BertTokenizerLegacy

    return BertTokenizerLegacy


@pytest.mark.parametrize("do_lower_case", [True, False])
def test_hf_python_tokenizer_differs_only_where_explained(hf_tokenizer_class, built_vocab, do_lower_case):
    ours = tokenization.FullTokenizer(built_vocab, do_lower_case=do_lower_case)
    hf = hf_tokenizer_class(str(built_vocab), do_lower_case=do_lower_case)
    for text in TORTURE:
        cases, reason = HF_DIFFERENCES.get(text, (set(), "expected to agree with HF"))
        assert (ours.tokenize(text) != hf.tokenize(text)) == (do_lower_case in cases), (repr(text), reason)


# --- slow: every text in the shared data -------------------------------------------------------------------



def _json_strings(node):
    if isinstance(node, str):
        yield node
    elif isinstance(node, dict):
        for value in node.values():
            yield from _json_strings(value)
    elif isinstance(node, list):
        for value in node:
            yield from _json_strings(value)


def shared_texts():
    """Every line of the GLUE/CoNLL/corpus files and every string of the SQuAD files, as (file, text)."""
    for path in sorted(DATA.rglob("*")):
        name = str(path.relative_to(DATA))
        if path.suffix == ".json" and path.parent.name == "squad":
            yield from ((name, text) for text in _json_strings(json.loads(path.read_text("utf-8"))))
        elif path.is_file() and (path.suffix in (".tsv", ".txt") or path.parent.name == "conll2003"):
            if path.parent.name != "bert_base_uncased":
                yield from ((name, line) for line in path.read_text("utf-8").split("\n"))


def hf_difference_reason(text, ours, do_lower_case):
    """Why HF's Python tokenizer may tokenize `text` differently (see HF_DIFFERENCES), or None."""
    if any(unicodedata.category(c) in ("Co", "Cn", "Cs") for c in text):
        return "C* removal"
    if any(token in text for token in SPECIALS):
        return "special tokens"
    if any(len(token) > 100 for token in ours.basic_tokenizer.tokenize(text)):
        return "100-character limit"
    if not do_lower_case and unicodedata.normalize("NFC", text) != text:
        return "NFC"
    return None


@pytest.mark.slow
@pytest.mark.parametrize("do_lower_case", [True, False])
def test_shared_data_parity_with_original_and_hf(original_tokenization, hf_tokenizer_class, do_lower_case):
    vocab_file = str(DATA / "bert_base_uncased" / "vocab.txt")
    ours = tokenization.FullTokenizer(vocab_file, do_lower_case=do_lower_case)
    theirs = original_tokenization.FullTokenizer(vocab_file, do_lower_case=do_lower_case)
    hf = hf_tokenizer_class(vocab_file, do_lower_case=do_lower_case)
    texts = list(shared_texts())
    assert len({name for name, _ in texts}) >= 30 and len(texts) > 250_000
    mismatches = [(name, text) for name, text in texts if ours.tokenize(text) != theirs.tokenize(text)]
    assert mismatches == []
    hf_reasons = {}
    for name, text in texts:
        if ours.tokenize(text) != hf.tokenize(text):
            reason = hf_difference_reason(text, ours, do_lower_case)
            assert reason is not None, (name, text)
            hf_reasons[reason] = hf_reasons.get(reason, 0) + 1
    print(f"do_lower_case={do_lower_case}: {len(texts)} texts, all equal to the original; differ from HF: "
          f"{sum(hf_reasons.values())} {hf_reasons}")
