"""The primitives of cell equations and the one table of derivative rules.

Cell equations are SymPy expressions over *vectors* (SymPy symbols standing
for whole vectors; ``*`` and ``+`` act elementwise) and *parameters*.  Beyond
SymPy's own algebra they use:

* ``dot(w, v)``: the matrix-vector product w·v of the notes;
* ``dot_t(w, v)``: the transposed product w^T·v (a cell's ``w^(W)^T h[t-1]``,
  and the product that carries an adjoint back through dot);
* the elementwise functions of :data:`ELEMENTWISE` (tanh, sigmoid, relu, exp,
  sqrt, log, softplus, and max of two vectors);
* the row-wise functions of :data:`ROW_FUNCTIONS`: ``mean(v)``, one number per
  item broadcast back over the units, and the output layer's log-softmax;
* ``prev(h)``: a state's value at the previous step, h_{t-1}; ``prev(x)``, the
  input's (zero at the first step).

Every derivative rule symbol rnn knows lives in this module, one entry each:
elementwise functions in :data:`ELEMENTWISE` (written in terms of the stored
output where the function allows), and the rules of the structural
primitives (affine map, row-wise log-softmax, total sum) in
:func:`affine_vjp`, :data:`ROW_FUNCTIONS` and the engine's use of SymPy's own
``diff`` for polynomial algebra.

Imports: nothing from symrnn (every layer above reads this table).
"""

from collections.abc import Callable
from dataclasses import dataclass
from typing import NamedTuple

import sympy

# --------------------------------------------------------------------------
# Structural primitives
# --------------------------------------------------------------------------


class dot(sympy.Function):
    """w·v: parameter matrix ``w`` times vector ``v`` (shape (out, in) · (in,))."""

    nargs = 2
    is_commutative = True


class dot_t(sympy.Function):
    """w^T·u: the transposed product that carries an adjoint back through dot."""

    nargs = 2
    is_commutative = True


class outer(sympy.Function):
    """u ⊗ v summed over the batch: a weight's gradient contribution."""

    nargs = 2
    is_commutative = True


class row_sum(sympy.Function):
    """Sum over the units of a vector, broadcast back to every unit."""

    nargs = 1
    is_commutative = True


class mean(sympy.Function):
    """The mean over the units of a vector: one number per item, broadcast
    back to every unit (layer normalization's mean and variance)."""

    nargs = 1
    is_commutative = True


def units(letter):
    """The number of units of the vectors of size ``letter`` (H, P, ...): a
    positive integer symbol, which no vector or parameter symbol equals."""
    return sympy.Symbol(letter, integer=True, positive=True)


def is_units(symbol):
    return isinstance(symbol, sympy.Symbol) and symbol.is_integer is True and symbol.is_positive is True


class prev(sympy.Function):
    """h_{t-1}: a state's value at the previous step."""

    nargs = 1
    is_commutative = True


# --------------------------------------------------------------------------
# Elementwise functions
# --------------------------------------------------------------------------


class sigmoid(sympy.Function):
    """The logistic function σ(u) = 1 / (1 + e^{-u})."""

    nargs = 1
    is_commutative = True


class relu(sympy.Function):
    """max(u, 0)."""

    nargs = 1
    is_commutative = True


class sqrt(sympy.Function):
    """The square root, elementwise (a function of its own, not SymPy's power
    1/2, so that its derivative is a row of the table, 1/(2 sqrt(u)))."""

    nargs = 1
    is_commutative = True


class softplus(sympy.Function):
    """log(1 + e^u), elementwise."""

    nargs = 1
    is_commutative = True


class maximum(sympy.Function):
    """max(a, b), elementwise (``max`` in cell files)."""

    nargs = 2
    is_commutative = True


class step(sympy.Function):
    """1 where the argument is positive, else 0 (relu's derivative)."""

    nargs = 1
    is_commutative = True


class log_softmax(sympy.Function):
    """Row-wise log-softmax over the units of a vector."""

    nargs = 1
    is_commutative = True


def identity(u):
    """The identity activation: returns its argument unchanged."""
    return u


class ExpForm(NamedTuple):
    """f(u) computed from E = e(k·u), ``function`` e "exp" or "expm1" and
    ``factor`` k, by in-place NumPy ``statements`` on a block ``{0}`` holding
    E: the gates of a store of such functions are then activated by one call
    per run of one function, each gate's k folded into its weights. E
    overflows to inf for a huge argument (the result is then the exact
    limit), so the function computing it runs under the errstate decorator."""

    factor: int
    function: str
    statements: tuple


@dataclass(frozen=True)
class ElementwiseRule:
    """How one elementwise function is written, differentiated and computed.

    ``derivative(y, u)`` is dy/du, in terms of the output ``y`` where the
    function allows so that backward reuses stored forward values; for a
    function of several arguments, ``derivative(y, a, b)`` is the tuple of
    its partial derivatives (``{0}``, ``{1}`` are then the arguments of the
    runtime forms and ``{2}`` the array written into).
    ``numpy`` is its runtime form in generated code, an expression template
    (``{0}`` is the argument), and ``numpy_out`` the same written into an
    existing array ``{1}``; ``torch`` and ``torch_out`` are the same in
    PyTorch (no helper: torch's kernels are accurate and vectorised, so the
    exp forms are NumPy's alone); ``helper`` is the source of the helper function
    that form calls, which the generated module must define, and
    ``errstate`` whether that helper may overflow or divide by zero on
    purpose, so that the function calling it must silence those warnings
    (``np.errstate(over="ignore", divide="ignore")``). This row is the one
    place that says how the function is computed at run time.
    """

    function: type
    derivative: Callable
    numpy: str
    numpy_out: str
    helper: str = ""
    definition: Callable | None = None  # in SymPy's elementary functions, if not one itself
    latex: str = ""  # its name in derivations, e.g. r"\tanh"
    exp_form: ExpForm | None = None  # how a store of gates computes it from one exp call (EXP_FORMS)
    # a lone application in a layer's step computed from its exp form too (not the helper)
    exp_alone: bool = False
    domain: str = ""  # "positive": the only arguments a cell may give it (symrnn.signs)
    # the sign of its value: "positive", "non-negative", "argument" (its argument's), "greatest"
    # (its greatest argument's), "" (none known)
    value_sign: str = ""
    errstate: bool = False
    torch: str = ""
    torch_out: str = ""


SIGMOID_HELPER = '''def _sigmoid(z, out=None):
    """Logistic function from e = exp(-|z|): it never overflows and keeps full
    relative precision for large negative z. ``out`` may be ``z`` itself."""
    positive = z >= 0
    e = np.exp(-np.abs(z))
    r = 1.0 / (1.0 + e)
    out = np.multiply(e, r, out=out)
    np.copyto(out, r, where=positive)
    return out
'''

TANH_HELPER = '''def _tanh_from_expm1(z, out=None):
    """tanh(z), for a float64 array of a thousand values or more as
    -1/(1 + 2/E) with E = expm1(-2z): faster than NumPy's own tanh where its
    float64 loop is not vectorised (see _tanh). Accurate to a few ulp for
    every z (no cancellation: 1 + 2/E is never near 0). Call it under
    np.errstate(over="ignore", divide="ignore"): E overflows to inf for
    z < -355, giving exactly -1, and z = 0 divides 2 by 0, giving tanh(+-0) = +-0.
    Subnormal z (|z| < 5.6e-309) gives +-0. ``out`` may be ``z``."""
    if z.dtype != np.float64 or z.size < 1000:
        return np.tanh(z, out=out)
    out = np.multiply(z, -2, out=out)
    np.expm1(out, out=out)
    np.divide(2, out, out=out)
    out += 1
    return np.divide(-1, out, out=out)


def _numpy_tanh_is_vectorised():
    """Whether NumPy's float64 tanh runs a SIMD loop on this CPU (AVX2 or
    AVX-512 in NumPy 2.4), as NumPy >= 2.0 reports; older NumPy cannot say."""
    try:
        from numpy.lib.introspect import opt_func_info

        loops = opt_func_info(func_name="^tanh$", signature="^float64$")["tanh"]
        return not next(iter(loops.values()))["current"].startswith("baseline")
    except (ImportError, KeyError, StopIteration):
        return False


# NumPy's own tanh where its float64 loop is vectorised: 1.2 to 4 times as fast as the expm1
# form there (AVX2, AVX-512), and no wrapper call per step; the expm1 form where it is not,
# which is up to 1.3 times as fast for large arrays. Decided once, when the module is imported.
_tanh = np.tanh if _numpy_tanh_is_vectorised() else _tanh_from_expm1
'''

# sigmoid(u) = 1/(1 + E), E = exp(-u): 1 + E >= 1, no cancellation, a few ulp for every u (NumPy's
# float64 exp is vectorised, its expm1 not); E = inf (u < -709) gives 0, the limit (results below
# the smallest normal number flush to 0). np.divide(1, .) is faster than np.reciprocal.
# Alone (exp_alone), its four calls take about 9 us on (32, 128) float64 against the helper's 20.
SIGMOID_EXP_FORM = ExpForm(-1, "exp", ("{0} += 1", "np.divide(1, {0}, out={0})"))
# tanh(u) = (1 - e^-2u)/(1 + e^-2u) = -E/(E + 2) = -1/(1 + 2/E), E = expm1(-2u): 1 + 2/E is never
# near 0 (|2/E| > 2 where E < 0), so the result has a few ulp of error for every u; E = inf gives
# -1, E = -1 gives 1, E = +-0 (u = -+0) gives 2/E = +-inf and tanh = -+0 (a divide-by-zero
# warning to silence); subnormal u (|u| < 5.6e-309) overflows 2/E and gives +-0.
TANH_EXP_FORM = ExpForm(-2, "expm1", ("np.divide(2, {0}, out={0})", "{0} += 1", "np.divide(-1, {0}, out={0})"))

ELEMENTWISE = {
    # tanh: NumPy's own where its float64 loop is vectorised, else from one expm1 (TANH_HELPER),
    # which overflows on purpose
    "tanh": ElementwiseRule(sympy.tanh, lambda y, u: 1 - y**2, "_tanh({0})", "_tanh({0}, out={1})", TANH_HELPER,
                           latex=r"\tanh", exp_form=TANH_EXP_FORM, errstate=True, value_sign="argument",
                           torch="torch.tanh({0})", torch_out="torch.tanh({0}, out={1})"),
    "sigmoid": ElementwiseRule(sigmoid, lambda y, u: y * (1 - y), "_sigmoid({0})", "_sigmoid({0}, out={1})",
                               SIGMOID_HELPER, lambda u: 1 / (1 + sympy.exp(-u)), latex=r"\sigma",
                               exp_form=SIGMOID_EXP_FORM, exp_alone=True, value_sign="positive",
                               torch="torch.sigmoid({0})", torch_out="torch.sigmoid({0}, out={1})"),
    "relu": ElementwiseRule(relu, lambda y, u: step(y), "np.maximum({0}, 0.0)", "np.maximum({0}, 0.0, out={1})",
                            definition=lambda u: sympy.Max(u, 0), latex=r"\operatorname{relu}",
                            value_sign="non-negative",
                            torch="torch.relu({0})", torch_out="torch.clamp_min({0}, 0.0, out={1})"),
    "exp": ElementwiseRule(sympy.exp, lambda y, u: y, "np.exp({0})", "np.exp({0}, out={1})", latex=r"\exp",
                           value_sign="positive",
                           torch="torch.exp({0})", torch_out="torch.exp({0}, out={1})"),
    "sqrt": ElementwiseRule(sqrt, lambda y, u: 1 / (2 * y), "np.sqrt({0})", "np.sqrt({0}, out={1})",
                            definition=sympy.sqrt, latex=r"\sqrt", domain="positive",
                            value_sign="argument",
                            torch="torch.sqrt({0})", torch_out="torch.sqrt({0}, out={1})"),
    "log": ElementwiseRule(sympy.log, lambda y, u: 1 / u, "np.log({0})", "np.log({0}, out={1})", latex=r"\log",
                           domain="positive",
                           torch="torch.log({0})", torch_out="torch.log({0}, out={1})"),
    # log(1 + e^u) as logaddexp(0, u): no overflow for large u, no loss for very negative u;
    # its derivative is sigmoid(u) of the stored argument (1 - e^-y would cancel for small y)
    "softplus": ElementwiseRule(softplus, lambda y, u: sigmoid(u), "np.logaddexp(0.0, {0})",
                                "np.logaddexp(0.0, {0}, out={1})",
                                definition=lambda u: sympy.log(1 + sympy.exp(u)), latex=r"\operatorname{softplus}",
                                value_sign="positive",
                                torch="torch.logaddexp({0}, torch.zeros_like({0}))",
                                torch_out="torch.logaddexp({0}, torch.zeros_like({0}), out={1})"),
    # a tie sends the whole adjoint to the first argument
    "max": ElementwiseRule(maximum, lambda y, a, b: (step(a - b), 1 - step(a - b)),
                           "np.maximum({0}, {1})", "np.maximum({0}, {1}, out={2})",
                           definition=sympy.Max, latex=r"\max", value_sign="greatest",
                           torch="torch.maximum({0}, {1})", torch_out="torch.maximum({0}, {1}, out={2})"),
}

RULE_BY_FUNCTION = {rule.function: rule for rule in ELEMENTWISE.values()}

# Gates activated from E = e(k·u), one call per run of one function (one exp call activates a store's
# sigmoid gates together, the scaling folded into the weights), each to a few ulp:
# sigmoid(u) = 1/(1 + exp(-u)) (k = -1), tanh(u) = -1/(1 + 2/expm1(-2u)) (k = -2).
EXP_FORMS = {rule.function: rule.exp_form for rule in ELEMENTWISE.values() if rule.exp_form}

# Activations a user may pick by name for a cell or the output layer.
ACTIVATIONS = {
    "tanh": sympy.tanh,
    "sigmoid": sigmoid,
    "relu": relu,
    "identity": identity,
}


# --------------------------------------------------------------------------
# Row-wise functions (each unit's output depends on the whole row)
# --------------------------------------------------------------------------

LOG_SOFTMAX_HELPER = '''def _log_softmax(z):
    """Row-wise log-softmax, shifted by the row maximum m so it never
    overflows: (z - m) - log1p(s), s the sum of exp(z - m) over the row's
    entries other than (the first) m. Accurate to a few ulp: log1p keeps the
    relative precision of an entry near 0 (a probability near 1), and each
    exp(z - m) is corrected for the rounding of z - m (exact by TwoSum), which
    would otherwise cost |z - m| / 2 ulp."""
    top = z.argmax(axis=-1)[..., None]
    m = np.take_along_axis(z, top, axis=-1)
    shifted = z - m
    back = shifted - z
    with np.errstate(invalid="ignore"):  # nan only where z - m overflows to -inf, and exp(-inf) = 0
        err = (z - (shifted - back)) - (m + back)
    e = np.exp(shifted)
    err += 1
    e *= err
    np.put_along_axis(e, top, 0, axis=-1)
    np.nan_to_num(e, copy=False, nan=0.0)
    return shifted - np.log1p(e.sum(axis=-1, keepdims=True))
'''


@dataclass(frozen=True)
class RowRule:
    """A row-wise function: its vector-Jacobian product in terms of output y.

    ``vjp(y, y_bar, sizes)``: ``sizes`` is (the size letter y_bar is held at,
    the size letter of the argument u), or None where every vector has one
    size. A value with one number per item (a mean) has its adjoint held
    at the size of the place that reads it, unreduced, or reduced to one
    number per item ("1") where places of several sizes read it."""

    function: type
    vjp: Callable  # (y, y_bar, sizes) -> u_bar
    numpy: str
    helper: str
    errstate: bool = False  # as ElementwiseRule.errstate
    torch: str = ""  # the PyTorch form (a torch function, no helper)


ROW_FUNCTIONS = {
    "mean": RowRule(mean, lambda y, y_bar, sizes: _mean_vjp(y_bar, *(sizes or (None, None))),
                    "np.mean({0}, axis=-1, keepdims=True)", "", torch="{0}.mean(dim=-1, keepdim=True)"),
    "log_softmax": RowRule(
        log_softmax,
        lambda y, y_bar, sizes: y_bar - sympy.exp(y) * row_sum(y_bar),
        "_log_softmax({0})",
        LOG_SOFTMAX_HELPER,
        torch="torch.log_softmax({0}, dim=-1)",
    ),
}

def _mean_vjp(y_bar, held_at, argument_size):
    """y = mean(u) read by every unit i of its places: u_bar_j = sum_i y_bar_i / n_u.
    Held at u's own size that is the mean of y_bar again; held at another
    size P, its row sum over H (not its mean, which divides by P); reduced
    to one number per item, itself over H."""
    if held_at == argument_size:
        return mean(y_bar)
    total = y_bar if held_at == "1" else row_sum(y_bar)
    return total / units(argument_size)


ROW_RULE_BY_FUNCTION = {rule.function: rule for rule in ROW_FUNCTIONS.values()}


def affine_vjp(weight, arg, u_bar, transposed=False):
    """Rule of u = w·v (+ b), or of u = w^T·v (``transposed``): adjoints of v
    and w. The bias gets u_bar itself."""
    if transposed:
        return dot(weight, u_bar), outer(arg, u_bar)
    return dot_t(weight, u_bar), outer(u_bar, arg)


def rule_of(function):
    """The rule of an elementwise or row-wise function class, or None."""
    return RULE_BY_FUNCTION.get(function) or ROW_RULE_BY_FUNCTION.get(function)


def function_rule(expr):
    """The rule of an elementwise or row-wise function application, or None."""
    return rule_of(type(expr))


def known_function_names():
    return sorted(set(ELEMENTWISE) | set(ROW_FUNCTIONS))


def explicit(expr):
    """``expr`` with every function of the table written in SymPy's elementary
    functions, so that SymPy can differentiate it without the table's rules
    (used to check the engine independently)."""
    for rule in ELEMENTWISE.values():
        if rule.definition is not None:
            expr = expr.replace(rule.function, rule.definition)
    return expr
