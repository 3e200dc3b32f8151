"""Exports a BERT checkpoint as the TF-Hub-style pair of SavedModels: a text preprocessor and an encoder.

  python export_encoder.py --init_checkpoint=uncased_L-12_H-768_A-12/bert_model.ckpt --export_dir=out/hub

Writes <export_dir>/preprocessor (raw text -> input_ids, input_mask, segment_ids; `tokenize`,
`bert_pack_inputs`) and <export_dir>/encoder (ids -> pooled_output, sequence_output, encoder_outputs; an
`attention` signature with every layer's attention probabilities). See bert_tf.export.
"""

import os

os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")  # before TensorFlow loads: README, "TensorFlow settings"

from absl import app, flags

from bert_tf import checkpoint_files, tokenization

FLAGS = flags.FLAGS
flags.DEFINE_string("init_checkpoint", None, "Checkpoint: TF1 prefix, HF folder or bert_tf Keras folder.")
flags.DEFINE_string("export_dir", None, "Output folder (gets preprocessor/ and encoder/).")
flags.DEFINE_string("bert_config_file", None, "bert_config.json (default: the one beside the checkpoint).")
flags.DEFINE_string("vocab_file", None, "vocab.txt (default: the one beside the checkpoint).")
flags.DEFINE_bool("do_lower_case", True, "Lower-case and strip accents (True for uncased models).")
flags.DEFINE_integer("max_seq_length", 128, "The preprocessor's packed length.")
flags.mark_flags_as_required(["init_checkpoint", "export_dir"])


def main(_):
    from bert_tf import export

    config, weights, vocab = checkpoint_files.load(FLAGS.init_checkpoint, config_file=FLAGS.bert_config_file)
    vocab_file = FLAGS.vocab_file or vocab
    if vocab_file is None:
        raise ValueError(f"no vocab.txt beside {FLAGS.init_checkpoint}: pass --vocab_file")
    checkpoint_files.check_vocab(config, vocab_file)
    tokenization.validate_case_matches_checkpoint(FLAGS.do_lower_case, FLAGS.init_checkpoint)
    if FLAGS.max_seq_length > config.max_position_embeddings:
        raise ValueError(f"--max_seq_length={FLAGS.max_seq_length} exceeds the model's max_position_embeddings "
                         f"{config.max_position_embeddings}")
    model = checkpoint_files.build_model(config, weights, source=FLAGS.init_checkpoint)
    encoder = getattr(model, "encoder", model)
    export.export_preprocessor(os.path.join(FLAGS.export_dir, "preprocessor"), vocab_file, FLAGS.do_lower_case,
                               FLAGS.max_seq_length)
    export.export_encoder(encoder, os.path.join(FLAGS.export_dir, "encoder"), vocab_file, FLAGS.do_lower_case)


if __name__ == "__main__":
    app.run(main)
