"""The contract of a compiled device: memory, compile (with an on-disk cache), launch,
synchronize and capabilities. A new accelerator is one module that subclasses
:class:`CompiledDevice`, names its renderer and registers itself.

What the device provides (everything else comes from here and from the compiler):

* memory: ``alloc(count, dtype)``, ``free(buffer)``, ``copy_in(buffer, array)``,
  ``copy_out(buffer, view, dtype)``;
* ``build(name, source_path, source) -> bytes`` (source to a loadable binary),
  ``load(binary_path) -> module``, ``kernel(module, name, signature) -> handle``;
  :meth:`CompiledDevice.compile` keeps binaries in :mod:`zili.devices.kernel_cache` by a
  hash of source and :meth:`CompiledDevice.target`;
* ``launch(program, buffers, ints, geometry) -> bool`` (True: an index was out of range);
* ``synchronize()``, ``capabilities()`` and ``renderer_class`` (its dialect);
* optionally ``matmul(a, av, b, bv, out, shape)``, a vendor library taking MATMUL over
  from the compiler's tiled kernel.

``execute`` lowers each eager primitive to a one-node kernel the first time its signature
(op, dtypes, shape, views, arg) is seen, renders it in *dynamic* mode (sizes and strides as
parameters, so one compiled program serves every shape of the same structure), compiles it
and from then on only launches it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from zili.compiler.ir import collapse_axes
from zili.compiler.lower import assign_kernel, lower_primitive
from zili.compiler.runtime import Launchable, Signature, random_base
from zili.devices.device import Device, check_assign
from zili.devices.kernel_cache import kernel_cache
from zili.dtype import DType, to_dtype
from zili.ops import Op
from zili.ops.view import View

_RANDOM = Op.RANDOM


class CompileError(RuntimeError):
    """A device's compiler rejected a generated kernel; the message names the source file."""


class LaunchError(RuntimeError):
    """A kernel launch failed; the message names the kernel and the path of its source."""


class Program:
    """A compiled kernel: its name, the device's loaded handle, where its source is, and
    its :class:`~zili.compiler.runtime.Signature`."""

    __slots__ = ("name", "handle", "source_path", "signature")

    def __init__(self, name: str, handle: Any, source_path: Path, signature: Signature):
        self.name, self.handle, self.source_path = name, handle, source_path
        self.signature = signature


class CompiledDevice(Device):
    """Base of every code-generating device; see the module docstring."""

    compiles = True
    renderer_class: Any = None
    source_suffix, binary_suffix = ".src", ".bin"
    matmul: Any = None  # a device with a vendor BLAS defines matmul(a, av, b, bv, out, shape)
    # A jit plan as one program (zili.compiler.runtime.compile_plan), and how many compiler
    # processes its build may run at once (the source then comes in that many units).
    program_per_plan, build_jobs = False, 1

    # --- what a device implements ------------------------------------------------------

    def alloc(self, count: int, dtype: DType) -> Any:
        """A new uninitialised buffer of ``count`` elements of ``dtype``."""
        raise NotImplementedError

    def free(self, buffer: Any) -> None:
        """Release ``buffer`` now (by default memory goes when the last reference does)."""

    def copy_in(self, buffer: Any, array: np.ndarray) -> None:
        """Copy the C-contiguous host ``array`` into ``buffer``."""
        raise NotImplementedError

    def copy_out(self, buffer: Any, view: View, dtype: DType) -> np.ndarray:
        """The elements ``view`` shows of ``buffer`` as a new C-contiguous host array."""
        raise NotImplementedError

    def target(self) -> str:
        """What compiled binaries depend on besides the source (compiler, flags, device):
        part of the cache key."""
        raise NotImplementedError

    def build(self, name: str, source_path: Path, source: str) -> bytes:
        """Compile ``source`` (saved at ``source_path``) to a binary ``load`` accepts.

        Raises:
            CompileError: naming the kernel and ``source_path``.
        """
        raise NotImplementedError

    def load(self, binary_path: Path) -> Any:
        """Load the binary at ``binary_path`` (a module holding one or more kernels)."""
        raise NotImplementedError

    def kernel(self, module: Any, name: str, signature: Signature) -> Any:
        """The handle ``launch`` calls for kernel ``name`` of a loaded ``module``."""
        raise NotImplementedError

    def launch(self, program: Program, buffers: list[Any], ints: list[int],
               geometry: Any) -> bool:
        """Run ``program`` on ``buffers`` and 64-bit ``ints`` with the renderer's launch
        ``geometry``; True when the kernel found an index out of range.

        Raises:
            LaunchError: naming the kernel and the path of its source.
        """
        raise NotImplementedError

    def renderer(self, dynamic: bool) -> Any:
        """A renderer of this device's dialect (``dynamic``: sizes as parameters)."""
        return self.renderer_class(dynamic=dynamic)

    # --- memory through the contract ---------------------------------------------------

    def from_numpy(self, array: np.ndarray) -> Any:
        """Copy a host array into a new flat buffer (alloc, then copy in)."""
        array = np.ascontiguousarray(array)
        buffer = self.alloc(array.size, to_dtype(array.dtype))
        if array.size:
            self.copy_in(buffer, array.reshape(-1))
        return buffer

    def to_numpy(self, buffer: Any, view: View, dtype: DType) -> np.ndarray:
        """Copy the elements ``view`` shows back to the host."""
        return self.copy_out(buffer, view, dtype)

    # --- compile with the on-disk cache ------------------------------------------------

    def compile(self, name: str, source: str, signature: Signature) -> Program:
        """Kernel ``name`` of ``source`` (which may hold several kernels: a jit plan's). The
        source is built once per machine: the binary is kept in the guarded
        :mod:`~zili.devices.kernel_cache` (private folder, digest checked before loading)
        under a hash of source and :meth:`target`, and loaded once per process.

        Raises:
            CompileError: from :meth:`build`, naming the kernel and its source file.
            OSError: "No space left on device" when the cache's disk is full.
        """
        last = self.__dict__.get("_last_digest")
        if last is not None and last[0] is source:  # a plan's kernels share one source
            digest = last[1]
        else:
            digest = hashlib.sha256(f"{self.target()}\0{source}".encode()).hexdigest()[:32]
            self._last_digest = (source, digest)
        programs = self.__dict__.setdefault("_programs", {})
        program = programs.get((digest, name))
        if program is None:
            modules = self.__dict__.setdefault("_modules", {})
            cache = kernel_cache(self.name)
            stem = f"{name}_{digest}"
            if digest not in modules:
                source_path = cache.directory / f"{stem}{self.source_suffix}"

                def build() -> bytes:
                    return self.build(name, cache.write_source(source_path.name, source),
                                      source)

                modules[digest] = (cache.load(f"{stem}{self.binary_suffix}", build,
                                              self.load), source_path)
            module, source_path = modules[digest]
            handle = self.kernel(module, name, signature)
            program = programs[(digest, name)] = Program(name, handle, source_path, signature)
        return program

    # --- primitives --------------------------------------------------------------------

    def execute(self, op: Op, shape: tuple[int, ...], dtype: DType, inputs: list,
                arg: Any = None) -> Any:
        """Run one primitive as a compiled kernel; see :meth:`zili.devices.Device.execute`.

        Raises:
            IndexError: for a GATHER/SCATTER_ADD index outside the indexed axis.
        """
        # names, not the Op and DType objects: their hashes are Python code, ~4 us a call
        # (and Op's ``value`` property and class attributes cost ~0.2 us each)
        random = op is _RANDOM
        key = (op._value_, shape, dtype.name, None if random else arg,
               *[(v.key(), dt.name) for _, v, dt in inputs])
        try:
            entry = self._eager[key]
        except (AttributeError, KeyError):
            entry = self.__dict__.setdefault("_eager", {})[key] = \
                self._prepare(op, shape, dtype, inputs, arg)
        run, order, count = entry
        out = self.alloc(count, dtype)
        if count == 0:
            return out
        if run is None:  # MATMUL through the device's library
            (a, av, _), (b, bv, _) = inputs
            self.matmul(a, av, b, bv, out, shape)
            return out
        buffers = [out if k < 0 else inputs[k][0] for k in order]
        if run(buffers, (random_base(*arg),) if random else ()):
            raise IndexError(f"{op.value}: an index is out of range for axis {arg} "
                             f"(shape {shape}, index shape {inputs[-1][1].shape})")
        return out

    def assign(self, buffer: Any, view: View, dtype: DType, value: Any) -> None:
        """Write ``value`` into ``buffer`` through ``view`` with a compiled store kernel; see
        :meth:`zili.devices.Device.assign`.

        Raises:
            ValueError: from :func:`~zili.devices.device.check_assign`.
        """
        check_assign(len(buffer), view, dtype, value)
        source, value_view, value_dtype = value
        if view.numel == 0:
            return
        if source is buffer:  # kernel arguments are restrict: read the value out first
            source = self.execute(Op.COPY, view.shape, dtype, [value])
            value_view = View(view.shape)
        key = ("assign", view.key(), dtype, value_view.key())
        eager = self.__dict__.setdefault("_eager", {})
        if key not in eager:
            kernel = collapse_axes(assign_kernel("e_assign", view, dtype, value_view,
                                                 value_dtype))
            eager[key] = (self.launcher(Launchable(self, kernel, dynamic=True)), [], 0)
        eager[key][0]([buffer, source], ())

    def launcher(self, launchable: Launchable) -> Callable[[list[Any], tuple[int, ...]], bool]:
        """What eager execution calls to run ``launchable``: ``run(buffers, random_bases)``,
        True when an index was out of range. :meth:`Launchable.run` here; a device may
        return a shorter path to its launch for the one-launch kernels of eager primitives
        (the per-primitive overhead is what eager users pay on small tensors)."""
        return launchable.run

    def _prepare(self, op: Op, shape: tuple[int, ...], dtype: DType, inputs: list,
                 arg: Any) -> tuple[Callable[..., bool] | None, list[int], int]:
        count = 1
        for s in shape:
            count *= s
        if count == 0 or (op is Op.MATMUL and self.matmul is not None):
            return None, [], count
        kernel, order = lower_primitive(op, shape, dtype, [(v, dt) for _, v, dt in inputs],
                                        arg)
        return self.launcher(Launchable(self, kernel, dynamic=True)), order, count
