"""McNemar on pointing trials between one method of two eval runs (e.g. a variant run apart).

python experiments/paired_runs.py RUN_A METHOD_A RUN_B METHOD_B
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from thinktwice.evaluation.metrics.paired import exact_mcnemar_p
from thinktwice.evaluation.metrics.pointing import PointingTrial


def hits(run: str, method: str) -> dict[tuple[str, int], tuple[bool, bool]]:
    found = {}
    for line in (Path(run) / "results.jsonl").read_text().splitlines():
        record = json.loads(line)
        if record.get("method") != method:
            continue
        for data in record.get("pointing") or []:
            trial = PointingTrial.from_json(data)
            found[(record["image_id"], trial.label_key)] = (trial.hit, trial.difficult)
    return found


def main() -> None:
    run_a, method_a, run_b, method_b = sys.argv[1:5]
    a, b = hits(run_a, method_a), hits(run_b, method_b)
    for subset in ("all", "difficult"):
        keys = [k for k in a if k in b and (subset == "all" or a[k][1])]
        only_a = sum(a[k][0] and not b[k][0] for k in keys)
        only_b = sum(b[k][0] and not a[k][0] for k in keys)
        p = exact_mcnemar_p(only_a, only_b)
        print(f"{subset}: {len(keys)} trials, only A {only_a}, only B {only_b}, exact p {p:.2g}")


if __name__ == "__main__":
    main()
