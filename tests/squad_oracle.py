"""Runs the ORIGINAL run_squad functions (pip `bert-tensorflow`) on SQuAD jobs; a test oracle.

  python tests/squad_oracle.py JOBS_JSON OUTPUT_JSON

Each job: {"data", "vocab", "do_lower_case", "version_2", "training", "max_seq_length", "doc_stride",
"max_query_length"} and optionally {"logits": {unique_id: [start_logits, end_logits]}, "output_dir",
"n_best_size", "max_answer_length", "null_score_diff_threshold"} to run write_predictions. Writes, per job, the
examples and features as JSON. Its own process: the original defines absl flags at import.
"""

import json
import sys
import types


def _features(feature):
    names = ("unique_id", "example_index", "doc_span_index", "tokens", "token_to_orig_map", "token_is_max_context",
             "input_ids", "input_mask", "segment_ids", "start_position", "end_position", "is_impossible")
    return {name: getattr(feature, name) for name in names}


def _examples(example):
    names = ("qas_id", "question_text", "doc_tokens", "orig_answer_text", "start_position", "end_position",
             "is_impossible")
    return {name: getattr(example, name) for name in names}


def run(job, run_squad, tokenization):
    flags = run_squad.FLAGS
    flags.version_2_with_negative = job["version_2"]
    flags.null_score_diff_threshold = job.get("null_score_diff_threshold", 0.0)
    examples = run_squad.read_squad_examples(job["data"], is_training=job["training"])
    tokenizer = tokenization.FullTokenizer(job["vocab"], do_lower_case=job["do_lower_case"])
    features = []
    run_squad.convert_examples_to_features(examples, tokenizer, job["max_seq_length"], job["doc_stride"],
                                           job["max_query_length"], job["training"], features.append)
    if "logits" in job:
        results = [run_squad.RawResult(int(uid), start, end) for uid, (start, end) in job["logits"].items()]
        out = job["output_dir"]
        run_squad.write_predictions(examples, features, results, job["n_best_size"], job["max_answer_length"],
                                    job["do_lower_case"], f"{out}/predictions.json", f"{out}/nbest_predictions.json",
                                    f"{out}/null_odds.json")
    return {"examples": [_examples(e) for e in examples], "features": [_features(f) for f in features]}


def main(jobs_file, output_file):
    contrib = types.ModuleType("tensorflow.contrib")  # bert.modeling imports contrib.layers; unused here
    contrib.layers = None
    sys.modules["tensorflow.contrib"] = contrib
    from bert import run_squad, tokenization

    run_squad.FLAGS(["squad_oracle"])
    with open(jobs_file) as f:
        jobs = json.load(f)
    with open(output_file, "w") as f:
        json.dump([run(job, run_squad, tokenization) for job in jobs], f)


if __name__ == "__main__":
    main(*sys.argv[1:])
