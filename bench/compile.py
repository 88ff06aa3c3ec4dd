"""Cold start of the demo's jitted training step on the ``cpu`` device: how long the first
steps take with an empty kernel cache, and where that time goes.

The step is ``bench/train_gpt.py``'s (the ``zili demo`` GPT, AdamW, gradient clipping) at
batch 16. ``zili.jit`` runs call 1 eagerly (it creates the optimizer state; every primitive
compiles its eager kernel the first time), traces call 2 (trace, schedule, render, compile
the plan as one shared object, run it) and replays from call 3 on. Each run happens in a
fresh process whose ``ZILI_CACHE_DIR`` is a new temporary folder (the user's own cache is
never read nor touched): first empty ("cold"), then again with what the cold run left
there ("warm": the plan's shared object is loaded, not built). Wall time depends on the
machine's load (printed); CPU seconds of this process and of the compilers it started do
much less. Usage:

    .venv/bin/python bench/compile.py [--batch-size 16] [--profile]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import zili  # noqa: E402
from zili.compiler.runtime import UNIT_BREAK, Stats  # noqa: E402
from zili.jit import JitFunction  # noqa: E402
from zili.jit import build as jit_build  # noqa: E402
from zili.models.gpt import GPT, GPTConfig  # noqa: E402
from zili.train import TrainSettings, batch_tensors, make_optimizer, make_train_step  # noqa: E402

PHASES: dict[str, float] = {}


def cpu_seconds() -> tuple[float, float]:
    """CPU seconds (user + system) of this process and of its finished children."""
    me = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime, kids.ru_utime + kids.ru_stime


def timed(name: str, fn: Any) -> Any:
    """``fn`` adding its wall time to ``PHASES[name]``."""
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        start = time.perf_counter()
        try:
            return fn(*args, **kwargs)
        finally:
            PHASES[name] = PHASES.get(name, 0.0) + time.perf_counter() - start
    return wrapper


def child(args: argparse.Namespace) -> None:
    """Run three steps in this process and print one JSON line of measurements."""
    device = zili.get_device("cpu")
    jit_build.schedule = timed("schedule", jit_build.schedule)
    jit_build.compile_plan = timed("render + compile", jit_build.compile_plan)
    jit_build.run_steps = timed("first run", jit_build.run_steps)
    jit_build.build_plan = timed("build_plan", jit_build.build_plan)
    device.build = timed("compiler processes", device.build)
    config = GPTConfig(vocab_size=3600, block_size=128, n_layer=4, n_head=4, n_embd=192)
    settings = TrainSettings()
    zili.manual_seed(0)
    model = GPT(config).to("cpu")
    step = make_train_step(model, make_optimizer(model, settings), settings.grad_clip,
                           use_jit=True)
    rng = np.random.default_rng(0)
    calls = []
    for call in range(3):
        x, y = (rng.integers(0, config.vocab_size, (args.batch_size, config.block_size))
                for _ in range(2))
        xt, yt = batch_tensors(x, y, device)
        PHASES.clear()
        compiled, (me, kids), start = Stats.compiled, cpu_seconds(), time.perf_counter()
        if call == 1 and args.profile:
            import cProfile
            import pstats
            profile = cProfile.Profile()
            profile.runcall(step, xt, yt, settings.lr)
            pstats.Stats(profile, stream=sys.stderr).sort_stats("tottime").print_stats(25)
        else:
            step(xt, yt, settings.lr)
        wall = time.perf_counter() - start
        me2, kids2 = cpu_seconds()
        calls.append({"wall": wall, "cpu": me2 - me, "cc_cpu": kids2 - kids,
                      "kernels": Stats.compiled - compiled, "phases": dict(PHASES)})
    jitted = [c.cell_contents for c in step.__closure__ or ()
              if isinstance(c.cell_contents, JitFunction)]
    plan = jitted[0].plan if jitted else None
    source = next(iter(plan_sources(plan)), "") if plan is not None else ""
    print(json.dumps({"calls": calls, "functions": source.count("\nint "),
                      "units": source.count(UNIT_BREAK) + 1 if source else 0,
                      "plan_kernels": plan.kernel_count if plan is not None else 0}))


def plan_sources(plan: Any) -> list[str]:
    """The distinct sources of a plan's compiled kernels."""
    out: list[str] = []
    for s in plan.steps:
        if s.kind == "kernel" and s.launch[0].source not in out:
            out.append(s.launch[0].source)
    return out


def run(cache: str, args: argparse.Namespace) -> dict:
    """One child process with ``ZILI_CACHE_DIR=cache``; its measurements."""
    cmd = [sys.executable, __file__, "--child", "--batch-size", str(args.batch_size)]
    if args.profile:
        cmd.append("--profile")
    env = dict(os.environ, ZILI_CACHE_DIR=cache)
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True)
    if args.profile:
        print(done.stderr)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    """Run the cold and the warm process and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--profile", action="store_true",
                        help="print cProfile's top functions of call 2 (trace + compile)")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args)
        return
    cache = tempfile.mkdtemp(prefix="zili-bench-compile-")
    try:
        load = os.getloadavg()[0]
        cold = run(cache, args)
        warm = run(cache, args)
        load_after = os.getloadavg()[0]
    finally:
        shutil.rmtree(cache, ignore_errors=True)
    print(f"demo GPT step (4 layers, width 192, context 128, vocabulary 3600), batch "
          f"{args.batch_size}, cpu device, {os.cpu_count()} cores; load average "
          f"{load:.2f} before, {load_after:.2f} after")
    print(f"plan: {cold['plan_kernels']} kernels, {cold['functions']} distinct functions "
          f"in one shared object, compiled as {cold['units']} parallel unit(s)\n")
    print(f"{'':<44} {'wall s':>8} {'cpu s':>8} {'cc cpu s':>9} {'kernels':>8}")
    names = ["call 1 (eager first step)", "call 2 (trace + compile + run)", "call 3 (replay)"]
    for label, result in (("cold", cold), ("warm", warm)):
        for name, c in zip(names, result["calls"]):
            print(f"{label + ' ' + name:<44} {c['wall']:>8.2f} {c['cpu']:>8.2f} "
                  f"{c['cc_cpu']:>9.2f} {c['kernels']:>8}")
    phases = cold["calls"][1]["phases"]
    other = phases.get("build_plan", 0.0) - sum(
        phases.get(k, 0.0) for k in ("schedule", "render + compile", "first run"))
    trace = cold["calls"][1]["wall"] - phases.get("build_plan", 0.0)
    print("\ncold call 2, wall seconds by phase:")
    rows = [("trace (run the step's Python, record)", trace),
            ("schedule (fuse into kernels)", phases.get("schedule", 0.0)),
            ("render (C source)", phases.get("render + compile", 0.0)
             - phases.get("compiler processes", 0.0)),
            ("compile (cc, parallel units, link)", phases.get("compiler processes", 0.0)),
            ("first run of the plan", phases.get("first run", 0.0)),
            ("other (find outputs, bind buffers)", other)]
    for name, seconds in rows:
        print(f"  {name:<40} {seconds:>6.2f}")
    first = cold["calls"][1]["wall"] - phases.get("first run", 0.0)
    print(f"  {'trace + compile (call 2 less its run)':<40} {first:>6.2f}")


if __name__ == "__main__":
    main()
