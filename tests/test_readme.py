"""The README stays true: every ```sh and ```python block runs, and output it
shows is the real output.

Each block runs in a fresh temporary directory that holds the cell files the
README shows (the block whose first line is ``# NAME.cell: ...`` becomes
NAME.cell; ``bad.cell`` is rebuilt from the error the README prints for it),
except the tour (the first block under "## A short tour"): a reader runs it
first, in a fresh checkout, before the README has shown any cell file, so it
runs in order in a fresh copy of the checkout's files and nothing else.
Shell blocks run line by line with bash and the installed ``symrnn``
(comments and all); Python blocks run in a subprocess.

Handled explicitly, each with its reason (see :data:`SPECIAL`):

- the set-up lines ``.ci/deps && python3 -m pip install ... && ...``: the
  test command must be exactly the one ``.ci/run`` runs; ``.ci/deps`` must
  exist and be executable; ``pip install`` is not run (it would replace the
  installation under test); ``symrnn build`` runs with ``--out`` into the
  temporary directory and ``--no-verify`` (its verification table is the
  full ``symrnn verify`` of the tour, which runs as written);
- ``python3 benchmarks/bench.py --quick`` is run by tests/test_benchmark.py;
- a Python block that imports torch is skipped where torch (the optional
  extra, which .ci/run installs) is missing;
- ``python3 benchmarks/bench.py`` (the full benchmark, many minutes) is
  slow: it runs only with ``SYMRNN_README_SLOW=1`` in the environment.

Output blocks (fenced without a language): a block starting with ``$ `` is a
command and its output, run and compared; a block starting with ``dC/d`` is a
``symrnn copies`` table and must equal the output of one of the README's
``symrnn copies`` commands. Other unlabelled blocks (the grammar, the
engine's adjoints excerpt) are explanations, not output.
"""

import importlib.util
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
SLOW = os.environ.get("SYMRNN_README_SLOW") == "1"
SPECIAL = {
    "python3 benchmarks/bench.py --quick": "run by tests/test_benchmark.py",
    "python3 benchmarks/bench.py": "the full benchmark takes many minutes: set SYMRNN_README_SLOW=1 to run it",
    "symrnn verify": ("the whole matrix (70 s): tests/test_verify.py checks each of its networks with the same "
                      "check; it runs here with SYMRNN_README_SLOW=1"),
}


def blocks(text=None):
    """(language, body, line number) of every fenced block of the README."""
    lines = (README.read_text(encoding="utf-8") if text is None else text).splitlines()
    found, k = [], 0
    while k < len(lines):
        match = re.match(r"^```(\S*)\s*$", lines[k])
        if match:
            end = next(j for j in range(k + 1, len(lines)) if lines[j].rstrip() == "```")
            found.append((match.group(1), "\n".join(lines[k + 1:end]) + "\n", k + 1))
            k = end
        k += 1
    return found


def commands(body):
    """The command lines of a shell block, as written (blank and comment-only lines dropped)."""
    return [line.strip() for line in body.splitlines() if key(line)]


def key(line):
    """A command line's words without its comment: ``symrnn cells  # x`` -> ``symrnn cells``."""
    return " ".join(shlex.split(line, comments=True))


def run(command, cwd, timeout=900):
    return subprocess.run(["bash", "-c", command], check=False, cwd=cwd, capture_output=True, text=True,
                          timeout=timeout, env={**os.environ, "COLUMNS": "100"})


@pytest.fixture
def workdir(tmp_path):
    """A temporary directory with the README's cell files."""
    for language, body, _ in blocks():
        first = body.splitlines()[0] if body.strip() else ""
        cell_file = re.match(r"^# (\w+\.cell): ", first)
        if not language and cell_file:
            (tmp_path / cell_file.group(1)).write_text(body, encoding="utf-8")
        shown_error = re.search(r"^symrnn: error: (\w+\.cell):(\d+):\d+: cell '(\w+)'.*\n {4}(.*)\n", body, re.MULTILINE)
        if not language and shown_error:
            path, line, name, source = shown_error.groups()
            header = [f"cell {name}", "input x", "state h"]
            header += ["# filler"] * (int(line) - 1 - len(header))
            (tmp_path / path).write_text("\n".join(header + [source]) + "\n", encoding="utf-8")
    return tmp_path


@pytest.fixture
def fresh_checkout(tmp_path):
    """A copy of the checkout's files as git tracks them: what a reader of the tour has."""
    listed = subprocess.run(["git", "-C", str(ROOT), "ls-files", "-z"], check=False, capture_output=True)
    if listed.returncode != 0:
        pytest.skip("not a git checkout: the tour runs in a copy of one")
    for name in filter(None, listed.stdout.decode().split("\0")):
        source, target = ROOT / name, tmp_path / "symrnn" / name
        if source.is_file():
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(source.read_bytes())
    return tmp_path / "symrnn"


def tour_line():
    """The README line of the tour's block: the first sh block after its heading."""
    heading = README.read_text(encoding="utf-8").splitlines().index("## A short tour") + 1
    return next(line for language, _, line in blocks() if language == "sh" and line > heading)


SHELL = [(body, line) for language, body, line in blocks() if language == "sh"]
PYTHON = [(body, line) for language, body, line in blocks() if language == "python"]
OUTPUT = [(body, line) for language, body, line in blocks() if not language]


def test_the_readme_has_the_blocks_this_test_runs():
    assert len(SHELL) >= 4 and len(PYTHON) >= 2 and any(b.startswith("$ ") for b, _ in OUTPUT)
    assert any(line == tour_line() and "symrnn cells" in body for body, line in SHELL)
    assert blocks("a\n```sh\nx\n```\n```\ny\n```\n") == [("sh", "x\n", 2), ("", "y\n", 5)]
    assert commands("a   # one\n# comment\n\nb 'c # d'\n") == ["a   # one", "b 'c # d'"]
    assert key("a   # one") == "a" and key("b 'c # d'  # e") == "b c # d"


def setup_line(command, cwd):
    """A set-up line ``.ci/deps && pip install ... && ...``: the failures, if any."""
    failures = []
    ci_run = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    if "python3 -m pytest" in command and command not in ci_run.splitlines():
        failures.append(f"{command!r} is not exactly the command .ci/run runs")
    for part in (p.strip() for p in command.split("&&")):
        if part == ".ci/deps":
            if not os.access(ROOT / ".ci" / "deps", os.X_OK):
                failures.append(".ci/deps is missing or not executable")
        elif part.startswith("python3 -m pip install"):
            continue  # would replace the installation under test
        elif part == "python3 -m pytest":
            continue  # this suite itself
        elif part.startswith("symrnn build"):
            result = run(f"{part} --out {shlex.quote(str(cwd / 'generated'))} --no-verify", cwd)
            if result.returncode != 0 or not list((cwd / "generated").glob("*.py")):
                failures.append(f"{part}: exit {result.returncode}\n{result.stdout[-2000:]}{result.stderr[-2000:]}")
        else:
            failures.append(f"unknown set-up step {part!r}: handle it in tests/test_readme.py")
    return failures


def assert_test_verify_covers_the_matrix():
    """``symrnn verify`` without a cell checks cli.verification_matrix(); tests/test_verify.py
    parametrizes the same check over the same cells, outputs, layers and costs."""
    import test_verify
    from symrnn.cli import verification_matrix

    names = {cell if variant in (None, "notes") else f"{cell}_{variant}" for cell, variant in test_verify.CELLS}
    matrix = verification_matrix()
    assert names == {net.cell.name for net in matrix} and len(matrix) == len(names) * 2 * 2 * 2


@pytest.mark.parametrize("body,line", SHELL, ids=[f"line{line}" for _, line in SHELL])
def test_shell_block_runs(body, line, request):
    tour = line == tour_line()
    workdir = request.getfixturevalue("fresh_checkout" if tour else "workdir")
    failures = []
    for command in commands(body):
        if command.startswith(".ci/deps"):
            failures += setup_line(command, workdir)
            continue
        if key(command) in SPECIAL and not (SLOW and "SYMRNN_README_SLOW" in SPECIAL[key(command)]):
            if key(command).endswith("--quick"):
                assert "bench.py" in (ROOT / "tests" / "test_benchmark.py").read_text() and "--quick" in \
                    (ROOT / "tests" / "test_benchmark.py").read_text()
            if key(command) == "symrnn verify":
                assert_test_verify_covers_the_matrix()
            continue
        # the benchmarks and `symrnn build --check` (which checks the checkout's generated/) run in the checkout
        in_checkout = key(command).startswith("symrnn build --check") or (
            command.split()[1:2] and command.split()[1].startswith("benchmarks/"))
        cwd = ROOT if in_checkout and not tour else workdir
        result = run(command, cwd)
        if result.returncode != 0:
            failures.append(f"{command}\n  exit {result.returncode}\n{result.stdout[-1500:]}{result.stderr[-1500:]}")
    assert not failures, f"README line {line}:\n" + "\n".join(failures)
    skipped = [key(c) for c in commands(body)
               if key(c) in SPECIAL and not (SLOW and "SYMRNN_README_SLOW" in SPECIAL[key(c)])]
    if skipped and "SYMRNN_README_SLOW" in " ".join(SPECIAL[c] for c in skipped):
        pytest.skip("; ".join(f"{c}: {SPECIAL[c]}" for c in skipped))


@pytest.mark.parametrize("body,line", PYTHON, ids=[f"line{line}" for _, line in PYTHON])
def test_python_block_runs(body, line, workdir):
    if "import torch" in body and importlib.util.find_spec("torch") is None:
        pytest.skip("a torch example: torch (the optional extra) is not installed; .ci/run installs it")
    result = subprocess.run([sys.executable, "-c", body], check=False, cwd=workdir, capture_output=True, text=True,
                            timeout=600)
    assert result.returncode == 0, f"README line {line}:\n{result.stdout[-2000:]}{result.stderr[-2000:]}"


@pytest.mark.parametrize("body,line", [(b, n) for b, n in OUTPUT if b.startswith("$ ")],
                         ids=[f"line{n}" for b, n in OUTPUT if b.startswith("$ ")])
def test_shown_command_output_is_real(body, line, workdir):
    command, *expected = body.splitlines()
    result = run(command.removeprefix("$ "), workdir)
    assert (result.stdout + result.stderr).splitlines() == expected, f"README line {line}"


def test_copies_tables_are_real_output(workdir):
    tables = [(b, n) for b, n in OUTPUT if b.startswith("dC/d")]
    assert tables
    outputs = []
    for body, _ in SHELL:
        for command in commands(body):
            if command.startswith("symrnn copies ") and "--json" not in command:
                words = shlex.split(command, comments=True)
                for option in ("--svg", "--tikz"):
                    if option in words:
                        del words[words.index(option):words.index(option) + 2]
                command = shlex.join(words)
                result = run(command, workdir)
                assert result.returncode == 0, command + "\n" + result.stderr
                outputs.append(result.stdout)
    for body, line in tables:
        assert body in outputs, f"README line {line}: not the output of any of the README's symrnn copies commands"


def test_cell_files_the_readme_shows_are_valid(workdir):
    shown = [p for p in workdir.glob("*.cell") if p.name != "bad.cell"]
    assert shown
    for path in shown:
        result = run(f"symrnn cells {shlex.quote(path.name)}", workdir)
        assert result.returncode == 0, result.stderr
