"""Extracts hidden states of BERT layers for each input line, as JSON lines (the original extract_features.py).

  python extract_features.py --input_file=in.txt --output_file=out.jsonl --init_checkpoint=path/bert_model.ckpt \
      --vocab_file=vocab.txt --bert_config_file=bert_config.json --layers=-1,-2,-3,-4

One example per line; "A ||| B" is a pair. Output keys as the original, `linex_index` (sic) included; the
checkpoint may be an original TF1, Hugging Face or bert_tf Keras one. With --attention_layers each line also gets
`attention`: per requested layer, its heads' attention probabilities between the line's real tokens.
"""

import os

os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")  # before TensorFlow loads: README, "TensorFlow settings"

import json
import time

from absl import flags, logging

from bert_tf import checkpoint_files, cli, tokenization
from bert_tf.files import write_text
from bert_tf.finetuning_data import read_text_pairs, text_pair_features

FLAGS = flags.FLAGS
flags.DEFINE_string("input_file", None, "Text file, one example per line ('A ||| B' for pairs).")
flags.DEFINE_string("output_file", None, "JSON-lines output.")
flags.DEFINE_string("layers", "-1,-2,-3,-4", "Indexes into the Transformer layer outputs (-1 = last).")
flags.DEFINE_string("attention_layers", "", "Also write these layers' attention probabilities (same indexes as "
                    "--layers; empty: none).")
cli.define_model_flags()
flags.DEFINE_integer("batch_size", 32, "Batch size for inference.")
flags.DEFINE_bool("use_tpu", False, "Accepted for compatibility with the original; TPU inference is not used.")
flags.DEFINE_string("master", None, "Accepted for compatibility with the original; unused.")
flags.DEFINE_integer("num_tpu_cores", 8, "Accepted for compatibility with the original; unused.")
flags.DEFINE_bool("use_one_hot_embeddings", False, "Accepted for compatibility; numerically identical either way.")
flags.mark_flags_as_required(["input_file", "output_file", "init_checkpoint"])

def feature_json(unique_id, tokens, layer_outputs, layer_indexes, attention=(), attention_indexes=()):
    """One output line: per real token, each requested layer's values rounded to 6 decimals; with `attention`
    ([N, S, S] per requested attention layer), the probabilities among the real tokens, [N][T][T]."""
    line = {"linex_index": unique_id, "features": [
        {"token": token, "layers": [{"index": index, "values": [round(float(x), 6) for x in layer[i]]}
                                    for index, layer in zip(layer_indexes, layer_outputs, strict=True)]}
        for i, token in enumerate(tokens)]}
    if attention_indexes:
        count = len(tokens)
        line["attention"] = [{"index": index, "values": [[[round(float(p), 6) for p in row[:count]]
                                                          for row in head[:count]] for head in probs]}
                             for index, probs in zip(attention_indexes, attention, strict=True)]
    return line


def parse_layers(spec, num_layers, flag):
    """Comma-separated layer indexes (negative from the end), each one the model has."""
    indexes = [int(x) for x in spec.split(",") if x.strip()]
    for index in indexes:
        if not -num_layers <= index < num_layers:
            raise ValueError(f"--{flag}={spec}: layer {index} does not exist in a model of {num_layers} layers "
                             f"(indexes {-num_layers}..{num_layers - 1})")
    return indexes


def main(_):
    import numpy as np
    import tensorflow as tf

    cli.check_output_file("output_file", FLAGS.output_file, inputs=[FLAGS.input_file])
    if FLAGS.batch_size < 1:
        raise ValueError(f"--batch_size={FLAGS.batch_size}: must be at least 1")
    config, weights, vocab_file = cli.load_checkpoint(FLAGS)
    layer_indexes = parse_layers(FLAGS.layers, config.num_hidden_layers, "layers")
    attention_indexes = parse_layers(FLAGS.attention_layers, config.num_hidden_layers, "attention_layers")
    tokenizer = tokenization.FullTokenizer(vocab_file, do_lower_case=FLAGS.do_lower_case)
    encoder = checkpoint_files.build_model(config, weights, source=FLAGS.init_checkpoint)
    encoder = getattr(encoder, "encoder", encoder)

    @tf.function
    def run(inputs):
        out = encoder(inputs, training=False, return_attention_probs=bool(attention_indexes))
        return ([out["encoder_outputs"][i] for i in layer_indexes],
                [out["attention_probs"][i] for i in attention_indexes])

    features = text_pair_features(read_text_pairs(FLAGS.input_file), FLAGS.max_seq_length, tokenizer)
    lines, start = [], time.time()
    for begin in range(0, len(features), FLAGS.batch_size):
        batch = features[begin:begin + FLAGS.batch_size]
        inputs = {key: tf.constant(np.array([getattr(f, key) for f in batch], np.int32))
                  for key in ("input_ids", "input_mask", "segment_ids")}
        outputs, attention = ([o.numpy() for o in part] for part in run(inputs))
        for j, feature in enumerate(batch):
            line = feature_json(begin + j, feature.tokens, [o[j] for o in outputs], layer_indexes,
                                [a[j] for a in attention], attention_indexes)
            lines.append(json.dumps(line) + "\n")
        logging.info("%d/%d examples, %.1f examples/s", len(lines), len(features), len(lines) / (time.time() - start))
    write_text(FLAGS.output_file, "".join(lines))


if __name__ == "__main__":
    cli.run(main)
