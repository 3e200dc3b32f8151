"""What a BERT's attention heads look at, as tables and plots; with a fine-tuned classifier, how much each head
matters and whether attention agrees with gradients.

  python analyze_attention.py --init_checkpoint=model_dir --input_file=sentences.txt --output_dir=out/attention
  python analyze_attention.py --init_checkpoint=out/sst2 --task_name=SST-2 --data_dir=glue/SST-2 --split=dev \
      --output_dir=out/attention --importance --attention_vs_gradient

Writes statistics.tsv / statistics.json (per layer and head: attention to [CLS], [SEP], punctuation, the
previous / next / same token, entropy, the map's pattern; see bert_tf.analysis.attention), attention_maps.png (one
sentence, every layer and head), statistics_<name>.png (layer x head heatmaps); with --importance
head_importance.tsv/.png; with --attention_vs_gradient attention_vs_gradient.json/.png.
"""

import os

os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")  # before TensorFlow loads: README, "TensorFlow settings"

import json

import numpy as np
from absl import app, flags, logging

from bert_tf import checkpoint_files, cli, tasks, tokenization
from bert_tf.files import write_text

FLAGS = flags.FLAGS
flags.DEFINE_string("input_file", None, "Sentences, one per line ('A ||| B' for pairs).")
flags.DEFINE_string("task_name", None, f"Or a task's examples: {', '.join(tasks.names())}.")
flags.DEFINE_string("data_dir", None, "The task's data folder (with --task_name).")
flags.DEFINE_string("split", "dev", "The task's split (with --task_name).")
flags.DEFINE_string("output_dir", None, "Where the tables and plots are written.")
flags.DEFINE_integer("batch_size", 32, "Sentences per forward pass.")
flags.DEFINE_integer("max_examples", 0, "Use the first this many sentences (0: all).")
flags.DEFINE_integer("plot_example", 0, "The sentence whose maps attention_maps.png draws.")
flags.DEFINE_bool("importance", False, "Head importance (Michel et al.): needs a classifier and --task_name.")
flags.DEFINE_bool("attention_vs_gradient", False, "Kendall tau of [CLS] attention and gradients: a classifier.")
cli.define_model_flags()
flags.mark_flags_as_required(["init_checkpoint", "output_dir"])


def read_features(tokenizer):
    if bool(FLAGS.input_file) == bool(FLAGS.task_name):
        raise ValueError("give either --input_file or --task_name (with --data_dir)")
    if FLAGS.input_file:
        from bert_tf.analysis.collect import features_from_file

        features = features_from_file(FLAGS.input_file, tokenizer, FLAGS.max_seq_length)
    else:
        task = tasks.get(FLAGS.task_name)
        features = task.features(task.read(FLAGS.data_dir, FLAGS.split), tokenizer, FLAGS.max_seq_length)
    features = features[:FLAGS.max_examples or None]
    if not 0 <= FLAGS.plot_example < len(features):
        raise ValueError(f"--plot_example={FLAGS.plot_example}: there are {len(features)} sentences")
    return features


def main(_):
    from bert_tf.analysis import collect, heads, plots, saliency
    from bert_tf.modeling import BertClassifier

    if FLAGS.importance and not FLAGS.task_name:
        raise ValueError("--importance needs labelled examples: give --task_name and --data_dir")
    config, weights, vocab_file = cli.load_checkpoint(FLAGS)
    model = checkpoint_files.build_model(config, weights, source=FLAGS.init_checkpoint)
    if (FLAGS.importance or FLAGS.attention_vs_gradient) and not isinstance(model, BertClassifier):
        raise ValueError(f"--importance and --attention_vs_gradient need a fine-tuned classifier; "
                         f"{FLAGS.init_checkpoint} holds a {type(model).__name__}")
    features = read_features(tokenization.FullTokenizer(vocab_file, FLAGS.do_lower_case))
    out = FLAGS.output_dir
    statistics = collect.attention_statistics(model, features, FLAGS.batch_size)
    statistics.write(os.path.join(out, "statistics.tsv"), os.path.join(out, "statistics.json"))
    source = os.path.basename(os.path.normpath(FLAGS.init_checkpoint))
    feature = features[FLAGS.plot_example]
    plots.attention_maps(collect.sentence_attention(model, feature), feature.tokens,
                         os.path.join(out, "attention_maps.png"), f"Attention maps of {source}")
    for name, values in statistics.means().items():
        plots.head_heatmap(values, os.path.join(out, f"statistics_{name}.png"),
                           f"{source}: mean {name.replace('_', ' ')} over {statistics.queries} queries",
                           "nats" if "entropy" in name else "attention mass")
    patterns = [p for layer in statistics.patterns() for p in layer]
    logging.info("patterns: %s", {p: patterns.count(p) for p in sorted(set(patterns))})
    if FLAGS.importance:
        importance = heads.head_importance(model, collect.batches(features, FLAGS.batch_size), collect.class_losses)
        write_text(os.path.join(out, "head_importance.tsv"), "layer\thead\timportance\n" + "".join(
            f"{i}\t{j}\t{v:.6f}\n" for (i, j), v in np.ndenumerate(importance) if not np.isnan(v)))
        plots.head_heatmap(importance, os.path.join(out, "head_importance.png"),
                           f"{source}: head importance E|dL/dxi| on {len(features)} examples",
                           "importance (unit L2 norm per layer)")
    if FLAGS.attention_vs_gradient:
        taus = saliency.kendall_taus(model, collect.batches(features, FLAGS.batch_size))
        write_text(os.path.join(out, "attention_vs_gradient.json"),
                   json.dumps(saliency.summary(taus), indent=2) + "\n")
        plots.histogram(taus, os.path.join(out, "attention_vs_gradient.png"),
                        f"{source}: last-layer [CLS] attention vs gradient, per example",
                        "Kendall tau between the two token rankings")
    logging.info("wrote %s", out)


if __name__ == "__main__":
    app.run(main)
