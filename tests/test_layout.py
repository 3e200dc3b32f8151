"""The house rules of DESIGN.md that code can check: one-way imports, no TensorFlow where it is not needed."""

import ast
import os
import pathlib
import subprocess
import sys

import pytest

PACKAGE = pathlib.Path(__file__).resolve().parent.parent / "bert_tf"
# DESIGN.md's import direction: config, tokenization -> text_ops, *_data, tasks -> modeling, optimization
# -> training, checkpoints, export -> scripts. A module may import its own level and the levels before it.
LEVELS = {
    "config": 0, "tokenization": 0,
    "text_ops": 1, "finetuning_data": 1, "pretraining_data": 1, "tasks": 1, "vocab_learning": 1,
    "modeling": 2, "optimization": 2, "losses": 2,
    "training": 3, "checkpoints": 3, "checkpoint_files": 3, "export": 3, "finetuning": 3, "cli": 3,
}


def imported_bert_tf_modules(path):
    for node in ast.walk(ast.parse(path.read_text())):
        names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
        if isinstance(node, ast.ImportFrom) and node.module:
            names = [node.module] + ([f"{node.module}.{a.name}" for a in node.names] if node.module == "bert_tf"
                                     else [])
        for name in names:
            parts = name.split(".")
            if parts[0] == "bert_tf" and len(parts) > 1:
                yield parts[1]


def test_every_module_has_a_level_and_imports_only_downwards():
    violations = []
    for path in sorted(PACKAGE.rglob("*.py")):
        top = path.relative_to(PACKAGE).parts[0].removesuffix(".py")
        if top == "__init__":
            continue
        assert top in LEVELS, f"{top} has no place in the import direction: add it to LEVELS (and DESIGN.md)"
        for target in imported_bert_tf_modules(path):
            if target != top and LEVELS[target] > LEVELS[top]:
                violations.append(f"{path.relative_to(PACKAGE)} imports bert_tf.{target}")
    assert violations == []


def test_tasks_never_import_modeling_and_modeling_never_imports_data():
    for path in (PACKAGE / "tasks").rglob("*.py"):
        assert "modeling" not in set(imported_bert_tf_modules(path)), path
    for path in (PACKAGE / "modeling").rglob("*.py"):
        assert set(imported_bert_tf_modules(path)) <= {"config", "modeling"}, path


def test_pure_modules_import_without_tensorflow():
    code = ("import sys; import bert_tf.config, bert_tf.tokenization, bert_tf.vocab_learning, bert_tf.tasks, "
            "bert_tf.finetuning_data, bert_tf.pretraining_data; "
            "print(sorted(m for m in ('tensorflow', 'keras', 'sklearn', 'torch') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout
    assert out.strip() == "[]"


@pytest.mark.parametrize("given, expected", [(None, "1"), ("0", "0")])
def test_importing_bert_tf_turns_onednn_on_unless_the_environment_says_otherwise(given, expected):
    env = {k: v for k, v in os.environ.items() if k != "TF_ENABLE_ONEDNN_OPTS"}
    if given is not None:
        env["TF_ENABLE_ONEDNN_OPTS"] = given
    code = "import os, bert_tf; print(os.environ['TF_ENABLE_ONEDNN_OPTS'])"
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True, env=env).stdout
    assert out.strip() == expected
