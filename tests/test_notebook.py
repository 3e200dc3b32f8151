"""The Colab notebook runs top to bottom on CPU with small settings, so it never rots."""

import ast
import os

import nbformat
from nbclient import NotebookClient

NOTEBOOK = os.path.join(os.path.dirname(os.path.dirname(__file__)), "notebooks", "colab_tpu.ipynb")


def test_colab_notebook_executes_and_learns(tmp_path, monkeypatch):
    monkeypatch.setenv("BERT_TF_NOTEBOOK_SMALL", "1")
    monkeypatch.setenv("BERT_TF_NOTEBOOK_DIR", str(tmp_path))
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    client = NotebookClient(notebook, timeout=300, kernel_name="python3",
                            resources={"metadata": {"path": str(tmp_path)}})
    client.execute()
    outputs = ["".join(o.get("text", "") for o in cell.get("outputs", []) if o.get("name") == "stdout")
               for cell in notebook.cells if cell.cell_type == "code"]
    assert "no TPU:" in outputs[1] and "_DefaultDistributionStrategy with 1 replica(s)" in outputs[1]
    results = ast.literal_eval(outputs[4].strip().splitlines()[-1])  # the printed metrics dict
    assert results["eval_accuracy"] >= 0.9  # the synthetic sentiment set is separable by one word
    answers = outputs[5].splitlines()[-2:]  # TensorFlow's export log lines come first
    assert answers[0].startswith("1 [") and answers[1].startswith("0 [")
    assert os.path.exists(tmp_path / "exported" / "saved_model.pb")
