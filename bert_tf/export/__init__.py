"""SavedModels for TF Serving: fine-tuned classifiers with raw-text, token-id and tf.Example signatures, and the
TF-Hub-style pair (a text preprocessor and an encoder, `bert_tf.export.hub`); SQuAD span models in
`bert_tf.export.squad`.

Every signature bounds what one request may be and checks client ids (`bert_tf.export.requests`); a SavedModel is
never written over anything bert_tf did not write (`bert_tf.export.folders`).

A WordPiece export uses only ops stock TF Serving has (core TF plus tensorflow-text's classic
`WordpieceTokenizeWithOffsets`); an ALBERT classifier exported with its SentencePiece `.model` also needs
tensorflow-text's SentencePiece ops. The vocab travels as an asset. A SavedModel loads with `tensorflow` and
`tensorflow_text` alone: bert_tf need not be importable where it is served.
"""

from __future__ import annotations

import os

import tensorflow as tf

from bert_tf import kinds
from bert_tf.export import folders
from bert_tf.export.hub import export_encoder, export_preprocessor
from bert_tf.export.requests import (
    DEFAULT_LENGTH_MULTIPLE,
    DEFAULT_LIMITS,
    FEATURE_KEYS,
    Limits,
    checked_ids,
    checked_texts,
)
from bert_tf.modeling import BertClassifier
from bert_tf.text_ops import BertTextTokenizer, pack_inputs

__all__ = ["DEFAULT_LENGTH_MULTIPLE", "DEFAULT_LIMITS", "FEATURE_KEYS", "Limits", "check_task", "export_classifier",
           "export_encoder", "export_preprocessor", "export_task", "parse_examples", "serving_model"]


def _ids_spec(name):
    return tf.TensorSpec([None, None], tf.int32, name=name)


def graph_tokenizer(vocab_file, do_lower_case):
    """The in-graph tokenizer of `vocab_file`: ALBERT's SentencePiece for a `.model`
    (`sentencepiece_ops.AlbertTextTokenizer`: tensorflow-text's SentencePiece op), otherwise WordPiece. RoBERTa's
    byte-level BPE has no graph version: refused, naming the file."""
    name = os.fspath(vocab_file)
    if name.endswith(".model"):
        from bert_tf.sentencepiece_ops import AlbertTextTokenizer

        return AlbertTextTokenizer(name, do_lower_case)
    if name.endswith(".json"):
        raise ValueError(f"{name}: RoBERTa's byte-level BPE tokenizes in Python only; a SavedModel's raw-text "
                         "signatures need an in-graph tokenizer (WordPiece vocab.txt or a SentencePiece .model)")
    return BertTextTokenizer(name, do_lower_case)


class TextPacker(tf.Module):
    """Raw text -> `input_ids`, `input_mask`, `segment_ids` [B, max_seq_length], exactly as the Python packer;
    with `length_multiple` [B, L]: padded only to the batch's longest row rounded up to a multiple of it
    (`text_ops.pack_inputs`)."""

    def __init__(self, vocab_file, do_lower_case, max_seq_length, name=None, length_multiple=None):
        super().__init__(name=name)
        self.tokenizer = graph_tokenizer(vocab_file, do_lower_case)
        self.max_seq_length = max_seq_length
        self.length_multiple = length_multiple

    def pack(self, text_a, text_b=None):
        ids_b = None if text_b is None else self.tokenizer.tokenize(text_b)
        return pack_inputs(self.tokenizer.tokenize(text_a), ids_b, max_seq_length=self.max_seq_length,
                           cls_id=self.tokenizer.special_ids["[CLS]"], sep_id=self.tokenizer.special_ids["[SEP]"],
                           length_multiple=self.length_multiple)


def parse_examples(serialized, max_seq_length):
    """Serialized tf.Examples with the original int64 features -> int32 model inputs."""
    spec = {key: tf.io.FixedLenFeature([max_seq_length], tf.int64) for key in FEATURE_KEYS}
    parsed = tf.io.parse_example(serialized, spec)
    return {key: tf.cast(parsed[key], tf.int32) for key in FEATURE_KEYS}


class ClassifierServer(tf.Module):
    """A fine-tuned BertClassifier behind four signatures (see `export_classifier`)."""

    def __init__(self, model, packer, label_names, kind, limits):
        super().__init__(name="classifier_server")
        self.model = model
        self.packer = packer
        self.serving_outputs = kind.serving_outputs
        self.label_names = tf.constant(list(label_names) if label_names else [""], tf.string)
        self.limits = limits

    def outputs(self, features):
        logits = self.model({k: features[k] for k in FEATURE_KEYS}, training=False)["logits"]  # [B, C]
        return self.serving_outputs(tf.cast(logits, tf.float32), self.label_names)

    def packed(self, text_a, text_b=None):
        texts = checked_texts({"text_a": text_a, **({} if text_b is None else {"text_b": text_b})}, self.limits)
        return self.packer.pack(texts["text_a"], texts.get("text_b"))

    def text_outputs(self, text_a, text_b=None):
        return self.outputs(self.packed(text_a, text_b))

    def id_outputs(self, features):
        return self.outputs(checked_ids(features, self.limits, self.model.plan))


def export_classifier(model, export_dir, vocab_file, do_lower_case, max_seq_length, label_names=(),
                      pair=False, regression=False, limits=DEFAULT_LIMITS, length_multiple=DEFAULT_LENGTH_MULTIPLE,
                      precision="float32"):
    """Writes a SavedModel with signatures for a fine-tuned `BertClassifier` (classification or regression).

    - `serving_default`: raw text `text_a` [B] (and `text_b` [B] when `pair`) -> `probabilities` [B, C],
      `logits`, `label_ids`, `labels` (the label names); regression: `scores` [B]. The texts are packed as the
      original packs them, padded to the batch's longest row rounded up to a multiple of `length_multiple` (None:
      to max_seq_length); outputs do not depend on that padding beyond float rounding.
    - `serve_ids`: `input_ids`, `input_mask`, `segment_ids` int32 [B, S] -> the same outputs.
    - `serve_examples`: serialized tf.Examples with the original int64 features (length max_seq_length).
    - `pack_text`: the texts of `serving_default` -> the `input_ids`, `input_mask`, `segment_ids` it runs on.

    `limits` bound each request (`bert_tf.export.requests`). `precision` "bfloat16" serves a copy of the model
    computing in bfloat16 (`serving_model`); outputs stay float32. Returns the folder written
    (`folders.export_target`). Raises ValueError for any other model, before anything is written.
    """
    if not isinstance(model, BertClassifier):
        raise ValueError("export_classifier exports classification and regression models (BertClassifier); "
                         f"got a {type(model).__name__}")
    kind = kinds.get("regression" if regression else "classification")
    packer = TextPacker(vocab_file, do_lower_case, max_seq_length, length_multiple=length_multiple)
    server = ClassifierServer(serving_model(model, precision), packer, label_names, kind, limits)
    serve_text, pack_text = (_text_function(function, pair) for function in (server.text_outputs, server.packed))
    serve_ids = tf.function(
        lambda input_ids, input_mask, segment_ids: server.id_outputs(
            {"input_ids": input_ids, "input_mask": input_mask, "segment_ids": segment_ids}),
        input_signature=[_ids_spec(k) for k in FEATURE_KEYS])
    serve_examples = tf.function(lambda examples: server.id_outputs(parse_examples(examples, max_seq_length)),
                                 input_signature=[tf.TensorSpec([None], tf.string, name="examples")])
    server.serve_text, server.serve_ids, server.serve_examples = serve_text, serve_ids, serve_examples
    server.pack_text = pack_text
    signatures = {"serving_default": serve_text, "serve_ids": serve_ids, "serve_examples": serve_examples,
                  "pack_text": pack_text}
    return folders.save_export(server, export_dir, signatures, kind.name, limits)


def _text_function(function, pair):
    """`function` of `text_a` [B] (and `text_b` [B] when `pair`) as a tf.function with that signature."""
    a, b = (tf.TensorSpec([None], tf.string, name=name) for name in ("text_a", "text_b"))
    if pair:
        return tf.function(lambda text_a, text_b: function(text_a, text_b), input_signature=[a, b])
    return tf.function(lambda text_a: function(text_a), input_signature=[a])


def serving_model(model, precision="float32"):
    """`model`, or for "bfloat16" a copy built under a bfloat16 dtype policy with the same weights rounded to
    bfloat16 (matmuls on the CPU's bfloat16 units; softmax stays float32 as in training, `modeling.layers`)."""
    if precision == "float32":
        return model
    if precision != "bfloat16":
        raise ValueError(f"precision {precision!r}: serving precision is float32 or bfloat16")
    import keras

    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy("bfloat16")  # weights held in bfloat16: no per-request casts of every kernel
    try:
        copy = type(model).from_config(model.get_config())
    finally:
        keras.config.set_dtype_policy(previous)
    copy.set_weights(model.get_weights())
    return copy


def export_task(model, task, export_dir, vocab_file, do_lower_case, max_seq_length, limits=DEFAULT_LIMITS,
                length_multiple=DEFAULT_LENGTH_MULTIPLE, precision="float32", **options):
    """The SavedModel of a fine-tuned `model` of `task`, as its kind says (`bert_tf.kinds`): classification and
    regression as `export_classifier` (the task's labels; two texts for pair tasks), span as
    `bert_tf.export.squad.export_squad` (`options`: doc_stride, max_query_length, n_best_size,
    max_answer_length; its windows are always max_seq_length long, so `length_multiple` is the classifier's
    only). Returns the folder written. Raises ValueError, before anything is written, for a kind without a
    SavedModel."""
    check_task(task, vocab_file)
    kind = kinds.get(task.kind)
    if kind.serving == "classifier":
        return export_classifier(model, export_dir, vocab_file, do_lower_case, max_seq_length, task.labels,
                                 pair=task.options.get("pair", False), regression=task.kind == "regression",
                                 limits=limits, length_multiple=length_multiple, precision=precision)
    if kind.serving == "squad":
        from bert_tf.export.squad import export_squad

        return export_squad(serving_model(model, precision), export_dir, vocab_file, do_lower_case, max_seq_length,
                            version_2_with_negative=task.options["version_2_with_negative"], limits=limits, **options)


def check_task(task, vocab_file=None):
    """ValueError unless `task`'s kind has a SavedModel, and one that tokenizes `vocab_file`'s kind in graph
    (`graph_tokenizer`; SQuAD's word-by-word windows are WordPiece's). Scripts ask before training."""
    serving = kinds.get(task.kind).serving
    if not serving:
        raise ValueError(f"task {task.name}: task kind {task.kind!r} has no SavedModel export (only "
                         f"{', '.join(k.name for k in kinds.KINDS.values() if k.serving)})")
    if vocab_file and os.fspath(vocab_file).endswith(".json"):
        graph_tokenizer(vocab_file, False)  # refused, naming the file
    if serving == "squad" and vocab_file and not os.fspath(vocab_file).endswith(".txt"):
        raise ValueError(f"task {task.name}: its SavedModel cuts contexts into WordPiece windows in graph; "
                         f"{vocab_file} is not a WordPiece vocab.txt (leave --export_dir out)")
