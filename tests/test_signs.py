"""The sign analysis that admits sqrt and log arguments (symrnn.signs)."""

import pytest
import sympy

import symrnn
from symrnn.cellfile import parse_cell
from symrnn.errors import CellError
from symrnn.registry import PAPER_CELLS
from symrnn.rules import ELEMENTWISE, dot, maximum, mean, prev, relu, sigmoid, softplus, sqrt
from symrnn.signs import NON_NEGATIVE, POSITIVE, UNKNOWN, outside_domain, sign, step_signs

u, v, h = sympy.symbols("u v h")
w = sympy.Symbol("w_x")
x = sympy.Symbol("x")
m = u - mean(u)


@pytest.mark.parametrize("expr, expected", [
    (sympy.Float(1e-5), POSITIVE),
    (sympy.Integer(0), NON_NEGATIVE),
    (sympy.Integer(-2), UNKNOWN),
    (u, UNKNOWN),
    (u**2, NON_NEGATIVE),
    (u**3, UNKNOWN),
    (u**-2, UNKNOWN),  # 1/u^2: no bound where u may be 0
    (mean(m**2) + sympy.Float(1e-5), POSITIVE),  # layer normalization's variance
    (mean(m**2), NON_NEGATIVE),
    (1 + prev(h)**2, POSITIVE),
    (sympy.exp(u, evaluate=False), POSITIVE),
    (sigmoid(u) * softplus(v), POSITIVE),
    (relu(u), NON_NEGATIVE),
    (relu(u) + sigmoid(u), POSITIVE),
    (-sigmoid(u), UNKNOWN),
    (u - mean(u), UNKNOWN),
    (sympy.tanh(sigmoid(u), evaluate=False), POSITIVE),
    (sympy.tanh(u, evaluate=False), UNKNOWN),
    (sqrt(u**2), NON_NEGATIVE),
    (maximum(u, sigmoid(v)), POSITIVE),
    (maximum(u, v), UNKNOWN),
    (dot(w, x), UNKNOWN),
    (sympy.log(2 + u**2, evaluate=False), UNKNOWN),  # log's value has no sign of its own
])
def test_sign_of_an_expression(expr, expected):
    assert sign(expr, {}) == expected


def test_earlier_values_carry_their_sign():
    equations = [(u, sigmoid(dot(w, x))), (v, u - 1), (h, u * v**2)]
    assert step_signs(equations) == {u: POSITIVE, v: UNKNOWN, h: NON_NEGATIVE}
    assert outside_domain(sympy.log(u, evaluate=False) * sqrt(u + h), step_signs(equations)) is None
    for function in (sympy.log, sqrt):  # h may be 0: both derivatives are infinite there
        node, domain = outside_domain(function(h, evaluate=False), step_signs(equations))
        assert (node.args[0], domain) == (h, "positive")


def test_the_domains_and_value_signs_are_rows_of_the_rule_table():
    assert {n: r.domain for n, r in ELEMENTWISE.items() if r.domain} == {"sqrt": "positive", "log": "positive"}
    assert all(r.value_sign in ("", "positive", "non-negative", "argument", "greatest") for r in ELEMENTWISE.values())


def test_a_cell_built_in_python_is_refused_too():
    a = sympy.Symbol("a")
    with pytest.raises(CellError, match="log of prev.a.: its argument must be positive"):
        symrnn.Cell("c", input=x, states=[a],
                    equations=[(a, sympy.tanh(dot(w, x), evaluate=False) * sympy.log(prev(a), evaluate=False))])


def test_every_built_in_cell_passes():
    """lstm_ln's sqrt(mean(mf^2) + 1e-5) among them."""
    for name in PAPER_CELLS:
        assert symrnn.network(name).cell.name == name
    cell = parse_cell("cell t\ninput x\nstate h\ns = softplus(w^(s) x)\nh = tanh(w^(x) x + h[t-1]) * log(s) * sqrt(s)")
    assert cell.name == "t"
