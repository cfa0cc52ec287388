"""Where and with what a run happened: package versions, platform, host and the git commit of the rootdir."""
from __future__ import annotations

import platform
import subprocess
import sys
from importlib import metadata
from pathlib import Path

from codeguard import __version__

PACKAGES = ("pytest", "torch", "transformers", "onnxruntime", "optimum-onnx", "numpy", "tokenizers", "gguf")


def versions() -> dict[str, str | None]:
    """Installed versions, read from package metadata (importing torch just to ask would cost seconds)."""
    found = {"codeguard": __version__, "python": platform.python_version()}
    for name in PACKAGES:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            found[name] = None
    return found


def machine() -> dict[str, str]:
    return {"host": platform.node(), "platform": platform.platform(), "machine": platform.machine(),
            "python_executable": sys.executable}


def git_state(root: Path) -> dict | None:
    """Commit and dirtiness of the checkout a run came from; None outside git (a report still works)."""
    def git(*args):
        return subprocess.run(["git", "-C", str(root), *args], capture_output=True, text=True, timeout=10)
    try:
        head = git("rev-parse", "HEAD")
        if head.returncode != 0:
            return None
        dirty = git("status", "--porcelain", "--untracked-files=no")
    except (OSError, subprocess.SubprocessError):
        return None
    return {"commit": head.stdout.strip(), "dirty": bool(dirty.stdout.strip())}
