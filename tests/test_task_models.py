"""Fine-tuning models (classification, regression, multiple choice, tagging, span): shapes, HF parity, round trips."""

import keras
import numpy as np
import pytest
from helpers import BATCH, SEQ, tiny_inputs

from bert_tf import checkpoint_files, checkpoints
from bert_tf.modeling import BertClassifier, BertMultipleChoice, BertSpanLabeler, BertTagger


def random_hf(hf_class, config, **kwargs):
    import torch
    from transformers import BertConfig as HFConfig

    torch.manual_seed(1)
    model = hf_class(HFConfig(**checkpoint_files.config_to_hf(config), **kwargs)).eval()
    with torch.no_grad():
        for param in model.parameters():
            param.add_(torch.randn_like(param) * 0.2)
    return model


def torch_inputs(inputs):
    import torch

    return {"input_ids": torch.tensor(inputs["input_ids"], dtype=torch.long),
            "attention_mask": torch.tensor(inputs["input_mask"], dtype=torch.long),
            "token_type_ids": torch.tensor(inputs["segment_ids"], dtype=torch.long)}


def to_ours(hf, config):
    return checkpoints.hf_to_tf1({k: v.numpy() for k, v in hf.state_dict().items()}, config.num_hidden_layers)


def test_sequence_classification_matches_hf_and_uses_the_original_names(config):
    import torch
    from transformers import BertForSequenceClassification

    hf = random_hf(BertForSequenceClassification, config, num_labels=3)
    weights = to_ours(hf, config)
    assert weights["output_weights"].shape == (3, 32) and weights["output_bias"].shape == (3,)
    model = BertClassifier(config, num_labels=3)
    checkpoints.set_weights(model, weights)
    inputs = tiny_inputs()
    with torch.no_grad():
        expected = hf(**torch_inputs(inputs)).logits.numpy()
    np.testing.assert_allclose(model(inputs)["logits"].numpy(), expected, atol=1e-5, rtol=0)
    assert model(inputs, training=True)["logits"].shape == (BATCH, 3)


def test_question_answering_matches_hf(config):
    import torch
    from transformers import BertForQuestionAnswering

    hf = random_hf(BertForQuestionAnswering, config)
    weights = to_ours(hf, config)
    assert weights["cls/squad/output_weights"].shape == (2, 32)
    model = BertSpanLabeler(config)
    checkpoints.set_weights(model, weights)
    inputs = tiny_inputs()
    with torch.no_grad():
        out = hf(**torch_inputs(inputs))
    ours = model(inputs)
    real = inputs["input_mask"].astype(bool)
    np.testing.assert_allclose(ours["start_logits"].numpy()[real], out.start_logits.numpy()[real], atol=1e-5)
    np.testing.assert_allclose(ours["end_logits"].numpy()[real], out.end_logits.numpy()[real], atol=1e-5)


def test_token_classification_matches_hf(config):
    import torch
    from transformers import BertForTokenClassification

    hf = random_hf(BertForTokenClassification, config, num_labels=5)
    model = BertTagger(config, num_labels=5)
    checkpoints.set_weights(model, to_ours(hf, config))
    inputs = tiny_inputs()
    with torch.no_grad():
        expected = hf(**torch_inputs(inputs)).logits.numpy()
    real = inputs["input_mask"].astype(bool)
    ours = model(inputs)["logits"].numpy()
    assert ours.shape == (BATCH, SEQ, 5)
    np.testing.assert_allclose(ours[real], expected[real], atol=1e-5)


def test_multiple_choice_matches_hf(config):
    import torch
    from transformers import BertForMultipleChoice

    hf = random_hf(BertForMultipleChoice, config)
    model = BertMultipleChoice(config)
    checkpoints.set_weights(model, to_ours(hf, config))
    flat = tiny_inputs()
    inputs = {k: flat[k][:12].reshape(3, 4, SEQ) for k in ("input_ids", "input_mask", "segment_ids")}
    with torch.no_grad():
        expected = hf(**{k: v.reshape(3, 4, SEQ) for k, v in torch_inputs({k: flat[k][:12] for k in inputs}).items()})
    ours = model(inputs)["logits"].numpy()
    assert ours.shape == (3, 4)
    np.testing.assert_allclose(ours, expected.logits.numpy(), atol=1e-5)


def test_fine_tuning_starts_from_a_pretraining_checkpoint(config):
    from helpers import random_weights

    weights = random_weights(config)
    model = BertClassifier(config, num_labels=2)
    restored = checkpoints.set_weights(model, weights, strict=False)
    assert "output_weights" not in restored and "bert/pooler/dense/kernel" in restored
    assert not any(name.startswith("cls/") for name in restored)


@pytest.mark.parametrize("make", [lambda c: BertClassifier(c, num_labels=3), lambda c: BertTagger(c, num_labels=4),
                                  BertSpanLabeler, BertMultipleChoice])
def test_keras_round_trip_and_hf_folder_round_trip(make, config, tmp_path):
    model = make(config)
    path = str(tmp_path / "model.keras")
    model.save(path)
    loaded = keras.saving.load_model(path)
    assert loaded.get_config() == model.get_config()
    weights = checkpoints.get_weights(model)
    checkpoint_files.save(config, weights, str(tmp_path / "hf"), "hf")
    _, back, _ = checkpoint_files.load(str(tmp_path / "hf"))
    assert back.keys() == weights.keys()
    for name in weights:
        np.testing.assert_array_equal(back[name], weights[name])
