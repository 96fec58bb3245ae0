"""The LaTeX printer in the notes' notation, and line breaking."""

import pytest
import sympy

from symrnn.errors import ConfigError
from symrnn.latex import BREAK, break_lines, estimate_width, latex, unmarked
from symrnn.network import Network
from symrnn.notation import Notation
from symrnn.registry import get_cell
from symrnn.rules import dot, dot_t, outer, sigmoid

S = sympy.Symbol


def lstm_names(steps=2):
    return Notation(Network(get_cell("lstm")), steps).names


def test_notes_notation_for_parameters_gates_and_copies():
    names = lstm_names()
    assert names[S("w_F")] == r"w^{\left(F\right)}"
    assert names[S("w_F_2")] == r"w^{\left(F\right)}_{2}"
    assert names[S("f@t")] == r"a^{\left(f\right)}_{t}"
    assert names[S("h@t-1")] == r"a^{\left(h\right)}_{t-1}"
    assert names[S("pre_f@t")] == r"u^{\left(f\right)}_{t}"
    assert names[S("c0")] == r"a^{\left(c\right)}_{0}"
    assert names[S("d_pre_f_2")] == r"\delta u^{\left(f\right)}_{2}"
    assert names[S("y_pre_2")] == r"\hat{y}_{2}"


def test_vanilla_rnn_state_is_plain_a_and_layers_carry_brackets():
    names = Notation(Network(get_cell("rnn"), layers=2), 2).names
    assert names[S("a_l1@t")] == r"a^{[1]}_{t}"
    assert names[S("w_x_l2_1")] == r"w^{\left(x\right)[2]}_{1}"
    assert names[S("w_y")] == r"w^{\left(y\right)}"  # the output layer has no layer number
    assert names[S("x_2")] == r"x_{2}"


def test_products_in_scalar_and_vector_units():
    names = lstm_names()
    f, c_prev, w_f, x = S("f@t"), S("c@t-1"), S("w_f"), S("x@t")
    assert unmarked(latex(f * c_prev, names, "vector")) == \
        r"a^{\left(c\right)}_{t-1} \times a^{\left(f\right)}_{t}"  # the notes' × for elementwise products
    assert unmarked(latex(f * c_prev, names, "vector", product="odot")) == \
        r"a^{\left(c\right)}_{t-1} \odot a^{\left(f\right)}_{t}"
    assert unmarked(latex(w_f * x, names, "scalar", product="odot")) == r"w^{\left(f\right)} \cdot x_{t}"
    with pytest.raises(ConfigError, match="unknown product sign"):
        latex(f * c_prev, names, "vector", product="circ")
    assert unmarked(latex(f * c_prev, names, "scalar")) == \
        r"a^{\left(c\right)}_{t-1} \times a^{\left(f\right)}_{t}"
    order = Notation(Network(get_cell("lstm")), 2).order  # the cell file's order: f × c[t-1]
    assert unmarked(latex(f * c_prev, names, "scalar", order)) == \
        r"a^{\left(f\right)}_{t} \times a^{\left(c\right)}_{t-1}"
    assert unmarked(latex(dot(w_f, x), names, "vector")) == r"w^{\left(f\right)} \cdot x_{t}"
    assert unmarked(latex(dot_t(w_f, S("d_pre_f@t")), names, "vector")) == \
        r"{w^{\left(f\right)}}^{\top} \cdot \delta u^{\left(f\right)}_{t}"
    assert unmarked(latex(outer(S("d_pre_f@t"), x), names, "vector")) == \
        r"\delta u^{\left(f\right)}_{t} \, {x_{t}}^{\top}"


def test_functions_parameters_first_and_differences_in_the_notes_order():
    names = lstm_names()
    expr = sigmoid(S("w_F") * S("h@t-1") + S("b_f")) ** 2 * (S("y_pre@t") - S("y@t"))
    text = unmarked(latex(expr, names))
    assert r"\sigma^{2}\bigl(" in text  # no brace group spans a possible line break
    assert r"\hat{y}_{t} - y_{t}" in text
    assert r"w^{\left(F\right)} \cdot a^{\left(h\right)}_{t-1}" in text


def test_intermediates_print_as_their_expression():
    names = lstm_names()
    assert unmarked(latex(S("tanh_c@t"), names)) == r"\tanh\bigl(a^{\left(c\right)}_{t}\bigr)"
    assert unmarked(latex(S("d_tanh_c@t"), names)) == r"\delta\bigl[\tanh\bigl(a^{\left(c\right)}_{t}\bigr)\bigr]"


def test_width_estimate_counts_fractions_by_their_wider_part():
    assert estimate_width("abc") == 3
    assert estimate_width(r"\dfrac{\partial C}{\partial w}") < estimate_width(r"\partial C \partial w")
    assert estimate_width("a_{t-1}") < estimate_width("at-1")


def test_break_lines_prefers_sums_at_the_outer_level():
    # marks: before "+ b" (inside parentheses), before "c" (a product), before "+ d"
    text = BREAK.join([r"\bigl(a", r" + b\bigr)", r" \, c", " + d"])
    lines = break_lines(text, first_width=9, width=9)
    assert lines == [r"\bigl(a + b\bigr) \, c", "+ d"]
    assert "".join(lines).replace(" ", "") == unmarked(text).replace(" ", "")


def test_break_lines_keeps_everything_and_respects_the_width():
    names = lstm_names(3)
    long_sum = sympy.Add(*[S(f"w_F_{k}") * S(f"f_{k}") * S(f"c_{k}") for k in (1, 2, 3)]) ** 3
    text = latex(sympy.expand(long_sum), names)
    lines = break_lines(text, first_width=60, width=60)
    assert len(lines) > 3
    assert all(estimate_width(line) <= 60 for line in lines)
    assert "".join(lines).replace(" ", "") == unmarked(text).replace(" ", "")
