"""The TF-Hub-style pair of SavedModels (`export_encoder.py`): a text preprocessor and an encoder that TF Hub's BERT
client code (its model pages, the "Classify text with BERT" tutorial) uses unchanged through tensorflow-hub and
tf-keras, and Keras 3 through `keras.layers.TFSMLayer`.

TF Hub's interface: the SavedModel's root object and its attributes, with TF Hub's feature names `input_word_ids`,
`input_mask`, `input_type_ids` (int32 [B, S]):

- preprocessor: `preprocessor(text [B])` -> the three inputs at the export's max_seq_length;
  `preprocessor.tokenize(text [B])` -> int32 ragged [B, (words), (pieces)], and its `.get_special_tokens_dict()`;
  `preprocessor.bert_pack_inputs([a] or [a, b], seq_length=max_seq_length)`: ragged int32 or int64 segments,
  [B, (pieces)] or [B, (words), (pieces)] -> the three inputs [B, seq_length], for any seq_length >= 3 (a scalar
  traced once, as TF Hub's).
- encoder: `encoder(inputs, training=False)` -> `pooled_output` [B, H], `sequence_output` [B, S, H],
  `encoder_outputs` (a list of one [B, S, H] per layer), `default` (= pooled_output); dropout on when `training`.
  Its `variables`, `trainable_variables` and `regularization_losses` (none) let `hub.KerasLayer(path,
  trainable=True)` fine-tune the weights; `vocab_file` (an asset) and `do_lower_case` (a variable) as TF Hub's.

bert_tf's signatures (TF Serving's REST; Keras 3's `TFSMLayer`, whose default endpoint is `serve`) keep the original
feature names `input_ids`, `input_mask`, `segment_ids`:

- preprocessor: `serving_default` (`text` [B]), `text_pair` (`text_a`, `text_b`); the `serve` function takes the
  texts as `serving_default` does.
- encoder: `serving_default` and `tokens` (the original TF Hub module's signature name), `attention` (every
  layer's attention probabilities), `tokenization_info`; the `serve` function takes the ids as one dict.

Packing is the original's (`text_ops.pack_inputs`). TF Hub's round-robin truncation keeps the same pieces; the one
difference is a pair whose second text has no pieces, or none left (seq_length 3, or 4 with pieces on both sides),
which the original packs as a single text, with one [SEP] where TF Hub's has two.
Every entry point checks its inputs as the signatures do (`bert_tf.export.requests`).
"""

from __future__ import annotations

import tensorflow as tf

from bert_tf.export.folders import save_export
from bert_tf.export.requests import DEFAULT_LIMITS, FEATURE_KEYS, checked_ids, checked_texts
from bert_tf.text_ops import BertTextTokenizer, pack_inputs, pack_inputs_to_length

HUB_KEYS = ("input_word_ids", "input_mask", "input_type_ids")  # TF Hub's names of FEATURE_KEYS, in that order
# TF Hub's keys of `tokenize.get_special_tokens_dict()` and the tokens they name (padding is always id 0 here).
SPECIAL_TOKEN_KEYS = {"start_of_sequence_id": "[CLS]", "end_of_segment_id": "[SEP]", "mask_id": "[MASK]"}


def hub_names(features):
    """`input_ids`, `input_mask`, `segment_ids` -> TF Hub's `input_word_ids`, `input_mask`, `input_type_ids`."""
    return {hub: features[ours] for ours, hub in zip(FEATURE_KEYS, HUB_KEYS, strict=True)}


def _ids_specs(names):
    return {name: tf.TensorSpec([None, None], tf.int32, name=name) for name in names}


def _text_spec(name):
    return tf.TensorSpec([None], tf.string, name=name)


class EncoderServer(tf.train.Checkpoint):
    """The encoder SavedModel's root: TF Hub's callable encoder and bert_tf's functions (see the module docstring).

    A plain trackable rather than a `tf.Module`: TF Hub's KerasLayer reads `variables` and `trainable_variables`
    from the restored root, so they must be saved attributes, and a tf.Module computes them instead.
    """

    def __init__(self, encoder, vocab_file=None, do_lower_case=True, limits=DEFAULT_LIMITS):
        super().__init__()
        if getattr(encoder, "pooler", None) is None:
            raise ValueError(f"export_encoder: this {encoder.config.model_type} encoder has no pooler, and TF Hub's "
                             "encoder interface returns pooled_output; export a body with a pooler")
        self.encoder = encoder
        self.variables = list(encoder.variables)
        self.trainable_variables = list(encoder.trainable_variables)
        self.regularization_losses = []  # callables KerasLayer adds to the loss; BERT has none
        if vocab_file:
            self.vocab_file = tf.saved_model.Asset(vocab_file)
            self.do_lower_case = tf.Variable(bool(do_lower_case), trainable=False, name="do_lower_case")
        self.limits = limits

    def outputs(self, features, training=False, **options):
        return self.encoder(checked_ids(features, self.limits, self.encoder.plan), training=training, **options)

    @tf.function(autograph=False)
    def __call__(self, inputs, training=False):
        """TF Hub's encoder: TF Hub's three inputs -> `pooled_output`, `sequence_output`, `encoder_outputs` (a list),
        `default`. Traced for training False and True (dropout) by `export_encoder`."""
        out = self.outputs({ours: inputs[hub] for ours, hub in zip(FEATURE_KEYS, HUB_KEYS, strict=True)}, training)
        return {"pooled_output": out["pooled_output"], "sequence_output": out["sequence_output"],
                "encoder_outputs": list(out["encoder_outputs"]), "default": out["pooled_output"]}

    @tf.function(autograph=False, input_signature=[_ids_specs(FEATURE_KEYS)])
    def serve(self, inputs):
        """A dict of ids -> outputs; Keras' `TFSMLayer(path)` calls this (its default endpoint)."""
        out = self.outputs(inputs)
        return {"pooled_output": out["pooled_output"], "sequence_output": out["sequence_output"],
                "encoder_outputs": tf.stack(out["encoder_outputs"], axis=0)}  # [L, B, S, H]

    @tf.function(autograph=False, input_signature=list(_ids_specs(FEATURE_KEYS).values()))
    def attention(self, input_ids, input_mask, segment_ids):
        """Ids -> `attention_probs` [L, B, N, S, S] (float32), or one `attention_probs_<l>` [B, N_l, S, S] per
        layer when layers have different head counts."""
        features = {"input_ids": input_ids, "input_mask": input_mask, "segment_ids": segment_ids}
        probs = self.outputs(features, return_attention_probs=True)["attention_probs"]
        if len({p.shape[1] for p in probs}) == 1:
            return {"attention_probs": tf.stack(probs, axis=0)}
        return {f"attention_probs_{i}": p for i, p in enumerate(probs)}


def export_encoder(encoder, export_dir, vocab_file=None, do_lower_case=True, limits=DEFAULT_LIMITS):
    """Encoder SavedModel: TF Hub's callable root (see the module docstring); `serving_default` / `tokens` (the
    original TF-Hub signature name) take `input_ids`, `input_mask`, `segment_ids`; `attention` takes the same and
    returns every layer's attention probabilities; `tokenization_info` returns the vocab asset path and
    do_lower_case; the `serve` function takes the ids as one dict (Keras: `TFSMLayer(path)`). Returns the folder
    written. Raises ValueError for an encoder without a pooler, before anything is written."""

    server = EncoderServer(encoder, vocab_file, do_lower_case, limits)
    for training in (False, True):  # the traces the SavedModel keeps (a Python bool picks one, as TF Hub's)
        server.__call__.get_concrete_function(_ids_specs(HUB_KEYS), training=training)
    tokens = tf.function(lambda input_ids, input_mask, segment_ids: server.serve(
        {"input_ids": input_ids, "input_mask": input_mask, "segment_ids": segment_ids}),
        input_signature=list(_ids_specs(FEATURE_KEYS).values()), autograph=False)
    signatures = {"serving_default": tokens, "tokens": tokens, "attention": server.attention}
    if vocab_file:
        server.tokenization_info = tf.function(
            lambda: {"vocab_file": server.vocab_file.asset_path, "do_lower_case": server.do_lower_case.read_value()},
            input_signature=[], autograph=False)
        signatures["tokenization_info"] = server.tokenization_info
    server.tokens = tokens
    return save_export(server, export_dir, signatures, "encoder", limits)


class Tokenize(tf.Module):
    """TF Hub's `preprocessor.tokenize`: text [B] -> int32 ragged [B, (words), (pieces)]; `get_special_tokens_dict`."""

    def __init__(self, tokenizer, limits):
        super().__init__(name="tokenize")
        self.tokenizer = tokenizer
        self.limits = limits

    @tf.function(autograph=False, input_signature=[_text_spec("text")])
    def __call__(self, text):
        return tf.cast(self.tokenizer.tokenize_words(checked_texts({"text": text}, self.limits)["text"]), tf.int32)

    @tf.function(autograph=False, input_signature=[])
    def get_special_tokens_dict(self):
        """TF Hub's names of the special tokens' ids, `padding_id` (0, what packing pads with) and `vocab_size` (one
        past the largest id), int32 scalars."""
        ids = {key: self.tokenizer.special_ids[token] for key, token in SPECIAL_TOKEN_KEYS.items()}
        ids.update(padding_id=0, vocab_size=self.tokenizer.vocab_size)
        return {key: tf.constant(value, tf.int32) for key, value in ids.items()}


class PreprocessorServer(tf.Module):
    """The preprocessor SavedModel's root: TF Hub's callable preprocessor with `tokenize` and `bert_pack_inputs`,
    and bert_tf's text signatures (see the module docstring)."""

    def __init__(self, vocab_file, do_lower_case, max_seq_length, limits=DEFAULT_LIMITS):
        super().__init__(name="preprocessor_server")
        if isinstance(max_seq_length, bool) or not isinstance(max_seq_length, int) or max_seq_length < 3:
            raise ValueError(f"max_seq_length must be an integer >= 3 ([CLS] a [SEP]), got {max_seq_length!r}")
        self.tokenizer = BertTextTokenizer(vocab_file, do_lower_case)
        self.tokenize = Tokenize(self.tokenizer, limits)
        self.max_seq_length = max_seq_length
        self.limits = limits

        # One packing graph per segment count; the traces for each segment type only join words and cast (saving
        # and loading cost a few seconds per full packing graph).
        self.pack_pieces = tf.function(lambda pieces, seq_length: hub_names(pack_inputs_to_length(
            *pieces, seq_length=seq_length, **self.special_ids())), autograph=False)

        def bert_pack_inputs(segments, seq_length=max_seq_length):
            """TF Hub's packing: [a] or [a, b] ragged ids -> its three inputs [B, seq_length]."""
            if not 1 <= len(segments) <= 2:
                raise ValueError(f"bert_pack_inputs takes one or two segments, got {len(segments)}")
            return self.pack_pieces([tf.cast(s.merge_dims(-2, -1) if s.ragged_rank == 2 else s, tf.int32)
                                     for s in segments], seq_length)

        # The default length is the export's, as TF Hub's; autograph off: no Python control flow on tensors.
        self.bert_pack_inputs = tf.function(bert_pack_inputs, autograph=False)

    def special_ids(self):
        return {"cls_id": self.tokenizer.special_ids["[CLS]"], "sep_id": self.tokenizer.special_ids["[SEP]"]}

    def pack(self, words_a, words_b=None):
        """`tokenize`'s ids of a text (and a second text) -> `input_ids`, `input_mask`, `segment_ids` [B,
        max_seq_length]. Every entry point tokenizes through `tokenize`, so the SavedModel holds one tokenizer
        graph."""
        pieces = [words.merge_dims(-2, -1) for words in (words_a, words_b) if words is not None]
        return pack_inputs(*pieces, max_seq_length=self.max_seq_length, **self.special_ids())

    @tf.function(autograph=False, input_signature=[_text_spec("text")])
    def __call__(self, text):
        """TF Hub's preprocessor: text [B] -> its three inputs [B, max_seq_length]."""
        return hub_names(self.pack(self.tokenize(text)))

    @tf.function(autograph=False, input_signature=[_text_spec("text")])
    def serve(self, text):
        """Text [B] -> `input_ids`, `input_mask`, `segment_ids`; Keras' `TFSMLayer(path)` calls this."""
        return self.pack(self.tokenize(text))

    @tf.function(autograph=False, input_signature=[_text_spec("text_a"), _text_spec("text_b")])
    def text_pair(self, text_a, text_b):
        texts = checked_texts({"text_a": text_a, "text_b": text_b}, self.limits)  # errors name the input
        return self.pack(self.tokenize(texts["text_a"]), self.tokenize(texts["text_b"]))


def export_preprocessor(export_dir, vocab_file, do_lower_case, max_seq_length=128, limits=DEFAULT_LIMITS):
    """Text preprocessing SavedModel: TF Hub's callable root, `tokenize` and `bert_pack_inputs` (see the module
    docstring); the signature `serving_default` (and the function `serve`, Keras' `TFSMLayer(path)`) takes
    `text` [B], `text_pair` takes `text_a`, `text_b`; they return the packed int32 `input_ids`, `input_mask`,
    `segment_ids`. Returns the folder written. Raises ValueError for a max_seq_length below 3 or a vocab without
    BERT's special tokens, before anything is written."""

    server = PreprocessorServer(vocab_file, do_lower_case, max_seq_length, limits)
    length = tf.TensorSpec([], tf.int32, name="seq_length")
    for dtype in (tf.int32, tf.int64):  # the traces the SavedModel keeps; TF Hub's: int32 only
        for ragged_rank in (1, 2):
            segment = tf.RaggedTensorSpec([None] * (ragged_rank + 1), dtype, ragged_rank=ragged_rank)
            for count in (1, 2):
                # seq_length positional, as saving re-traces it (by keyword would be a second trace)
                server.bert_pack_inputs.get_concrete_function([segment] * count, length)
    return save_export(server, export_dir, {"serving_default": server.serve, "text_pair": server.text_pair},
                       "preprocessor", limits)
