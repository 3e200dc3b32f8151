"""Exports a BERT checkpoint as the TF-Hub-style pair of SavedModels: a text preprocessor and an encoder.

  python export_encoder.py --init_checkpoint=uncased_L-12_H-768_A-12/bert_model.ckpt --export_dir=out/hub

Writes <export_dir>/preprocessor and <export_dir>/encoder, which TF Hub's BERT client code takes in place of
tfhub.dev handles (`hub.KerasLayer(".../preprocessor")`, `hub.KerasLayer(".../encoder", trainable=True)`: TF Hub's
`input_word_ids`, `input_mask`, `input_type_ids` -> `pooled_output`, `sequence_output`, `encoder_outputs`;
`tokenize`, `bert_pack_inputs(segments, seq_length=N)`), and Keras 3's `keras.layers.TFSMLayer` (the original
names `input_ids`, `input_mask`, `segment_ids`; the encoder's `attention` signature gives every layer's attention
probabilities). See bert_tf.export.hub.
--export_format=saved_model,tflite,onnx: also <export_dir>/encoder.tflite and encoder.onnx (ids in; see
bert_tf.export.portable); without saved_model in the list, no SavedModels.
"""

import os

os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")  # before TensorFlow loads: README, "TensorFlow settings"

from absl import flags

from bert_tf import checkpoint_files, cli, export_flags, tokenization

FLAGS = flags.FLAGS
flags.DEFINE_string("export_dir", None, "Output folder (gets preprocessor/ and encoder/).")
cli.define_model_flags()
export_flags.define_export_limit_flags()
export_flags.define_export_format_flag("to <export_dir>/encoder.tflite and encoder.onnx")
flags.mark_flags_as_required(["init_checkpoint", "export_dir"])


def main(_):
    from bert_tf import export
    from bert_tf.export import folders, portable

    cli.check_output_folder("export_dir", FLAGS.export_dir)
    portable_paths = portable.plan_files(FLAGS.export_format, FLAGS.export_dir, "encoder")
    saved_models = ("preprocessor", "encoder") if "saved_model" in FLAGS.export_format else ()
    paths = {name: os.path.join(FLAGS.export_dir, name) for name in saved_models}
    for path in paths.values():  # refused now, not after the first one is written
        folders.export_target(path)
    limits = export_flags.export_limits(FLAGS)
    config, weights, vocab_file = cli.load_checkpoint(FLAGS)
    tokenization.validate_case_matches_checkpoint(FLAGS.do_lower_case, FLAGS.init_checkpoint)
    model = checkpoint_files.build_model(config, weights, source=FLAGS.init_checkpoint)
    encoder = getattr(model, "encoder", model)
    if paths:
        export.export_preprocessor(paths["preprocessor"], vocab_file, FLAGS.do_lower_case, FLAGS.max_seq_length,
                                   limits)
        export.export_encoder(encoder, paths["encoder"], vocab_file, FLAGS.do_lower_case, limits)
    portable.write_files(encoder, portable_paths)


if __name__ == "__main__":
    cli.run(main)
