"""Slow: run_squad.py (SQuAD v1.1 and v2.0) and run_classifier.py (CoNLL-2003) end to end on the real files in
../shared/data, with a tiny random BERT (hidden 32, 2 layers, no checkpoint) and the real BERT-Base uncased vocab:
the scripts must not crash on real data, and their output files must parse and agree with the inputs and with
each other (every dev question answered, the v2 null rule, metrics recomputed from the written files)."""

import json
import math
import os
import pathlib
import subprocess
import sys

import numpy as np
import pytest
from helpers import DATA

from bert_tf import tasks
from bert_tf.tasks import squad_eval

ROOT = pathlib.Path(__file__).resolve().parent.parent
VOCAB = DATA / "bert_base_uncased" / "vocab.txt"
TINY = {"attention_probs_dropout_prob": 0.1, "hidden_act": "gelu", "hidden_dropout_prob": 0.1, "hidden_size": 32,
        "initializer_range": 0.02, "intermediate_size": 64, "max_position_embeddings": 128,
        "num_attention_heads": 2, "num_hidden_layers": 2, "type_vocab_size": 2, "vocab_size": 30522}
pytestmark = pytest.mark.slow


def run_script(script, tmp_path, *arguments):
    """Runs a repository script with the tiny config; fails with the end of its stderr."""
    config = tmp_path / "bert_config.json"
    config.write_text(json.dumps(TINY))
    command = [sys.executable, str(ROOT / script), f"--bert_config_file={config}", f"--vocab_file={VOCAB}",
               f"--output_dir={tmp_path / 'out'}", "--seed=1", *arguments]
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-6000:]
    return tmp_path / "out"


def squad_slice(source, target, paragraphs):
    """The first `paragraphs` paragraphs of the first article of a SQuAD file, as a training file: only the first
    answer of each question (dev files list several; training needs exactly one, as the original)."""
    data = json.loads(pathlib.Path(source).read_text(encoding="utf-8"))
    kept = [dict(p, qas=[dict(qa, answers=qa["answers"][:1]) for qa in p["qas"]])
            for p in data["data"][0]["paragraphs"][:paragraphs]]
    article = dict(data["data"][0], paragraphs=kept)
    target.write_text(json.dumps({**data, "data": [article]}), encoding="utf-8")
    return target


def questions(path):
    data = json.loads(pathlib.Path(path).read_text(encoding="utf-8"))["data"]
    return [qa for article in data for paragraph in article["paragraphs"] for qa in paragraph["qas"]]


SQUAD_FLAGS = ("--do_train", "--do_predict", "--max_seq_length=128", "--doc_stride=64", "--max_query_length=32",
               "--train_batch_size=16", "--predict_batch_size=64", "--num_train_epochs=1", "--learning_rate=1e-3")


def check_squad_outputs(out, dev_file, version_2):
    """The files every dev question needs, nbest consistent with predictions, and eval_results.json equal to the
    official evaluation recomputed from the written files."""
    ids = [qa["id"] for qa in questions(dev_file)]
    predictions = json.loads((out / "predictions.json").read_text())
    nbest = json.loads((out / "nbest_predictions.json").read_text())
    assert list(predictions) == ids and list(nbest) == ids  # every question, in file order
    for qid, entries in nbest.items():
        assert 1 <= len(entries) <= 20, qid
        assert math.isclose(sum(e["probability"] for e in entries), 1.0, rel_tol=1e-5), qid
        assert [e["probability"] for e in entries] == sorted((e["probability"] for e in entries), reverse=True)
    gold = squad_eval.gold_from_file(str(dev_file))
    results = json.loads((out / "eval_results.json").read_text())
    if not version_2:
        assert all(predictions[qid] == nbest[qid][0]["text"] for qid in ids)
        assert set(results) == {"exact_match", "f1"}
        assert results == pytest.approx(squad_eval.evaluate_v1(gold, predictions))
        return results
    null_odds = json.loads((out / "null_odds.json").read_text())
    assert list(null_odds) == ids
    for qid in ids:  # the original's rule at threshold 0: null above it, else the best non-null answer
        best_non_null = next((e["text"] for e in nbest[qid] if e["text"]), None)
        assert predictions[qid] == ("" if null_odds[qid] > 0.0 else best_non_null), qid
    assert results == pytest.approx(squad_eval.evaluate_v2(gold, predictions, null_odds))
    return results


def test_run_squad_v1_on_real_files(tmp_path):
    """Train on 8 Notre Dame paragraphs (train-v1.1 partial), predict all 810 Super Bowl 50 dev questions."""
    train = squad_slice(DATA / "squad" / "train-v1.1.University_of_Notre_Dame.json", tmp_path / "train.json", 8)
    dev = DATA / "squad" / "dev-v1.1.Super_Bowl_50.json"
    assert len(questions(dev)) == 810
    out = run_script("run_squad.py", tmp_path, f"--train_file={train}", f"--predict_file={dev}", *SQUAD_FLAGS)
    results = check_squad_outputs(out, dev, version_2=False)
    assert 0.0 <= results["exact_match"] <= results["f1"] <= 100.0
    assert not (out / "null_odds.json").exists()
    assert "eval_results.txt" in os.listdir(out)


def test_run_squad_v2_on_real_files(tmp_path):
    """No v2 train file here: train on 10 paragraphs of dev-v2.0.first5 (impossible questions included), predict
    all 1407 questions of it (702 without an answer)."""
    dev = DATA / "squad" / "dev-v2.0.first5.json"
    train = squad_slice(dev, tmp_path / "train.json", 10)
    assert any(qa["is_impossible"] for qa in questions(train))
    out = run_script("run_squad.py", tmp_path, f"--train_file={train}", f"--predict_file={dev}",
                     "--version_2_with_negative", *SQUAD_FLAGS)
    results = check_squad_outputs(out, dev, version_2=True)
    assert (results["total"], results["HasAns_total"], results["NoAns_total"]) == (1407, 705, 702)
    for score in ("exact", "f1"):  # the official totals are the answerable and unanswerable parts, weighted
        parts = results[f"HasAns_{score}"] * 705 + results[f"NoAns_{score}"] * 702
        assert results[score] == pytest.approx(parts / 1407, rel=1e-12), score
        assert results[f"best_{score}"] >= results[score] - 1e-9  # the threshold 0 is among those tried
    assert results["best_exact"] >= 100.0 * 702 / 1407 - 1e-9  # all-null is one of the thresholds tried


def conll_slice(source, target, sentences):
    """The first `sentences` sentences of a CoNLL file (its -DOCSTART- lines kept)."""
    lines, count, in_sentence = [], 0, False
    for line in pathlib.Path(source).read_text(encoding="utf-8").splitlines(keepends=True):
        lines.append(line)
        if line.strip() and not line.startswith("-DOCSTART-"):
            in_sentence = True
        elif in_sentence:  # the blank line that ends a sentence
            count, in_sentence = count + 1, False
            if count == sentences:
                break
    target.write_text("".join(lines), encoding="utf-8")


def test_run_classifier_conll2003_on_real_files(tmp_path):
    """Train on the first 300 sentences of eng.train, evaluate on all of eng.testa, predict eng.testb: metrics in
    range and consistent, and test_predictions.txt holds every word of eng.testb with its (IOB2) gold tag."""
    conll = DATA / "conll2003"
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    conll_slice(conll / "eng.train", data_dir / "eng.train", 300)
    for name in ("eng.testa", "eng.testb"):
        (data_dir / name).symlink_to(conll / name)
    task = tasks.get("conll2003")
    assert len(task.read(str(data_dir), "train")) == 300
    out = run_script("run_classifier.py", tmp_path, "--task_name=conll2003", f"--data_dir={data_dir}",
                     "--do_train", "--do_eval", "--do_predict", "--max_seq_length=64", "--train_batch_size=16",
                     "--eval_batch_size=64", "--predict_batch_size=64", "--num_train_epochs=1",
                     "--learning_rate=1e-3")
    results = json.loads((out / "eval_results.json").read_text())
    assert set(results) == {"eval_loss", "eval_accuracy", "loss", "global_step", "precision", "recall", "f1",
                            "accuracy"}
    assert results["global_step"] == 300 // 16  # int(examples / batch x epochs), as the original
    assert results["loss"] == results["eval_loss"] > 0.0 and math.isfinite(results["eval_loss"])
    precision, recall = results["precision"], results["recall"]  # seqeval's F1 is 0 where both are 0
    assert results["f1"] == pytest.approx(2 * precision * recall / (precision + recall) if precision + recall else 0)
    # The model's token accuracy scores the first pieces inside max_seq_length; seqeval's scores every word, as
    # conlleval, and a word cut off gets NO_PIECE_TAG ("O"): right where its gold tag is "O". So the correct
    # counts differ by exactly those words.
    from bert_tf.finetuning_data import IGNORE_LABEL_ID, convert_tagged_example
    from bert_tf.tasks.metrics import NO_PIECE_TAG, word_first_pieces
    from bert_tf.tokenization import FullTokenizer

    tokenizer, label_map = FullTokenizer(str(VOCAB), do_lower_case=True), {t: i for i, t in enumerate(task.labels)}
    dev = task.read(str(data_dir), "dev")
    words = scored = cut_and_outside = 0
    for example in dev:
        labels = convert_tagged_example(example, label_map, 64, tokenizer).label_id
        first = sum(label != IGNORE_LABEL_ID for label in labels)
        positions = word_first_pieces(example.words, first)
        words, scored = words + len(example.words), scored + first
        cut_and_outside += sum(position is None and tag == NO_PIECE_TAG
                               for position, tag in zip(positions, example.tags, strict=True))
    assert words == 51362 and 0 < cut_and_outside <= words - scored < 0.01 * words
    correct = results["eval_accuracy"] * scored + cut_and_outside
    assert results["accuracy"] == pytest.approx(correct / words, rel=1e-9)
    # eval_results.txt in the original's format (floats as float32), eval_results.json with every digit
    text = (out / "eval_results.txt").read_text()
    assert text == "".join(f"{key} = {str(np.float32(results[key])) if key != 'global_step' else results[key]}\n"
                           for key in sorted(results))
    test = task.read(str(data_dir), "test")
    sentences = (out / "test_predictions.txt").read_text(encoding="utf-8").split("\n\n")
    assert sentences[-1] == "" and len(sentences) - 1 == len(test) == 3453
    for example, block in zip(test, sentences, strict=False):
        rows = [line.split(" ") for line in block.split("\n")]
        assert [row[0] for row in rows] == list(example.words)
        assert [row[1] for row in rows] == list(example.tags)
        assert all(len(row) == 3 and row[2] in task.labels for row in rows)
