"""What every long command of ``python -m nascourse`` shares: the run folder and its rules.

A run folder holds ``config.json`` (the settings, so ``--resume`` needs no options), the command's
checkpoint or log, and its results. Every file is written to a temporary name first and renamed, so a
kill never leaves half a file. A folder that already holds a run is refused unless ``--resume`` is
given; resuming with settings that differ from the saved ones is refused too. Problems the user can
fix are a ``RunError``: printed as one ``error:`` line with exit code 1 (or 2 for misuse), never a
traceback; Ctrl-C says how to continue.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import torch

from ..data import DatasetSplits, DatasetUnavailableError, load_dataset
from ..profile import PROFILES, Profile, get_profile, select_device

__all__ = ["RunError", "PreparedRun", "prepare_run", "profile_of", "add_run_folder_options", "add_run_options", "write_json", "saved_settings", "merge_settings",
           "choose_device", "guard_run_folder", "run_guarded"]


class RunError(Exception):
    """A problem the user can fix; printed as one line, no traceback."""

    def __init__(self, message: str, code: int = 1):
        super().__init__(" ".join(line.strip() for line in str(message).splitlines()))  # one line, however long
        self.code = code


def write_json(path: Path, content: Any) -> None:
    temporary = path.with_name(path.name + ".tmp")
    temporary.write_text(json.dumps(content, indent=1) + "\n")
    os.replace(temporary, path)  # a reader never sees half a file, even after a kill


def saved_settings(resume: bool, run_dir: Path) -> dict | None:
    """With ``resume``, the settings in the run folder's config.json (None without one)."""
    saved_file = run_dir / "config.json"
    if not (resume and saved_file.exists()):
        return None
    try:
        return json.loads(saved_file.read_text())["settings"]
    except (json.JSONDecodeError, KeyError, TypeError) as error:
        raise RunError(f"{saved_file} is not readable ({type(error).__name__}: {error}); restore it or choose "
                       "another --run-dir.", code=2) from None


def merge_settings(given: dict, saved: dict | None, defaults: Callable[[], dict], run_dir: Path) -> dict:
    """Given options, else (when resuming) the saved ones, else ``defaults()``; a resume that gives other
    values than the saved ones is refused."""
    if saved is None:
        return {**defaults(), **given}
    differing = {key: (saved.get(key), value) for key, value in given.items() if saved.get(key) != value}
    if differing:
        raise RunError(f"{run_dir} holds a run with other settings; (saved, given) differ in {differing}. "
                       "Resume with the same settings (or none: they are read from config.json), "
                       "or choose another --run-dir.", code=2)
    return {**saved, **given}


def choose_device(option: str | None, saved: dict | None, run_dir: Path):
    """The device of ``--device``, else the saved run's, else the default; a resumed run stays on its kind of
    device (its random-number state belongs to it)."""
    saved_device = saved.get("device") if saved is not None else None
    try:
        device = select_device(option if option is not None else saved_device)
    except (ValueError, RuntimeError) as error:
        raise RunError(str(error)) from None
    if saved_device is not None and torch.device(saved_device).type != device.type:
        raise RunError(f"The run in {run_dir} ran on {saved_device}; its random-number state belongs to that "
                       f"kind of device. Resume it there (--device {saved_device}).", code=2)
    return device


def guard_run_folder(run_dir: Path, resume: bool, markers: list[str], what: str) -> bool:
    """Refuse to start over a run without ``--resume``; returns whether a run is there to continue.

    ``markers``: glob patterns of the files that mean a run has started (its checkpoint or log)."""
    existing = sorted(p for pattern in markers for p in run_dir.glob(pattern)) if run_dir.is_dir() else []
    if existing and not resume:
        raise RunError(f"{run_dir} already holds a {what} ({existing[0].name}). Pass --resume to continue it, "
                       f"or choose another --run-dir to start a new one.", code=2)
    if resume and not existing:
        print(f"note: nothing to resume in {run_dir}; starting a new {what} there")
    return bool(existing)


def run_guarded(run: Callable[[argparse.Namespace], int], args: argparse.Namespace, unit: str) -> int:
    """Run a command: a ``RunError`` becomes one ``error:`` line, Ctrl-C a note on how to continue."""
    try:
        return run(args)
    except RunError as error:
        print(f"error: {error}", file=sys.stderr)
        return error.code
    except KeyboardInterrupt:
        print(f"\ninterrupted: {args.run_dir} keeps the run up to its last finished {unit}; "
              "continue it with the same command and --resume", file=sys.stderr)
        return 130


def add_run_folder_options(parser: argparse.ArgumentParser, kept: str, what: str = "search") -> None:
    """The options that say where a run lives and what budgets it starts from: --run-dir, --resume, --profile."""
    parser.add_argument("--run-dir", required=True, metavar="DIR", help=f"folder for {kept}")
    parser.add_argument("--resume", action="store_true", help=f"continue the {what} in --run-dir")
    parser.add_argument("--profile", choices=tuple(PROFILES), default=None,
                        help="budget defaults (default: $NASCOURSE_PROFILE, else quick)")


def add_run_options(parser: argparse.ArgumentParser, what: str = "search") -> None:
    """The options every long command takes: seed, device, threads, dataset folder."""
    parser.add_argument("--seed", type=int, default=None, help=f"seed of the {what} (default: 0)")
    parser.add_argument("--device", default=None,
                        help="auto, cpu, cuda, cuda:N, mps (default: $NASCOURSE_DEVICE, else auto)")
    parser.add_argument("--threads", type=int, default=None, help="CPU threads for torch (default: torch's choice)")
    parser.add_argument("--data", default=None, help="dataset folder (default: $NASCOURSE_DATA, else the course's data/)")


def profile_of(name: str | None) -> Profile:
    """The profile of ``--profile`` (else ``$NASCOURSE_PROFILE``, else quick); an unknown name is a ``RunError``."""
    try:
        return get_profile(name)
    except ValueError as error:
        raise RunError(str(error)) from None


@dataclass
class PreparedRun:
    """A command's run folder, ready to go: its settings (given, else saved, else the profile's), the saved
    settings when resuming, and the device."""

    folder: Path
    saved: dict | None
    settings: dict
    device: torch.device

    def load_data(self, root: str | None) -> DatasetSplits:
        """The dataset of the settings on the run's device; a missing or unknown dataset is a ``RunError``."""
        try:
            return load_dataset(self.settings["dataset"], root=root, device=self.device,
                                train_subset=self.settings.get("train_subset"))
        except (ValueError, DatasetUnavailableError) as error:
            raise RunError(str(error)) from None

    def start(self, command: str) -> None:
        """Create the folder and write config.json, so that ``--resume`` needs no options."""
        self.folder.mkdir(parents=True, exist_ok=True)
        write_json(self.folder / "config.json", {"command": command, "settings": self.settings,
                                                 "torch": torch.__version__})


def prepare_run(args: argparse.Namespace, markers: list[str], what: str,
                settings_of: Callable[[dict | None], dict]) -> PreparedRun:
    """What every long command does first: refuse to start over a run without ``--resume``, read the saved
    settings, work out the settings (``settings_of(saved)``), set torch's threads and choose the device (a
    resumed run stays on its kind of device)."""
    folder = Path(args.run_dir)
    guard_run_folder(folder, args.resume, markers, what)
    saved = saved_settings(args.resume, folder)
    settings = settings_of(saved)
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    device = choose_device(args.device, saved, folder)
    settings["device"] = str(device)
    return PreparedRun(folder, saved, settings, device)
