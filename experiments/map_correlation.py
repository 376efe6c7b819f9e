"""Median Pearson correlation between two methods' maps of the same (photo, class) pairs.

    python experiments/map_correlation.py RUN_A METHOD_A RUN_B METHOD_B

Reads the maps ``thinktwice eval`` stored at the model's input size (``RUN/saliency``); a
variant whose maps correlate above 0.95 with a baseline's is that baseline (the guide's rule).
"""

from __future__ import annotations

import argparse
import statistics
from pathlib import Path

import numpy as np

from thinktwice.evaluation.run.saliency_store import SUFFIX, decode


def maps_of(run: Path, method: str) -> dict[tuple[str, int], np.ndarray]:
    found = {}
    for path in sorted((run / "saliency").glob(f"*{SUFFIX}")):
        image_id, methods = decode(path.read_bytes())
        if method in methods:
            for c, m in methods[method].decoded().items():
                found[(image_id, c)] = m
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_a", type=Path)
    parser.add_argument("method_a")
    parser.add_argument("run_b", type=Path)
    parser.add_argument("method_b")
    args = parser.parse_args()
    a, b = maps_of(args.run_a, args.method_a), maps_of(args.run_b, args.method_b)
    shared = sorted(set(a) & set(b))
    values = []
    for key in shared:
        u, v = a[key].ravel().astype(np.float64), b[key].ravel().astype(np.float64)
        if u.std() > 0 and v.std() > 0:
            values.append(float(np.corrcoef(u, v)[0, 1]))
    print(
        f"{args.method_a} vs {args.method_b}: median correlation "
        f"{statistics.median(values):.3f} over {len(values)} maps ({len(shared)} shared)"
    )


if __name__ == "__main__":
    main()
