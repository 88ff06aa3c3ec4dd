"""The ``opencl`` device: any vendor's OpenCL (GPUs of NVIDIA, AMD, Intel, Arm and others;
any CPU through PoCL) via ``pyopencl``, the optional extra ``zili[opencl]``.

``ZILI_OPENCL_DEVICE=<platform>:<device>`` picks one (each an index or part of the name,
e.g. ``pocl:0``); otherwise the first GPU, else the first device outside Oclgrind (a
simulator for checking kernels). ``ZILI_OPENCL_FP64=0`` (or ``fp64=False``) treats it as a
device without ``cl_khr_fp64``. Program binaries are cached on disk by a hash of source and
device; MATMUL runs the compiler's tiled kernel. Buffers hold at least one element.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
from pathlib import Path
from typing import Any

import numpy as np

from zili.compiler.render_opencl import OpenCLRenderer
from zili.compiler.runtime import Signature
from zili.devices.compiled import CompiledDevice, CompileError, LaunchError, Program
from zili.devices.device import Capabilities, register_device
from zili.devices.numpy import read
from zili.dtype import ALL_DTYPES, DType
from zili.ops.view import View

OPTIONS = ["-cl-fp32-correctly-rounded-divide-sqrt"]  # divisions and sqrt as on the host


def pyopencl() -> Any:
    """The pyopencl module, imported on first use (optional, slow to import); raises
    RuntimeError saying how to install it when it is missing."""
    if importlib.util.find_spec("pyopencl") is None:
        raise RuntimeError("device 'opencl' is not available: pyopencl is not installed "
                           "(pip install 'zili[opencl]', which brings PoCL for the CPU)")
    return importlib.import_module("pyopencl")


def choose_device(cl: Any, spec: str | None = None) -> Any:
    """The OpenCL device ``spec`` names (``ZILI_OPENCL_DEVICE``), else the first GPU, else
    the first device outside Oclgrind. Raises RuntimeError when there is no platform, or
    ``spec`` names no device (listing them)."""
    try:
        found = [(p, d) for p in cl.get_platforms() for d in p.get_devices()]
    except cl.Error as e:
        raise RuntimeError(f"device 'opencl' is not available: no OpenCL platform ({e})") \
            from None
    names = [f"{p.name}:{d.name}" for p, d in found]
    spec = os.environ.get("ZILI_OPENCL_DEVICE") if spec is None else spec
    if spec:
        want = (spec.split(":", 1) + [""])[:2]
        platforms = list(dict.fromkeys(p.name for p, _ in found))
        for p, d in found:
            index = [platforms.index(p.name), p.get_devices().index(d)]
            if all(w == "" or w == str(i) or w.lower() in n.lower()
                   for w, i, n in zip(want, index, (p.name, d.name))):
                return d
        raise RuntimeError(f"ZILI_OPENCL_DEVICE={spec!r} names no OpenCL device; there are "
                           f"{names} (give <platform>:<device>, each an index or a name part)")
    real = [d for p, d in found if "oclgrind" not in p.name.lower()]
    usable = [d for d in real if d.type & cl.device_type.GPU] or real
    if not usable:
        raise RuntimeError(f"device 'opencl' is not available: no OpenCL device ({names})")
    return usable[0]


def describe(cl: Any, d: Any, no_fp64: bool = False) -> Capabilities:
    """Kind, name, dtypes, memory, compute units, local memory, work-group limit and notable
    extensions of OpenCL device ``d`` (``no_fp64``: as if it lacked ``cl_khr_fp64``)."""
    kind = "gpu" if d.type & cl.device_type.GPU else "cpu" if d.type & cl.device_type.CPU \
        else "accelerator"
    ext = tuple(e for e in d.extensions.split() if e.endswith(
        ("fp64", "fp16", "int64_base_atomics", "subgroups")) and not (no_fp64 and "fp64" in e))
    dtypes = tuple(t for t in ALL_DTYPES if "cl_khr_fp64" in ext or t.name != "float64")
    return Capabilities(kind, f"{d.platform.name}: {d.name}", dtypes, d.global_mem_size,
                        d.max_compute_units, d.local_mem_size, d.max_work_group_size, ext)


class Buffer:
    """A ``cl.Buffer`` with its element count (``len``) and dtype."""

    __slots__ = ("mem", "count", "dtype")

    def __init__(self, mem: Any, count: int, dtype: DType):
        self.mem, self.count, self.dtype = mem, count, dtype

    def __len__(self) -> int:
        return self.count


class OpenCLDevice(CompiledDevice):
    """Buffers in the OpenCL device's memory; kernels in OpenCL C, built by its driver."""

    name = "opencl"
    renderer_class = OpenCLRenderer
    source_suffix, binary_suffix = ".cl", ".clbin"
    program_per_plan = True  # PoCL takes about a second per build

    def __init__(self, spec: str | None = None, fp64: bool | None = None) -> None:
        self.cl = cl = pyopencl()
        self.dev = choose_device(cl, spec)
        self.ctx = cl.Context([self.dev])
        self.queue = cl.CommandQueue(self.ctx)
        off = fp64 is False or os.environ.get("ZILI_OPENCL_FP64") == "0"  # test the no-fp64 path
        self.caps = describe(cl, self.dev, off)
        self.fp64 = "cl_khr_fp64" in self.caps.extensions
        self._err = cl.Buffer(self.ctx, cl.mem_flags.READ_WRITE, 4)

    def capabilities(self) -> Capabilities:
        """The OpenCL device's memory, compute units, local memory and work-group limit."""
        return self.caps

    def renderer(self, dynamic: bool) -> OpenCLRenderer:
        """The OpenCL renderer for this device's work-group limit and fp64 support."""
        return OpenCLRenderer(dynamic, fp64=self.fp64, max_group=self.dev.max_work_group_size)

    # --- memory ----------------------------------------------------------------------------

    def alloc(self, count: int, dtype: DType) -> Buffer:
        """A new buffer of ``count`` elements (at least one is allocated)."""
        size = max(count, 1) * dtype.itemsize
        return Buffer(self.cl.Buffer(self.ctx, self.cl.mem_flags.READ_WRITE, size), count,
                      dtype)

    def copy_in(self, buffer: Buffer, array: np.ndarray) -> None:
        """Copy a host array into ``buffer`` (waits until it is copied)."""
        self.cl.enqueue_copy(self.queue, buffer.mem, _raw(np.ascontiguousarray(array)))

    def copy_out(self, buffer: Buffer, view: View, dtype: DType) -> np.ndarray:
        """Copy the part of ``buffer`` that ``view`` reads to the host, then read the view."""
        low, high = view.buffer_span()
        host = np.empty(max(high - low, 0), dtype.numpy)
        if high > low:
            self.cl.enqueue_copy(self.queue, _raw(host), buffer.mem,
                                 src_offset=low * dtype.itemsize)
        shifted = View(view.shape, view.strides, view.offset - low, view.mask)
        return np.array(read(host, shifted), copy=True, order="C")

    def synchronize(self) -> None:
        """Wait for every queued kernel."""
        self.queue.finish()

    # --- compile and launch ----------------------------------------------------------------

    def target(self) -> str:
        """Platform, device, driver and build options."""
        d = self.dev
        return f"{d.platform.name}|{d.name}|{d.driver_version}|{' '.join(OPTIONS)}"

    def build(self, name: str, source_path: Path, source: str) -> bytes:
        """Build OpenCL C with the device's driver; the binary it returns. Raises
        CompileError with the build log and the path of the source."""
        try:
            program = self.cl.Program(self.ctx, source).build(options=OPTIONS, cache_dir=False)
        except self.cl.Error as e:
            raise CompileError(f"opencl device: building kernel {name} failed (source: "
                               f"{source_path}):\n{str(e)[-4000:]}") from None
        return program.get_info(self.cl.program_info.BINARIES)[0]

    def load(self, binary_path: Path) -> Any:
        """The program binary at ``binary_path``, built for this device."""
        program = self.cl.Program(self.ctx, [self.dev], [binary_path.read_bytes()])
        return program.build(options=OPTIONS)

    def kernel(self, program: Any, name: str, signature: Signature) -> Any:
        """Kernel ``name`` of a built program."""
        return getattr(program, name)

    def launch(self, program: Program, buffers: list[Buffer], ints: list[int],
               geometry: Any) -> bool:
        """Enqueue the kernel over ``geometry`` (global, local sizes); True when a checked
        kernel found an index out of range (that check waits for the kernel). Raises
        LaunchError naming the kernel and its source when the driver refuses it."""
        checks = program.signature.checks
        args = [b.mem for b in buffers] + [np.int64(i) for i in ints]
        if checks:
            self.cl.enqueue_fill_buffer(self.queue, self._err, np.int32(0), 0, 4)
            args.append(self._err)
        try:
            program.handle(self.queue, geometry[0], geometry[1], *args)
        except self.cl.Error as e:
            raise LaunchError(f"opencl device: launching kernel {program.name} over "
                              f"{geometry} failed: {e} (source: {program.source_path})") \
                from None
        if not checks:
            return False
        flag = np.zeros(1, np.int32)
        self.cl.enqueue_copy(self.queue, flag, self._err)
        return bool(flag[0])


def _raw(array: np.ndarray) -> np.ndarray:
    """The array's bytes as a type OpenCL copies (bfloat16 as its 16-bit words)."""
    return array.view(np.uint16) if array.dtype.name == "bfloat16" else array


def _priority() -> int:
    """Above the cpu device only when pyopencl sees a GPU; otherwise asked for by name."""
    try:  # no pyopencl, or a broken ICD, must not break `import zili`
        cl = pyopencl()
        return 15 if choose_device(cl, "").type & cl.device_type.GPU else -5
    except Exception:
        return -5


register_device("opencl", OpenCLDevice, priority=_priority)
