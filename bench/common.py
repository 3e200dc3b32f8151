"""What the benchmarks share: where the real data is (one setting, BERT_TF_DATA)."""

import os
import pathlib

ROOT = pathlib.Path(__file__).resolve().parent.parent
# The folder with glue/, squad/, conll2003/, corpus/, bert_base_uncased/ (README, "Data for benchmarks and slow
# tests"); by default the `shared/data` folder beside the checkout.
DATA = pathlib.Path(os.environ.get("BERT_TF_DATA", ROOT.parent / "shared" / "data"))


def cpu_model():
    """The CPU's model name as `lscpu` gives it (every figure names its CPU)."""
    import subprocess

    out = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
    return next((line.split(":", 1)[1].strip() for line in out.splitlines() if line.startswith("Model name")), "?")


def add_text_arguments(parser):
    """--file, --vocab and --cased of the tokenizer benchmarks: real text and the BERT-Base uncased vocab."""
    parser.add_argument("--file", default=str(DATA / "corpus" / "kjv.txt"), help="UTF-8 text, one line each")
    parser.add_argument("--vocab", default=str(DATA / "bert_base_uncased" / "vocab.txt"))
    parser.add_argument("--cased", action="store_true", help="do_lower_case=False")


class Worker:
    """One peer in its own process (`argv`, `env`): its first line answers that it is ready, then it answers each
    request line with one JSON line. Peers take turns through `ask`, so that no two measure at once."""

    def __init__(self, name, argv, env=None):
        import subprocess

        self.name = name
        self.process = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env, text=True)
        self.ready = self._answer()

    def _answer(self):
        import json

        line = self.process.stdout.readline()
        if not line:
            raise RuntimeError(f"worker {self.name!r} exited with status {self.process.wait()}")
        return json.loads(line)

    def ask(self, request):
        self.process.stdin.write(f"{request}\n")
        self.process.stdin.flush()
        return self._answer()

    def close(self):
        self.process.stdin.close()
        self.process.wait()
