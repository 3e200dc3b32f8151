"""RoBERTa's recipe: FULL-SENTENCES packing (whole segments running on across documents, [SEP] between two),
dynamic masking, no next-sentence objective, on a RoBERTa body, from run_pretraining.py."""

import json

import numpy as np
import pytest
from test_run_pretraining import flags, run_script, write_word_corpus

from bert_tf import checkpoint_files, model_types, tokenization
from bert_tf.pretraining_data.dynamic import _full_sentences, unmasked_sequences

S = -1  # the separator id in the hand-made cases


@pytest.mark.parametrize("documents, limit, expected", [
    # Segments of 3 and 4 tokens | 2 | 5 and 1, at most 8 ids: a document that does not fit starts the next
    # sequence without its separator; one that fits follows a [SEP].
    ([[0, 3, 7], [7, 9], [9, 14, 15]], 8, [[0, 1, 2, 3, 4, 5, 6], [7, 8, S, 9, 10, 11, 12, 13], [14]]),
    # A segment longer than the limit is cut; its rest starts the next sequence.
    ([[0, 2, 13]], 4, [[0, 1], [2, 3, 4, 5], [6, 7, 8, 9], [10, 11, 12]]),
    ([[0, 11]], 4, [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9, 10]]),
])
def test_packing_by_hand(documents, limit, expected):
    assert _full_sentences(documents, np.arange(20), limit, S) == expected


def write_corpus(tmp_path):
    return write_word_corpus(tmp_path, 10, 3)


def test_full_sentences_cross_documents_and_keep_every_token(tmp_path):
    """10 documents of three 5-word sentences, sequences of 16 (14 ids): the corpus' tokens in document order,
    each once, documents meeting inside a sequence at a [SEP]; no sequence could have taken one more sentence."""
    import random

    from bert_tf.pretraining_data.documents import read_documents

    vocab = write_corpus(tmp_path)
    tokenizer = tokenization.FullTokenizer(vocab)
    got = unmasked_sequences([str(tmp_path / "corpus.txt")], tokenizer, 16, next_sentence=False, seed=3,
                             full_sentences=True)
    lengths = got["input_mask"].sum(1)
    assert all(row[0] == 2 and row[n - 1] == 3 for row, n in zip(got["input_ids"], lengths, strict=True))
    inner = [row[1:n - 1].tolist() for row, n in zip(got["input_ids"], lengths, strict=True)]
    corpus = read_documents([str(tmp_path / "corpus.txt")], tokenizer, random.Random(3))  # the same shuffle
    in_order = [t for bounds in corpus.documents for t in corpus.tokens[bounds[0]:bounds[-1]]]
    assert [t for x in inner for t in x if t != 3] == in_order and len(in_order) == 150
    assert all(x[0] != 3 and x[-1] != 3 and len(x) <= 14 for x in inner)
    assert sum(x.count(3) for x in inner) >= 3  # documents do share sequences
    assert all(len(x) + 5 > 13 for x in inner[:-1])  # a 5-id sentence (and maybe a [SEP]) did not fit
    assert got["segment_ids"].max() == 0 and got["next_sentence_labels"].max() == 0


def test_run_pretraining_trains_a_roberta_body_on_the_roberta_recipe(tmp_path):
    """A RoBERTa config's default recipe: FULL-SENTENCES, dynamic masking, masked LM alone, on byte-level BPE
    files learned from the corpus (the refusals: tests/test_cousin_scripts.py)."""
    from bert_tf import byte_bpe

    write_corpus(tmp_path)
    vocab, merges = byte_bpe.learn_bpe(byte_bpe.count_words([tmp_path / "corpus.txt"]), 280)
    byte_bpe.write_bpe(vocab, merges, tmp_path / "vocab.json", tmp_path / "merges.txt")
    config = model_types.RobertaConfig(vocab_size=len(vocab), hidden_size=16, num_hidden_layers=2,
                                       num_attention_heads=2, intermediate_size=32, max_position_embeddings=20)
    config.to_json_file(str(tmp_path / "bert_config.json"))
    common = dict(input_file=tmp_path / "corpus.txt", dynamic_masking=True, max_seq_length=16,
                  max_predictions_per_seq=3, do_train=True)
    run_script(flags(tmp_path, **common, vocab_file=tmp_path / "vocab.json", do_eval=True))
    assert json.loads((tmp_path / "out" / "run_config.json").read_text())["full_sentences"] is True
    loaded, weights, _ = checkpoint_files.load(str(tmp_path / "out" / "tf1"))
    assert loaded == config and "cls/seq_relationship/output_weights" not in weights
    assert (tmp_path / "out" / "tf1" / "vocab.json").read_bytes() == (tmp_path / "vocab.json").read_bytes()
    assert (tmp_path / "out" / "tf1" / "merges.txt").exists()
    results = dict(line.split(" = ") for line in (tmp_path / "out" / "eval_results.txt").read_text().splitlines())
    assert "masked_lm_accuracy" in results and "next_sentence_accuracy" not in results
