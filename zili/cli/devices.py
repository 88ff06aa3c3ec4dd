"""``zili devices``: every device zili knows, what it offers on this machine, and why an
unavailable one is unavailable."""

from __future__ import annotations

import argparse
from typing import Any

from zili.devices import available_devices, default_device_name, get_device


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


def cmd_devices(args: argparse.Namespace) -> int:
    """Print every registered device, the default first marked with ``*``."""
    default = default_device_name()
    for name in available_devices():
        lines = describe(name)
        print(("* " if name == default else "  ") + lines[0])
        for line in lines[1:]:
            print("  " + line)
    return 0


def add_devices_parser(sub: Any) -> None:
    """The ``devices`` subcommand."""
    p = sub.add_parser("devices", help="list the devices zili can use here",
                       description="List every device (name, kind, memory, compute units, "
                                   "notable extensions) and why an unavailable one is "
                                   "unavailable. The default is marked with *.")
    p.set_defaults(func=cmd_devices)
