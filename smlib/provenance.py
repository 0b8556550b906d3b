"""Where a result came from: the command as a user types it, the code version, the machine and the time.

Every results file the library writes carries :func:`provenance`. Paths in it are relative to the repository
(:func:`repo_relative`), so a committed file names no folder of the machine that produced it; the command is
rewritten to the form a reader would type (``python -m smlib diffusion --preset small``), whatever launcher ran it.
"""
from __future__ import annotations

import datetime
import os
import platform
import shlex
import subprocess
import sys
from pathlib import Path

import torch

#: the checkout holding this package (runs/ and results/ live here unless a caller says otherwise)
REPO_ROOT = Path(__file__).resolve().parents[1]


def _git(*args: str, cwd: Path) -> str | None:
    try:
        out = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() if out.returncode == 0 else None


#: what runs write: a committed result that a sweep or ``make bench`` rewrites as it goes does not make the code
#: that produces the next result "uncommitted"
OUTPUT_DIRS = ("results",)


def git_commit(cwd: str | Path | None = None) -> tuple[str | None, bool | None]:
    """(HEAD commit hash, whether tracked files outside :data:`OUTPUT_DIRS` have uncommitted changes) of the
    repository holding ``cwd`` (default: the one holding smlib); (None, None) outside a git checkout or without git.

    A copy of a checkout without its ``.git`` (a lent GPU machine receives the working tree only) may name its
    commit in ``SMLIB_GIT_COMMIT``; it is used only when git finds no repository, and cleanliness is then unknown
    (None), since nothing there can check it.
    """
    cwd = Path(cwd) if cwd is not None else REPO_ROOT
    commit = _git("rev-parse", "HEAD", cwd=cwd)
    if commit is None:
        return os.environ.get("SMLIB_GIT_COMMIT") or None, None
    excluded = [f":(exclude,top){d}" for d in OUTPUT_DIRS]
    status = _git("status", "--porcelain", "--untracked-files=no", "--", ":/", *excluded, cwd=cwd)
    return commit, (bool(status) if status is not None else None)


def cpu_name() -> str:
    """The CPU model string (``/proc/cpuinfo`` on Linux, ``platform.processor()`` elsewhere)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def gpu_names() -> list[str]:
    """Names of the visible CUDA devices ([] without CUDA)."""
    if not torch.cuda.is_available():
        return []
    return [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]


def repo_relative(path: str | os.PathLike) -> str:
    """``path`` relative to :data:`REPO_ROOT` when it lies inside the checkout (``runs/ae/last.pt``); otherwise the
    path as given. The inverse is :func:`resolve_repo_path`."""
    p = Path(path)
    if not p.is_absolute():
        return p.as_posix()
    try:
        return p.resolve().relative_to(REPO_ROOT).as_posix()
    except ValueError:
        return str(p)


#: how a record names a path outside the checkout (a --runs-dir of the user's): this, then its last three parts
OUTSIDE = "<outside the checkout>"


def recorded_path(path: str | os.PathLike) -> str:
    """How a committed record names a file: repo-relative inside the checkout (:func:`repo_relative`); outside it,
    ``<outside the checkout>/`` and the last three parts (``<outside the checkout>/ci/esm-1a2b3c/last.pt``), enough
    to find it under the runs folder the record's command names, and no folder of the machine that wrote it. A
    reader never opens such a path: a run folder's files are read from the folder itself."""
    p = Path(path)
    if not p.is_absolute():
        return p.as_posix()
    rel = repo_relative(p)
    return rel if not Path(rel).is_absolute() else "/".join((OUTSIDE, *p.parts[-3:]))


def resolve_repo_path(path: str | os.PathLike) -> Path:
    """A path read from a results file: relative ones are relative to :data:`REPO_ROOT`."""
    p = Path(path)
    return p if p.is_absolute() else REPO_ROOT / p


def user_command(argv: list[str] | None = None) -> str:
    """The command line of this process as a user would type it.

    ``python /abs/smlib/__main__.py diffusion ...`` (what ``python -m smlib`` leaves in ``sys.argv``) becomes
    ``python -m smlib diffusion ...``; under ``torchrun`` the same holds (``torchrun ... -m smlib`` is said in the
    README); a script inside the checkout is named by its repo-relative path; a Jupyter kernel, whose argv is a
    connection file, is ``jupyter kernel``. Every argument that is a path inside the checkout is made relative."""
    argv = list(sys.argv if argv is None else argv)
    if not argv:
        return "python"
    head, rest = argv[0], argv[1:]
    if Path(head).name == "__main__.py" and Path(head).parent.name == "smlib":
        words = ["python", "-m", "smlib"]
    elif "ipykernel" in Path(head).name or "ipykernel" in head:
        return "jupyter kernel"
    else:
        words = ["python", repo_relative(head)] if head.endswith(".py") else [Path(head).name]
    for arg in rest:
        key, eq, value = arg.partition("=")
        if eq and value.startswith("/"):
            words.append(f"{key}={repo_relative(value)}")
        else:
            words.append(repo_relative(arg) if arg.startswith("/") else arg)
    return shlex.join(words)


def provenance(command: str | None = None) -> dict:
    """{"command", "git_commit", "git_dirty", "cpu", "cpu_count", "gpus", "hardware", "platform",
    "python_version", "torch_version", "cuda_version", "timestamp_utc"}: JSON-ready strings, numbers, bools.

    command: what to record as the command (a notebook passes its own ``papermill``/chapter line); default
    :func:`user_command`. No host name and no absolute path: the record is committed with the results."""
    commit, dirty = git_commit()
    gpus = gpu_names()
    cpu = cpu_name()
    return {
        "command": command if command is not None else user_command(),
        "git_commit": commit,
        "git_dirty": dirty,
        "cpu": cpu,
        "cpu_count": os.cpu_count(),
        "gpus": gpus,
        "hardware": f"{len(gpus)}x {gpus[0]}" if gpus else f"CPU: {cpu}",
        "platform": platform.platform(),
        "python_version": platform.python_version(),
        "torch_version": torch.__version__,
        "cuda_version": torch.version.cuda,
        "timestamp_utc": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
    }


def describe(record: dict) -> str:
    """Four lines for a reader: command, commit, hardware and when, from a :func:`provenance` record."""
    commit = (record.get("git_commit") or "unknown")[:12]
    dirty = " (uncommitted changes)" if record.get("git_dirty") else ""
    return (f"command:  {record.get('command')}\n"
            f"commit:   {commit}{dirty}\n"
            f"hardware: {record.get('hardware')}, torch {record.get('torch_version')}\n"
            f"finished: {record.get('timestamp_utc')}")


__all__ = ["REPO_ROOT", "provenance", "describe", "git_commit", "cpu_name", "gpu_names", "user_command", "repo_relative",
           "recorded_path", "resolve_repo_path", "OUTSIDE"]
