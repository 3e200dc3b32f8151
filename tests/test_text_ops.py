"""bert_tf.text_ops: in-graph tokenization identical to the Python tokenizers, in-graph packing, servable ops."""

import json
import pathlib
import random
import unicodedata

import numpy as np
import pytest
import tensorflow as tf
from helpers import DATA, pieces_vocab, write_vocab

from bert_tf import finetuning_data, text_ops, tokenization, vocab_learning

SPECIALS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
# Characters whose class differs between Python 3.11's unicodedata (Unicode 14.0) and RE2 / ICU inside TF:
# see test_unicode_tables_of_re2_and_icu_differ_from_python. The graph must follow Python for each of them.
VERSION_SKEW = ("a\U00013439b \u0ecex \U00011b00y z\u2c2f \ua7c0 \U00010570 \U000105c9 \U00011383 "
                "\U00016d68 \U0001e4ec")
TORTURE = [
    "", "   ", "Hello, World!", " \tHeLLo!how  \n Are yoU?  ", "UNwant\u00e9d,running",
    "Ünïcödé café naïve résumé", "e\u0301 vs \u00e9", "ＦＵＬＬ ｗｉｄｔｈ ３ａ！", "“curly” ‘quotes’ don’t",
    "wait… what", "Straße STRASSE ß ẞ", "½ ¼ ≠ ≤ ± × ÷ ° ™ ©", "ガ か\u3099 ぱ は\u309a パン",
    "😀 👍🏽 👨\u200d👩\u200d👧 ❤️", "zero\u200bwidth\u200cjoin\u200dx\ufeffbom",
    "bidi \u202aa\u202c \u2066b\u2069 \u200e\u200f \u061cc", "soft\u00adhyphen",
    "c0 a\x01b\x05c\x1bd\x7fe \x0b\x0c \x1c\x1d\x1e\x1f end", "c1 a\x80b\x85c\x9fd", "line\u2028sep\u2029par",
    "nbsp\u00a0x\u2002y\u3000z\u202fw\u1680v", "nul\x00x \ufffd repl", "中文字符和English混合",
    "㐀㐁 \U00020000\U0002a6df \U0002a700 \U0002b740 \U0002b820 \U0002cea1 \U0002ceaf \U0002ceb0 \U00030000",
    "compat 豈 \U0002f800 radical ⺀ ⼀ stroke ㇀", "한국어 텍스트 안녕하세요", "ภาษาไทย สวัสดี",
    "ΟΔΟΣ ΣΟΦΟΣ Σ ΑΣ. ὈΔΥΣΣΕΎΣ ΑΣ'Σ ΑΣ\u00adΒ ΑΣ\x05Β ΑΣ\u0301", "İstanbul ǅemal ﬁne K Ω Å",
    "private \ue000\uf8ff \U000f0000 \U0010fffd", "unassigned a\u0378b \U000e0080",
    "format \u0890 \u08e2 \u180e \U000e0001 \U00013430", "x^2 $5 `q` a+b<c>d|e~f", "e.g. 3.14 -- 1,000",
    "[MASK] [mask] [CLS]x [SEP] [UNK]", "John Johanson's,", "a\u00adb\u0005c\tde\u00a0f", "ah\u535a\u63a8zz",
    "\u0345\u0307 lone marks \u0301", "tab\ttab\r\ncrlf", "\U0001d16d\U0001d165 a\u302e\u0316\u1715 \U0001d15e",
    VERSION_SKEW, "a" * 200, "b" * 201, "é" * 200, "é" * 201, "e\u0301" * 150,
]
# Invalid UTF-8: both sides drop exactly the same bytes (Python's decode(errors="ignore")).
BAD_BYTES = [b"a\xffb", b"\xe4\xb8a", b"x\xed\xa0\x80z", b"\xc0\x80q", b"\xf4\x90\x80\x80w",
             b"\xf8\x88\x80\x80\x80v", b"\xe2\x82", "surrogate \ud800x".encode("utf-8", "surrogatepass")]


def as_lists(ragged):
    return [[x.decode("utf-8") if isinstance(x, bytes) else x for x in row] for row in ragged.to_list()]


@pytest.fixture(scope="module")
def built_vocab(tmp_path_factory, original_tokenization):
    return pieces_vocab(original_tokenization, TORTURE + BAD_BYTES, SPECIALS,
                        tmp_path_factory.mktemp("vocab") / "built.txt")


@pytest.fixture(scope="module")
def tokenizers(built_vocab):
    return {lower: text_ops.BertTextTokenizer(built_vocab, do_lower_case=lower) for lower in (True, False)}


def test_spec_full_tokenizer_vector(tmp_path):
    vocab = ["[UNK]", "[CLS]", "[SEP]", "want", "##want", "##ed", "wa", "un", "runn", "##ing", ","]
    tokenizer = text_ops.BertTextTokenizer(write_vocab(tmp_path / "v.txt", vocab), required_tokens=("[UNK]",))
    assert tokenizer.tokenize(["UNwant\u00e9d,running"]).to_list() == [[7, 4, 5, 10, 8, 9]]
    assert as_lists(tokenizer.tokenize_pieces(["unwanted running", "unwantedX running"])) == [
        ["un", "##want", "##ed", "runn", "##ing"], ["[UNK]", "runn", "##ing"]]


def test_spec_basic_tokenizer_vectors(tokenizers):
    lower, cased = tokenizers[True], tokenizers[False]
    cases = {
        " \tHeLLo!how  \n Are yoU?  ": ["hello", "!", "how", "are", "you", "?"],
        "H\u00e9llo": ["hello"], "ah\u535a\u63a8zz": ["ah", "\u535a", "\u63a8", "zz"],
        "John Johanson's,": ["john", "johanson", "'", "s", ","], "[MASK] don't": ["[", "mask", "]", "don", "'", "t"],
        "a\u00adb\u0005c\tde\u00a0f": ["abc", "de", "f"], "x^2 $5 `q`": ["x", "^", "2", "$", "5", "`", "q", "`"],
        "e.g. 3.14": ["e", ".", "g", ".", "3", ".", "14"], "Ünïcödé café": ["unicode", "cafe"], "３ａ": ["３ａ"],
        # Final sigma (Python's str.lower()): final after a cased letter, skipping case-ignorable ' and U+0301;
        # not final before a cased letter (B after the deleted soft hyphen and \x05).
        "ΑΣ ΑΣ'Σ ΑΣ\u00adΒ ΑΣ\x05Β ΣΑ ΑΣ\u0301": ["ας", "ασ", "'", "ς", "ασβ", "ασβ", "σα", "ας"],
        # NFD's canonical ordering of two spacing marks (classes 216 and 226) before the Mn strip.
        "\U0001d16d\U0001d165": ["\U0001d165\U0001d16d"], "İ": ["i"], "ǅ": ["ǆ"], "≠": ["="],
    }
    got = as_lists(lower.basic_tokenize(list(cases)))
    assert dict(zip(cases, got, strict=True)) == cases
    assert as_lists(cased.basic_tokenize([" \tHeLLo!how  \n Are yoU?  ", "Ünïcödé café", "ΑΣ"])) == [
        ["HeLLo", "!", "how", "Are", "yoU", "?"], ["Ünïcödé", "café"], ["ΑΣ"]]


def test_words_over_200_characters_counted_after_accent_stripping(tokenizers, tmp_path):
    emoji = text_ops.BertTextTokenizer(write_vocab(tmp_path / "v.txt", SPECIALS + ["😀", "##😀"]))
    # 200 four-byte characters (800 bytes) are still split; 201 are one [UNK] (id 1).
    assert [len(ids) for ids in emoji.tokenize(["😀" * 200, "😀" * 201]).to_list()] == [200, 1]
    assert emoji.tokenize("😀" * 201).numpy().tolist() == [1]
    words = ["a" * 200, "a" * 201, "e\u0301" * 150]
    assert as_lists(tokenizers[False].tokenize_pieces(words))[1:] == [["[UNK]"], ["[UNK]"]]  # 300 code points
    uncased = as_lists(tokenizers[True].tokenize_pieces(words))
    assert uncased[1] == ["[UNK]"]
    assert ["".join(p.removeprefix("##") for p in pieces) for pieces in (uncased[0], uncased[2])] == [
        "a" * 200, "e" * 150]


@pytest.mark.parametrize("lower", [True, False])
def test_torture_strings_match_original_and_python_tokenizers(tokenizers, built_vocab, original_tokenization, lower):
    texts = [text.encode("utf-8", "surrogatepass") for text in TORTURE] + BAD_BYTES
    ours = tokenizers[lower]
    theirs = original_tokenization.FullTokenizer(str(built_vocab), do_lower_case=lower)
    python = tokenization.FullTokenizer(built_vocab, do_lower_case=lower)
    basic = [original_tokenization.BasicTokenizer(do_lower_case=lower).tokenize(text) for text in texts]
    pieces = [theirs.tokenize(text) for text in texts]
    assert as_lists(ours.basic_tokenize(texts)) == basic
    assert as_lists(ours.tokenize_pieces(texts)) == pieces == [python.tokenize(text) for text in texts]
    assert ours.tokenize(texts).to_list() == [theirs.convert_tokens_to_ids(p) for p in pieces]
    assert sum(p.count("[UNK]") for p in pieces) < len(texts) // 2  # the vocab covers most words


def test_unicode_tables_of_re2_and_icu_differ_from_python():
    """Why text_ops builds its own tables: TF's RE2 and ICU carry other Unicode versions than Python 3.11 (14.0).

    Pinned lists of every code point where they disagree with unicodedata / str.lower() (scan of all code points).
    RE2 is newer (Unicode 15.1: Egyptian format controls, Kawi, Khojki marks ...), ICU's lower-case tables are
    older (Unicode 13: no Vithkuqi, no U+2C2F) and ICU's NFD newer (Unicode 16: Todhri, Tulu-Tigalari,
    Gurung Khema, Kirat Rai). VERSION_SKEW in TORTURE holds samples of each, tokenized as Python does.
    """
    import tensorflow_text as tf_text

    cps = np.array([cp for cp in range(0x110000) if not 0xD800 <= cp <= 0xDFFF])
    chars = [chr(cp) for cp in cps]
    strings = tf.constant([char.encode("utf-8") for char in chars])
    category = [unicodedata.category(char) for char in chars]

    def differ(pattern, python):
        graph = tf.strings.regex_full_match(strings, pattern).numpy()
        return [int(cp) for cp in cps[graph != np.array([python(c) for c in category])]]

    ranges = lambda *pairs: [cp for low, high in pairs for cp in range(low, high + 1)]  # noqa: E731
    assert differ(r"[\p{Cc}\p{Cf}]", lambda c: c in ("Cc", "Cf")) == ranges((0x13439, 0x1343F))
    assert differ(r"\p{P}", lambda c: c[0] == "P") == ranges((0x11B00, 0x11B09), (0x11F43, 0x11F4F))
    assert differ(r"\p{Zs}", lambda c: c == "Zs") == []
    assert differ(r"\p{Mn}", lambda c: c == "Mn") == [0xECE, *ranges((0x10EFD, 0x10EFF)), 0x11241, 0x11F00,
                                                      0x11F01, *ranges((0x11F36, 0x11F3A)), 0x11F40, 0x11F42,
                                                      0x13440, *ranges((0x13447, 0x13455)), 0x1E08F,
                                                      *ranges((0x1E4EC, 0x1E4EF))]
    lowered = tf.strings.lower(strings, encoding="utf-8").numpy()
    assert [int(cp) for cp, low in zip(cps, lowered, strict=True) if low.decode() != chr(cp).lower()] == [
        0x0, 0x2C2F, 0xA7C0, 0xA7D0, 0xA7D6, 0xA7D8, *ranges((0x10570, 0x1057A), (0x1057C, 0x1058A),
                                                             (0x1058C, 0x10592)), 0x10594, 0x10595]
    nfd = tf_text.normalize_utf8(strings, "NFD").numpy()
    assert [int(cp) for cp, n in zip(cps, nfd, strict=True) if n.decode() != unicodedata.normalize("NFD", chr(cp))] == [
        0x105C9, 0x105E4, 0x11383, 0x11385, 0x1138E, 0x11391, 0x113C5, 0x113C7, 0x113C8,
        *ranges((0x16121, 0x16128), (0x16D68, 0x16D6A))]


def _op_types(fn):
    """Op types in the graph of `fn` traced for a [None] string batch, including nested functions (tf.cond)."""
    graph_def = tf.function(fn, input_signature=[tf.TensorSpec([None], tf.string)]).get_concrete_function() \
        .graph.as_graph_def()
    return {node.op for node in graph_def.node} | {
        node.op for function in graph_def.library.function for node in function.node_def}


FORBIDDEN_OPS = ("FastBertNormalize", "FastWordpieceTokenize", "RoundRobin")


def test_graph_uses_only_ops_stock_tf_serving_has(tokenizers):
    import tensorflow_text as tf_text

    for tokenizer in tokenizers.values():
        op_types = _op_types(tokenizer.tokenize)
        assert not [op for op in op_types if op.startswith(FORBIDDEN_OPS)]
        # Everything else is core TensorFlow (tf.raw_ops lists exactly the core ops); one classic tf-text op.
        assert {op for op in op_types if not hasattr(tf.raw_ops, op)} == {"WordpieceTokenizeWithOffsets"}
        assert {"UnicodeDecode", "UnicodeEncode", "UpperBound", "LookupTableFindV2"} <= op_types
    # The walk does see the forbidden ops where they are: tf-text's own fast BERT tokenizer uses two of them.
    fast = tf_text.FastBertTokenizer(["[UNK]", "a"], lower_case_nfd_strip_accents=True)
    assert {op for op in _op_types(fast.tokenize) if op.startswith(FORBIDDEN_OPS)} == {
        "FastBertNormalize", "FastWordpieceTokenizeWithOffsets"}


def test_tf_function_dataset_map_and_saved_model(tokenizers, tmp_path):
    tokenizer = tokenizers[True]
    texts = TORTURE[:12]
    expected = tokenizer.tokenize(texts).to_list()
    fn = tf.function(tokenizer.tokenize, input_signature=[tf.TensorSpec([None], tf.string)])
    assert fn(tf.constant(texts)).to_list() == expected
    batched = tf.data.Dataset.from_tensor_slices(texts).batch(5).map(tokenizer.tokenize)
    assert [row for batch in batched for row in batch.to_list()] == expected
    single = tf.data.Dataset.from_tensor_slices(texts).map(tokenizer.tokenize)  # scalar string -> vector of ids
    assert [ids.numpy().tolist() for ids in single] == expected
    module = tf.Module()
    module.tokenizer, module.serve = tokenizer, fn
    tf.saved_model.save(module, str(tmp_path / "saved"))
    loaded = tf.saved_model.load(str(tmp_path / "saved"))
    assert loaded.serve(tf.constant(texts)).to_list() == expected
    assert pathlib.Path(loaded.tokenizer.vocab_file.asset_path.numpy().decode()).name == "built.txt"


def test_bad_inputs_raise_naming_file_and_value(tmp_path, tokenizers):
    no_mask = write_vocab(tmp_path / "no_mask.txt", ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "a"])
    with pytest.raises(ValueError, match=r"no_mask\.txt.*\[MASK\]"):
        text_ops.BertTextTokenizer(no_mask)
    dup = write_vocab(tmp_path / "dup.txt", SPECIALS + ["a", "b", "a"])
    with pytest.raises(ValueError, match=r"dup\.txt:8.*'a'"):
        text_ops.BertTextTokenizer(dup)
    with pytest.raises(ValueError, match=r"shape \(1, 2\)"):
        tokenizers[True].tokenize([["a", "b"]])
    with pytest.raises(ValueError, match="max_seq_length must be >= 3, got 2"):
        text_ops.pack_inputs(tf.ragged.constant([[5]]), max_seq_length=2, cls_id=2, sep_id=3)


class _IdTokenizer:
    """pack_features' tokenizer argument for tokens that already are ids ([CLS] = 101, [SEP] = 102)."""

    def convert_tokens_to_ids(self, tokens):
        return [{"[CLS]": 101, "[SEP]": 102}.get(token, token) for token in tokens]


@pytest.mark.parametrize("max_seq_length", [3, 4, 5, 6, 8, 13])
def test_pack_inputs_matches_pack_features(max_seq_length):
    rng = random.Random(max_seq_length)
    # b = -1: single segment. The pair batch mixes rows whose b is empty (single segment, max - 2 budget), rows
    # whose b the truncation empties (no second [SEP]) and true pairs.
    lengths = [(a, b) for a in range(0, 16) for b in range(-1, 16)]
    rows_a = [[rng.randrange(1000, 2000) for _ in range(a)] for a, _ in lengths]
    rows_b = [[rng.randrange(1000, 2000) for _ in range(max(b, 0))] for _, b in lengths]
    single = [i for i, (_, b) in enumerate(lengths) if b < 0]
    pair = [i for i, (_, b) in enumerate(lengths) if b >= 0]
    for indices, with_b in ((single, False), (pair, True)):
        ids_a = tf.ragged.constant([rows_a[i] for i in indices], tf.int64, ragged_rank=1)
        ids_b = tf.ragged.constant([rows_b[i] for i in indices], tf.int64, ragged_rank=1) if with_b else None
        got = text_ops.pack_inputs(ids_a, ids_b, max_seq_length=max_seq_length, cls_id=101, sep_id=102)
        for row, i in enumerate(indices):
            want = finetuning_data.pack_features(rows_a[i], rows_b[i] if with_b else None, max_seq_length,
                                                 _IdTokenizer())
            for key in ("input_ids", "input_mask", "segment_ids"):
                assert got[key].dtype == tf.int32 and got[key].shape == (len(indices), max_seq_length)
                assert tuple(got[key][row].numpy()) == getattr(want, key), (key, lengths[i])


def test_tokenize_and_pack_in_dataset_map_equals_python_packer(tokenizers, built_vocab):
    tokenizer = tokenizers[True]
    python = tokenization.FullTokenizer(built_vocab, do_lower_case=True)
    pairs = list(zip(TORTURE[2:14], TORTURE[14:26], strict=True))
    special = tokenizer.special_ids

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string)] * 2)
    def features(text_a, text_b):
        return text_ops.pack_inputs(tokenizer.tokenize(text_a), tokenizer.tokenize(text_b), max_seq_length=11,
                                    cls_id=special["[CLS]"], sep_id=special["[SEP]"])

    dataset = tf.data.Dataset.from_tensor_slices(tuple(map(list, zip(*pairs, strict=True)))).batch(5).map(features)
    got = [{key: row.tolist() for key, row in zip(batch, rows, strict=True)}
           for batch in dataset for rows in zip(*(value.numpy() for value in batch.values()), strict=True)]
    for (text_a, text_b), row in zip(pairs, got, strict=True):
        want = finetuning_data.pack_features(python.tokenize(text_a), python.tokenize(text_b), 11, python)
        assert row == {k: list(getattr(want, k)) for k in ("input_ids", "input_mask", "segment_ids")}


def test_pack_inputs_hand_example():
    ids_a, ids_b = tf.ragged.constant([[7, 8, 9, 10, 11]]), tf.ragged.constant([[20, 21]])
    got = text_ops.pack_inputs(ids_a, ids_b, max_seq_length=8, cls_id=1, sep_id=2)
    # A budget of 5: a (the longer side) loses 11, then 10, and then a=3 + b=2 fits.
    assert got["input_ids"].numpy().tolist() == [[1, 7, 8, 9, 2, 20, 21, 2]]
    assert got["segment_ids"].numpy().tolist() == [[0, 0, 0, 0, 0, 1, 1, 1]]
    got = text_ops.pack_inputs(ids_b, max_seq_length=6, cls_id=1, sep_id=2)
    assert got["input_ids"].numpy().tolist() == [[1, 20, 21, 2, 0, 0]]
    assert got["input_mask"].numpy().tolist() == [[1, 1, 1, 1, 0, 0]]
    # Row by row: B without pieces -> single segment with budget 2; B cut to nothing (budget 1, tie pops b) ->
    # no second [SEP]; A empty -> the pair fits.
    ids_a, ids_b = tf.ragged.constant([[7, 8, 9], [7, 8], []]), tf.ragged.constant([[], [20], [20]])
    got = text_ops.pack_inputs(ids_a, ids_b, max_seq_length=4, cls_id=1, sep_id=2)
    assert got["input_ids"].numpy().tolist() == [[1, 7, 8, 2], [1, 7, 2, 0], [1, 2, 20, 2]]
    assert got["input_mask"].numpy().tolist() == [[1, 1, 1, 1], [1, 1, 1, 0], [1, 1, 1, 1]]
    assert got["segment_ids"].numpy().tolist() == [[0, 0, 0, 0], [0, 0, 0, 0], [0, 0, 1, 1]]


GRID_VOCAB = SPECIALS + ["the", "cat", "sat", "on", "mat", "dog", "##s", "run", "##ning", ".", "a"]
# Empty, no pieces after cleaning, short and long (11 pieces) sides, as tests/test_finetuning_data.py's oracle grid.
GRID_A = ["", "\u200b", "cat", "the cat", "the cat sat on a mat . dogs running"]
GRID_B = ["", "\u200b", "\x05", " \t", "cat", "the cat", "the cat sat on a mat . dogs running"]


def test_text_grid_in_graph_equals_python_packer(tmp_path):
    vocab_file = write_vocab(tmp_path / "vocab.txt", GRID_VOCAB)
    ours, python = text_ops.BertTextTokenizer(vocab_file), tokenization.FullTokenizer(vocab_file)
    pairs = [(a, b) for a in GRID_A for b in GRID_B]  # one batch, every kind of row mixed
    ids_a, ids_b = (ours.tokenize([pair[i] for pair in pairs]) for i in (0, 1))
    assert ids_b.to_list() == [python.convert_tokens_to_ids(python.tokenize(b)) for _, b in pairs]
    specials = dict(cls_id=ours.special_ids["[CLS]"], sep_id=ours.special_ids["[SEP]"])
    for max_seq_length in (3, 4, 5, 6, 8):
        got = text_ops.pack_inputs(ids_a, ids_b, max_seq_length=max_seq_length, **specials)
        single = text_ops.pack_inputs(ours.tokenize(GRID_A), max_seq_length=max_seq_length, **specials)
        for key in ("input_ids", "input_mask", "segment_ids"):
            assert got[key].numpy().tolist() == [list(getattr(finetuning_data.pack_features(
                python.tokenize(a), python.tokenize(b), max_seq_length, python), key)) for a, b in pairs], key
            assert single[key].numpy().tolist() == [list(getattr(finetuning_data.pack_features(
                python.tokenize(a), None, max_seq_length, python), key)) for a in GRID_A], key
    # The packer's graph holds only core ops (tf.raw_ops lists exactly those), servable by stock TF Serving.
    ragged = tf.RaggedTensorSpec([None, None], tf.int64, ragged_rank=1)
    pack = tf.function(lambda a, b: text_ops.pack_inputs(a, b, max_seq_length=4, **specials),
                       input_signature=[ragged, ragged])
    graph_def = pack.get_concrete_function().graph.as_graph_def()
    op_types = {node.op for node in graph_def.node} | {
        node.op for function in graph_def.library.function for node in function.node_def}
    assert {"RaggedRange", "SelectV2", "RaggedTensorToTensor"} <= op_types
    assert [op for op in op_types if not hasattr(tf.raw_ops, op)] == []


def _shared_texts(data):
    """Every text field of the real data: GLUE TSV fields, the four corpora, SQuAD contexts and questions."""
    texts = [field for path in sorted(data.glob("glue/*/*.tsv"))
             for line in path.read_text(encoding="utf-8").splitlines() for field in line.split("\t")]
    texts += [line for path in sorted(data.glob("corpus/*.txt"))
              for line in path.read_text(encoding="utf-8").splitlines()]
    for path in sorted(data.glob("squad/*.json")):
        for article in json.loads(path.read_text(encoding="utf-8"))["data"]:
            for paragraph in article["paragraphs"]:
                texts += [paragraph["context"]] + [qa["question"] for qa in paragraph["qas"]]
    return texts


@pytest.mark.slow
@pytest.mark.parametrize("lower", [True, False])
def test_all_shared_text_matches_python_tokenizers(original_tokenization, lower, tmp_path):
    texts = _shared_texts(DATA)
    assert len(texts) > 300_000
    vocab_file = DATA / "bert_base_uncased" / "vocab.txt"
    if not lower:  # no released cased vocab here: learn one (30,522 entries as the released) from the same text
        corpus = tmp_path / "all.txt"
        corpus.write_text("\n".join(texts), encoding="utf-8")
        counts = vocab_learning.count_words([corpus], do_lower_case=False)
        vocab_file = tmp_path / "cased_vocab.txt"
        vocab_learning.write_vocab(vocab_learning.build_vocab(counts, 30522, num_unused=99), vocab_file)
    ours = text_ops.BertTextTokenizer(vocab_file, do_lower_case=lower)
    theirs = original_tokenization.FullTokenizer(str(vocab_file), do_lower_case=lower)
    python = tokenization.FullTokenizer(vocab_file, do_lower_case=lower)
    batches = tf.data.Dataset.from_tensor_slices(texts).batch(512)
    basic = [row for batch in batches.map(ours.basic_tokenize) for row in as_lists(batch)]
    ids = [row for batch in batches.map(ours.tokenize) for row in batch.to_list()]
    basic_tokenizer = original_tokenization.BasicTokenizer(do_lower_case=lower)
    assert [i for i, text in enumerate(texts) if basic[i] != basic_tokenizer.tokenize(text)] == []
    assert [i for i, text in enumerate(texts) if ids[i] != theirs.convert_tokens_to_ids(theirs.tokenize(text))] == []
    assert [i for i, text in enumerate(texts) if ids[i] != python.convert_tokens_to_ids(python.tokenize(text))] == []
    if not lower:  # the learned vocab covers every character of the text: [UNK] only for words > 200 characters
        unk = ours.special_ids["[UNK]"]
        assert [i for i, row in enumerate(ids) if unk in row and max(map(len, basic[i])) <= 200] == []
