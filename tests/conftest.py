"""Test-session settings: quiet TensorFlow logs, never reach for a model hub."""

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
