"""Made-up text for the ALBERT and RoBERTa tokenizer tests: a few hundred lines that mix pseudo-words with the
cases tokenizers get wrong (accents, digits with commas, whitespace runs, emoji, CJK), and where to put the real
corpora's lines for the slow tests."""

import random

from helpers import DATA

CORPORA = ("sample_text.txt", "kjv.txt", "python_docs.txt", "chinese_poems.txt")
_SYLLABLES = "ka to ri mu sen dra ple qui zor vex ab lo ne sti gh ou er in".split()
_SPECIAL = (
    "café naïve résumé Zürich Ünïcödé Ångström façade ﬁne ½ x² ① Ⅻ ｆｕｌｌ "
    "1,000 12,345,678 2024, 7, 3.14 $5, €20 £10 x12, ab7, 99,9 "
    "床前明月光 疑是地上霜 한국어 ガ かﾞ ΣΟΦΙΑ "
    "😀 🎉 👨‍👩‍👧 🇯🇵 (hello) \"quoted\" ``tex'' don't it's WE'RE I'll -- – … ’ "
).split()
# Whitespace runs and odd separators placed between words.
_GAPS = (" ",) * 12 + ("  ", "\t", " \u00a0 ", "\u3000", "   ")

EDGE_LINES = [
    "", " ", "  leading and trailing  ", "tab\tseparated\tvalues", "a\u00a0b\u2003c\u3000d",
    "``LaTeX quotes'' and ''more``", "numbers: 1,000, 2,500,000, and 7,", "x1,y2,z3,", "١٢,٣٤", "１２,３４",
    "emoji 😀😀 👍🏽 family 👨‍👩‍👧 flag 🇫🇷", "中文，标点。「引号」", "日本語のテキスト、カタカナ",
    "ＦＵＬＬ ｗｉｄｔｈ",
    "Ǆemo ǅ ǆ İstanbul ŉ ß ẞ", "combining: e\u0301 a\u0308 n\u0303", "zero\u200bwidth\ufeffmarks",
]


def made_up_lines(count=400, seed=0):
    """`count` lines of pseudo-words and the special words, joined by `_GAPS`, plus `EDGE_LINES`."""
    rng = random.Random(seed)

    def word():
        if rng.random() < 0.3:
            return rng.choice(_SPECIAL)
        syllables = "".join(rng.choice(_SYLLABLES) for _ in range(rng.randint(1, 4)))
        return syllables.capitalize() if rng.random() < 0.2 else syllables

    lines = []
    for _ in range(count):
        words = [word() for _ in range(rng.randint(1, 16))]
        lines.append("".join(w + rng.choice(_GAPS) for w in words[:-1]) + words[-1])
    return lines + EDGE_LINES


def write_lines(path, lines):
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return path


def corpus_lines():
    """{file name: its lines without line ends} of the real corpora (DATA/corpus)."""
    return {name: (DATA / "corpus" / name).read_text(encoding="utf-8").split("\n")[:-1] for name in CORPORA}
