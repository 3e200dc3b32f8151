"""Tasks read from TensorFlow Datasets: the catalog's features and splits give the examples and features the task's
own files give for the same rows (GLUE TSV, SQuAD JSON, CoNLL), and datasets that do not fit are refused naming
the dataset and split.

The TFDS data is prepared offline here with `store_as_tfds_dataset`, with the catalog builder's own features
(`tfds.builder(name).info.features`, which needs no download), rows written by hand in the catalog's encoding
(class ids in the catalog's label order, `idx`, -1 for unlabelled test rows).
"""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
import tensorflow_datasets as tfds
from helpers import DATA, tiny_config, write_vocab
from test_finetuning import mrpc_fixture, squad_fixture
from test_tasks import GLUE_FILES

from bert_tf import tasks
from bert_tf.tasks import tfds as tfds_tasks
from bert_tf.tokenization import BasicTokenizer, FullTokenizer

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

SQUAD_CONTEXT = "Denver Broncos beat the Carolina Panthers 24\u201310 in Santa Clara, California."


def answer(text):
    return {"text": text, "answer_start": SQUAD_CONTEXT.index(text)}


SQUAD = {"version": "v2.0", "data": [{"title": "Super_Bowl", "paragraphs": [{"context": SQUAD_CONTEXT, "qas": [
    {"id": "q1", "question": "Who won?", "is_impossible": False,
     "answers": [answer("Denver Broncos")]},
    {"id": "q2", "question": "Who lost the final in Paris?", "is_impossible": True, "answers": [],
     "plausible_answers": [answer("Carolina Panthers")]},
    {"id": "q3", "question": "Where was it?", "is_impossible": False,
     "answers": [answer("Santa Clara, California")]},
]}]}]}
CONLL = ("-DOCSTART- -X- -X- O\n\nEU NNP B-NP I-ORG\nrejects VBZ B-VP O\nGerman JJ B-NP I-MISC\ncall NN I-NP O\n\n"
         "Peter NNP B-NP I-PER\nBlackburn NNP I-NP I-PER\nof IN B-PP O\nLondon NNP B-NP I-LOC\n")
CONLL_TAGS = ("O", "B-PER", "I-PER", "B-ORG", "I-ORG", "B-LOC", "I-LOC", "B-MISC", "I-MISC")


def squad_rows(data=SQUAD):
    """The catalog's rows (one per question) of a SQuAD JSON document."""
    def answers(found):
        return {"text": [a["text"] for a in found], "answer_start": [a["answer_start"] for a in found]}

    return [{"id": qa["id"], "title": article["title"], "context": paragraph["context"], "question": qa["question"],
             "answers": answers(qa["answers"]), "plausible_answers": answers(qa.get("plausible_answers", [])),
             "is_impossible": qa["is_impossible"]}
            for article in data["data"] for paragraph in article["paragraphs"] for qa in paragraph["qas"]]


def conll_rows():
    sentences = [block.splitlines() for block in CONLL.split("\n\n")[1:]]
    return [{"tokens": [line.split()[0] for line in lines], "pos": [0] * len(lines), "chunks": [0] * len(lines),
             "ner": [CONLL_TAGS.index(line.split()[3]) for line in lines]} for lines in sentences]


def glue_row(idx, label, **texts):
    return {"idx": idx, "label": label, **texts}


# The GLUE fixtures of test_tasks.py as the catalog holds them; rows given out of idx order on purpose.
MRPC = {"train": [glue_row(1, 0, sentence1="Yucaipa owned Dominick's.", sentence2="Yucaipa sold it."),
                  glue_row(0, 1, sentence1="Amrozi accused his brother.", sentence2="He accused him.")],
        "validation": [glue_row(0, 1, sentence1='He said "no".', sentence2='"No," he said.')],
        "test": [glue_row(0, -1, sentence1="PCCW's chief will report.", sentence2="Current Chief reports.")]}
MNLI = {  # the catalog's labels: entailment 0, neutral 1, contradiction 2
    "train": [glue_row(0, 1, premise="Conceptually cream skimming.", hypothesis="Product and geography.")],
    "validation_matched": [glue_row(9815, 1, premise="The new rights are nice.", hypothesis="Everyone loves them.")],
    "validation_mismatched": [glue_row(7, 0, premise="Your gift is appreciated.", hypothesis="Hundreds gave.")],
    "test_matched": [glue_row(3, -1, premise="Hierbas, ans seco.", hypothesis="There is a bottle.")],
    "test_mismatched": [glue_row(4, -1, premise="What we have.", hypothesis="We have nothing.")]}
STSB = {"train": [glue_row(1, 0.5, sentence1="A man plays.", sentence2="A woman sings."),
                  glue_row(0, 5.0, sentence1="A plane is taking off.", sentence2="An air plane is taking off.")],
        "validation": [glue_row(0, 4.75, sentence1="A man is dancing.", sentence2="A man dances.")]}


def store(data_dir, name, splits, disable_shuffling=False):
    """`splits` stored as the catalog dataset `name` ("glue/mrpc") in data_dir, with the catalog's features."""
    catalog = tfds.builder(name)
    config = catalog.builder_config.name if catalog.builder_config else None  # conll2003's default config too
    tfds.dataset_builders.store_as_tfds_dataset(
        name=catalog.name, version=str(catalog.version), config=config, features=catalog.info.features,
        split_datasets={split: list(enumerate(rows)) for split, rows in splits.items()}, data_dir=str(data_dir),
        disable_shuffling=disable_shuffling)


@pytest.fixture(scope="module")
def sources(tmp_path_factory):
    """(files folder, TFDS data_dir, vocab): each task's files and the same rows as TFDS datasets."""
    root = tmp_path_factory.mktemp("tfds_tasks")
    files = root / "files"
    for folder in ("MRPC", "MNLI", "STS-B"):
        for name, text in GLUE_FILES[folder].items():
            (files / folder).mkdir(parents=True, exist_ok=True)
            (files / folder / name).write_text(text, encoding="utf-8")
    (files / "squad").mkdir()
    (files / "squad" / "train-v2.0.json").write_text(json.dumps(SQUAD))
    (files / "squad" / "dev-v2.0.json").write_text(json.dumps(SQUAD))
    (files / "conll").mkdir()
    for name in ("eng.train", "eng.testa"):
        (files / "conll" / name).write_text(CONLL)
    data_dir = root / "tfds"
    store(data_dir, "glue/mrpc", MRPC)
    store(data_dir, "glue/mnli", MNLI)
    store(data_dir, "glue/stsb", STSB)
    # The order of SQuAD and CoNLL rows is the files' order only when kept (the catalog's hash order otherwise).
    store(data_dir, "squad/v2.0", {"train": squad_rows(), "validation": squad_rows()}, disable_shuffling=True)
    store(data_dir, "conll2003", {"train": conll_rows(), "dev": conll_rows()}, disable_shuffling=True)
    texts = [t for g in ("MRPC", "MNLI", "STS-B") for t in GLUE_FILES[g].values()] + [json.dumps(SQUAD), CONLL]
    basic = BasicTokenizer(do_lower_case=True)
    words = sorted({t for text in texts for t in basic.tokenize(text)})
    vocab = write_vocab(root / "vocab.txt", ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *words])
    return files, str(data_dir), FullTokenizer(vocab)


def assert_same_features(task, ours, theirs, tokenizer, **options):
    a = task.arrays(task.features(ours, tokenizer, 48, **options))
    b = task.arrays(task.features(theirs, tokenizer, 48, **options))
    assert a.keys() == b.keys()
    for key in a:
        np.testing.assert_array_equal(a[key], b[key], err_msg=key)


@pytest.mark.parametrize("task_name, folder, tfds_name", [
    ("mrpc", "MRPC", "glue/mrpc"), ("mnli", "MNLI", "glue/mnli"), ("sts-b", "STS-B", "glue/stsb")])
def test_glue_examples_and_features_equal_the_tsv_files(sources, task_name, folder, tfds_name):
    files, data_dir, tokenizer = sources
    task = tasks.get(task_name)
    assert tfds_tasks.task_name(tfds_name) == task_name
    catalog = {"mrpc": MRPC, "mnli": MNLI, "sts-b": STSB}[task_name]
    splits = [s for s in task.files if tfds_tasks.SPLITS[s] in catalog or f"{tfds_tasks.SPLITS[s]}_matched" in catalog]
    assert splits == {"mrpc": ["train", "dev", "test"], "sts-b": ["train", "dev"],
                      "mnli": ["train", "dev", "dev_mismatched", "test", "test_mismatched"]}[task_name]
    for split in splits:
        from_files = task.read(str(files / folder), split)
        from_tfds = tfds_tasks.read(task, tfds_name, split, data_dir)
        assert from_tfds == from_files, split  # texts, labels ("0"/"1", NLI names, floats, None) and guids
        assert_same_features(task, from_tfds, from_files, tokenizer)


def test_squad_v2_examples_and_windows_equal_the_json_file(sources):
    files, data_dir, tokenizer = sources
    task = tasks.get(tfds_tasks.task_name("squad/v2.0"))
    windows = dict(doc_stride=8, max_query_length=6)
    for split, training in (("train", True), ("dev", False)):
        from_file = task.read_file(str(files / "squad" / f"{split}-v2.0.json"), split)
        from_tfds = tfds_tasks.read(task, "squad/v2.0", split, data_dir)
        assert from_tfds == from_file
        assert_same_features(task, from_tfds, from_file, tokenizer, training=training, **windows)
        if training:  # the answers' word positions; is_impossible is read for training only, as the original
            assert [(e.start_position, e.end_position, e.is_impossible) for e in from_tfds] == [
                (0, 1, False), (-1, -1, True), (8, 10, False)]


def test_conll_examples_and_features_equal_the_files(sources):
    files, data_dir, tokenizer = sources
    task = tasks.get("conll2003")
    for split in ("train", "dev"):
        from_file = task.read(str(files / "conll"), split)
        from_tfds = tfds_tasks.read(task, "conll2003", split, data_dir)
        assert from_tfds == from_file
        assert_same_features(task, from_tfds, from_file, tokenizer)
    assert from_tfds[0].tags == ("B-ORG", "O", "B-MISC", "O")  # IOB1 made IOB2, as the file reader does


@pytest.mark.parametrize("task_name, tfds_name, split, message", [
    ("mrpc", "glue/stsb", "dev", "TFDS dataset 'glue/stsb' split 'validation' does not fit task mrpc: its label is a "
                                 "number, the task's is class names"),
    ("sts-b", "glue/mrpc", "dev", "does not fit task sts-b: its label is class names"),
    ("rte", "glue/mnli", "dev", "TFDS dataset 'glue/mnli' split 'validation_matched' does not fit task rte: label "
                                "names ['entailment', 'neutral', 'contradiction']"),
    ("squad-v2.0", "glue/mrpc", "dev", "does not fit task squad-v2.0: no feature 'id'"),
    ("conll2003", "squad/v2.0", "train", "does not fit task conll2003: no feature 'tokens'"),
    ("sts-b", "glue/stsb", "test", "TFDS dataset 'glue/stsb' has no split for 'test' (it has ['train', "
                                   "'validation'])"),
    ("rte", "glue/rte", "dev", "TFDS dataset 'glue/rte' is not prepared in"),
    ("swag", "glue/mrpc", "dev", "task swag (multiple_choice) has no TFDS reader"),
])
def test_datasets_that_do_not_fit_are_refused_naming_dataset_and_split(sources, task_name, tfds_name, split,
                                                                       message):
    _, data_dir, _ = sources
    with pytest.raises(ValueError) as error:
        tfds_tasks.read(tasks.get(task_name), tfds_name, split, data_dir)
    assert message in str(error.value)


def test_catalog_names_without_a_task_need_task_name():
    assert tfds_tasks.task_name("glue/mnli:2.0.0") == "mnli"
    with pytest.raises(ValueError, match="'glue/ax' is not one of a task's .* give --task_name"):
        tfds_tasks.task_name("glue/ax")


def run_classifier(tmp_path, out, *source):
    subprocess.run([sys.executable, f"{ROOT}/run_classifier.py", *source, f"--vocab_file={tmp_path / 'vocab.txt'}",
                    f"--bert_config_file={tmp_path / 'bert_config.json'}", f"--output_dir={out}", "--do_train",
                    "--do_eval", "--do_predict", "--train_batch_size=8", "--num_train_epochs=1",
                    "--max_seq_length=24", "--seed=3"], check=True, capture_output=True)
    return json.loads((out / "eval_results.json").read_text()), (out / "test_results.tsv").read_text()


@pytest.mark.slow
def test_run_classifier_from_tfds_equals_the_tsv_run(tmp_path):
    """The same MRPC rows from TSV files and from TFDS: the same trained model, metrics and test predictions."""
    import csv

    from test_finetuning import VOCAB

    mrpc_fixture(str(tmp_path / "mrpc"))
    write_vocab(tmp_path / "vocab.txt", VOCAB)
    tiny_config(max_position_embeddings=64).to_json_file(str(tmp_path / "bert_config.json"))
    catalog = {}
    for split, name in (("train", "train"), ("dev", "validation"), ("test", "test")):
        with open(tmp_path / "mrpc" / f"{split}.tsv") as f:
            rows = list(csv.reader(f, delimiter="\t", quotechar=None))[1:]
        catalog[name] = [glue_row(i, -1 if split == "test" else int(r[0]), sentence1=r[3], sentence2=r[4])
                         for i, r in enumerate(rows)]
    store(tmp_path / "tfds", "glue/mrpc", catalog)
    tsv = run_classifier(tmp_path, tmp_path / "tsv", f"--data_dir={tmp_path / 'mrpc'}", "--task_name=MRPC")
    from_tfds = run_classifier(tmp_path, tmp_path / "from_tfds", "--tfds_name=glue/mrpc",
                               f"--tfds_data_dir={tmp_path / 'tfds'}")
    assert from_tfds == tsv
    refused = subprocess.run([sys.executable, f"{ROOT}/run_classifier.py", "--tfds_name=glue/mrpc", "--task_name=sts-b",
                              f"--tfds_data_dir={tmp_path / 'tfds'}", f"--vocab_file={tmp_path / 'vocab.txt'}",
                              f"--bert_config_file={tmp_path / 'bert_config.json'}", f"--output_dir={tmp_path / 'x'}",
                              "--max_seq_length=24", "--do_eval"], capture_output=True, text=True)
    assert refused.returncode == 1
    assert "run_classifier.py: error: TFDS dataset 'glue/mrpc' split 'validation' does not fit task sts-b" in \
        refused.stderr


@pytest.mark.slow
def test_run_squad_from_tfds_equals_the_json_run(tmp_path):
    from test_finetuning import VOCAB

    squad_fixture(tmp_path / "squad.json")
    write_vocab(tmp_path / "vocab.txt", VOCAB)
    tiny_config(max_position_embeddings=64).to_json_file(str(tmp_path / "bert_config.json"))
    rows = squad_rows(json.loads((tmp_path / "squad.json").read_text()))
    store(tmp_path / "tfds", "squad/v2.0", {"train": rows, "validation": rows}, disable_shuffling=True)

    def run_squad(out, *source):
        subprocess.run([sys.executable, f"{ROOT}/run_squad.py", *source, f"--vocab_file={tmp_path / 'vocab.txt'}",
                        f"--bert_config_file={tmp_path / 'bert_config.json'}", f"--output_dir={out}", "--do_train",
                        "--do_predict", "--max_seq_length=24", "--doc_stride=8", "--max_query_length=8",
                        "--train_batch_size=2", "--num_train_epochs=1", "--seed=5"], check=True, capture_output=True)
        return [(out / name).read_text() for name in ("predictions.json", "null_odds.json", "eval_results.json")]

    from_json = run_squad(tmp_path / "json", f"--train_file={tmp_path / 'squad.json'}",
                          f"--predict_file={tmp_path / 'squad.json'}", "--version_2_with_negative")
    assert run_squad(tmp_path / "from_tfds", "--tfds_name=squad/v2.0", f"--tfds_data_dir={tmp_path / 'tfds'}") == \
        from_json
    refused = subprocess.run([sys.executable, f"{ROOT}/run_squad.py", "--tfds_name=glue/mrpc", "--do_predict",
                              f"--vocab_file={tmp_path / 'vocab.txt'}", f"--output_dir={tmp_path / 'x'}",
                              f"--bert_config_file={tmp_path / 'bert_config.json'}"], capture_output=True, text=True)
    assert refused.returncode == 1
    assert "run_squad.py: error: --tfds_name=glue/mrpc is not SQuAD (its task is mrpc)" in refused.stderr


@pytest.mark.slow
def test_real_squad_and_conll_through_tfds(tmp_path):
    """The real SQuAD v2.0 dev articles and CoNLL-2003 dev file (shared data) as the catalog holds them: the same
    examples and features."""
    tokenizer = FullTokenizer(str(DATA / "bert_base_uncased" / "vocab.txt"))
    squad_file = DATA / "squad" / "dev-v2.0.first5.json"
    store(tmp_path, "squad/v2.0", {"validation": squad_rows(json.loads(squad_file.read_text()))},
          disable_shuffling=True)
    squad = tasks.get("squad-v2.0")
    from_tfds = tfds_tasks.read(squad, "squad/v2.0", "dev", str(tmp_path))
    from_file = squad.read_file(str(squad_file), "dev")
    assert from_tfds == from_file and len(from_file) > 1000
    assert_same_features(squad, from_tfds, from_file, tokenizer, training=False, doc_stride=16, max_query_length=12)
    sentences = [[]]
    for line in (DATA / "conll2003" / "eng.testa").read_text().splitlines():
        fields = line.split()
        if fields and fields[0] != "-DOCSTART-":
            sentences[-1].append(fields)
        elif sentences[-1]:
            sentences.append([])
    rows = [{"tokens": [f[0] for f in lines], "pos": [0] * len(lines), "chunks": [0] * len(lines),
             "ner": [CONLL_TAGS.index(f[3]) for f in lines]} for lines in sentences if lines]
    store(tmp_path, "conll2003", {"dev": rows}, disable_shuffling=True)
    conll = tasks.get("conll2003")
    from_tfds = tfds_tasks.read(conll, "conll2003", "dev", str(tmp_path))
    from_file = conll.read(str(DATA / "conll2003"), "dev")
    assert from_tfds == from_file and len(from_file) > 3000
    assert_same_features(conll, from_tfds, from_file, tokenizer)


@pytest.mark.slow
@pytest.mark.parametrize("task_name, folder, tfds_name, columns", [
    ("mrpc", "MRPC", "glue/mrpc", (3, 4, 0)), ("rte", "RTE", "glue/rte", (1, 2, 3)),
    ("sts-b", "STS-B", "glue/stsb", (7, 8, 9))])
def test_real_glue_dev_sets_equal_through_tfds(tmp_path, task_name, folder, tfds_name, columns):
    """The real dev files (shared data) stored as the catalog holds them give the same features (STS-B's scores
    are float32 in the catalog, so its examples' labels differ in the last digits; label_ids are float32 either
    way)."""
    import csv

    task = tasks.get(task_name)
    with open(DATA / "glue" / folder / "dev.tsv", encoding="utf-8-sig") as f:
        rows = list(csv.reader(f, delimiter="\t", quotechar=None))[1:]
    names = getattr(tfds.builder(tfds_name).info.features["label"], "names", None)
    a, b, label = columns
    catalog = [glue_row(i, names.index(r[label]) if names and r[label] in names else
                        (int(r[label]) if names else float(r[label])), sentence1=r[a], sentence2=r[b])
               for i, r in enumerate(rows)]
    store(tmp_path, tfds_name, {"validation": catalog})
    tokenizer = FullTokenizer(str(DATA / "bert_base_uncased" / "vocab.txt"))
    assert_same_features(task, tfds_tasks.read(task, tfds_name, "dev", str(tmp_path)),
                         task.read(str(DATA / "glue" / folder), "dev"), tokenizer)
