import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_benchmark_quick_mode_runs_and_its_baselines_agree_with_the_generated_modules():
    """Smoke run, no timing assertions: each hand-written cell must give the
    generated module's outputs and gradients, else the script exits 1."""
    result = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "bench.py"), "--quick"],
                            check=False, capture_output=True, text=True, cwd=ROOT, timeout=300,
                            env={"PYTHONPATH": str(ROOT), "PATH": ""})
    assert result.returncode == 0, result.stdout + result.stderr
    for cell in ("rnn", "lstm", "gru"):
        assert f"check: hand-written {cell} gives the generated outputs" in result.stdout
        assert f"quick   {cell:<6}float32" in result.stdout
    assert "derivation and generation of all" in result.stdout


def test_the_nn_benchmark_runs_and_its_implementations_agree():
    """bench_nn.py checks that symrnn.nn over packed input, the engine on
    padded input and torch.nn give the same outputs and gradients before it
    times them (a failed check raises); no timing assertions."""
    pytest.importorskip("torch")
    result = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "bench_nn.py"), "--sizes", "4,3,5,6",
                             "--repeats", "1"], check=False, capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "bidirectional / one direction" in result.stdout
