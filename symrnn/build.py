"""The committed files in ``generated/``: rebuild them, or check they are current.

Each kind of artifact has one producer, a function returning ``{file name:
bytes}``; :data:`PRODUCERS` lists them. Adding an artifact kind adds one entry.
"""

from pathlib import Path

from .cells import get_cell
from .codegen import render
from .derivation import Derivation, compile_pdf
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


def module_files():
    """The NumPy module of every committed network."""
    return {f"{net.module_name}.py": render(net).encode("utf-8") for net in committed_networks()}


# The derivations for lecture notes: (cell, variant, parameters) at T = 3.
DERIVATIONS = (("rnn", None, ["w_x", "w_a"]), ("lstm", None, ["w_f", "w_F"]), ("gru", "notes", ["w_z", "w_Z"]))
DERIVATION_STEPS = 3


def derivation_files():
    """Each derivation as a standalone LaTeX document and its PDF."""
    files = {}
    for cell, variant, wrt in DERIVATIONS:
        derivation = Derivation(Network(get_cell(cell, variant)), DERIVATION_STEPS, wrt=wrt)
        tex = derivation.document()
        stem = f"derivation_{derivation.file_stem}"
        files[f"{stem}.tex"] = tex.encode("utf-8")
        files[f"{stem}.pdf"], _ = compile_pdf(tex)
    return files


# The weight-copy pictures: (cell, variant, parameter θ) at T = 3, both output modes.
COPY_PICTURES = (("rnn", None, "w_x"), ("lstm", None, "w_f"), ("gru", "notes", "w_z"))
COPY_PICTURE_STEPS = 3


def copy_explorer_files():
    """The interactive explorer page, and SVG and TikZ pictures of dC/dθ's weight copies."""
    from .copies import CopyAnalysis
    from .explorer import render_page
    from .pictures import svg, tikz

    files = {"explorer.html": render_page().encode("utf-8")}
    for cell, variant, wrt in COPY_PICTURES:
        for output in ("last", "sequence"):
            table = CopyAnalysis(Network(get_cell(cell, variant), output=output), COPY_PICTURE_STEPS).table(wrt)
            stem = f"copies_{cell}_{wrt}_t{COPY_PICTURE_STEPS}_{output}"
            files[f"{stem}.svg"] = svg(table).encode("utf-8")
            files[f"{stem}.tikz"] = tikz(table).encode("utf-8")
    return files


PRODUCERS = (module_files, derivation_files, copy_explorer_files)


def expected_files():
    """File name -> bytes the generators produce now."""
    files = {}
    for producer in PRODUCERS:
        files.update(producer())
    return files


def build(out_dir="generated"):
    """Write every committed file into ``out_dir``; returns the paths."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, data in expected_files().items():
        path = out / name
        path.write_bytes(data)
        paths.append(path)
    return paths


def check(out_dir="generated"):
    """Raise :class:`BuildCheckError` naming each file that is stale or missing."""
    out = Path(out_dir)
    problems = []
    expected = expected_files()
    for name, data in expected.items():
        path = out / name
        if not path.exists():
            problems.append(f"{path}: missing")
        elif path.read_bytes() != data:
            problems.append(f"{path}: differs from what the generator produces now")
    if problems:
        raise BuildCheckError("stale generated files (run `symrnn build`):\n  " + "\n  ".join(problems))
    return sorted(expected)
