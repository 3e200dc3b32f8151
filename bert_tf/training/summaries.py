"""Progress of a training run: TensorBoard scalars and durations."""

from __future__ import annotations

import numpy as np
import tensorflow as tf
from tensorflow.core.framework import summary_pb2


def write_scalars(writer, step, values):
    """TensorBoard scalars, written with the raw summary op: tf.summary.scalar needs the tensorboard package,
    which TensorFlow no longer installs; the records are the same (plugin "scalars", a float32 tensor)."""
    metadata = summary_pb2.SummaryMetadata(
        plugin_data=summary_pb2.SummaryMetadata.PluginData(plugin_name="scalars")).SerializeToString()
    with writer.as_default(step=step):
        for key, value in values.items():
            tf.summary.write(key, tf.constant(value, tf.float32), metadata=metadata)
    writer.flush()


def duration(seconds):
    if not np.isfinite(seconds):
        return "?"
    seconds = int(seconds)
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"
