"""Checkpoint interop: the TF1 name table, parity with the original code and with HF PyTorch, round trips, errors."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
from helpers import random_weights, tiny_config, tiny_inputs

from bert_tf import checkpoint_files, checkpoints
from bert_tf.config import BertConfig
from bert_tf.modeling import BertClassifier, BertEncoder, BertMaskedLM, BertPretrainer

HERE = os.path.dirname(__file__)
ROOT = os.path.dirname(HERE)


def spec_base_table():
    """Spec §1.4, written out: every name and shape of the released Base checkpoint with pretraining heads."""
    h, i, v = 768, 3072, 30522
    table = {"bert/embeddings/word_embeddings": (v, h), "bert/embeddings/token_type_embeddings": (2, h),
             "bert/embeddings/position_embeddings": (512, h),
             "bert/embeddings/LayerNorm/beta": (h,), "bert/embeddings/LayerNorm/gamma": (h,)}
    for n in range(12):
        p = f"bert/encoder/layer_{n}"
        for proj in ("query", "key", "value"):
            table[f"{p}/attention/self/{proj}/kernel"], table[f"{p}/attention/self/{proj}/bias"] = (h, h), (h,)
        table[f"{p}/attention/output/dense/kernel"], table[f"{p}/attention/output/dense/bias"] = (h, h), (h,)
        table[f"{p}/attention/output/LayerNorm/beta"] = table[f"{p}/attention/output/LayerNorm/gamma"] = (h,)
        table[f"{p}/intermediate/dense/kernel"], table[f"{p}/intermediate/dense/bias"] = (h, i), (i,)
        table[f"{p}/output/dense/kernel"], table[f"{p}/output/dense/bias"] = (i, h), (h,)
        table[f"{p}/output/LayerNorm/beta"] = table[f"{p}/output/LayerNorm/gamma"] = (h,)
    table.update({"bert/pooler/dense/kernel": (h, h), "bert/pooler/dense/bias": (h,),
                  "cls/predictions/transform/dense/kernel": (h, h), "cls/predictions/transform/dense/bias": (h,),
                  "cls/predictions/transform/LayerNorm/beta": (h,), "cls/predictions/transform/LayerNorm/gamma": (h,),
                  "cls/predictions/output_bias": (v,), "cls/seq_relationship/output_weights": (2, h),
                  "cls/seq_relationship/output_bias": (2,)})
    return table


def test_base_model_exports_exactly_the_original_name_and_shape_set():
    weights = checkpoints.get_weights(BertPretrainer(BertConfig.from_json_file(f"{ROOT}/configs/bert_base.json")))
    assert {k: tuple(v.shape) for k, v in weights.items()} == spec_base_table()


def test_tf1_write_read_is_bit_exact_and_atomic(config, tmp_path):
    weights = random_weights(config)
    checkpoint_files.write_tf1(weights, str(tmp_path / "bert_model.ckpt"))
    assert sorted(os.listdir(tmp_path)) == ["bert_model.ckpt.data-00000-of-00001", "bert_model.ckpt.index"]
    back = checkpoint_files.read_tf1(str(tmp_path / "bert_model.ckpt"))
    assert back.keys() == weights.keys()
    for name, value in weights.items():
        np.testing.assert_array_equal(back[name], value)


def test_tf1_reader_skips_optimizer_slots_and_global_step(config, tmp_path):
    weights = random_weights(config, with_heads=False)
    extra = {"global_step": np.array(7, np.int64),
             "bert/pooler/dense/kernel/adam_m": weights["bert/pooler/dense/kernel"],
             "bert/pooler/dense/kernel/adam_v": weights["bert/pooler/dense/kernel"]}
    checkpoint_files.write_tf1({**weights, **extra}, str(tmp_path / "bert_model.ckpt"))
    assert checkpoint_files.read_tf1(str(tmp_path / "bert_model.ckpt")).keys() == weights.keys()


@pytest.mark.parametrize("hidden_act", ["gelu", "", None])
def test_matches_the_original_code_on_our_tf1_checkpoint(hidden_act, tmp_path):
    """The original modeling.py + run_pretraining heads restore our checkpoint by name and agree within 1e-5.

    An empty or null hidden_act is the original's identity (its get_activation returns None) in both the FFN and
    the MLM transform.
    """
    config = tiny_config(hidden_act=hidden_act)
    weights = random_weights(config)
    checkpoint_files.save(config, weights, str(tmp_path), "tf1")
    inputs = tiny_inputs()
    np.savez(tmp_path / "inputs.npz", **inputs)
    subprocess.run([sys.executable, f"{HERE}/original_oracle.py", str(tmp_path / "bert_model.ckpt"),
                    str(tmp_path / "bert_config.json"), str(tmp_path / "inputs.npz"), str(tmp_path / "out.npz")],
                   check=True, capture_output=True)
    ref = np.load(tmp_path / "out.npz")
    model = checkpoint_files.build_model(config, checkpoint_files.read_tf1(str(tmp_path / "bert_model.ckpt")))
    out = model(inputs)
    for key in ("sequence_output", "pooled_output", "embedding_output"):
        np.testing.assert_allclose(out[key].numpy(), ref[key], atol=1e-5, rtol=0)
    for n, layer in enumerate(out["encoder_outputs"]):
        np.testing.assert_allclose(layer.numpy(), ref[f"encoder_output_{n}"], atol=1e-5, rtol=0)
    log_probs = out["masked_lm_logits"].numpy() - np.log(np.exp(out["masked_lm_logits"].numpy()).sum(-1, keepdims=True))
    np.testing.assert_allclose(log_probs.reshape(-1, config.vocab_size), ref["masked_lm_log_probs"], atol=1e-5)
    nsp = out["next_sentence_logits"].numpy()
    nsp_log_probs = nsp - np.log(np.exp(nsp).sum(-1, keepdims=True))
    np.testing.assert_allclose(nsp_log_probs, ref["next_sentence_log_probs"], atol=1e-5)


def hf_pretraining_model(config):
    import torch
    from transformers import BertConfig as HFConfig
    from transformers import BertForPreTraining

    torch.manual_seed(0)
    hf_config = HFConfig(**checkpoint_files.config_to_hf(config, heads=("masked_lm", "next_sentence")))
    model = BertForPreTraining(hf_config).eval()
    with torch.no_grad():  # random LayerNorm and biases too, so a swapped gamma/beta cannot hide
        for param in model.parameters():
            param.add_(torch.randn_like(param) * 0.2)
    return model


def run_hf(model, inputs):
    """A HF BertForPreTraining's outputs under our names (pooled_output from its pooler, which it does not return)."""
    import torch

    feeds = {"input_ids": torch.tensor(inputs["input_ids"], dtype=torch.long),
             "attention_mask": torch.tensor(inputs["input_mask"], dtype=torch.long),
             "token_type_ids": torch.tensor(inputs["segment_ids"], dtype=torch.long)}
    with torch.no_grad():
        out = model(**feeds, output_hidden_states=True)
        pooled = model.bert(**feeds).pooler_output.numpy()
    positions = inputs["masked_lm_positions"]
    mlm = np.take_along_axis(out.prediction_logits.numpy(), positions[:, :, None].astype(np.int64), axis=1)
    return out.hidden_states[-1].numpy(), mlm, out.seq_relationship_logits.numpy(), pooled


@pytest.mark.parametrize("hidden_act", ["gelu", "gelu_exact"])
def test_parity_with_hf_bert_for_pretraining(hidden_act, tmp_path):
    config = tiny_config(hidden_act=hidden_act)
    hf = hf_pretraining_model(config)
    state = {k: v.numpy() for k, v in hf.state_dict().items()}
    model = checkpoint_files.build_model(config, checkpoints.hf_to_tf1(state, config.num_hidden_layers))
    inputs = tiny_inputs()
    out = model(inputs)
    sequence, mlm, nsp, pooled = run_hf(hf, inputs)
    real = inputs["input_mask"].astype(bool)  # HF masks with the dtype minimum: compare real positions only
    np.testing.assert_allclose(out["sequence_output"].numpy()[real], sequence[real], atol=1e-5, rtol=0)
    np.testing.assert_allclose(out["pooled_output"].numpy(), pooled, atol=1e-5, rtol=0)
    np.testing.assert_allclose(out["masked_lm_logits"].numpy(), mlm, atol=1e-5, rtol=0)
    np.testing.assert_allclose(out["next_sentence_logits"].numpy(), nsp, atol=1e-5, rtol=0)


def test_parity_with_hf_the_other_way(config, tmp_path):
    """Our random weights written as HF safetensors load into HF BertForPreTraining with nothing missing."""
    from transformers import BertForPreTraining

    weights = random_weights(config)
    checkpoint_files.save(config, weights, str(tmp_path), "hf")
    hf, info = BertForPreTraining.from_pretrained(str(tmp_path), output_loading_info=True)
    assert info["missing_keys"] == set() or not info["missing_keys"]
    assert not info["unexpected_keys"] and not info["mismatched_keys"]
    model = checkpoint_files.build_model(config, weights)
    inputs = tiny_inputs(seed=3)
    sequence, mlm, nsp, pooled = run_hf(hf.eval(), inputs)
    out = model(inputs)
    real = inputs["input_mask"].astype(bool)
    np.testing.assert_allclose(out["sequence_output"].numpy()[real], sequence[real], atol=1e-5, rtol=0)
    np.testing.assert_allclose(out["pooled_output"].numpy(), pooled, atol=1e-5, rtol=0)
    np.testing.assert_allclose(out["masked_lm_logits"].numpy(), mlm, atol=1e-5, rtol=0)
    np.testing.assert_allclose(out["next_sentence_logits"].numpy(), nsp, atol=1e-5, rtol=0)


def random_hf(hf_class, config, **kwargs):
    """A HF model with random tiny weights (LayerNorm and biases too), saved by HF itself via save_pretrained."""
    import torch
    from transformers import BertConfig as HFConfig

    torch.manual_seed(2)
    model = hf_class(HFConfig(**checkpoint_files.config_to_hf(config)), **kwargs).eval()
    with torch.no_grad():
        for param in model.parameters():
            param.add_(torch.randn_like(param) * 0.2)
    return model


def hf_masked_lm_outputs(model, inputs):
    import torch

    with torch.no_grad():
        out = model(input_ids=torch.tensor(inputs["input_ids"], dtype=torch.long),
                    attention_mask=torch.tensor(inputs["input_mask"], dtype=torch.long),
                    token_type_ids=torch.tensor(inputs["segment_ids"], dtype=torch.long), output_hidden_states=True)
    positions = inputs["masked_lm_positions"][:, :, None].astype(np.int64)
    return out.hidden_states[-1].numpy(), np.take_along_axis(out.logits.numpy(), positions, axis=1)


def assert_masked_lm_matches(model, inputs, sequence, mlm):
    out = model(inputs)
    real = inputs["input_mask"].astype(bool)
    np.testing.assert_allclose(out["sequence_output"].numpy()[real], sequence[real], atol=1e-5, rtol=0)
    np.testing.assert_allclose(out["masked_lm_logits"].numpy(), mlm, atol=1e-5, rtol=0)


def test_hf_masked_lm_checkpoint_converts_through_every_format_and_back(config, tmp_path):
    """HF BertForMaskedLM (no pooler, no NSP head) -> ours -> tf1 -> keras -> hf -> HF: the same outputs."""
    from transformers import BertForMaskedLM

    hf = random_hf(BertForMaskedLM, config)
    hf.save_pretrained(str(tmp_path / "hf"))
    inputs = tiny_inputs(seed=4)
    sequence, mlm = hf_masked_lm_outputs(hf, inputs)
    c, weights, _ = checkpoint_files.load(str(tmp_path / "hf"))
    assert checkpoints.heads_of(weights) == ("masked_lm",) and not checkpoints.has_pooler(weights)
    model = checkpoint_files.build_model(c, weights)
    assert type(model).__name__ == "BertMaskedLM" and "pooled_output" not in model(inputs)
    assert_masked_lm_matches(model, inputs, sequence, mlm)
    path, fmt = str(tmp_path / "hf"), "hf"
    for target in ("tf1", "keras", "hf2"):
        checkpoint_files.save(*checkpoint_files.load(path, fmt)[:2], str(tmp_path / target), target.rstrip("2"))
        path, fmt = str(tmp_path / target), target.rstrip("2")
        c, back, _ = checkpoint_files.load(path, fmt)
        assert back.keys() == weights.keys(), target
        assert_masked_lm_matches(checkpoint_files.build_model(c, back), inputs, sequence, mlm)
    config_json = json.loads((tmp_path / "hf2" / "config.json").read_text())
    assert config_json["architectures"] == ["BertForMaskedLM"]
    again, info = BertForMaskedLM.from_pretrained(path, output_loading_info=True)
    assert not any(info[k] for k in ("missing_keys", "unexpected_keys", "mismatched_keys")), info
    np.testing.assert_allclose(hf_masked_lm_outputs(again.eval(), inputs)[1], mlm, atol=1e-5, rtol=0)


def test_masked_lm_only_checkpoint_is_strict_only_where_a_head_needs_what_is_missing(config):
    original = random_weights(config)
    weights = {k: v for k, v in original.items() if not k.startswith("cls/seq_relationship")}
    state = checkpoints.tf1_to_hf(weights, config.num_hidden_layers)  # an original checkpoint stripped of NSP
    assert "bert.pooler.dense.weight" in state and not any("seq_relationship" in k for k in state)
    model = checkpoint_files.build_model(config, weights)
    full = BertPretrainer(config)
    checkpoints.set_weights(full, original)
    inputs = tiny_inputs()
    for key in ("sequence_output", "pooled_output", "masked_lm_logits"):  # the same weights: bit-exact
        np.testing.assert_array_equal(model(inputs)[key].numpy(), full(inputs)[key].numpy())
    with pytest.raises(ValueError, match="missing from checkpoint: cls/seq_relationship/output_weights \\(2, 32\\)"):
        checkpoints.set_weights(BertPretrainer(config), weights, source="mlm.ckpt")
    no_pooler = {k: v for k, v in weights.items() if "pooler" not in k}
    with pytest.raises(ValueError, match="missing from checkpoint: bert/pooler/dense/kernel \\(32, 32\\).*"
                                         "no pooler.*with_pooler=False"):
        checkpoints.set_weights(BertMaskedLM(config), no_pooler, source="mlm.ckpt")
    half = {k: v for k, v in weights.items() if k != "cls/predictions/output_bias"}
    with pytest.raises(ValueError, match="missing cls/predictions/output_bias"):
        checkpoints.tf1_to_hf(half, config.num_hidden_layers)


def test_hf_bert_model_without_pooler_loads_for_sequence_output(config, tmp_path):
    import torch
    from transformers import BertModel

    hf = random_hf(BertModel, config, add_pooling_layer=False)
    hf.save_pretrained(str(tmp_path / "hf"))
    inputs = tiny_inputs(seed=5)
    with torch.no_grad():
        sequence = hf(input_ids=torch.tensor(inputs["input_ids"], dtype=torch.long),
                      attention_mask=torch.tensor(inputs["input_mask"], dtype=torch.long),
                      token_type_ids=torch.tensor(inputs["segment_ids"], dtype=torch.long)).last_hidden_state.numpy()
    c, weights, _ = checkpoint_files.load(str(tmp_path / "hf"))
    assert not checkpoints.has_pooler(weights) and checkpoints.heads_of(weights) == ()
    encoder = checkpoint_files.build_model(c, weights)
    assert isinstance(encoder, BertEncoder) and encoder.pooler is None
    out = encoder(inputs)
    assert "pooled_output" not in out
    real = inputs["input_mask"].astype(bool)
    np.testing.assert_allclose(out["sequence_output"].numpy()[real], sequence[real], atol=1e-5, rtol=0)
    for model in (BertEncoder(config), BertClassifier(config, num_labels=3)):  # these read the pooled output
        with pytest.raises(ValueError, match="missing from checkpoint: bert/pooler/dense/kernel.*no pooler"):
            checkpoints.set_weights(model, weights)
    checkpoint_files.save(c, weights, str(tmp_path / "keras"), "keras")
    checkpoint_files.save(*checkpoint_files.load(str(tmp_path / "keras"))[:2], str(tmp_path / "tf1"), "tf1")
    _, back, _ = checkpoint_files.load(str(tmp_path / "tf1"), "tf1")
    assert back.keys() == weights.keys()
    np.testing.assert_allclose(checkpoint_files.build_model(c, back)(inputs)["sequence_output"].numpy()[real],
                               sequence[real], atol=1e-5, rtol=0)


def test_round_trip_hf_tf1_keras_hf_is_bit_exact(config, tmp_path):
    hf = hf_pretraining_model(config)
    state = {k: v.numpy() for k, v in hf.state_dict().items()}
    checkpoint_files.write_hf({k: v for k, v in state.items() if "decoder" not in k}, str(tmp_path / "hf"))
    (tmp_path / "hf" / "config.json").write_text(hf.config.to_json_string())
    c1, w1, _ = checkpoint_files.load(str(tmp_path / "hf"))
    assert c1 == config
    checkpoint_files.save(c1, w1, str(tmp_path / "tf1"), "tf1")
    c2, w2, _ = checkpoint_files.load(str(tmp_path / "tf1" / "bert_model.ckpt"))
    checkpoint_files.save(c2, w2, str(tmp_path / "keras"), "keras")
    c3, w3, _ = checkpoint_files.load(str(tmp_path / "keras"))
    checkpoint_files.save(c3, w3, str(tmp_path / "hf2"), "hf")
    back = checkpoint_files.read_hf(str(tmp_path / "hf2"))
    expected = {k: v for k, v in state.items() if "decoder" not in k and k != "bert.embeddings.position_ids"}
    assert back.keys() == expected.keys()
    for name, value in expected.items():
        np.testing.assert_array_equal(back[name], value, err_msg=name)


def test_hf_names_with_and_without_prefix_and_old_layer_norm_names(config):
    weights = random_weights(config, with_heads=False)
    plain = checkpoints.tf1_to_hf(weights, config.num_hidden_layers, prefix="")
    prefixed = checkpoints.tf1_to_hf(weights, config.num_hidden_layers, prefix="bert.")
    old = {k.replace("LayerNorm.weight", "LayerNorm.gamma").replace("LayerNorm.bias", "LayerNorm.beta"): v
           for k, v in plain.items()}
    assert "embeddings.LayerNorm.gamma" in old
    for state in (plain, prefixed, old):
        back = checkpoints.hf_to_tf1(state, config.num_hidden_layers)
        assert back.keys() == weights.keys()
        for name in weights:
            np.testing.assert_array_equal(back[name], weights[name])
    assert plain["encoder.layer.0.attention.self.query.weight"].shape == (32, 32)
    np.testing.assert_array_equal(plain["encoder.layer.1.intermediate.dense.weight"],
                                  weights["bert/encoder/layer_1/intermediate/dense/kernel"].T)


def test_activation_names_are_translated_not_copied():
    hf = checkpoint_files.config_to_hf(tiny_config(hidden_act="gelu"))
    assert hf["hidden_act"] == "gelu_new"
    assert checkpoint_files.config_to_hf(tiny_config(hidden_act="gelu_exact"))["hidden_act"] == "gelu"
    assert checkpoint_files.config_to_hf(tiny_config(hidden_act=""))["hidden_act"] == "linear"
    assert checkpoint_files.config_to_hf(tiny_config(hidden_act=None))["hidden_act"] == "linear"
    assert checkpoint_files.config_from_hf({**hf, "hidden_act": "gelu"}).hidden_act == "gelu_exact"
    assert checkpoint_files.config_from_hf({**hf, "hidden_act": "gelu_pytorch_tanh"}).hidden_act == "gelu"
    with pytest.raises(ValueError, match="hidden_act 'silu'"):
        checkpoint_files.config_from_hf({**hf, "hidden_act": "silu"})
    with pytest.raises(ValueError, match="layer_norm_eps 1e-05"):
        checkpoint_files.config_from_hf({**hf, "layer_norm_eps": 1e-5})


def test_encoder_loads_a_pretraining_checkpoint_and_warm_start_restores_the_intersection(config, caplog):
    weights = random_weights(config)
    encoder = BertEncoder(config)
    restored = checkpoints.set_weights(encoder, weights)  # cls/* is ignored for a model without heads
    assert len(restored) == len(weights) - 7
    partial = {k: v for k, v in weights.items() if "layer_1" not in k}
    model = BertPretrainer(config)
    before = model.encoder.encoder_layers[1].intermediate.kernel.numpy()
    restored = checkpoints.set_weights(model, partial, strict=False, source="warm.ckpt")
    assert sorted(restored) == sorted(partial)
    np.testing.assert_array_equal(model.encoder.encoder_layers[1].intermediate.kernel.numpy(), before)
    assert "missing from checkpoint: bert/encoder/layer_1/attention/self/query/kernel (32, 32)" in caplog.text


def test_mismatches_are_reported_together_with_shapes(config):
    weights = random_weights(config)
    weights["bert/pooler/dense/bias"] = np.zeros(5, np.float32)
    del weights["bert/embeddings/LayerNorm/beta"]
    weights["bert/encoder/layer_9/output/dense/bias"] = np.zeros(32, np.float32)
    with pytest.raises(ValueError) as error:
        checkpoints.set_weights(BertPretrainer(config), weights, source="my.ckpt")
    message = str(error.value)
    assert "my.ckpt does not fit the model" in message
    assert "bert/pooler/dense/bias: checkpoint (5,) vs model (32,)" in message
    assert "missing from checkpoint: bert/embeddings/LayerNorm/beta (32,)" in message
    assert "unexpected in checkpoint: bert/encoder/layer_9/output/dense/bias (32,)" in message


def test_bad_inputs_name_the_thing(config, tmp_path):
    with pytest.raises(FileNotFoundError, match="nothing/bert_model.ckpt.index"):
        checkpoint_files.read_tf1(str(tmp_path / "nothing" / "bert_model.ckpt"))
    with pytest.raises(FileNotFoundError, match="model.safetensors"):
        checkpoint_files.read_hf(str(tmp_path))
    vocab = tmp_path / "vocab.txt"
    vocab.write_text("[PAD]\n[UNK]\n")
    with pytest.raises(ValueError, match="vocab.txt has 2 entries but the config says vocab_size=99"):
        checkpoint_files.save(config, random_weights(config), str(tmp_path / "out"), "tf1", vocab_file=str(vocab))
    assert not (tmp_path / "out").exists() or not os.listdir(tmp_path / "out")
    with pytest.raises(ValueError, match="x: unexpected Hugging Face tensors.*lm_head.weight \\(3, 32\\)"):
        checkpoints.hf_to_tf1({"lm_head.weight": np.zeros((3, 32))}, 2, source="x")


def test_convert_checkpoint_cli_round_trip(config, tmp_path):
    weights = random_weights(config)
    vocab = tmp_path / "vocab.txt"
    vocab.write_text("".join(f"tok{i}\n" for i in range(config.vocab_size)))
    checkpoint_files.save(config, weights, str(tmp_path / "tf1"), "tf1", vocab_file=str(vocab))
    steps = [("tf1/bert_model.ckpt", "tf1", "hf", "hf"), ("hf", "hf", "keras", "keras"),
             ("keras", "keras", "tf1b", "tf1")]
    for source, in_format, target, out_format in steps:
        (tmp_path / target).mkdir()
        (tmp_path / target / "notes.txt").write_text("the user's")  # survives the conversion
        subprocess.run([sys.executable, f"{ROOT}/convert_checkpoint.py", f"--input={tmp_path / source}",
                        f"--input_format={in_format}", f"--output={tmp_path / target}",
                        f"--output_format={out_format}"], check=True, capture_output=True)
        assert (tmp_path / target / "vocab.txt").read_text() == vocab.read_text()
        assert (tmp_path / target / "notes.txt").read_text() == "the user's"
    # The same conversion again overwrites nothing new; another checkpoint into the same folder is refused.
    checkpoint_files.save(config, random_weights(config, seed=1), str(tmp_path / "other"), "tf1")
    hf = (tmp_path / "hf" / "model.safetensors").read_bytes()
    for source, code in (("tf1/bert_model.ckpt", 0), ("other/bert_model.ckpt", 1)):
        run = subprocess.run([sys.executable, f"{ROOT}/convert_checkpoint.py", f"--input={tmp_path / source}",
                              f"--output={tmp_path / 'hf'}", "--output_format=hf"], capture_output=True, text=True)
        assert run.returncode == code, run.stderr
    assert run.stderr.splitlines()[-1].startswith(f"convert_checkpoint.py: error: --output={tmp_path / 'hf'} already "
                                                  "holds another hf checkpoint")
    assert (tmp_path / "hf" / "model.safetensors").read_bytes() == hf
    back = checkpoint_files.read_tf1(str(tmp_path / "tf1b" / "bert_model.ckpt"))
    assert back.keys() == weights.keys()
    for name in weights:
        np.testing.assert_array_equal(back[name], weights[name])
    assert BertConfig.from_json_file(str(tmp_path / "tf1b" / "bert_config.json")) == config
