"""The machine and software a result was made with, as RESULTS.md's "Environments" section lists it."""

from __future__ import annotations

import os
import platform
import subprocess
from datetime import UTC, datetime
from importlib import metadata


def _version(dist: str) -> str:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return "not installed"


def _run(cmd: list[str]) -> str | None:
    try:
        res = subprocess.run(cmd, capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return res.stdout.strip() if res.returncode == 0 else None


def _cpu() -> str:
    name = platform.processor() or "unknown"
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            name = next((ln.split(":", 1)[1].strip() for ln in f if ln.startswith("model name")), name)
    except OSError:
        pass
    return f"{name}, {os.cpu_count()} cores"


def environment() -> list[str]:
    commit = _run(["git", "rev-parse", "HEAD"])
    lines = [
        "## Environments",
        f"- date: `{datetime.now(UTC).strftime('%Y-%m-%d %H:%M:%S UTC')}`",
        f"- python version: `{platform.python_version()}`",
        f"- pytorch version: `{_version('torch')}`",
        f"- espnet version: `{_version('espnet')}`",
        f"- numpy version: `{_version('numpy')}`",
        f"- scoring: pesq `{_version('pesq')}`, pystoi `{_version('pystoi')}`, DNSMOS ONNX models of "
        f"speechmos `{_version('speechmos')}` on onnxruntime `{_version('onnxruntime')}`",
    ]
    if commit:
        dirty = bool(_run(["git", "status", "--porcelain", "--untracked-files=no"]))
        lines.append(f"- Git hash: `{commit}`{' (with uncommitted changes)' if dirty else ''}")
        lines.append(f"  - Commit date: `{_run(['git', 'log', '-1', '--format=%cd']) or 'unknown'}`")
    else:
        lines.append("- Git hash: `none` (not a git checkout, or no commit yet)")
    lines.append(f"- CPU: `{_cpu()}`")
    gpus = _run(["nvidia-smi", "--query-gpu=name", "--format=csv,noheader"])
    lines.append(f"- GPU: `{', '.join(gpus.splitlines()) if gpus else 'none'}`")
    return lines
