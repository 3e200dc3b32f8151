"""bert_tf: BERT in TensorFlow 2 / Keras 3, numerically the original google-research/bert.

Importing the package does nothing heavy: TensorFlow is imported only by the modules that need it.
"""

__version__ = "0.1.0"
