"""What the benchmarks share: where the real data is (one setting, BERT_TF_DATA)."""

import os
import pathlib

ROOT = pathlib.Path(__file__).resolve().parent.parent
# The folder with glue/, squad/, conll2003/, corpus/, bert_base_uncased/ (README, "Data for benchmarks and slow
# tests"); by default the `shared/data` folder beside the checkout.
DATA = pathlib.Path(os.environ.get("BERT_TF_DATA", ROOT.parent / "shared" / "data"))
