"""Writing files so that a reader never sees half of one: everything is written under a temporary name beside its
destination and renamed into place when complete (a rename within a folder is atomic); on failure the temporary
file or folder is removed. Also the original's `eval_results.txt` format. No TensorFlow here.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile

import numpy as np


@contextlib.contextmanager
def atomic_path(path: str, directory: bool = False):
    """Yields a temporary path beside `path` (a file name, or an empty folder with `directory`) for a writer
    that takes a path; it becomes `path` when the block ends without error, and is removed otherwise. An existing
    folder at `path` is replaced only once the new one is complete."""
    parent, name = os.path.split(os.path.abspath(path))
    os.makedirs(parent, exist_ok=True)
    # Hidden, and ending in the destination's name: writers that check a file's extension accept it.
    if directory:
        temp = tempfile.mkdtemp(dir=parent, prefix=".tmp-", suffix=f".{name}")
    else:
        handle, temp = tempfile.mkstemp(dir=parent, prefix=".tmp-", suffix=f".{name}")
        os.close(handle)
    try:
        yield temp
        if directory and os.path.isdir(path):
            old = tempfile.mkdtemp(dir=parent, prefix=".old-", suffix=f".{name}")
            os.replace(path, os.path.join(old, name))
            os.replace(temp, path)
            shutil.rmtree(old)
        else:
            os.replace(temp, path)
    except BaseException:
        if os.path.isdir(temp):
            shutil.rmtree(temp, ignore_errors=True)
        elif os.path.exists(temp):
            os.unlink(temp)
        raise


@contextlib.contextmanager
def scratch_directory(path: str):
    """A temporary folder beside `path`, removed when the block ends: for writers that make several files to be
    renamed into place one by one."""
    parent, name = os.path.split(os.path.abspath(path))
    os.makedirs(parent, exist_ok=True)
    temp = tempfile.mkdtemp(dir=parent, prefix=".tmp-", suffix=f".{name}")
    try:
        yield temp
    finally:
        shutil.rmtree(temp, ignore_errors=True)


@contextlib.contextmanager
def atomic_file(path: str, mode: str = "w"):
    """An open file ("w": UTF-8 text with "\\n" line ends, "wb": bytes) that becomes `path` when the block ends
    without error."""
    with atomic_path(path) as temp:
        text = "b" not in mode
        with open(temp, mode, encoding="utf-8" if text else None, newline="\n" if text else None) as f:
            yield f


def write_text(path: str, text: str) -> str:
    """Writes `text` to `path` atomically; returns the path."""
    with atomic_file(path) as f:
        f.write(text)
    return path


def copy_file(source: str, path: str) -> None:
    with atomic_path(path) as temp:
        shutil.copyfile(source, temp)


def format_eval_results(results: dict) -> str:
    """The original's `eval_results.txt`: "key = value" lines sorted by key; integers as they are, other numbers
    as float32, as numpy prints them (the Estimator's metrics were float32)."""
    def text(value):
        return str(value) if isinstance(value, (int, np.integer)) else str(np.float32(value))

    return "".join(f"{key} = {text(results[key])}\n" for key in sorted(results))


def write_eval_results(path: str, results: dict) -> str:
    return write_text(path, format_eval_results(results))
