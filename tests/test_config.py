"""BertConfig: the original schema, defaults, validation and serialisation (docs/ORIGINAL.md §1.1)."""

import json
import logging
import os

import pytest

from bert_tf.config import BertConfig

CONFIGS = os.path.join(os.path.dirname(__file__), "..", "configs")

# The released chinese_L-12_H-768_A-12/bert_config.json, key for key (extra pooler_* and directionality keys).
RELEASED_CHINESE = {
    "attention_probs_dropout_prob": 0.1, "directionality": "bidi", "hidden_act": "gelu",
    "hidden_dropout_prob": 0.1, "hidden_size": 768, "initializer_range": 0.02, "intermediate_size": 3072,
    "max_position_embeddings": 512, "num_attention_heads": 12, "num_hidden_layers": 12, "pooler_fc_size": 768,
    "pooler_num_attention_heads": 12, "pooler_num_fc_layers": 3, "pooler_size_per_head": 128,
    "pooler_type": "first_token_transform", "type_vocab_size": 2, "vocab_size": 21128,
}


def test_defaults_are_the_originals():
    c = BertConfig(vocab_size=30522)
    assert (c.hidden_size, c.num_hidden_layers, c.num_attention_heads, c.intermediate_size) == (768, 12, 12, 3072)
    assert (c.hidden_act, c.hidden_dropout_prob, c.attention_probs_dropout_prob) == ("gelu", 0.1, 0.1)
    assert (c.max_position_embeddings, c.type_vocab_size, c.initializer_range) == (512, 16, 0.02)
    assert c.head_size == 64


def test_released_config_with_extra_keys_loads_without_warning(tmp_path, caplog):
    path = tmp_path / "bert_config.json"
    path.write_text(json.dumps(RELEASED_CHINESE))
    with caplog.at_level(logging.WARNING):
        c = BertConfig.from_json_file(str(path))
    assert c.vocab_size == 21128 and c.type_vocab_size == 2
    assert caplog.records == []


def test_unknown_key_warns_and_names_the_key(tmp_path, caplog):
    path = tmp_path / "bert_config.json"
    path.write_text(json.dumps({"vocab_size": 10, "hidden_size": 8, "num_attention_heads": 2, "hidden_act": "gelu",
                                "colour": "red"}))
    with caplog.at_level(logging.WARNING):
        BertConfig.from_json_file(str(path))
    assert "colour" in caplog.text and str(path) in caplog.text


def test_to_json_is_indent_2_sorted_with_trailing_newline():
    text = BertConfig(vocab_size=99).to_json_string()
    assert text.endswith("}\n")
    assert text.splitlines()[1] == '  "attention_probs_dropout_prob": 0.1,'
    keys = list(json.loads(text))
    assert keys == sorted(keys)


def test_json_round_trip(tmp_path):
    c = BertConfig(vocab_size=99, hidden_size=32, num_attention_heads=4, hidden_act="relu")
    c.to_json_file(str(tmp_path / "c.json"))
    assert BertConfig.from_json_file(str(tmp_path / "c.json")) == c
    assert [p.name for p in tmp_path.iterdir()] == ["c.json"]  # no temp file left behind


@pytest.mark.parametrize("hidden_act", ["", None])
def test_empty_or_null_hidden_act_is_accepted_as_the_originals_identity(hidden_act, tmp_path):
    # The original's BertConfig takes any value and its get_activation maps "" and None to no activation.
    path = tmp_path / "bert_config.json"
    path.write_text(json.dumps({"vocab_size": 99, "hidden_act": hidden_act}))
    c = BertConfig.from_json_file(str(path))
    assert c.hidden_act == hidden_act
    assert json.loads(c.to_json_string())["hidden_act"] == hidden_act
    with pytest.raises(ValueError, match="hidden_act 0"):
        BertConfig(vocab_size=99, hidden_act=0)


@pytest.mark.parametrize(
    "changes, field",
    [
        ({"hidden_size": 37, "num_attention_heads": 4}, "hidden_size (37) is not a multiple of num_attention_heads"),
        ({"hidden_dropout_prob": 1.5}, "hidden_dropout_prob"),
        ({"attention_probs_dropout_prob": -0.1}, "attention_probs_dropout_prob"),
        ({"num_hidden_layers": 0}, "num_hidden_layers"),
        ({"hidden_act": "swish"}, "hidden_act 'swish'"),
        ({"initializer_range": 0}, "initializer_range"),
    ],
)
def test_invalid_values_name_the_field(changes, field):
    with pytest.raises(ValueError, match=field.replace("(", r"\(").replace(")", r"\)")):
        BertConfig(vocab_size=99, **changes)


def test_bad_files_name_the_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.json"):
        BertConfig.from_json_file(str(tmp_path / "nope.json"))
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(ValueError, match="bad.json"):
        BertConfig.from_json_file(str(bad))
    novocab = tmp_path / "novocab.json"
    novocab.write_text("{}")
    with pytest.raises(ValueError, match="novocab.json.*vocab_size"):
        BertConfig.from_json_file(str(novocab))


@pytest.mark.parametrize(
    "name, sizes",
    [("bert_tiny", (2, 128, 2, 512)), ("bert_mini", (4, 256, 4, 1024)), ("bert_small", (4, 512, 8, 2048)),
     ("bert_medium", (8, 512, 8, 2048)), ("bert_base", (12, 768, 12, 3072)), ("bert_large", (24, 1024, 16, 4096))],
)
def test_shipped_configs(name, sizes):
    c = BertConfig.from_json_file(os.path.join(CONFIGS, f"{name}.json"))
    assert (c.num_hidden_layers, c.hidden_size, c.num_attention_heads, c.intermediate_size) == sizes
    assert (c.vocab_size, c.type_vocab_size, c.max_position_embeddings, c.hidden_act) == (30522, 2, 512, "gelu")
