"""GLUE/XNLI tasks as data: readers on fixtures in the published TSV layouts, parity with the original
processors and convert_single_example, metrics against hand-computed values, output files, bad input."""

import ast
import json
import math
import pathlib
import subprocess
import sys

import numpy as np
import pytest
from helpers import write_vocab

import bert_tf.files
from bert_tf import finetuning_data as fd
from bert_tf import tasks
from bert_tf.tasks import metrics
from bert_tf.tasks.tsv import Columns, read_rows
from bert_tf.tokenization import BasicTokenizer, FullTokenizer

ROOT = pathlib.Path(__file__).parent
MNLI_TRAIN = "index promptID pairID genre sentence1_binary_parse sentence2_binary_parse sentence1_parse " \
             "sentence2_parse sentence1 sentence2 label1 gold_label"
MNLI_DEV = MNLI_TRAIN.replace("label1", "label1 label2 label3 label4 label5")
MNLI_TEST = " ".join(MNLI_TRAIN.split()[:10])
XNLI_DEV = "language gold_label sentence1_binary_parse sentence2_binary_parse sentence1_parse sentence2_parse " \
           "sentence1 sentence2 promptID pairID genre label1 label2 label3 label4 label5"


def tsv(*rows):
    return "".join("\t".join(row) + "\n" for row in rows)


def mnli_row(i, a, b, label, n):
    return [str(i), "31193", f"{i}n", "fiction", "( x )", "( y )", "(ROOT x)", "(ROOT y)", a, b] + [label] * n


# Each task's files in the GLUE download layout (headers, column counts, BOM, quotes as the real files have).
GLUE_FILES = {
    "CoLA": {
        "train.tsv": tsv(["gj04", "1", "", "The sailors rode the breeze clear of the rocks."],
                         ["gj04", "0", "*", "The more we study verbs, the crazier they get get."]),
        "dev.tsv": tsv(["gj04", "1", "", "Bill's dog \"barked\"."]),
        "test.tsv": tsv(["index", "sentence"], ["0", "Bill whistled past the house."], ["1", "Sue sang."]),
    },
    "SST-2": {
        "train.tsv": tsv(["sentence", "label"], ["hide new secretions from the parental units ", "0"],
                         ["it 's a charming and often affecting journey . ", "1"]),
        "dev.tsv": tsv(["sentence", "label"], ["unflinchingly bleak ", "0"]),
        "test.tsv": tsv(["index", "sentence"], ["0", "uneasy mishmash of styles and genres ."]),
    },
    "MRPC": {
        "train.tsv": "\ufeff" + tsv(["Quality", "#1 ID", "#2 ID", "#1 String", "#2 String"],
                                    ["1", "702876", "702977", "Amrozi accused his brother.", "He accused him."],
                                    ["0", "2108705", "2108831", "Yucaipa owned Dominick's.", "Yucaipa sold it."]),
        "dev.tsv": "\ufeff" + tsv(["Quality", "#1 ID", "#2 ID", "#1 String", "#2 String"],
                                  ["1", "1355540", "1355592", "He said \"no\".", "\"No,\" he said."]),
        "test.tsv": tsv(["index", "#1 ID", "#2 ID", "#1 String", "#2 String"],
                        ["0", "1089874", "1089925", "PCCW's chief will report.", "Current Chief reports."]),
    },
    "STS-B": {
        "train.tsv": tsv("index genre filename year old_index source1 source2 sentence1 sentence2 score".split(),
                         ["0", "main-captions", "MSRvid", "2012test", "0001", "none", "none",
                          "A plane is taking off.", "An air plane is taking off.", "5.000"],
                         ["1", "main-news", "MSRpar", "2012train", "0002", "none", "none",
                          "A man plays.", "A woman sings.", "0.500"]),
        "dev.tsv": tsv("index genre filename year old_index source1 source2 sentence1 sentence2 score".split(),
                       ["0", "main-captions", "MSRvid", "2012test", "0000", "none", "none",
                        "A man is dancing.", "A man dances.", "4.750"]),
        "test.tsv": tsv("index genre filename year old_index source1 source2 sentence1 sentence2".split(),
                        ["0", "main-captions", "MSRvid", "2012test", "0024", "none", "none",
                         "A girl is styling her hair.", "A girl is brushing her hair."]),
    },
    "QQP": {
        "train.tsv": tsv("id qid1 qid2 question1 question2 is_duplicate".split(),
                         ["133273", "213221", "213222", "How is the life?", "How is life?", "1"],
                         ["402555", "536040", "536041", "broken row without a pair"],
                         ["360472", "364011", "490273", "What is Java?", "Who am I?", "0"]),
        "dev.tsv": tsv("id qid1 qid2 question1 question2 is_duplicate".split(),
                       ["201359", "303345", "303346", "Why are people?", "Why people?", "1"]),
        "test.tsv": tsv(["id", "question1", "question2"], ["0", "Why do rockets look white?", "Why white?"]),
    },
    "MNLI": {
        "train.tsv": tsv(MNLI_TRAIN.split(), mnli_row(0, "Conceptually cream skimming.", "Product and geography.",
                                                       "neutral", 2)),
        "dev_matched.tsv": tsv(MNLI_DEV.split(), mnli_row(9815, "The new rights are nice.", "Everyone loves them.",
                                                          "neutral", 6)),
        "dev_mismatched.tsv": tsv(MNLI_DEV.split(), mnli_row(7, "Your gift is appreciated.", "Hundreds gave.",
                                                             "entailment", 6)),
        "test_matched.tsv": tsv(MNLI_TEST.split(), mnli_row(3, "Hierbas, ans seco.", "There is a bottle.", "", 0)),
        "test_mismatched.tsv": tsv(MNLI_TEST.split(), mnli_row(4, "What we have.", "We have nothing.", "", 0)),
    },
    "QNLI": {
        "train.tsv": tsv(["index", "question", "sentence", "label"],
                         ["0", "When did the third Digimon series begin?", "Unlike the two seasons.",
                          "not_entailment"]),
        "dev.tsv": tsv(["index", "question", "sentence", "label"],
                       ["0", "What came into force?", "The new constitution came into force.", "entailment"]),
        "test.tsv": tsv(["index", "question", "sentence"], ["0", "What is devoted?", "The brotherhood."]),
    },
    "RTE": {
        "train.tsv": tsv(["index", "sentence1", "sentence2", "label"],
                         ["0", "No Weapons Found in Iraq Yet.", "Weapons Found in Iraq.", "not_entailment"]),
        "dev.tsv": tsv(["index", "sentence1", "sentence2", "label"],
                       ["0", "Dana Reeve has died.", "Christopher Reeve had an accident.", "not_entailment"],
                       ["1", "Yet, we now are discovering.", "Bacteria is winning.", "entailment"]),
        "test.tsv": tsv(["index", "sentence1", "sentence2"], ["0", "Mangla was summoned.", "Shukla is related."]),
    },
    "WNLI": {
        "train.tsv": tsv(["index", "sentence1", "sentence2", "label"],
                         ["0", "I stuck a pin through a carrot.", "The carrot had a hole.", "1"]),
        "dev.tsv": tsv(["index", "sentence1", "sentence2", "label"],
                       ["0", "The drain is clogged with hair.", "The hair has to be cleaned.", "0"]),
        "test.tsv": tsv(["index", "sentence1", "sentence2"], ["0", "Maude and Dora had seen the trains.", "x."]),
    },
    "XNLI": {
        "multinli/multinli.train.zh.tsv": tsv(["premise", "hypo", "label"], ["他说,妈妈,我回来了。", "他回来了。",
                                                                             "contradictory"],
                                              ["我们的猫很好。", "猫很好。", "entailment"]),
        "xnli.dev.tsv": tsv(XNLI_DEV.split(),
                            ["en", "neutral", "x", "y", "x", "y", "The cat.", "A cat.", "1", "1n", "f"] + ["n"] * 5,
                            ["zh", "entailment", "x", "y", "x", "y", "我的猫。", "猫。", "2", "2e", "f"] + ["e"] * 5),
    },
}
TASK_DIRS = {"cola": "CoLA", "sst-2": "SST-2", "mrpc": "MRPC", "sts-b": "STS-B", "qqp": "QQP", "mnli": "MNLI",
             "qnli": "QNLI", "rte": "RTE", "wnli": "WNLI", "xnli": "XNLI"}


@pytest.fixture(scope="module")
def glue_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("glue")
    for task_dir, files in GLUE_FILES.items():
        for name, text in files.items():
            (root / task_dir / name).parent.mkdir(parents=True, exist_ok=True)
            (root / task_dir / name).write_text(text, encoding="utf-8")
    return root


@pytest.fixture(scope="module")
def vocab_file(tmp_path_factory):
    """Every basic token of the fixtures, long words split into two pieces so packing sees '##' pieces."""
    basic = BasicTokenizer(do_lower_case=True)
    words = sorted({t for files in GLUE_FILES.values() for text in files.values() for t in basic.tokenize(text)})
    pieces = sorted({p for w in words for p in ((w[:4], "##" + w[4:]) if len(w) > 6 else (w,))} - {"reeve"})
    return write_vocab(tmp_path_factory.mktemp("vocab") / "vocab.txt",
                       ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *pieces])


def read(glue_dir, name, split):
    return tasks.get(name).read(str(glue_dir / TASK_DIRS[name]), split)


def texts(examples):
    return [(e.text_a, e.text_b, e.label) for e in examples]


def test_registry_names_kinds_and_lookup():
    assert tasks.names() == ["cola", "sst-2", "mrpc", "sts-b", "qqp", "mnli", "qnli", "rte", "wnli", "xnli",
                             "squad-v1.1", "squad-v2.0", "swag", "conll2003"]
    assert tasks.get("SST2") is tasks.get("sst-2") and tasks.get("squad_v2.0").name == "squad-v2.0"
    assert {t.name: t.kind for t in tasks.TASKS if t.kind != "classification"} == {
        "sts-b": "regression", "squad-v1.1": "span", "squad-v2.0": "span", "swag": "multiple_choice",
        "conll2003": "tagging"}
    assert [tasks.get(n).num_labels for n in ("cola", "mnli", "sts-b", "swag", "conll2003", "squad-v1.1")] == [
        2, 3, 1, 1, 9, 2]
    with pytest.raises(ValueError, match="unknown task 'glue'; known tasks: cola, sst-2"):
        tasks.get("glue")
    with pytest.raises(ValueError, match="unknown kind 'ranking'"):
        tasks.Task("x", "ranking", (), None, {}, None)


def test_tasks_import_no_modeling_and_no_tensorflow():
    for path in (ROOT.parent / "bert_tf" / "tasks").glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom | ast.Import):
                module = node.module if isinstance(node, ast.ImportFrom) else node.names[0].name
                assert not module.startswith(("bert_tf.modeling", "keras")), (path.name, module)
    code = ("import sys, bert_tf.tasks; heavy = [m for m in ('tensorflow', 'keras', 'sklearn', 'scipy', 'seqeval') "
            "if m in sys.modules]; assert not heavy, heavy")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_glue_readers_columns_and_labels(glue_dir):
    assert texts(read(glue_dir, "cola", "train"))[1] == (
        "The more we study verbs, the crazier they get get.", None, "0")
    assert texts(read(glue_dir, "cola", "dev")) == [("Bill's dog \"barked\".", None, "1")]  # quotes literal
    assert texts(read(glue_dir, "cola", "test")) == [("Bill whistled past the house.", None, None),
                                                     ("Sue sang.", None, None)]
    assert texts(read(glue_dir, "sst-2", "train"))[1] == ("it 's a charming and often affecting journey . ", None,
                                                         "1")
    assert texts(read(glue_dir, "mrpc", "dev")) == [("He said \"no\".", "\"No,\" he said.", "1")]
    assert texts(read(glue_dir, "sts-b", "train")) == [
        ("A plane is taking off.", "An air plane is taking off.", 5.0), ("A man plays.", "A woman sings.", 0.5)]
    assert texts(read(glue_dir, "mnli", "dev_mismatched")) == [
        ("Your gift is appreciated.", "Hundreds gave.", "entailment")]
    assert [e.guid for e in read(glue_dir, "mnli", "dev")] == ["dev-9815"]
    assert texts(read(glue_dir, "qnli", "dev"))[0][2] == "entailment"
    assert texts(read(glue_dir, "rte", "test")) == [("Mangla was summoned.", "Shukla is related.", None)]
    assert texts(read(glue_dir, "wnli", "train"))[0][2] == "1"
    assert texts(read(glue_dir, "xnli", "train"))[0] == ("他说,妈妈,我回来了。", "他回来了。", "contradiction")
    assert texts(read(glue_dir, "xnli", "dev")) == [("我的猫。", "猫。", "entailment")]  # "zh" rows only
    assert tasks.get("xnli").files.keys() == {"train", "dev"}


def test_qqp_malformed_rows_skipped_and_counted(glue_dir, caplog):
    path = str(glue_dir / "QQP" / "train.tsv")
    rows, skipped = read_rows(path, Columns(3, 4, 5, skip_malformed=True))
    assert skipped == 1 and [line for line, _ in rows] == [2, 4]
    with pytest.raises(ValueError, match="train.tsv:3: 4 tab-separated fields, expected 6"):
        read_rows(path, Columns(3, 4, 5))
    with caplog.at_level("WARNING"):
        examples = read(glue_dir, "qqp", "train")
    assert texts(examples) == [("How is the life?", "How is life?", "1"), ("What is Java?", "Who am I?", "0")]
    assert "skipped 1 malformed rows" in caplog.text


@pytest.mark.parametrize("name,text,message", [
    ("RTE/train.tsv", "index\tsentence1\tsentence2\tlabel\n0\ta\tb\tentailment\n1\ta b\tentailment\n",
     r"train.tsv:3: 3 tab-separated fields, expected 4"),
    ("RTE/dev.tsv", "index\tsentence1\tsentence2\tlabel\n0\ta\tb\tmaybe\n",
     r"dev.tsv:2: unknown label 'maybe'; expected one of \['entailment', 'not_entailment'\]"),
    ("RTE/train.tsv", "", r"train.tsv: empty file"),
    ("RTE/dev.tsv", "index\tsentence1\tsentence2\tlabel\n", r"dev.tsv: no examples for split 'dev'"),
    ("CoLA/train.tsv", "gj04\t1\tsentence without the mark column\n", r"train.tsv:1: 3 tab-separated fields"),
    ("STS-B/dev.tsv", "a\tb\tc\td\te\tf\tg\th\ti\tscore\n0\t\t\t\t\t\t\tx\ty\thigh\n",
     r"dev.tsv:2: regression label 'high' is not a number"),
])
def test_bad_input_names_file_and_line(tmp_path, name, text, message):
    path = tmp_path / name
    path.parent.mkdir(parents=True)
    path.write_text(text, encoding="utf-8")
    task = tasks.get(path.parent.name)
    with pytest.raises(ValueError, match=message):
        task.read(str(path.parent), path.stem)


def test_unknown_split_and_missing_file(tmp_path):
    with pytest.raises(ValueError, match="unknown split 'dev_mismatched'"):
        tasks.get("rte").read(str(tmp_path), "dev_mismatched")
    with pytest.raises(FileNotFoundError, match="no dev file .*dev.tsv"):
        tasks.get("rte").read(str(tmp_path), "dev")


def _oracle(tmp_path, glue_dir, vocab_file, max_seq_length):
    jobs = [{"task": name, "data_dir": str(glue_dir / TASK_DIRS[name]), "vocab": vocab_file,
             "max_seq_length": max_seq_length, "splits": ["train", "dev"] + (["test"] if name != "xnli" else []),
             "padding": 2} for name in ("cola", "mnli", "mrpc", "xnli")]
    (tmp_path / "jobs.json").write_text(json.dumps(jobs))
    subprocess.run([sys.executable, str(ROOT / "classifier_oracle.py"), str(tmp_path / "jobs.json"),
                    str(tmp_path / "out.json")], check=True, capture_output=True)
    return dict(zip(("cola", "mnli", "mrpc", "xnli"), json.loads((tmp_path / "out.json").read_text()), strict=True))


@pytest.mark.parametrize("max_seq_length", [9])
def test_parity_with_original_processors_and_features(tmp_path, glue_dir, vocab_file, max_seq_length):
    """The original ColaProcessor/MnliProcessor/MrpcProcessor/XnliProcessor + convert_single_example, run in a
    subprocess, give the same texts, labels and features (incl. 2 padding examples), at a length that truncates."""
    tokenizer = FullTokenizer(vocab_file)
    for name, want in _oracle(tmp_path, glue_dir, vocab_file, max_seq_length).items():
        task = tasks.get(name)
        assert list(task.labels) == want["labels"]
        for split in ("train", "dev", "test"):
            if split not in want:
                continue
            examples = read(glue_dir, name, split)
            if split != "test":
                assert [list(t) for t in texts(examples)] == [e[1:] for e in want[split]["examples"]]
            else:
                assert [[e.text_a, e.text_b] for e in examples] == [e[1:3] for e in want[split]["examples"]]
            features = task.features(examples + [fd.PaddingInputExample()] * 2, tokenizer, max_seq_length)
            got = [[list(f.input_ids), list(f.input_mask), list(f.segment_ids), f.label_id, f.is_real_example]
                   for f in features]
            assert got == want[split]["features"], (name, split)


def test_metrics_hand_computed():
    assert metrics.accuracy([0, 1, 1, 0], [0, 1, 0, 0]) == {"accuracy": 0.75}
    assert metrics.accuracy([1, 0], [[0.2, 0.8], [0.3, 0.7]]) == {"accuracy": 0.5}  # argmax of scores
    # TP 2, FP 1, FN 1: P = R = 2/3.
    assert metrics.accuracy_and_f1([1, 1, 0, 0, 1], [1, 0, 0, 1, 1]) == pytest.approx({"accuracy": 0.6,
                                                                                       "f1": 2 / 3})
    # TP 1, TN 2, FP 0, FN 1: (1*2 - 0*1) / sqrt(1 * 2 * 2 * 3).
    assert metrics.matthews([1, 1, 0, 0], [1, 0, 0, 0]) == pytest.approx({"matthews_corrcoef": 2 / math.sqrt(12),
                                                                          "accuracy": 0.75})
    assert metrics.matthews([1, 1, 1], [1, 1, 1])["matthews_corrcoef"] == 0.0  # undefined -> 0
    # Deviations x (-1.5, -0.5, 0.5, 1.5), y (-3.25, -1.25, 0.75, 3.75): 11.5 / sqrt(5 * 26.75).
    assert metrics.pearson_spearman([1, 2, 3, 4], np.array([[2], [4], [6], [9]])) == pytest.approx(
        {"pearson": 11.5 / math.sqrt(133.75), "spearman": 1.0})
    assert metrics.pearson_spearman([1, 2, 3, 4], [1, 3, 2, 4])["spearman"] == pytest.approx(0.8)  # 1 - 6*2/60
    with pytest.raises(ValueError, match="3 labels but 2 predictions"):
        metrics.accuracy([0, 1, 1], [0, 1])


def test_entity_f1_hand_computed():
    tags = ("O", "B-PER", "I-PER", "B-LOC", "I-LOC", "B-ORG", "I-ORG")
    ig = fd.IGNORE_LABEL_ID
    # gold PER(0-1), LOC(3); predicted PER(0-1) (an I- after O starts an entity, as conlleval), ORG(3).
    labels = np.array([[ig, 1, 2, ig, 0, 3, ig], [ig, 0, ig, ig, ig, ig, ig]])
    predicted = np.array([[0, 2, 2, 5, 0, 5, 0], [0, 0, 0, 0, 0, 0, 0]])
    result = metrics.entity_f1(labels, predicted, tags)
    assert result == pytest.approx({"precision": 0.5, "recall": 0.5, "f1": 0.5, "accuracy": 3 / 5})
    scores = np.eye(len(tags))[predicted]  # [N, S, L] scores give the same result
    assert metrics.entity_f1(labels, scores, tags) == result
    assert metrics.tag_sequences(labels, predicted, tags) == (
        [["B-PER", "I-PER", "O", "B-LOC"], ["O"]], [["I-PER", "I-PER", "O", "B-ORG"], ["O"]])


def test_output_files(tmp_path):
    task = tasks.get("mnli")
    examples = [fd.InputExample("test_mismatched-7", "a", "b"), fd.InputExample("test_mismatched-9", "c", "d"),
                fd.PaddingInputExample()]
    probabilities = np.array([[0.25, 0.5, 0.25], [0.625, 0.125, 0.25], [1.0, 0.0, 0.0]], np.float32)
    files = task.write_predictions(str(tmp_path), "test_mismatched", examples, probabilities)
    assert pathlib.Path(files["results"]).name == "test_mismatched_results.tsv"
    assert pathlib.Path(files["results"]).read_text() == "0.25\t0.5\t0.25\n0.625\t0.125\t0.25\n"
    assert pathlib.Path(files["submission"]).name == "MNLI-mm.tsv"
    assert pathlib.Path(files["submission"]).read_text() == "index\tprediction\n7\tentailment\n9\tcontradiction\n"
    stsb = tasks.get("sts-b").write_predictions(str(tmp_path), "test", [fd.InputExample("test-0", "a", "b")],
                                                np.array([[3.14159]], np.float32))
    assert pathlib.Path(stsb["submission"]).read_text() == "index\tprediction\n0\t3.142\n"
    assert pathlib.Path(stsb["results"]).read_text() == "3.14159\n"
    assert "submission" not in tasks.get("cola").write_predictions(str(tmp_path), "dev", examples[:1],
                                                                   probabilities[:1, :2])
    path = bert_tf.files.write_eval_results(str(tmp_path / "eval_results.txt"),
                                            {"eval_loss": 0.5, "eval_accuracy": 1 / 3, "global_step": 343})
    # The original's format: numbers as str() of float32 (the Estimator's metrics were float32)
    assert pathlib.Path(path).read_text() == "eval_accuracy = 0.33333334\neval_loss = 0.5\nglobal_step = 343\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == [  # no temporary files left
        "MNLI-mm.tsv", "STS-B.tsv", "dev_results.tsv", "eval_results.txt", "test_mismatched_results.tsv",
        "test_results.tsv"]


def test_task_dataset_classification_and_regression(glue_dir, vocab_file):
    tokenizer = FullTokenizer(vocab_file)
    stsb = tasks.get("sts-b")
    arrays = stsb.arrays(stsb.features(read(glue_dir, "sts-b", "train"), tokenizer, 16))
    assert arrays["label_ids"].dtype == np.float32 and arrays["label_ids"].tolist() == [5.0, 0.5]
    batch = next(iter(stsb.dataset(stsb.features(read(glue_dir, "sts-b", "train"), tokenizer, 16), 2, False)))
    assert batch["input_ids"].shape == (2, 16) and batch["label_ids"].dtype.name == "float32"


def test_qqp_malformed_test_row_fails_naming_file_and_line(tmp_path, glue_dir):
    """Skipping a test row would silently drop its id from QQP.tsv, which the GLUE server rejects: it fails."""
    (tmp_path / "test.tsv").write_text(tsv(["id", "question1", "question2"], ["0", "Why?", "How?"],
                                           ["1", "a question whose pair was lost"], ["2", "Who?", "Whom?"]))
    with pytest.raises(ValueError, match=r"test.tsv:3: 2 tab-separated fields, expected 3; an unlabelled row "
                                         r"cannot be skipped: every test id needs a prediction"):
        tasks.get("qqp").read(str(tmp_path), "test")
    (tmp_path / "dev.tsv").write_text(tsv("id qid1 qid2 question1 question2 is_duplicate".split(),
                                          ["7", "1", "2", "Why?", "How?", "0"], ["8", "3", "4", "broken"]))
    assert [e.guid for e in tasks.get("qqp").read(str(tmp_path), "dev")] == ["dev-7"]  # dev still skips
    examples = read(glue_dir, "qqp", "test")
    assert [(e.guid, e.text_a, e.text_b, e.label) for e in examples] == [
        ("test-0", "Why do rockets look white?", "Why white?", None)]
