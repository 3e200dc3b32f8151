"""Test-session settings: quiet TensorFlow logs, never reach for a model hub, the same random state for every
test whatever ran before it in the process (pytest-xdist hands tests out in a different order each run)."""

import os
import sys

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, os.path.dirname(__file__))  # tests import their shared `helpers` module


@pytest.fixture
def config():
    """The tiny BertConfig of helpers.tiny_config()."""
    from helpers import tiny_config

    return tiny_config()


@pytest.fixture(autouse=True)
def _fresh_random_state():
    """Seeds Python, NumPy and Keras (fresh layers' initial weights) before each test that has loaded Keras.

    Without it a model built in a test starts from whatever the global Keras seed generator reached in earlier
    tests, so its weights, and float rounding compared at tight tolerances, depended on the test order.
    """
    if "keras" in sys.modules:
        sys.modules["keras"].utils.set_random_seed(0)
    yield


@pytest.fixture(scope="module")
def original_tokenization():
    """The original google-research/bert tokenization module (pip bert-tensorflow), the test oracle."""
    from absl import flags
    from bert import tokenization

    # It reads an absl flag (preserve_unused_tokens, default False) that raises unless flags are parsed.
    if not flags.FLAGS.is_parsed():
        flags.FLAGS.mark_as_parsed()
    return tokenization
