"""wildpose.device: where computation runs and in which precision, and one-line refusals."""

from __future__ import annotations

import pytest
import torch

from wildpose.device import autocast_dtype, resolve_device


def test_devices_by_name_and_auto():
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device(torch.device("cpu")) == torch.device("cpu")
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert resolve_device("auto").type == expected
    with pytest.raises(ValueError, match="unknown device 'gpu0'"):
        resolve_device("gpu0")


@pytest.mark.skipif(torch.cuda.is_available(), reason="the machine has a CUDA GPU")
def test_a_gpu_asked_for_without_one_is_refused():
    with pytest.raises(ValueError, match="torch sees no CUDA GPU"):
        resolve_device("cuda")


def test_precisions_on_the_cpu():
    cpu = torch.device("cpu")
    assert autocast_dtype("fp32", cpu) is None       # plain float32: no autocast
    assert autocast_dtype("bf16", cpu) is torch.bfloat16
    assert autocast_dtype("auto", cpu) is torch.bfloat16
    assert autocast_dtype("fp16", cpu) is torch.float16
    with pytest.raises(ValueError, match="unknown precision 'fp8'"):
        autocast_dtype("fp8", cpu)
