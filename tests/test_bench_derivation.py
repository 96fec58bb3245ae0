"""The derivation scale benchmark runs (its figures are in the README, not asserted here)."""

import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parent.parent / "benchmarks" / "bench_derivation.py"


def test_quick_run_prints_a_row_per_length():
    out = subprocess.run([sys.executable, str(SCRIPT), "--quick"], capture_output=True, text=True,
                         check=True, timeout=300).stdout
    rows = [line.split() for line in out.splitlines()[2:]]
    assert [int(row[0]) for row in rows] == [1, 2, 3, 5, 10]
    chain_nodes = [int(row[2]) for row in rows]
    assert chain_nodes == sorted(chain_nodes) and chain_nodes[-1] < 10 * 10 * 2  # quadratic at most
    assert rows[0][4] != "-" and rows[1][4] != "-"  # the naive diff ran for T = 1, 2
