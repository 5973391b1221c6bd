"""Shared pytest setup: quiet TensorFlow, fast mode and headless output for everything the tests run."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("RESNET_COURSE_FAST", "1")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")  # see the Makefile
os.environ.setdefault("RESNET_COURSE_HEADLESS", "1")  # one line per epoch in executed notebooks
