"""Checkpoint folders on disk: original TF1, Hugging Face (safetensors) and Keras, with config and vocab.

Folder layouts (what `load` reads and `save` writes):
  tf1:   bert_model.ckpt.{index,data-00000-of-00001} + bert_config.json + vocab.txt (released zips)
  hf:    model.safetensors + config.json + vocab.txt
  keras: model.keras (the model build_model makes for the weights) + bert_config.json + vocab.txt
"""

from __future__ import annotations

import json
import os
import re

import numpy as np

from bert_tf import checkpoints, files, model_types
from bert_tf.config import BertConfig
from bert_tf.finetuning_data import uses_wordpiece
from bert_tf.model_types import hf_activation, to_hf_activation

FORMATS = ("tf1", "hf", "keras")
TF1_CHECKPOINT_NAME = "bert_model.ckpt"
WEIGHTS_FILES = {"tf1": TF1_CHECKPOINT_NAME + ".index", "hf": "model.safetensors", "keras": "model.keras"}

# Optimizer slots and counters that training checkpoints carry; never model weights.
_TF1_SKIP = re.compile(r"(^global_step$|/adam_[mv]$|AdamWeightDecayOptimizer)")
_HF_KEYS = ("vocab_size", "hidden_size", "num_hidden_layers", "num_attention_heads", "intermediate_size",
            "hidden_dropout_prob", "attention_probs_dropout_prob", "max_position_embeddings", "type_vocab_size",
            "initializer_range", "pruned_heads")


# ----------------------------------------------------------------------------------------------- configs


def config_from_hf(values: dict, source: str = "config.json") -> BertConfig:
    """HF config JSON -> BertConfig (or a cousin's config, by its `model_type`), translating the activation name
    and refusing what we cannot honour."""
    if values.get("model_type", "bert") != "bert":
        return model_types.cousin_from_hf(values, source)
    act = hf_activation(values.get("hidden_act", "gelu"), source)
    if values.get("layer_norm_eps", 1e-12) != 1e-12:
        raise ValueError(f"{source}: layer_norm_eps {values['layer_norm_eps']} != 1e-12 (the original's epsilon)")
    if values.get("position_embedding_type", "absolute") != "absolute":
        raise ValueError(f"{source}: position_embedding_type {values['position_embedding_type']!r} "
                         "is not the original's absolute positions")
    return BertConfig.from_dict({**{k: values[k] for k in _HF_KEYS if k in values},
                                 "hidden_act": act}, source=source)


# Keyed by checkpoints.heads_of (HEAD_TABLES order).
HF_ARCHITECTURES = {(): "BertModel", ("masked_lm", "next_sentence"): "BertForPreTraining",
                    ("masked_lm",): "BertForMaskedLM", ("next_sentence",): "BertForNextSentencePrediction",
                    ("classifier",): "BertForSequenceClassification", ("span",): "BertForQuestionAnswering"}


def config_to_hf(config: BertConfig, heads=(), num_labels: int | None = None) -> dict:
    """BertConfig (or a cousin's) -> HF config.json values; `heads` (checkpoints.heads_of) picks the architecture."""
    if model_types.model_type_of(config) != "bert":
        return model_types.cousin_to_hf(config, heads, num_labels)
    values = {k: v for k, v in config.to_dict().items() if k != "hidden_act"}
    heads = tuple(heads)
    # A combination HF has no class for is named after its first head, as the tensors' names still are.
    architecture = HF_ARCHITECTURES.get(heads) or HF_ARCHITECTURES.get(heads[:1])
    if architecture is None:
        raise ValueError(f"heads {heads}: expected names from checkpoints.HEAD_TABLES {tuple(checkpoints.HEAD_TABLES)}")
    labels = {"id2label": {str(i): f"LABEL_{i}" for i in range(num_labels)},
              "label2id": {f"LABEL_{i}": i for i in range(num_labels)}} if num_labels else {}
    return {"architectures": [architecture], "model_type": "bert", **values, **labels,
            "hidden_act": to_hf_activation(config.hidden_act), "layer_norm_eps": 1e-12,
            "pad_token_id": 0, "position_embedding_type": "absolute"}


def _read_json(path: str) -> dict:
    if not os.path.exists(path):
        raise FileNotFoundError(f"config file not found: {path}")
    with open(path, encoding="utf-8") as f:
        return json.load(f)


# ----------------------------------------------------------------------------------------------- TF1


def read_tf1(prefix: str) -> dict[str, np.ndarray]:
    """Reads an original TF1 checkpoint (`.../bert_model.ckpt` prefix), dropping optimizer slots and counters."""
    import tensorflow as tf

    if not os.path.exists(prefix + ".index"):
        raise FileNotFoundError(f"TF1 checkpoint not found: {prefix}.index does not exist")
    try:
        reader = tf.train.load_checkpoint(prefix)
        return {name: reader.get_tensor(name) for name in sorted(reader.get_variable_to_shape_map())
                if not _TF1_SKIP.search(name)}
    except (tf.errors.OpError, IndexError) as error:
        raise damaged(prefix, error) from None


def damaged(path: str, error: Exception) -> ValueError:
    """The error for a checkpoint file that cannot be read (truncated, overwritten, not a checkpoint): the readers'
    own (TensorFlow's "Read less bytes than requested", safetensors' header errors) do not say which file."""
    lines = str(error).strip().splitlines()
    return ValueError(f"{path}: cannot read this checkpoint: damaged or incomplete "
                      f"({lines[0] if lines else type(error).__name__})")


def write_tf1(weights: dict[str, np.ndarray], prefix: str) -> None:
    """Writes a name-based TF1 checkpoint readable by the original code and `tf.train.load_checkpoint`.

    Written under a temporary prefix in the same folder; the files are renamed (index last) when complete.
    """
    import tensorflow as tf

    names = sorted(weights)
    with files.scratch_directory(prefix) as scratch:
        temp_prefix = os.path.join(scratch, os.path.basename(prefix))
        tf.raw_ops.SaveV2(prefix=temp_prefix, tensor_names=names, shape_and_slices=[""] * len(names),
                          tensors=[tf.constant(weights[n]) for n in names])
        for suffix in (".data-00000-of-00001", ".index"):
            os.replace(temp_prefix + suffix, prefix + suffix)


def tf1_prefix(path: str) -> str:
    """A TF1 checkpoint prefix from a prefix, or a folder holding `bert_model.ckpt` (the original's name, which
    fine-tuning writes beside its training checkpoints) or exactly one other checkpoint."""
    if os.path.isdir(path):
        indexes = sorted(f[: -len(".index")] for f in os.listdir(path) if f.endswith(".index"))
        if TF1_CHECKPOINT_NAME in indexes:
            return os.path.join(path, TF1_CHECKPOINT_NAME)
        if len(indexes) != 1:
            raise FileNotFoundError(f"{path}: expected one TF1 checkpoint (*.index) in the folder, "
                                    f"found {indexes or 'none'}")
        return os.path.join(path, indexes[0])
    return path


# ----------------------------------------------------------------------------------------------- Hugging Face


def read_hf(directory: str) -> dict[str, np.ndarray]:
    """Reads `model.safetensors` from a HF checkpoint folder (no pickle loading)."""
    from safetensors import SafetensorError
    from safetensors.numpy import load_file

    path = os.path.join(directory, "model.safetensors")
    if not os.path.exists(path):
        raise FileNotFoundError(f"Hugging Face checkpoint not found: {path} does not exist "
                                "(only safetensors are read; pickled pytorch_model.bin is not loaded)")
    try:
        return load_file(path)
    except SafetensorError as error:
        raise damaged(path, error) from None


def write_hf(state: dict[str, np.ndarray], directory: str) -> None:
    from safetensors.numpy import save_file

    with files.atomic_path(os.path.join(directory, "model.safetensors")) as temp:
        save_file(state, temp, metadata={"format": "pt"})


# ----------------------------------------------------------------------------------------------- folders


def detect_format(path: str) -> str:
    if path.endswith(".keras") or os.path.exists(os.path.join(path, "model.keras")):
        return "keras"
    if os.path.exists(os.path.join(path, "model.safetensors")):
        return "hf"
    return "tf1"


def _folder(path: str) -> str:
    return path if os.path.isdir(path) else os.path.dirname(path)


def load(path: str, input_format: str | None = None, config_file: str | None = None, model_type: str | None = None):
    """Reads a checkpoint in any format. Returns (config, canonical weights, vocab.txt path or None).

    config_file overrides the config found beside the weights (`bert_config.json`, the original ALBERT's
    `albert_config.json`, or HF's `config.json`). The config's type is its `model_type` (`bert_tf.model_types`):
    the JSON's key, else `model_type`, else ALBERT for an `albert_config.json`, else BERT; a JSON of another type
    than `model_type` is refused.
    """
    fmt = input_format or detect_format(path)
    if fmt not in FORMATS:
        raise ValueError(f"unknown checkpoint format {fmt!r}; expected one of {FORMATS}")
    folder = _folder(path)
    if config_file:
        config = model_types.config_from_json_file(config_file, model_type)
    elif fmt == "hf":
        hf_config = os.path.join(folder, "config.json")
        config = config_from_hf(_read_json(hf_config), source=hf_config)
        if model_type and model_types.model_type_of(config) != model_type:
            raise ValueError(f"{hf_config}: a config of model_type {model_types.model_type_of(config)!r}, given "
                             f"as {model_type!r}")
    else:
        albert = os.path.join(folder, "albert_config.json")
        if os.path.exists(albert) and not os.path.exists(os.path.join(folder, "bert_config.json")):
            config = model_types.config_from_json_file(albert, model_type or "albert")
        else:
            config = model_types.config_from_json_file(os.path.join(folder, "bert_config.json"), model_type)
    if fmt == "tf1":
        weights = read_tf1(tf1_prefix(path))
    elif fmt == "hf":
        weights = checkpoints.hf_to_tf1(read_hf(folder), config, source=folder)
    else:
        weights = checkpoints.get_weights(load_keras_model(path))
    vocab = os.path.join(folder, "vocab.txt")
    return config, weights, (vocab if os.path.exists(vocab) else None)


def has_own_config(path: str) -> bool:
    """Whether the checkpoint at `path` has its config beside it (HF's config.json, else bert_config.json)."""
    fmt = detect_format(path)
    return fmt == "keras" or os.path.exists(os.path.join(_folder(path), "config.json" if fmt == "hf"
                                                         else "bert_config.json"))


def load_keras_model(path: str):
    import keras

    import bert_tf.modeling  # noqa: F401  (registers the bert_tf layers for deserialization)

    file = path if path.endswith(".keras") else os.path.join(path, "model.keras")
    if not os.path.exists(file):
        raise FileNotFoundError(f"Keras model file not found: {file}")
    return keras.saving.load_model(file)


def build_model(config: BertConfig, weights: dict, strict: bool = True, source: str = "checkpoint"):
    """The model the weights' heads call for: BertPretrainer (masked LM + next sentence), BertMaskedLM, a task
    kind's model (the first kind of `bert_tf.kinds` whose head they carry), or BertEncoder.

    Classifier weights could as well be a tagger's or a multiple-choice model's (same names and shapes); they are
    built as a BertClassifier, which holds exactly the same variables. Masked-LM-only weights (HF BertForMaskedLM)
    give a BertMaskedLM, and a checkpoint without a pooler a BertMaskedLM or BertEncoder without one. The
    next-sentence and classifier heads read the pooled output: they still need the pooler (strict).
    """
    from bert_tf import kinds, modeling

    heads = checkpoints.heads_of(weights, config)
    pooler = checkpoints.has_pooler(weights, config)
    task_heads = [head for head in heads if head in {kind.head for kind in kinds.KINDS.values()}]
    if "next_sentence" in heads:
        model = modeling.BertPretrainer(config)
    elif "masked_lm" in heads:
        model = modeling.BertMaskedLM(config, with_pooler=pooler)
    elif task_heads:
        head = task_heads[0]
        outputs = next(e.tf1 for e in checkpoints.head_tables(config)[head] if e.keras_transpose)  # [C, H]
        model = kinds.for_head(head).model_class(config, weights[outputs].shape[0])
    else:
        model = modeling.BertEncoder(config, with_pooler=pooler)
    checkpoints.set_weights(model, weights, strict=strict, source=source)
    return model


def save(config: BertConfig, weights: dict, output_dir: str, output_format: str,
         vocab_file: str | None = None) -> None:
    """Writes a checkpoint folder in `output_format` (see the module docstring for the layouts)."""
    if output_format not in FORMATS:
        raise ValueError(f"unknown checkpoint format {output_format!r}; expected one of {FORMATS}")
    if uses_wordpiece(model_types.model_type_of(config), vocab_file):  # the others' tokenizers check their sizes
        check_vocab(config, vocab_file)
    os.makedirs(output_dir, exist_ok=True)
    if output_format == "tf1":
        write_tf1(weights, os.path.join(output_dir, TF1_CHECKPOINT_NAME))
        config.to_json_file(os.path.join(output_dir, "bert_config.json"))
    elif output_format == "hf":
        heads = checkpoints.heads_of(weights, config)
        write_hf(checkpoints.tf1_to_hf(weights, config, prefix=None if heads else ""), output_dir)
        num_labels = weights["output_weights"].shape[0] if "classifier" in heads else None
        files.write_text(os.path.join(output_dir, "config.json"),
                         json.dumps(config_to_hf(config, heads, num_labels), indent=2, sort_keys=True) + "\n")
    else:
        with files.atomic_path(os.path.join(output_dir, "model.keras")) as temp:
            build_model(config, weights).save(temp)
        config.to_json_file(os.path.join(output_dir, "bert_config.json"))
    for source, name in tokenizer_files(config, vocab_file):
        if os.path.abspath(source) != os.path.abspath(os.path.join(output_dir, name)):
            files.copy_file(source, os.path.join(output_dir, name))


def tokenizer_files(config, vocab_file: str | None) -> list[tuple[str, str]]:
    """(file, name in a checkpoint folder) of the model type's tokenizer on `vocab_file`: WordPiece's vocab.txt;
    ALBERT's SentencePiece model as spiece.model; RoBERTa's vocab.json and the merges.txt beside it (if any)."""
    model_type = model_types.model_type_of(config)
    if vocab_file is None or uses_wordpiece(model_type, vocab_file):
        return [(vocab_file, "vocab.txt")] if vocab_file else []
    if model_type == "albert":
        return [(vocab_file, "spiece.model")]
    if model_type == "roberta":
        merges = os.path.join(os.path.dirname(vocab_file), "merges.txt")
        return [(vocab_file, "vocab.json")] + ([(merges, "merges.txt")] if os.path.exists(merges) else [])


def check_vocab(config: BertConfig, vocab_file: str | None) -> None:
    """The vocab's line count must equal config.vocab_size (ids are 0-based line numbers)."""
    if vocab_file is None:
        return
    if not os.path.exists(vocab_file):
        raise FileNotFoundError(f"vocab file not found: {vocab_file}")
    with open(vocab_file, "rb") as f:
        lines = sum(1 for _ in f)
    if lines != config.vocab_size:
        raise ValueError(f"{vocab_file} has {lines} entries but the config says vocab_size={config.vocab_size}")
