"""Runs the ORIGINAL google-research/bert model code (pip `bert-tensorflow`) on a TF1 checkpoint; a test oracle.

  python tests/original_oracle.py CKPT_PREFIX BERT_CONFIG INPUTS_NPZ OUTPUT_NPZ

Runs in its own process: the original scripts define absl flags at import, and its graph-mode code must not
share a process with eager tests. TF 2.21 lacks two things the original calls, provided here as TF 1.x defined
them: `contrib.layers.layer_norm` (moments over the last axis, then batch_normalization with variance_epsilon
1e-12; variables `beta`/`gamma` under scope `LayerNorm`) and `tf.layers.dense` (matmul + bias_add + activation;
variables `kernel`/`bias` under scope `dense`, `dense_1`, ... when unnamed). The original only feeds them 2-D
tensors.
"""

import sys
import types

import numpy as np
import tensorflow.compat.v1 as tf


def _contrib_layer_norm(inputs, begin_norm_axis=-1, begin_params_axis=-1, scope=None):
    with tf.variable_scope(scope, default_name="LayerNorm"):
        size = inputs.shape[-1]
        beta = tf.get_variable("beta", shape=[size], initializer=tf.zeros_initializer())
        gamma = tf.get_variable("gamma", shape=[size], initializer=tf.ones_initializer())
        mean, variance = tf.nn.moments(inputs, [begin_norm_axis], keep_dims=True)
        return tf.nn.batch_normalization(inputs, mean, variance, offset=beta, scale=gamma, variance_epsilon=1e-12)


def _dense(inputs, units, activation=None, name=None, kernel_initializer=None):
    assert inputs.shape.ndims == 2, "the original only calls dense on matrices"
    with tf.variable_scope(name, default_name="dense"):
        kernel = tf.get_variable("kernel", [inputs.shape[-1], units], initializer=kernel_initializer)
        bias = tf.get_variable("bias", [units], initializer=tf.zeros_initializer())
        outputs = tf.nn.bias_add(tf.matmul(inputs, kernel), bias)
        return activation(outputs) if activation is not None else outputs


def _install_shims():
    contrib = types.ModuleType("tensorflow.contrib")
    contrib.layers = types.SimpleNamespace(layer_norm=_contrib_layer_norm)
    sys.modules["tensorflow.contrib"] = contrib
    tf.layers = types.SimpleNamespace(dense=_dense)


def main(prefix, config_file, inputs_file, output_file):
    _install_shims()
    from bert import modeling, run_pretraining

    inputs = dict(np.load(inputs_file))
    config = modeling.BertConfig.from_json_file(config_file)
    graph = tf.Graph()
    with graph.as_default():
        feeds = {k: tf.constant(v) for k, v in inputs.items()}
        model = modeling.BertModel(config, is_training=False, input_ids=feeds["input_ids"],
                                   input_mask=feeds["input_mask"], token_type_ids=feeds["segment_ids"],
                                   use_one_hot_embeddings=False)
        fetches = {"sequence_output": model.get_sequence_output(), "pooled_output": model.get_pooled_output(),
                   "embedding_output": model.get_embedding_output()}
        for i, layer in enumerate(model.get_all_encoder_layers()):
            fetches[f"encoder_output_{i}"] = layer
        if "masked_lm_positions" in inputs:
            mlm_loss, _, mlm_log_probs = run_pretraining.get_masked_lm_output(
                config, model.get_sequence_output(), model.get_embedding_table(), feeds["masked_lm_positions"],
                feeds["masked_lm_ids"], feeds["masked_lm_weights"])
            nsp_loss, _, nsp_log_probs = run_pretraining.get_next_sentence_output(
                config, model.get_pooled_output(), feeds["next_sentence_labels"])
            fetches.update(masked_lm_loss=mlm_loss, masked_lm_log_probs=mlm_log_probs,
                           next_sentence_loss=nsp_loss, next_sentence_log_probs=nsp_log_probs)
        saver = tf.train.Saver(tf.global_variables())
        with tf.Session(graph=graph) as session:
            saver.restore(session, prefix)
            np.savez(output_file, **session.run(fetches))


if __name__ == "__main__":
    main(*sys.argv[1:5])
