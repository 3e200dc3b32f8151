"""What the benchmarks share: where the real data is (one setting, BERT_TF_DATA)."""

import os
import pathlib

ROOT = pathlib.Path(__file__).resolve().parent.parent
# The folder with glue/, squad/, conll2003/, corpus/, bert_base_uncased/ (README, "Data for benchmarks and slow
# tests"); by default the `shared/data` folder beside the checkout.
DATA = pathlib.Path(os.environ.get("BERT_TF_DATA", ROOT.parent / "shared" / "data"))


def add_text_arguments(parser):
    """--file, --vocab and --cased of the tokenizer benchmarks: real text and the BERT-Base uncased vocab."""
    parser.add_argument("--file", default=str(DATA / "corpus" / "kjv.txt"), help="UTF-8 text, one line each")
    parser.add_argument("--vocab", default=str(DATA / "bert_base_uncased" / "vocab.txt"))
    parser.add_argument("--cased", action="store_true", help="do_lower_case=False")
