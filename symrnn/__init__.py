"""symrnn: exact BPTT for recurrent cells, derived by SymPy, emitted as NumPy.

    >>> import symrnn
    >>> net = symrnn.network("lstm", output="sequence")
    >>> module = symrnn.generate(net, load=True)
    >>> params = module.init_params(3, 4, 2)
    >>> sorted(params)[:3]
    ['b_f', 'b_g', 'b_i']
"""

from .cellfile import format_cell, load_cell, parse_cell
from .cells import CELLS, Cell, get_cell, parameters, resolve_cell, vectors
from .codegen import load_module, render, write_module
from .errors import BuildCheckError, CellError, CellFileError, ConfigError, InputError, SymrnnError
from .network import Network
from .rules import dot, identity, prev, relu, sigmoid

__all__ = [
    "CELLS",
    "BuildCheckError",
    "Cell",
    "CellError",
    "CellFileError",
    "ConfigError",
    "InputError",
    "Network",
    "SymrnnError",
    "dot",
    "format_cell",
    "generate",
    "get_cell",
    "identity",
    "load_cell",
    "load_module",
    "network",
    "parameters",
    "parse_cell",
    "prev",
    "relu",
    "render",
    "resolve_cell",
    "sigmoid",
    "vectors",
    "write_module",
]


def network(cell, *, variant=None, activation=None, layers=1, output="last", loss="squared",
            out_activation=None):
    """A :class:`Network` from a built-in cell name, a cell file's path
    (``"mgu.cell"``, see :mod:`symrnn.cellfile`) or a :class:`Cell`."""
    cell = resolve_cell(cell, variant, activation)
    return Network(cell, layers=layers, output=output, loss=loss, out_activation=out_activation)


def generate(net, path=None, *, load=False):
    """Generate ``net``'s NumPy module: write it to ``path`` if given, and
    return the loaded module if ``load`` else the source text."""
    if path is not None:
        write_module(net, path)
    return load_module(net) if load else render(net)
