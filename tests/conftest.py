import os

import pytest
import torch

# No hub is reachable here; fail fast instead of waiting on network timeouts.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


@pytest.fixture(scope="session")
def tiny():
    from helpers.models import tiny_model

    return tiny_model()


@pytest.fixture(scope="session")
def smollm():
    from helpers.models import load_model

    return load_model(dtype=torch.float32)  # exact comparisons; what a notebook loads follows model_dtype()
