import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_benchmark_quick_mode_runs_and_its_baseline_agrees_with_the_generated_lstm():
    """Smoke run, no timing assertions: the hand-written LSTM must give the
    generated module's outputs and gradients, else the script exits 1."""
    result = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "bench_lstm.py"), "--quick"],
                            capture_output=True, text=True, cwd=ROOT, timeout=300,
                            env={"PYTHONPATH": str(ROOT), "PATH": ""})
    assert result.returncode == 0, result.stdout + result.stderr
    assert "agree at float64" in result.stdout
    assert "float32  generated" in result.stdout
