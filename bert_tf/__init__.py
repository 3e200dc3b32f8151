"""bert_tf: BERT in TensorFlow 2 / Keras 3, numerically the original google-research/bert.

Importing the package does nothing heavy and changes nothing: TensorFlow is imported only by the modules that
need it, and no environment variable is set. (The command-line scripts turn TensorFlow's oneDNN kernels on before
TensorFlow loads, unless the environment says otherwise; see the README.)
"""

__version__ = "0.1.0"
