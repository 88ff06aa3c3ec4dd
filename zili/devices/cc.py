"""Building C with the system's compiler (``cc``, or ``CC``) into one shared object: the cpu
device's compile step, and the flags its cache key names.

A jit plan arrives as one source holding many kernels, cut into units by
:data:`zili.compiler.runtime.UNIT_BREAK` lines. :func:`build_shared` compiles the units at
once (each with the source's prelude, one compiler process per unit) and links the objects
into one shared object, so a plan of hundreds of kernels is one load and its build takes
about 1/cores of the time. A ``#line`` directive at the top of every unit makes the
compiler's messages point into the saved source, not into the short-lived unit files.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from zili.compiler.runtime import UNIT_BREAK
from zili.devices.compiled import CompileError

# -ffp-contract=off: no FMA, so fused kernels round as eager ones do. -fno-trapping-math:
# no kernel reads floating-point exception flags, and without it GCC will not turn a float
# comparison feeding a select into a vector blend, which kept zili_exp2f/log2f (and every
# clamp) scalar; it changes no value. (-shared is ignored with -c, where the units are
# compiled.)
FLAGS = ["-O3", "-march=native", "-fopenmp", "-fPIC", "-shared", "-fwrapv", "-std=gnu11",
         "-fno-math-errno", "-fno-trapping-math", "-ffp-contract=off"]


def compiler_command() -> str | None:
    """The C compiler to use (``CC`` or ``cc``), or None when none is on the PATH."""
    cc = os.environ.get("CC", "cc")
    return cc if shutil.which(cc.split()[0]) else None


def build_jobs() -> int:
    """How many compilers to run at once: the cores this process may use."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:
        return os.cpu_count() or 1


def build_shared(cc: str, name: str, source_path: Path, source: str, prelude: str) -> bytes:
    """Compile ``source`` (saved at ``source_path``; its units after the first get
    ``prelude`` again) to a shared object and return its bytes.

    Raises:
        CompileError: with the compiler's message, naming the kernel, the source and the
            command.
    """
    units = source.split(UNIT_BREAK)
    folder = Path(tempfile.mkdtemp(prefix=".build-", dir=source_path.parent))
    try:
        if len(units) == 1:
            _run([*cc.split(), *FLAGS, "-o", str(folder / "k.so"),
                  str(source_path), "-lm"], name, source_path)
            return (folder / "k.so").read_bytes()
        line, procs = 1, []
        for i, unit in enumerate(units):
            text = unit if i == 0 else f'{prelude}#line {line} "{source_path}"\n{unit}'
            line += unit.count("\n") + 1  # the break itself is one line
            path = folder / f"unit{i}.c"
            path.write_text(text)
            cmd = [*cc.split(), *FLAGS, "-c", "-o", str(path.with_suffix(".o")), str(path)]
            procs.append((cmd, subprocess.Popen(cmd, stdout=subprocess.PIPE,
                                                stderr=subprocess.PIPE, text=True)))
        errors = [proc.communicate()[1] for _, proc in procs]  # wait for all before failing
        for (cmd, proc), err in zip(procs, errors):
            _check(proc.returncode, err, cmd, name, source_path)
        objects = [str(folder / f"unit{i}.o") for i in range(len(units))]
        _run([*cc.split(), *FLAGS, "-o", str(folder / "k.so"), *objects, "-lm"],
             name, source_path)
        return (folder / "k.so").read_bytes()
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _run(cmd: list[str], name: str, source_path: Path) -> None:
    done = subprocess.run(cmd, capture_output=True, text=True)
    _check(done.returncode, done.stderr, cmd, name, source_path)


def _check(code: int, stderr: str, cmd: list[str], name: str, source_path: Path) -> None:
    if code != 0:
        raise CompileError(f"cpu device: compiling kernel {name} failed (source: "
                           f"{source_path}; command: {' '.join(cmd)}):\n{stderr[-4000:]}")
