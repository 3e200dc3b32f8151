"""`bert_pretraining`: the original algorithm's masked-LM / next-sentence instances as a TFDS dataset, made on
Apache Beam from local text files.

manual_dir holds `vocab.txt` and the corpus: every other file (not hidden) in name order, one sentence per line,
a blank line between documents. Each file is processed alone with seed random_seed + its position, exactly as
`create_pretraining_data.py --num_workers` processes it (`bert_tf.pretraining_data.beam`), so the dataset's
"train" split holds per-file mode's records, in its order (file, then record). Features are the records' names
and widths (int64; masked_lm_weights float32).
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import os

import numpy as np
import tensorflow_datasets as tfds

from bert_tf import tokenization
from bert_tf.pretraining_data import PretrainingDataConfig
from bert_tf.pretraining_data import beam as beam_lib

VOCAB = "vocab.txt"


@dataclasses.dataclass(eq=False)
class BertPretrainingConfig(tfds.core.BuilderConfig):
    """A config: the create_pretraining_data flags (`PretrainingDataConfig`) and the vocab's casing."""

    data: PretrainingDataConfig = dataclasses.field(default_factory=PretrainingDataConfig)
    do_lower_case: bool = True


def config_from(data: PretrainingDataConfig, do_lower_case: bool = True) -> BertPretrainingConfig:
    """A config named by its settings, so that data made with other flags never passes for it."""
    name = (f"seq{data.max_seq_length}_pred{data.max_predictions_per_seq}_mlm{data.masked_lm_prob:g}"
            f"_dupe{data.dupe_factor}_seed{data.random_seed}_short{data.short_seq_prob:g}"
            f"{'_wwm' if data.do_whole_word_mask else ''}{'' if do_lower_case else '_cased'}")
    return BertPretrainingConfig(name=name, data=data, do_lower_case=do_lower_case,
                                 description="create_pretraining_data flags: " + str(dataclasses.asdict(data)))


def _predefined(name, description, **settings):
    return BertPretrainingConfig(name=name, description=description, data=PretrainingDataConfig(**settings))


class BertPretraining(tfds.core.GeneratorBasedBuilder):
    """Masked-LM / next-sentence pretraining instances of local text files, made on Apache Beam."""

    VERSION = tfds.core.Version("1.0.0")
    RELEASE_NOTES = {"1.0.0": "The original create_pretraining_data records, per file."}
    MANUAL_DOWNLOAD_INSTRUCTIONS = (
        "Put vocab.txt (the WordPiece vocabulary) and the corpus' text files in manual_dir: one sentence per "
        "line, a blank line between documents.")
    # The original's two phases (128 tokens, 20 predictions; 512, 80), each with per-WordPiece or whole-word
    # masking. Records always hold next_sentence_labels; run_pretraining --next_sentence=false ignores them.
    BUILDER_CONFIGS = [
        _predefined("seq128", "max_seq_length 128, 20 predictions", max_seq_length=128, max_predictions_per_seq=20),
        _predefined("seq512", "max_seq_length 512, 80 predictions", max_seq_length=512, max_predictions_per_seq=80),
        _predefined("seq128_wwm", "seq128, whole-word masking", max_seq_length=128, max_predictions_per_seq=20,
                    do_whole_word_mask=True),
        _predefined("seq512_wwm", "seq512, whole-word masking", max_seq_length=512, max_predictions_per_seq=80,
                    do_whole_word_mask=True),
    ]

    def _info(self) -> tfds.core.DatasetInfo:
        data = self.builder_config.data
        seq, predictions = (data.max_seq_length,), (data.max_predictions_per_seq,)
        ints = {name: tfds.features.Tensor(shape=shape, dtype=np.int64) for name, shape in (
            ("input_ids", seq), ("input_mask", seq), ("segment_ids", seq), ("masked_lm_positions", predictions),
            ("masked_lm_ids", predictions), ("next_sentence_labels", (1,)))}
        weights = tfds.features.Tensor(shape=predictions, dtype=np.float32)
        # disable_shuffling: the records keep per-file mode's order (the algorithm already shuffled them).
        return tfds.core.DatasetInfo(builder=self, features=tfds.features.FeaturesDict(
            {**ints, "masked_lm_weights": weights}), disable_shuffling=True)

    def _split_generators(self, dl_manager):
        where = f"{self.name}/{self.builder_config.name}"
        try:
            folder = dl_manager.manual_dir
        except AssertionError as error:  # TFDS's own: no manual_dir given, or missing or empty
            raise ValueError(f"{where}: {str(error).splitlines()[0]}") from None
        vocab = folder / VOCAB
        if not vocab.exists():
            raise ValueError(f"{where}: no {VOCAB} in manual_dir {folder}")
        files = sorted(str(path) for path in folder.iterdir()
                       if path.name != VOCAB and not path.name.startswith(".") and path.is_file())
        if not files:
            raise ValueError(f"{where}: no text files beside {VOCAB} in manual_dir {folder}")
        tokenizer = functools.partial(tokenization.FullTokenizer, os.fspath(vocab), self.builder_config.do_lower_case)
        return {"train": self._generate_examples(beam_lib.file_tasks(files, self.builder_config.data), tokenizer)}

    def _generate_examples(self, tasks, tokenizer):
        beam = tfds.core.lazy_imports.apache_beam
        return beam.Create(tasks) | beam.Reshuffle() | beam.ParDo(beam_lib.FileExamples(tokenizer))


def build(data_dir, manual_dir, config, runner="DirectRunner", options=()):
    """Prepares bert_pretraining/<config> in `data_dir` from `manual_dir` on a Beam runner; returns the
    builder. Nothing is downloaded."""
    builder = BertPretraining(config=config, data_dir=data_dir)
    download = tfds.download.DownloadConfig(manual_dir=manual_dir,
                                            beam_options=beam_lib.pipeline_options(runner, options))
    try:
        builder.download_and_prepare(download_config=download)
    except BaseException:
        # TFDS removes its incomplete folder but leaves the config's folder: an empty folder that looks like data
        with contextlib.suppress(OSError):
            os.rmdir(os.path.dirname(os.fspath(builder.data_dir)))
        raise
    return builder
