"""bert_tf: BERT in TensorFlow 2 / Keras 3, numerically the original google-research/bert.

Importing the package does nothing heavy: TensorFlow is imported only by the modules that need it.

It does set one default before TensorFlow loads: TensorFlow's oneDNN kernels (`TF_ENABLE_ONEDNN_OPTS=1`).
TensorFlow turns them on by itself only on some CPUs; on the others (this project's AMD machines) the
pretraining step runs about 30% faster with them (`bench/bench_pretraining.py` measures both). An explicit
`TF_ENABLE_ONEDNN_OPTS` in the environment wins (`=0`: TensorFlow's own Eigen kernels), and the setting has no
effect if TensorFlow was imported before bert_tf. Results differ from Eigen's by float rounding only.
"""

import os

os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")

__version__ = "0.1.0"
