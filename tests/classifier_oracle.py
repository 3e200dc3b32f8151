"""Runs the ORIGINAL run_classifier processors and convert_single_example (pip `bert-tensorflow`); a test oracle.

  python tests/classifier_oracle.py JOBS_JSON OUTPUT_JSON

Each job: {"task": cola|mnli|mrpc|xnli, "data_dir", "vocab", "max_seq_length", "splits": [train|dev|test],
"padding": n}. Writes, per job and split, the examples and their features (plus n padding features) as JSON.
Its own process: the original defines absl flags at import.
"""

import json
import sys
import types


def run(job, run_classifier, tokenization):
    processor = {"cola": run_classifier.ColaProcessor, "mnli": run_classifier.MnliProcessor,
                 "mrpc": run_classifier.MrpcProcessor, "xnli": run_classifier.XnliProcessor}[job["task"]]()
    tokenizer = tokenization.FullTokenizer(job["vocab"], do_lower_case=True)
    labels = processor.get_labels()
    out = {"labels": labels}
    for split in job["splits"]:
        examples = getattr(processor, f"get_{split}_examples")(job["data_dir"])
        examples += [run_classifier.PaddingInputExample()] * job.get("padding", 0)
        features = [run_classifier.convert_single_example(i, e, labels, job["max_seq_length"], tokenizer)
                    for i, e in enumerate(examples)]
        out[split] = {
            "examples": [[e.guid, e.text_a, e.text_b, e.label] for e in examples if hasattr(e, "guid")],
            "features": [[f.input_ids, f.input_mask, f.segment_ids, f.label_id, f.is_real_example] for f in features],
        }
    return out


def main(jobs_file, output_file):
    contrib = types.ModuleType("tensorflow.contrib")  # bert.modeling imports contrib.layers; unused here
    contrib.layers = None
    sys.modules["tensorflow.contrib"] = contrib
    from bert import run_classifier, tokenization

    run_classifier.FLAGS(["classifier_oracle"])  # defaults; the tokenizer reads --preserve_unused_tokens (False)
    with open(jobs_file) as f:
        jobs = json.load(f)
    with open(output_file, "w") as f:
        json.dump([run(job, run_classifier, tokenization) for job in jobs], f)


if __name__ == "__main__":
    main(*sys.argv[1:])
