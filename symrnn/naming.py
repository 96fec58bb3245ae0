"""One home for names: what a user may call things, and how symrnn derives
the names it makes (layer suffixes, intermediates, adjoints).

Names a user gives (vectors, parameters) are checked here against strict
patterns before they reach generated code, file names or LaTeX.

Rules
-----
* A vector (input, state, gate) is a lowercase letter followed by lowercase
  letters or digits: ``x``, ``h``, ``c``, ``f``.
* A parameter is ``w_`` (a weight, used in a matrix-vector product), ``b_``
  (a bias or other elementwise parameter) or ``g_`` (an elementwise gain, as
  layer normalization's) followed by letters or digits, after the notes:
  ``w_x`` is w^(x), ``w_F`` is w^(F), ``b_a`` is b^(a), ``g_n`` is g^(n).
* In a network of L >= 2 stacked layers every cell parameter and initial
  state carries its layer number as a suffix ``_l<n>``: ``w_x_l2`` is layer
  2's w^(x). A one-layer network uses the bare names.
* The output layer is always ``w_y``, ``b_y`` (y for the prediction). The
  notes write w^(o) both for the output layer and for the LSTM's output gate;
  symrnn keeps w^(o) for the gate so that one name means one thing in every
  network.
* Initial states are named after their state with a ``0``: ``h0``, ``c0``
  (``h0_l2`` in layer 2).

Imports: errors only (every other module may import it).
"""

import builtins
import keyword
import re

from .errors import CellError

VECTOR_PATTERN = re.compile(r"[a-z][a-z0-9]{0,15}\Z")
PARAM_PATTERN = re.compile(r"[wbg]_[A-Za-z][A-Za-z0-9]{0,15}\Z")

# Names generated code binds beside a cell's vectors, and why. A vector
# (whose name has no '_') may not take one: it would shadow the generated
# name, or, for the joining words, make two generated names equal (a vector
# 'prev' beside a state 'd' would give d_prev twice). tests/test_naming.py
# reads every generated module and fails when a name is missing here.
GENERATED_NAMES = {
    **{name: "a name of the layer functions of generated code" for name in (
        "np", "t", "inputs", "cache", "grads", "params", "layer", "name", "names", "full", "top", "y",
        "mask", "rows", "outputs", "lengths", "sizes", "dtype", "state0", "states0", "head", "loss", "keep",
        "steps", "adjoints")},
    **{word: "generated code joins it to vector names with '_' (h_prev, h_hist, f_seq, d_h_next, ...)"
       for word in ("prev", "hist", "seq", "next", "out", "all", "pre", "dpre", "proj", "exp", "gates",
                    "slots")},
}
RESERVED = frozenset(keyword.kwlist) | frozenset(dir(builtins)) | frozenset(GENERATED_NAMES)

OUTPUT_WEIGHT = "w_y"
OUTPUT_BIAS = "b_y"


def check_vector_name(name, role="vector"):
    """Return ``name`` if it is a valid vector name, else raise CellError."""
    if not isinstance(name, str) or not VECTOR_PATTERN.match(name):
        raise CellError(
            f"invalid {role} name {name!r}: expected a lowercase letter followed by up to "
            "15 lowercase letters or digits (e.g. 'h', 'c', 'f')"
        )
    if name in RESERVED:
        raise CellError(f"invalid {role} name {name!r}: it is reserved in generated Python code "
                        f"({reserved_reason(name)})")
    return name


def reserved_reason(name):
    """Why generated code keeps ``name`` for itself."""
    if keyword.iskeyword(name):
        return "a Python keyword"
    if name in GENERATED_NAMES:
        return GENERATED_NAMES[name]
    return "a Python built-in"


def initial_state_clash(cell):
    """``(vector, state)`` when a vector of ``cell`` is named like a state's
    initial value (``h0`` beside the state ``h``), else None."""
    initial = {initial_state_name(s.name): s for s in cell.states}
    for vector in (cell.input, *cell.states, *(lhs for lhs, _ in cell.equations)):
        if vector.name in initial:
            return vector, initial[vector.name]
    return None


def check_param_name(name):
    """Return ``name`` if it is a valid parameter name, else raise CellError."""
    if not isinstance(name, str) or not PARAM_PATTERN.match(name):
        raise CellError(
            f"invalid parameter name {name!r}: expected 'w_', 'b_' or 'g_' followed by a letter and "
            "up to 15 letters or digits (e.g. 'w_x', 'w_F', 'b_a', 'g_n')"
        )
    if name in (OUTPUT_WEIGHT, OUTPUT_BIAS):
        raise CellError(f"parameter name {name!r} is reserved for the output layer")
    return name


def is_param_name(name):
    """Whether ``name`` names a parameter (``w_...``, ``b_...`` or a gain ``g_...``): the one place that says so."""
    return name.startswith(("w_", "b_", "g_"))


def is_gain(name):
    """Whether the parameter ``name`` is one of the notes' gains ``g^(...)``
    (``g_f``, ``g_f_l2``), which the modules for training start at 1."""
    return name.startswith("g_")


def layer_name(name, layer, layers):
    """The name of a cell parameter or initial state in ``layer`` of ``layers``."""
    return name if layers == 1 else f"{name}_l{layer}"


def initial_state_name(state):
    return f"{state}0"


def adjoint_name(name):
    """Name of the adjoint dC/d(name) in derivations and generated code."""
    return f"d_{name}"


def next_adjoint_name(state):
    """Name of the adjoint a state receives from step t+1, ``d_h_next``."""
    return f"d_{state}_next"


def output_adjoint_name(state):
    """Name of the adjoint the exposed state receives from above (the layer
    above or the output layer) at its own step, ``d_h_out``."""
    return f"d_{state}_out"


def prev_name(state):
    """Name of a state's value at the previous step, ``h[t-1]``."""
    return f"{state}_prev"


def param_suffix(param):
    """The notes' superscript of a parameter: ``w_F`` -> ``F``."""
    return param.split("_", 1)[1]
