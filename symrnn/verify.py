"""Verification of generated modules against central finite differences.

Every gradient a module returns (each parameter, the input x and each
initial state) is compared, in float64, with a fourth-order central
difference of the cost. Two routes are checked: ``loss_and_grad`` (the cost
itself) and ``backward`` (a random dC/d(outputs), i.e. the cost
<d_outputs, outputs>). The error of one array is
``max|g - fd| / max(max|g|, max|fd|)``; a module passes when every array's
error is at most :data:`TOLERANCE`. Gradients of x at steps past an item's
length must be exactly zero.
"""

from dataclasses import dataclass

import numpy as np

from .codegen import load_module

TOLERANCE = 1e-6
SIZES = {"D": 3, "H": 4, "K": 2, "T": 4, "B": 3}
UNEQUAL_LENGTHS = (4, 2, 3)


@dataclass
class Verification:
    name: str
    lengths: str
    max_error: float
    worst: str
    checked: int
    padded_zero: bool

    @property
    def passed(self):
        return self.max_error <= TOLERANCE and self.padded_zero


def _case(module, network, unequal, seed):
    rng = np.random.default_rng(seed)
    D, H, K, T, B = (SIZES[k] for k in "DHKTB")
    params = module.init_params(D, H, K, seed=seed)
    x = rng.normal(size=(T, B, D))
    lengths = np.array(UNEQUAL_LENGTHS) if unequal else None
    out_shape = (B, K) if network.output == "last" else (T, B, K)
    if network.loss == "xent":
        y = rng.dirichlet(np.ones(K), size=out_shape[:-1])
    else:
        y = rng.normal(size=out_shape)
    state0 = {name: 0.5 * rng.normal(size=(B, H)) for names in module.INITIAL_STATES for name in names}
    d_outputs = rng.normal(size=out_shape)
    return params, x, lengths, y, state0, d_outputs


def _central_difference(cost, array, step=1e-4):
    """Fourth-order central difference of ``cost()`` for each entry of ``array``
    (changed in place and restored)."""
    grad = np.zeros_like(array)
    for index in np.ndindex(array.shape):
        original = array[index]
        values = []
        for offset in (2, 1, -1, -2):
            array[index] = original + offset * step
            values.append(cost())
        array[index] = original
        grad[index] = (-values[0] + 8 * values[1] - 8 * values[2] + values[3]) / (12 * step)
    return grad


def relative_error(computed, reference):
    scale = max(np.max(np.abs(computed)), np.max(np.abs(reference)))
    return 0.0 if scale == 0 else float(np.max(np.abs(computed - reference)) / scale)


def check_gradients(module, network, *, unequal=False, seed=0):
    """Finite-difference check of one module; returns a :class:`Verification`."""
    params, x, lengths, y, state0, d_outputs = _case(module, network, unequal, seed)
    arrays = {**params, "x": x, **state0}
    routes = {
        "loss": (lambda: module.loss_and_grad(params, x, y, lengths, state0)[0],
                 module.loss_and_grad(params, x, y, lengths, state0)[1]),
        "outputs": (lambda: float(np.sum(d_outputs * module.forward(params, x, lengths, state0)[0])),
                    module.backward(params, module.forward(params, x, lengths, state0)[1], d_outputs)),
    }
    worst, worst_name, checked, padded_zero = 0.0, "", 0, True
    for route, (cost, grads) in routes.items():
        for name, array in arrays.items():
            error = relative_error(grads[name], _central_difference(cost, array))
            checked += array.size
            if error >= worst:
                worst, worst_name = error, f"{name} ({route})"
        if lengths is not None:
            for item, length in enumerate(lengths):
                padded_zero &= bool(np.all(grads["x"][length:, item] == 0))
    return Verification(network.module_name, "unequal" if unequal else "equal", worst, worst_name,
                        checked, padded_zero)


def verify_network(network, seed=0):
    """Check ``network``'s generated module with equal and unequal lengths."""
    module = load_module(network)
    return [check_gradients(module, network, unequal=unequal, seed=seed) for unequal in (False, True)]


def format_table(results):
    """Plain-text table of verification results."""
    rows = [("module", "lengths", "max rel. error", "worst array", "entries", "status")]
    for r in results:
        status = "ok" if r.passed else ("FAIL: padded x grad not 0" if not r.padded_zero else "FAIL")
        rows.append((r.name, r.lengths, f"{r.max_error:.2e}", r.worst, str(r.checked), status))
    widths = [max(len(row[k]) for row in rows) for k in range(len(rows[0]))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)
