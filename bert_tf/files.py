"""Writing files so that a reader never sees half of one: everything is written under a temporary name beside its
destination and renamed into place when complete (a rename within a folder is atomic); on failure the temporary
file or folder is removed, and one left by a killed process is removed when its destination is next written.
What is written gets the permissions a plain open() or mkdir() gives (the umask's), not the private ones of
temporary files. Also the original's `eval_results.txt` format, and where a file stops being UTF-8. No TensorFlow
here.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import tempfile

import numpy as np


def _temporary(parent, name, directory, kind="tmp"):
    """A new hidden temporary file or folder in `parent`: `.<kind>-<pid>-<random>.<name>` (ending in the
    destination's name, so that writers that check an extension accept it; the pid tells a live writer's
    temporary from one a killed process left)."""
    prefix, suffix = f".{kind}-{os.getpid()}-", f".{name}"
    if directory:
        return tempfile.mkdtemp(dir=parent, prefix=prefix, suffix=suffix)
    handle, temp = tempfile.mkstemp(dir=parent, prefix=prefix, suffix=suffix)
    os.close(handle)
    return temp


def _remove(path):
    if os.path.isdir(path) and not os.path.islink(path):
        shutil.rmtree(path, ignore_errors=True)
    elif os.path.lexists(path):
        os.unlink(path)


def _process_alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True


def remove_stale_temporaries(parent, name):
    """Removes the temporaries of destination `name` in `parent` that processes no longer running left behind
    (a kill or a crash mid-write)."""
    pattern = re.compile(rf"\.(?:tmp|old)-(\d+)-.*\.{re.escape(name)}")
    for entry in os.listdir(parent):
        match = pattern.fullmatch(entry)
        if match and int(match.group(1)) != os.getpid() and not _process_alive(int(match.group(1))):
            _remove(os.path.join(parent, entry))


def _umask():
    """The process's umask, read without changing it where Linux shows it (/proc/self/status); elsewhere set to a
    stricter value for an instant and restored, so that no other thread's file is ever made more open."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    umask = os.umask(0o077)
    os.umask(umask)
    return umask


def _public(path, directory):
    """Gives `path` the mode open() or mkdir() would have: mkstemp and mkdtemp make 0600 and 0700, which a server
    running as another user cannot read."""
    os.chmod(path, (0o777 if directory else 0o666) & ~_umask())


def _parent_and_name(path):
    parent, name = os.path.split(os.path.abspath(path))
    os.makedirs(parent, exist_ok=True)
    remove_stale_temporaries(parent, name)
    return parent, name


@contextlib.contextmanager
def atomic_path(path: str, directory: bool = False):
    """Yields a temporary path beside `path` (a file name, or an empty folder with `directory`) for a writer
    that takes a path; it becomes `path` when the block ends without error, and is removed otherwise. An existing
    folder at `path` is replaced only once the new one is complete."""
    parent, name = _parent_and_name(path)
    temp = _temporary(parent, name, directory)
    try:
        yield temp
        _public(temp, directory)
        if directory and os.path.isdir(path):
            old = _temporary(parent, name, True, kind="old")
            os.replace(path, os.path.join(old, name))
            os.replace(temp, path)
            shutil.rmtree(old)
        else:
            os.replace(temp, path)
    except BaseException:
        _remove(temp)
        raise


@contextlib.contextmanager
def scratch_directory(path: str):
    """A temporary folder beside `path`, removed when the block ends: for writers that make several files to be
    renamed into place one by one."""
    parent, name = _parent_and_name(path)
    temp = _temporary(parent, name, True)
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


def utf8_error(path: str, data: bytes | None = None) -> str | None:
    """Where the file `path` (or `data`, its bytes) stops being UTF-8: "path:line: not valid UTF-8 (reason: byte
    0x.. at column c)"; None when it is UTF-8 throughout. For readers to name the line of a UnicodeDecodeError."""
    if data is None:
        with open(path, "rb") as f:
            data = f.read()
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as err:
        line_start = data.rfind(b"\n", 0, err.start) + 1
        line = data.count(b"\n", 0, err.start) + 1
        return (f"{path}:{line}: not valid UTF-8 ({err.reason}: byte 0x{data[err.start]:02x} at column "
                f"{err.start - line_start + 1})")
    return None
