"""What makes serving fast without changing its answers: raw text padded only to the batch's longest row
(`text_ops.pack_inputs(length_multiple=)`; served end to end in test_export), and a bfloat16 SavedModel
(`export.serving_model`)."""

import numpy as np
import pytest
from test_export import MAX_SEQ_LENGTH, ODD_TEXTS, classifier, python_probabilities  # noqa: F401

from bert_tf import export


def packed(ids_a, ids_b=None, **options):
    import tensorflow as tf

    from bert_tf.text_ops import pack_inputs

    ragged = [None if ids is None else tf.ragged.constant(ids, tf.int64) for ids in (ids_a, ids_b)]
    out = pack_inputs(*ragged, cls_id=2, sep_id=3, **options)
    return {k: v.numpy() for k, v in out.items()}


def test_length_multiple_pads_to_the_longest_row_rounded_up():
    a, b = [[5, 6, 7], [8], []], [[9], [], [10, 11, 12, 13, 14, 15, 16, 17]]
    fixed = packed(a, b, max_seq_length=12)
    short = packed(a, b, max_seq_length=12, length_multiple=4)
    # Longest row: [CLS] [SEP] 10 .. 17 [SEP] (11 columns) -> 12, the cap.
    assert fixed["input_ids"][2].tolist() == [2, 3, 10, 11, 12, 13, 14, 15, 16, 17, 3, 0]
    np.testing.assert_array_equal(short["input_ids"], fixed["input_ids"])
    a, b = [[5, 6, 7], [8]], [[9], []]
    short = packed(a, b, max_seq_length=12, length_multiple=4)  # longest: [CLS] 5 6 7 [SEP] 9 [SEP] = 7 -> 8
    assert {k: v.shape for k, v in short.items()} == dict.fromkeys(short, (2, 8))
    assert short["input_ids"].tolist() == [[2, 5, 6, 7, 3, 9, 3, 0], [2, 8, 3, 0, 0, 0, 0, 0]]
    assert short["input_mask"].tolist() == [[1] * 7 + [0], [1] * 3 + [0] * 5]
    assert short["segment_ids"].tolist() == [[0] * 5 + [1, 1, 0], [0] * 8]
    assert packed([[5]], max_seq_length=12, length_multiple=1)["input_ids"].tolist() == [[2, 5, 3]]
    with pytest.raises(ValueError, match="length_multiple must be >= 1, got 0"):
        packed(a, max_seq_length=12, length_multiple=0)


def served(saved, texts):
    import tensorflow as tf

    signature = tf.saved_model.load(saved).signatures["serving_default"]
    return signature(text_a=tf.constant([a for a, _ in texts]), text_b=tf.constant([b for _, b in texts]))


def test_bfloat16_export_holds_the_rounded_weights_and_answers_in_float32(classifier, tmp_path):  # noqa: F811
    import tensorflow as tf

    model, tokenizer, vocab_file = classifier
    saved = str(tmp_path / "bf16")
    export.export_classifier(model, saved, vocab_file, True, MAX_SEQ_LENGTH, label_names=["a", "b", "c"],
                             pair=True, precision="bfloat16")
    reader = tf.train.load_checkpoint(f"{saved}/variables/variables")
    stored = [name for name in reader.get_variable_to_shape_map() if name.endswith(".ATTRIBUTES/VARIABLE_VALUE")]
    assert len(stored) == len(model.weights)
    assert {reader.get_variable_to_dtype_map()[name] for name in stored} == {tf.bfloat16}
    rounded = sorted(tf.cast(w, tf.bfloat16).numpy().astype(np.float32).tobytes() for w in model.weights)
    assert sorted(reader.get_tensor(name).astype(np.float32).tobytes() for name in stored) == rounded
    pairs = [(a, b) for a, b in zip(ODD_TEXTS, ODD_TEXTS[::-1], strict=True)]
    out = served(saved, pairs)
    expected, _ = python_probabilities(model, tokenizer, pairs)
    assert out["probabilities"].dtype == tf.float32
    logits = np.log(expected)
    logits -= logits.mean(-1, keepdims=True)
    served_logits = out["logits"].numpy() - out["logits"].numpy().mean(-1, keepdims=True)
    # bfloat16 keeps 8 significant bits: each rounding is within 2^-9 relative; budget 16 of them on the path
    # from the embeddings to the logits (two layers of matmuls, LayerNorms and residuals).
    np.testing.assert_allclose(served_logits, logits, rtol=0, atol=16 * 2.0**-9 * np.abs(logits).max())
    assert out["label_ids"].numpy().tolist() == expected.argmax(-1).tolist()
    with pytest.raises(ValueError, match="precision 'float16': serving precision is float32 or bfloat16"):
        export.serving_model(model, "float16")
