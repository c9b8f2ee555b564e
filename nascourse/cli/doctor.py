"""``python -m nascourse doctor``: is this machine ready for the course?"""

from __future__ import annotations

import importlib
import platform
import shutil
import subprocess
import sys
from pathlib import Path

import torch

from ..data import available_offline, default_data_root
from ..profile import get_profile, select_device

PACKAGES = ("torch", "torchvision", "numpy", "sklearn", "scipy", "matplotlib", "tqdm", "ipywidgets", "jupyterlab", "nbval")


def _version(module: str) -> str:
    try:
        return getattr(importlib.import_module(module), "__version__", "installed")
    except Exception:  # a missing or broken package is what doctor exists to report
        return "MISSING"


def _kernel_imports_library() -> str:
    """Ask the Jupyter kernel that notebooks use (python3) whether it can import nascourse."""
    try:
        from jupyter_client.kernelspec import KernelSpecManager

        spec = KernelSpecManager().get_kernel_spec("python3")
    except Exception as error:
        return f"no python3 Jupyter kernel found ({error}); run `python -m ipykernel install --user`"
    python = spec.argv[0]
    if python in {"python", "python3"}:
        python = shutil.which(python) or sys.executable
    check = subprocess.run([python, "-c", "import nascourse"], capture_output=True, text=True, timeout=120)
    if check.returncode == 0:
        return f"yes ({python})"
    return f"NO: {python} cannot import nascourse; run `pip install -r requirements.txt` in that environment"


def doctor(data_root: str | None) -> int:
    print(f"python        {platform.python_version()} ({sys.executable})")
    for name in PACKAGES:
        print(f"{name:<13} {_version(name)}")
    ray = _version("ray")  # optional: parallel evaluation (pip install -e ".[ray]")
    print(f"{'ray':<13} " + ('not installed (optional: pip install -e ".[ray]")' if ray == "MISSING" else ray))
    problems = []
    try:
        profile = get_profile()
        print(f"profile       {profile.name}: {profile.description}")
    except ValueError as error:
        problems.append(str(error))
    try:
        device = select_device()
        detail = ""
        if device.type == "cuda":
            detail = f" ({torch.cuda.get_device_name(device)})"
        print(f"device        {device}{detail}")
    except (ValueError, RuntimeError) as error:
        problems.append(str(error))
    root = Path(data_root) if data_root is not None else default_data_root()
    offline = available_offline(root)
    print(f"datasets      in {root.resolve()}: " + ", ".join(
        f"{name} {'yes' if ok else 'no (needs a download)'}" for name, ok in offline.items()
    ))
    kernel = _kernel_imports_library()
    print(f"kernel        notebooks' kernel imports nascourse: {kernel}")
    if kernel.startswith(("NO", "no ")):
        problems.append(kernel)
    if any(_version(name) == "MISSING" for name in PACKAGES):
        problems.append("some packages are missing: run `pip install -r requirements.txt`")
    for problem in problems:
        print(f"PROBLEM: {problem}")
    print("all good" if not problems else f"{len(problems)} problem(s) found")
    return 1 if problems else 0


def add_doctor_parser(commands) -> None:
    doctor_parser = commands.add_parser(
        "doctor", help="print versions, device, profile, offline datasets, and whether notebooks can import nascourse"
    )
    doctor_parser.add_argument(
        "--data", default=None, help="dataset folder (default: $NASCOURSE_DATA, else the course's data/)"
    )
