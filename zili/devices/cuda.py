"""The ``cuda`` device: NVIDIA GPUs through CuPy, kernels compiled at run time by NVRTC.

* memory: flat CuPy arrays from CuPy's memory pool (half types as raw 16-bit words);
* compile (``build``/``load``/``kernel`` of the :class:`CompiledDevice` contract): NVRTC
  (pip ``nvidia-cuda-nvrtc`` + ``cuda-bindings``) turns the CUDA dialect's source
  (:mod:`zili.compiler.render_cuda`) into a cubin for the GPU's architecture, kept in the
  guarded kernel cache; CuPy loads it (``RawModule``);
* launch: over the renderer's geometry (blocks of threads) on the device's own non-blocking
  stream; kernels that check indices take an ``int*`` flag, read back after them;
* MATMUL: cuBLAS (float32/float64 through ``cupy.matmul``; float16/bfloat16 through
  ``cublasGemmStridedBatchedEx`` with float32 accumulation);
* CUDA graphs: :meth:`CUDADevice.capture` records the launches of a function into a graph
  that :class:`Graph` replays with one call;
* fused ``scaled_dot_product_attention``: flash attention (:mod:`zili.compiler.attention_cuda`).

Install with ``pip install 'zili[cuda]'`` (CuPy and NVRTC for CUDA 13).
NVRTC needs no GPU: :func:`nvrtc_compile` works on any Linux machine, which is how the test
suite checks every generated kernel without a GPU. The suite has run on an H100 once
(1,040 passed); docs/cuda.md says what was measured and the open problem found there.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

import numpy as np

from zili.compiler.attention_cuda import CUDAFlashAttention
from zili.compiler.render_cuda import PRELUDE, CUDARenderer
from zili.devices.compiled import CompiledDevice, CompileError, Program
from zili.devices.device import Capabilities, register_device
from zili.devices.numpy import read
from zili.dtype import DType
from zili.ops.view import View

# CuPy and NVRTC's bindings are optional (the `cuda` extra) and slow to import (0.2-1 s), so
# they are imported on first use, not with `import zili`; `find_spec` only looks for them.
cupy: Any = None
cublas: Any = None
_nvrtc: Any = None


def _load_nvrtc() -> Any:
    global _nvrtc
    if _nvrtc is None and importlib.util.find_spec("cuda") is not None and \
            importlib.util.find_spec("cuda.bindings") is not None:
        _nvrtc = importlib.import_module("cuda.bindings.nvrtc")
    return _nvrtc


def _load_cupy() -> Any:
    global cupy, cublas
    if cupy is None and importlib.util.find_spec("cupy") is not None:  # pragma: no cover
        cupy = importlib.import_module("cupy")
        cublas = importlib.import_module("cupy_backends.cuda.libs.cublas")
    return cupy

BLOCK = 256  # threads per block; the CUDA renderer's kernels assume a multiple of 32
ARCHITECTURES = ("sm_80", "sm_90")  # what CI compiles every kernel for (A100, H100)
_STORAGE = {"bfloat16": np.uint16}  # CuPy has no bfloat16: keep its bits


class CUDAUnavailableError(RuntimeError):
    """The cuda device cannot start on this machine; the message says why and what to do."""


def nvrtc_version() -> tuple[int, int] | None:
    """NVRTC's (major, minor), or None when ``cuda-bindings``/NVRTC are not installed."""
    if _load_nvrtc() is None:
        return None
    try:
        err, major, minor = _nvrtc.nvrtcVersion()
    except RuntimeError:  # the bindings are there, the NVRTC library is not
        return None
    return (major, minor) if int(err) == 0 else None


def nvrtc_compile(name: str, source: str, arch: str = "sm_80",
                  options: tuple[str, ...] = ()) -> bytes:
    """Compile CUDA C++ ``source`` (defining ``extern "C"`` kernel ``name``) to a cubin for
    ``arch`` (``sm_80``, ``sm_90``...) with NVRTC. Needs no GPU.

    Raises:
        RuntimeError: if NVRTC is not installed (``pip install zili[cuda]``).
        CompileError: naming the kernel and the architecture, with NVRTC's log.
    """
    if nvrtc_version() is None:
        raise RuntimeError("cuda: NVRTC is not installed; pip install 'zili[cuda]' "
                           "(nvidia-cuda-nvrtc and cuda-bindings)")
    err, prog = _nvrtc.nvrtcCreateProgram(source.encode(), f"{name}.cu".encode(), 0, [], [])
    _check(err, name, arch, "creating the program")
    try:
        flags = [f"--gpu-architecture={arch}", "--std=c++17", *options]
        (result,) = _nvrtc.nvrtcCompileProgram(prog, len(flags), [f.encode() for f in flags])
        if int(result) != 0:
            _, size = _nvrtc.nvrtcGetProgramLogSize(prog)
            log = b" " * size
            _nvrtc.nvrtcGetProgramLog(prog, log)
            raise CompileError(f"cuda: NVRTC could not compile kernel {name} for {arch}:\n"
                               f"{log.decode(errors='replace').rstrip(chr(0))[-4000:]}")
        err, size = _nvrtc.nvrtcGetCUBINSize(prog)
        _check(err, name, arch, "sizing the cubin")
        cubin = b" " * size
        (err,) = _nvrtc.nvrtcGetCUBIN(prog, cubin)
        _check(err, name, arch, "reading the cubin")
        return cubin
    finally:
        _nvrtc.nvrtcDestroyProgram(prog)


def _check(err: Any, name: str, arch: str, what: str) -> None:
    if int(err) != 0:
        raise CompileError(f"cuda: NVRTC failed {what} for kernel {name} ({arch}): {err}")


def driver_problem() -> str | None:
    """Why the cuda device cannot run here (one line), or None when it can."""
    if _load_cupy() is None:
        return ("CuPy is not installed (pip install 'zili[cuda]' on a machine with an NVIDIA "
                "driver and GPU)")
    if nvrtc_version() is None:
        return "NVRTC is not installed (pip install 'zili[cuda]')"
    try:  # pragma: no cover - needs CuPy
        count = cupy.cuda.runtime.getDeviceCount()
    except Exception as error:  # pragma: no cover - CuPy raises its own driver errors
        return f"no usable NVIDIA driver ({str(error).splitlines()[0]})"
    return None if count > 0 else "no NVIDIA GPU found"  # pragma: no cover


def is_available() -> bool:
    """True when a CUDA GPU, its driver, CuPy and NVRTC are all present."""
    return driver_problem() is None


class CUDADevice(CompiledDevice):  # pragma: no cover - everything below needs a GPU
    """GPU memory from CuPy's pool, NVRTC-compiled kernels, cuBLAS products.

    Raises:
        CUDAUnavailableError: one line saying why, when there is no usable GPU.
    """

    collectives = "nccl"  # zili.distributed's nccl backend (CuPy's NCCL) takes its buffers

    name = "cuda"
    renderer_class = CUDARenderer

    def __init__(self) -> None:
        problem = driver_problem()
        if problem is not None:
            raise CUDAUnavailableError(f"device 'cuda' is not available: {problem}; use "
                                       "device='cpu' or 'numpy'")
        self.gpu = cupy.cuda.Device()
        self.count = cupy.cuda.runtime.getDeviceCount()
        major, minor = self.gpu.compute_capability[0], self.gpu.compute_capability[1:]
        self.arch = f"sm_{major}{minor}"
        self.stream = cupy.cuda.Stream(non_blocking=True)
        self.sms = cupy.cuda.runtime.getDeviceProperties(self.gpu.id)["multiProcessorCount"]
        self._err = cupy.zeros(1, np.int32)
        self._capturing = False
        self._fused: dict[str, Any] | None = None

    def capabilities(self) -> Capabilities:
        """The GPU's name, memory, SMs, shared memory per block and block size limit."""
        props = cupy.cuda.runtime.getDeviceProperties(self.gpu.id)
        name = props["name"].decode() if isinstance(props["name"], bytes) else props["name"]
        return Capabilities("gpu", f"{name} ({self.arch})", memory=props["totalGlobalMem"],
                            compute_units=self.sms, local_memory=props["sharedMemPerBlock"],
                            max_work_group=props["maxThreadsPerBlock"])

    @property
    def fused_composites(self) -> dict[str, Any]:
        """Fused replacements of composites (zili.tensor.fused): flash attention for
        ``scaled_dot_product_attention``, compiled on first use."""
        if self._fused is None:
            self._fused = {"scaled_dot_product_attention": CUDAFlashAttention(self, PRELUDE)}
        return self._fused

    # --- memory ----------------------------------------------------------------------------

    def alloc(self, count: int, dtype: DType) -> Any:
        """A new uninitialised flat buffer of ``count`` elements (CuPy's pool)."""
        with self.stream:
            return cupy.empty(max(count, 0), _STORAGE.get(dtype.name, dtype.numpy))

    def from_numpy(self, array: np.ndarray) -> Any:
        """Copy a host array into a new flat GPU buffer."""
        host = np.ascontiguousarray(array).reshape(-1)
        if host.dtype.name == "bfloat16":
            host = host.view(np.uint16)
        with self.stream:
            return cupy.asarray(host)

    def to_numpy(self, buffer: Any, view: View, dtype: DType) -> np.ndarray:
        """Copy the elements ``view`` shows back to the host (waits for queued work)."""
        host = cupy.asnumpy(buffer, stream=self.stream)
        self.stream.synchronize()
        if dtype.name == "bfloat16":
            host = host.view(dtype.numpy)
        return np.array(read(host, view), copy=True, order="C")

    def synchronize(self) -> None:
        """Wait for every kernel queued on the device's stream."""
        self.stream.synchronize()

    # --- compile and launch ----------------------------------------------------------------

    source_suffix, binary_suffix = ".cu", ".cubin"

    def target(self) -> str:
        """What a cubin depends on besides its source: the GPU architecture and NVRTC."""
        return f"{self.arch}|nvrtc {nvrtc_version()}"

    def build(self, name: str, source_path: Path, source: str) -> bytes:
        """NVRTC: CUDA source to a cubin for this GPU's architecture.

        Raises:
            CompileError: naming the kernel, the architecture, NVRTC's log and the source.
        """
        try:
            return nvrtc_compile(name, source, self.arch)
        except CompileError as error:
            raise CompileError(f"{error} (source: {source_path})") from None

    def load(self, binary_path: Path) -> Any:
        """Load a cubin (one or more kernels) as a CuPy module."""
        return cupy.RawModule(path=str(binary_path))

    def kernel(self, module: Any, name: str, signature: Any) -> Any:
        """CuPy's handle of kernel ``name`` in a loaded module."""
        return module.get_function(name)

    def launch(self, program: Program, buffers: list[Any], ints: list[int],
               geometry: Any = None) -> bool:
        """Queue ``program`` on the stream over ``geometry`` (global, local sizes in threads,
        as the work-group renderer gives them; None: a grid-stride kernel, launched with
        enough blocks to fill every SM several times). True when a checked kernel found an
        index out of range (that check waits for the kernel)."""
        if geometry is None:
            grid, block = (self.sms * 8,), (BLOCK,)
        else:
            total, local = geometry
            block = tuple(local)
            grid = tuple(max(1, -(-g // b)) for g, b in zip(total, block))
        checks = program.signature.checks
        args = (*buffers, *[np.int64(i) for i in ints])
        if checks:
            with self.stream:  # on the legacy stream the fill would race the kernel
                self._err.fill(0)
            args = (*args, self._err)
        program.handle(grid, block, args, stream=self.stream)
        if checks and not self._capturing:
            return bool(self._err.get(stream=self.stream)[0])
        return False

    # --- matrix products ------------------------------------------------------------------

    def _array(self, buffer: Any, view: View) -> Any:
        """A CuPy array over ``buffer`` showing ``view`` (padding masks materialised)."""
        item = buffer.dtype.itemsize
        array = cupy.ndarray(view.shape, buffer.dtype, buffer.data + view.offset * item,
                             tuple(s * item for s in view.strides)) if buffer.size else \
            cupy.zeros(view.shape, buffer.dtype)
        if view.mask is None:
            return array
        out = cupy.zeros(view.shape, buffer.dtype)
        window = tuple(slice(b, e) for b, e in view.mask)
        out[window] = array[window]
        return out

    def matmul(self, a: Any, av: View, b: Any, bv: View, out: Any,
               shape: tuple[int, ...]) -> None:
        """out = a @ b with cuBLAS: half types with float32 accumulation (tensor cores)."""
        with self.stream:
            x, y = self._array(a, av), self._array(b, bv)
            result = out.reshape(shape)
            if out.dtype in (np.uint16, np.float16):
                batch = shape[:-2]
                x = cupy.ascontiguousarray(cupy.broadcast_to(x, batch + x.shape[-2:]))
                y = cupy.ascontiguousarray(cupy.broadcast_to(y, batch + y.shape[-2:]))
                _gemm_half(x, y, result, bf16=out.dtype == np.uint16, stream=self.stream)
            else:
                cupy.matmul(x, y, out=result)

    # --- CUDA graphs ----------------------------------------------------------------------

    def capture(self, fn: Any) -> Graph:
        """Run ``fn()`` once while recording every launch on the stream into a CUDA graph.
        The graph replays the same kernels on the same buffers: ``fn`` must use buffers
        that stay allocated (a jit plan's), and no checked kernel reads its flag inside.
        """
        self.stream.synchronize()
        self._capturing = True
        self.stream.begin_capture()
        try:
            fn()
        finally:
            graph = self.stream.end_capture()
            self._capturing = False
        return Graph(graph, self.stream)


class Graph:  # pragma: no cover - needs a GPU
    """A captured CUDA graph: ``replay()`` launches all of its kernels with one call."""

    def __init__(self, graph: Any, stream: Any):
        self.graph, self.stream = graph, stream

    def replay(self) -> None:
        """Queue every captured kernel again on the device's stream."""
        self.graph.launch(stream=self.stream)


def _gemm_half(x: Any, y: Any, out: Any, bf16: bool, stream: Any) -> None:  # pragma: no cover
    """Batched row-major x (..., m, k) @ y (..., k, n) -> out in float16/bfloat16 through
    cublasGemmStridedBatchedEx on ``stream``, accumulating in float32. Row-major C = A B is
    column-major C^T = B^T A^T, so cuBLAS gets (y, x) and (n, m, k)."""
    m, k, n = x.shape[-2], x.shape[-1], y.shape[-1]
    batch = int(np.prod(out.shape[:-2])) if out.ndim > 2 else 1
    dtype = 14 if bf16 else 2  # CUDA_R_16BF, CUDA_R_16F
    compute = 68  # CUBLAS_COMPUTE_32F
    one, zero = np.array(1.0, np.float32), np.array(0.0, np.float32)
    target = out if out.flags.c_contiguous else cupy.empty(out.shape, out.dtype)
    handle = cupy.cuda.device.get_cublas_handle()
    cublas.setStream(handle, stream.ptr)  # the handle is shared: its stream is whoever set it
    cublas.gemmStridedBatchedEx(
        handle, cublas.CUBLAS_OP_N, cublas.CUBLAS_OP_N,
        n, m, k, one.ctypes.data, y.data.ptr, dtype, n, k * n, x.data.ptr, dtype, k, m * k,
        zero.ctypes.data, target.data.ptr, dtype, n, m * n, batch, compute,
        cublas.CUBLAS_GEMM_DEFAULT_TENSOR_OP)
    if target is not out:
        out[...] = target


def _cuda() -> CUDADevice:
    """Build the cuda device, or raise one line saying why it cannot run here."""
    problem = driver_problem()
    if problem is not None:
        raise CUDAUnavailableError(f"device 'cuda' is not available: {problem}; use "
                                   "device='cpu' or 'numpy'") from None
    return CUDADevice()


# The default device where a GPU is present; listed (last) everywhere else, so asking for it
# gives the one-line reason instead of "unknown device".
register_device("cuda", _cuda, priority=lambda: 20 if driver_problem() is None else -10)
