"""The house rules of docs/ARCHITECTURE.md that code can check: one-way imports, no TensorFlow where it is not
needed, no environment variable set on import."""

import ast
import os
import pathlib
import subprocess
import sys

import pytest

PACKAGE = pathlib.Path(__file__).resolve().parent.parent / "bert_tf"
# docs/ARCHITECTURE.md's import direction: files, config, tokenizers -> text_ops, *_data, tasks -> modeling,
# optimization, objectives -> training, checkpoints, kinds, export -> scripts. A module may import its own level
# and the levels before it.
LEVELS = {
    "files": 0, "config": 0, "model_types": 0, "tokenization": 0, "sentencepiece_tokenization": 0,
    "text_ops": 1, "sentencepiece_ops": 1, "finetuning_data": 1, "pretraining_data": 1, "tasks": 1, "vocab_learning": 1,
    "byte_bpe": 1,
    "modeling": 2, "optimization": 2, "objectives": 2, "distillation": 2,
    "training": 3, "checkpoints": 3, "checkpoint_files": 3, "kinds": 3, "export": 3, "finetuning": 3, "cli": 3,
    "analysis": 3, "datasets": 3, "serving": 3, "export_flags": 3,
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
        assert top in LEVELS, f"{top} has no place in the import direction: add it to LEVELS (and ARCHITECTURE.md)"
        for target in imported_bert_tf_modules(path):
            if target != top and LEVELS[target] > LEVELS[top]:
                violations.append(f"{path.relative_to(PACKAGE)} imports bert_tf.{target}")
    assert violations == []


def test_tasks_never_import_modeling_and_modeling_never_imports_data():
    for path in (PACKAGE / "tasks").rglob("*.py"):
        assert "modeling" not in set(imported_bert_tf_modules(path)), path
    for path in (PACKAGE / "modeling").rglob("*.py"):
        assert set(imported_bert_tf_modules(path)) <= {"files", "config", "model_types", "modeling"}, path


def test_pure_modules_import_without_tensorflow():
    code = ("import sys; import bert_tf.config, bert_tf.model_types, bert_tf.tokenization, bert_tf.vocab_learning, "
            "bert_tf.tasks, bert_tf.finetuning_data, bert_tf.pretraining_data, bert_tf.sentencepiece_tokenization, "
            "bert_tf.byte_bpe; "
            "print(sorted(m for m in ('tensorflow', 'keras', 'sklearn', 'torch') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout
    assert out.strip() == "[]"


def test_importing_bert_tf_changes_no_environment_variable():
    # TensorFlow sets variables of its own when imported: it is imported first, so that only bert_tf's count.
    code = ("import json, os, tensorflow, keras, tensorflow_text, safetensors, sklearn, scipy; "
            "before = dict(os.environ); import bert_tf, bert_tf.modeling, bert_tf.training, "
            "bert_tf.finetuning, bert_tf.export, bert_tf.checkpoint_files; "
            "print(json.dumps({k: v for k, v in os.environ.items() if before.get(k) != v}))")
    env = {k: v for k, v in os.environ.items() if k != "TF_ENABLE_ONEDNN_OPTS"}
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True, env=env).stdout
    assert out.strip().splitlines()[-1] == "{}"


@pytest.mark.parametrize("script", ["run_pretraining.py", "run_classifier.py", "run_squad.py", "extract_features.py",
                                    "export_encoder.py", "analyze_attention.py"])
@pytest.mark.parametrize("given, expected", [(None, "1"), ("0", "0")])
def test_scripts_turn_onednn_on_before_tensorflow_loads_unless_the_environment_says_otherwise(script, given,
                                                                                              expected):
    env = {k: v for k, v in os.environ.items() if k != "TF_ENABLE_ONEDNN_OPTS"}
    if given is not None:
        env["TF_ENABLE_ONEDNN_OPTS"] = given
    # The script's top level runs (its --helpshort exits in app.run); at exit: the setting and whether
    # TensorFlow had been imported before the script set it.
    code = ("import atexit, os, runpy, sys; "
            "atexit.register(lambda: print(os.environ.get('TF_ENABLE_ONEDNN_OPTS'))); "
            f"sys.argv = [{script!r}, '--helpshort']; runpy.run_path({script!r}, run_name='__main__')")
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env,
                         cwd=PACKAGE.parent)
    assert run.stdout.strip().splitlines()[-1] == expected, run.stderr[-2000:]
    first = [line for line in (PACKAGE.parent / script).read_text().split('"""', 2)[2].splitlines() if line][:2]
    assert first == ["import os", 'os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")  # before TensorFlow '
                                  'loads: README, "TensorFlow settings"']


def test_every_task_kind_has_a_data_record_and_a_model_record(config):
    from bert_tf import kinds, tasks

    assert tuple(kinds.KINDS) == tasks.KINDS
    assert {task.kind for task in tasks.TASKS} <= set(tasks.KINDS)
    for task in tasks.TASKS:
        model = kinds.get(task.kind).model(config, task)
        assert tuple(model.heads()) == (kinds.get(task.kind).head,), task.name
