"""``zili devices``: every device zili knows, what it offers on this machine, and why an
unavailable one is unavailable."""

from __future__ import annotations

import argparse
import os
from typing import Any

from zili.devices import available_devices, default_device_name, get_device
from zili.devices.opencl import choose_device, pyopencl
from zili.devices.opencl import describe as describe_opencl


def describe(name: str) -> list[str]:
    """Lines describing device ``name``: kind, chip, memory, compute units, work-group
    limits, dtypes and notable extensions; or why it cannot be used here."""
    try:
        caps = get_device(name).capabilities()
    except Exception as e:  # each device's factory says why it cannot run here
        return [f"{name}: unavailable: {str(e).splitlines()[0]}"]
    lines = [f"{name}: {caps.kind}, {caps.description}"]
    if caps.memory:
        lines.append(f"  memory {caps.memory / 2**30:.1f} GiB, {caps.compute_units} compute "
                     "units")
    if caps.local_memory:
        lines.append(f"  local memory {caps.local_memory // 1024} KiB per work-group, at most "
                     f"{caps.max_work_group} work-items per group")
    lines.append(f"  dtypes: {', '.join(d.name for d in caps.dtypes)}")
    if caps.extensions:
        lines.append(f"  extensions: {', '.join(caps.extensions)}")
    return lines


def opencl_devices() -> list[str]:
    """Every OpenCL platform:device pyopencl sees (kind, memory, compute units, local
    memory, notable extensions), the one ``ZILI_OPENCL_DEVICE`` selects marked with ``>``;
    or why there are none."""
    try:
        cl = pyopencl()
        platforms = [(p, p.get_devices()) for p in cl.get_platforms()]
    except Exception as e:  # no pyopencl, no ICD, a broken driver: say which
        return [f"OpenCL: none ({str(e).splitlines()[0]})"]
    spec = os.environ.get("ZILI_OPENCL_DEVICE")
    try:
        chosen, why = choose_device(cl), ""
    except RuntimeError as e:
        chosen, why = None, f"; it selects none: {str(e).splitlines()[0]}"
    lines = [f"OpenCL devices (<platform>:<device>; ZILI_OPENCL_DEVICE="
             f"{spec if spec else 'unset: the first GPU, else the first non-simulator'}"
             f", its choice marked >{why}):"]
    for pi, (p, devices) in enumerate(platforms):
        for di, d in enumerate(devices):
            caps = describe_opencl(cl, d)
            sim = " (a simulator: chosen only by name)" if "oclgrind" in p.name.lower() else ""
            lines += [f"{'>' if d == chosen else ' '} {pi}:{di} {caps.description}: "
                      f"{caps.kind}{sim}",
                      f"      memory {caps.memory / 2**30:.1f} GiB, {caps.compute_units} "
                      f"compute units, local memory {caps.local_memory // 1024} KiB, "
                      f"work-groups up to {caps.max_work_group}",
                      f"      extensions: {', '.join(caps.extensions) or 'none notable'}"]
    return lines


def cmd_devices(args: argparse.Namespace) -> int:
    """Print every registered device, the default first marked with ``*``, then every
    OpenCL platform:device and which one ``ZILI_OPENCL_DEVICE`` selects."""
    default = default_device_name()
    for name in available_devices():
        lines = describe(name)
        print(("* " if name == default else "  ") + lines[0])
        for line in lines[1:]:
            print("  " + line)
    for line in opencl_devices():
        print(line)
    return 0


def add_devices_parser(sub: Any) -> None:
    """The ``devices`` subcommand."""
    p = sub.add_parser("devices", help="list the devices zili can use here",
                       description="List every device (name, kind, memory, compute units, "
                                   "notable extensions) and why an unavailable one is "
                                   "unavailable. The default is marked with *.")
    p.set_defaults(func=cmd_devices)
