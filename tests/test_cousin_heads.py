"""The task heads of BERT's cousins against Hugging Face's PyTorch models: sequence classifiers (ALBERT's on the
pooler, RoBERTa's dense + tanh on <s>, DistilBERT's pre_classifier + ReLU on its first token) and span heads
(`qa_outputs`), random tiny weights that all differ, outputs within 1e-5, state dicts round-tripped bit-exactly."""

import numpy as np
import pytest
import torch
import transformers
from test_model_types import CONFIGS, batch

from bert_tf import checkpoint_files, checkpoints, model_types
from bert_tf.modeling import BertClassifier, BertSpanLabeler

HF_TASK_CLASSES = {("albert", "classifier"): "AlbertForSequenceClassification",
                   ("roberta", "classifier"): "RobertaForSequenceClassification",
                   ("distilbert", "classifier"): "DistilBertForSequenceClassification",
                   ("albert", "span"): "AlbertForQuestionAnswering",
                   ("roberta", "span"): "RobertaForQuestionAnswering",
                   ("distilbert", "span"): "DistilBertForQuestionAnswering"}
CONFIG_CLASSES = {"albert": "AlbertConfig", "roberta": "RobertaConfig", "distilbert": "DistilBertConfig"}


def hf_task_model(model_type, head, num_labels=3, seed=2):
    config = CONFIGS[model_type]
    values = model_types.cousin_to_hf(config, (head,), num_labels if head == "classifier" else None)
    assert values["architectures"] == [HF_TASK_CLASSES[model_type, head]]
    hf_config = getattr(transformers, CONFIG_CLASSES[model_type])(**values)
    model = getattr(transformers, HF_TASK_CLASSES[model_type, head])(hf_config).eval()
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.copy_(torch.randn(parameter.shape, generator=generator) * 0.3)
    return model


@pytest.mark.parametrize("model_type", list(CONFIGS))
@pytest.mark.parametrize("head", ["classifier", "span"])
def test_task_heads_equal_hugging_face_and_round_trip(model_type, head, tmp_path):
    config = CONFIGS[model_type]
    theirs = hf_task_model(model_type, head)
    state = {k: v.numpy() for k, v in theirs.state_dict().items()}
    weights = checkpoints.hf_to_tf1(state, config, source="state")
    ours = checkpoint_files.build_model(config, weights)
    assert type(ours) is {"classifier": BertClassifier, "span": BertSpanLabeler}[head]
    ids, mask, types, _ = batch(config)
    outputs = ours({"input_ids": ids, "input_mask": mask, "segment_ids": types})
    kwargs = {} if model_type == "distilbert" else {"token_type_ids": torch.tensor(types)}
    with torch.no_grad():
        expected = theirs(input_ids=torch.tensor(ids), attention_mask=torch.tensor(mask), **kwargs)
    if head == "classifier":
        assert outputs["logits"].shape == (3, 3)
        np.testing.assert_allclose(outputs["logits"].numpy(), expected.logits.numpy(), atol=1e-5)
    else:
        real = mask.astype(bool)
        for name in ("start_logits", "end_logits"):
            np.testing.assert_allclose(outputs[name].numpy()[real], getattr(expected, name).numpy()[real],
                                       atol=1e-5)
    back = checkpoints.tf1_to_hf(checkpoints.get_weights(ours), config)
    # A span labeler keeps its (unread) pooler, as BERT's does; Hugging Face builds one without.
    unread = {k for k in back if ".pooler." in k} - state.keys() if head == "span" else set()
    assert back.keys() - unread == {k for k in state if not k.endswith(("position_ids", "token_type_ids"))}
    assert all(np.array_equal(back[k], state[k]) for k in back.keys() - unread)
    checkpoint_files.save(config, weights, str(tmp_path / "hf"), "hf")
    reloaded = getattr(transformers, HF_TASK_CLASSES[model_type, head]).from_pretrained(str(tmp_path / "hf"))
    assert all(torch.equal(v, theirs.state_dict()[k]) for k, v in reloaded.state_dict().items())


def test_first_token_heads_name_their_weights_as_each_family():
    names = {t: {e.tf1: e.hf for e in checkpoints.head_tables(CONFIGS[t])["classifier"]} for t in CONFIGS}
    assert names["roberta"] == {"classifier/dense/kernel": "classifier.dense.weight",
                                "classifier/dense/bias": "classifier.dense.bias",
                                "output_weights": "classifier.out_proj.weight",
                                "output_bias": "classifier.out_proj.bias"}
    assert names["distilbert"] == {"classifier/dense/kernel": "pre_classifier.weight",
                                   "classifier/dense/bias": "pre_classifier.bias",
                                   "output_weights": "classifier.weight", "output_bias": "classifier.bias"}
    assert names["albert"] == {"output_weights": "classifier.weight", "output_bias": "classifier.bias"}
    roberta = BertClassifier(CONFIGS["roberta"], 2)
    distil = BertClassifier(CONFIGS["distilbert"], 2)
    assert roberta.encoder.pooler is None and roberta.dropout_rate == 0.1 and distil.dropout_rate == 0.2
