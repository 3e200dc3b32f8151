"""Converts a BERT, ALBERT, RoBERTa or DistilBERT checkpoint between the original TF1, Hugging Face and bert_tf
Keras formats.

  python convert_checkpoint.py --input=uncased_L-12_H-768_A-12/bert_model.ckpt --input_format=tf1 \
      --output=out/hf --output_format=hf
  python convert_checkpoint.py --input=albert_base/model.ckpt-best --model_type=albert --output=out/albert_hf \
      --output_format=hf

--model_type is detected from the config where it can be (Hugging Face's `model_type`, the key bert_tf writes, an
`albert_config.json`); a config of another type than the one given is refused.

The output folder gets the weights, the config in that format's schema and vocab.txt (see checkpoint_files.py).
"""

import os

import numpy as np
from absl import flags, logging

from bert_tf import checkpoint_files, cli, model_types

FLAGS = flags.FLAGS
flags.DEFINE_string("input", None, "Checkpoint: a TF1 prefix or folder, a HF folder, or a .keras file/folder.")
flags.DEFINE_enum("input_format", None, checkpoint_files.FORMATS, "Input format (default: detected).")
flags.DEFINE_string("output", None, "Output folder.")
flags.DEFINE_enum("output_format", None, checkpoint_files.FORMATS, "Output format.")
flags.DEFINE_string("bert_config_file", None, "Config JSON overriding the one found beside the input.")
flags.DEFINE_enum("model_type", None, list(model_types.MODEL_TYPES), "The family (default: detected from the config).")
flags.DEFINE_string("vocab_file", None, "vocab.txt to copy (default: the one beside the input).")
flags.mark_flags_as_required(["input", "output", "output_format"])


def check_output(weights):
    """A checkpoint of the output format already in --output is overwritten only by the same weights (the same
    conversion run again); another one is refused, not lost."""
    existing = os.path.join(FLAGS.output, checkpoint_files.WEIGHTS_FILES[FLAGS.output_format])
    if not os.path.exists(existing):
        return
    try:
        _, there, _ = checkpoint_files.load(FLAGS.output, FLAGS.output_format, model_type=FLAGS.model_type)
    except (ValueError, OSError):
        there = {}
    if there.keys() != weights.keys() or any(not np.array_equal(there[k], weights[k]) for k in weights):
        raise ValueError(f"--output={FLAGS.output} already holds another {FLAGS.output_format} checkpoint "
                         f"({existing}): refusing to overwrite it; give an empty or new folder")


def main(_):
    cli.check_output_folder("output", FLAGS.output)
    config, weights, vocab = checkpoint_files.load(FLAGS.input, FLAGS.input_format, FLAGS.bert_config_file,
                                                   FLAGS.model_type)
    check_output(weights)
    vocab = FLAGS.vocab_file or vocab
    if vocab is None:
        logging.warning("no vocab.txt beside %s and no --vocab_file: the output has no vocabulary", FLAGS.input)
    checkpoint_files.save(config, weights, FLAGS.output, FLAGS.output_format, vocab_file=vocab)
    logging.info("wrote %d tensors (%s) to %s", len(weights), FLAGS.output_format, FLAGS.output)


if __name__ == "__main__":
    cli.run(main)
