"""Devices: where buffers live and primitives run. Each device is one module that names its
renderer and registers itself; importing the package imports every device module."""

from zili.devices import cpu, cuda, numpy, opencl  # noqa: F401 (each registers itself)
from zili.devices.compiled import CompiledDevice
from zili.devices.device import (
    Capabilities,
    Device,
    available_devices,
    default_device_name,
    get_device,
    register_device,
    set_default_device,
)
from zili.devices.numpy import NumpyDevice

__all__ = ["Capabilities", "CompiledDevice", "Device", "NumpyDevice", "available_devices",
           "default_device_name", "get_device", "register_device", "set_default_device"]
