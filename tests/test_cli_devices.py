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
    out = capsys.readouterr().out.split("OpenCL devices", 1)[0]  # then OpenCL's own list
    listed = [line.split(":")[0].strip(" *") for line in out.splitlines()
              if not line.startswith("    ")]
    assert listed == zili.available_devices()
    assert "madeup: unavailable: no such chip on this machine (install its driver)" in out
    numpy_caps = zili.get_device("numpy").capabilities()
    assert ", ".join(d.name for d in numpy_caps.dtypes) in out
    default = [line for line in out.splitlines() if line.startswith("* ")]
    assert len(default) == 1 and default[0][2:].startswith(registry.default_device_name())


@pytest.mark.parametrize("spec", [None, "oclgrind", "1:0", "no-such-chip"])
def test_devices_lists_every_opencl_device_and_the_selected_one(
        spec: str | None, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    cl = pytest.importorskip("pyopencl")
    found = [(pi, di, p, d) for pi, p in enumerate(cl.get_platforms())
             for di, d in enumerate(p.get_devices())]
    if spec is not None:
        monkeypatch.setenv("ZILI_OPENCL_DEVICE", spec)
    else:
        monkeypatch.delenv("ZILI_OPENCL_DEVICE", raising=False)
    assert main(["devices"]) == 0
    out = capsys.readouterr().out.split("OpenCL devices", 1)[1].splitlines()
    heads = [line for line in out if line[:1] in (" ", ">") and line[2:3].isdigit()]
    assert len(heads) == len(found)  # every platform:device pyopencl sees, once
    for line, (pi, di, p, d) in zip(heads, found):
        assert line[2:].startswith(f"{pi}:{di} {p.name}: {d.name}: ")
        block = out[out.index(line) + 2]
        for ext in ("cl_khr_fp64", "cl_khr_fp16"):  # notable extensions, as the driver says
            assert (ext in block) == (ext in d.extensions.split())
        assert f"{d.max_compute_units} compute units" in out[out.index(line) + 1]
    marked = [h for h in heads if h.startswith(">")]
    if spec == "no-such-chip":
        assert not marked and "selects none" in out[0] and "no-such-chip" in out[0]
        return
    # the independent expectation: the first GPU, else the first device outside Oclgrind
    if spec is None:
        gpus = [f for f in found if f[3].type & cl.device_type.GPU and "Oclgrind" not in
                f[2].name]
        want = (gpus or [f for f in found if "Oclgrind" not in f[2].name])[0]
    elif spec == "oclgrind":
        want = next(f for f in found if "Oclgrind" in f[2].name)
    else:
        want = found[[(f[0], f[1]) for f in found].index((1, 0))] if len(found) > 1 else None
    if want is None:
        pytest.skip("this machine has one OpenCL platform")
    assert marked == [heads[found.index(want)]]
