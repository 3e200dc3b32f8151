"""SQuAD SavedModel export: the in-graph windows equal squad_data's features; the served answers equal the Python
pipeline's (FineTuning.span_predictions) up to get_final_text, served where bert_tf is not importable."""

import base64

import numpy as np
import pytest
from helpers import tiny_config, write_vocab
from test_export import serve

from bert_tf import checkpoints, kinds, tasks
from bert_tf.export import squad as export_squad
from bert_tf.finetuning import FineTuning, FineTuningOptions
from bert_tf.tasks import squad_data as sd
from bert_tf.tasks import squad_predictions as sp
from bert_tf.tokenization import FullTokenizer

PIECES = ["the", "cat", "sat", "on", "mat", "mies", "van", "der", "rohe", "(", "18", "##86", "-", "19", "##69",
          ")", ".", "born", "in", "aa", "##chen", "who", "was", "when", "where", "?", "é", "bau", "##haus", "led",
          "school", "from", "to", "he", "moved", "chi", "##cago", "and", "taught", ",", "'", "s"]
VOCAB = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *PIECES] + [f"w{i}" for i in range(99 - 5 - len(PIECES))]
MAX_SEQ_LENGTH, DOC_STRIDE, MAX_QUERY_LENGTH = 32, 5, 6
WINDOWS = dict(doc_stride=DOC_STRIDE, max_query_length=MAX_QUERY_LENGTH)
LONG = ("Mies van der Rohe (1886-1969). was born in Aachen;\the led the Bauhaus school from 1930 to 1933.\u202fLater "
        "he moved to Chicago, and taught there: the cat sat on the mat, the cat sat on the mat.")
# (question, context): plain words, a context over several windows, words with punctuation attached, odd text.
QUESTIONS = [
    ("who sat on the mat?", "the cat sat on the mat"),
    ("Where was Mies born?", LONG),
    ("When was he born?", "(1886-1969). (1886-1969). (1886-1969). (1886-1969)."),
    ("", "Café  é\u200b \t the"),
    ("the cat " * 20, "mat " * 40),
    ("who?", ""),
]


def python_pipeline(tuner, tokenizer, version_2):
    """The Python predictions and, per question, the words of its best non-null span (the original's orig_text)."""
    examples = [sd.SquadExample(str(i), q, tuple(sd.split_context(c)[0])) for i, (q, c) in enumerate(QUESTIONS)]
    features = tuner.task.features(examples, tokenizer, MAX_SEQ_LENGTH, training=False, **WINDOWS)
    outputs = tuner.predict(features, 4)
    results, answers, null_odds = kinds.span_predictions(tuner.task, examples, features, outputs, n_best_size=7,
                                                         max_answer_length=5, do_lower_case=True)
    results = {r.unique_id: sp.RawResult(r.unique_id, tuple(map(float, r.start_logits)),
                                         tuple(map(float, r.end_logits))) for r in results}
    spans = []
    for index, example in enumerate(examples):
        own = [f for f in features if f.example_index == index]
        candidates = sp._candidates(own, results, 7, 5, version_2)[0]
        best = next((c for c in candidates if c.start_index > 0), None)
        if best is None:
            spans.append(None)
            continue
        words = own[best.feature_index].token_to_orig_map
        first, last = words[best.start_index], words[best.end_index]
        spans.append((" ".join(example.doc_tokens[first:last + 1]), first, last, best.start_logit, best.end_logit))
    return answers, null_odds, spans, features, outputs


def seeded_weights(config, seed=3):
    """Every weight drawn from one seed (helpers.random_weights adds to Keras' unseeded initial values), so the
    spans the model picks, and the literal answers below, are the same in every run."""
    from bert_tf.modeling import BertSpanLabeler

    rng = np.random.default_rng(seed)
    names = checkpoints.get_weights(BertSpanLabeler(config))
    return {name: (rng.normal(0.0, 0.2, value.shape) + name.endswith("gamma")).astype(np.float32)
            for name, value in sorted(names.items())}


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """exported(version_2) -> (SavedModel path, Python pipeline results) of one random BertSpanLabeler."""
    root = tmp_path_factory.mktemp("squad_export")
    vocab_file = write_vocab(root / "vocab.txt", VOCAB)
    config = tiny_config(max_position_embeddings=MAX_SEQ_LENGTH)
    weights = seeded_weights(config)
    cache = {}

    def export(version_2):
        if version_2 not in cache:
            task = tasks.get("squad-v2.0" if version_2 else "squad-v1.1")
            tuner = FineTuning(task, config, FineTuningOptions(output_dir=str(root)))
            checkpoints.set_weights(tuner.model, weights)
            saved = str(root / f"v{2 if version_2 else 1}")
            export_squad.export_squad(tuner.model, saved, vocab_file, True, MAX_SEQ_LENGTH, n_best_size=7,
                                      max_answer_length=5, version_2_with_negative=version_2, **WINDOWS)
            cache[version_2] = saved, python_pipeline(tuner, FullTokenizer(vocab_file), version_2)
        return cache[version_2]

    return export


def test_windows_equal_squad_data_features(tmp_path):
    import tensorflow as tf

    vocab_file = write_vocab(tmp_path / "vocab.txt", VOCAB)
    packer = export_squad.SquadPacker(vocab_file, True, MAX_SEQ_LENGTH, DOC_STRIDE, MAX_QUERY_LENGTH)
    words, packed = packer.pack(tf.constant([q for q, _ in QUESTIONS]), tf.constant([c for _, c in QUESTIONS]))
    examples = [sd.SquadExample(str(i), q, tuple(sd.split_context(c)[0])) for i, (q, c) in enumerate(QUESTIONS)]
    features = sd.convert_examples_to_features(examples, FullTokenizer(vocab_file), MAX_SEQ_LENGTH, **WINDOWS,
                                               training=False)
    assert [w.decode() for w in words[1].numpy()] == list(examples[1].doc_tokens)
    rows = packed["example"].numpy()
    # the empty context: one window [CLS] who ? [SEP] (no second [SEP] after an empty segment, as pack_inputs)
    # where Python has none; every other row is a feature
    empty = np.flatnonzero(rows == 5)
    assert len(empty) == 1 and packed["input_ids"].numpy()[empty[0], :5].tolist() == [2, 26, 30, 3, 0]
    assert not packed["max_context"].numpy()[empty[0]].any() and (packed["word"].numpy()[empty[0]] == -1).all()
    kept = np.flatnonzero(rows != 5)
    assert rows[kept].tolist() == [f.example_index for f in features]
    assert sum(f.example_index == 1 for f in features) >= 3 and sum(f.example_index == 4 for f in features) >= 3
    for row, feature in zip(kept, features, strict=True):
        for key in ("input_ids", "input_mask", "segment_ids"):
            assert packed[key].numpy()[row].tolist() == list(getattr(feature, key))
        word, owner = packed["word"].numpy()[row], packed["max_context"].numpy()[row]
        assert {p: w for p, w in enumerate(word.tolist()) if w >= 0} == feature.token_to_orig_map
        assert {p: bool(owner[p]) for p in feature.token_to_orig_map} == feature.token_is_max_context
        assert owner.sum() == sum(feature.token_is_max_context.values())


def check_text_answers(served, answers, null_odds, spans, version_2):
    """Served raw-text answers against the Python pipeline's best spans (words, logits, v2 null odds)."""
    for index, (prediction, span) in enumerate(zip(served, spans, strict=True)):
        text, first, last, start_logit, end_logit = span or ("", -1, -1, 0.0, 0.0)
        assert (prediction["answer"], prediction["start_word"], prediction["end_word"]) == (text, first, last)
        assert prediction["start_logit"] == pytest.approx(start_logit, abs=1e-5)
        assert prediction["end_logit"] == pytest.approx(end_logit, abs=1e-5)
        assert ("null_score" in prediction) == version_2
        if version_2 and span is not None:
            odds = prediction["null_score"] - prediction["start_logit"] - prediction["end_logit"]
            assert odds == pytest.approx(null_odds[str(index)], abs=1e-5)
    # whole words, where get_final_text changes nothing: a span in a later window of a long context, odd text
    for index in (1, 3, 4):
        assert served[index]["answer"] == answers[str(index)]
    assert served[1]["answer"] == "school from 1930 to" and served[3]["answer"] == "é\u200b"
    assert served[4]["start_word"] == 32  # "mat " x 40: windows start at pieces 0, 5, ..., 20
    # the documented difference: the served answer is the whole words, predictions.json the projected pieces
    assert (served[2]["answer"], answers["2"]) == ("(1886-1969). (1886-1969).", "69). (")
    # no valid span among the top-7 logits, or no context: "" and -1 served; the original writes "empty" for v1
    for index in (0, 5):
        assert (served[index]["answer"], served[index]["start_word"]) == ("", -1)
        assert answers[str(index)] == ("" if version_2 else "empty")


def test_v2_signatures_serve_rest_requests_like_the_python_pipeline(exported, tmp_path):
    import tensorflow as tf

    saved, (answers, null_odds, spans, features, outputs) = exported(True)
    arrays = sd.feature_arrays(features)
    examples = [tf.train.Example(features=tf.train.Features(feature={
        k: tf.train.Feature(int64_list=tf.train.Int64List(value=np.atleast_1d(arrays[k][i])))
        for k in ("unique_ids", "input_ids", "input_mask", "segment_ids")})).SerializeToString()
        for i in range(len(features))]
    rows, columns, ids, serialized = serve(tmp_path, saved, [
        ("serving_default", {"instances": [{"question": q, "context": c} for q, c in QUESTIONS]}),
        ("serving_default", {"inputs": {"question": [q for q, _ in QUESTIONS], "context": [c for _, c in QUESTIONS]}}),
        ("serve_ids", {"inputs": {k: arrays[k].tolist() for k in ("input_ids", "input_mask", "segment_ids")}}),
        ("serve_examples", {"instances": [{"b64": base64.b64encode(e).decode()} for e in examples]}),
    ])
    check_text_answers(rows["predictions"], answers, null_odds, spans, version_2=True)
    assert columns["outputs"]["answer"] == [p["answer"] for p in rows["predictions"]]
    for body in (ids["outputs"], {k: [p[k] for p in serialized["predictions"]] for k in outputs}):
        for key in ("start_logits", "end_logits"):
            np.testing.assert_allclose(body[key], outputs[key], atol=1e-5)
    assert [p["unique_ids"] for p in serialized["predictions"]] == arrays["unique_ids"].tolist()
    graph = tf.saved_model.load(saved).signatures["serving_default"].graph.as_graph_def()
    ops = {n.op for n in graph.node} | {n.op for f in graph.library.function for n in f.node_def}
    assert sorted(op for op in ops if not hasattr(tf.raw_ops, op)) == ["WordpieceTokenizeWithOffsets"]


def test_a_context_of_more_windows_than_a_request_may_have_is_refused(exported):
    """The windows of a request are bounded (export.Limits.max_batch_size, 256 by default) and computed in memory
    linear in the context (only the windows that hold a piece score it); beyond the bound: a clear error."""
    import tensorflow as tf

    answer = tf.saved_model.load(exported(True)[0]).signatures["serving_default"]
    # 26 - question pieces per window, each 5 pieces after the last: 1,200 pieces make 236 windows, 1,500 make 296
    fits = answer(question=tf.constant(["who sat?"]), context=tf.constant(["the cat sat on the mat " * 200]))
    assert fits["answer"].numpy().tolist() != [b""]
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"too many question-context windows \(a long context "
                                                             r"makes many\) in one request: this SavedModel takes at "
                                                             r"most 256 \(max_batch_size\); split the request"):
        answer(question=tf.constant(["who sat?"]), context=tf.constant(["the cat sat on the mat " * 250]))
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"a context is longer than 100000 bytes"):
        answer(question=tf.constant(["who?"]), context=tf.constant(["mat " * 25_001]))


@pytest.mark.slow
def test_v1_answers_are_the_python_pipelines(exported, tmp_path):
    saved, (answers, null_odds, spans, _, _) = exported(False)
    (rows,) = serve(tmp_path, saved, [("serving_default", {"instances": [
        {"question": q, "context": c} for q, c in QUESTIONS]})])
    check_text_answers(rows["predictions"], answers, null_odds, spans, version_2=False)


def test_export_squad_rejects_other_models_and_bad_settings(config, tmp_path):
    from bert_tf.modeling import BertClassifier, BertSpanLabeler

    vocab_file = write_vocab(tmp_path / "vocab.txt", VOCAB)
    with pytest.raises(ValueError, match="export_squad exports span models .BertSpanLabeler.; got a BertClassifier"):
        export_squad.export_squad(BertClassifier(config, 2), str(tmp_path / "x"), vocab_file, True, 16)
    span = BertSpanLabeler(config)
    with pytest.raises(ValueError, match="n_best_size .0. and max_answer_length .30. must be >= 1"):
        export_squad.export_squad(span, str(tmp_path / "x"), vocab_file, True, 16, n_best_size=0)
    with pytest.raises(ValueError, match="max_seq_length 16 must exceed max_query_length 13 \\+ 3"):
        export_squad.export_squad(span, str(tmp_path / "x"), vocab_file, True, 16, max_query_length=13)
    with pytest.raises(ValueError, match="doc_stride 0 must be >= 1"):
        export_squad.export_squad(span, str(tmp_path / "x"), vocab_file, True, 16, doc_stride=0, max_query_length=4)
    assert not (tmp_path / "x").exists()
