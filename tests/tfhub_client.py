"""A TF Hub user's script: the calls TF Hub's BERT model pages and the "Classify text with BERT" and "Solve GLUE
tasks using BERT" tutorials make, on bert_tf's exported pair (paths where they give tfhub.dev handles; Adam where the
tutorial takes AdamW from tf-models-official). Runs in its own process with tensorflow-hub and tf-keras, and with
TF_USE_LEGACY_KERAS=1 as TF Hub asks from TensorFlow 2.16 on (`tf.keras` is then tf-keras, as `hub.KerasLayer` is).

  python tfhub_client.py <preprocessor> <encoder> <request.npz> <results.npz>

The request holds id inputs, loss weights and texts; the results are what the script saw, for tests/test_tfhub.py.
"""

import sys

import numpy as np
import tensorflow as tf
import tensorflow_hub as hub
import tensorflow_text as text  # noqa: F401  (the tutorials import it: it registers the preprocessor's ops)

tfhub_handle_preprocess, tfhub_handle_encoder, request_file, results_file = sys.argv[1:5]
request = dict(np.load(request_file))
texts = request["texts"].tolist()
results = {}

# "Classify text with BERT": the preprocessing model and the encoder on its output.
bert_preprocess_model = hub.KerasLayer(tfhub_handle_preprocess)
text_preprocessed = bert_preprocess_model(texts[:1])
results["preprocessed_keys"] = np.array(sorted(text_preprocessed))
results.update({f"preprocessed_{k}": v.numpy() for k, v in text_preprocessed.items()})
bert_model = hub.KerasLayer(tfhub_handle_encoder)
bert_results = bert_model(text_preprocessed)
results["encoder_keys"] = np.array(sorted(bert_results))
for key in ("pooled_output", "sequence_output", "default"):
    results[f"encoder_{key}"] = bert_results[key].numpy()
results["encoder_outputs"] = np.stack([layer.numpy() for layer in bert_results["encoder_outputs"]])


def build_classifier_model():
    text_input = tf.keras.layers.Input(shape=(), dtype=tf.string, name="text")
    preprocessing_layer = hub.KerasLayer(tfhub_handle_preprocess, name="preprocessing")
    encoder_inputs = preprocessing_layer(text_input)
    encoder = hub.KerasLayer(tfhub_handle_encoder, trainable=True, name="BERT_encoder")
    outputs = encoder(encoder_inputs)
    net = outputs["pooled_output"]
    net = tf.keras.layers.Dropout(0.1)(net)
    net = tf.keras.layers.Dense(1, activation=None, name="classifier")(net)
    return tf.keras.Model(text_input, net)


classifier_model = build_classifier_model()
results["untrained_logits"] = classifier_model(tf.constant(texts)).numpy()
labels = request["labels"]
train_ds = tf.data.Dataset.from_tensor_slices((texts, labels)).batch(4)
classifier_model.compile(optimizer=tf.keras.optimizers.Adam(learning_rate=1e-3),
                         loss=tf.keras.losses.BinaryCrossentropy(from_logits=True),
                         metrics=tf.metrics.BinaryAccuracy())
encoder_layer = classifier_model.get_layer("BERT_encoder")
before = [w.numpy() for w in encoder_layer.trainable_weights]
results["loss_before"] = classifier_model.evaluate(train_ds, verbose=0)[0]
classifier_model.fit(x=train_ds, epochs=int(request["epochs"]), verbose=0)
results["loss_after"] = classifier_model.evaluate(train_ds, verbose=0)[0]
changes = [np.abs(w.numpy() - b).max() for w, b in zip(encoder_layer.trainable_weights, before, strict=True)]
results["fit_largest_change"] = max(changes)
results["fit_trainable_weights"] = len(encoder_layer.trainable_weights)

# The model pages: tokenize and pack two segments at a chosen length, then the trainable encoder.
preprocessor = hub.load(tfhub_handle_preprocess)
text_inputs = [tf.keras.layers.Input(shape=(), dtype=tf.string) for _ in range(2)]
tokenize = hub.KerasLayer(preprocessor.tokenize)
tokenized_inputs = [tokenize(segment) for segment in text_inputs]
seq_length = int(request["seq_length"])
bert_pack_inputs = hub.KerasLayer(preprocessor.bert_pack_inputs, arguments=dict(seq_length=seq_length))
encoder_inputs = bert_pack_inputs(tokenized_inputs)
encoder = hub.KerasLayer(tfhub_handle_encoder, trainable=True)
outputs = encoder(encoder_inputs)
pair_model = tf.keras.Model(text_inputs, [outputs["pooled_output"], encoder_inputs["input_word_ids"]])
pooled, word_ids = pair_model([tf.constant(texts), tf.constant(texts[::-1])])
results["pair_pooled"], results["pair_word_ids"] = pooled.numpy(), word_ids.numpy()

# "Solve GLUE tasks using BERT": tokenize, then pack with a length given as a tensor.
tok = preprocessor.tokenize(tf.constant(texts))
results["tokens_values"], results["tokens_splits"] = tok.flat_values.numpy(), tok.nested_row_splits[1].numpy()
results["tokens_rows"] = tok.row_splits.numpy()
results["glue_word_ids"] = preprocessor.bert_pack_inputs([tok, tok], tf.constant(20))["input_word_ids"].numpy()
results["default_length_word_ids"] = preprocessor.bert_pack_inputs([tok])["input_word_ids"].numpy()
special = preprocessor.tokenize.get_special_tokens_dict()
results["special_tokens"] = np.array([f"{k}={int(v)}" for k, v in sorted(special.items())])

# One plain gradient step through hub.KerasLayer(trainable=True), without dropout (training=False), and dropout.
layer = hub.KerasLayer(tfhub_handle_encoder, trainable=True)
inputs = {k: tf.constant(request[k]) for k in ("input_word_ids", "input_mask", "input_type_ids")}
before = [w.numpy() for w in layer.trainable_weights]
with tf.GradientTape() as tape:
    out = layer(inputs, training=False)
    loss = tf.reduce_sum(out["pooled_output"] * request["pooled_weights"]) + tf.reduce_sum(
        out["sequence_output"] * request["sequence_weights"])
grads = tape.gradient(loss, layer.trainable_weights)
tf.keras.optimizers.SGD(learning_rate=float(request["learning_rate"])).apply_gradients(
    zip(grads, layer.trainable_weights, strict=True))
for i, (w, b) in enumerate(zip(layer.trainable_weights, before, strict=True)):
    results[f"step_{i:03d}"] = w.numpy() - b
results["step_names"] = np.array([w.name for w in layer.trainable_weights])
results["inference_pooled"] = layer(inputs, training=False)["pooled_output"].numpy()
results["training_pooled"] = np.stack([layer(inputs, training=True)["pooled_output"].numpy() for _ in range(2)])

np.savez(results_file, **results)
