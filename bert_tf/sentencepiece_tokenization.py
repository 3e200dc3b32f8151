"""ALBERT's tokenizer in pure Python: its text preprocessing, then a SentencePiece model; and training such a model.

The same steps as google-research/albert's `tokenization.py` (`preprocess_text`, `encode_pieces`):

1. whitespace: `" ".join(text.split())` (Python's whitespace, runs collapsed, ends stripped);
2. the LaTeX-style quotes `` and '' become `"`;
3. unless `keep_accents`: NFKD, then every character with a nonzero canonical combining class is dropped;
4. `str.lower()` when `do_lower_case` (Python's rule for a final sigma included);
5. SentencePiece (its own normalization, nmt_nfkc for models trained here, runs inside the model);
6. a piece ending in a digit and a comma ("▁1,") is encoded again without the comma, which becomes a piece of its
   own: numbers never carry the comma that follows them.

The ids are ALBERT's layout: <pad>=0, <unk>=1, [CLS]=2, [SEP]=3, [MASK]=4. Text is text: "[MASK]" written in a
line is tokenized as characters, never as the special token. No TensorFlow import (graph ops:
`bert_tf.sentencepiece_ops`).
"""

from __future__ import annotations

import logging
import os
import unicodedata

import sentencepiece as spm

from bert_tf.files import atomic_path, scratch_directory, utf8_error

_LOG = logging.getLogger(__name__)
SPIECE_UNDERLINE = "\u2581"
PAD, UNK, CLS, SEP, MASK = "<pad>", "<unk>", "[CLS]", "[SEP]", "[MASK]"
SPECIAL_TOKENS = (PAD, UNK, CLS, SEP, MASK)  # ids 0..4
# ALBERT's released models split these off as pieces of their own (its spm_train --user_defined_symbols). Not
# used by default: Hugging Face's AlbertTokenizer cuts them out of the text before SentencePiece, so it would
# tokenize the text around them differently from the original (the "▁" before a "(" moves after it).
ALBERT_USER_SYMBOLS = ("(", ")", '"', "-", ".", "\u2013", "\u00a3", "\u20ac")
_WORD_CACHE_SIZE = 1 << 17  # distinct words of real text stay far below this; bounds memory on odd input


def preprocess_text(text: str, do_lower_case: bool = True, keep_accents: bool = False) -> str:
    """ALBERT's `preprocess_text` (steps 1-4 of the module docstring)."""
    text = " ".join(text.split()).replace("``", '"').replace("''", '"')
    if not keep_accents:
        text = "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c))
    return text.lower() if do_lower_case else text


def _load_model(model_file, vocab_size=None) -> spm.SentencePieceProcessor:
    """A SentencePiece processor with ALBERT's special pieces; ValueError naming the file otherwise."""
    name = os.fspath(model_file)
    processor = spm.SentencePieceProcessor()
    try:
        with open(name, "rb") as f:
            processor.LoadFromSerializedProto(f.read())
    except (OSError, RuntimeError) as error:
        raise ValueError(f"{name}: not a readable SentencePiece model ({error})") from None
    size = processor.GetPieceSize()
    if vocab_size is not None and size != vocab_size:
        raise ValueError(f"{name}: SentencePiece model has {size} pieces but the model's vocab_size is "
                         f"{vocab_size}: the tokenizer does not belong to this checkpoint")
    wrong = [f"{token}={processor.PieceToId(token)} (wanted {i})" for i, token in enumerate(SPECIAL_TOKENS)
             if processor.PieceToId(token) != i or processor.IdToPiece(i) != token]
    if wrong:
        raise ValueError(f"{name}: not ALBERT's special-token layout <pad>=0, <unk>=1, [CLS]=2, [SEP]=3, "
                         f"[MASK]=4: {', '.join(wrong)}")
    return processor


class AlbertTokenizer:
    """`tokenize(text) -> pieces`, `encode(text) -> ids`, `build_inputs(ids_a, ids_b)` as ALBERT packs them.

    Args:
      model_file: a SentencePiece `.model` (ALBERT's `30k-clean.model`, or one `train_sentencepiece` wrote).
      do_lower_case, keep_accents: ALBERT's preprocessing switches (released ALBERT: lower-cased, no accents).
      vocab_size: when given, the checkpoint's vocab size: a model of another size is refused.
    """

    def __init__(self, model_file, do_lower_case: bool = True, keep_accents: bool = False, vocab_size=None,
                 split_digit_commas: bool = True):
        self.model_file = os.fspath(model_file)
        self.do_lower_case, self.keep_accents = bool(do_lower_case), bool(keep_accents)
        self.split_digit_commas = bool(split_digit_commas)
        self.sp = _load_model(model_file, vocab_size)
        self.vocab_size = self.sp.GetPieceSize()
        self.pad_id, self.unk_id, self.cls_id, self.sep_id, self.mask_id = range(len(SPECIAL_TOKENS))
        self._cache = {}

    def preprocess(self, text: str) -> str:
        return preprocess_text(text, self.do_lower_case, self.keep_accents)

    def tokenize(self, text: str) -> list[str]:
        """The pieces of `text` after preprocessing (unknown characters appear as themselves)."""
        pieces = []
        for word in self.preprocess(text).split(" "):
            # A piece never crosses a space, so words are encoded (and cached) one by one.
            cached = self._cache.get(word)
            if cached is None:
                if len(self._cache) >= _WORD_CACHE_SIZE:
                    self._cache.clear()
                cached = self.sp.EncodeAsPieces(word)
                cached = self._cache[word] = self._split_digit_commas(cached) if self.split_digit_commas else cached
            pieces += cached
        return pieces

    def _split_digit_commas(self, pieces: list[str]) -> list[str]:
        """Step 6: "▁12," becomes the pieces of "12" and ","; a continuation piece ("2,") stays a continuation."""
        out = []
        for piece in pieces:
            if len(piece) < 2 or piece[-1] != "," or not piece[-2].isdigit():
                out.append(piece)
                continue
            again = self.sp.EncodeAsPieces(piece[:-1].replace(SPIECE_UNDERLINE, ""))
            if piece[0] != SPIECE_UNDERLINE and again and again[0].startswith(SPIECE_UNDERLINE):
                again = again[1:] if again[0] == SPIECE_UNDERLINE else [again[0][1:], *again[1:]]
            out += again + [piece[-1]]
        return out

    def convert_tokens_to_ids(self, pieces) -> list[int]:
        return [self.sp.PieceToId(piece) for piece in pieces]

    def convert_ids_to_tokens(self, ids) -> list[str]:
        return [self.sp.IdToPiece(int(i)) for i in ids]

    def encode(self, text: str) -> list[int]:
        """The ids of `text`'s pieces (no [CLS]/[SEP]); a piece not in the vocab is <unk>=1."""
        return self.convert_tokens_to_ids(self.tokenize(text))

    def build_inputs(self, ids_a, ids_b=None) -> list[int]:
        """`[CLS] a [SEP]` or `[CLS] a [SEP] b [SEP]`, as ALBERT (and BERT) pack one or two segments."""
        ids = [self.cls_id, *ids_a, self.sep_id]
        return ids + [*ids_b, self.sep_id] if ids_b is not None else ids

    def decode(self, ids) -> str:
        """Text of `ids`, special tokens dropped (the preprocessed text, up to SentencePiece's normalization)."""
        return self.sp.DecodeIds([int(i) for i in ids if int(i) >= len(SPECIAL_TOKENS)])


def _preprocessed_lines(paths, do_lower_case, keep_accents):
    for path in paths:
        try:
            with open(path, encoding="utf-8") as f:
                for line in f:
                    text = preprocess_text(line, do_lower_case, keep_accents)
                    if text:
                        yield text
        except UnicodeDecodeError:
            raise ValueError(utf8_error(path)) from None


def train_sentencepiece(paths, model_prefix: str, vocab_size: int, do_lower_case: bool = True,
                        keep_accents: bool = False, character_coverage: float = 0.99995,
                        user_symbols=(), input_sentence_size: int = 10_000_000,
                        seed_sentencepiece_size: int = 1_000_000) -> tuple[str, str]:
    """Trains a unigram SentencePiece model for ALBERT on the lines of `paths`, preprocessed as they will be
    tokenized; writes `<model_prefix>.model` and `.vocab` (each atomically) and returns their paths.

    The settings are ALBERT's own (its README's spm_train line): <pad>=0, <unk>=1, [CLS], [SEP], [MASK] as control
    symbols 2..4, no <s>/</s>, character coverage 0.99995, input sentences shuffled; `user_symbols` (ALBERT's
    were `ALBERT_USER_SYMBOLS`) take ids 5.. when given.

    Raises:
      ValueError: naming a file that is not UTF-8, or when SentencePiece cannot reach `vocab_size` on this text.
    """
    if vocab_size < len(SPECIAL_TOKENS) + len(user_symbols) + 1:
        raise ValueError(f"vocab_size {vocab_size} cannot hold the {len(SPECIAL_TOKENS)} special tokens and "
                         f"{len(user_symbols)} user symbols")
    outputs = (model_prefix + ".model", model_prefix + ".vocab")
    with scratch_directory(outputs[0]) as scratch:
        prefix = os.path.join(scratch, "spiece")
        try:
            spm.SentencePieceTrainer.Train(
                sentence_iterator=_preprocessed_lines(paths, do_lower_case, keep_accents), model_prefix=prefix,
                vocab_size=vocab_size, model_type="unigram", pad_id=0, unk_id=1, bos_id=-1, eos_id=-1,
                control_symbols=[CLS, SEP, MASK], user_defined_symbols=list(user_symbols),
                character_coverage=character_coverage, shuffle_input_sentence=True,
                input_sentence_size=input_sentence_size, seed_sentencepiece_size=seed_sentencepiece_size,
                minloglevel=2)
        except RuntimeError as error:
            raise ValueError(f"SentencePiece training on {', '.join(map(str, paths))} failed: {error}") from None
        for suffix, path in zip((".model", ".vocab"), outputs, strict=True):
            with atomic_path(path) as temp:
                os.replace(prefix + suffix, temp)
    _LOG.info("wrote %s and %s (%d pieces)", *outputs, vocab_size)
    return outputs
