"""The on-disk cache of compiled kernels, shared by every compiled device.

A cached kernel is code that zili loads into its own process, so the cache is guarded like
code:

* The folder (``ZILI_CACHE_DIR``, default ``~/.cache/zili``, one subfolder per device) must
  belong to the user and be writable by no one else. If it is not, or it is read-only or
  cannot be created, zili compiles into a private temporary folder for this run instead and
  prints one line saying so; it never loads from the refused folder.
* Every object zili builds is written atomically (temporary file, fsync, rename) with the
  SHA-256 of its bytes beside it (``NAME.sha256``). Before loading, the object must be a
  regular file of the user's, writable by no one else, non-empty and match that digest; an
  object that fails (damaged, empty, truncated, altered, or with no digest) is rebuilt, with
  one line saying so (silently when it merely predates digests), never an error that
  repeats forever. An object that passes but that
  the loader still rejects is rebuilt once too.
* A write that fails because the disk is full raises ``OSError`` whose message says "No
  space left on device" and names the folder.

The digest protects against damage; the ownership and permission checks protect against
other users (anyone who could rewrite the digest could rewrite the object, which is why
only the user may write the folder).

Use: ``cache = kernel_cache(device.name)``; ``cache.write_source(file, text)`` keeps the
generated source beside its object (compiler errors name it); ``cache.load(file, build,
opener)`` returns ``opener(path)`` for a verified object, calling ``build() -> bytes`` first
when there is none to trust.
"""

from __future__ import annotations

import atexit
import errno
import hashlib
import os
import re
import shutil
import stat
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from zili.files import atomic_write

T = TypeVar("T")
_HEX = re.compile(rb"[0-9a-f]{64}")
_LOW_SPACE = 1 << 20  # bytes; below this a failed build is reported as a full disk


def default_root() -> Path:
    """``ZILI_CACHE_DIR``, else ``$XDG_CACHE_HOME/zili``, else ``~/.cache/zili``."""
    root = os.environ.get("ZILI_CACHE_DIR")
    if root:
        return Path(root)
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "zili"


def _say(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def folder_problem(path: Path, parent: bool = False) -> str | None:
    """Why ``path`` may not hold kernels (not a folder, not the user's, writable by group or
    others, read-only), or None when it may. For a ``parent`` only the write permission of
    others matters, and not when its sticky bit keeps them from renaming our folder (/tmp);
    it may belong to anyone (root owns /tmp)."""
    try:
        st = os.stat(path)  # follows a link: what matters is the folder actually used
    except OSError as e:
        return f"it cannot be read ({e.strerror})"
    if not stat.S_ISDIR(st.st_mode):
        return "it is not a folder"
    if parent:
        if st.st_mode & 0o022 and not st.st_mode & stat.S_ISVTX:
            return f"group or others may write to it (mode {st.st_mode & 0o777:o})"
        return None
    if st.st_uid != os.geteuid():
        return f"it belongs to uid {st.st_uid}, not to you (uid {os.geteuid()})"
    if st.st_mode & 0o022:
        return f"group or others may write to it (mode {st.st_mode & 0o777:o})"
    if not os.access(path, os.W_OK | os.X_OK):
        return "it is read-only"
    return None


def _no_space(folder: Path, what: str, cause: BaseException) -> OSError:
    error = OSError(errno.ENOSPC, f"No space left on device: {what} in the kernel cache "
                                  f"{folder} ({cause}); free some space or set ZILI_CACHE_DIR "
                                  "to a folder on another disk")
    error.__cause__ = cause
    return error


def _disk_full(folder: Path, cause: BaseException) -> bool:
    # walk the chain: a build's cleanup (unlinking an output the failed linker already
    # removed) can raise FileNotFoundError while the compiler's "No space" error is its
    # context
    seen: BaseException | None = cause
    for _ in range(8):
        if seen is None:
            break
        if isinstance(seen, OSError) and seen.errno in (errno.ENOSPC, errno.EDQUOT):
            return True
        if "No space left on device" in str(seen):
            return True
        seen = seen.__cause__ or seen.__context__
    try:
        return shutil.disk_usage(folder).free < _LOW_SPACE
    except OSError:
        return False


class KernelCache:
    """One device's folder of compiled kernels (see the module docstring)."""

    def __init__(self, device: str, root: str | os.PathLike[str] | None = None) -> None:
        """Use ``root/device`` (``root`` defaults to :func:`default_root`), or a private
        temporary folder, with one line on stderr, when that folder may not be used."""
        root = Path(root) if root is not None else default_root()
        wanted = root / device
        try:
            wanted.mkdir(mode=0o700, parents=True, exist_ok=True)
        except OSError as e:
            problem: str | None = f"it cannot be created ({e.strerror})"
        else:
            # the parent counts too: whoever may write it may swap the device folder
            problem = folder_problem(wanted)
            parent = folder_problem(root, parent=True)
            if problem is None and parent is not None:
                problem = f"its parent {root}: {parent}"
        if problem is None:
            self.directory = wanted
            return
        self.directory = Path(tempfile.mkdtemp(prefix=f"zili-{device}-kernels-"))
        atexit.register(shutil.rmtree, self.directory, True)
        _say(f"zili: not using the kernel cache {wanted}: {problem}; compiling into the "
             f"private temporary folder {self.directory} for this run")

    def write_source(self, filename: str, text: str) -> Path:
        """Keep a kernel's generated source in the cache (compiler errors point at it)."""
        path = self.directory / filename
        try:
            atomic_write(path, text.encode(), mode=0o600)
        except OSError as e:
            if _disk_full(self.directory, e):
                raise _no_space(self.directory, f"cannot write {filename}", e) from e
            raise
        return path

    def object_problem(self, path: Path) -> str | None:
        """Why the cached object at ``path`` may not be loaded ("missing" when there is
        none), or None when it is the user's, private, non-empty and matches its digest."""
        try:
            st = os.lstat(path)
        except FileNotFoundError:
            return "missing"
        if not stat.S_ISREG(st.st_mode):
            return "is not a regular file"
        if st.st_uid != os.geteuid():
            return f"belongs to uid {st.st_uid}, not to you"
        if st.st_mode & 0o022:
            return f"may be written by group or others (mode {st.st_mode & 0o777:o})"
        if st.st_size == 0:
            return "is empty"
        try:
            recorded = Path(f"{path}.sha256").read_bytes().strip()
        except FileNotFoundError:
            return "has no digest recorded by zili"
        data = path.read_bytes()
        if not _HEX.fullmatch(recorded) or hashlib.sha256(data).hexdigest().encode() != recorded:
            return "does not match the digest recorded when zili compiled it"
        return None

    def store(self, filename: str, build: Callable[[], bytes]) -> Path:
        """Build an object and write it with its digest (object first: a crash between the
        two leaves an object without digest, which is rebuilt).

        Raises:
            OSError: "No space left on device" when the disk is full; whatever ``build``
                raises otherwise.
        """
        path = self.directory / filename
        try:
            data = build()
        except Exception as e:
            if _disk_full(self.directory, e):
                raise _no_space(self.directory, f"building {filename} failed", e) from e
            raise
        if not data:
            raise RuntimeError(f"kernel cache: building {filename} produced an empty object")
        try:
            atomic_write(path, data, mode=0o600)
            atomic_write(f"{path}.sha256", hashlib.sha256(data).hexdigest().encode() + b"\n",
                         mode=0o600)
        except OSError as e:
            if _disk_full(self.directory, e):
                raise _no_space(self.directory, f"cannot write {filename}", e) from e
            raise
        return path

    def load(self, filename: str, build: Callable[[], bytes], opener: Callable[[Path], T]) -> T:
        """``opener(path)`` of the verified object ``filename``; built with ``build`` when it
        is missing or fails a check, and rebuilt once if ``opener`` rejects it.

        Raises:
            OSError: from :meth:`store`, or from ``opener`` on a freshly built object.
        """
        path = self.directory / filename
        problem = self.object_problem(path)
        if problem is not None:
            if problem not in ("missing", "has no digest recorded by zili"):
                _say(f"zili: cached kernel {path} {problem}; rebuilding it")
            self.store(filename, build)
        try:
            return opener(path)
        except OSError as e:
            if problem is not None:
                raise  # just built and still not loadable: a real error, not damage
            _say(f"zili: cached kernel {path} cannot be loaded ({e}); rebuilding it")
        self.store(filename, build)
        return opener(path)


_CACHES: dict[tuple[str, str], KernelCache] = {}


def kernel_cache(device: str) -> KernelCache:
    """The :class:`KernelCache` of ``device`` under the current :func:`default_root` (one per
    process and root, so a refused folder is reported once)."""
    key = (device, str(default_root()))
    cache = _CACHES.get(key)
    if cache is None or not cache.directory.is_dir():
        cache = _CACHES[key] = KernelCache(device)
    return cache
