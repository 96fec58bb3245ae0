"""The committed modules in ``generated/``: rebuild them, or check they are current."""

from pathlib import Path

from .cells import get_cell
from .codegen import render
from .errors import BuildCheckError
from .network import Network


def committed_networks():
    """The networks whose modules ``generated/`` holds."""
    return [
        Network(get_cell("rnn")),
        Network(get_cell("lstm")),
        Network(get_cell("gru", "notes")),
        Network(get_cell("gru", "pytorch")),
        Network(get_cell("lstm"), layers=2, output="sequence", loss="xent"),
    ]


def expected_files():
    """File name -> text the generator produces now."""
    return {f"{net.module_name}.py": render(net) for net in committed_networks()}


def build(out_dir="generated"):
    """Write every committed module into ``out_dir``; returns the paths."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, text in expected_files().items():
        path = out / name
        path.write_text(text, encoding="utf-8")
        paths.append(path)
    return paths


def check(out_dir="generated"):
    """Raise :class:`BuildCheckError` naming each file that is stale or missing."""
    out = Path(out_dir)
    problems = []
    for name, text in expected_files().items():
        path = out / name
        if not path.exists():
            problems.append(f"{path}: missing")
        elif path.read_text(encoding="utf-8") != text:
            problems.append(f"{path}: differs from what the generator produces now")
    if problems:
        raise BuildCheckError("stale generated files (run `symrnn build`):\n  " + "\n  ".join(problems))
    return sorted(expected_files())
