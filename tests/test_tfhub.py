"""The TF-Hub-style pair as TF Hub's BERT users call it: their code unchanged in a tensorflow-hub + tf-keras process
(tests/tfhub_client.py), Keras 3's TFSMLayer here, and the preprocessor's packing against tensorflow-text's ops
that TF Hub's preprocessor is made of."""

import os
import subprocess
import sys

import numpy as np
import pytest
from helpers import random_weights, tiny_config, write_vocab

from bert_tf import checkpoints, export, tokenization
from bert_tf.finetuning_data import pack_features
from bert_tf.modeling import BertEncoder

HERE = os.path.dirname(__file__)
WORDS = ["hello", "world", "the", "cat", "sat", "##s", "on", "mat", "!", "猫", "é", "movie", "is", "great", "bad"]
VOCAB = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *WORDS] + [f"w{i}" for i in range(99 - 20)]
MAX_SEQ_LENGTH = 12
TEXTS = ["this movie is great!", "the cat sat on the mat", "bad bad movie", "Hello world! 猫 é",
         "the cats sat on the mat " * 3, "", "great", "the movie is bad"]
HUB_KEYS = ("input_word_ids", "input_mask", "input_type_ids")


@pytest.fixture(scope="module")
def pair(tmp_path_factory):
    """A tiny encoder with random weights (dropout 0.1) and its exported preprocessor and encoder."""
    folder = tmp_path_factory.mktemp("hub")
    config = tiny_config()
    encoder = BertEncoder(config)
    checkpoints.set_weights(encoder, random_weights(config, with_heads=False))
    vocab_file = write_vocab(folder / "vocab.txt", VOCAB)
    export.export_preprocessor(str(folder / "preprocessor"), vocab_file, True, MAX_SEQ_LENGTH)
    export.export_encoder(encoder, str(folder / "encoder"), vocab_file, True)
    return encoder, str(folder / "preprocessor"), str(folder / "encoder"), tokenization.FullTokenizer(vocab_file)


def packed(tokenizer, text_a, text_b=None, length=MAX_SEQ_LENGTH):
    """The original's packing in Python, under bert_tf's feature names."""
    features = pack_features(tokenizer.tokenize(text_a), None if text_b is None else tokenizer.tokenize(text_b),
                             length, tokenizer)
    return {k: np.array([getattr(features, k)], np.int32) for k in export.FEATURE_KEYS}


def batch(rows):
    return {k: np.concatenate([row[k] for row in rows]) for k in rows[0]}


def test_tf_hub_users_code_runs_unchanged_and_fine_tunes_the_encoder(pair, tmp_path):
    import tensorflow as tf

    encoder, preprocessor_path, encoder_path, tokenizer = pair
    rng = np.random.default_rng(1)
    ids = batch([packed(tokenizer, a, b) for a, b in zip(TEXTS[:4], TEXTS[4:], strict=True)])
    request = {hub: ids[ours] for ours, hub in zip(export.FEATURE_KEYS, HUB_KEYS, strict=True)}
    request.update(texts=np.array(TEXTS), labels=np.array([1, 0, 0, 1, 0, 1, 1, 0], np.float32), epochs=5,
                   seq_length=9, learning_rate=0.5, pooled_weights=rng.normal(size=(4, 32)).astype(np.float32),
                   sequence_weights=rng.normal(size=(4, MAX_SEQ_LENGTH, 32)).astype(np.float32))
    np.savez(tmp_path / "request.npz", **request)
    # tf.keras must be tf-keras for hub.KerasLayer inside tf.keras models (TF Hub's instruction for TF >= 2.16).
    env = {**os.environ, "TF_USE_LEGACY_KERAS": "1"}
    run = subprocess.run([sys.executable, f"{HERE}/tfhub_client.py", preprocessor_path, encoder_path,
                          str(tmp_path / "request.npz"), str(tmp_path / "results.npz")], env=env, capture_output=True,
                         text=True)
    assert run.returncode == 0, run.stderr[-3000:]
    seen = dict(np.load(tmp_path / "results.npz"))

    # The tutorial's first steps: TF Hub's keys and shapes, the original's ids, the Keras encoder's outputs.
    assert seen["preprocessed_keys"].tolist() == sorted(HUB_KEYS)
    single = packed(tokenizer, TEXTS[0])
    for ours, hub in zip(export.FEATURE_KEYS, HUB_KEYS, strict=True):
        assert seen[f"preprocessed_{hub}"].tolist() == single[ours].tolist()
    assert seen["encoder_keys"].tolist() == ["default", "encoder_outputs", "pooled_output", "sequence_output"]
    direct = encoder(single)
    np.testing.assert_allclose(seen["encoder_pooled_output"], direct["pooled_output"], atol=1e-5)
    np.testing.assert_allclose(seen["encoder_default"], direct["pooled_output"], atol=1e-5)
    np.testing.assert_allclose(seen["encoder_sequence_output"], direct["sequence_output"], atol=1e-5)
    np.testing.assert_allclose(seen["encoder_outputs"], np.stack(direct["encoder_outputs"]), atol=1e-5)

    # Fine-tuning the tutorial's classifier (dropout on) moves the encoder's weights and lowers the loss.
    assert seen["untrained_logits"].shape == (len(TEXTS), 1)
    assert seen["fit_trainable_weights"] == len(encoder.trainable_variables)
    assert seen["fit_largest_change"] > 1e-4
    assert seen["loss_after"] < seen["loss_before"] - 0.05

    # The model page's pair at seq_length 9 and the GLUE tutorial's tokenize + bert_pack_inputs.
    pairs = batch([packed(tokenizer, a, b, 9) for a, b in zip(TEXTS, TEXTS[::-1], strict=True)])
    assert seen["pair_word_ids"].tolist() == pairs["input_ids"].tolist()
    np.testing.assert_allclose(seen["pair_pooled"], encoder(pairs)["pooled_output"], atol=1e-5)
    tokens = tf.RaggedTensor.from_nested_row_splits(seen["tokens_values"],
                                                    [seen["tokens_rows"], seen["tokens_splits"]])
    assert tokens.merge_dims(-2, -1).to_list() == [tokenizer.convert_tokens_to_ids(tokenizer.tokenize(t))
                                                   for t in TEXTS]
    assert [len(words) for words in tokens.to_list()] == [len(tokenization.BasicTokenizer().tokenize(t))
                                                          for t in TEXTS]
    glue, single_texts = (batch([packed(tokenizer, *texts) for texts in rows])["input_ids"].tolist()
                          for rows in ([(t, t, 20) for t in TEXTS], [(t,) for t in TEXTS]))
    assert seen["glue_word_ids"].tolist() == glue
    assert seen["default_length_word_ids"].tolist() == single_texts
    assert seen["special_tokens"].tolist() == ["end_of_segment_id=3", "mask_id=4", "padding_id=0",
                                               "start_of_sequence_id=2", "vocab_size=99"]

    # One SGD step through hub.KerasLayer(trainable=True) is the Keras encoder's step, variable by variable.
    inputs = {ours: request[hub] for ours, hub in zip(export.FEATURE_KEYS, HUB_KEYS, strict=True)}
    with tf.GradientTape() as tape:
        out = encoder(inputs, training=False)
        loss = tf.reduce_sum(out["pooled_output"] * request["pooled_weights"]) + tf.reduce_sum(
            out["sequence_output"] * request["sequence_weights"])
    grads = tape.gradient(loss, encoder.trainable_variables)
    steps = [seen[f"step_{i:03d}"] for i in range(len(grads))]
    assert [s.shape for s in steps] == [tuple(v.shape) for v in encoder.trainable_variables]
    assert f"step_{len(grads):03d}" not in seen
    expected = [-0.5 * tf.convert_to_tensor(grad).numpy() for grad in grads]
    largest = max(np.abs(e).max() for e in expected)
    assert largest > 1e-2
    for step, want, variable in zip(steps, expected, encoder.trainable_variables, strict=True):
        # Grappler's fused kernels in the SavedModel against eager ops: float32 rounding, measured against the
        # largest step (the key biases' true gradient is 0: softmax ignores them; both sides give rounding noise).
        np.testing.assert_allclose(step, want, rtol=1e-4, atol=1e-5 * largest, err_msg=variable.path)
    # Dropout in training only: two training calls differ from each other and from inference.
    training = seen["training_pooled"]
    assert np.abs(training[0] - training[1]).max() > 1e-3
    assert np.abs(training[0] - seen["inference_pooled"]).max() > 1e-3


def test_keras_3_tfsmlayer_chains_both_saved_models(pair):
    import keras
    import tensorflow as tf

    encoder, preprocessor_path, encoder_path, tokenizer = pair
    preprocess, encode = keras.layers.TFSMLayer(preprocessor_path), keras.layers.TFSMLayer(encoder_path)
    features = preprocess(tf.constant(TEXTS))  # the default endpoint, `serve`: bert_tf's names
    expected = batch([packed(tokenizer, t) for t in TEXTS])
    assert {k: v.numpy().tolist() for k, v in features.items()} == {k: v.tolist() for k, v in expected.items()}
    direct = encoder(expected)
    out = encode(features)
    np.testing.assert_allclose(out["pooled_output"], direct["pooled_output"], atol=1e-5)
    np.testing.assert_allclose(out["encoder_outputs"], np.stack(direct["encoder_outputs"]), atol=1e-5)
    # TF Hub's names through the roots, from Keras 3 too.
    hub_features = keras.layers.TFSMLayer(preprocessor_path, call_endpoint="__call__")(tf.constant(TEXTS))
    hub_out = keras.layers.TFSMLayer(encoder_path, call_endpoint="__call__")(hub_features)
    np.testing.assert_allclose(hub_out["sequence_output"], direct["sequence_output"], atol=1e-5)


def test_bert_pack_inputs_packs_as_tf_hub_packing_ops(pair):
    """TF Hub's preprocessor packs with tensorflow-text's RoundRobinTrimmer, combine_segments and
    pad_model_inputs; the original's truncation keeps the same pieces wherever the second text keeps some."""
    import tensorflow as tf
    import tensorflow_text as tf_text

    _, preprocessor_path, _, tokenizer = pair
    loaded = tf.saved_model.load(preprocessor_path)
    second = [TEXTS[i] for i in (3, 4, 6, 7, 0)]  # none empty (TEXTS[5] is)
    a, b = loaded.tokenize(tf.constant(TEXTS[:5])), loaded.tokenize(tf.constant(second))
    pieces = [t.merge_dims(-2, -1) for t in (a, b)]
    for length in (5, 8, 13, 40):
        trimmed = tf_text.RoundRobinTrimmer(length - 3).trim(pieces)
        combined, types = tf_text.combine_segments(trimmed, start_of_sequence_id=2, end_of_segment_id=3)
        word_ids, mask = tf_text.pad_model_inputs(combined, length)
        type_ids, _ = tf_text.pad_model_inputs(types, length)
        ours = loaded.bert_pack_inputs([a, b], seq_length=length)
        assert ours["input_word_ids"].numpy().tolist() == word_ids.numpy().tolist(), length
        assert ours["input_mask"].numpy().tolist() == mask.numpy().tolist(), length
        assert ours["input_type_ids"].numpy().tolist() == type_ids.numpy().tolist(), length
        int64 = loaded.bert_pack_inputs([tf.cast(p, tf.int64) for p in pieces], tf.constant(length))
        assert int64["input_word_ids"].numpy().tolist() == word_ids.numpy().tolist(), length
    # Where B has no pieces, or none left (lengths 3 and 4), the original packs one text: [CLS] a [SEP], not TF
    # Hub's [CLS] a [SEP] [SEP].
    empty = loaded.bert_pack_inputs([a[:1], loaded.tokenize(tf.constant([""]))])
    assert empty["input_word_ids"].numpy().tolist() == packed(tokenizer, TEXTS[0])["input_ids"].tolist()
    for length in (3, 4):
        short = loaded.bert_pack_inputs([a[:1], b[:1]], seq_length=length)["input_word_ids"].numpy().tolist()
        expected = packed(tokenizer, TEXTS[0], TEXTS[3], length)["input_ids"].tolist()
        assert short == expected == {3: [[2, 3, 0]], 4: [[2, 1, 3, 0]]}[length]  # "this" is [UNK]
    with pytest.raises(tf.errors.InvalidArgumentError, match="seq_length must be at least 3"):
        loaded.bert_pack_inputs([a], seq_length=2)


def test_pack_inputs_to_length_is_pack_inputs_at_every_length():
    import tensorflow as tf

    from bert_tf.text_ops import pack_inputs, pack_inputs_to_length

    rng = np.random.default_rng(0)
    a = tf.ragged.constant([rng.integers(5, 99, n).tolist() for n in (0, 1, 3, 7, 12, 2)], tf.int64)
    b = tf.ragged.constant([rng.integers(5, 99, n).tolist() for n in (4, 0, 9, 1, 12, 0)], tf.int64)
    dynamic = tf.function(lambda a, b, n: pack_inputs_to_length(a, b, seq_length=n, cls_id=2, sep_id=3))
    for length in range(3, 30):
        for second in (None, b):
            expected = pack_inputs(a, second, max_seq_length=length, cls_id=2, sep_id=3)
            got = (pack_inputs_to_length(a, seq_length=length, cls_id=2, sep_id=3) if second is None
                   else dynamic(a, b, tf.constant(length)))
            for key in expected:
                assert got[key].numpy().tolist() == expected[key].numpy().tolist(), (length, key)


def test_refused_before_anything_is_written(tmp_path):
    from bert_tf.model_types import DistilBertConfig

    vocab_file = write_vocab(tmp_path / "vocab.txt", VOCAB)
    no_pooler = BertEncoder(tiny_config(), with_pooler=False)
    with pytest.raises(ValueError, match="has no pooler, and TF Hub's encoder interface returns pooled_output"):
        export.export_encoder(no_pooler, str(tmp_path / "encoder"), vocab_file)
    distil = BertEncoder(DistilBertConfig(**{**tiny_config().to_dict(), "type_vocab_size": 0}))
    with pytest.raises(ValueError, match="this distilbert encoder has no pooler"):
        export.export_encoder(distil, str(tmp_path / "encoder"), vocab_file)
    with pytest.raises(ValueError, match="max_seq_length must be an integer >= 3 .* got 2"):
        export.export_preprocessor(str(tmp_path / "preprocessor"), vocab_file, True, max_seq_length=2)
    assert sorted(os.listdir(tmp_path)) == ["vocab.txt"]
