"""Shared test setup: the list of devices every device-parametrized test runs on.

A new device is tested by appending its name to ``DEVICES``; devices that are listed but not
registered on this machine (an accelerator that is absent) are skipped, not failed.
"""

from __future__ import annotations

import os

import pytest

import zili

# Every device the suite runs on. Add a device here and every `device` test covers it.
DEVICES = ["numpy", "cpu", "cuda", "opencl"]
# ZILI_TEST_DEVICES=opencl (a comma-separated list) runs the suite on those devices instead.
if os.environ.get("ZILI_TEST_DEVICES"):
    DEVICES = os.environ["ZILI_TEST_DEVICES"].split(",")


def _available(name: str) -> bool:
    try:
        zili.get_device(name)
    except Exception:  # an absent accelerator or a missing runtime: skip, do not fail
        return False
    return True


@pytest.fixture(params=DEVICES)
def device(request: pytest.FixtureRequest) -> str:
    """The name of one device to run the test on (skips if it is not available here)."""
    if not _available(request.param):
        pytest.skip(f"device {request.param!r} is not available on this machine")
    return request.param


@pytest.fixture
def cpu() -> str:
    """The ``cpu`` device's name, for tests of its C loops (skips without a C compiler)."""
    if not _available("cpu"):
        pytest.skip("no C compiler: the cpu device is not available")
    return "cpu"
