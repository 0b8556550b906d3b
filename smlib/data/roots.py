"""Where data lives: the data root, the cache, and archives unpacked once into the cache.

The data root is, in this order: the ``root`` argument, ``$SMLIB_DATA``, then ``<cache>/data``. The cache is
``$SMLIB_CACHE`` or ``~/.cache/smlib``. A dataset is looked for in the data root and in ``<cache>/data`` (where
``download=True`` puts what torchvision fetches). An archive (``.tar.gz``, ``.tgz``, ``.zip``) that holds a dataset
is unpacked once into ``<cache>/extracted/<archive stem>/`` and reused after; the data root itself is never written
to (it may be read-only, like a shared network folder).
"""
from __future__ import annotations

import os
import shutil
import tarfile
import tempfile
import warnings
import zipfile
from pathlib import Path

ARCHIVE_SUFFIXES = (".tar.gz", ".tgz", ".zip")
_STAMP = ".smlib-archive"  # written inside an extracted folder: name and size of the archive it came from


class DatasetNotFoundError(FileNotFoundError):
    """A dataset is not where we looked. The message (one line) says where we looked and how to provide it."""


def cache_dir() -> Path:
    """The smlib cache: ``$SMLIB_CACHE``, else ``~/.cache/smlib`` (not created here)."""
    env = os.environ.get("SMLIB_CACHE")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "smlib"


def default_data_root() -> Path:
    """``<cache>/data``: the data root when neither ``root=`` nor ``$SMLIB_DATA`` is given, and where downloads go."""
    return cache_dir() / "data"


def resolve_data_root(root: str | os.PathLike | None = None) -> tuple[Path, str]:
    """The data root and where it came from: ``(path, "root=" | "$SMLIB_DATA" | "default cache")``.

    The path is returned whether or not it exists; dataset finders report a missing one in their error.
    """
    if root is not None:
        return Path(root).expanduser(), "root="
    env = os.environ.get("SMLIB_DATA")
    if env:
        return Path(env).expanduser(), "$SMLIB_DATA"
    return default_data_root(), "default cache"


def search_roots(root: str | os.PathLike | None = None) -> list[Path]:
    """Folders a dataset is looked for in: the resolved data root, then ``<cache>/data`` (downloads), deduplicated."""
    first, _ = resolve_data_root(root)
    roots = [first]
    if default_data_root().resolve() != first.resolve():
        roots.append(default_data_root())
    return roots


def archive_stem(path: str | os.PathLike) -> str:
    """``cifar10-jpeg.tar.gz`` -> ``cifar10-jpeg`` (the name of its folder under ``<cache>/extracted``)."""
    name = Path(path).name
    for suffix in ARCHIVE_SUFFIXES:
        if name.lower().endswith(suffix):
            return name[: -len(suffix)]
    raise ValueError(f"{path} is not a .tar.gz, .tgz or .zip archive.")


def is_archive(path: str | os.PathLike) -> bool:
    """True for an existing file whose name ends in .tar.gz, .tgz or .zip."""
    return Path(path).is_file() and Path(path).name.lower().endswith(ARCHIVE_SUFFIXES)


def find_archives(folder: Path, stems: list[str]) -> list[Path]:
    """Archives ``folder/<stem><suffix>`` that exist, in the order of ``stems`` then ``ARCHIVE_SUFFIXES``."""
    return [folder / f"{s}{x}" for s in stems for x in ARCHIVE_SUFFIXES if (folder / f"{s}{x}").is_file()]


def _unpack(archive: Path, dest: Path) -> None:
    """Unpack ``archive`` into the (empty, existing) folder ``dest``, refusing members that would escape it."""
    if archive.name.lower().endswith(".zip"):
        with zipfile.ZipFile(archive) as zf:
            zf.extractall(dest)  # zipfile strips absolute paths and '..' by itself
        return
    with tarfile.open(archive) as tf:
        if hasattr(tarfile, "data_filter"):  # Python >= 3.11.4 / 3.10.12: links, devices and escapes are refused
            tf.extractall(dest, filter="data")
        else:
            for m in tf.getmembers():
                target = (dest / m.name).resolve()
                if not (m.isfile() or m.isdir()) or not target.is_relative_to(dest.resolve()):
                    raise ValueError(f"{archive}: refusing unsafe member {m.name!r}; unpack it by hand.")
            tf.extractall(dest)


def extract_once(archive: str | os.PathLike) -> Path:
    """Unpack ``archive`` into ``<cache>/extracted/<stem>/`` unless already there; return that folder.

    Atomic: the archive is unpacked into a temporary folder beside the target, which is then renamed, so a crash
    leaves no half-unpacked folder behind and two processes racing on the same archive both end up with one
    complete copy (the loser of the rename discards its own). The archive's folder is only read.
    """
    archive = Path(archive)
    target = cache_dir() / "extracted" / archive_stem(archive)
    size = archive.stat().st_size
    if target.is_dir():
        _check_stamp(target, archive, size)
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".tmp-{target.name}-", dir=target.parent))
    os.chmod(tmp, 0o755)  # mkdtemp makes it private; the cache may be shared
    try:
        _unpack(archive, tmp)
        (tmp / _STAMP).write_text(f"{archive.name}\n{size}\n")
        try:
            os.rename(tmp, target)
        except OSError:
            if not target.is_dir():  # not a lost race: a real error
                raise
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return target


def _check_stamp(target: Path, archive: Path, size: int) -> None:
    # Two different archives with the same name would share one cache folder; say so instead of mixing them up.
    stamp = target / _STAMP
    if stamp.is_file():
        lines = stamp.read_text().split("\n")
        if len(lines) > 1 and lines[1].strip() != str(size):
            warnings.warn(f"{target} was unpacked from a different {archive.name} ({lines[1].strip()} bytes, now "
                          f"{size}); delete {target} to unpack {archive} again.", stacklevel=3)


def describe_root(root: str | os.PathLike | None) -> str:
    """A short phrase for error messages, e.g. ``/data (from $SMLIB_DATA)``."""
    path, source = resolve_data_root(root)
    missing = "" if path.is_dir() else ", which does not exist"
    return f"{path} (from {source}{missing})"



__all__ = ["DatasetNotFoundError", "cache_dir", "default_data_root", "resolve_data_root", "search_roots",
           "archive_stem", "is_archive", "find_archives", "extract_once", "describe_root"]
