"""SQuAD SavedModels for TF Serving: a raw question and context in, the best answer span out, chosen as run_squad's
post-processing chooses it, all in graph ops that stock TF Serving has (see `export_squad`).

How the raw-text signature mirrors the Python pipeline (bert_tf.tasks.squad_data, squad_predictions):
1. The question is word-pieced and cut to max_query_length pieces. The context is split on whitespace as
   `split_context` splits it (space, tab, CR, LF, U+202F) into words, and each word is word-pieced on its own,
   so every piece knows its word.
2. The pieces are cut into doc_stride windows exactly as `doc_spans` cuts them, each packed as
   [CLS] question [SEP] window [SEP]; each position knows whether its window is the piece's max-context window
   (`max_context_span`, in float64 as in Python, first window on ties). No context is truncated.
3. In every window: the n_best_size largest start and end logits (padding positions included, as in Python);
   a span is valid when both ends lie in the window's context, the start is at a max-context position,
   end >= start and it has at most max_answer_length pieces. The best span of a question has the largest
   start + end logit (in float64) over its windows; ties go to the earlier window, then the higher start logit
   rank, then the higher end logit rank: the order of Python's stable sort.

Differences from the Python predictions, by design:
- `answer` is the context words that hold the span, joined by " " (the original's `orig_text`), without
  `get_final_text`'s projection of the pieces back onto characters: for the piece "1886" of the word
  "(1886-1969)." the answer is "(1886-1969).", where predictions.json says "1886". `start_word`/`end_word`
  are the word indices (in the whitespace split above), for clients that want to trim.
- Without any valid span, `answer` is "", start_word = end_word = -1 and both logits 0 (Python: "empty" for
  v1; "" with null odds threshold + 1 for v2).
- A context without word pieces still gets one window (Python makes none), so `null_score` is defined.
For v2 models, `null_score` is the smallest [CLS] start + end logit over the windows (float64, the original's
score_null): predict "" when null_score - start_logit - end_logit > null_score_diff_threshold.
"""

from __future__ import annotations

import tensorflow as tf

from bert_tf.export import DEFAULT_LIMITS, FEATURE_KEYS, _ids_spec, parse_examples
from bert_tf.export.folders import save_export
from bert_tf.export.requests import checked_ids, checked_texts, checked_windows
from bert_tf.modeling import BertSpanLabeler
from bert_tf.text_ops import BertTextTokenizer, pack_inputs

# run_squad's whitespace (squad_data.is_whitespace); everything else stays inside a word.
_CONTEXT_WHITESPACE = "[\t\r\n\u202f]"
_NEVER = tf.int64.max  # an index no real candidate has


def split_context(context):
    """`squad_data.split_context`'s words of each context: [B] -> RaggedTensor [B, (words)] of strings."""
    words = tf.strings.split(tf.strings.regex_replace(context, _CONTEXT_WHITESPACE, " "), sep=" ")
    return tf.ragged.boolean_mask(words, tf.strings.length(words) > 0)


def _first_max(values, segments, count, ok):
    """Per segment: the largest of `values` where `ok`, and the first position holding it (_NEVER if none)."""
    values = tf.where(ok, values, tf.constant(-float("inf"), values.dtype))
    best = tf.math.unsorted_segment_max(values, segments, count)
    first = tf.where(ok & (values == tf.gather(best, segments)), tf.range(tf.size(values, tf.int64)), _NEVER)
    return best, tf.math.unsorted_segment_min(first, segments, count)


def _max_context_owner(pieces, max_doc, step):
    """For each piece of `pieces` (flat): the index of its max-context window among its example's windows.

    Only the windows that hold a piece compete for it, and they are known in closed form (`_windows`: window k
    starts at k * step and holds max_doc pieces, or the rest): k from ceil((p - max_doc + 1) / step) to
    floor(p / step). So each piece scores at most ceil(max_doc / step) windows: memory linear in the context
    (scoring every window of the example for every piece grew with its square)."""
    example = pieces.value_rowids()  # [P]
    position = tf.range(tf.size(example, tf.int64)) - tf.gather(pieces.row_splits, example)
    doc_length, max_doc, step = (tf.gather(t, example) for t in (pieces.row_lengths(), max_doc, step))
    first = tf.maximum(tf.constant(0, tf.int64), (position - max_doc + step) // step)
    candidates = tf.ragged.range(first, position // step + 1)  # [P, (windows holding the piece)]
    rows, window = candidates.value_rowids(), candidates.flat_values
    start = window * tf.gather(step, rows)
    length = tf.minimum(tf.gather(doc_length, rows) - start, tf.gather(max_doc, rows))
    position = tf.gather(position, rows)
    end = start + length - 1
    score = tf.cast(tf.minimum(position - start, end - position), tf.float64) + 0.01 * tf.cast(length, tf.float64)
    _, best = _first_max(score, rows, tf.size(example), tf.ones_like(score, tf.bool))  # ties: the first window
    return tf.gather(window, best)


class SquadPacker(tf.Module):
    """Question + context [B] -> the windows' model inputs [F, S] and what post-processing needs about them."""

    def __init__(self, vocab_file, do_lower_case, max_seq_length, doc_stride, max_query_length, name=None):
        super().__init__(name=name)
        if max_seq_length <= max_query_length + 3:  # room for at least one context piece
            raise ValueError(f"max_seq_length {max_seq_length} must exceed max_query_length {max_query_length} + 3")
        if doc_stride < 1:
            raise ValueError(f"doc_stride {doc_stride} must be >= 1")
        self.tokenizer = BertTextTokenizer(vocab_file, do_lower_case)
        self.max_seq_length, self.doc_stride, self.max_query_length = max_seq_length, doc_stride, max_query_length

    def _pieces(self, context):
        """(context words [B, (words)], pieces [B, (pieces)] of ids, the word of each flat piece [P])."""
        words = split_context(context)
        word_pieces = self.tokenizer.tokenize(words.flat_values)  # [W, (pieces)]
        pieces = tf.RaggedTensor.from_row_splits(word_pieces.flat_values,
                                                 tf.gather(word_pieces.row_splits, words.row_splits))
        piece_word = word_pieces.value_rowids() - tf.gather(words.row_splits, pieces.value_rowids())
        return words, pieces, piece_word

    def _windows(self, query_length, doc_length):
        """`doc_spans` in closed form: ragged [B, (windows)] starts and lengths, and max_doc and step [B]. Every
        window but the last is full (max_doc pieces) and the next starts step = min(max_doc, doc_stride) later; an
        empty context gets one empty window."""
        max_doc = self.max_seq_length - 3 - query_length  # [B]
        step = tf.minimum(max_doc, self.doc_stride)
        count = 1 + tf.maximum(tf.constant(0, tf.int64), (doc_length - max_doc + step - 1) // step)
        index = tf.ragged.range(count)  # [B, (windows)]
        starts = index * step[:, None]
        return starts, tf.minimum(doc_length[:, None] - starts, max_doc[:, None]), max_doc, step

    def pack(self, question, context):
        """Returns (words [B, (words)], dict of input_ids, input_mask, segment_ids [F, S] int32, `example` [F]
        (the question's row), `word` [F, S] int64 (context word at each position, -1 outside the context) and
        `max_context` [F, S] bool)."""
        tf.debugging.assert_equal(tf.size(question), tf.size(context),
                                  message="question and context need the same batch size")
        query = self.tokenizer.tokenize(question)[:, :self.max_query_length]  # [B, (q)]
        words, pieces, piece_word = self._pieces(context)
        window_starts, window_lengths, max_doc, step = self._windows(query.row_lengths(), pieces.row_lengths())
        owner = _max_context_owner(pieces, max_doc, step)  # [P]
        example = window_starts.value_rowids()  # [F]
        window = tf.ragged.range(window_starts.row_lengths()).flat_values  # index within the example
        start, length = window_starts.flat_values, window_lengths.flat_values  # [F]
        first_piece = tf.gather(pieces.row_splits, example) + start
        context_ids = tf.gather(pieces.flat_values, tf.ragged.range(first_piece, first_piece + length))
        special = self.tokenizer.special_ids
        features = pack_inputs(tf.gather(query, example), context_ids, max_seq_length=self.max_seq_length,
                               cls_id=special["[CLS]"], sep_id=special["[SEP]"])
        local = tf.range(self.max_seq_length, dtype=tf.int64) - tf.gather(query.row_lengths(), example)[:, None] - 2
        inside = (local >= 0) & (local < length[:, None])  # [F, S]
        dummy = tf.size(piece_word, tf.int64)  # a padding entry for the positions outside the context
        piece = tf.where(inside, first_piece[:, None] + local, dummy)
        features["word"] = tf.gather(tf.concat([piece_word, [-1]], 0), piece)
        features["max_context"] = inside & (tf.gather(tf.concat([owner, [-1]], 0), piece) == window[:, None])
        features["example"] = example
        return words, features


def best_spans(start_logits, end_logits, features, num_examples, n_best_size, max_answer_length):
    """Per question, its best valid span over its windows (module docstring, step 3).

    Args:
      start_logits, end_logits: [F, S] float32; features: `pack`'s `word`, `max_context`, `example`.
    Returns:
      (feature [B], start position [B], end position [B], found [B]): feature row and positions in it are 0
      where no span is valid.
    """
    n = min(n_best_size, start_logits.shape[1])
    start_values, start_index = tf.math.top_k(start_logits, n)  # [F, n], ties: the lower position first
    end_values, end_index = tf.math.top_k(end_logits, n)
    start_index, end_index = tf.cast(start_index, tf.int64), tf.cast(end_index, tf.int64)
    start_ok = tf.gather(features["max_context"], start_index, batch_dims=1)  # [F, n]
    end_ok = tf.gather(features["word"] >= 0, end_index, batch_dims=1)
    pieces = end_index[:, None, :] - start_index[:, :, None] + 1  # [F, n, n]
    ok = start_ok[:, :, None] & end_ok[:, None, :] & (pieces >= 1) & (pieces <= max_answer_length)
    score = tf.cast(start_values, tf.float64)[:, :, None] + tf.cast(end_values, tf.float64)[:, None, :]
    segments = tf.repeat(features["example"], n * n)  # flat order: window, start rank, end rank
    _, first = _first_max(tf.reshape(score, [-1]), segments, num_examples, tf.reshape(ok, [-1]))
    found = first != _NEVER
    first = tf.where(found, first, 0)
    feature, rank = first // (n * n), first % (n * n)
    start = tf.gather_nd(start_index, tf.stack([feature, rank // n], 1))
    end = tf.gather_nd(end_index, tf.stack([feature, rank % n], 1))
    return feature, start, end, found


class SquadServer(tf.Module):
    """A fine-tuned BertSpanLabeler behind three signatures (see `export_squad`)."""

    def __init__(self, model, packer, n_best_size, max_answer_length, version_2_with_negative, limits):
        super().__init__(name="squad_server")
        self.model, self.packer = model, packer
        self.n_best_size, self.max_answer_length = n_best_size, max_answer_length
        self.version_2_with_negative = version_2_with_negative
        self.limits = limits

    def logits(self, features):
        out = self.model({k: features[k] for k in FEATURE_KEYS}, training=False)
        return {k: tf.cast(out[k], tf.float32) for k in ("start_logits", "end_logits")}  # [F, S] each

    def id_logits(self, features):
        return self.logits(checked_ids(features, self.limits, self.model.plan))

    def answer(self, question, context):
        """Raw text [B] -> the best span's words, logits and word indices (and v2's null score)."""
        texts = checked_texts({"question": question, "context": context}, self.limits)
        question = texts["question"]
        words, features = self.packer.pack(question, texts["context"])
        features = {**features, **checked_windows({k: features[k] for k in FEATURE_KEYS}, self.limits)}
        logits = self.logits(features)
        start_logits, end_logits = logits["start_logits"], logits["end_logits"]
        feature, start, end, found = best_spans(start_logits, end_logits, features, tf.size(question),
                                                self.n_best_size, self.max_answer_length)

        def at(tensor, positions):
            return tf.gather_nd(tensor, tf.stack([feature, positions], 1))  # [B]

        start_word = tf.where(found, at(features["word"], start), -1)
        end_word = tf.where(found, at(features["word"], end), -1)
        span = tf.ragged.range(tf.maximum(start_word, 0), end_word + 1) + words.row_splits[:-1, None]
        outputs = {"answer": tf.strings.reduce_join(tf.gather(words.flat_values, span), axis=-1, separator=" "),
                   "start_logit": tf.where(found, at(start_logits, start), 0.0),
                   "end_logit": tf.where(found, at(end_logits, end), 0.0),
                   "start_word": tf.cast(start_word, tf.int32), "end_word": tf.cast(end_word, tf.int32)}
        if self.version_2_with_negative:
            cls = tf.cast(start_logits[:, 0], tf.float64) + tf.cast(end_logits[:, 0], tf.float64)  # [F]
            outputs["null_score"] = tf.math.unsorted_segment_min(cls, features["example"], tf.size(question))
        return outputs

    def examples(self, serialized):
        """Serialized tf.Examples -> logits, and their `unique_ids` (0 where absent) as the original's predict."""
        logits = self.id_logits(parse_examples(serialized, self.packer.max_seq_length))
        spec = {"unique_ids": tf.io.FixedLenFeature([], tf.int64, default_value=0)}
        return {**logits, **tf.io.parse_example(serialized, spec)}


def export_squad(model, export_dir, vocab_file, do_lower_case, max_seq_length, doc_stride=128,
                 max_query_length=64, n_best_size=20, max_answer_length=30, version_2_with_negative=False,
                 limits=DEFAULT_LIMITS):
    """Writes a SavedModel with signatures for a fine-tuned `BertSpanLabeler` (run_squad's flags and defaults).

    - `serving_default`: `question`, `context` string [B] -> `answer` string [B], `start_logit`, `end_logit`
      float32 [B], `start_word`, `end_word` int32 [B] (-1: no valid span); v2 also `null_score` float64 [B].
    - `serve_ids`: `input_ids`, `input_mask`, `segment_ids` int32 [B, S] -> `start_logits`, `end_logits` [B, S].
    - `serve_examples`: serialized tf.Examples with the original features (int64 `input_ids`, `input_mask`,
      `segment_ids` of length max_seq_length; optional `unique_ids`) -> the logits and `unique_ids` [B].

    `limits` bound each request (`bert_tf.export.requests`: max_batch_size counts questions and their windows).
    Returns the folder written.
    """
    if not isinstance(model, BertSpanLabeler):
        raise ValueError(f"export_squad exports span models (BertSpanLabeler); got a {type(model).__name__}")
    if n_best_size < 1 or max_answer_length < 1:
        raise ValueError(f"n_best_size ({n_best_size}) and max_answer_length ({max_answer_length}) must be >= 1")
    packer = SquadPacker(vocab_file, do_lower_case, max_seq_length, doc_stride, max_query_length)
    server = SquadServer(model, packer, n_best_size, max_answer_length, version_2_with_negative, limits)
    server.serve_text = tf.function(server.answer, input_signature=[
        tf.TensorSpec([None], tf.string, name="question"), tf.TensorSpec([None], tf.string, name="context")])
    server.serve_ids = tf.function(
        lambda input_ids, input_mask, segment_ids: server.id_logits(
            {"input_ids": input_ids, "input_mask": input_mask, "segment_ids": segment_ids}),
        input_signature=[_ids_spec(k) for k in FEATURE_KEYS])
    server.serve_examples = tf.function(server.examples, input_signature=[
        tf.TensorSpec([None], tf.string, name="examples")])
    return save_export(server, export_dir, {"serving_default": server.serve_text, "serve_ids": server.serve_ids,
                                            "serve_examples": server.serve_examples}, "span", limits)
