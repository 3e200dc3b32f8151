"""WordPiece tokenization with exactly the original google-research/bert behaviour, in pure Python.

Same API as the original `tokenization.py` (swap the import), several times faster: word -> pieces is cached
and character classes are memoised in `str.translate` tables. No TensorFlow import.
"""

import collections
import itertools
import os
import re
import unicodedata

# Special tokens a BERT vocab must hold: [UNK] for misses, [CLS]/[SEP] for packing, [MASK] for pretraining.
BERT_SPECIAL_TOKENS = ("[UNK]", "[CLS]", "[SEP]", "[MASK]")

# Word -> pieces caches are dropped wholesale when they reach this many entries: an English corpus has far
# fewer distinct words, so this bounds memory (~25 MB) on pathological input without slowing real text.
_WORD_CACHE_SIZE = 1 << 17

# The original's CJK ideograph blocks (Hangul, Hiragana and Katakana are deliberately not among them).
_CJK_RANGES = (
    (0x4E00, 0x9FFF), (0x3400, 0x4DBF), (0x20000, 0x2A6DF), (0x2A700, 0x2B73F),
    (0x2B740, 0x2B81F), (0x2B820, 0x2CEAF), (0xF900, 0xFAFF), (0x2F800, 0x2FA1F),
)

_CHECKPOINT_NAME_RE = re.compile("^.*?([A-Za-z0-9_-]+)/bert_model.ckpt")
_LOWER_CASE_MODELS = (
    "uncased_L-24_H-1024_A-16", "uncased_L-12_H-768_A-12",
    "multilingual_L-12_H-768_A-12", "chinese_L-12_H-768_A-12",
)
_CASED_MODELS = ("cased_L-12_H-768_A-12", "cased_L-24_H-1024_A-16", "multi_cased_L-12_H-768_A-12")


def _is_whitespace(char):
    """True for space, \\t, \\n, \\r and category Zs (e.g. U+00A0); the tokenizer maps them to a space."""
    return char in (" ", "\t", "\n", "\r") or unicodedata.category(char) == "Zs"


def _is_control(char):
    """True for categories Cc and Cf, except \\t, \\n, \\r (whitespace); the tokenizer deletes them."""
    return char not in ("\t", "\n", "\r") and unicodedata.category(char) in ("Cc", "Cf")


def _is_punctuation(char):
    """True for every non-alphanumeric printable ASCII char (so $ ^ ` + < = > | ~) and any category P*."""
    cp = ord(char)
    if 33 <= cp <= 47 or 58 <= cp <= 64 or 91 <= cp <= 96 or 123 <= cp <= 126:
        return True
    return unicodedata.category(char).startswith("P")


def _is_chinese_char(cp):
    """True if code point `cp` lies in one of the original's CJK ideograph ranges."""
    return any(lo <= cp <= hi for lo, hi in _CJK_RANGES)


class _CharTable(dict):
    """A `str.translate` table: code point -> rule(char) (None deletes), computed on first sight and kept.

    The tables below stay small (only characters actually seen) and make every per-character decision of the
    original one C-level `translate` call, with `unicodedata` consulted once per distinct character.
    """

    def __init__(self, rule):
        super().__init__()
        self._rule = rule

    def __missing__(self, cp):
        value = self[cp] = self._rule(chr(cp))
        return value


def _clean_rule(char):
    """The original's cleaning and CJK spacing: drop NUL, U+FFFD, controls; whitespace -> " "; CJK c -> " c "."""
    cp = ord(char)
    if cp == 0 or cp == 0xFFFD or _is_control(char):
        return None
    if _is_whitespace(char):
        return " "
    return " " + char + " " if _is_chinese_char(cp) else char


def _punctuation_rule(char):
    """Punctuation p -> " p ", so that splitting on whitespace makes it a token of its own."""
    return " " + char + " " if _is_punctuation(char) else char


def _accent_punctuation_rule(char):
    """As _punctuation_rule, and drop combining marks (Mn) as the original's accent stripping after NFD."""
    return None if unicodedata.category(char) == "Mn" else _punctuation_rule(char)


_CLEAN_TABLE = _CharTable(_clean_rule)
_PUNCTUATION_TABLE = _CharTable(_punctuation_rule)
_ACCENT_PUNCTUATION_TABLE = _CharTable(_accent_punctuation_rule)
# ASCII text (most real lines) holds no CJK and no whitespace but " \t\n\r", which str.split() splits on
# already; it only needs a translate when it holds one of the ASCII control characters.
_ASCII_CONTROL_RE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def convert_to_unicode(text):
    """Returns `text` as str; bytes are decoded as UTF-8 with invalid bytes dropped (as the original)."""
    if isinstance(text, str):
        return text
    if isinstance(text, bytes):
        return text.decode("utf-8", "ignore")
    raise ValueError(f"Unsupported string type: {type(text)} (expected str or bytes)")


def printable_text(text):
    """Returns `text` as str for printing or logging (on Python 3 the same as convert_to_unicode)."""
    return convert_to_unicode(text)


def _clean_split(text):
    """Cleaned, CJK-spaced `text` split on whitespace: the original's steps 1-3 plus its whitespace split."""
    text = convert_to_unicode(text)
    if text.isascii():
        if _ASCII_CONTROL_RE.search(text) is None:
            return text.split()
    return text.translate(_CLEAN_TABLE).split()


def _basic_split(word, do_lower_case):
    """One whitespace-free word -> its basic tokens (lower, strip accents if asked, split punctuation).

    Accent stripping and punctuation splitting touch disjoint characters (Mn vs P*/ASCII), so one translate
    does both; splitting the result on whitespace is also the original's final re-join and re-split.
    """
    if not do_lower_case:
        return word.translate(_PUNCTUATION_TABLE).split()
    word = word.lower()
    if not word.isascii():
        word = unicodedata.normalize("NFD", word)
    return word.translate(_ACCENT_PUNCTUATION_TABLE).split()


def load_vocab(vocab_file):
    """Reads a vocab file (one token per line, id = 0-based line number) into an OrderedDict token -> id.

    Raises:
      ValueError: naming the file and line for a line that is not UTF-8 or a token seen on an earlier line
        (the original silently skipped duplicates, which shifts every later id), or naming the file when it
        holds no token at all. A blank line is the token "" with its line's id, as in the original.
    """
    with open(vocab_file, "rb") as reader:
        data = reader.read()
    lines = data.split(b"\n")
    if lines[-1] == b"":
        lines.pop()  # the newline ending the last line does not start another one
    vocab = collections.OrderedDict()
    for index, raw in enumerate(lines):
        try:
            token = raw.decode("utf-8").strip()
        except UnicodeDecodeError as err:
            message = f"{vocab_file}:{index + 1}: vocab line is not valid UTF-8 ({err}): {raw!r}"
            raise ValueError(message) from None
        if token in vocab:
            where = f"{vocab_file}:{index + 1}"
            raise ValueError(f"{where}: duplicate vocab entry {token!r}, first on line {vocab[token] + 1}")
        vocab[token] = index
    if not any(vocab):
        raise ValueError(f"{vocab_file}: vocab file has no token (it is empty or blank)")
    return vocab


def convert_by_vocab(vocab, items):
    """Maps each item through `vocab` (token -> id or id -> token); an unknown item raises KeyError."""
    return [vocab[item] for item in items]


def convert_tokens_to_ids(vocab, tokens):
    return convert_by_vocab(vocab, tokens)


def convert_ids_to_tokens(inv_vocab, ids):
    return convert_by_vocab(inv_vocab, ids)


def validate_case_matches_checkpoint(do_lower_case, init_checkpoint):
    """Raises ValueError when `do_lower_case` contradicts a released model's name in `init_checkpoint`.

    The casing is not stored in bert_config.json, so, as the original, it is guessed from the directory name
    before `/bert_model.ckpt`; unknown names pass.
    """
    if not init_checkpoint:
        return
    match = _CHECKPOINT_NAME_RE.match(init_checkpoint)
    if match is None:
        return
    model_name = match.group(1)
    if model_name in _LOWER_CASE_MODELS and not do_lower_case:
        actual, case_name, wanted = "False", "lowercased", "True"
    elif model_name in _CASED_MODELS and do_lower_case:
        actual, case_name, wanted = "True", "cased", "False"
    else:
        return
    raise ValueError(
        f"You passed in `--do_lower_case={actual}` with `--init_checkpoint={init_checkpoint}`. However, "
        f"`{model_name}` seems to be a {case_name} model, so you should pass in `--do_lower_case={wanted}` "
        "so that the fine-tuning matches how the model was pre-trained.")


class _WordCache(dict):
    """word -> tuple of tokens, computed by `compute` on a miss; emptied when it holds _WORD_CACHE_SIZE words.

    Lookups go through `map(cache.__getitem__, words)`, so a hit costs no Python-level call at all.
    """

    def __init__(self, compute):
        super().__init__()
        self._compute = compute

    def __missing__(self, word):
        if len(self) >= _WORD_CACHE_SIZE:
            self.clear()
        value = self[word] = tuple(self._compute(word))
        return value


class BasicTokenizer:
    """Cleaning, CJK splitting, optional lower-casing + accent stripping, punctuation splitting."""

    def __init__(self, do_lower_case=True):
        self.do_lower_case = do_lower_case
        self._cache = _WordCache(lambda word: _basic_split(word, self.do_lower_case))

    def tokenize(self, text):
        """Returns the basic tokens of `text` (str or UTF-8 bytes)."""
        return list(itertools.chain.from_iterable(map(self._cache.__getitem__, _clean_split(text))))


class WordpieceTokenizer:
    """Greedy longest-match-first WordPiece over any token -> id mapping (no special token is required).

    A word with no full segmentation becomes one `unk_token`, as does a word longer than
    `max_input_chars_per_word` characters.
    """

    def __init__(self, vocab, unk_token="[UNK]", max_input_chars_per_word=200):
        self.vocab = vocab
        self.unk_token = unk_token
        self.max_input_chars_per_word = max_input_chars_per_word
        # No vocab entry is longer than this, so longer candidates need not be looked up (the vocab is read
        # here, once: tokens added to it later must be no longer than the longest one present now).
        self._max_token_chars = max((len(token) for token in vocab), default=0)
        self._cache = _WordCache(self._word_pieces)

    def tokenize(self, text):
        """Returns the word pieces of `text`, already whitespace separated basic tokens (str or bytes)."""
        return list(itertools.chain.from_iterable(map(self._cache.__getitem__, convert_to_unicode(text).split())))

    def _word_pieces(self, word):
        """The pieces of one whitespace-free word."""
        n = len(word)
        if n > self.max_input_chars_per_word:
            return [self.unk_token]
        vocab = self.vocab
        longest = self._max_token_chars
        pieces = []
        start = 0
        while start < n:
            end = start + longest if start + longest < n else n
            prefix = "##" if start > 0 else ""
            while start < end:
                piece = prefix + word[start:end]
                if piece in vocab:
                    break
                end -= 1
            else:
                return [self.unk_token]
            pieces.append(piece)
            start = end
        return pieces


class FullTokenizer:
    """BasicTokenizer then WordpieceTokenizer, with a fused word -> pieces cache.

    Checks at construction that the vocab holds `required_tokens` (by default BERT's [UNK], [CLS], [SEP],
    [MASK]), so a wrong vocab fails here, naming the file, rather than as a KeyError deep in packing or
    masking. WordpieceTokenizer itself accepts any vocab.
    """

    def __init__(self, vocab_file, do_lower_case=True, required_tokens=BERT_SPECIAL_TOKENS):
        self.vocab = load_vocab(vocab_file)
        missing = [token for token in required_tokens if token not in self.vocab]
        if missing:
            raise ValueError(
                f"{os.fspath(vocab_file)}: vocab of {len(self.vocab)} entries lacks the special token(s) "
                f"{', '.join(missing)} that BERT needs")
        self.inv_vocab = {index: token for token, index in self.vocab.items()}
        self.do_lower_case = do_lower_case
        self.basic_tokenizer = BasicTokenizer(do_lower_case=do_lower_case)
        self.wordpiece_tokenizer = WordpieceTokenizer(vocab=self.vocab)
        self._cache = _WordCache(self._word_pieces)

    def tokenize(self, text):
        """Returns the word pieces of `text` (str or UTF-8 bytes)."""
        return list(itertools.chain.from_iterable(map(self._cache.__getitem__, _clean_split(text))))

    def _word_pieces(self, word):
        """Basic tokens, then word pieces, of one whitespace-free word (raw text; the cache's miss path)."""
        pieces = self.wordpiece_tokenizer._cache.__getitem__
        return itertools.chain.from_iterable(map(pieces, _basic_split(word, self.do_lower_case)))

    def convert_tokens_to_ids(self, tokens):
        return [self.vocab[token] for token in tokens]

    def convert_ids_to_tokens(self, ids):
        return [self.inv_vocab[index] for index in ids]
