"""Attention analysis: statistics and patterns by hand, head gates against zeroed heads, importance against per-example
gradients, real pruning against gates and Hugging Face's prune_heads, attention vs gradients, plots, the script."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
from helpers import BATCH, random_weights, tiny_config, tiny_inputs, write_vocab

from bert_tf import checkpoint_files, checkpoints
from bert_tf.analysis import attention, collect, heads, plots, saliency
from bert_tf.modeling import BertClassifier, BertEncoder

ROOT = os.path.dirname(os.path.dirname(__file__))
INPUTS = ("input_ids", "input_mask", "segment_ids")


def classifier(config, seed=0):
    model = BertClassifier(config, 3)
    rng = np.random.default_rng(seed)
    weights = {k: (v + rng.normal(0, 0.2, v.shape)).astype(np.float32)
               for k, v in checkpoints.get_weights(model).items()}
    checkpoints.set_weights(model, weights)
    return model, weights


def inputs_of(batch):
    return {k: batch[k] for k in INPUTS}


# ------------------------------------------------------------------------------------------------ statistics


def test_statistics_and_patterns_by_hand():
    tokens = ["[CLS]", "the", "cat", ",", "sat", "on", "mat", "[SEP]"]
    eye = np.eye(8)
    to_cls = np.zeros((8, 8))
    to_cls[:, 0] = 1.0
    uniform = np.full((8, 8), 1 / 8)
    stats = attention.AttentionStatistics()
    stats.add([np.stack([eye, to_cls, uniform])], tokens, [0] * 8)
    m = stats.means()
    np.testing.assert_allclose(m["same"][0], [1.0, 1 / 8, 1 / 8])
    np.testing.assert_allclose(m["cls"][0], [1 / 8, 1.0, 1 / 8])  # the identity head's [CLS] query looks at [CLS]
    np.testing.assert_allclose(m["sep"][0], [1 / 8, 0.0, 1 / 8])
    np.testing.assert_allclose(m["punctuation"][0], [1 / 8, 0.0, 1 / 8])  # "," is punctuation
    np.testing.assert_allclose(m["previous"][0], [0.0, 1 / 8, 7 / 8 / 8])  # 7 of 8 queries have a previous token
    np.testing.assert_allclose(m["entropy"][0], [0.0, 0.0, np.log(8)])
    np.testing.assert_allclose(m["uniform_entropy"][0], [np.log(8)] * 3)
    # diagonal: the query itself and its neighbours but [CLS], "," and [SEP]; vertical: those three, but the query
    # itself (uniform head: 3 of 8 keys for 5 queries, 2 for the 3 that are such keys; 2 or 3 diagonal keys each)
    np.testing.assert_allclose(m["vertical"][0], [0.0, 7 / 8, 21 / 64])
    np.testing.assert_allclose(m["diagonal"][0], [1.0, 1 / 8, 18 / 64])
    assert "segment" not in m  # one sentence, no pairs
    assert stats.patterns() == [["diagonal", "vertical", "heterogeneous"]]
    assert (stats.sentences, stats.queries) == (1, 8)


def test_block_pattern_needs_pairs_and_padding_is_ignored():
    tokens = ["[CLS]", *"abcde", "[SEP]", *"fghij", "[SEP]"]
    segments = [0] * 7 + [1] * 6
    own = np.zeros((13, 13))
    for q in range(13):  # each query spreads over its own segment's five words
        words = [k for k in range(13) if tokens[k] not in ("[CLS]", "[SEP]") and segments[k] == segments[q]]
        own[q, words] = 1.0 / len(words)
    padded = np.zeros((1, 15, 15))
    padded[0, :13, :13] = own
    padded[0, 13:, :] = 0.5  # padded query rows hold garbage: never counted
    stats = attention.AttentionStatistics()
    stats.add([padded], tokens, segments + [0, 0])
    assert stats.queries == 13 and stats.pair_queries == 13
    np.testing.assert_allclose(stats.means()["segment"], [[1.0]])
    assert stats.means()["diagonal"][0, 0] < 0.6
    assert stats.patterns() == [["block"]]
    assert attention.pattern(0.2, 0.2, None) == "heterogeneous" and attention.pattern(0.35, 0.35, 1.0) == (
        "vertical+diagonal")


def test_statistics_of_a_model_are_the_mean_over_sentences_and_written(config, tmp_path):
    model = BertEncoder(config)
    checkpoints.set_weights(model, random_weights(config, with_heads=False))
    vocab = write_vocab(tmp_path / "vocab.txt", ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "the", "cat", ".", "sat"]
                        + [f"w{i}" for i in range(90)])
    from bert_tf.tokenization import FullTokenizer

    (tmp_path / "in.txt").write_text("the cat sat .\n\nthe cat ||| sat .\n", encoding="utf-8")
    features = collect.features_from_file(str(tmp_path / "in.txt"), FullTokenizer(vocab), 12)
    assert len(features) == 2  # the blank line is no sentence
    stats = collect.attention_statistics(model, features, batch_size=1)
    by_hand = attention.AttentionStatistics()
    for feature in features:
        by_hand.add(collect.sentence_attention(model, feature), feature.tokens, feature.segment_ids)
    for name, value in by_hand.means().items():
        np.testing.assert_allclose(stats.means()[name], value, atol=1e-6, err_msg=name)
    stats.write(str(tmp_path / "s.tsv"), str(tmp_path / "s.json"))
    lines = (tmp_path / "s.tsv").read_text().splitlines()
    assert lines[0].split("\t") == ["layer", "head", *attention.STATISTICS, "pattern"]
    assert len(lines) == 1 + 2 * 4
    assert json.loads((tmp_path / "s.json").read_text())["queries"] == 6 + 7  # [CLS] a [SEP] (b [SEP])
    (tmp_path / "empty.txt").write_text("\n  \n", encoding="utf-8")
    with pytest.raises(ValueError, match="empty.txt: no sentence"):
        collect.features_from_file(str(tmp_path / "empty.txt"), FullTokenizer(vocab), 12)


# ------------------------------------------------------------------------------------------------ gates


def test_a_zero_gate_equals_zeroing_the_heads_context(config):
    model, weights = classifier(config)
    inputs = tiny_inputs()
    gated = model(inputs, head_mask=heads.head_mask(model, [(0, 1), (1, 3)]))["logits"].numpy()
    zeroed = dict(weights)
    for layer, head in ((0, 1), (1, 3)):  # a head's context is its probabilities times its values: values 0
        for name in ("kernel", "bias"):
            key = f"bert/encoder/layer_{layer}/attention/self/value/{name}"
            zeroed[key] = weights[key].copy()
            zeroed[key][..., head * 8:(head + 1) * 8] = 0.0
    reference = BertClassifier(config, 3)
    checkpoints.set_weights(reference, zeroed)
    np.testing.assert_allclose(gated, reference(inputs)["logits"].numpy(), atol=1e-6)
    ones = model(inputs, head_mask=heads.head_mask(model))["logits"].numpy()
    np.testing.assert_array_equal(ones, model(inputs)["logits"].numpy())
    per_example = heads.head_mask(model, [(0, 1), (1, 3)], batch_size=BATCH)  # [B, N] gates: the same
    np.testing.assert_allclose(model(inputs, head_mask=per_example)["logits"].numpy(), gated, atol=1e-6)


def test_bad_gates_and_heads_name_the_value(config):
    model, _ = classifier(config)
    with pytest.raises(ValueError, match="head \\(2, 0\\) does not exist: the model has 2 layers with \\[4, 4\\]"):
        heads.head_mask(model, [(2, 0)])
    with pytest.raises(ValueError, match="head \\(0, 4\\) does not exist"):
        heads.prune_heads(model, {0: [4]})
    with pytest.raises(ValueError, match="head_mask of shapes \\[\\(3,\\), \\(4,\\)\\] does not fit this encoder, "
                                         "whose layers have \\[4, 4\\] heads"):
        model(tiny_inputs(), head_mask=[np.ones(3), np.ones(4)])
    with pytest.raises(ValueError, match="one \\[N\\]"):
        model(tiny_inputs(), head_mask=[np.ones(4)])


def test_importance_is_the_mean_absolute_per_example_gradient(config):
    import tensorflow as tf

    model, _ = classifier(config)
    batch = {**tiny_inputs(), "label_ids": np.arange(BATCH) % 3}
    importance = heads.head_importance(model, [batch], collect.class_losses, normalize=False)
    expected = np.zeros((2, 4))
    for row in range(BATCH):  # one example at a time, a gate vector per layer
        gates = [tf.ones(4), tf.ones(4)]
        one = {k: v[row:row + 1] for k, v in batch.items()}
        with tf.GradientTape() as tape:
            tape.watch(gates)
            loss = collect.class_losses(model(inputs_of(one), head_mask=gates), one)[0]
        expected += np.abs(np.stack([g.numpy() for g in tape.gradient(loss, gates)]))
    np.testing.assert_allclose(importance, expected / BATCH, rtol=1e-4, atol=1e-7)
    normalized = heads.head_importance(model, [batch], collect.class_losses)
    np.testing.assert_allclose(np.linalg.norm(normalized, axis=1), [1.0, 1.0], rtol=1e-6)
    order = heads.pruning_order(normalized)
    assert len(order) == 8 and normalized[order[0]] == normalized.min()
    assert sorted(heads.pruning_order(normalized, seed=1)) == sorted(order) != heads.pruning_order(normalized, 1)[::-1]


# ------------------------------------------------------------------------------------------------ pruning


PRUNED = {0: [1, 3], 1: [0, 1, 2, 3]}  # layer 1 loses every head: its attention adds its output bias alone


def test_pruned_model_equals_the_gated_one_and_saves_everywhere(tmp_path):
    config = tiny_config(hidden_dropout_prob=0.0)
    model, _ = classifier(config)
    pruned = heads.prune_heads(model, PRUNED)
    assert pruned.config.pruned_heads == ((0, (1, 3)), (1, (0, 1, 2, 3)))
    assert heads.heads_per_run(pruned) == [2, 0] and pruned.count_params() < model.count_params()
    inputs = tiny_inputs()
    gates = heads.head_mask(model, [(layer, h) for layer, hs in PRUNED.items() for h in hs])
    expected = model(inputs, head_mask=gates)["logits"].numpy()
    np.testing.assert_allclose(pruned(inputs)["logits"].numpy(), expected, atol=1e-5)
    again = heads.prune_heads(pruned, {0: [0]})  # current numbering: head 0 of the 2 left is the original 0
    assert again.config.pruned_heads == ((0, (0, 1, 3)), (1, (0, 1, 2, 3)))
    weights = checkpoints.get_weights(pruned)
    for fmt in ("tf1", "keras"):
        checkpoint_files.save(pruned.config, weights, str(tmp_path / fmt), fmt)
        config_back, weights_back, _ = checkpoint_files.load(str(tmp_path / fmt))
        assert config_back == pruned.config
        np.testing.assert_array_equal(checkpoint_files.build_model(config_back, weights_back)(inputs)["logits"],
                                      pruned(inputs)["logits"])
    from bert_tf import export

    vocab = write_vocab(tmp_path / "v.txt", ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
                        + [f"w{i}" for i in range(94)])
    export.export_classifier(pruned, str(tmp_path / "saved"), vocab, True, 7, label_names=("a", "b", "c"))
    import tensorflow as tf

    served = tf.saved_model.load(str(tmp_path / "saved")).signatures["serve_ids"](
        **{k: tf.constant(inputs[k]) for k in INPUTS})
    np.testing.assert_allclose(served["logits"].numpy(), pruned(inputs)["logits"].numpy(), atol=1e-5)


def hf_prune_heads(hf, pruned):
    """Hugging Face's prune_heads of transformers 4 (5 dropped it; its attention still reshapes by -1 heads):
    its own prune_linear_layer on query/key/value rows and the attention output's columns."""
    import torch
    from transformers.pytorch_utils import prune_linear_layer

    for layer, heads_gone in pruned.items():
        attention = hf.bert.encoder.layer[layer].attention
        size = attention.self.attention_head_size
        width = attention.self.num_attention_heads * size
        keep = torch.tensor([i for i in range(width) if i // size not in heads_gone], dtype=torch.long)
        for name in ("query", "key", "value"):
            setattr(attention.self, name, prune_linear_layer(getattr(attention.self, name), keep))
        attention.output.dense = prune_linear_layer(attention.output.dense, keep, dim=1)


def test_pruned_model_equals_hugging_face_prune_heads(tmp_path):
    import torch
    from safetensors.numpy import load_file
    from transformers import BertForSequenceClassification

    config = tiny_config(hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)
    model, weights = classifier(config)
    checkpoint_files.save(config, weights, str(tmp_path / "full"), "hf")
    hf = BertForSequenceClassification.from_pretrained(str(tmp_path / "full"), attn_implementation="eager").eval()
    hf_prune_heads(hf, {0: [1, 3], 1: [2]})
    pruned = heads.prune_heads(model, {0: [1, 3], 1: [2]})
    inputs = tiny_inputs()
    with torch.no_grad():
        theirs = hf(input_ids=torch.tensor(inputs["input_ids"], dtype=torch.long),
                    attention_mask=torch.tensor(inputs["input_mask"], dtype=torch.long),
                    token_type_ids=torch.tensor(inputs["segment_ids"], dtype=torch.long)).logits.numpy()
    np.testing.assert_allclose(pruned(inputs)["logits"].numpy(), theirs, atol=1e-5)
    # Our Hugging Face export of the pruned model is HF's pruned state dict, tensor for tensor, and its config
    # names the heads as transformers 4 recorded them (config.pruned_heads).
    checkpoint_files.save(pruned.config, checkpoints.get_weights(pruned), str(tmp_path / "pruned"), "hf")
    written = load_file(str(tmp_path / "pruned" / "model.safetensors"))
    state = {k: v.numpy() for k, v in hf.state_dict().items() if k in written or "position_ids" not in k}
    assert written.keys() == state.keys()
    for name, value in state.items():
        np.testing.assert_array_equal(written[name], value, err_msg=name)
    assert json.loads((tmp_path / "pruned" / "config.json").read_text())["pruned_heads"] == {"0": [1, 3], "1": [2]}
    config_back, weights_back, _ = checkpoint_files.load(str(tmp_path / "pruned"))
    np.testing.assert_array_equal(checkpoint_files.build_model(config_back, weights_back)(inputs)["logits"],
                                  pruned(inputs)["logits"])


# ------------------------------------------------------------------------------------------------ saliency, plots


def test_attention_and_gradient_scores_by_hand(config):
    import tensorflow as tf

    model, _ = classifier(config)
    inputs = tiny_inputs()
    attention_scores, gradient = saliency.token_scores(model, inputs_of(inputs))
    probs = model(inputs, return_attention_probs=True)["attention_probs"][-1].numpy()
    np.testing.assert_allclose(attention_scores, probs[:, :, 0, :].mean(1), atol=1e-7)
    table = model.encoder.embedding_table
    row = 2
    lookup = tf.Variable(tf.gather(table, inputs["input_ids"][row:row + 1]))
    with tf.GradientTape() as tape:  # the embedding of row 2's tokens as a variable, then the same network
        one = {k: v[row:row + 1] for k, v in inputs.items()}
        embeddings = model.encoder.embeddings
        x = lookup + tf.matmul(tf.one_hot(one["segment_ids"], 2), embeddings.token_type_embeddings)
        x = embeddings.layer_norm(x + embeddings.position_embeddings[:x.shape[1]][None])
        adder = (1.0 - tf.cast(one["input_mask"], tf.float32)[:, None, None, :]) * -10000.0
        for block in model.encoder.encoder_layers:
            x, *_ = block(x, adder)
        logits = model.classifier(model.encoder.pooler(x[:, 0]))
        top = tf.reduce_max(logits)
    np.testing.assert_allclose(gradient[row], tf.norm(tape.gradient(top, lookup), axis=-1).numpy()[0], rtol=1e-4)
    taus = saliency.kendall_taus(model, [inputs])
    assert taus.shape == (BATCH,) and np.all(np.abs(taus) <= 1.0)
    from scipy import stats

    mask = inputs["input_mask"][0].astype(bool)
    assert taus[0] == pytest.approx(stats.kendalltau(attention_scores[0, mask], gradient[0, mask]).statistic)
    summary = saliency.summary(taus)
    assert summary["examples"] == BATCH and summary["q50"] == pytest.approx(np.median(taus))


def png_size(path):
    data = open(path, "rb").read(24)
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")


def test_plots_are_pngs_of_a_readable_size(tmp_path):
    rng = np.random.default_rng(0)
    maps = [rng.dirichlet(np.ones(5), (3, 5)) for _ in range(2)]  # 2 layers x [3, 5, 5]
    w, h = png_size(plots.attention_maps(maps, ["[CLS]", "a", "b", "c", "[SEP]"], str(tmp_path / "m.png"), "t"))
    assert w > 400 and h > 300
    values = rng.random((6, 12))
    values[5, 10:] = np.nan  # a pruned layer's missing heads
    w, h = png_size(plots.head_heatmap(values, str(tmp_path / "h.png"), "importance", "score"))
    assert w > 600 and h > 300
    w, _ = png_size(plots.curves([0, 10, 20], {"a": ([0.9, 0.8, 0.5], None), "b": ([0.9, 0.7, 0.4], np.array(
        [0.0, 0.1, 0.1]))}, str(tmp_path / "c.png"), "curve", "% pruned", "accuracy"))
    assert w > 500
    assert png_size(plots.histogram(rng.random(50), str(tmp_path / "t.png"), "taus", "tau"))[0] > 500
    assert sorted(os.listdir(tmp_path)) == ["c.png", "h.png", "m.png", "t.png"]  # nothing half-written left


# ------------------------------------------------------------------------------------------------ the script


def test_analyze_attention_script_on_a_fine_tuned_classifier(tmp_path):
    config = tiny_config(max_position_embeddings=32)
    model, weights = classifier(config)
    words = ["the", "cat", "sat", "on", "mat", "good", "bad", ".", ","]
    vocab = write_vocab(tmp_path / "vocab.txt", ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *words]
                        + [f"w{i}" for i in range(99 - 14)])
    weights = {k: v for k, v in weights.items()}
    weights["output_weights"], weights["output_bias"] = weights["output_weights"][:2], weights["output_bias"][:2]
    checkpoint_files.save(config, weights, str(tmp_path / "ckpt"), "tf1", vocab_file=vocab)
    (tmp_path / "sst").mkdir()
    rows = ["the cat sat on the mat .\t1", "bad cat , bad mat\t0", "good .\t1", "the mat , the cat\t0"]
    (tmp_path / "sst" / "dev.tsv").write_text("sentence\tlabel\n" + "\n".join(rows) + "\n", encoding="utf-8")
    out = tmp_path / "out"
    run = subprocess.run([sys.executable, f"{ROOT}/analyze_attention.py", f"--init_checkpoint={tmp_path / 'ckpt'}",
                          "--task_name=sst-2", f"--data_dir={tmp_path / 'sst'}", f"--output_dir={out}",
                          "--max_seq_length=16", "--importance", "--attention_vs_gradient", "--plot_example=1"],
                         capture_output=True, text=True)
    assert run.returncode == 0, run.stderr[-3000:]
    assert len((out / "statistics.tsv").read_text().splitlines()) == 1 + 2 * 4
    importance = np.loadtxt(out / "head_importance.tsv", skiprows=1)
    assert importance.shape == (8, 3)
    np.testing.assert_allclose([np.linalg.norm(importance[importance[:, 0] == i, 2]) for i in (0, 1)], 1.0,
                               rtol=1e-5)
    assert json.loads((out / "attention_vs_gradient.json").read_text())["examples"] == 4
    for name in ("attention_maps", "head_importance", "attention_vs_gradient", "statistics_cls", "statistics_entropy"):
        assert png_size(out / f"{name}.png")[0] > 300, name
    bad = subprocess.run([sys.executable, f"{ROOT}/analyze_attention.py", f"--init_checkpoint={tmp_path / 'ckpt'}",
                          f"--input_file={tmp_path / 'sst' / 'dev.tsv'}", f"--output_dir={out}", "--importance"],
                         capture_output=True, text=True)
    assert "--importance needs labelled examples: give --task_name and --data_dir" in bad.stderr
