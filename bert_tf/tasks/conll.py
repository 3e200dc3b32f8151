"""CoNLL-2003 English NER as data: eng.train / eng.testa (dev) / eng.testb (test), first-sub-token tagging.

The files are IOB1 (`I-X` starts an entity unless it follows an `X` entity, then `B-X`). The reader converts
each sentence to IOB2 (every entity starts with `B-X`) so a tag's meaning does not depend on its neighbour; the
conversion keeps every entity (conlleval's chunking, which seqeval's default mode follows, finds the same ones
in both schemes), so entity-level F1 is unchanged.
"""

from __future__ import annotations

import functools

from bert_tf import finetuning_data as fd
from bert_tf.tasks import metrics
from bert_tf.tasks.task import Task

TAGS = ("O", "B-PER", "I-PER", "B-ORG", "I-ORG", "B-LOC", "I-LOC", "B-MISC", "I-MISC")


def iob1_to_iob2(tags: list[str]) -> list[str]:
    """I-X that does not continue an X entity becomes B-X; everything else is kept."""
    converted = []
    for i, tag in enumerate(tags):
        previous = tags[i - 1] if i else "O"
        if tag.startswith("I-") and previous[2:] != tag[2:]:
            tag = "B-" + tag[2:]
        converted.append(tag)
    return converted


def read_conll(path: str, split: str, labels: tuple[str, ...]) -> list[fd.TaggedExample]:
    """Sentences of `token POS chunk NER` lines; blank lines end sentences, -DOCSTART- lines are skipped."""
    sentences, words, tags = [], [], []
    with open(path, encoding="utf-8") as f:
        for line_number, line in enumerate(f, 1):
            fields = line.split()
            if not fields or fields[0] == "-DOCSTART-":
                if words:
                    sentences.append((words, tags))
                words, tags = [], []
                continue
            if len(fields) != 4:
                raise ValueError(f"{path}:{line_number}: {len(fields)} fields, expected 4 (token POS chunk NER)")
            if fields[3] not in labels:
                raise ValueError(f"{path}:{line_number}: unknown tag {fields[3]!r}; expected one of {list(labels)}")
            words.append(fields[0])
            tags.append(fields[3])
    if words:
        sentences.append((words, tags))
    if not sentences:
        raise ValueError(f"{path}: no sentences")
    return [fd.TaggedExample(f"{split}-{i}", tuple(w), tuple(iob1_to_iob2(t))) for i, (w, t) in enumerate(sentences)]


CONLL2003 = Task("conll2003", "tagging", TAGS, functools.partial(metrics.entity_f1, tags=TAGS),
                 {"train": "eng.train", "dev": "eng.testa", "test": "eng.testb"}, read_conll)
