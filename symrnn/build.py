"""The committed files in ``generated/``: rebuild them, or check they are current.

Each kind of artifact has one producer, a generator of ``(file name,
bytes)`` pairs, each made as it is asked for; :data:`PRODUCERS` lists them.
Adding an artifact kind adds one entry.

``build`` belongs to a source checkout: by default it writes the checkout's
``generated/`` and refuses to run anywhere else (:func:`default_out_dir`);
``--out DIR`` names another directory explicitly. It checks for pdflatex
before it writes anything (:func:`require_pdflatex`).

Imports: every producer of a generated file (codegen, derivation, copies, pictures, explorer, flow), files, network and the registry.
"""

import re
import shutil
from pathlib import Path

from .codegen import render
from .derivation import Derivation, compile_pdf
from .errors import BuildCheckError, ConfigError, LatexError
from .files import BUILD_COMMAND, check_output_dir, make_dir, write_atomic
from .network import Network
from .registry import get_cell

PDFLATEX_HINT = ("install TeX Live's pdflatex: in a symrnn checkout run .ci/deps, or on Debian/Ubuntu "
                 "apt-get install texlive-latex-base texlive-latex-recommended")


def is_checkout(directory):
    """Whether ``directory`` is a symrnn source checkout: a pyproject.toml
    naming the project symrnn, beside the symrnn/ package."""
    directory = Path(directory)
    pyproject = directory / "pyproject.toml"
    if not (pyproject.is_file() and (directory / "symrnn" / "__init__.py").is_file()):
        return False
    try:
        text = pyproject.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return False
    return re.search(r'^name\s*=\s*"symrnn"\s*$', text, re.MULTILINE) is not None


def checkout_dir():
    """The symrnn checkout ``build`` works in: the current directory if it is
    one, else the checkout this package runs from (an editable install), else None."""
    for directory in (Path.cwd(), Path(__file__).resolve().parent.parent):
        if is_checkout(directory):
            return directory
    return None


def default_out_dir():
    """``generated/`` of the symrnn checkout (:func:`checkout_dir`); raises
    :class:`ConfigError` outside a checkout, where nobody expects ./generated/."""
    checkout = checkout_dir()
    if checkout is None:
        raise ConfigError("symrnn build rewrites generated/ of a symrnn source checkout, and neither the current "
                          "directory nor the installed package is one; run it in a checkout, or give --out DIR "
                          "to write the files there")
    out = checkout / "generated"
    return out if checkout != Path.cwd() else Path("generated")


def require_pdflatex():
    """Raise :class:`LatexError` (before anything is written) when pdflatex,
    which the derivation PDFs need, is not on PATH."""
    if shutil.which("pdflatex") is None:
        raise LatexError(f"symrnn build needs pdflatex for the derivation PDFs, and it is not on PATH; "
                         f"{PDFLATEX_HINT}; nothing was written")


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
    for net in committed_networks():
        yield f"{net.module_name}.py", render(net, BUILD_COMMAND).encode("utf-8")


# The derivations for lecture notes: (cell, variant, parameters) at T = 3.
DERIVATIONS = (("rnn", None, ["w_x", "w_a"]), ("lstm", None, ["w_f", "w_F"]), ("gru", "notes", ["w_z", "w_Z"]))
DERIVATION_STEPS = 3


def derivation_files():
    """Each derivation as a standalone LaTeX document and its PDF."""
    for cell, variant, wrt in DERIVATIONS:
        derivation = Derivation(Network(get_cell(cell, variant)), DERIVATION_STEPS, wrt=wrt)
        tex = derivation.document()
        stem = f"derivation_{derivation.file_stem}"
        yield f"{stem}.tex", tex.encode("utf-8")
        yield f"{stem}.pdf", compile_pdf(tex)[0]


# The weight-copy pictures: (cell, variant, parameter θ) at T = 3, both output modes.
COPY_PICTURES = (("rnn", None, "w_x"), ("lstm", None, "w_f"), ("gru", "notes", "w_z"))
COPY_PICTURE_STEPS = 3


def copy_explorer_files():
    """The interactive explorer page, and SVG and TikZ pictures of dC/dθ's weight copies."""
    from .copies import CopyAnalysis
    from .explorer import render_page
    from .pictures import svg, tikz

    yield "explorer.html", render_page().encode("utf-8")
    for cell, variant, wrt in COPY_PICTURES:
        for output in ("last", "sequence"):
            table = CopyAnalysis(Network(get_cell(cell, variant), output=output), COPY_PICTURE_STEPS).table(wrt)
            stem = f"copies_{cell}_{wrt}_t{COPY_PICTURE_STEPS}_{output}"
            yield f"{stem}.svg", svg(table).encode("utf-8")
            yield f"{stem}.tikz", tikz(table).encode("utf-8")


# The flow plots at T = 50: (cells, the rnn panel's activation, scale). Vanishing: the
# notes' cells at small recurrent weights; exploding: a linear RNN at large ones (a
# saturating tanh does not explode, symrnn.flow says why), beside the gated cells.
FLOW_STEPS = 50
FLOW_PLOTS = ((("rnn", "lstm", "gru"), None, 0.5), (("rnn", "lstm", "gru"), "identity", 2.0))
CAPTURE_CELLS = ("rnn", "lstm", "gru")


def _flow_network(cell, activation):
    return Network(get_cell(cell, activation=activation if cell == "rnn" else None))


def flow_files():
    """SVG plots of how much each copy contributes (vanishing, exploding), and of what truncation keeps."""
    from .flow import capture, capture_svg, flow, svg

    for cells, activation, scale in FLOW_PLOTS:
        networks = [_flow_network(cell, activation) for cell in cells]
        stem = "_".join(net.cell.name for net in networks)
        panels = [flow(net, FLOW_STEPS, scale=scale) for net in networks]
        yield f"flow_{stem}_t{FLOW_STEPS}_scale{scale:g}.svg", svg(panels).encode("utf-8")
    panels = [capture(Network(get_cell(cell)), FLOW_STEPS) for cell in CAPTURE_CELLS]
    yield f"flow_capture_{'_'.join(CAPTURE_CELLS)}_t{FLOW_STEPS}.svg", capture_svg(panels).encode("utf-8")


PRODUCERS = (module_files, derivation_files, copy_explorer_files, flow_files)


def expected_files():
    """File name -> bytes the generators produce now."""
    files = {}
    for producer in PRODUCERS:
        files.update(producer())
    return files


def build(out_dir=None):
    """Write every committed file into ``out_dir`` (default: :func:`default_out_dir`),
    each atomically as soon as it is made; yields the paths as they are written.

    Nothing is written (not even the directory) when the directory cannot be
    made or pdflatex is missing."""
    out = check_output_dir(default_out_dir() if out_dir is None else out_dir)
    require_pdflatex()
    make_dir(out)
    for producer in PRODUCERS:
        for name, data in producer():
            yield write_atomic(out / name, data)


def check(out_dir=None):
    """Raise :class:`BuildCheckError` naming each file that is stale or missing
    in ``out_dir`` (default: :func:`default_out_dir`)."""
    out = Path(default_out_dir() if out_dir is None else out_dir)
    require_pdflatex()
    problems = []
    expected = expected_files()
    for name, data in expected.items():
        path = out / name
        if not path.exists():
            problems.append(f"{path}: missing")
        elif path.read_bytes() != data:
            problems.append(f"{path}: differs from what the generator produces now")
    if problems:
        command = "symrnn build" if out_dir is None else f"symrnn build --out {out_dir}"
        raise BuildCheckError(f"stale generated files (run `{command}`):\n  " + "\n  ".join(problems))
    return sorted(expected)
