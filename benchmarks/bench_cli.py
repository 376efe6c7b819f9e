"""Start-up time of the ``thinktwice`` program, side by side with what it avoids (torch).

Each round runs every command once, in a fresh process, in an order that rotates
from round to round; the median over rounds is kept, so a noisy machine slows
all of them alike. Printed: seconds per command, and each as a multiple of a
bare ``python -c pass`` and of ``python -c "import torch"`` (the floor the help
paid before the imports were deferred).

    .venv/bin/python benchmarks/bench_cli.py [--rounds 9] [--before SRC]

``--before SRC`` adds the same commands run from an older source tree, e.g.
``mkdir /tmp/before && git archive 48a8d9d src | tar -x -C /tmp/before`` and
``--before /tmp/before/src`` (the code before the imports were deferred).

Target: ``thinktwice --help`` and ``thinktwice classes ...`` under 1 s.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

TARGET_SECONDS = 1.0


def commands(before: str | None) -> dict[str, list[str]]:
    program = str(Path(sys.executable).with_name("thinktwice"))
    old = ["env", f"PYTHONPATH={before}", sys.executable, "-m", "thinktwice.cli.main"]
    earlier = (
        {
            "before: thinktwice --help": [*old, "--help"],
            "before: thinktwice classes cat": [*old, "classes", "cat"],
        }
        if before
        else {}
    )
    return earlier | {
        "python -c pass": [sys.executable, "-c", "pass"],
        "python -c 'import torch'": [sys.executable, "-c", "import torch"],
        "thinktwice --help": [program, "--help"],
        "thinktwice --version": [program, "--version"],
        "thinktwice classes cat": [program, "classes", "cat"],
        "thinktwice classes 285": [program, "classes", "285"],
        "thinktwice explain --help": [program, "explain", "--help"],
    }


def seconds(argv: list[str]) -> float:
    start = time.perf_counter()
    done = subprocess.run(argv, capture_output=True)
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed: {done.stderr.decode()[-500:]}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument("--before", help="an older src/ folder to time side by side")
    args = parser.parse_args()
    runs = commands(args.before)
    names = list(runs)
    times: dict[str, list[float]] = {name: [] for name in names}
    for name in names:  # warm the file cache once
        seconds(runs[name])
    for round_index in range(args.rounds):
        shift = round_index % len(names)
        for name in names[shift:] + names[:shift]:
            times[name].append(seconds(runs[name]))
    median = {name: statistics.median(values) for name, values in times.items()}
    bare, torch = median["python -c pass"], median["python -c 'import torch'"]
    print(f"median of {args.rounds} rounds, each command in a fresh process\n")
    print(f"| command | seconds | × python -c pass | × import torch | under {TARGET_SECONDS:g} s |")
    print("|---|---:|---:|---:|---|")
    for name in names:
        value = median[name]
        verdict = "yes" if value < TARGET_SECONDS else "NO"
        print(f"| `{name}` | {value:.3f} | {value / bare:.2f} | {value / torch:.2f} | {verdict} |")


if __name__ == "__main__":
    main()
