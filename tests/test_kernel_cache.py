"""The kernel cache is code (issue 8 item 5): never load what another user could have written,
check each object against its digest, rebuild damaged ones, report a full disk as such, fall
back to a private folder (with one line) when the cache may not be used."""

from __future__ import annotations

import ctypes
import errno
import hashlib
import inspect
import os
import stat
from pathlib import Path

import numpy as np
import pytest

import zili
from zili.devices import kernel_cache as kc
from zili.devices.kernel_cache import KernelCache

SOURCE = "int answer(void) { return 42; }\n"


def _cc_build(tmp_path: Path, source: str = SOURCE):
    """A build function that compiles ``source`` with the system compiler, counting calls."""
    import subprocess

    calls = []

    def build() -> bytes:
        calls.append(1)
        src = tmp_path / f"k{len(calls)}.c"
        src.write_text(source)
        out = tmp_path / f"k{len(calls)}.so"
        subprocess.run(["cc", "-shared", "-fPIC", "-o", str(out), str(src)], check=True)
        return out.read_bytes()
    return build, calls


def _compile(device, name: str, source: str, ints: int):
    """``device.compile`` under either contract: ctypes argtypes (before the CompiledDevice
    base) or a Signature of buffers and int64s (after); returns the callable kernel."""
    if "argtypes" in inspect.signature(device.compile).parameters:
        return device.compile(name, source, [ctypes.c_longlong] * ints).fn
    from zili.compiler.runtime import Signature

    return device.compile(name, source, Signature(0, ints, False)).handle


def _answer(path: Path) -> int:
    return ctypes.CDLL(str(path)).answer()


def test_cache_builds_once_records_digest_and_reuses(tmp_path: Path) -> None:
    cache = KernelCache("dev", tmp_path / "cache")
    build, calls = _cc_build(tmp_path)
    assert cache.load("k.so", build, _answer) == 42
    assert cache.load("k.so", build, _answer) == 42 and len(calls) == 1
    obj = cache.directory / "k.so"
    recorded = Path(f"{obj}.sha256").read_text().strip()
    assert recorded == hashlib.sha256(obj.read_bytes()).hexdigest()
    assert stat.S_IMODE(os.stat(obj).st_mode) & 0o022 == 0
    assert stat.S_IMODE(os.stat(cache.directory).st_mode) & 0o077 == 0  # created private


@pytest.mark.parametrize("damage", ["empty", "truncated", "flipped", "no_digest", "bad_digest"])
def test_damaged_cached_object_is_detected_and_rebuilt(tmp_path: Path, damage: str,
                                                       capsys) -> None:
    cache = KernelCache("dev", tmp_path / "cache")
    build, calls = _cc_build(tmp_path)
    # store without loading: dlopen keeps a library by path for the life of the process,
    # and the damage below stands for damage between two runs
    obj = cache.store("k.so", build)
    data = obj.read_bytes()
    if damage == "empty":
        obj.write_bytes(b"")
    elif damage == "truncated":
        obj.write_bytes(data[: len(data) // 2])
    elif damage == "flipped":
        obj.write_bytes(data[:100] + bytes([data[100] ^ 1]) + data[101:])
    elif damage == "no_digest":
        Path(f"{obj}.sha256").unlink()
    else:
        Path(f"{obj}.sha256").write_text("0" * 64)
    capsys.readouterr()
    # a fresh process's cache: the damaged object must never reach dlopen
    opened = []
    assert cache.load("k.so", build, lambda p: opened.append(p.read_bytes()) or _answer(p)) == 42
    assert len(calls) == 2 and opened[0] == obj.read_bytes()
    assert hashlib.sha256(obj.read_bytes()).hexdigest() == \
        Path(f"{obj}.sha256").read_text().strip()
    err = capsys.readouterr().err
    if damage != "no_digest":
        assert err.count("\n") == 1 and "rebuilding" in err


def test_object_the_loader_rejects_is_rebuilt_once(tmp_path: Path, capsys) -> None:
    cache = KernelCache("dev", tmp_path / "cache")
    build, calls = _cc_build(tmp_path)
    cache.store("k.so", lambda: b"not an ELF file")  # recorded, but not loadable
    assert cache.load("k.so", build, _answer) == 42 and len(calls) == 1
    assert "cannot be loaded" in capsys.readouterr().err


def test_planted_object_writable_by_others_is_not_loaded(tmp_path: Path) -> None:
    cache = KernelCache("dev", tmp_path / "cache")
    build, calls = _cc_build(tmp_path)
    obj = cache.store("k.so", build)
    os.chmod(obj, 0o666)
    assert "group or others" in cache.object_problem(obj)
    assert cache.load("k.so", build, _answer) == 42 and len(calls) == 2
    assert stat.S_IMODE(os.stat(obj).st_mode) & 0o022 == 0


def test_cache_folder_writable_by_others_is_refused_for_a_private_one(tmp_path: Path,
                                                                     capsys) -> None:
    shared = tmp_path / "shared"
    (shared / "dev").mkdir(parents=True)
    os.chmod(shared / "dev", 0o777)
    build, _ = _cc_build(tmp_path)
    # another user planted an object and its digest in the shared folder
    planted = build()
    (shared / "dev" / "k.so").write_bytes(planted)
    (shared / "dev" / "k.so.sha256").write_text(hashlib.sha256(planted).hexdigest())
    cache = KernelCache("dev", shared)
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "group or others may write" in err
    assert cache.directory != shared / "dev"
    assert stat.S_IMODE(os.stat(cache.directory).st_mode) == 0o700
    assert os.stat(cache.directory).st_uid == os.geteuid()
    loaded = []
    cache.load("k.so", build, lambda p: loaded.append(p) or _answer(p))
    assert loaded[0].parent == cache.directory


def test_cache_folder_of_another_user_is_refused(tmp_path: Path, capsys, monkeypatch) -> None:
    foreign = tmp_path / "foreign"
    (foreign / "dev").mkdir(parents=True)
    if os.geteuid() == 0:
        os.chown(foreign / "dev", 4242, -1)  # root can give it away for real
    else:
        mine = os.geteuid()
        monkeypatch.setattr(os, "geteuid", lambda: mine + 1)  # we are now someone else
    cache = KernelCache("dev", foreign)
    assert cache.directory != foreign / "dev"
    assert "not to you" in capsys.readouterr().err


def test_read_only_cache_falls_back_to_a_private_temporary_one(tmp_path: Path, capsys,
                                                              monkeypatch) -> None:
    ro = tmp_path / "ro"
    (ro / "dev").mkdir(parents=True)
    os.chmod(ro / "dev", 0o500)
    if os.geteuid() == 0:  # root writes anywhere; a read-only mount is what access() reports
        real = os.access
        monkeypatch.setattr(os, "access", lambda p, m: False if Path(p) == ro / "dev"
                            and m & os.W_OK else real(p, m))
    cache = KernelCache("dev", ro)
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "read-only" in err and str(cache.directory) in err
    build, _ = _cc_build(tmp_path)
    assert cache.load("k.so", build, _answer) == 42
    os.chmod(ro / "dev", 0o700)


def test_full_disk_while_writing_reports_no_space(tmp_path: Path, monkeypatch) -> None:
    cache = KernelCache("dev", tmp_path / "cache")
    build, _ = _cc_build(tmp_path)

    def full(fd: int) -> None:  # delayed allocation: a full disk often surfaces at fsync
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
    monkeypatch.setattr(os, "fsync", full)
    with pytest.raises(OSError, match="No space left on device") as info:
        cache.load("k.so", build, _answer)
    assert info.value.errno == errno.ENOSPC and str(cache.directory) in str(info.value)
    monkeypatch.undo()
    assert sorted(os.listdir(cache.directory)) == []  # no temporary file left behind


def test_cpu_failed_link_on_full_disk_reports_no_space(tmp_path: Path, monkeypatch) -> None:
    # a compiler whose linker runs out of space: it prints ld's message, removes its output
    # and fails (the old code then died on a FileNotFoundError for the missing temp file)
    fake = tmp_path / "fakecc"
    fake.write_text("#!/bin/sh\n"
                    'while [ $# -gt 0 ]; do [ "$1" = -o ] && rm -f "$2"; shift; done\n'
                    "echo '/usr/bin/ld: final link failed: No space left on device' >&2\n"
                    "exit 1\n")
    fake.chmod(0o755)
    from zili.devices.cpu import CPUDevice

    monkeypatch.setenv("ZILI_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("CC", str(fake))
    device = CPUDevice()
    with pytest.raises(OSError, match="No space left on device") as info:
        _compile(device, "k_full", "int k_full(void) { return 0; }", 0)
    assert info.value.errno == errno.ENOSPC
    left = os.listdir(tmp_path / "cache" / "cpu")
    assert not [f for f in left if f.endswith((".so", ".tmp"))]


def test_cpu_device_uses_the_guarded_cache(tmp_path: Path, monkeypatch) -> None:
    from zili.devices.cpu import CPUDevice

    monkeypatch.setenv("ZILI_CACHE_DIR", str(tmp_path / "cache"))
    device = CPUDevice()  # a fresh device: nothing loaded in memory yet
    fn = _compile(device, "k_twice", "int k_twice(long long x) { return (int)(2 * x); }", 1)
    assert fn(21) == 42
    objects = list((tmp_path / "cache" / "cpu").glob("k_twice_*.so"))
    assert len(objects) == 1
    assert kc.kernel_cache("cpu").object_problem(objects[0]) is None
    # and the device still computes right through it (the numpy device is the oracle)
    a = np.random.default_rng(0).standard_normal((3, 5)).astype(np.float32)
    got = (zili.tensor(a, device="cpu") * 3 + 1).exp().numpy()
    want = (zili.tensor(a, device="numpy") * 3 + 1).exp().numpy()
    np.testing.assert_allclose(got, want, rtol=1e-6)


def test_no_space_is_reported_even_when_the_build_cleanup_fails_after_it(tmp_path: Path
                                                                        ) -> None:
    cache = KernelCache("dev", tmp_path / "cache")

    def build() -> bytes:  # a device whose cleanup unlinks an output the linker removed
        try:
            raise RuntimeError("ld: final link failed: No space left on device")
        finally:
            os.unlink(tmp_path / "already-removed.so")
    with pytest.raises(OSError, match="No space left on device") as info:
        cache.load("k.so", build, _answer)
    assert info.value.errno == errno.ENOSPC


def test_cache_under_a_sticky_shared_parent_is_used(tmp_path: Path, capsys) -> None:
    shared = tmp_path / "tmp-like"
    shared.mkdir()
    os.chmod(shared, 0o1777)  # like /tmp: anyone may create, no one may rename ours
    cache = KernelCache("dev", shared)
    assert cache.directory == shared / "dev" and capsys.readouterr().err == ""
    os.chmod(shared, 0o777)  # without the sticky bit another user could swap our folder
    assert KernelCache("dev", shared).directory != shared / "dev"
    assert "its parent" in capsys.readouterr().err
