"""An output_dir belongs to one run: a lock against two processes training into it at once, and the run's
settings (`run_config.json`) so that a rerun with other data or flags is refused instead of silently resuming
the old run.

The lock is `fcntl.flock` on `<output_dir>/.lock`: the kernel releases it when the process ends, `kill -9`
included, so a resumed run never finds a stale lock. It is held per process and re-entrant (the scripts hold it
for their whole run, the Trainer again while it restores and trains). Where `fcntl` does not exist (Windows)
runs are not locked.
"""

from __future__ import annotations

import contextlib
import glob
import json
import logging
import os
import shutil

from bert_tf import files

RUN_CONFIG = "run_config.json"
LOCK = ".lock"
_held = {}  # real path of output_dir -> [open lock file, depth]


@contextlib.contextmanager
def hold(output_dir: str):
    """Holds output_dir's lock for the block; ValueError naming the folder (and the holder's pid) if another
    process holds it."""
    os.makedirs(output_dir, exist_ok=True)
    key = os.path.realpath(output_dir)
    if key in _held:
        _held[key][1] += 1
    else:
        _held[key] = [_lock(output_dir), 1]
    try:
        yield
    finally:
        _held[key][1] -= 1
        if not _held[key][1]:
            _held.pop(key)[0].close()  # closing releases the lock


def _lock(output_dir):
    try:
        import fcntl
    except ImportError:
        return open(os.devnull)
    handle = open(os.path.join(output_dir, LOCK), "a+")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.seek(0)
        holder = handle.read().strip() or "?"
        handle.close()
        raise ValueError(f"output_dir {output_dir} is in use by another run (pid {holder}): wait for it to end or "
                         "choose another output_dir") from None
    handle.truncate(0)
    handle.write(f"{os.getpid()}\n")
    handle.flush()
    return handle


def held(output_dir: str) -> bool:
    """Whether this process holds output_dir's lock."""
    return os.path.realpath(output_dir) in _held


def check_run_config(output_dir: str, run_config: dict, allow_changes: bool = False,
                     override_flag: str = "--resume_changed_run") -> None:
    """Records `run_config` (JSON values: what makes this run this run) in output_dir/run_config.json, first
    checking it against the one there: a difference is a ValueError listing it, unless `allow_changes`, when it
    is logged and the new settings recorded."""
    path = os.path.join(output_dir, RUN_CONFIG)
    current = json.loads(json.dumps(run_config))  # as it reads back
    if os.path.exists(path):
        with open(path, encoding="utf-8") as f:
            try:
                recorded = json.load(f)
            except json.JSONDecodeError as error:
                raise ValueError(f"{path}: not valid JSON ({error}); it records the run in {output_dir}") from None
        changes = [f"{key} {recorded.get(key, '(none)')!r} -> {current.get(key, '(none)')!r}"
                   for key in sorted(set(recorded) | set(current)) if recorded.get(key) != current.get(key)]
        if changes and not allow_changes:
            raise ValueError(f"output_dir {output_dir} holds a run made with other settings ({'; '.join(changes)}): "
                             f"choose another output_dir, or pass {override_flag} to continue that run with these "
                             "settings")
        if changes:
            logging.warning("%s: continuing the run with changed settings: %s", output_dir, "; ".join(changes))
        if not changes:
            return
    files.write_text(path, json.dumps(current, indent=2, sort_keys=True) + "\n")


def remove_checkpoint_temporaries(directory, prefix="ckpt-*"):
    """Removes what an interrupted checkpoint save leaves: TensorFlow writes `<prefix>_temp/` shards and a
    `checkpoint.tmp*` state file, removed only when the save completes. Called with output_dir's lock held (no
    other run is saving there)."""
    for path in glob.glob(os.path.join(glob.escape(directory), f"{prefix}_temp")):
        shutil.rmtree(path, ignore_errors=True)
    for path in glob.glob(os.path.join(glob.escape(directory), "checkpoint.tmp*")):
        os.unlink(path)
