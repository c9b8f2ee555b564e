"""Every notebook under every seed: the quick profile run top to bottom with ``NASCOURSE_SEED`` = 0..4.

A notebook's assertions are its lesson; a lesson that holds only at seed 0 is a claim about one lucky run.
This sweep runs each (notebook, seed) pair under nbval, as CI runs seed 0, and records pass or fail, the
wall time and, for a failure, the last lines of the error.

    python experiments/notebook_seeds.py                         # every notebook, seeds 0-4
    python experiments/notebook_seeds.py --seeds 1 2 --notebooks 01 05
    python experiments/notebook_seeds.py --table                 # print what is recorded so far

Results are appended to ``runs/notebook_seeds.jsonl`` as each pair finishes; run the same command again
after an interruption and the finished pairs are skipped (``--again`` reruns them).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def notebooks(prefixes: list[str] | None) -> list[Path]:
    found = sorted((ROOT / "notebooks").glob("[0-9][0-9]*_*.ipynb"))
    if prefixes:
        found = [path for path in found if any(path.name.startswith(prefix) for prefix in prefixes)]
        if not found:
            raise SystemExit(f"No notebook matches {prefixes}; the notebooks are in {ROOT / 'notebooks'}.")
    return found


def read(log: Path) -> list[dict]:
    if not log.exists():
        return []
    records = []
    for line in log.read_text(encoding="utf-8").splitlines():
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError:  # a line cut by an interruption: that pair runs again
            pass
    return records


def table(records: list[dict]) -> str:
    latest = {(r["notebook"], r["seed"]): r for r in records}
    seeds = sorted({seed for _, seed in latest})
    names = sorted({name for name, _ in latest})
    lines = [f"{'notebook':34}" + "".join(f"{f'seed {s}':>14}" for s in seeds)]
    for name in names:
        cells = []
        for seed in seeds:
            record = latest.get((name, seed))
            cells.append("" if record is None else f"{'pass' if record['passed'] else 'FAIL'} {record['seconds']:5.0f} s")
        lines.append(f"{name:34}" + "".join(f"{cell:>14}" for cell in cells))
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument("--notebooks", nargs="+", default=None, help="name prefixes, e.g. 01 05")
    parser.add_argument("--log", default=str(ROOT / "runs" / "notebook_seeds.jsonl"))
    parser.add_argument("--again", action="store_true", help="rerun pairs already recorded")
    parser.add_argument("--table", action="store_true", help="only print the recorded results")
    args = parser.parse_args()
    log = Path(args.log)
    if args.table:
        print(table(read(log)))
        return
    done = {(r["notebook"], r["seed"]) for r in read(log)}
    log.parent.mkdir(parents=True, exist_ok=True)
    for seed in args.seeds:
        for path in notebooks(args.notebooks):
            if (path.name, seed) in done and not args.again:
                continue
            environment = {**os.environ, "NASCOURSE_SEED": str(seed), "NASCOURSE_PROFILE": "quick"}
            started = time.perf_counter()
            finished = subprocess.run([sys.executable, "-m", "pytest", "-q", "-x", str(path)], cwd=ROOT,
                                      env=environment, capture_output=True, text=True)
            seconds = time.perf_counter() - started
            record = {"notebook": path.name, "seed": seed, "passed": finished.returncode == 0,
                      "seconds": round(seconds, 1), "error": "" if finished.returncode == 0
                      else "\n".join(finished.stdout.splitlines()[-40:])}
            with open(log, "a", encoding="utf-8") as file:
                file.write(json.dumps(record) + "\n")
            print(f"{path.name} seed {seed}: {'pass' if record['passed'] else 'FAIL'} in {seconds:.0f} s", flush=True)
    print(table(read(log)))


if __name__ == "__main__":
    main()
