"""Converts a BERT checkpoint between the original TF1, Hugging Face and bert_tf Keras formats.

  python convert_checkpoint.py --input=uncased_L-12_H-768_A-12/bert_model.ckpt --input_format=tf1 \
      --output=out/hf --output_format=hf

The output folder gets the weights, the config in that format's schema and vocab.txt (see checkpoint_files.py).
"""

import os

from absl import flags, logging

from bert_tf import checkpoint_files, cli

FLAGS = flags.FLAGS
flags.DEFINE_string("input", None, "Checkpoint: a TF1 prefix or folder, a HF folder, or a .keras file/folder.")
flags.DEFINE_enum("input_format", None, checkpoint_files.FORMATS, "Input format (default: detected).")
flags.DEFINE_string("output", None, "Output folder.")
flags.DEFINE_enum("output_format", None, checkpoint_files.FORMATS, "Output format.")
flags.DEFINE_string("bert_config_file", None, "Config JSON overriding the one found beside the input.")
flags.DEFINE_string("vocab_file", None, "vocab.txt to copy (default: the one beside the input).")
flags.mark_flags_as_required(["input", "output", "output_format"])


def main(_):
    cli.check_output_folder("output", FLAGS.output)
    existing = os.path.join(FLAGS.output, checkpoint_files.WEIGHTS_FILES[FLAGS.output_format])
    if os.path.exists(existing):
        raise ValueError(f"--output={FLAGS.output} already holds a {FLAGS.output_format} checkpoint ({existing}): "
                         "refusing to overwrite it; give an empty or new folder")
    config, weights, vocab = checkpoint_files.load(FLAGS.input, FLAGS.input_format, FLAGS.bert_config_file)
    vocab = FLAGS.vocab_file or vocab
    if vocab is None:
        logging.warning("no vocab.txt beside %s and no --vocab_file: the output has no vocabulary", FLAGS.input)
    checkpoint_files.save(config, weights, FLAGS.output, FLAGS.output_format, vocab_file=vocab)
    logging.info("wrote %d tensors (%s) to %s", len(weights), FLAGS.output_format, FLAGS.output)


if __name__ == "__main__":
    cli.run(main)
