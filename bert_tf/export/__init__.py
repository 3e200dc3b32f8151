"""SavedModels for TF Serving: fine-tuned classifiers with raw-text, token-id and tf.Example signatures, and the
TF-Hub-style encoder pair (a text preprocessor and an encoder); SQuAD span models in `bert_tf.export.squad`.

Every signature bounds what one request may be and checks client ids (`bert_tf.export.requests`); a SavedModel is
never written over anything bert_tf did not write (`bert_tf.export.folders`).

Everything exported uses only ops stock TF Serving has (core TF plus tensorflow-text's classic
`WordpieceTokenizeWithOffsets`); the vocab travels as an asset. A SavedModel loads with `tensorflow` and
`tensorflow_text` alone: bert_tf need not be importable where it is served.
"""

from __future__ import annotations

import dataclasses

import tensorflow as tf

from bert_tf import kinds
from bert_tf.export import folders
from bert_tf.export.requests import DEFAULT_LIMITS, FEATURE_KEYS, Limits, checked_ids, checked_texts
from bert_tf.modeling import BertClassifier
from bert_tf.text_ops import BertTextTokenizer, pack_inputs

__all__ = ["DEFAULT_LIMITS", "FEATURE_KEYS", "Limits", "check_task", "export_classifier", "export_encoder",
           "export_preprocessor", "export_task", "parse_examples"]


def _ids_spec(name):
    return tf.TensorSpec([None, None], tf.int32, name=name)


class TextPacker(tf.Module):
    """Raw text -> `input_ids`, `input_mask`, `segment_ids` [B, max_seq_length], exactly as the Python packer."""

    def __init__(self, vocab_file, do_lower_case, max_seq_length, name=None):
        super().__init__(name=name)
        self.tokenizer = BertTextTokenizer(vocab_file, do_lower_case)
        self.max_seq_length = max_seq_length

    def pack(self, text_a, text_b=None, max_seq_length=None):
        ids_b = None if text_b is None else self.tokenizer.tokenize(text_b)
        return pack_inputs(self.tokenizer.tokenize(text_a), ids_b, max_seq_length=max_seq_length or self.max_seq_length,
                           cls_id=self.tokenizer.special_ids["[CLS]"], sep_id=self.tokenizer.special_ids["[SEP]"])


def parse_examples(serialized, max_seq_length):
    """Serialized tf.Examples with the original int64 features -> int32 model inputs."""
    spec = {key: tf.io.FixedLenFeature([max_seq_length], tf.int64) for key in FEATURE_KEYS}
    parsed = tf.io.parse_example(serialized, spec)
    return {key: tf.cast(parsed[key], tf.int32) for key in FEATURE_KEYS}


class ClassifierServer(tf.Module):
    """A fine-tuned BertClassifier behind three signatures (see `export_classifier`)."""

    def __init__(self, model, packer, label_names, kind, limits):
        super().__init__(name="classifier_server")
        self.model = model
        self.packer = packer
        self.serving_outputs = kind.serving_outputs
        self.label_names = tf.constant(list(label_names) if label_names else [""], tf.string)
        self.limits = limits

    def outputs(self, features):
        logits = self.model({k: features[k] for k in FEATURE_KEYS}, training=False)["logits"]  # [B, C]
        return self.serving_outputs(logits, self.label_names)

    def text_outputs(self, text_a, text_b=None):
        texts = checked_texts({"text_a": text_a, **({} if text_b is None else {"text_b": text_b})}, self.limits)
        return self.outputs(self.packer.pack(texts["text_a"], texts.get("text_b")))

    def id_outputs(self, features):
        return self.outputs(checked_ids(features, self.limits, self.model.plan))


def export_classifier(model, export_dir, vocab_file, do_lower_case, max_seq_length, label_names=(),
                      pair=False, regression=False, limits=DEFAULT_LIMITS):
    """Writes a SavedModel with signatures for a fine-tuned `BertClassifier` (classification or regression).

    - `serving_default`: raw text `text_a` [B] (and `text_b` [B] when `pair`) -> `probabilities` [B, C],
      `logits`, `label_ids`, `labels` (the label names); regression: `scores` [B].
    - `serve_ids`: `input_ids`, `input_mask`, `segment_ids` int32 [B, S] -> the same outputs.
    - `serve_examples`: serialized tf.Examples with the original int64 features (length max_seq_length).

    `limits` bound each request (`bert_tf.export.requests`). Returns the folder written (`folders.export_target`).
    Raises ValueError for any other model, before anything is written.
    """
    if not isinstance(model, BertClassifier):
        raise ValueError("export_classifier exports classification and regression models (BertClassifier); "
                         f"got a {type(model).__name__}")
    kind = kinds.get("regression" if regression else "classification")
    server = ClassifierServer(model, TextPacker(vocab_file, do_lower_case, max_seq_length), label_names, kind,
                              limits)
    if pair:
        serve_text = tf.function(server.text_outputs, input_signature=[
            tf.TensorSpec([None], tf.string, name="text_a"), tf.TensorSpec([None], tf.string, name="text_b")])
    else:
        serve_text = tf.function(lambda text_a: server.text_outputs(text_a),
                                 input_signature=[tf.TensorSpec([None], tf.string, name="text_a")])
    serve_ids = tf.function(
        lambda input_ids, input_mask, segment_ids: server.id_outputs(
            {"input_ids": input_ids, "input_mask": input_mask, "segment_ids": segment_ids}),
        input_signature=[_ids_spec(k) for k in FEATURE_KEYS])
    serve_examples = tf.function(lambda examples: server.id_outputs(parse_examples(examples, max_seq_length)),
                                 input_signature=[tf.TensorSpec([None], tf.string, name="examples")])
    server.serve_text, server.serve_ids, server.serve_examples = serve_text, serve_ids, serve_examples
    return _save(server, export_dir, {"serving_default": serve_text, "serve_ids": serve_ids,
                                      "serve_examples": serve_examples}, kind.name, limits)


def export_task(model, task, export_dir, vocab_file, do_lower_case, max_seq_length, limits=DEFAULT_LIMITS,
                **options):
    """The SavedModel of a fine-tuned `model` of `task`, as its kind says (`bert_tf.kinds`): classification and
    regression as `export_classifier` (the task's labels; two texts for pair tasks), span as
    `bert_tf.export.squad.export_squad` (`options`: doc_stride, max_query_length, n_best_size,
    max_answer_length). Returns the folder written. Raises ValueError, before anything is written, for a kind
    without a SavedModel."""
    check_task(task)
    kind = kinds.get(task.kind)
    if kind.serving == "classifier":
        return export_classifier(model, export_dir, vocab_file, do_lower_case, max_seq_length, task.labels,
                                 pair=task.options.get("pair", False), regression=task.kind == "regression",
                                 limits=limits)
    if kind.serving == "squad":
        from bert_tf.export.squad import export_squad

        return export_squad(model, export_dir, vocab_file, do_lower_case, max_seq_length,
                            version_2_with_negative=task.options["version_2_with_negative"], limits=limits, **options)


def check_task(task):
    """ValueError unless `task`'s kind has a SavedModel (scripts ask before training)."""
    if not kinds.get(task.kind).serving:
        raise ValueError(f"task {task.name}: task kind {task.kind!r} has no SavedModel export (only "
                         f"{', '.join(k.name for k in kinds.KINDS.values() if k.serving)})")


class EncoderServer(tf.Module):
    """The TF-Hub-style encoder: ids in, pooled/sequence/every layer out; tokenization info on the side."""

    def __init__(self, encoder, vocab_file=None, do_lower_case=True, limits=DEFAULT_LIMITS):
        super().__init__(name="encoder_server")
        self.encoder = encoder
        self.vocab_file = tf.saved_model.Asset(vocab_file) if vocab_file else None
        self.do_lower_case = tf.constant(bool(do_lower_case))
        self.limits = limits

    @tf.function(input_signature=[{k: _ids_spec(k) for k in FEATURE_KEYS}])
    def serve(self, inputs):
        """A dict of ids -> outputs; Keras' `TFSMLayer(path, call_endpoint="serve")` calls this."""
        out = self.encoder(checked_ids(inputs, self.limits, self.encoder.plan), training=False)
        return {"pooled_output": out["pooled_output"], "sequence_output": out["sequence_output"],
                "encoder_outputs": tf.stack(out["encoder_outputs"], axis=0)}  # [L, B, S, H]

    @tf.function(input_signature=[_ids_spec(k) for k in FEATURE_KEYS])
    def attention(self, input_ids, input_mask, segment_ids):
        """Ids -> `attention_probs` [L, B, N, S, S] (float32), or one `attention_probs_<l>` [B, N_l, S, S] per
        layer when layers have different head counts."""
        inputs = checked_ids({"input_ids": input_ids, "input_mask": input_mask, "segment_ids": segment_ids},
                             self.limits, self.encoder.plan)
        probs = self.encoder(inputs, training=False, return_attention_probs=True)["attention_probs"]
        if len({p.shape[1] for p in probs}) == 1:
            return {"attention_probs": tf.stack(probs, axis=0)}
        return {f"attention_probs_{i}": p for i, p in enumerate(probs)}


def export_encoder(encoder, export_dir, vocab_file=None, do_lower_case=True, limits=DEFAULT_LIMITS):
    """Encoder SavedModel. `serving_default` / `tokens` (the original TF-Hub signature name) take `input_ids`,
    `input_mask`, `segment_ids`; `attention` takes the same and returns every layer's attention probabilities;
    `tokenization_info` returns the vocab asset path and do_lower_case; the `serve` function takes the ids as one
    dict (Keras: `TFSMLayer(path, call_endpoint="serve")`). Returns the folder written."""
    server = EncoderServer(encoder, vocab_file, do_lower_case, limits)
    tokens = tf.function(lambda input_ids, input_mask, segment_ids: server.serve(
        {"input_ids": input_ids, "input_mask": input_mask, "segment_ids": segment_ids}),
        input_signature=[_ids_spec(k) for k in FEATURE_KEYS])
    signatures = {"serving_default": tokens, "tokens": tokens, "attention": server.attention}
    if vocab_file:
        server.tokenization_info = tf.function(
            lambda: {"vocab_file": server.vocab_file.asset_path, "do_lower_case": server.do_lower_case},
            input_signature=[])
        signatures["tokenization_info"] = server.tokenization_info
    server.tokens = tokens
    return _save(server, export_dir, signatures, "encoder", limits)


class PreprocessorServer(tf.Module):
    """The TF-Hub-style preprocessor: `tokenize(text)` -> ragged ids; `bert_pack_inputs([a, (b)], seq_length)`;
    calling it on a batch of single texts packs them at the default length."""

    def __init__(self, packer, limits=DEFAULT_LIMITS):
        super().__init__(name="preprocessor_server")
        self.packer = packer
        self.limits = limits

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string)])
    def tokenize(self, text):
        return self.packer.tokenizer.tokenize(checked_texts({"text": text}, self.limits)["text"])

    @tf.function
    def bert_pack_inputs(self, segments):
        """[ids_a] or [ids_a, ids_b] (ragged [B, (pieces)]) -> packed inputs at the export's max_seq_length."""
        return pack_inputs(*segments, max_seq_length=self.packer.max_seq_length,
                           cls_id=self.packer.tokenizer.special_ids["[CLS]"],
                           sep_id=self.packer.tokenizer.special_ids["[SEP]"])

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="text")])
    def __call__(self, text):
        return self.packer.pack(checked_texts({"text": text}, self.limits)["text"])

    def pack_pair(self, text_a, text_b):
        texts = checked_texts({"text_a": text_a, "text_b": text_b}, self.limits)
        return self.packer.pack(texts["text_a"], texts["text_b"])


def export_preprocessor(export_dir, vocab_file, do_lower_case, max_seq_length=128, limits=DEFAULT_LIMITS):
    """Text preprocessing SavedModel: `serving_default` takes `text` [B] and returns the packed int32 inputs;
    `text_pair` takes `text_a`, `text_b`. Returns the folder written."""
    server = PreprocessorServer(TextPacker(vocab_file, do_lower_case, max_seq_length), limits)
    ragged_ids = tf.RaggedTensorSpec([None, None], tf.int64, ragged_rank=1)
    for count in (1, 2):  # the traces the SavedModel keeps: one and two segments
        server.bert_pack_inputs.get_concrete_function([ragged_ids] * count)
    server.text_pair = tf.function(server.pack_pair, input_signature=[
        tf.TensorSpec([None], tf.string, name="text_a"), tf.TensorSpec([None], tf.string, name="text_b")])
    return _save(server, export_dir, {"serving_default": server.__call__, "text_pair": server.text_pair},
                 "preprocessor", limits)


def _save(module, export_dir, signatures, kind, limits):
    """`folders.save` with what the SavedModel serves and its limits in its marker file; returns the folder."""
    return folders.save(module, export_dir, signatures, {"kind": kind, "signatures": sorted(signatures),
                                                        "limits": dataclasses.asdict(limits)})
