"""What each attention head looks at ("What does BERT look at?", Clark et al., 2019) and the pattern of its maps
("Revealing the dark secrets of BERT", Kovaleva et al., 2019).

Shape legend: L layers (block runs), N heads, B batch, S queries, T keys.

Statistics are means over every real query position of every sentence (padding excluded), per layer and head:
the attention mass on [CLS], on [SEP], on punctuation, on the previous, next and same token, and the entropy of
the query's distribution next to the entropy a uniform distribution over the real keys would have. For the map's
pattern, the keys of a query fall in three disjoint groups: `diagonal` (the query itself, and its neighbours that
are not [CLS], [SEP] or punctuation), `vertical` (the other [CLS], [SEP] and punctuation keys) and the rest.
"""

from __future__ import annotations

import dataclasses
import json

import numpy as np

from bert_tf.files import atomic_file, write_text
from bert_tf.tokenization import _is_punctuation

STATISTICS = ("cls", "sep", "punctuation", "previous", "next", "same", "entropy", "uniform_entropy", "vertical",
              "diagonal", "segment")
PATTERNS = ("vertical+diagonal", "vertical", "diagonal", "block", "heterogeneous")
# The pattern rule's thresholds on mean attention mass (see `pattern`).
VERTICAL, DIAGONAL, BOTH, BLOCK = 0.6, 0.6, 0.3, 0.8


def pattern(vertical: float, diagonal: float, block: float | None) -> str:
    """Kovaleva et al.'s classes of attention maps, by a rule on a head's mean attention masses:

    - vertical+diagonal: at least 0.3 on the vertical keys and at least 0.3 on the diagonal ones (module docstring);
    - vertical: at least 0.6 on [CLS]/[SEP]/punctuation (the columns of those tokens);
    - diagonal: at least 0.6 on the query itself and its neighbours (the bands along the diagonal);
    - block: at least 0.8 on the query's own segment (the square of its sentence; measured on sentence pairs
      only: `block` is None without pairs);
    - heterogeneous: none of these.
    """
    if vertical >= BOTH and diagonal >= BOTH:
        return "vertical+diagonal"
    if vertical >= VERTICAL:
        return "vertical"
    if diagonal >= DIAGONAL:
        return "diagonal"
    if block is not None and block >= BLOCK:
        return "block"
    return "heterogeneous"


def is_punctuation(token: str) -> bool:
    """A word piece made of punctuation characters only (the original tokenizer's notion of punctuation)."""
    text = token[2:] if token.startswith("##") else token
    return bool(text) and all(_is_punctuation(c) for c in text)


@dataclasses.dataclass
class AttentionStatistics:
    """Sums of per-query statistics over the sentences seen so far; `means()` gives [L, N] arrays."""

    sums: dict = dataclasses.field(default_factory=dict)  # name -> per layer, [N] sums
    queries: int = 0  # real query positions seen
    pair_queries: int = 0  # of them, in sentence pairs (the `segment` statistic's count)
    sentences: int = 0

    def add(self, probs, tokens, segment_ids):
        """Adds one sentence: `probs`, one [N, S, S] per layer (any S >= its length; layers may have different
        head counts), its word pieces [T] (with [CLS]/[SEP]) and segment ids [T]."""
        count = len(tokens)
        special = np.array([t in ("[CLS]", "[SEP]") for t in tokens])
        sep = np.array([t == "[SEP]" for t in tokens])
        punctuation = np.array([is_punctuation(t) for t in tokens])
        segment_ids = np.asarray(segment_ids)[:count]
        pair = segment_ids.max() > 0
        columns = special | punctuation
        offsets = np.abs(np.arange(count)[:, None] - np.arange(count)[None, :])
        near = (offsets == 0) | ((offsets == 1) & ~columns[None, :])  # [T, T]
        far_columns = columns[None, :] & (offsets != 0)
        own = (segment_ids[:, None] == segment_ids[None, :]) & ~special[None, :]  # [T, T]
        for layer, layer_probs in enumerate(probs):
            p = np.asarray(layer_probs, np.float64)[:, :count, :count]  # [N, T, T]
            masses = {"cls": p[..., 0].sum(-1), "sep": p[..., sep].sum((-1, -2)),
                      "punctuation": p[..., punctuation].sum((-1, -2)),
                      "same": np.trace(p, axis1=-2, axis2=-1),
                      "previous": np.trace(p, offset=-1, axis1=-2, axis2=-1),
                      "next": np.trace(p, offset=1, axis1=-2, axis2=-1),
                      "entropy": -(p * np.log(np.where(p > 0, p, 1.0))).sum((-1, -2)),
                      "uniform_entropy": np.full(p.shape[0], count * np.log(count)),
                      "vertical": (p * far_columns).sum((-1, -2)), "diagonal": (p * near).sum((-1, -2))}
            if pair:  # the mass each query puts on its own segment's words
                masses["segment"] = (p * own).sum((-1, -2))
            for name, value in masses.items():
                totals = self.sums.setdefault(name, [])
                if len(totals) <= layer:
                    totals.append(np.zeros_like(value))
                totals[layer] = totals[layer] + value
        self.queries += count
        self.pair_queries += count if pair else 0
        self.sentences += 1

    def means(self) -> dict:
        """{statistic: [L, N] mean over real query positions}, NaN where a layer has fewer heads; `segment` only
        with sentence pairs."""
        if not self.queries:
            raise ValueError("no sentences: attention statistics need at least one")
        heads = max(len(value) for value in self.sums["cls"])
        out = {}
        for name in STATISTICS:
            if name in self.sums:
                count = self.pair_queries if name == "segment" else self.queries
                out[name] = np.array([np.pad(value / count, (0, heads - len(value)), constant_values=np.nan)
                                      for value in self.sums[name]])
        return out

    def patterns(self) -> list[list[str]]:
        """[L][N] pattern names (`pattern`)."""
        m = self.means()
        vertical, diagonal, block = m["vertical"], m["diagonal"], m.get("segment")
        return [[pattern(vertical[i, j], diagonal[i, j], None if block is None else block[i, j])
                 for j in range(len(self.sums["cls"][i]))] for i in range(vertical.shape[0])]

    def rows(self) -> list[dict]:
        """One dict per layer and head: layer, head, every statistic, pattern."""
        m, patterns = self.means(), self.patterns()
        return [{"layer": i, "head": j, **{name: float(value[i, j]) for name, value in m.items()},
                 "pattern": patterns[i][j]} for i in range(len(patterns)) for j in range(len(patterns[i]))]

    def write(self, tsv_path: str, json_path: str):
        """The rows as TSV (header, one line per head) and JSON (with the sentence and query counts)."""
        rows = self.rows()
        columns = list(rows[0])
        with atomic_file(tsv_path) as f:
            f.write("\t".join(columns) + "\n")
            for row in rows:
                f.write("\t".join(f"{row[c]:.6f}" if isinstance(row[c], float) else str(row[c]) for c in columns)
                        + "\n")
        write_text(json_path, json.dumps({"sentences": self.sentences, "queries": self.queries,
                                          "heads": rows}, indent=2) + "\n")
