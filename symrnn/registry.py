"""The registry of cells: the built-in cells by name, and :func:`resolve_cell`,
the one place a name, a cell file or a :class:`symrnn.cells.Cell` becomes a Cell.

A built-in cell is a cell file shipped in ``symrnn/cell_files/``, read by the
same parser as a user's own (:mod:`symrnn.cellfile`). Adding a cell touches
:data:`CELLS` and one file in ``cell_files/``.

Imports: cells (the Cell type), cellfile (the parser) and rules.
"""

import os
from pathlib import Path

from .cellfile import load_cell
from .cells import Cell
from .errors import ConfigError
from .rules import ACTIVATIONS

CELL_FILES = Path(__file__).resolve().parent / "cell_files"


def builtin_file(stem):
    """The path of a built-in cell's file, e.g. ``builtin_file("lstm")``."""
    return CELL_FILES / f"{stem}.cell"


def _builtin(stem):
    return load_cell(builtin_file(stem))


def rnn(activation="tanh"):
    """Vanilla RNN of the notes: a_t = g(w^(x) x_t + w^(a) a_{t-1} + b^(a))."""
    if activation not in ACTIVATIONS:
        raise ConfigError(f"unknown activation {activation!r}; expected one of {sorted(ACTIVATIONS)}")
    return _builtin("rnn" if activation == "tanh" else f"rnn_{activation}")


def lstm():
    """LSTM of the notes: gates f, i, o (sigmoid), candidate g (tanh)."""
    return _builtin("lstm")


def gru():
    """GRU of the notes: reset applied to h_{t-1} before the recurrent product."""
    return _builtin("gru")


def gru_pytorch():
    """GRU as PyTorch and cuDNN compute it: reset applied after the recurrent
    product, which has its own bias b^(G); the update gate keeps h_{t-1}."""
    return _builtin("gru_pytorch")


def _from_paper(stem):
    """The builder of a built-in cell from a paper: its file, whose
    description cites the paper."""
    def builder():
        return _builtin(stem)

    builder.__name__ = builder.__qualname__ = stem
    builder.__doc__ = f"The built-in cell {stem!r} (symrnn/cell_files/{stem}.cell; its description cites its paper)."
    return builder


# Cells from papers, each a file whose description cites its paper (issue 12). Code generation does
# not support every construct they use yet (codegen.planner.unsupported says which): those are left
# out of `symrnn verify`'s matrix until it does.
PAPER_CELLS = ("lstm_ln", "lstmp", "lstmp_peephole", "sru", "qrnn", "antisymmetric", "indrnn", "peephole_lstm",
               "mgu")

# The registry: cell name -> variant -> builder. Adding a cell touches only
# this and one file in cell_files/.
CELLS = {
    "rnn": {"default": rnn},
    "lstm": {"default": lstm},
    "gru": {"notes": gru, "pytorch": gru_pytorch},
    **{stem: {"default": _from_paper(stem)} for stem in PAPER_CELLS},
}


def get_cell(name, variant=None, activation=None):
    """A built-in cell by name, e.g. ``get_cell("gru", variant="pytorch")``."""
    if name not in CELLS:
        hint = f" (did you mean the file '{name}.cell'?)" if _is_file(f"{name}.cell") else ""
        raise ConfigError(f"unknown cell {name!r}; expected one of {sorted(CELLS)} "
                          f"or the path of a cell file ending in .cell{hint}")
    variants = CELLS[name]
    variant = variant or next(iter(variants))
    if variant not in variants:
        raise ConfigError(f"unknown variant {variant!r} of cell {name!r}; expected one of {sorted(variants)}")
    builder = variants[variant]
    if activation is not None:
        if builder is not rnn:
            raise ConfigError(f"cell {name!r} has fixed activations; --activation applies to 'rnn' only")
        return builder(activation)
    return builder()


def is_cell_path(spec):
    """Whether ``spec`` names a cell file rather than a built-in cell: a path
    object, or text ending in ``.cell`` or containing a path separator."""
    if isinstance(spec, os.PathLike):
        return True
    separators = {"/", os.sep} | ({os.altsep} if os.altsep else set())
    return isinstance(spec, str) and (spec.endswith(".cell") or any(sep in spec for sep in separators))


def resolve_cell(spec, variant=None, activation=None):
    """The one place a cell is looked up: a :class:`Cell` as is, a built-in
    cell's name, or the path of a cell file (see :mod:`symrnn.cellfile`).

    >>> resolve_cell("gru", variant="pytorch").name
    'gru_pytorch'
    >>> resolve_cell(builtin_file("lstm")).states
    (c, h)
    """
    if isinstance(spec, Cell) or is_cell_path(spec):
        if variant is not None or activation is not None:
            raise ConfigError("variant and activation apply to built-in cells given by name; "
                              "a cell file or Cell defines its own equations")
        if isinstance(spec, Cell):
            return spec
        return load_cell(spec)
    if not isinstance(spec, str):
        raise ConfigError(f"expected a cell name, a cell file path or a Cell, got {spec!r}")
    return get_cell(spec, variant, activation)


def _is_file(path):
    try:
        return os.path.isfile(path)
    except (OSError, ValueError):
        return False
