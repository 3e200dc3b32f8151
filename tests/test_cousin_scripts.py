"""BERT's cousins through the scripts: run_classifier.py fine-tunes ALBERT, RoBERTa and DistilBERT with each
type's tokenizer (files learned here from the task's lines) and saves checkpoints Hugging Face reads to the same
logits; run_squad.py trains ALBERT and RoBERTa; run_pretraining.py's recipe per --model_type and its refusals."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
import torch
import transformers
from helpers import write_vocab
from test_finetuning import VOCAB, WORDS, mrpc_fixture, squad_fixture

from bert_tf import byte_bpe, checkpoint_files, model_types
from bert_tf import sentencepiece_tokenization as spt
from bert_tf.finetuning_data import InputExample, convert_single_example, tokenizer_for
from bert_tf.training.inputs import Recipe, check_sentence_order, recipe

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SIZES = dict(hidden_size=8, num_hidden_layers=2, num_attention_heads=2, intermediate_size=12,
             max_position_embeddings=40)


def tokenizer_files(model_type, folder, texts):
    """(vocab_file, vocab_size) of `model_type`'s tokenizer learned from `texts` (WordPiece: the test vocab)."""
    if model_type == "distilbert":
        return write_vocab(folder / "vocab.txt", VOCAB), len(VOCAB)
    corpus = folder / "corpus.txt"
    corpus.write_text("\n".join(texts) + "\n", encoding="utf-8")
    if model_type == "albert":
        return spt.train_sentencepiece([corpus], str(folder / "spiece"), 30)[0], 30
    vocab, merges = byte_bpe.learn_bpe(byte_bpe.count_words([corpus]), 300)
    byte_bpe.write_bpe(vocab, merges, folder / "vocab.json", folder / "merges.txt")
    return str(folder / "vocab.json"), len(vocab)


def cousin_config(model_type, vocab_size):
    return model_types.config_class(model_type)(vocab_size=vocab_size, **SIZES, **(
        {"embedding_size": 6} if model_type == "albert" else {}))


def script(name, *arguments):
    done = subprocess.run([sys.executable, f"{ROOT}/{name}", *arguments], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-3000:]
    return done


HF_CLASSES = {"albert": "AlbertForSequenceClassification", "roberta": "RobertaForSequenceClassification",
              "distilbert": "DistilBertForSequenceClassification"}
SAVED_TOKENIZER = {"albert": "spiece.model", "roberta": "vocab.json", "distilbert": "vocab.txt"}


@pytest.mark.parametrize("model_type", ["albert", "roberta", "distilbert"])
def test_run_classifier_fine_tunes_each_cousin_with_its_tokenizer(model_type, tmp_path):
    mrpc_fixture(str(tmp_path / "mrpc"), rows=(16, 8, 4))
    vocab_file, vocab_size = tokenizer_files(model_type, tmp_path, [" ".join(WORDS)] * 3 + WORDS)
    config = cousin_config(model_type, vocab_size)
    (tmp_path / "config.json").write_text(json.dumps({k: v for k, v in config.to_dict().items()
                                                      if k != "model_type"}))  # the type from --model_type
    script("run_classifier.py", f"--data_dir={tmp_path / 'mrpc'}", "--task_name=MRPC", f"--vocab_file={vocab_file}",
           f"--bert_config_file={tmp_path / 'config.json'}", f"--model_type={model_type}",
           f"--output_dir={tmp_path / 'out'}", "--train_batch_size=8", "--num_train_epochs=1", "--max_seq_length=24",
           "--do_train", "--do_eval", "--seed=1", *([f"--export_dir={tmp_path / 'saved'}"] if model_type == "albert"
                                                    else []))
    assert json.loads((tmp_path / "out" / "eval_results.json").read_text())["global_step"] == 2
    loaded_config, weights, _ = checkpoint_files.load(str(tmp_path / "out"))
    assert loaded_config == config
    assert (tmp_path / "out" / SAVED_TOKENIZER[model_type]).read_bytes() == open(vocab_file, "rb").read()
    names = {"albert": "bert/encoder/transformer/group_0/inner_group_0/", "roberta": "classifier/dense/",
             "distilbert": "classifier/dense/"}[model_type]
    assert any(n.startswith(names) for n in weights) and weights["output_weights"].shape == (2, 8)

    # The fine-tuned model, saved for Hugging Face, gives its logits on the features our tokenizer packs.
    checkpoint_files.save(config, weights, str(tmp_path / "hf"), "hf")
    theirs = getattr(transformers, HF_CLASSES[model_type]).from_pretrained(str(tmp_path / "hf")).eval()
    ours = checkpoint_files.build_model(config, weights)
    tokenizer = tokenizer_for(model_type, vocab_file, vocab_size=vocab_size)
    features = [convert_single_example(InputExample(str(i), "the cat sat on a mat", b, "0"), {"0": 0, "1": 1}, 24,
                                       tokenizer) for i, b in enumerate(["a big red ball", None])]
    ids, mask, types = (np.array([getattr(f, k) for f in features]) for k in ("input_ids", "input_mask",
                                                                              "segment_ids"))
    logits = ours({"input_ids": ids, "input_mask": mask, "segment_ids": types})["logits"].numpy()
    kwargs = {} if model_type == "distilbert" else {"token_type_ids": torch.tensor(types)}
    with torch.no_grad():
        expected = theirs(input_ids=torch.tensor(ids), attention_mask=torch.tensor(mask), **kwargs).logits.numpy()
    np.testing.assert_allclose(logits, expected, atol=1e-5)
    if model_type == "albert":  # its SavedModel tokenizes with SentencePiece in graph, as the Python pipeline
        import tensorflow as tf

        served = tf.saved_model.load(str(tmp_path / "saved")).signatures["serving_default"](
            text_a=tf.constant(["the cat sat on a mat"] * 2), text_b=tf.constant(["a big red ball", ""]))
        np.testing.assert_allclose(served["logits"].numpy(), logits, atol=1e-5)


def test_savedmodels_refuse_tokenizers_they_cannot_run_in_graph(tmp_path):
    from bert_tf import export, tasks

    (tmp_path / "vocab.json").write_text("{}")
    for task, vocab in (("mrpc", "vocab.json"), ("squad-v1.1", "vocab.json"), ("squad-v2.0", "spiece.model")):
        with pytest.raises(ValueError, match=f"{tmp_path / vocab}") as error:
            export.check_task(tasks.get(task), str(tmp_path / vocab))
        assert ("in Python only" if vocab == "vocab.json" else "not a WordPiece vocab.txt") in str(error.value)


@pytest.mark.slow
@pytest.mark.parametrize("model_type", ["albert", "roberta"])
def test_run_squad_trains_albert_and_roberta(model_type, tmp_path):
    squad_fixture(tmp_path / "squad.json")
    context = "The cat sat on the mat. A big red dog ran fast. where the cat sat? what ran fast? the ball?"
    vocab_file, vocab_size = tokenizer_files(model_type, tmp_path, [context] * 3 + context.split())
    cousin_config(model_type, vocab_size).to_json_file(str(tmp_path / "config.json"))
    out = tmp_path / "out"
    script("run_squad.py", f"--vocab_file={vocab_file}", f"--bert_config_file={tmp_path / 'config.json'}",
           f"--output_dir={out}", f"--train_file={tmp_path / 'squad.json'}",
           f"--predict_file={tmp_path / 'squad.json'}", "--do_train", "--do_predict", "--version_2_with_negative",
           "--max_seq_length=32", "--doc_stride=8", "--max_query_length=8", "--train_batch_size=2",
           "--num_train_epochs=1")
    predictions = json.loads((out / "predictions.json").read_text())
    words = context.replace(".", " ").replace("?", " ").split()
    assert sorted(predictions) == ["q1", "q2", "q3"]
    # Answers are whole context words (a cousin's pieces are mapped back to the words they came from).
    assert all(all(w.strip(".?") in words for w in text.split()) for text in predictions.values())
    assert {"exact", "f1", "HasAns_exact"} <= set(json.loads((out / "eval_results.json").read_text()))


def test_recipes_per_model_type_and_refusals():
    assert recipe("bert", False) == Recipe(next_sentence=True)
    assert recipe("bert", True, next_sentence=False, full_sentences=True) == Recipe(False, False, True)
    assert recipe("albert", False) == Recipe(True, sentence_order=True)
    assert recipe("albert", True, next_sentence=False) == Recipe(False)
    assert recipe("roberta", True) == Recipe(False, full_sentences=True)
    assert recipe("roberta", True, full_sentences=False) == Recipe(False)
    assert recipe("distilbert", False) == Recipe(False)
    for model_type in ("roberta", "distilbert"):
        with pytest.raises(ValueError, match=f"--next_sentence: {model_type} pretrains the masked LM alone"):
            recipe(model_type, True, next_sentence=True)
    with pytest.raises(ValueError, match="--model_type=roberta trains on text masked anew each epoch"):
        recipe("roberta", False)


def test_albert_refuses_records_of_next_sentence_pairs(tmp_path):
    for name, order in (("sop.tfrecord", True), ("nsp.tfrecord", False)):
        (tmp_path / name).write_bytes(b"")
        (tmp_path / f"{name}.json").write_text(json.dumps({"num_instances": 0, "sentence_order": order}))
    check_sentence_order(str(tmp_path / "sop.tfrecord"))
    with pytest.raises(ValueError, match=f"{tmp_path / 'nsp.tfrecord'}: records of next-sentence pairs"):
        check_sentence_order(f"{tmp_path / 'sop.tfrecord'},{tmp_path / 'nsp.tfrecord'}")


@pytest.mark.slow
def test_run_pretraining_trains_albert_on_sentence_order_from_text(tmp_path):
    from test_run_pretraining import flags, run_script, write_word_corpus

    write_word_corpus(tmp_path, 10, 4)
    model = spt.train_sentencepiece([tmp_path / "corpus.txt"], str(tmp_path / "spiece"), 40)[0]
    config = cousin_config("albert", 40)
    config.to_json_file(str(tmp_path / "bert_config.json"))
    run_script(flags(tmp_path, input_file=tmp_path / "corpus.txt", dynamic_masking=True, vocab_file=model,
                     max_seq_length=16, max_predictions_per_seq=3, do_train=True, do_eval=True,
                     do_whole_word_mask=True))
    _, weights, _ = checkpoint_files.load(str(tmp_path / "out" / "tf1"))
    assert weights["cls/seq_relationship/output_weights"].shape == (2, 8)
    assert (tmp_path / "out" / "tf1" / "spiece.model").exists()
    results = dict(line.split(" = ") for line in (tmp_path / "out" / "eval_results.txt").read_text().splitlines())
    assert "next_sentence_accuracy" in results


def test_create_pretraining_data_writes_albert_records_of_sentencepiece_ids(tmp_path):
    from test_create_pretraining_data import parse
    from test_run_pretraining import write_word_corpus

    write_word_corpus(tmp_path, 10, 4)
    model = spt.train_sentencepiece([tmp_path / "corpus.txt"], str(tmp_path / "spiece"), 40)[0]
    out = tmp_path / "albert.tfrecord"
    script("create_pretraining_data.py", f"--input_file={tmp_path / 'corpus.txt'}", f"--output_file={out}",
           f"--vocab_file={model}", "--model_type=albert", "--max_seq_length=24", "--max_predictions_per_seq=3",
           "--dupe_factor=1", "--short_seq_prob=0")
    assert json.loads((tmp_path / "albert.tfrecord.json").read_text())["sentence_order"] is True
    from bert_tf.pretraining_data import PretrainingDataConfig

    got = parse([str(out)], PretrainingDataConfig(max_seq_length=24, max_predictions_per_seq=3))
    tokenizer = tokenizer_for("albert", model)
    ids = {t: tokenizer.convert_tokens_to_ids([t])[0] for t in ("[CLS]", "[SEP]", "[MASK]")}
    document_ids = [tokenizer.convert_tokens_to_ids(tokenizer.tokenize(line)) for line in
                    (tmp_path / "corpus.txt").read_text().splitlines() if line]
    stream = [i for line in document_ids for i in line]
    assert len(got["input_ids"]) > 0
    for row, positions, originals, weights in zip(got["input_ids"], got["masked_lm_positions"],
                                                  got["masked_lm_ids"], got["masked_lm_weights"], strict=True):
        row = row.copy()
        row[positions[weights > 0]] = originals[weights > 0]  # the text before masking
        assert row[0] == ids["[CLS]"] and ids["[MASK]"] not in row
        a, b = np.split(row[1:], np.flatnonzero(row[1:] == ids["[SEP]"])[:1])
        for segment in (a, b[1:][:np.flatnonzero(b[1:] == ids["[SEP]"])[0]]):
            text = segment.tolist()  # a run of SentencePiece ids of the corpus, in its order
            assert any(stream[i:i + len(text)] == text for i in range(len(stream))), text


def test_warm_start_reads_a_config_without_model_type_as_the_model_s_type(tmp_path):
    from bert_tf import checkpoints, modeling
    from bert_tf.training.warm_start import warm_start

    config = cousin_config("albert", 30)
    source = modeling.BertEncoder(config)
    checkpoint_files.save(config, checkpoints.get_weights(source), str(tmp_path / "ckpt"), "tf1")
    values = json.loads((tmp_path / "ckpt" / "bert_config.json").read_text())
    values.pop("model_type", None)  # as a hand-written config: the type comes from --model_type
    (tmp_path / "ckpt" / "bert_config.json").write_text(json.dumps(values))
    model = modeling.BertEncoder(config)
    restored = warm_start(model, str(tmp_path / "ckpt"))
    assert len(restored) == len(checkpoints.keras_variables(model))
    for ours, theirs in zip(model.weights, source.weights, strict=True):
        np.testing.assert_array_equal(ours.numpy(), theirs.numpy())
