"""Output paths, atomic writes, --version, misspelled options, ``-o -``,
streamed progress and ``symrnn build``'s checkout and pdflatex checks."""

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from symrnn import build as build_module
from symrnn.cli import main
from symrnn.files import OutputPathError, check_output_path, write_atomic
from symrnn.verify import format_table

ROOT = Path(__file__).resolve().parents[1]
SYMRNN = ROOT / "symrnn"

# Where each command writes: (argument list with {path} for the output path, the file's extension).
WRITERS = {
    "generate -o": (["generate", "rnn", "-o", "{path}"], "py"),
    "latex -o": (["latex", "rnn", "-T", "2", "-o", "{path}"], "tex"),
    "latex --pdf -o": (["latex", "rnn", "-T", "2", "--pdf", "-o", "{path}"], "tex"),
    "copies --svg": (["copies", "rnn", "--svg", "{path}"], "svg"),
    "copies --tikz": (["copies", "rnn", "--tikz", "{path}"], "tikz"),
    "explorer -o": (["explorer", "-o", "{path}"], "html"),
    "quiz -o": (["quiz", "rnn", "-o", "{path}"], "md"),
}
# Kinds of path no file can be written at; {tmp} is a fresh directory holding a regular file file.txt
# and a directory dir/.
BAD_FILE_PATHS = {
    "missing directory": "{tmp}/missing/out.{ext}",
    "missing nested directory": "{tmp}/missing/deeper/out.{ext}",
    "a directory": "{tmp}/dir",
    "a directory name ending in /": "{tmp}/new/",
    "under a regular file": "{tmp}/file.txt/out.{ext}",
    "unwritable place (/proc)": "/proc/symrnn-out.{ext}",
}
BAD_BUILD_DIRS = {
    "a regular file": "{tmp}/file.txt",
    "under a regular file": "{tmp}/file.txt/generated",
    "unwritable place (/proc)": "/proc/symrnn-generated",
}
PATH_CASES = [(f"{writer}: {kind}", [a.replace("{path}", path.replace("{ext}", ext)) for a in args])
              for writer, (args, ext) in WRITERS.items() for kind, path in BAD_FILE_PATHS.items()]
PATH_CASES += [(f"build --out: {kind}", ["build", "--out", path]) for kind, path in BAD_BUILD_DIRS.items()]


def tree(directory):
    return sorted(str(p.relative_to(directory)) for p in Path(directory).rglob("*"))


@pytest.fixture
def tmp(tmp_path):
    (tmp_path / "file.txt").write_text("a regular file\n")
    (tmp_path / "dir").mkdir()
    return tmp_path


def test_the_path_cases_cover_every_writer_and_kind():
    assert len(PATH_CASES) == len(WRITERS) * len(BAD_FILE_PATHS) + len(BAD_BUILD_DIRS) == 45


@pytest.mark.parametrize("name,args", PATH_CASES, ids=[name for name, _ in PATH_CASES])
def test_a_bad_output_path_is_one_line_exit_2_and_leaves_nothing(tmp, capsys, name, args):
    before = tree(tmp)
    status = main([a.replace("{tmp}", str(tmp)) for a in args])
    err = capsys.readouterr().err
    assert status == 2, err
    assert err.count("\n") == 1 and re.fullmatch(r"symrnn: error: cannot write .+\n", err), err
    assert tree(tmp) == before  # no file, no directory, no temporary file left behind
    assert (tmp / "file.txt").read_text() == "a regular file\n"


@pytest.mark.parametrize("name,args", [PATH_CASES[0], PATH_CASES[4], PATH_CASES[-1]])
def test_a_bad_output_path_through_the_real_command_has_no_traceback(tmp, name, args):
    result = subprocess.run([sys.executable, "-m", "symrnn", *[a.replace("{tmp}", str(tmp)) for a in args]],
                            capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 2 and result.stdout == ""
    assert len(result.stderr.splitlines()) == 1 and result.stderr.startswith("symrnn: error: cannot write")


def test_a_bad_output_path_fails_before_the_work(tmp, monkeypatch, capsys):
    def no_work(*args, **kwargs):
        raise AssertionError("the network was derived before the path was checked")

    monkeypatch.setattr("symrnn.cli._network", no_work)
    for args in (["generate", "rnn", "-o", f"{tmp}/missing/x.py"], ["quiz", "rnn", "-o", f"{tmp}/dir"],
                 ["copies", "rnn", "--svg", f"{tmp}/file.txt/x.svg"], ["latex", "rnn", "-T", "2", "-o", "/proc/x.tex"]):
        assert main(args) == 2
    monkeypatch.setattr("symrnn.explorer.explorer_data", no_work)
    assert main(["explorer", "-o", f"{tmp}/missing/e.html"]) == 2
    assert capsys.readouterr().err.count("symrnn: error: cannot write") == 5


def test_check_output_path_accepts_a_writable_place(tmp):
    assert check_output_path(tmp / "new.py") == tmp / "new.py"
    assert check_output_path(tmp / "file.txt") == tmp / "file.txt"  # an existing file is replaced
    with pytest.raises(OutputPathError, match="file.txt is a file, not a directory"):
        check_output_path(tmp / "file.txt" / "a" / "b.py")


# --- atomic writes ---------------------------------------------------------------------


def test_write_atomic_replaces_the_file_whole_and_keeps_its_mode(tmp):
    target = tmp / "out.txt"
    target.write_text("old")
    target.chmod(0o640)
    write_atomic(target, "new text")
    assert target.read_text() == "new text" and target.stat().st_mode & 0o777 == 0o640
    write_atomic(tmp / "fresh.bin", b"\x00\x01")
    umask = os.umask(0)
    os.umask(umask)
    assert (tmp / "fresh.bin").read_bytes() == b"\x00\x01"
    assert (tmp / "fresh.bin").stat().st_mode & 0o777 == 0o666 & ~umask
    assert tree(tmp) == ["dir", "file.txt", "fresh.bin", "out.txt"]


@pytest.mark.parametrize("interruption", [KeyboardInterrupt, OSError(28, "No space left on device")])
def test_an_interrupted_write_leaves_the_old_file_and_no_temporary(tmp, monkeypatch, interruption):
    target = tmp / "out.txt"
    target.write_text("old")

    def interrupted(src, dst):
        raise interruption

    monkeypatch.setattr(os, "replace", interrupted)
    with pytest.raises(KeyboardInterrupt if interruption is KeyboardInterrupt else OutputPathError):
        write_atomic(target, "new text")
    assert target.read_text() == "old"
    assert tree(tmp) == ["dir", "file.txt", "out.txt"]


def test_every_writer_writes_through_write_atomic():
    """No module but symrnn.files opens a file for writing (compile_pdf's
    pdflatex input lies in its own temporary directory)."""
    pattern = re.compile(r"write_text\(|write_bytes\(|open\([^)]*['\"][wax]b?['\"]|\.mkdir\(")
    writers = {p.name: [line.strip() for line in p.read_text().splitlines() if pattern.search(line)]
               for p in SYMRNN.glob("*.py") if p.name != "files.py"}
    assert {name: lines for name, lines in writers.items() if lines} == {
        "derivation.py": ['Path(work, "derivation.tex").write_text(tex, encoding="utf-8")']}


# --- --version, misspelled options, -o - -------------------------------------------------


def run(*args, cwd=ROOT, env=None):
    return subprocess.run([sys.executable, "-m", "symrnn", *args], capture_output=True, text=True, cwd=cwd,
                          env=env, timeout=300, check=False)


def test_version(capsys):
    from importlib.metadata import version

    with pytest.raises(SystemExit) as exit_info:
        main(["--version"])
    assert exit_info.value.code == 0 and capsys.readouterr().out == f"symrnn {version('symrnn')}\n"


@pytest.mark.parametrize("args,command,hint", [
    (["generate", "lstm", "--layres", "2", "-o", "x.py"], "generate", "--layers"),
    (["verify", "rnn", "--ouput", "sequence"], "verify", "--output"),
    (["latex", "rnn", "-T", "2", "--wrtt", "w_x"], "latex", "--wrt"),
    (["build", "--chek"], "build", "--check"),
])
def test_a_misspelled_option_shows_its_commands_usage(capsys, args, command, hint):
    with pytest.raises(SystemExit) as exit_info:
        main(args)
    err = capsys.readouterr().err
    assert exit_info.value.code == 2
    assert err.startswith(f"usage: symrnn {command} ") and "usage: symrnn [-h]" not in err
    assert f"symrnn {command}: error: unrecognized arguments: " in err and f"(did you mean {hint}?)" in err


def test_generate_to_standard_output(tmp_path, capsys):
    assert main(["generate", "gru", "--variant", "pytorch", "--layers", "2", "-o", "-"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("# Generated by symrnn") and '"w_G_l2": ("H", "H")' in out and "wrote" not in out
    assert "run `symrnn generate gru --variant pytorch --layers 2 -o -`" in out.splitlines()[0]
    assert not Path("-").exists()
    compile(out, "<stdout>", "exec")  # the whole module, valid Python


# --- streamed progress ------------------------------------------------------------------


def test_verify_prints_its_header_before_the_checks_finish():
    proc = subprocess.Popen([sys.executable, "-m", "symrnn", "verify", "rnn", "--output", "sequence"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT)
    try:
        first = proc.stdout.readline()
        assert first.startswith("module") and "status" in first
        assert proc.poll() is None  # the header came while the checks still ran
        rest = proc.stdout.read()
    finally:
        proc.communicate(timeout=300)
    assert proc.returncode == 0 and rest.count(" ok") == 3


def test_the_streamed_table_has_format_tables_rows():
    from symrnn import network
    from symrnn.verify import streamed_table

    networks = [network("rnn"), network("gru", layers=2, output="sequence")]
    lines, results = zip(*streamed_table(networks))
    assert results[:2] == (None, None) and all(r is not None for r in results[2:]) and len(results) == 6
    expected = format_table(results[2:]).splitlines()

    def cells(line):
        return re.split(r"\s{2,}", line.strip())

    assert [cells(line) for line in lines[:1] + lines[2:]] == [cells(line) for line in expected[:1] + expected[2:]]
    assert [set(cell) for cell in cells(lines[1])] == [{"-"}] * 6
    starts = {line.index(cell) for line in lines[2:] for cell in cells(line)[1:2]}
    assert len(starts) == 1  # columns line up although each row was formatted alone


# --- build: only in a checkout, pdflatex first, headers ----------------------------------


def test_build_refuses_outside_a_checkout(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(build_module, "checkout_dir", lambda: None)
    for args in (["build"], ["build", "--no-verify"], ["build", "--check"]):
        with pytest.raises(Exception, match="give --out DIR"):
            build_module.default_out_dir()
        assert main(args) == 2
    assert list(tmp_path.iterdir()) == []


def test_build_outside_a_checkout_through_the_command(tmp_path):
    """The package laid out as ``pip install .`` lays it out (templates inside
    it, no pyproject.toml beside it), run from a directory that is no checkout."""
    site, work = tmp_path / "site", tmp_path / "work"
    shutil.copytree(SYMRNN, site / "symrnn", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(ROOT / "templates", site / "symrnn" / "templates")
    work.mkdir()
    for args in (["build"], ["build", "--no-verify"], ["build", "--check"]):
        result = run(*args, cwd=work, env={**os.environ, "PYTHONPATH": str(site)})
        assert result.returncode == 2 and "give --out DIR" in result.stderr
        assert len(result.stderr.splitlines()) == 1 and result.stdout == ""
    assert list(work.iterdir()) == []


def test_a_checkout_is_recognized():
    assert build_module.is_checkout(ROOT)
    assert not build_module.is_checkout(ROOT / "symrnn")


def test_build_without_pdflatex_writes_nothing(tmp_path):
    bin_dir = tmp_path / "bin"  # python only: no pdflatex on PATH
    bin_dir.mkdir()
    (bin_dir / "python").symlink_to(sys.executable)
    env = {**os.environ, "PATH": str(bin_dir), "PYTHONPATH": str(ROOT)}
    for args in (["build", "--out", str(tmp_path / "out")], ["build", "--check", "--out", str(tmp_path / "out")]):
        result = run(*args, cwd=tmp_path, env=env)
        assert result.returncode == 2, result.stderr
        assert len(result.stderr.splitlines()) == 1 and "pdflatex" in result.stderr
        assert ".ci/deps" in result.stderr and "texlive-latex-base" in result.stderr
        assert result.stdout == ""
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bin"]  # not even the out directory


def test_build_writes_each_file_as_it_is_made(tmp_path, monkeypatch):
    made = []

    def modules():
        for name in ("a.py", "b.py"):
            assert made == [n for n in ("a.py",) if name == "b.py"]  # the previous file is already written
            yield name, name.encode()
            made.append(name)

    monkeypatch.setattr(build_module, "PRODUCERS", (modules,))
    paths = build_module.build(tmp_path / "out" / "generated")
    assert not (tmp_path / "out").exists()  # a generator: nothing happens before it is asked
    assert next(paths) == tmp_path / "out" / "generated" / "a.py" and made == []
    assert list(paths) == [tmp_path / "out" / "generated" / "b.py"]
    assert tree(tmp_path / "out") == ["generated", "generated/a.py", "generated/b.py"]


def test_the_header_of_a_generated_module_names_its_command(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "sub").mkdir()
    cell = tmp_path / "cells" / "mgu.cell"
    cell.parent.mkdir()
    shutil.copy(ROOT / "tests" / "cells" / "mgu.cell", cell)
    cases = [
        (["generate", "lstm", "--layers", "2", "--loss", "xent", "--output", "sequence", "-o", "sub/a.py"],
         "symrnn generate lstm --layers 2 --output sequence --loss xent -o a.py"),
        (["generate", "gru", "--loss", "squared", "--layers", "1", "--variant", "pytorch", "-o", str(tmp_path / "b.py")],
         "symrnn generate gru --variant pytorch -o b.py"),
        (["generate", str(cell), "-o", "sub/c.py"], "symrnn generate ../cells/mgu.cell -o c.py"),
        (["generate", "cells/mgu.cell", "-o", "d.py"], "symrnn generate cells/mgu.cell -o d.py"),
    ]
    for args, command in cases:
        assert main(args) == 0, capsys.readouterr().err
        path = Path(args[-1])
        first = path.read_text().splitlines()[0]
        assert first == f"# Generated by symrnn from the cell's equations. Do not edit by hand: run `{command}`."
        assert str(tmp_path) not in path.read_text()


def test_the_header_of_a_latex_document_and_the_explorer_page_names_its_command(tmp_path, monkeypatch, capsys):
    from symrnn.explorer import explorer_data, write_page
    from symrnn.registry import get_cell

    monkeypatch.chdir(tmp_path)
    assert main(["latex", "rnn", "--steps", "2", "--wrt", "w_x", "w_a", "-o", "notes.tex"]) == 0
    first = Path("notes.tex").read_text().split("\n")[0]
    assert first.endswith("Do not edit by hand: run `symrnn latex rnn --steps 2 --wrt w_x w_a -o notes.tex`.")
    write_page(tmp_path / "page.html", explorer_data([("rnn", get_cell("rnn"), "RNN")], max_steps=1, layers=(1,)))
    assert "Do not edit by hand: run `symrnn explorer -o page.html`." in (tmp_path / "page.html").read_text()


def test_build_files_say_symrnn_build():
    files = dict(build_module.module_files())
    assert all("Do not edit by hand: run `symrnn build`." in data.decode().split("\n")[0] for data in files.values())
