"""SQuAD: reading (§6.1), sliding windows (§6.2), post-processing (§6.4, §6.5) and the official evaluation
semantics (§6.6): worked examples by hand, and parity with the ORIGINAL run_squad functions (run in a
subprocess) on a small SQuAD-format fixture: identical examples and features, byte-identical output files given
identical logits."""

import json
import pathlib
import subprocess
import sys

import numpy as np
import pytest
from helpers import write_vocab

from bert_tf import tasks
from bert_tf.tasks import squad_data as sd
from bert_tf.tasks import squad_eval as se
from bert_tf.tasks import squad_predictions as sp
from bert_tf.tokenization import BasicTokenizer, FullTokenizer

ROOT = pathlib.Path(__file__).parent
NNBSP = "\u202f"
CONTEXT_1 = ("Architect Ludwig Mies van der Rohe (1886-1969). was born in Aachen; he led the Bauhaus school "
             f"from 1930 until 1933.{NNBSP}Later he moved to Chicago, where he taught at the Armour Institute and "
             "designed the Seagram Building in New York with Philip Johnson. The Café Müller's terrace, built in "
             "1951, faces the\tlake.  Critics called his towers \"skin and bones\" architecture.")
CONTEXT_2 = "Super Bowl 50 was an American football game. The Denver Broncos defeated the Carolina Panthers 24–10."


def answer(context, text, occurrence=0):
    start = -1
    for _ in range(occurrence + 1):
        start = context.index(text, start + 1)
    return {"text": text, "answer_start": start}


def squad_json(version_2):
    qas_1 = [
        {"id": "q-born", "question": "When was Mies born?", "answers": [answer(CONTEXT_1, "1886")]},
        {"id": "q-led", "question": "What school did he lead from 1930?", "answers": [answer(CONTEXT_1, "Bauhaus")]},
        {"id": "q-nyc", "question": "Which building did he design in New York with Philip Johnson?",
         "answers": [answer(CONTEXT_1, "Seagram Building")]},
        {"id": "q-cafe", "question": "Whose terrace was built in 1951?",
         "answers": [answer(CONTEXT_1, "Café Müller's")]},
        {"id": "q-moved", "question": "Where did he move later?", "answers": [answer(CONTEXT_1, "Chicago")]},
        # answer_start points at the wrong word: "Aachen" is not in that span -> skipped in training
        {"id": "q-bad", "question": "Where was he born?",
         "answers": [{"text": "Aachen", "answer_start": CONTEXT_1.index("Bauhaus")}]},
        {"id": "q-bones", "question": "What did critics call it?", "answers": [answer(CONTEXT_1, "skin and bones")]},
    ]
    qas_2 = [{"id": "q-win", "question": "Who won Super Bowl 50?", "answers": [answer(CONTEXT_2, "Denver Broncos")]},
             {"id": "q-score", "question": "What was the score?", "answers": [answer(CONTEXT_2, "24–10")]}]
    if version_2:
        for qa in qas_1 + qas_2:
            qa["is_impossible"] = False
        qas_2.append({"id": "q-none", "question": "Who lost Super Bowl 49?", "answers": [], "is_impossible": True,
                      "plausible_answers": [answer(CONTEXT_2, "Carolina Panthers")]})
        qas_1.append({"id": "q-none2", "question": "When did Mies die in Berlin?", "answers": [],
                      "is_impossible": True, "plausible_answers": [answer(CONTEXT_1, "1969")]})
    data = [{"title": "Mies", "paragraphs": [{"context": CONTEXT_1, "qas": qas_1}]},
            {"title": "Super_Bowl_50", "paragraphs": [{"context": CONTEXT_2, "qas": qas_2}]}]
    return {"version": "v2.0" if version_2 else "1.1", "data": data}


@pytest.fixture(scope="module")
def squad_files(tmp_path_factory):
    root = tmp_path_factory.mktemp("squad")
    texts = [CONTEXT_1, CONTEXT_2]
    for version_2 in (False, True):
        data = squad_json(version_2)
        (root / f"v{2 if version_2 else 1}.json").write_text(json.dumps(data), encoding="utf-8")
        texts += [qa["question"] for a in data["data"] for p in a["paragraphs"] for qa in p["qas"]]
    basic = BasicTokenizer(do_lower_case=True)
    words = sorted({t for text in texts for t in basic.tokenize(text)} - {"chicago"})  # one [UNK] word
    pieces = sorted({p for w in words for p in ((w[:3], "##" + w[3:]) if len(w) > 5 else (w,))})
    vocab = write_vocab(root / "vocab.txt", ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *pieces])
    return {"v1": str(root / "v1.json"), "v2": str(root / "v2.json"), "vocab": vocab, "root": root}


def test_doc_spans_worked_example():
    """Spec checklist: 500 pieces, max_seq_length 384, query 10, stride 128 -> 0/128/256 with 371/371/244."""
    assert sd.doc_spans(500, 384 - 10 - 3, 128) == [(0, 371), (128, 371), (256, 244)]
    assert sd.doc_spans(371, 371, 128) == [(0, 371)]
    assert sd.doc_spans(0, 371, 128) == []


def test_windows_through_features(tmp_path):
    vocab = write_vocab(tmp_path / "vocab.txt", ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "w", "q"])
    example = sd.SquadExample("x", " ".join(["q"] * 12), ("w",) * 500)
    features = sd.convert_examples_to_features([example], FullTokenizer(vocab), 384, 128, 10, training=False)
    assert [(f.doc_span_index, f.unique_id, len(f.tokens)) for f in features] == [
        (0, 1_000_000_000, 384), (1, 1_000_000_001, 384), (2, 1_000_000_002, 1 + 10 + 1 + 244 + 1)]
    f = features[2]
    assert f.tokens[:12] == ("[CLS]",) + ("q",) * 10 + ("[SEP]",) and f.tokens[-1] == "[SEP]"
    assert f.segment_ids == (0,) * 12 + (1,) * 245 + (0,) * 127 and f.input_mask == (1,) * 257 + (0,) * 127
    with pytest.raises(ValueError, match="max_seq_length 13 must exceed max_query_length 10 \\+ 3"):
        sd.convert_examples_to_features([example], FullTokenizer(vocab), 13, 128, 10, training=False)
    assert f.token_to_orig_map[12] == 256 and f.token_to_orig_map[255] == 499 and 256 not in f.token_to_orig_map
    def owns(window, word):
        return features[window].token_is_max_context[12 + word - 128 * window]

    # word 400: min(272, 98) + 3.71 in window 1 beats min(144, 99) + 2.44 in window 2, which owns only word 499;
    # word 249 ties between windows 0 and 1 (121 + 3.71 each): the first keeps it.
    assert owns(1, 400) and not owns(2, 400) and owns(2, 499) and not owns(2, 498)
    assert owns(0, 249) and not owns(1, 249) and owns(1, 250) and not owns(0, 250)


def test_max_context_rule():
    spans = [(0, 371), (128, 371), (256, 244)]
    assert sd.max_context_span(spans, 200) == 0  # min(200, 170) + 3.71 > min(72, 298) + 3.71
    assert sd.max_context_span(spans, 300) == 1  # 70 + 3.71 < 172 + 3.71 > 44 + 2.44
    assert sd.max_context_span(spans, 499) == 2
    assert sd.max_context_span([(0, 5), (2, 5)], 3) == 0  # tie 1.05 vs 1.05: the first span keeps it
    assert sd.max_context_span([(0, 4), (2, 4)], 3) == 1  # 0.04 vs 1.04


def test_reading_whitespace_offsets_and_skips(squad_files, caplog):
    with caplog.at_level("WARNING"):
        examples = sd.read_squad_examples(squad_files["v1"], training=True)
    assert "q-bad" not in [e.qas_id for e in examples] and "could not find answer" in caplog.text
    assert "skipped 1 questions" in caplog.text
    born = examples[0]
    assert born.doc_tokens[5:8] == ("Rohe", "(1886-1969).", "was")  # whitespace words, punctuation kept
    assert (born.start_position, born.end_position, born.orig_answer_text) == (6, 6, "1886")
    cafe = next(e for e in examples if e.qas_id == "q-cafe")
    assert cafe.doc_tokens[cafe.start_position:cafe.end_position + 1] == ("Café", "Müller's")
    assert "1933.\u202fLater" not in born.doc_tokens and "1933." in born.doc_tokens  # U+202F splits words
    dev = sd.read_squad_examples(squad_files["v1"], training=False)
    assert len(dev) == 9 and dev[5].qas_id == "q-bad" and dev[5].start_position is None
    assert dev[5].answers == ("Aachen",)


def test_training_labels_improved_span_and_out_of_span(squad_files):
    tokenizer = FullTokenizer(squad_files["vocab"])
    examples = sd.read_squad_examples(squad_files["v2"], training=True, version_2_with_negative=True)
    features = sd.convert_examples_to_features(examples, tokenizer, 40, 8, 6, training=True)
    born = [f for f in features if f.example_index == 0]
    inside = [f for f in born if f.start_position > 0]
    assert len(inside) == 2 and all(f.tokens[f.start_position:f.end_position + 1] == ("1886",) for f in inside)
    # "(1886-1969)." is the word; _improve_answer_span narrows the pieces to "1886".
    assert all((f.start_position, f.end_position) == (0, 0) for f in born if f not in inside)
    impossible = [f for f in features if examples[f.example_index].is_impossible]
    assert impossible and all((f.start_position, f.end_position, f.is_impossible) == (0, 0, True)
                              for f in impossible)
    assert sd.improve_answer_span(["(", "1886", "-", "1969", ")", "."], 0, 5, tokenizer, "1886") == (1, 1)
    assert sd.improve_answer_span(["(", "1886", ")"], 0, 2, tokenizer, "1887") == (0, 2)  # no match: unchanged
    arrays = sd.feature_arrays(features)
    assert arrays["input_ids"].shape == (len(features), 40) and arrays["unique_ids"][0] == 1_000_000_000
    assert arrays["start_positions"].tolist() == [f.start_position for f in features]
    batch = next(iter(tasks.get("squad-v2.0").dataset(features, 4, training=True, seed=0)))
    assert sorted(batch) == ["end_positions", "input_ids", "input_mask", "is_real_example", "segment_ids",
                             "start_positions", "unique_ids"]
    assert batch["input_ids"].shape == (4, 40) and batch["unique_ids"].dtype.name == "int32"
    assert "start_positions" not in sd.feature_arrays(sd.convert_examples_to_features(
        examples[:1], tokenizer, 40, 8, 6, training=False))  # prediction features carry no labels


def test_training_shuffle_is_the_originals(squad_files):
    import random

    examples = sd.read_squad_examples(squad_files["v1"], training=True)
    want = list(examples)
    random.Random(12345).shuffle(want)
    assert sd.shuffled_for_training(examples) == want != examples


def test_bad_squad_input(tmp_path):
    path = tmp_path / "train.json"
    two = {"data": [{"paragraphs": [{"context": "a b", "qas": [
        {"id": "q1", "question": "?", "answers": [{"text": "a", "answer_start": 0}] * 2}]}]}]}
    path.write_text(json.dumps(two))
    with pytest.raises(ValueError, match="question q1: for training, each question should have exactly 1 answer"):
        sd.read_squad_examples(str(path), training=True)
    two["data"][0]["paragraphs"][0]["qas"][0]["answers"] = [{"text": "b c", "answer_start": 2}]
    path.write_text(json.dumps(two))
    with pytest.raises(ValueError, match="answer_start 2 \\+ 3 chars outside context"):
        sd.read_squad_examples(str(path), training=True)
    path.write_text("")
    with pytest.raises(ValueError, match="train.json: not a SQuAD file"):
        sd.read_squad_examples(str(path), training=False)
    path.write_text('{"data": []}')
    with pytest.raises(ValueError, match="train.json: no questions"):
        sd.read_squad_examples(str(path), training=False)


def _feature(tokens, context_positions, max_context=None):
    """A hand-made window: token_to_orig_map maps the given positions to words 0, 1, ..."""
    orig = {p: i for i, p in enumerate(context_positions)}
    return sd.SquadFeatures(1_000_000_000, 0, 0, tuple(tokens), orig,
                            max_context or {p: True for p in context_positions}, (), (), ())


def test_postprocessing_rules_by_hand():
    example = sd.SquadExample("q", "who ?", ("The", "Cat", "sat", "(quietly)."))
    feature = _feature(["[CLS]", "who", "[SEP]", "the", "cat", "sat", "(", "quietly", ")", ".", "[SEP]"],
                       [3, 4, 5, 6, 7, 8, 9], None)
    feature.token_to_orig_map.update({6: 3, 7: 3, 8: 3, 9: 3})
    start = [0.0] * 12
    end = [0.0] * 12
    start[1], end[1] = 9.0, 9.0  # best pair lies in the query: never a candidate
    start[4], end[5] = 5.0, 4.0  # "cat sat" -> projected back to "Cat sat"
    start[7] = 4.5  # "quietly" inside "(quietly)." -> "quietly"
    end[3] = 6.0  # end before start (4 > 3): dropped
    end[7] = 3.0  # "cat sat ( quietly" 8.0, "quietly" 7.5
    result = sp.RawResult(1_000_000_000, start, end)
    answers, nbest, null_odds = sp.predictions([example], [feature], [result], n_best_size=4, max_answer_length=30)
    assert answers == {"q": "Cat sat"} and null_odds == {}
    assert [e["text"] for e in nbest["q"]] == ["Cat sat", "Cat sat (quietly", "quietly"]
    assert sum(e["probability"] for e in nbest["q"]) == pytest.approx(1.0)
    short, _, _ = sp.predictions([example], [feature], [result], n_best_size=4, max_answer_length=1)
    assert short == {"q": "quietly"}  # "cat sat" is 2 pieces long
    not_owner = _feature(feature.tokens, [3, 4, 5, 6, 7, 8, 9], {p: p != 4 for p in range(3, 10)})
    not_owner.token_to_orig_map.update(feature.token_to_orig_map)
    assert sp.predictions([example], [not_owner], [result], n_best_size=4)[0] == {"q": "quietly"}


def test_get_final_text_projection():
    assert sp.get_final_text("steve smith", "Steve Smith's", True) == "Steve Smith"
    assert sp.get_final_text("1895", "(1895-1943).", True) == "1895"
    assert sp.get_final_text("cafe muller", "Café Müller's", True) == "Café Müller"
    assert sp.get_final_text("[UNK] sat", "Cat sat", True) == "Cat sat"  # not found: the original words
    assert sp.get_final_text("cat", "Cat", False) == "Cat"  # cased: "cat" is not in "Cat" -> fallback


def test_v2_null_threshold_and_empty_nbest_fix():
    example = sd.SquadExample("q", "who ?", ("The", "Cat"))
    feature = _feature(["[CLS]", "who", "[SEP]", "the", "cat", "[SEP]"], [3, 4])
    start, end = [2.0, 0, 0, 1.0, 0.5, 0], [1.0, 0, 0, 0.5, 1.5, 0]
    result = sp.RawResult(1_000_000_000, start, end)
    answers, nbest, odds = sp.predictions([example], [feature], [result], version_2_with_negative=True)
    # score_null 3.0; best non-null "the cat" 1.0 + 1.5 = 2.5; diff 0.5 > 0.0 -> ""
    assert odds == {"q": 0.5} and answers == {"q": ""}
    assert [e["text"] for e in nbest["q"]] == ["", "The Cat", "Cat", "The"]
    answers, _, _ = sp.predictions([example], [feature], [result], version_2_with_negative=True,
                                   null_score_diff_threshold=0.75)
    assert answers == {"q": "The Cat"}
    # Every start beats every end in the query: no non-null span survives. The original crashes here
    # (AttributeError on best_non_null_entry); the fix predicts "" with odds threshold + 1.0.
    query_only = sp.RawResult(1_000_000_000, [0.0, 9.0, 0, -5, -5, 0], [0.0, 9.0, 0, -5, -5, 0])
    answers, nbest, odds = sp.predictions([example], [feature], [query_only], n_best_size=1,
                                          version_2_with_negative=True, null_score_diff_threshold=0.25)
    assert answers == {"q": ""} and odds == {"q": 1.25}
    assert nbest["q"] == [{"text": "", "probability": 1.0, "start_logit": 0.0, "end_logit": 0.0}]
    v1, nbest1, _ = sp.predictions([example], [feature], [query_only], n_best_size=1)
    assert v1 == {"q": "empty"} and nbest1["q"][0]["text"] == "empty"  # v1: the original's "empty" entry


def test_official_evaluation_semantics():
    assert se.normalize_answer("The  Cat!") == "cat" and se.exact_match("The  Cat!", "cat")
    assert se.f1_v1("x y z", "y z w") == pytest.approx(2 / 3) and round(se.f1_v1("x y z", "y z w"), 3) == 0.667
    assert se.f1_v1("a b c", "b c d") == pytest.approx(0.8)  # "a" is an article: "b c" vs "b c d"
    assert se.f1_v1("", "") == 0.0 and se.f1_v2("", "") == 1.0 and se.f1_v2("the", "") == 1.0
    assert se.f1_v2("cat", "") == 0.0
    gold = {"1": ["The Cat", "a cat"], "2": ["Denver Broncos"], "3": ["x"]}
    assert se.evaluate_v1(gold, {"1": "cat", "2": "the Denver team"}) == pytest.approx(
        {"exact_match": 100 / 3, "f1": 100 * (1 + 0.5) / 3})  # "denver team" vs "denver broncos": P=R=1/2


def test_v2_evaluation_hand_computed():
    gold = {"a": ["Paris"], "b": ["Rome", "the Rome"], "c": [], "d": []}
    predictions = {"a": "Paris", "b": "Milan", "c": "", "d": "London"}
    result = se.evaluate_v2(gold, predictions)
    assert result == pytest.approx({"exact": 50.0, "f1": 50.0, "total": 4, "HasAns_exact": 50.0,
                                    "HasAns_f1": 50.0, "HasAns_total": 2, "NoAns_exact": 50.0, "NoAns_f1": 50.0,
                                    "NoAns_total": 2})
    na_probs = {"a": -3.0, "b": 2.0, "c": 5.0, "d": 1.0}
    result = se.evaluate_v2(gold, predictions, na_probs, na_prob_thresh=1.5)
    # thresholded: b -> no answer (0, has an answer), c -> 1; a and d keep their raw scores 1 and 0
    assert result["exact"] == 50.0 and result["HasAns_exact"] == 50.0 and result["NoAns_exact"] == 50.0
    # best threshold: start 2 (no-answer count); in na order a (+1 -> 3), d (-1), b (+0), c (+0): best 3 at -3.0
    assert (result["best_exact"], result["best_exact_thresh"]) == (75.0, -3.0)
    assert (result["best_f1"], result["best_f1_thresh"]) == (75.0, -3.0)


def _oracle(tmp_path, jobs):
    (tmp_path / "jobs.json").write_text(json.dumps(jobs))
    subprocess.run([sys.executable, str(ROOT / "squad_oracle.py"), str(tmp_path / "jobs.json"),
                    str(tmp_path / "out.json")], check=True, capture_output=True)
    return json.loads((tmp_path / "out.json").read_text())


def _as_json(objects):
    return json.loads(json.dumps([{k: list(v) if isinstance(v, tuple) else v for k, v in vars(o).items()
                                   if k != "answers"} for o in objects]))


def test_parity_with_original_run_squad(tmp_path, squad_files):
    """Features for training and prediction on v1.1 and v2.0, then predictions from the same logits (rounded to
    one decimal so ties must be broken the same way): identical examples and features, identical files."""
    settings = {"vocab": squad_files["vocab"], "do_lower_case": True, "max_seq_length": 40, "doc_stride": 8,
                "max_query_length": 6}
    tokenizer = FullTokenizer(squad_files["vocab"])
    rng = np.random.default_rng(7)
    jobs, ours = [], []
    for version in ("v1", "v2"):
        for training in (True, False):
            task = tasks.get("squad-v2.0" if version == "v2" else "squad-v1.1")
            examples = task.reader(squad_files[version], "train" if training else "dev")
            features = task.features(examples, tokenizer, 40, training=training, doc_stride=8, max_query_length=6)
            job = {**settings, "data": squad_files[version], "version_2": version == "v2", "training": training}
            if not training:
                logits = {f.unique_id: np.round(rng.normal(size=(2, 40)), 1).astype(np.float32) for f in features}
                for f in features:  # every other example gets a likely null answer
                    logits[f.unique_id][:, 0] += 2.5 * (f.example_index % 2)
                out = tmp_path / f"{version}_original"
                out.mkdir()
                job.update(logits={u: v.tolist() for u, v in logits.items()}, output_dir=str(out), n_best_size=20,
                           max_answer_length=4, null_score_diff_threshold=-0.5)
                results = [sp.RawResult(u, v[0], v[1]) for u, v in logits.items()]
                task.write_predictions(str(tmp_path / f"{version}_ours"), "dev", examples, results, features=features,
                                       n_best_size=20, max_answer_length=4, do_lower_case=True,
                                       null_score_diff_threshold=-0.5)
            jobs.append(job)
            ours.append((examples, features))
    for (examples, features), want in zip(ours, _oracle(tmp_path, jobs), strict=True):
        assert len(features) > 2 * len(examples)  # several windows per example
        assert _as_json(examples) == want["examples"]
        assert _as_json(features) == want["features"]
    for version, names in (("v1", ["nbest_predictions.json", "predictions.json"]),
                           ("v2", ["nbest_predictions.json", "null_odds.json", "predictions.json"])):
        assert sorted(p.name for p in (tmp_path / f"{version}_ours").iterdir()) == names
        for name in names:
            assert (tmp_path / f"{version}_ours" / name).read_bytes() == (
                tmp_path / f"{version}_original" / name).read_bytes(), (version, name)
    predicted = json.loads((tmp_path / "v2_ours" / "predictions.json").read_text())
    assert "" in predicted.values() and any(predicted.values())  # both null and non-null answers were exercised


def _edge_answers_json(version_2):
    """Training answers the original indexes with Python list semantics: empty texts (whose last character,
    offset - 1, wraps to the context's last word at offset 0), offsets on whitespace, before a leading space (word
    -1) and negative offsets (which wrap from the end)."""
    lead = " Denver won."  # char 0 is whitespace: char_to_word[0] == -1
    qas = [("e-empty0", CONTEXT_2, "", 0), ("e-empty-mid", CONTEXT_2, "", CONTEXT_2.index("Broncos")),
           ("e-empty-space", CONTEXT_2, "", CONTEXT_2.index(" American")),
           ("e-empty-last", CONTEXT_2, "", len(CONTEXT_2) - 1), ("e-neg", CONTEXT_2, "24–10.", -6),
           ("e-neg-miss", CONTEXT_2, "Denver", -3), ("e-lead-empty", lead, "", 0), ("e-lead", " won.", " won.", 0),
           ("e-lead-miss", lead, "won.", 0)]
    paragraphs = []
    for qa_id, context, text, offset in qas:
        qa = {"id": qa_id, "question": "Who won Super Bowl 50?", "answers": [{"text": text, "answer_start": offset}]}
        if version_2:
            qa["is_impossible"] = False
        paragraphs.append({"context": context, "qas": [qa]})
    return {"data": [{"title": "edge", "paragraphs": paragraphs}]}


def test_edge_answer_offsets_as_the_original(tmp_path, squad_files):
    """Examples and training features identical to the ORIGINAL read_squad_examples/convert_examples_to_features
    for answers the original keeps although they are degenerate (empty text is found in any span)."""
    tokenizer = FullTokenizer(squad_files["vocab"])
    jobs, ours = [], []
    for version_2 in (False, True):
        path = tmp_path / f"edge{int(version_2)}.json"
        path.write_text(json.dumps(_edge_answers_json(version_2)), encoding="utf-8")
        examples = sd.read_squad_examples(str(path), training=True, version_2_with_negative=version_2)
        features = sd.convert_examples_to_features(examples, tokenizer, 24, 8, 6, training=True)
        ours.append((examples, features))
        jobs.append({"data": str(path), "vocab": squad_files["vocab"], "do_lower_case": True,
                     "version_2": version_2, "training": True, "max_seq_length": 24, "doc_stride": 8,
                     "max_query_length": 6})
    by_id = {e.qas_id: (e.start_position, e.end_position, e.orig_answer_text) for e in ours[0][0]}
    last = len(CONTEXT_2.split()) - 1
    assert by_id["e-empty0"] == (0, last, "")  # offset 0 + 0 - 1 == -1 -> the last character's word
    assert by_id["e-empty-mid"] == (10, 9, "")  # end is the word before: an inverted, still kept span
    assert by_id["e-neg"] == (last, last, "24–10.")
    assert by_id["e-lead-empty"] == (-1, 1, "") and by_id["e-lead"] == (-1, 0, " won.")  # words[-1:1] found
    assert "e-neg-miss" not in by_id and "e-lead-miss" not in by_id  # not found in the span -> skipped
    for (examples, features), want in zip(ours, _oracle(tmp_path, jobs), strict=True):
        assert _as_json(examples) == want["examples"]
        assert _as_json(features) == want["features"]


def test_answer_offset_past_the_context_names_the_file(tmp_path):
    path = tmp_path / "train.json"
    path.write_text(json.dumps({"data": [{"paragraphs": [{"context": "a b", "qas": [
        {"id": "q1", "question": "?", "answers": [{"text": "", "answer_start": 4}]}]}]}]}))
    with pytest.raises(ValueError, match="train.json: question q1: answer_start 4 \\+ 0 chars outside context of 3"):
        sd.read_squad_examples(str(path), training=True)
