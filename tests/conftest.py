"""Shared test settings."""

import os

import torch

# Tests use tiny tensors: one intra-op thread avoids oversubscribing the 2 CPU cores (a busy
# second thread made small ops ~100x slower on a shared machine). PDESURROGATE_TEST_THREADS
# overrides.
torch.set_num_threads(int(os.environ.get("PDESURROGATE_TEST_THREADS", "1")))
