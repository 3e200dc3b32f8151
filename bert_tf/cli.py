"""What the scripts share: their common flags (the original names and defaults), defined on request, the steps
that every fine-tuning script takes with them, the checks of output paths made before any work, and `run`: a
script's errors as one line, with TensorFlow's start-up noise kept off the terminal.

Each script calls the `define_*` functions it needs at its top level; nothing is defined on import.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import sys

from absl import app, flags

from bert_tf import files

VERBOSE_HINT = "(--verbosity=1 for the traceback)"


def run(main, tensorflow=True):
    """`absl.app.run(main)` for a script. An error ends it with one line on stderr, `<script>: error: <what>`,
    and status 1; absl's `--verbosity=1` (DEBUG) shows the traceback instead, and TensorFlow's start-up lines.
    With `tensorflow`, TensorFlow is loaded first with its start-up lines hidden (`quiet_tensorflow_start`)."""
    def wrapped(argv):
        if tensorflow:
            quiet_tensorflow_start()
        if not _verbose():  # TensorFlow's own Python INFO lines (checkpoint sharding, ...) are not progress
            logging.getLogger("tensorflow").setLevel(logging.WARNING)
        try:
            return main(argv)
        except Exception as error:
            if _verbose():
                raise
            print(f"{os.path.basename(sys.argv[0])}: error: {one_line(error)} {VERBOSE_HINT}", file=sys.stderr)
            sys.exit(1)

    app.run(wrapped)


def one_line(error: BaseException) -> str:
    """The line of an error's message that says what is wrong, with the error's type unless it is one that bert_tf
    raises for bad input. For TensorFlow's errors: the message of a failed assertion (bert_tf's checks of records
    and requests), else the first line after "Graph execution error:", without "{{function_node ...}}"."""
    text = str(getattr(error, "message", None) or error)
    lines = [re.sub(r"^(\{\{function_node [^}]*\}\}\s*)+", "", line).strip() for line in text.splitlines()]
    lines = [line for line in lines if line and line != "Graph execution error:"]
    assertion = next((line for line in lines if "assertion failed: [" in line), None)
    if assertion:
        lines = [assertion.split("assertion failed: [", 1)[1].split("]", 1)[0]]
    line = lines[0] if lines else ""
    plain = (ValueError, OSError, FloatingPointError) + _tensorflow_errors()
    return line if isinstance(error, plain) and line else f"{type(error).__name__}: {line}".rstrip(": ")


def _tensorflow_errors():
    module = sys.modules.get("tensorflow")
    return (module.errors.OpError,) if module is not None else ()


def _verbose():
    """Whether absl's --verbosity (-v) asks for DEBUG; before the flags are parsed, whether it is given at all."""
    if flags.FLAGS.is_parsed():
        return flags.FLAGS.verbosity >= 1
    return any(a in ("-v", "--v", "--verbosity") or a.startswith(("-v=", "--v=", "--verbosity=")) for a in sys.argv)


def quiet_tensorflow_start():
    """Loads TensorFlow (once; at the first of the scripts' steps that needs it, flag definitions included) with
    stderr (descriptor 2) sent to /dev/null: its oneDNN and CUDA-probe lines are written by C++ logging before
    TF_CPP_MIN_LOG_LEVEL is read, so no setting hides them (tensorflow#100442). Later C++ logs below ERROR are
    hidden by TF_CPP_MIN_LOG_LEVEL=2 unless the environment sets it. With --verbosity, nothing is hidden."""
    if "tensorflow" in sys.modules or _verbose():
        return
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    sys.stderr.flush()
    saved, null = os.dup(2), os.open(os.devnull, os.O_WRONLY)
    os.dup2(null, 2)
    try:
        import tensorflow as tf

        tf.config.list_physical_devices()  # the device probe logs now, not at the first op
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(null)


def check_output_folder(flag: str, path: str | None) -> None:
    """ValueError naming --flag when `path` is an existing file (asked before any work, not after training)."""
    if path and os.path.exists(path) and not os.path.isdir(path):
        raise ValueError(f"--{flag}={path} is a file, not a folder")


def check_output_file(flag: str, path: str | None, inputs=()) -> None:
    """ValueError naming --flag when `path` is an existing folder (which an output file would not replace) or
    one of the `inputs` (which it would)."""
    if path and os.path.isdir(path):
        raise ValueError(f"--{flag}={path} is a folder: give the name of the file to write")
    if path and any(os.path.exists(i) and os.path.samefile(path, i) for i in inputs if os.path.exists(path)):
        raise ValueError(f"--{flag}={path} is an input file: writing it would destroy the input")


def define_model_flags(max_seq_length=128):
    """The checkpoint, its config and vocabulary, and the packed length."""
    flags.DEFINE_string("bert_config_file", None, "The config json file of the pre-trained BERT model (scripts that "
                        "read a checkpoint default to the one beside it).")
    flags.DEFINE_string("vocab_file", None, "The vocabulary file the BERT model was trained on (likewise).")
    flags.DEFINE_string("init_checkpoint", None, "Checkpoint: original TF1 prefix, Hugging Face or bert_tf folder.")
    flags.DEFINE_bool("do_lower_case", True, "Lower-case the input (True for uncased models).")
    flags.DEFINE_integer("max_seq_length", max_seq_length, "The maximum total input sequence length after WordPiece.")


def define_model_type_flags():
    """--model_type (default: the config's own) and RoBERTa's --merges_file: the family, its body and tokenizer."""
    from bert_tf.model_types import MODEL_TYPES

    flags.DEFINE_enum("model_type", None, list(MODEL_TYPES), "The model family (default: the model_type of "
                      "--bert_config_file, BERT without one); its tokenizer reads --vocab_file: WordPiece vocab.txt "
                      "(bert, distilbert), a SentencePiece .model (albert), vocab.json (roberta).")
    flags.DEFINE_string("merges_file", None, "roberta: the merges.txt of --vocab_file (default: beside it).")


def model_config(values):
    """The config of --bert_config_file as --model_type (its own type by default; a config of another type than
    --model_type is refused, naming the file)."""
    from bert_tf import model_types

    return model_types.config_from_json_file(values.bert_config_file, getattr(values, "model_type", None))


def model_tokenizer(values, config):
    """The tokenizer of `config`'s model type on --vocab_file (and --merges_file), sized as the config says
    (`finetuning_data.tokenizer_for`)."""
    from bert_tf import model_types
    from bert_tf.finetuning_data import tokenizer_for

    model_type = model_types.model_type_of(config)
    if getattr(values, "merges_file", None) and model_type != "roberta":
        raise ValueError(f"--merges_file is RoBERTa's (byte-level BPE); the model is {model_type}")
    return tokenizer_for(model_type, values.vocab_file, values.do_lower_case, getattr(values, "merges_file", None),
                         config.vocab_size)


def define_tfds_flags(what):
    """--tfds_name and --tfds_data_dir: `what` is read from a prepared TensorFlow Datasets dataset."""
    flags.DEFINE_string("tfds_name", None, f"Read {what} from this TensorFlow Datasets dataset (prepared in "
                        "--tfds_data_dir; nothing is downloaded).")
    flags.DEFINE_string("tfds_data_dir", None, "The TFDS data_dir of --tfds_name (default: TFDS's own, "
                        "~/tensorflow_datasets).")


def task_reader(values, task_name=None):
    """(task, read(split) -> examples): from --tfds_name when given (the task is `task_name`, else the one the
    catalog name is of; the dataset must fit it), else from the task's files in --data_dir."""
    from bert_tf import tasks
    from bert_tf.tasks import tfds

    if values.tfds_name:
        task = tasks.get(task_name or tfds.task_name(values.tfds_name))
        return task, lambda split: tfds.read(task, values.tfds_name, split, values.tfds_data_dir)
    if not task_name or not getattr(values, "data_dir", True):
        raise ValueError("give --tfds_name, or --task_name and --data_dir")
    task = tasks.get(task_name)
    return task, lambda split: task.read(values.data_dir, split)


def define_finetuning_flags():
    """run_classifier's and run_squad's training flags (and bert_tf's seed and export)."""
    flags.DEFINE_string("output_dir", None, "Where the fine-tuned checkpoint and results are written.")
    flags.DEFINE_bool("do_train", False, "Whether to run training.")
    flags.DEFINE_bool("do_predict", False, "Whether to run the model in inference mode on the prediction set.")
    flags.DEFINE_integer("train_batch_size", 32, "Total batch size for training.")
    flags.DEFINE_integer("predict_batch_size", 8, "Total batch size for predict.")
    flags.DEFINE_float("learning_rate", 5e-5, "The initial learning rate for Adam.")
    flags.DEFINE_float("num_train_epochs", 3.0, "Total number of training epochs to perform.")
    flags.DEFINE_float("warmup_proportion", 0.1, "Proportion of training for linear learning rate warmup.")
    flags.DEFINE_integer("save_checkpoints_steps", 1000, "How often to save the training checkpoint (resumable).")
    flags.DEFINE_integer("iterations_per_loop", 1000, "Steps per call of the compiled training loop.")
    flags.DEFINE_integer("seed", None, "Seed of the head's initial weights, dropout and input order.")
    define_resume_flag()
    from bert_tf import export_flags  # imported where used: the model server reads this module's one-line errors

    export_flags.define_export_dir_flags()
    define_distillation_flags()
    define_tpu_flags()
    define_runtime_flags()


def define_resume_flag():
    flags.DEFINE_bool("resume_changed_run", False, "Continue the run in output_dir even though it was made with "
                      "other data or settings (otherwise refused).")


def define_distillation_flags(pretraining=False):
    """A teacher to distill from (`bert_tf.distillation`), how its losses weigh, and the layers of
    --init_checkpoint a student starts from."""
    flags.DEFINE_string("teacher_checkpoint", None, "Train the model as a student of this frozen teacher (any "
                        "checkpoint format; " + ("with a masked-LM head): DistilBERT's loss." if pretraining else
                                                 "fine-tuned on the task): soft targets of its logits."))
    flags.DEFINE_float("distill_temperature", 2.0, "Temperature of the teacher's and student's distributions.")
    if pretraining:
        flags.DEFINE_float("distill_alpha_ce", 5.0, "Weight of the soft masked-LM targets.")
        flags.DEFINE_float("distill_alpha_mlm", 2.0, "Weight of the masked LM on the real tokens.")
        flags.DEFINE_float("distill_alpha_cos", 1.0, "Weight of the cosine loss of the last hidden states.")
    else:
        flags.DEFINE_float("distill_alpha", 0.5, "Weight of the soft targets; the labels' loss weighs 1 - alpha.")
    flags.DEFINE_bool("distill_hidden", False, "Add TinyBERT's hidden-state (and embedding) MSE.")
    flags.DEFINE_bool("distill_attention", False, "Add TinyBERT's attention-score MSE.")
    flags.DEFINE_list("distill_layer_map", [], "student:teacher layer pairs for --distill_hidden/attention, 0 "
                      "being the embeddings, e.g. 0:0,1:4,2:8,3:12 (default: the uniform map).")
    flags.DEFINE_list("init_layers", [], "The model's layers are these layers of --init_checkpoint, in order, "
                      "e.g. 0,2,4 (a student initialised from one teacher layer in k).")


def distillation_options(values):
    """(teacher checkpoint, DistillationOptions) of the parsed distillation flags; (None, None) without a teacher.
    Flags that weigh a teacher's losses are refused without one."""
    from bert_tf.distillation import DistillationOptions

    tuning = [n for n in flags.FLAGS if n.startswith("distill_") and flags.FLAGS[n].present]
    if not values.teacher_checkpoint:
        if tuning:
            raise ValueError(f"--{tuning[0]} needs --teacher_checkpoint")
        return None, None
    pairs = []
    for pair in values.distill_layer_map:
        student, _, teacher = pair.partition(":")
        if not (student.strip().isdigit() and teacher.strip().isdigit()):
            raise ValueError(f"--distill_layer_map: {pair!r} is not student:teacher (two layer numbers)")
        pairs.append((int(student), int(teacher)))
    weights = {n: getattr(values, f"distill_{n}") for n in ("alpha", "alpha_ce", "alpha_mlm", "alpha_cos")
               if hasattr(values, f"distill_{n}")}
    return values.teacher_checkpoint, DistillationOptions(
        temperature=values.distill_temperature, hidden=values.distill_hidden, attention=values.distill_attention,
        layer_map=tuple(pairs), **weights)


def init_layers(values):
    """--init_layers as numbers (None when not given)."""
    if not values.init_layers:
        return None
    if not all(layer.strip().isdigit() for layer in values.init_layers):
        raise ValueError(f"--init_layers={','.join(values.init_layers)}: give layer numbers, e.g. 0,2,4")
    if not values.init_checkpoint:
        raise ValueError("--init_layers needs --init_checkpoint")
    return [int(layer) for layer in values.init_layers]


def define_tpu_flags():
    """The original scripts' TPU flags; `use_tpu`/`tpu_name` select TPUStrategy."""
    flags.DEFINE_bool("use_tpu", False, "Whether to use TPU (same as --strategy=tpu).")
    flags.DEFINE_string("tpu_name", None, "The Cloud TPU to use for training.")
    flags.DEFINE_string("tpu_zone", None, "GCE zone where the Cloud TPU is located in.")
    flags.DEFINE_string("gcp_project", None, "Project name for the Cloud TPU-enabled project.")
    flags.DEFINE_string("master", None, "TPU address (used when tpu_name is not given).")
    flags.DEFINE_integer("num_tpu_cores", 8, "Accepted for compatibility; TPUStrategy uses every core it finds.")


def define_runtime_flags():
    """Strategy, optimizer, precision, XLA, fast dropout and the fused optimizer: what users of tf-models expect
    beyond the original flags."""
    quiet_tensorflow_start()
    from bert_tf import training

    flags.DEFINE_enum("strategy", "default", training.STRATEGIES, "tf.distribute strategy.")
    flags.DEFINE_enum("optimizer", "adamw", ["adamw", "lamb"], "The original AdamWeightDecay, or LAMB.")
    flags.DEFINE_enum("precision", "float32", list(training.PRECISIONS), "Compute precision (mixed for 16-bit).")
    flags.DEFINE_bool("use_xla", False, "Compile the forward and backward pass with XLA.")
    flags.DEFINE_bool("fast_dropout", False, "Dropout masks from 16 random bits per element (half the random "
                      "numbers; the keep probability rounded to a multiple of 2^-16) instead of a float32 uniform.")
    flags.DEFINE_bool("fused_optimizer", False, "adamw's update as TensorFlow's fused Adam kernel (fewer passes; "
                      "the same update within 1e-5 of each step, not bit for bit).")


def create_strategy(values):
    """The strategy the parsed flags ask for (call first: multi-worker setup must precede other TF work)."""
    from bert_tf import training

    return training.create_strategy("tpu" if values.use_tpu else values.strategy, values.tpu_name, values.tpu_zone,
                                    values.gcp_project, values.master)


def write_eval_results(output_dir, results):
    """The original's eval_results.txt and, with every digit, eval_results.json; logged as well."""
    files.write_eval_results(os.path.join(output_dir, "eval_results.txt"), results)
    files.write_text(os.path.join(output_dir, "eval_results.json"), json.dumps(results, indent=2) + "\n")
    logging.info("***** Eval results *****\n%s", files.format_eval_results(results))


def output_dir_lock(values, strategy):
    """The lock of --output_dir (`bert_tf.training.output_dir.hold`): one run at a time writes there. Held by the
    chief: the other workers of a multi-worker run write only their own subfolder."""
    from bert_tf.training import output_dir

    chief = strategy.extended.should_checkpoint
    return output_dir.hold(values.output_dir) if chief else contextlib.nullcontext()


def fine_tuning(values, task):
    """The checked flags' FineTuning of `task` and its tokenizer: the options are valid and the output paths
    usable (before anything else), the config fits max_seq_length, the casing fits the checkpoint's name, the
    strategy is made first and the seed set."""
    from bert_tf import tokenization
    from bert_tf.finetuning import FineTuning, FineTuningOptions

    options = FineTuningOptions(
        output_dir=values.output_dir, max_seq_length=values.max_seq_length,
        train_batch_size=values.train_batch_size, eval_batch_size=getattr(values, "eval_batch_size", 8),
        predict_batch_size=values.predict_batch_size, learning_rate=values.learning_rate,
        num_train_epochs=values.num_train_epochs, warmup_proportion=values.warmup_proportion,
        iterations_per_loop=values.iterations_per_loop, optimizer=values.optimizer, precision=values.precision,
        use_xla=values.use_xla, fast_dropout=values.fast_dropout, fused_optimizer=values.fused_optimizer,
        seed=values.seed, save_checkpoints_steps=values.save_checkpoints_steps,
        resume_changed_run=values.resume_changed_run)
    check_output_folder("output_dir", values.output_dir)
    from bert_tf import export_flags

    export_flags.check_export_dir(values, task)
    if values.export_dir:
        export_flags.export_limits(values)
    config = model_config(values)
    tokenizer = model_tokenizer(values, config)
    positions = config.max_position_embeddings - getattr(config, "position_offset", 0)  # RoBERTa's start at 2
    if values.max_seq_length > positions:
        raise ValueError(f"Cannot use sequence length {values.max_seq_length} because the BERT model was only "
                         f"trained up to sequence length {positions}")
    if isinstance(tokenizer, tokenization.FullTokenizer):  # the released BERT checkpoints' names say their casing
        tokenization.validate_case_matches_checkpoint(values.do_lower_case, values.init_checkpoint)
    teacher, distill = distillation_options(values)
    init_layers(values)
    strategy = create_strategy(values)
    set_seed(values.seed)
    tuner = FineTuning(task, config, options, strategy, teacher_checkpoint=teacher, distill=distill)
    return tuner, tokenizer


def set_seed(seed):
    """Seeds Python, NumPy and Keras (initial weights, dropout), unless `seed` is None."""
    if seed is not None:
        import keras

        keras.utils.set_random_seed(seed)


def train_or_restore(tuner, values, examples, features):
    """With --do_train: warm start from --init_checkpoint, train on `features` of `examples` and save; otherwise
    restore the fine-tuned weights of output_dir (or --init_checkpoint)."""
    if not values.do_train:
        tuner.restore_trained(values.init_checkpoint, values.bert_config_file)
        return
    if values.init_checkpoint:
        tuner.warm_start(values.init_checkpoint, values.bert_config_file, layers=init_layers(values))
    tuner.train(features, len(examples))
    tuner.save(vocab_file=values.vocab_file)


def load_checkpoint(values):
    """(config, canonical weights, vocab file) of --init_checkpoint, with --bert_config_file and --vocab_file
    defaulting to the files beside it; refuses a vocab that does not fit or a max_seq_length beyond the model's."""
    from bert_tf import checkpoint_files

    config, weights, vocab = checkpoint_files.load(values.init_checkpoint, config_file=values.bert_config_file)
    vocab_file = values.vocab_file or vocab
    if vocab_file is None:
        raise ValueError(f"no vocab.txt beside {values.init_checkpoint}: pass --vocab_file")
    if values.max_seq_length > config.max_position_embeddings:
        raise ValueError(f"max_seq_length {values.max_seq_length} exceeds the model's max_position_embeddings "
                         f"{config.max_position_embeddings}")
    checkpoint_files.check_vocab(config, vocab_file)
    return config, weights, vocab_file
