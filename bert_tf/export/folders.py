"""Where a SavedModel is written, so that an export never removes what bert_tf did not write.

`--export_dir` may name a new or empty folder (the SavedModel goes there), a SavedModel an earlier bert_tf export
wrote (recognised by `assets.extra/bert_tf_export.json`; replaced once the new one is complete), or a TF Serving
model base folder, which holds numbered versions `<base>/<N>/` (the next version is written beside them; other
files there are left alone). Anything else, a file or a folder holding something else, is refused before
anything is written.
"""

from __future__ import annotations

import dataclasses
import json
import os

import bert_tf
from bert_tf import files

MARKER = os.path.join("assets.extra", "bert_tf_export.json")  # TF Serving leaves assets.extra to its writers
SAVED_MODEL_ENTRIES = {"saved_model.pb", "saved_model.pbtxt", "variables", "assets", "assets.extra", "fingerprint.pb"}


def _versions(folder, entries):
    return [int(name) for name in entries if name.isdigit() and os.path.isdir(os.path.join(folder, name))]


def export_target(export_dir: str) -> str:
    """The folder a SavedModel for `export_dir` is written to (see the module docstring); ValueError, naming the
    folder and what is in it, where writing would replace something bert_tf did not write."""
    if not os.path.exists(export_dir):
        return export_dir
    if not os.path.isdir(export_dir):
        raise ValueError(f"export_dir {export_dir} is a file, not a folder")
    entries = sorted(os.listdir(export_dir))
    if not entries or (os.path.exists(os.path.join(export_dir, MARKER)) and set(entries) <= SAVED_MODEL_ENTRIES):
        return export_dir
    versions = _versions(export_dir, entries)
    if versions:
        return os.path.join(export_dir, str(max(versions) + 1))
    shown = ", ".join(entries[:5]) + (f" and {len(entries) - 5} more" if len(entries) > 5 else "")
    raise ValueError(f"export_dir {export_dir} holds {shown}: not a SavedModel bert_tf wrote, nor a TF Serving base "
                     "folder of numbered versions; refusing to replace it (give an empty or new folder)")


def save(module, export_dir, signatures, info):
    """Saves `module` with `signatures` where `export_target` says, through a temporary sibling folder renamed into
    place when complete, with `info` (what it serves, its limits) in its marker file; returns the folder.

    Only the module's tracked variables are saved: the model's weights (an optimizer that trained the model is not
    tracked by it, so its slots stay out).
    """
    import tensorflow as tf

    target = export_target(export_dir)
    with files.atomic_path(target, directory=True) as temp:
        tf.saved_model.save(module, temp, signatures=signatures)
        files.write_text(os.path.join(temp, MARKER), json.dumps(
            {"bert_tf_version": bert_tf.__version__, **info}, indent=2, sort_keys=True) + "\n")
    return target


def save_export(module, export_dir, signatures, kind, limits):
    """`save` with what the SavedModel serves (its `kind` and signatures) and its request `limits`
    (`bert_tf.export.requests.Limits`) in the marker file; returns the folder."""
    return save(module, export_dir, signatures, {"kind": kind, "signatures": sorted(signatures),
                                                 "limits": dataclasses.asdict(limits)})
