"""``zili devices`` lists every registered device, what it offers, and why an unavailable
one is unavailable."""

from __future__ import annotations

import pytest

import zili
from zili.cli.main import main
from zili.devices import device as registry


def test_devices_lists_every_device_and_the_reason_for_absent_ones(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(registry, "_FACTORIES", dict(registry._FACTORIES))
    monkeypatch.setattr(registry, "_PRIORITY", dict(registry._PRIORITY))
    monkeypatch.setattr(registry, "_INSTANCES", dict(registry._INSTANCES))

    def absent() -> registry.Device:
        raise RuntimeError("no such chip on this machine (install its driver)")

    registry.register_device("madeup", absent, priority=-50)
    assert main(["devices"]) == 0
    out = capsys.readouterr().out
    listed = [line.split(":")[0].strip(" *") for line in out.splitlines()
              if not line.startswith("    ")]
    assert listed == zili.available_devices()
    assert "madeup: unavailable: no such chip on this machine (install its driver)" in out
    numpy_caps = zili.get_device("numpy").capabilities()
    assert ", ".join(d.name for d in numpy_caps.dtypes) in out
    default = [line for line in out.splitlines() if line.startswith("* ")]
    assert len(default) == 1 and default[0][2:].startswith(registry.default_device_name())
