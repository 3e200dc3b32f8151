"""Each cousin's tokenizer through the feature code: `finetuning_data.tokenizer_for` on files learned here from a
few hundred made-up lines. Pair features equal Hugging Face's AlbertTokenizer / RobertaTokenizer (special tokens,
pair layout, token types, truncation, padding); SQuAD windows, whole-word marks and pretraining sequences as each
family has them; files that do not fit are refused, naming them."""

import numpy as np
import pytest
from test_sentencepiece_tokenization import hf_albert
from tokenizer_fixtures import made_up_lines, write_lines

from bert_tf import byte_bpe, finetuning_data
from bert_tf import sentencepiece_tokenization as spt
from bert_tf.finetuning_data import InputExample, convert_single_example, tokenizer_for
from bert_tf.pretraining_data import creation, instances
from bert_tf.tasks import squad_data


def plain_lines():
    """The made-up lines of ASCII pseudo-words (no digits: ALBERT's digit-comma rule is not Hugging Face's)."""
    lines = made_up_lines(1200, seed=1)
    return [line for line in lines if line.strip() and line.isascii() and line.replace(" ", "").isalpha()]


def pair_sizes(ids, layout):
    """(pieces of A, pieces of B) in packed ids."""
    ids = [i for i in ids if i != layout.pad_id]
    seps = [k for k, i in enumerate(ids) if i == ids[-1]]
    return seps[0] - 1, len(ids) - seps[layout.pair_seps - 1] - 2


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("cousins")
    text = write_lines(folder / "text.txt", made_up_lines())
    model, _ = spt.train_sentencepiece([text], str(folder / "spiece"), 400)
    vocab, merges = byte_bpe.learn_bpe(byte_bpe.count_words([text]), 700)
    byte_bpe.write_bpe(vocab, merges, folder / "vocab.json", folder / "merges.txt")
    return folder, model


def test_pair_features_equal_hugging_face(files):
    from transformers import RobertaTokenizer

    folder, model = files
    ours = {"albert": tokenizer_for("albert", model, vocab_size=400),
            "roberta": tokenizer_for("roberta", str(folder / "vocab.json"), vocab_size=700)}
    theirs = {"albert": hf_albert(model, folder / "hf_albert", True, False),
              "roberta": RobertaTokenizer.from_pretrained(str(folder))}
    lines = plain_lines()
    assert len(lines) > 100
    exact = ties = 0
    for model_type in ours:
        layout = ours[model_type].layout
        for i, max_seq_length in zip(range(0, 100, 2), [9, 12, 16, 64, 128] * 10, strict=True):
            a, b = lines[i], lines[i + 1]
            for text_b in (b, None):
                feature = convert_single_example(InputExample("x", a, text_b, "1"), {"0": 0, "1": 1},
                                                 max_seq_length, ours[model_type])
                expected = theirs[model_type](a, text_b, max_length=max_seq_length, truncation=True,
                                              padding="max_length", return_token_type_ids=True)
                if feature.input_ids != tuple(expected["input_ids"]):
                    # Hugging Face's tokenizers trim an odd last piece from A, the original (BERT's and ALBERT's
                    # code) from B: the same pieces otherwise.
                    na, nb = pair_sizes(feature.input_ids, layout)
                    assert text_b and pair_sizes(expected["input_ids"], layout) == (na - 1, nb + 1), (a, b)
                    ties += 1
                    continue
                exact += 1
                assert list(feature.input_mask) == expected["attention_mask"]
                assert list(feature.segment_ids) == expected["token_type_ids"]
    assert exact + ties == 200 and ties <= 10  # 3 ties in this text


def test_layouts_hand_computed(files):
    folder, model = files
    roberta = tokenizer_for("roberta", str(folder / "vocab.json"))
    tokens, segments = finetuning_data.pack_tokens(["a", "b", "c"], ["d", "e"], 8, roberta.layout)
    assert tokens == ["<s>", "a", "b", "</s>", "</s>", "d", "e", "</s>"] and segments == [0] * 8
    assert roberta.layout.pad_id == 1 and roberta.layout.continues_word("ka")
    assert not any(map(roberta.layout.continues_word, ["\u0120ka", "<s>", "</s>", "<mask>"]))
    albert = tokenizer_for("albert", model)
    tokens, segments = finetuning_data.pack_tokens(["a", "b", "c"], ["d", "e"], 7, albert.layout)
    assert tokens == ["[CLS]", "a", "b", "[SEP]", "d", "e", "[SEP]"] and segments == [0, 0, 0, 0, 1, 1, 1]
    assert albert.layout.continues_word("ka") and not any(map(albert.layout.continues_word,
                                                                  ["\u2581ka", ",", "[CLS]", "<unk>"]))
    table = creation.subword_table(albert)
    starts = [p for p in albert.vocab if p.startswith("\u2581") or p in ("<pad>", "<unk>", "[CLS]", "[SEP]", "[MASK]")]
    marks = [p for p in albert.vocab if len(p) == 1 and p.isascii() and not p.isalnum()]  # ALBERT: ASCII marks
    assert {"(", ")", ",", "."} <= set(marks) and not table[[albert.vocab[p] for p in starts + marks]].any()
    assert table.sum() == len(albert.vocab) - len(starts) - len(marks)
    info = instances.VocabInfo.of_tokenizer(roberta)
    assert (info.cls_id, info.sep_id, info.mask_id) == (0, 2, 699)


def test_squad_windows_pack_each_familys_way(files):
    folder, model = files
    example = squad_data.SquadExample("q1", "kato rimu", ("Sen", "dra", "plequi", "zorvex", "ablo"), "plequi zorvex",
                                      2, 3)
    for model_type, path in (("roberta", str(folder / "vocab.json")), ("albert", model)):
        tokenizer = tokenizer_for(model_type, path)
        layout = tokenizer.layout
        (feature,) = squad_data.convert_examples_to_features([example], tokenizer, 40, 128, 16, training=True)
        query = tokenizer.tokenize("kato rimu")
        context = [p for word in example.doc_tokens for p in finetuning_data.tokenize_word(tokenizer, word)]
        seps = [layout.sep] * layout.pair_seps
        assert list(feature.tokens) == [layout.cls, *query, *seps, *context, layout.sep]
        offset = len(query) + 1 + layout.pair_seps
        answer = finetuning_data.tokenize_word(tokenizer, "plequi zorvex")
        assert list(feature.tokens[feature.start_position:feature.end_position + 1]) == answer
        assert feature.token_to_orig_map[offset] == 0 and feature.segment_ids[offset] == layout.segment_b
        assert feature.input_ids[len(feature.tokens):] == (layout.pad_id,) * (40 - len(feature.tokens))
    assert finetuning_data.tokenize_word(tokenizer_for("roberta", str(folder / "vocab.json")), "ka")[0][0] == "\u0120"


def test_pretraining_sequences_use_each_familys_tokens(files, tmp_path):
    from bert_tf.pretraining_data.dynamic import unmasked_sequences

    folder, model = files
    lines = plain_lines()[:60]
    text = write_lines(tmp_path / "docs.txt", [*lines[:30], "", *lines[30:]])
    roberta = tokenizer_for("roberta", str(folder / "vocab.json"))
    packed = unmasked_sequences([str(text)], roberta, 32, next_sentence=False, full_sentences=True)
    lengths = packed["input_mask"].sum(1)
    rows = np.arange(len(lengths))
    assert (packed["input_ids"][:, 0] == 0).all() and (packed["input_ids"][rows, lengths - 1] == 2).all()
    assert packed["segment_ids"].max() == 0
    # Inside: every line's pieces, and </s> between the two documents unless a sequence starts there.
    inner = [int(i) for row, n in zip(packed["input_ids"], lengths, strict=True) for i in row[1:n - 1]]
    ids = [i for line in lines for i in roberta.convert_tokens_to_ids(roberta.tokenize(line))]
    assert 2 not in ids and sorted(inner) in (sorted(ids), sorted([*ids, 2]))
    albert = tokenizer_for("albert", model)
    pairs = unmasked_sequences([str(text)], albert, 32, next_sentence=True, sentence_order=True)
    ids = pairs["input_ids"]
    assert (ids[:, 0] == 2).all() and ((ids == 3).sum(1) == 2).all() and set(pairs["segment_ids"].ravel()) == {0, 1}
    assert (pairs["is_subword"] == creation.subword_table(albert)[ids] & (pairs["input_mask"] == 1)).all()


def test_a_wordpiece_vocab_keeps_bert_tokens_for_any_type(tmp_path):
    from bert_tf.tokenization import FullTokenizer

    (tmp_path / "vocab.txt").write_text("[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\nka\n##to\n")
    for model_type in ("albert", "roberta"):
        tokenizer = tokenizer_for(model_type, str(tmp_path / "vocab.txt"))
        assert isinstance(tokenizer, FullTokenizer) and finetuning_data.layout_of(tokenizer).cls == "[CLS]"
        assert convert_single_example(InputExample("x", "kato", "ka"), {}, 8, tokenizer).input_ids == (
            2, 5, 6, 3, 5, 3, 0, 0)


def test_files_that_do_not_fit_are_refused_naming_them(files, tmp_path):
    folder, model = files
    (tmp_path / "vocab.model").write_text("[PAD]\n[UNK]\n")
    with pytest.raises(ValueError, match=f"{tmp_path / 'vocab.model'}: not a readable SentencePiece model"):
        tokenizer_for("albert", str(tmp_path / "vocab.model"))
    with pytest.raises(ValueError, match=f"{model}:14: not valid UTF-8"):  # a .model given as vocab.json
        tokenizer_for("roberta", model)
    with pytest.raises(ValueError, match=f"{model}: SentencePiece model has 400 pieces but the model's vocab_size "
                                         "is 401"):
        tokenizer_for("albert", model, vocab_size=401)
    with pytest.raises(ValueError, match=f"{folder / 'vocab.json'}: vocab.json has 700 pieces but the model's "
                                         "vocab_size is 30"):
        tokenizer_for("roberta", str(folder / "vocab.json"), vocab_size=30)
    (tmp_path / "merges.txt").write_text("#version: 0.2\nzq xw\n")
    with pytest.raises(ValueError, match=f"{tmp_path / 'merges.txt'}: line 2: the merge 'zq xw' needs"):
        tokenizer_for("roberta", str(folder / "vocab.json"), merges_file=str(tmp_path / "merges.txt"))
    with pytest.raises(ValueError, match="model_type 'gpt' is not one of"):
        tokenizer_for("gpt", model)


@pytest.mark.slow
def test_real_mrpc_pairs_pack_as_hugging_face(tmp_path):
    """Every MRPC train and dev pair (real text: numbers, quotes, names) packed by tokenizers of 8,000 learned from
    the four corpora, at 128 and at 32 (most pairs truncated): the same features as Hugging Face's tokenizers,
    but for the truncation tie (HF trims an odd last piece from A, the original from B; RoBERTa's pairs keep an
    even number of pieces at an even length, so never tie) and ALBERT's pairs whose pieces already differ (the
    digit-comma rule, SentencePiece ties)."""
    import time

    from helpers import DATA
    from tokenizer_fixtures import CORPORA
    from transformers import RobertaTokenizer

    from bert_tf import tasks

    corpora = [DATA / "corpus" / name for name in CORPORA]
    model, _ = spt.train_sentencepiece(corpora, str(tmp_path / "spiece"), 8000)
    vocab, merges = byte_bpe.learn_bpe(byte_bpe.count_words(corpora), 8000)
    byte_bpe.write_bpe(vocab, merges, tmp_path / "vocab.json", tmp_path / "merges.txt")
    ours = {"albert": tokenizer_for("albert", model),
            "roberta": tokenizer_for("roberta", str(tmp_path / "vocab.json"))}
    theirs = {"albert": hf_albert(model, tmp_path / "hf", True, False),
              "roberta": RobertaTokenizer.from_pretrained(str(tmp_path))}
    task = tasks.get("MRPC")
    examples = task.read(str(DATA / "glue" / "MRPC"), "train") + task.read(str(DATA / "glue" / "MRPC"), "dev")
    for model_type, tokenizer in ours.items():
        for max_seq_length in (128, 32):
            counts = dict(identical=0, tie=0, pieces_differ=0)
            start = time.perf_counter()
            features = [convert_single_example(e, {"0": 0, "1": 1}, max_seq_length, tokenizer) for e in examples]
            seconds = time.perf_counter() - start
            for example, feature in zip(examples, features, strict=True):
                expected = theirs[model_type](example.text_a, example.text_b, max_length=max_seq_length,
                                              truncation=True, padding="max_length", return_token_type_ids=True)
                if feature.input_ids == tuple(expected["input_ids"]):
                    assert list(feature.segment_ids) == expected["token_type_ids"]
                    counts["identical"] += 1
                elif any(tokenizer.tokenize(t) != theirs[model_type].tokenize(t)
                         for t in (example.text_a, example.text_b)):
                    assert model_type == "albert"  # byte-level BPE is Hugging Face's on every line
                    counts["pieces_differ"] += 1
                else:
                    na, nb = pair_sizes(feature.input_ids, tokenizer.layout)
                    assert pair_sizes(expected["input_ids"], tokenizer.layout) == (na - 1, nb + 1)
                    counts["tie"] += 1
            print(f"{model_type} max_seq_length={max_seq_length}: {len(examples)} pairs, {counts}, "
                  f"{len(examples) / seconds:.0f} pairs/s")
            assert counts["pieces_differ"] < 0.02 * len(examples)  # ALBERT's digit-comma rule, SentencePiece ties
            assert max_seq_length < 128 or counts["identical"] > 0.97 * len(examples)
