"""Slow: the readers on the real files in BERT_TF_DATA (counts and label splits as its README), the MRPC
step count, CoNLL-2003 entity counts after the IOB2 conversion, and SQuAD end to end on the partial files,
including parity with the ORIGINAL run_squad on the v2.0 file."""

import collections
import json
import pathlib

import numpy as np
import pytest
from helpers import DATA

from bert_tf import finetuning_data as fd
from bert_tf import tasks
from bert_tf.tasks import squad_eval, squad_predictions

pytestmark = pytest.mark.slow

# (task, split): (rows, label counts) from the data README
GLUE = {
    ("cola", "train"): (8551, {"1": 6023, "0": 2528}), ("cola", "dev"): (1043, {"1": 721, "0": 322}),
    ("cola", "test"): (1063, {None: 1063}),
    ("mrpc", "train"): (3668, {"1": 2474, "0": 1194}), ("mrpc", "dev"): (408, {"1": 279, "0": 129}),
    ("mrpc", "test"): (1725, {None: 1725}),
    ("sst-2", "train"): (67349, {"1": 37569, "0": 29780}), ("sst-2", "dev"): (872, {"1": 444, "0": 428}),
    ("sst-2", "test"): (1821, {None: 1821}),
    ("sts-b", "train"): (5749, None), ("sts-b", "dev"): (1500, None), ("sts-b", "test"): (1379, {None: 1379}),
    ("qnli", "dev"): (5463, {"entailment": 2702, "not_entailment": 2761}), ("qnli", "test"): (5463, {None: 5463}),
    ("rte", "train"): (2490, {"entailment": 1249, "not_entailment": 1241}),
    ("rte", "dev"): (277, {"entailment": 146, "not_entailment": 131}), ("rte", "test"): (3000, {None: 3000}),
    ("wnli", "train"): (635, {"0": 323, "1": 312}), ("wnli", "dev"): (71, {"0": 40, "1": 31}),
}
DIRS = {"cola": "CoLA", "mrpc": "MRPC", "sst-2": "SST-2", "sts-b": "STS-B", "qnli": "QNLI", "rte": "RTE",
        "wnli": "WNLI"}


@pytest.mark.parametrize("name,split", sorted(GLUE))
def test_every_glue_split_parses(name, split):
    examples = tasks.get(name).read(str(DATA / "glue" / DIRS[name]), split)
    rows, labels = GLUE[name, split]
    assert len(examples) == rows
    if labels is not None:
        assert collections.Counter(e.label for e in examples) == labels
    if (name, split) == ("sts-b", "train"):
        scores = [e.label for e in examples]
        assert (min(scores), max(scores), round(sum(scores) / len(scores), 3)) == (0.0, 5.0, 2.701)
    if split == "test":
        assert [e.guid for e in examples[:2]] == ["test-0", "test-1"]


def test_mrpc_train_steps():
    examples = tasks.get("mrpc").read(str(DATA / "glue" / "MRPC"), "train")
    assert fd.train_steps(len(examples), 32, 3.0, 0.1) == (343, 34)


@pytest.mark.parametrize("split,sentences,tokens,entities", [
    ("train", 14041, 203621, {"LOC": 7140, "MISC": 3438, "ORG": 6321, "PER": 6600}),
    ("dev", 3250, 51362, {"LOC": 1837, "MISC": 922, "ORG": 1341, "PER": 1842}),
    ("test", 3453, 46435, {"LOC": 1668, "MISC": 702, "ORG": 1661, "PER": 1617}),
])
def test_conll_counts_after_iob2(split, sentences, tokens, entities):
    from seqeval.metrics.sequence_labeling import get_entities

    examples = tasks.get("conll2003").read(str(DATA / "conll2003"), split)
    assert len(examples) == sentences and sum(len(e.words) for e in examples) == tokens
    found = collections.Counter(kind for kind, _, _ in get_entities([list(e.tags) for e in examples]))
    assert found == entities
    assert all(not (t.startswith("I-") and (i == 0 or e.tags[i - 1][2:] != t[2:]))
               for e in examples for i, t in enumerate(e.tags))  # IOB2: every entity starts with B-


def test_squad_files_parse():
    v1 = tasks.get("squad-v1.1")
    dev = v1.reader(str(DATA / "squad" / "dev-v1.1.Super_Bowl_50.json"), "dev")
    assert len(dev) == 810 and sum(len(e.answers) for e in dev) == 2438
    train = v1.reader(str(DATA / "squad" / "train-v1.1.University_of_Notre_Dame.json"), "train")
    assert len(train) == 269 and all(e.orig_answer_text for e in train)
    v2 = tasks.get("squad-v2.0")
    dev2 = v2.reader(str(DATA / "squad" / "dev-v2.0.first5.json"), "dev")
    assert len(dev2) == 1407 and sum(not e.answers for e in dev2) == 702
    with pytest.raises(ValueError, match="dev-v2.0.first5.json: question .*: for training, each question should"):
        v2.reader(str(DATA / "squad" / "dev-v2.0.first5.json"), "train")  # dev questions have 2-4 answers


def test_squad_train_file_end_to_end_with_perfect_logits():
    """Training features of the real train file, logits peaked at their labels, back through post-processing and
    the official v1.1 evaluation against the file's answers."""
    from bert_tf.tokenization import FullTokenizer

    task = tasks.get("squad-v1.1")
    path = str(DATA / "squad" / "train-v1.1.University_of_Notre_Dame.json")
    examples = task.reader(path, "train")
    tokenizer = FullTokenizer(str(DATA / "bert_base_uncased" / "vocab.txt"))
    features = task.features(examples, tokenizer, 384, training=True, doc_stride=128, max_query_length=64)
    arrays = task.arrays(features)
    assert arrays["input_ids"].shape == (len(features), 384) and len(features) >= len(examples)
    results = []
    for f in features:
        start, end = np.zeros(384, np.float32), np.zeros(384, np.float32)
        start[f.start_position], end[f.end_position] = 10.0, 10.0
        results.append(squad_predictions.RawResult(f.unique_id, start, end))
    answers, _, _ = squad_predictions.predictions(examples, features, results)
    result = squad_eval.evaluate_v1(squad_eval.gold_from_file(path), answers)
    assert len(features) == 274 and result == {"exact_match": 100.0, "f1": 100.0}


def test_squad_v2_parity_with_original_on_real_file(tmp_path):
    """The original run_squad on dev-v2.0.first5.json with the BERT-Base vocab: identical features, identical
    output files from the same logits."""
    import subprocess
    import sys

    from bert_tf.tokenization import FullTokenizer

    path, vocab = str(DATA / "squad" / "dev-v2.0.first5.json"), str(DATA / "bert_base_uncased" / "vocab.txt")
    task = tasks.get("squad-v2.0")
    examples = task.reader(path, "dev")
    features = task.features(examples, FullTokenizer(vocab), 192, doc_stride=64, max_query_length=32)
    rng = np.random.default_rng(3)
    logits = {f.unique_id: np.round(rng.normal(size=(2, 192)), 2).astype(np.float32) for f in features}
    crashing = squad_predictions.predictions(examples, features, [
        squad_predictions.RawResult(u, v[0], v[1]) for u, v in logits.items()], version_2_with_negative=True)
    fixed = [q for q, p in crashing[1].items() if not any(e["text"] for e in p)]
    assert len(fixed) == 11 and all(crashing[0][q] == "" and crashing[2][q] == 1.0 for q in fixed)  # original: crash
    for f in features:  # so that every question keeps a non-empty candidate, as the original needs
        logits[f.unique_id][:, np.asarray(f.segment_ids) == 1] += 1.5
        logits[f.unique_id][:, 0] += 3.0 * (f.example_index % 2)
    task.write_predictions(str(tmp_path / "ours"), "dev", examples,
                           [squad_predictions.RawResult(u, v[0], v[1]) for u, v in logits.items()], features=features)
    (tmp_path / "original").mkdir()
    job = {"data": path, "vocab": vocab, "do_lower_case": True, "version_2": True, "training": False,
           "max_seq_length": 192, "doc_stride": 64, "max_query_length": 32, "n_best_size": 20,
           "max_answer_length": 30, "output_dir": str(tmp_path / "original"),
           "logits": {u: v.tolist() for u, v in logits.items()}}
    (tmp_path / "jobs.json").write_text(json.dumps([job]))
    subprocess.run([sys.executable, str(pathlib.Path(__file__).parent / "squad_oracle.py"),
                    str(tmp_path / "jobs.json"), str(tmp_path / "out.json")], check=True, capture_output=True)
    (want,) = json.loads((tmp_path / "out.json").read_text())
    assert len(want["features"]) == len(features) > len(examples)
    assert [f["input_ids"] for f in want["features"]] == [list(f.input_ids) for f in features]
    for name in ("predictions.json", "nbest_predictions.json", "null_odds.json"):
        assert (tmp_path / "ours" / name).read_bytes() == (tmp_path / "original" / name).read_bytes(), name
    predictions = json.loads((tmp_path / "ours" / "predictions.json").read_text())
    odds = json.loads((tmp_path / "ours" / "null_odds.json").read_text())
    result = squad_eval.evaluate_v2(squad_eval.gold_from_file(path), predictions, odds)
    assert result["total"] == 1407 and result["HasAns_total"] == 705 and result["NoAns_total"] == 702
