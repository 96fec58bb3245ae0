"""symrnn: exact BPTT for recurrent cells, derived by SymPy, emitted as NumPy (or PyTorch).

    >>> import symrnn
    >>> net = symrnn.network("lstm", output="sequence")
    >>> module = symrnn.generate(net, load=True)
    >>> params = module.init_params(3, 4, 2)
    >>> sorted(params)[:3]
    ['b_f', 'b_g', 'b_i']

Imports (lazily, on first use): the registry, network, codegen and the modules named in ``_LAZY``.
"""

import importlib
import sys
import types

from .errors import BuildCheckError, CellError, CellFileError, ConfigError, InputError, SymrnnError

# Everything but the errors loads SymPy, so it is imported on first use
# (PEP 562): a generated module takes InputError from symrnn.errors without
# paying for SymPy. Name -> the submodule that defines it.
_LAZY = {
    **dict.fromkeys(("format_cell", "load_cell", "parse_cell"), "cellfile"),
    **dict.fromkeys(("Cell", "parameters", "vectors"), "cells"),
    **dict.fromkeys(("CELLS", "get_cell", "resolve_cell"), "registry"),
    **dict.fromkeys(("load_module", "render", "write_module"), "codegen"),
    "copy_table": "copies",
    "Network": "network",
    **dict.fromkeys(("dot", "identity", "prev", "relu", "sigmoid"), "rules"),
}


# Submodules reached as attributes (``symrnn.nn.LSTM`` after ``import symrnn``): nn imports torch.
_LAZY_SUBMODULES = ("nn",)


def __getattr__(name):
    if name in _LAZY_SUBMODULES:
        return importlib.import_module(f".{name}", __name__)
    if name not in _LAZY:
        raise AttributeError(f"module 'symrnn' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(_LAZY) | set(_LAZY_SUBMODULES))


class _Package(types.ModuleType):
    """Keeps the function :func:`network` when the submodule of the same name
    is first imported (the import system would set the attribute to it)."""

    def __setattr__(self, name, value):
        if name == "network" and isinstance(value, types.ModuleType):
            return
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package

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
    "copy_table",
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
    from .network import Network
    from .registry import resolve_cell

    cell = resolve_cell(cell, variant, activation)
    return Network(cell, layers=layers, output=output, loss=loss, out_activation=out_activation)


def generate(net, path=None, *, load=False, backend="numpy"):
    """Generate ``net``'s module in ``backend`` ("numpy", or "torch": a
    ``torch.nn.Module`` whose backward is the derived BPTT): write it to
    ``path`` if given, and return the loaded module if ``load`` else the
    source text."""
    from .codegen import load_module, render, write_module

    if path is not None:
        write_module(net, path, backend=backend)
    return load_module(net, backend=backend) if load else render(net, backend=backend)
