"""Every state's adjoint at every step (``per_step=True``'s
``grads["state_adjoints"]``) against SymPy's diff of the nested unrolled cost
with respect to that state's value at that step, for T <= 3 with one unit per
vector: the derivative through every later use of the value, in the same step
(a later equation reading it) and in later steps."""

from pathlib import Path

import mpmath
import numpy as np
import pytest
import sympy

import symrnn
from symrnn.unroll import Unrolled
from symrnn.verify import _reference_functions, _with_reference_functions

SCRN = Path(__file__).parent / "cells" / "scrn.cell"


def expanded(u, expr, stop):
    """``expr`` in inputs, parameters and ``stop`` (a value left a symbol)."""
    while True:
        mapping = {s: u.values[s] for s in expr.free_symbols if s in u.values and s != stop}
        if not mapping:
            return expr
        expr = expr.xreplace(mapping)


def sympy_state_adjoints(network, steps, seed=0):
    """{(layer, state name): [dC/d(state at step t) for t = 1..steps]} by SymPy,
    and the point it is taken at (one value per parameter and per initial state,
    x and y per step)."""
    mpmath.mp.dps = 30
    u = Unrolled(network, steps)
    functions, modules = _reference_functions()
    rng = np.random.default_rng(seed)
    values = {name: rng.uniform(-1, 1) for name in [*network.param_shapes(), *u.initial]}
    xs, ys = rng.uniform(-1, 1, steps), rng.uniform(-1, 1, steps)
    point = {sympy.Symbol("mask"): 1.0}
    for name in network.param_shapes():
        point.update(dict.fromkeys(u.copies(name), values[name]))
    point.update({symbol: values[name] for name, symbol in u.initial.items()})
    point.update({sympy.Symbol(f"x_{t}"): xs[t - 1] for t in range(1, steps + 1)})
    point.update({sympy.Symbol(f"y_{t}"): ys[t - 1] for t in range(1, steps + 1)})

    def evaluate(expr):
        expr = _with_reference_functions(expr, functions)
        args = sorted(expr.free_symbols, key=lambda s: s.name)
        return float(sympy.lambdify(args, expr, modules)(*[point[s] for s in args]))

    adjoints = {}
    for layer in range(1, network.layers + 1):
        for state in network.cell.states:
            column = []
            for t in range(1, steps + 1):
                symbol = u.at(state, layer, t)
                point[symbol] = evaluate(expanded(u, symbol, None))
                cost = _with_reference_functions(expanded(u, u.cost, symbol), functions)  # SymPy differentiates them
                column.append(evaluate(sympy.diff(cost, symbol)))
            adjoints[layer, state.name] = column
    return adjoints, values, xs, ys


@pytest.mark.parametrize("cell,layers,output", [
    ("rnn", 2, "sequence"),
    ("lstm", 1, "last"),
    ("gru", 1, "sequence"),
    (str(SCRN), 1, "sequence"),
    (str(SCRN), 2, "last"),
], ids=lambda value: Path(value).stem if isinstance(value, str) else str(value))
def test_state_adjoints_equal_sympy(cell, layers, output):
    network = symrnn.network(cell, layers=layers, output=output)
    steps = 3
    expected, values, xs, ys = sympy_state_adjoints(network, steps)
    module = symrnn.load_module(network)
    params = {name: np.full([1] * len(shape), values[name]) for name, shape in module.PARAMS.items()}
    state0 = {name: np.full((1, 1), values[name]) for layer in module.INITIAL_STATES for name in layer}
    y = ys[-1:].reshape(1, 1) if output == "last" else ys.reshape(steps, 1, 1)
    _, grads = module.loss_and_grad(params, xs.reshape(steps, 1, 1), y, state0=state0, per_step=True)
    for (layer, state), column in expected.items():
        key = module.LAYER_STATES[layer - 1][module.CELL_STATES.index(state)]
        np.testing.assert_allclose(grads["state_adjoints"][key].reshape(steps), column, rtol=1e-10, atol=1e-12,
                                   err_msg=key)
