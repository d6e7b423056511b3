"""`make bench`: run every `bench_*.py` module's `run(scale)` in its own process (so peak
memory is each benchmark's own) and write `results.json` and `results.md`.

Figures are measured on this machine in one run; compare rows side by side (ratios),
not against numbers from another day.
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
RUNNER = (
    "import json, sys, importlib; m = importlib.import_module(sys.argv[1]);"
    " print(json.dumps(m.run(float(sys.argv[2]))))"
)


def run_module(name: str, scale: float) -> list[dict[str, Any]]:
    done = subprocess.run(
        [sys.executable, "-c", RUNNER, name, str(scale)],
        cwd=HERE,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        return [{"benchmark": name, "error": done.stderr.strip().splitlines()[-1:] or ["failed"]}]
    rows: list[dict[str, Any]] = json.loads(done.stdout.strip().splitlines()[-1])
    return rows


def markdown(rows: list[dict[str, Any]]) -> str:
    columns: list[str] = []
    for row in rows:
        columns += [key for key in row if key not in columns]

    def cell(value: Any) -> str:
        if isinstance(value, float):
            return f"{value:,.3g}" if abs(value) < 100 else f"{value:,.0f}"
        return "" if value is None else str(value)

    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(cell(row.get(c)) for c in columns) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--scale", type=float, default=1.0, help="1.0 = the sizes the issues name")
    parser.add_argument("--out", type=Path, default=Path("bench-results"))
    parser.add_argument("--only", default="", help="substring of the module names to run")
    args = parser.parse_args()
    sys.path.insert(0, str(HERE))
    modules = sorted(p.stem for p in HERE.glob("bench_*.py") if args.only in p.stem)
    rows: list[dict[str, Any]] = []
    for name in modules:
        started = time.perf_counter()
        print(f"running {name} (scale {args.scale}) ...", flush=True)
        found = run_module(name, args.scale)
        print(f"  {len(found)} rows in {time.perf_counter() - started:.1f} s", flush=True)
        rows += [{"module": name, **row} for row in found]
    args.out.mkdir(parents=True, exist_ok=True)
    meta = {"scale": args.scale, "python": platform.python_version(), "machine": platform.machine()}
    (args.out / "results.json").write_text(json.dumps({"meta": meta, "rows": rows}, indent=2) + "\n")
    (args.out / "results.md").write_text(markdown(rows))
    print(markdown(rows))
    return 1 if any("error" in row for row in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
