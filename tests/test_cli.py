import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from symrnn.build import check, committed_networks
from symrnn.cli import main
from symrnn.errors import BuildCheckError

ROOT = Path(__file__).resolve().parents[1]


def run(*args, cwd=ROOT):
    return subprocess.run([sys.executable, "-m", "symrnn", *args], capture_output=True, text=True, cwd=cwd,
                          check=False)


@pytest.mark.parametrize("command", [[], ["generate"], ["build"], ["verify"], ["cells"]])
def test_every_command_has_help(command):
    result = run(*command, "--help")
    assert result.returncode == 0 and "usage: symrnn" in result.stdout


def test_generate_writes_a_module(tmp_path, capsys):
    path = tmp_path / "gru.py"
    assert main(["generate", "gru", "--variant", "pytorch", "--layers", "2", "--output", "sequence",
                 "--loss", "xent", "-o", str(path)]) == 0
    assert "wrote" in capsys.readouterr().out
    assert "(reset after the recurrent product)" in path.read_text()
    assert '"w_G_l2": ("H", "H")' in path.read_text()


@pytest.mark.parametrize("args,message", [
    (["generate", "lstn", "-o", "x.py"], "unknown cell 'lstn'"),
    (["generate", "gru", "--variant", "keras", "-o", "x.py"], "unknown variant 'keras'"),
    (["generate", "rnn", "--layers", "0", "-o", "x.py"], "the number of layers (--layers) must be an integer from 1 to 8"),
    (["generate", "rnn", "--loss", "xent", "--out-activation", "sigmoid", "-o", "x.py"], "needs the softmax"),
])
def test_bad_requests_exit_2_with_a_message(tmp_path, capsys, args, message):
    assert main(args) == 2
    assert message in capsys.readouterr().err


def test_unknown_option_value_is_refused_by_the_parser():
    result = run("generate", "rnn", "--output", "middle", "-o", "x.py")
    assert result.returncode == 2 and "invalid choice: 'middle'" in result.stderr


def test_committed_generated_files_are_current():
    names = check(ROOT / "generated")
    assert {f"{n.module_name}.py" for n in committed_networks()} <= set(names)
    assert {"derivation_lstm_l1_last_T3.pdf", "explorer.html"} <= set(names)
    assert sorted(p.name for p in (ROOT / "generated").iterdir()) == names  # nothing else lies there
    assert run("build", "--check").returncode == 0


def test_build_check_names_a_stale_file(tmp_path):
    shutil.copytree(ROOT / "generated", tmp_path / "generated")
    stale = tmp_path / "generated" / "gru_l1_last_squared.py"
    stale.write_text(stale.read_text().replace("np.tanh", "np.sinh", 1))
    (tmp_path / "generated" / "rnn_l1_last_squared.py").unlink()
    with pytest.raises(BuildCheckError) as info:
        check(tmp_path / "generated")
    assert "gru_l1_last_squared.py: differs" in str(info.value)
    assert "rnn_l1_last_squared.py: missing" in str(info.value)
    result = run("build", "--check", "--out", str(tmp_path / "generated"))
    assert result.returncode == 2 and "gru_l1_last_squared.py" in result.stderr


def test_verify_one_network_prints_a_table():
    result = run("verify", "rnn", "--output", "sequence")
    assert result.returncode == 0, result.stderr
    assert "rnn_l1_sequence_squared  unequal" in result.stdout and result.stdout.count(" ok") == 3
    assert "rnn_l1_sequence_squared  unequal K=T" in result.stdout  # per-step terms and state adjoints


def test_verify_truncate_adds_a_row_of_the_window():
    result = run("verify", "gru", "--layers", "2", "--truncate", "2")
    assert result.returncode == 0, result.stderr
    assert "gru_l2_last_squared  unequal K=2" in result.stdout and result.stdout.count(" ok") == 4
    refused = run("verify", "rnn", "--truncate", "0")
    assert refused.returncode == 2 and "positive integer" in refused.stderr


# --- issue 25: help and messages agree ---------------------------------------------------


def test_help_names_the_torch_backend_and_the_layer_limit(capsys):
    from symrnn.limits import MAX_LAYERS

    with pytest.raises(SystemExit):
        main(["--help"])
    assert "--backend torch" in capsys.readouterr().out
    for command in ("generate", "latex", "copies", "quiz", "verify"):
        with pytest.raises(SystemExit):
            main([command, "--help"])
        assert f"1 to {MAX_LAYERS}" in " ".join(capsys.readouterr().out.split()), command


def test_every_step_limit_message_reads_the_same(capsys):
    for command in (["copies", "rnn", "--wrt", "w_x"], ["quiz", "rnn"], ["latex", "rnn"]):
        assert main(command + ["-T", "0"]) == 2
        assert capsys.readouterr().err == "symrnn: error: T (--steps) must be an integer from 1 to 100, got 0\n"


def test_build_check_names_the_command_that_rewrites_the_checkout(monkeypatch, capsys):
    from symrnn import build
    from symrnn.errors import BuildCheckError

    def stale(out_dir=None):
        command = "symrnn build" if out_dir is None else f"symrnn build --out {out_dir}"
        raise BuildCheckError(f"stale generated files (run `{command}`):\n  x: missing")

    monkeypatch.setattr(build, "check", stale)
    assert main(["build", "--check"]) != 0
    assert "(run `symrnn build`)" in capsys.readouterr().err


def test_cells_lists_the_equations_in_the_order_the_files_write_them(capsys):
    """As the LaTeX does (rnn.cell: w^(a) a[t-1] + w^(x) x + b^(a); lstm.cell: i * g)."""
    assert main(["cells"]) == 0
    listed = capsys.readouterr().out
    assert "    a = tanh(w_a·a[t-1] + w_x·x + b_a)\n" in listed and "    c = f*c[t-1] + i*g\n" in listed
