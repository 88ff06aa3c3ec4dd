"""Devices: where buffers live and primitives run. Each device is one module."""

from zili.devices.device import (
    Device,
    available_devices,
    default_device_name,
    get_device,
    register_device,
    set_default_device,
)
from zili.devices.numpy import NumpyDevice

register_device("numpy", NumpyDevice, priority=0)

__all__ = ["Device", "NumpyDevice", "available_devices", "default_device_name", "get_device",
           "register_device", "set_default_device"]
