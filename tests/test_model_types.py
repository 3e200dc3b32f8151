"""BERT's cousins (ALBERT, RoBERTa, DistilBERT) against Hugging Face's PyTorch models: random weights at tiny sizes,
every one different, converted both ways; outputs within 1e-5, round trips bit-exact. ALBERT's TF1 names are
those the original google-research/albert code creates."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
import torch
import transformers

from bert_tf import checkpoint_files, checkpoints, model_types
from bert_tf.modeling import BertEncoder, BertMaskedLM, BertPretrainer

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SIZES = dict(vocab_size=37, hidden_size=8, num_attention_heads=2, intermediate_size=12, max_position_embeddings=20,
             hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)
CONFIGS = {
    # Two groups of two blocks over four depths, embeddings narrower than the blocks.
    "albert": model_types.AlbertConfig(**SIZES, embedding_size=6, num_hidden_layers=4, num_hidden_groups=2,
                                       inner_group_num=2),
    "roberta": model_types.RobertaConfig(**SIZES, num_hidden_layers=2),
    "distilbert": model_types.DistilBertConfig(**SIZES, num_hidden_layers=2),
}
HF_CLASSES = {"albert": ("AlbertConfig", "AlbertForPreTraining", ("masked_lm", "next_sentence")),
              "roberta": ("RobertaConfig", "RobertaForMaskedLM", ("masked_lm",)),
              "distilbert": ("DistilBertConfig", "DistilBertForMaskedLM", ("masked_lm",))}


def hf_model(model_type, seed=0):
    """The Hugging Face model of CONFIGS[model_type] with every parameter drawn anew (no two alike)."""
    config_class, model_class, heads = HF_CLASSES[model_type]
    values = model_types.cousin_to_hf(CONFIGS[model_type], heads)
    hf_config = getattr(transformers, config_class)(**values, attn_implementation="eager")  # sdpa returns no maps
    model = getattr(transformers, model_class)(hf_config).eval()
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.copy_(torch.randn(parameter.shape, generator=generator) * 0.3)
    return model


def batch(config, seed=1):
    rng = np.random.default_rng(seed)
    ids = rng.integers(5, config.vocab_size, (3, 9))
    mask = np.ones_like(ids)
    mask[1, 6:] = mask[2, 4:] = 0
    ids[mask == 0] = getattr(config, "pad_token_id", 0)
    types = np.zeros_like(ids) if config.type_vocab_size < 2 else (np.arange(9)[None] >= 5).astype(int) * mask
    return ids, mask, types, np.array([[1, 4], [0, 5], [2, 3]])


@pytest.mark.parametrize("model_type", list(CONFIGS))
def test_outputs_equal_hugging_face_and_the_weights_round_trip_bit_exactly(model_type, tmp_path):
    config = CONFIGS[model_type]
    theirs = hf_model(model_type)
    state = {k: v.numpy() for k, v in theirs.state_dict().items()}
    weights = checkpoints.hf_to_tf1(state, config, source="state")
    ours = checkpoint_files.build_model(config, weights)
    assert type(ours) is (BertPretrainer if model_type == "albert" else BertMaskedLM)
    ids, mask, types, positions = batch(config)
    outputs = ours({"input_ids": ids, "input_mask": mask, "segment_ids": types, "masked_lm_positions": positions},
                   return_attention_probs=True)
    kwargs = {} if model_type == "distilbert" else {"token_type_ids": torch.tensor(types)}
    with torch.no_grad():
        expected = theirs(input_ids=torch.tensor(ids), attention_mask=torch.tensor(mask), output_hidden_states=True,
                          output_attentions=True, **kwargs)
    real = mask.astype(bool)  # padded queries are computed but never read (RoBERTa numbers them differently)
    hidden = [o.numpy() for o in outputs["encoder_outputs"]]
    inner = getattr(config, "inner_group_num", 1)  # Hugging Face's ALBERT gives the state after each block run
    assert len(hidden) == (len(expected.hidden_states) - 1) // inner == config.num_hidden_layers
    assert len(outputs["attention_probs"]) == len(expected.attentions) == config.num_hidden_layers * inner
    for layer, (a, b) in enumerate(zip(hidden, expected.hidden_states[inner::inner], strict=True)):
        np.testing.assert_allclose(a[real], b.numpy()[real], atol=1e-5, err_msg=f"layer {layer}")
    for a, b in zip(outputs["attention_probs"], expected.attentions, strict=True):
        np.testing.assert_allclose(a.numpy().transpose(0, 2, 1, 3)[real], b.numpy().transpose(0, 2, 1, 3)[real],
                                   atol=1e-5)
    logits = expected.prediction_logits if model_type == "albert" else expected.logits
    gathered = np.take_along_axis(logits.numpy(), positions[..., None], axis=1)
    np.testing.assert_allclose(outputs["masked_lm_logits"].numpy(), gathered, atol=1e-5)
    if model_type == "albert":  # the sentence-order head on the pooled [CLS]
        np.testing.assert_allclose(outputs["next_sentence_logits"].numpy(), expected.sop_logits.numpy(), atol=1e-5)
    assert "pooled_output" not in outputs if model_type != "albert" else outputs["pooled_output"].shape == (3, 8)

    back = checkpoints.tf1_to_hf(checkpoints.get_weights(ours), config)
    tied = {k for k in state if k not in back}
    assert tied == {"albert": {"predictions.decoder.weight", "predictions.decoder.bias"},
                    "roberta": {"lm_head.decoder.weight", "lm_head.decoder.bias"},
                    "distilbert": {"vocab_projector.weight"}}[model_type]
    assert all(np.array_equal(back[k], state[k]) for k in back)

    for output_format in ("hf", "tf1"):
        checkpoint_files.save(config, weights, str(tmp_path / output_format), output_format)
        loaded_config, loaded, _ = checkpoint_files.load(str(tmp_path / output_format))
        assert loaded_config == config and loaded.keys() == weights.keys()
        assert all(np.array_equal(loaded[k], weights[k]) for k in weights)
    reloaded = getattr(transformers, HF_CLASSES[model_type][1]).from_pretrained(str(tmp_path / "hf")).eval()
    reloaded_state = reloaded.state_dict()
    assert all(torch.equal(reloaded_state[k], theirs.state_dict()[k]) for k in state)


def test_an_encoder_alone_loads_from_a_bare_hugging_face_model():
    """AlbertModel / RobertaModel / DistilBertModel state dicts carry no prefix; RoBERTa's has a pooler."""
    for model_type, class_name in (("roberta", "RobertaModel"), ("distilbert", "DistilBertModel")):
        config = CONFIGS[model_type]
        hf_config = getattr(transformers, HF_CLASSES[model_type][0])(**model_types.cousin_to_hf(config))
        theirs = getattr(transformers, class_name)(hf_config).eval()
        weights = checkpoints.hf_to_tf1({k: v.numpy() for k, v in theirs.state_dict().items()}, config)
        ours = checkpoint_files.build_model(config, weights)
        assert type(ours) is BertEncoder and (ours.pooler is not None) == (model_type == "roberta")
        ids, mask, _, _ = batch(config)
        with torch.no_grad():
            expected = theirs(input_ids=torch.tensor(ids), attention_mask=torch.tensor(mask)).last_hidden_state
        got = ours({"input_ids": ids, "input_mask": mask})["sequence_output"].numpy()
        np.testing.assert_allclose(got[mask.astype(bool)], expected.numpy()[mask.astype(bool)], atol=1e-5)


def test_albert_tf1_names_are_the_original_codes():
    """google-research/albert names one shared block `bert/encoder/transformer/group_<g>/inner_group_<i>/`, its
    attention `attention_1/{self,output}`, the attention LayerNorm `LayerNorm`, the feed-forward
    `ffn_1/intermediate/{dense,output/dense}` and its LayerNorm `LayerNorm_1`; the rest is BERT's."""
    config = CONFIGS["albert"]
    names = {name: tuple(value.shape) for name, value in checkpoints.get_weights(BertPretrainer(config)).items()}
    block = {"attention_1/self/query/kernel": (8, 8), "attention_1/self/query/bias": (8,),
             "attention_1/self/key/kernel": (8, 8), "attention_1/self/key/bias": (8,),
             "attention_1/self/value/kernel": (8, 8), "attention_1/self/value/bias": (8,),
             "attention_1/output/dense/kernel": (8, 8), "attention_1/output/dense/bias": (8,),
             "LayerNorm/gamma": (8,), "LayerNorm/beta": (8,),
             "ffn_1/intermediate/dense/kernel": (8, 12), "ffn_1/intermediate/dense/bias": (12,),
             "ffn_1/intermediate/output/dense/kernel": (12, 8), "ffn_1/intermediate/output/dense/bias": (8,),
             "LayerNorm_1/gamma": (8,), "LayerNorm_1/beta": (8,)}
    expected = {"bert/embeddings/word_embeddings": (37, 6), "bert/embeddings/token_type_embeddings": (2, 6),
                "bert/embeddings/position_embeddings": (20, 6), "bert/embeddings/LayerNorm/gamma": (6,),
                "bert/embeddings/LayerNorm/beta": (6,), "bert/encoder/embedding_hidden_mapping_in/kernel": (6, 8),
                "bert/encoder/embedding_hidden_mapping_in/bias": (8,), "bert/pooler/dense/kernel": (8, 8),
                "bert/pooler/dense/bias": (8,), "cls/predictions/transform/dense/kernel": (8, 6),
                "cls/predictions/transform/dense/bias": (6,), "cls/predictions/transform/LayerNorm/gamma": (6,),
                "cls/predictions/transform/LayerNorm/beta": (6,), "cls/predictions/output_bias": (37,),
                "cls/seq_relationship/output_weights": (2, 8), "cls/seq_relationship/output_bias": (2,),
                **{f"bert/encoder/transformer/group_{g}/inner_group_{i}/{name}": shape
                   for g in range(2) for i in range(2) for name, shape in block.items()}}
    assert names == expected


def test_albert_shares_each_groups_blocks_across_its_depths():
    model = BertEncoder(CONFIGS["albert"])
    assert model.plan.depths == ((0, 1), (0, 1), (2, 3), (2, 3)) and len(model.encoder_layers) == 4
    single = BertEncoder(model_types.AlbertConfig(**SIZES, embedding_size=8, num_hidden_layers=3))
    assert single.plan.depths == ((0,), (0,), (0,)) and single.embedding_projection is None
    assert len(checkpoints.get_weights(single)) == 5 + 16 + 2  # embeddings, one block, pooler


def test_configs_read_their_families_json_and_refuse_another_type(tmp_path):
    albert = CONFIGS["albert"]
    albert.to_json_file(str(tmp_path / "albert.json"))
    assert json.loads((tmp_path / "albert.json").read_text())["model_type"] == "albert"
    assert model_types.config_from_json_file(str(tmp_path / "albert.json")) == albert
    with pytest.raises(ValueError, match=r"albert\.json: a config of model_type 'albert', given as 'roberta'"):
        model_types.config_from_json_file(str(tmp_path / "albert.json"), "roberta")
    original = {k: v for k, v in albert.to_dict().items() if k not in ("model_type", "layer_norm_eps")}
    (tmp_path / "albert_config.json").write_text(json.dumps(original))  # the original's keys: no model_type
    assert model_types.config_from_json_file(str(tmp_path / "albert_config.json"), "albert") == albert
    hf = model_types.cousin_to_hf(CONFIGS["distilbert"])
    assert (hf["dim"], hf["n_layers"], hf["hidden_dim"], hf["activation"]) == (8, 2, 12, "gelu")
    assert model_types.cousin_from_hf(hf, "config.json") == CONFIGS["distilbert"]
    with pytest.raises(ValueError, match="config.json: sinusoidal position embeddings are not supported"):
        model_types.cousin_from_hf({**hf, "sinusoidal_pos_embds": True}, "config.json")
    with pytest.raises(ValueError, match="num_hidden_layers \\(3\\) is not a multiple of num_hidden_groups \\(2\\)"):
        model_types.AlbertConfig(**SIZES, num_hidden_layers=3, num_hidden_groups=2)
    assert model_types.cousin_from_hf(model_types.cousin_to_hf(albert), "x") == albert
    assert model_types.cousin_to_hf(albert)["hidden_act"] == "gelu_new"  # the tanh GELU, as ALBERT's own


def test_convert_checkpoint_takes_the_model_type_and_refuses_another(tmp_path):
    config = CONFIGS["albert"]
    weights = checkpoints.hf_to_tf1({k: v.numpy() for k, v in hf_model("albert").state_dict().items()}, config)
    checkpoint_files.save(config, weights, str(tmp_path / "hf"), "hf")

    def convert(*flags):
        return subprocess.run([sys.executable, f"{ROOT}/convert_checkpoint.py", f"--input={tmp_path / 'hf'}",
                               *flags], capture_output=True, text=True)

    done = convert(f"--output={tmp_path / 'tf1'}", "--output_format=tf1", "--model_type=albert")
    assert done.returncode == 0, done.stderr
    config_back, back, _ = checkpoint_files.load(str(tmp_path / "tf1"))
    assert config_back == config and all(np.array_equal(back[k], weights[k]) for k in weights)
    refused = convert(f"--output={tmp_path / 'other'}", "--output_format=tf1", "--model_type=roberta")
    assert refused.returncode == 1
    assert f"{tmp_path / 'hf' / 'config.json'}: a config of model_type 'albert', given as 'roberta'" in refused.stderr
    assert not (tmp_path / "other" / "bert_model.ckpt.index").exists()
