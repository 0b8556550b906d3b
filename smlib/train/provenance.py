"""Where a result came from: command line, code version, machine and time, for every results file we write."""
from __future__ import annotations

import datetime
import os
import platform
import shlex
import socket
import subprocess
import sys
from pathlib import Path

import torch

REPO_ROOT = Path(__file__).resolve().parents[2]


def _git(*args: str, cwd: Path) -> str | None:
    try:
        out = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() if out.returncode == 0 else None


def git_commit(cwd: str | Path | None = None) -> tuple[str | None, bool | None]:
    """(HEAD commit hash, whether tracked files have uncommitted changes) of the repository holding ``cwd``
    (default: the one holding smlib); (None, None) outside a git checkout or without git."""
    cwd = Path(cwd) if cwd is not None else REPO_ROOT
    commit = _git("rev-parse", "HEAD", cwd=cwd)
    if commit is None:
        return None, None
    status = _git("status", "--porcelain", "--untracked-files=no", cwd=cwd)
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


def provenance() -> dict:
    """{"command", "git_commit", "git_dirty", "hostname", "cpu", "cpu_count", "gpus", "hardware", "platform",
    "python_version", "torch_version", "cuda_version", "timestamp_utc"}: JSON-ready strings, numbers, bools."""
    commit, dirty = git_commit()
    gpus = gpu_names()
    cpu = cpu_name()
    return {
        "command": shlex.join([Path(sys.executable).name, *sys.argv]),
        "git_commit": commit,
        "git_dirty": dirty,
        "hostname": socket.gethostname(),
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


__all__ = ["provenance", "describe", "git_commit", "cpu_name", "gpu_names"]
