"""The layer plan (symrnn.codegen.plan): every code-generation decision,
asserted on the frozen plan rather than on the text an emitter prints.

Each test names a decision the generated code's speed or correctness rests
on: fused and hoisted products, the slot order, what forward keeps for
backward, where the GRU's reset acts, a gain broadcast into a slot, a
parameter shared by several products, the window (truncation) variant.
"""

import dataclasses
import enum
from pathlib import Path

import pytest
import sympy

import symrnn
from symrnn.codegen import plan_layer
from symrnn.codegen.head import plan_head
from symrnn.codegen.layout import Group
from symrnn.codegen.numpy_emitter import forward_needs_errstate, layer_helpers
from symrnn.codegen.plan import FusedSum, Role
from symrnn.codegen.statements import (
    AddParamTerm,
    Apply,
    Assign,
    ExpApply,
    ExpRun,
    InPlace,
    InputView,
    Into,
    KeepStateAdjoint,
    KeepValue,
    Op,
    ProjectionView,
    ResetCarry,
    ScaleRun,
    Statement,
    matrix_products,
)
from symrnn.derived import derive_network
from symrnn.rules import ELEMENTWISE, TANH_HELPER, maximum, mean, sigmoid

CELLS = Path(__file__).resolve().parent / "cells"
CODEGEN_CELLS = Path(__file__).resolve().parent / "codegen_cells"
S = sympy.Symbol


def plan_of(cell, **options):
    return plan_layer(derive_network(symrnn.network(cell, **options)))


def weights(group):
    return [m.weight.name for m in group.members]


# --- LSTM ---------------------------------------------------------------------


def test_lstm_one_hoisted_input_product_and_one_fused_recurrent_product_per_step():
    plan = plan_of("lstm")
    (hoisted,) = plan.hoisted
    assert hoisted.arg == S("x") and len(hoisted.members) == 4  # all steps, before the loop
    assert matrix_products(plan.forward_step) == 1
    (fused,) = plan.fused_sums
    assert fused.loop.arg == S("h_prev") and fused.hoisted == hoisted and len(fused.pres) == 4
    assert fused.gate_major
    assert matrix_products(plan.backward.step) == 1  # the four gates' w^T·d as one product
    assert plan.reused_projection == hoisted  # backward's slots reuse the dead projection


def test_lstm_slot_order_puts_the_multiples_of_d_c_together():
    """g first (tanh), then f, i, o (sigmoid): d_pre_g, d_pre_f, d_pre_i are
    all multiples of d_c, so one call scales the three."""
    plan = plan_of("lstm")
    assert [s.name for s in plan.slots] == ["d_pre_g", "d_pre_f", "d_pre_i", "d_pre_o"]
    assert [weights(g) for g in plan.groups] == [["w_g", "w_f", "w_i", "w_o"], ["w_G", "w_F", "w_I", "w_O"]]
    assert plan.backward.slot_runs == ((0, 3, S("d_c")), (3, 4, S("d_h")))
    assert ScaleRun(0, 3, S("d_c")) in plan.backward.step


def test_lstm_gates_are_activated_by_one_exp_call_per_function():
    plan = plan_of("lstm")
    (fused,) = plan.fused_sums
    assert fused.exp == (-2, -1, -1, -1)
    (run,) = [s for s in plan.forward_step if isinstance(s, ExpRun)]
    assert run.pieces == ((0, 1, sympy.tanh), (1, 4, sigmoid))
    hoisted, loop = plan.groups
    assert {e.group: e.array_of for e in plan.exp_scalings} == {hoisted.index: hoisted.index,
                                                               loop.index: hoisted.index}
    assert forward_needs_errstate(plan)
    assert not any("_sigmoid" in helper for helper in layer_helpers(plan))  # no sigmoid helper: exp form


def test_lstm_forward_keeps_the_gates_in_their_store_and_tanh_c():
    plan = plan_of("lstm")
    (fused,) = plan.fused_sums
    homes = {k.value.name: (k.store, k.index) for k in plan.kept}
    assert homes == {"g": (fused.store, 0), "f": (fused.store, 1), "i": (fused.store, 2), "o": (fused.store, 3),
                     "tanh_c": (None, None)}
    roles = [(e.role, e.batch_axis) for e in plan.cache]
    assert roles.count((Role.HISTORY, 1)) == 2 and roles.count((Role.INITIAL_STATE, 0)) == 2
    assert roles.count((Role.STACKED_WEIGHTS, None)) == 2 and roles[-1] == (Role.PROJECTION, 1)
    assert plan.backward_params == ()  # backward reads the stacked weights from the cache


def test_lstm_local_derivatives_are_computed_in_place_before_the_loop():
    plan = plan_of("lstm")
    derivative = {d.slot.name: d for d in plan.backward.local_derivatives}["d_pre_f"]
    assert derivative.adjoint == S("d_c")
    assert derivative.coefficient == S("c_prev") * S("f") * (1 - S("f"))
    target = derivative.target
    assert derivative.statements == (InPlace(target, Op.SUBTRACT, (1, S("f"))),
                                     InPlace(target, Op.IMUL, (S("c_prev"),)),
                                     InPlace(target, Op.IMUL, (S("f"),)))


@pytest.mark.parametrize("cell, options, forward, errstate", [
    ("lstm", {}, ["tanh"], True),  # the gates from exp forms, tanh(c) by the tanh row's helper
    ("gru", {"variant": "pytorch"}, ["tanh"], True),  # z, r from one exp call in their store; g by the helper
    ("rnn", {"activation": "relu"}, ["relu"], False),
    ("rnn", {"activation": "sigmoid"}, ["sigmoid"], False),
])
def test_runtime_forms_come_from_the_rule_table(cell, options, forward, errstate):
    """The functions each pass computes by their runtime form; the rule
    table's row says the helper and whether it needs np.errstate."""
    plan = plan_of(cell, **options)
    assert [f.__name__ for f in plan.forward_functions] == forward and plan.backward_functions == ()
    assert forward_needs_errstate(plan) == errstate
    assert layer_helpers(plan) == {ELEMENTWISE[name].helper for name in forward} - {""}
    assert ELEMENTWISE["tanh"].numpy_out == "_tanh({0}, out={1})" and ELEMENTWISE["tanh"].helper == TANH_HELPER


# --- GRU: the reset inside or after the recurrent product ----------------------


def test_gru_notes_reset_before_the_product_makes_a_group_of_its_own():
    plan = plan_of("gru")
    assert [(g.label, weights(g)) for g in plan.groups] == [
        ("x", ["w_r", "w_z", "w_g"]), ("h_prev", ["w_R", "w_Z"]), ("v_G", ["w_G"])]
    assert [f.store.name for f in plan.fused_sums] == ["pre_all", "pre_g"]
    assert matrix_products(plan.forward_step) == 2  # r*h_prev needs r first: two products per step
    assert S("v_G") in {k.value for k in plan.kept}  # the reset state is an operand of w_G's gradient


def test_gru_pytorch_reset_after_the_product_joins_the_recurrent_group():
    plan = plan_of("gru", variant="pytorch")
    assert [(g.label, weights(g)) for g in plan.groups] == [
        ("x", ["w_g", "w_z", "w_r"]), ("h_prev", ["w_Z", "w_R", "w_G"])]
    assert matrix_products(plan.forward_step) == 1  # one product of the three per step
    # u_z + u_Z and u_r + u_R are one in-place sum into a gate-major store, activated by one exp
    # call; r scales w_G·h_prev, so u_G is past the sum: a view of the step's product
    (fused,) = plan.fused_sums
    assert (fused.pres, fused.offset, fused.exp) == ((S("pre_z"), S("pre_r")), 1, (-1, -1))
    assert (fused.loop.label, fused.hoisted.label) == ("h_prev", "x")
    views = [s for s in plan.forward_step if isinstance(s, ProjectionView)]
    assert [(v.out, v.group.label, v.k) for v in views] == [(S("u_g"), "x", 0), (S("u_G"), "h_prev", 2)]
    assert [e.factors for e in plan.exp_scalings] == [(1, -1, -1), (-1, -1, 1)]  # 1: outside the exp call
    assert S("u_G") in {k.value for k in plan.kept}


def test_local_derivatives_take_one_temporary_at_a_time():
    """dh/dpre_z = z*(1 - z)*(g - h_prev): the costliest factor into the slot
    first, each other multiplied in."""
    derivative = {d.slot.name: d for d in plan_of("gru").backward.local_derivatives}["d_pre_z"]
    z, g, h_prev, target = S("z"), S("g"), S("h_prev"), derivative.target
    assert derivative.statements == (InPlace(target, Op.SUBTRACT, (1, z)), InPlace(target, Op.IMUL, (z,)),
                                     InPlace(target, Op.IMUL, (g - h_prev,)))
    derivative = {d.slot.name: d for d in plan_of("gru", variant="pytorch").backward.local_derivatives}["d_pre_g"]
    target = derivative.target
    assert derivative.statements == (InPlace(target, Op.SQUARE, (g,)), InPlace(target, Op.SUBTRACT, (1, target)),
                                     InPlace(target, Op.IMUL, (1 - z,)))


# --- elementwise gains and shared parameters ----------------------------------


@pytest.mark.parametrize("name, slot, gain", [
    ("mi_rnn", "d_u_h", "b_a"),
    ("mi_input", None, "b_a"),
    ("mi_lstm", "d_u_F", "b_F"),
])
def test_a_gain_on_a_product_is_broadcast_into_its_slot(name, slot, gain):
    """The slot of a product scaled by a parameter holds that parameter,
    broadcast over steps and items (not a per-step array of it)."""
    plan = plan_of(str(CELLS / f"{name}.cell"))
    assert gain in plan.backward_params and S(gain) in plan.backward.summed_params
    gained = [d for d in plan.backward.local_derivatives if S(gain) in d.coefficient.free_symbols]
    assert gained
    if slot is not None:
        (derivative,) = [d for d in gained if d.slot.name == slot]
        assert derivative.coefficient == S(gain) and derivative.target is None and derivative.statements == ()
    assert S(gain) not in {k.value for k in plan.kept}


@pytest.mark.parametrize("name, label, shared", [
    ("shared_gates", "h_prev", ["w_h", "w_h"]),
    ("shared_same_product", "x", ["w_x", "w_x"]),
    ("shared_everywhere", "x", ["w_f", "w_f"]),
])
def test_a_weight_in_several_products_is_several_members(name, label, shared):
    """A weight used twice is two members (two blocks of the stacked
    product) whose gradient is the sum of both blocks."""
    plan = plan_of(str(CELLS / f"{name}.cell"))
    (group,) = [g for g in plan.groups if g.label == label]
    assert weights(group) == shared
    members = [m for g in plan.groups for m in g.members]
    assert len({m.out for m in members}) == len(members)


def test_a_weight_in_two_groups_is_read_by_both():
    plan = plan_of(str(CELLS / "shared_everywhere.cell"))
    assert [g.label for g in plan.groups if "w_h" in weights(g)] == ["h_prev", "v_h"]
    assert "w_h" in plan.forward_params and "w_h" in plan.backward_params


# --- the window (truncation) variant ------------------------------------------


@pytest.mark.parametrize("cell", ["lstm", str(CELLS / "indrnn.cell"), str(CELLS / "mi_rnn.cell")])
def test_window_step_resets_carries_and_keeps_per_step_terms(cell):
    plan = plan_of(cell)
    backward = plan.backward
    carries = [S(f"d_{s.name}_next") for s in plan.states]
    assert backward.window_step[:len(carries)] == tuple(ResetCarry(c) for c in carries)
    kept = [s.state for s in backward.window_step if isinstance(s, KeepStateAdjoint)]
    assert sorted(kept, key=str) == sorted(plan.states, key=str)
    per_step = [s.param for s in backward.window_step if isinstance(s, AddParamTerm) and s.per_step]
    summed = [s.param for s in backward.step if isinstance(s, AddParamTerm)]
    assert per_step == summed == list(backward.per_step_params)
    # otherwise the same step
    same = [s for s in backward.window_step
            if not isinstance(s, (ResetCarry, KeepStateAdjoint)) and not getattr(s, "per_step", False)]
    assert same == [*backward.loads, *(s for s in backward.step if not isinstance(s, AddParamTerm))]


def test_indrnn_elementwise_recurrent_weight_is_summed_per_step():
    plan = plan_of(str(CELLS / "indrnn.cell"))
    assert plan.backward.per_step_params == (S("w_u"),)
    assert [weights(g) for g in plan.groups] == [["w_x"]] and plan.fused_sums == ()


def test_lstm_state_adjoints_are_kept_where_they_are_known():
    step = plan_of("lstm").backward.window_step
    position = {s.state.name: k for k, s in enumerate(step) if isinstance(s, KeepStateAdjoint)}
    assigned = {s.lhs.name: k for k, s in enumerate(step) if isinstance(s, Assign)}
    assert position["h"] == assigned["d_h"] + 1 and position["c"] == assigned["d_c"] + 1


# --- the plan itself ----------------------------------------------------------


@pytest.mark.parametrize("cell, options", [("lstm", {}), ("gru", {"variant": "pytorch"}),
                                           (str(CELLS / "shared_everywhere.cell"), {"layers": 2})])
def test_plan_is_deterministic(cell, options):
    """Two derivations of one network (the engine run twice) plan alike."""
    network = symrnn.network(cell, **options)
    first, second = (plan_layer(derive_network.__wrapped__(network)) for _ in range(2))
    assert first == second and hash(first) == hash(second)
    assert first.describe() == second.describe()
    assert plan_head(derive_network.__wrapped__(network)) == plan_head(derive_network(network))


def test_plan_is_frozen():
    plan = plan_of("lstm")
    with pytest.raises(dataclasses.FrozenInstanceError):
        plan.slots = ()
    with pytest.raises(dataclasses.FrozenInstanceError):
        plan.fused_sums[0].store = S("other")
    with pytest.raises(dataclasses.FrozenInstanceError):
        plan.backward.step[0].target = S("other")
    assert all(isinstance(field, tuple) for field in (plan.groups, plan.slots, plan.forward_step, plan.cache))


def _walk(value):
    if isinstance(value, (tuple, list)):
        for item in value:
            yield from _walk(item)
    elif dataclasses.is_dataclass(value) and not isinstance(value, (Group, FusedSum)):
        for field in dataclasses.fields(value):
            yield field.name, getattr(value, field.name)
            yield from _walk(getattr(value, field.name))


@pytest.mark.parametrize("cell", ["lstm", "gru", str(CELLS / "mi_full.cell"), str(CELLS / "peephole.cell")])
def test_statements_hold_sympy_objects_not_text(cell):
    plan = plan_of(cell)
    backward = plan.backward
    statements = [*plan.forward_step, *backward.loads, *backward.step, *backward.window_step,
                  *(s for d in backward.local_derivatives for s in d.statements)]
    assert all(isinstance(s, Statement) for s in statements)
    for name, value in _walk(statements):
        assert not isinstance(value, str), f"{name} = {value!r}"
        assert isinstance(value, (sympy.Basic, int, enum.Enum, tuple, type, Group, FusedSum, Statement)) \
            or value is None or dataclasses.is_dataclass(value), f"{name} = {value!r}"


def test_describe_names_every_decision():
    text = plan_of("lstm").describe()
    for section in ("groups", "fused sums", "exp factors", "kept for backward", "cache", "forward step",
                    "local derivatives", "backward step", "window step", "parameters read"):
        assert f"{section}" in text
    assert "pre_all = (pre_g, pre_f, pre_i, pre_o)" in text
    assert "c <- add(c_prev*f, g*i)" in text  # an in-place statement, as SymPy expressions


def test_head_plan_keeps_only_what_backward_reads():
    squared = plan_head(derive_network(symrnn.network("rnn")))
    assert squared.keeps is None  # backward(d_out) reads what the cost reads
    xent = plan_head(derive_network(symrnn.network("rnn", output="sequence", loss="xent")))
    assert xent.keeps is not None and set(xent.keeps) < set(xent.cached)
    assert [s.name for s in xent.from_outputs.loads] == [s.name for s in xent.keeps]


@pytest.mark.parametrize("output, loss", [("states", "squared"), ("sequence", "squared"), ("sequence", "xent")])
def test_a_masked_head_has_an_unpadded_form_of_every_expression_reading_the_mask(output, loss):
    """Without padded rows the mask is 1: each expression that reads it has a
    form without it (an alias where only the mask was multiplied), so no
    (T*B, H) product by ones is computed; no parameter's gradient reads the
    mask itself (the per-step terms are written from the gradients as they are)."""
    mask = sympy.Symbol("mask")
    plan = plan_head(derive_network(symrnn.network("rnn", output=output, loss=loss)))
    unpadded = dict(plan.unpadded)
    assert unpadded and all(mask in e.free_symbols and mask not in u.free_symbols for e, u in plan.unpadded)
    reverses = (plan.from_outputs, plan.from_cost)
    reading = [rhs for r in reverses for _, rhs in r.equations] + [r.top_adjoint for r in reverses] + [plan.cost]
    assert {e for e in reading if mask in e.free_symbols} <= set(unpadded)
    assert all(mask not in total.free_symbols for r in reverses for _, total in r.gradients)
    if output == "states":  # y_out = mask*top and d_top = d_out*mask: the arrays themselves
        assert unpadded[plan.from_outputs.top_adjoint] == sympy.Symbol("d_out")
        assert unpadded[plan.nodes[0].expr] == sympy.Symbol("top")
    assert plan_head(derive_network(symrnn.network("rnn", output="last"))).unpadded == ()


# --- the cell language's newer constructs (issue 12) ---------------------------


def test_max_of_two_arguments_writes_a_new_array_and_keeps_both_for_backward():
    plan = plan_of(str(CODEGEN_CELLS / "max_rnn.cell"))
    (vectors,) = [s for s in plan.forward_step if isinstance(s, Apply) and isinstance(s.expr, maximum)]
    assert vectors.into is not Into.ARGUMENT  # neither argument is overwritten
    assert set(vectors.expr.args) <= {k.value for k in plan.kept}  # step(a - b) and 1 - step(a - b) read both
    (state,) = [s for s in plan.forward_step if isinstance(s, InPlace) and s.target == S("h")]
    assert state.op is Op.APPLY and isinstance(state.args[0], maximum)  # max(tanh(a), -0.5) into h's history


def test_a_transposed_product_is_a_group_of_its_own():
    """w^(W)^T h[t-1] reads w_W the other way: never stacked with w_W h[t-1], never fused."""
    plan = plan_of("antisymmetric")
    (transposed,) = [g for g in plan.groups if g.transposed]
    assert weights(transposed) == ["w_W"] and transposed.arg == S("h_prev") and not transposed.hoisted
    assert [g.label for g in plan.groups if "w_W" in weights(g)] == ["h_prev", "h_prev_2"]
    assert all(transposed not in (f.loop, f.hoisted) for f in plan.fused_sums)
    assert "w_W^T times h_prev" in plan.describe()


def test_an_output_that_is_not_a_state_is_kept_and_the_input_is_read_elementwise():
    plan = plan_of("sru")
    assert not plan.output_is_state and S("h") in {k.value for k in plan.kept}  # the layer's output, every step
    assert plan.forward_step[0] == InputView(S("x"))  # h = r*tanh(c) + (1 - r)*x
    assert plan.backward.input_adjoint_in_loop  # (1 - r)*d_h at each step, beside the hoisted products' adjoint
    assert len(plan.hoisted) == 1 and matrix_products(plan.forward_step) == 0


def test_the_previous_inputs_products_are_hoisted_from_the_inputs_shifted_by_one_step():
    plan = plan_of("qrnn")
    assert plan.prev_input == S("x_prev") and [g.label for g in plan.hoisted] == ["x", "x_prev"]
    assert matrix_products(plan.forward_step) == 0 and not plan.backward.input_adjoint_in_loop


def test_the_previous_input_used_elementwise_is_refused_by_name():
    cell = symrnn.parse_cell("cell t\ninput x\nstate h\nsize x H\nh = tanh(w^(x) x + h[t-1]) * x[t-1]")
    with pytest.raises(symrnn.ConfigError, match=r"uses the input's previous value x\[t-1\] other than as a "
                                                 r"weight's whole operand: not yet supported"):
        plan_of(cell)


def test_a_mean_and_what_is_computed_from_means_alone_are_kept_one_number_per_item():
    plan = plan_of("lstm_ln")
    per_item = {k.value.name for k in plan.kept if k.per_item}
    assert per_item and all(k.store is None for k in plan.kept if k.per_item)  # (T, B, 1) stores of their own
    assert not any(k.per_item for k in plan.kept if k.value.name in ("f", "i", "g", "o", "mf", "mc"))


# --- Layer normalization: shared adjoints, means, stores ---------------------------


def test_an_adjoint_read_by_several_expressions_keeps_its_name():
    """d_pre_f = c_prev*d_c*f*(1 - f) is read by d_mf, by the mean's argument
    and by the gain's and bias's terms: it is computed once, not in each."""
    plan = plan_of("lstm_ln")
    assigned = {s.lhs: s.rhs for s in plan.backward.step if isinstance(s, Assign)}
    assert assigned[S("d_pre_f")] == S("c_prev") * S("d_c") * S("f") * (1 - S("f"))
    terms = {s.param.name: s.total for s in plan.backward.step if isinstance(s, AddParamTerm)}
    assert terms["b_f"] == S("d_pre_f") and terms["g_f"] == S("d_pre_f") * S("mf") / S("sqrt_pre_sqrt")
    # the LSTM's one-multiple adjoints are still inlined into its slots (runs of local derivatives)
    lstm = plan_of("lstm").backward
    assert lstm.slot_runs == ((0, 3, S("d_c")), (3, 4, S("d_h")))
    assert {s.lhs for s in lstm.step if isinstance(s, Assign)} == {S("d_h"), S("d_c")}


def test_a_mean_takes_no_factor_that_is_one_number_per_item():
    """mean(k*v) is written k*mean(v) where k is a number or per-item: the
    full-size products by k are left out of the mean."""
    plan = plan_of("lstm_ln")
    per_item = {k.value for k in plan.kept if k.per_item}
    means = [m for s in plan.backward.step for e in s.expressions()
             for m in sympy.preorder_traversal(sympy.sympify(e)) if isinstance(m, mean)]
    assert len(means) == 10  # the gates' four and c's: the variance's and the centring's
    for m in means:
        for factor in sympy.Mul.make_args(m.args[0]):
            assert not factor.is_Number and factor.as_base_exp()[0] not in per_item, m
    assigned = {s.lhs: s.rhs for s in plan.backward.step if isinstance(s, Assign)}
    assert assigned[S("d_pre_mean")] == (-sympy.Rational(1, 2) * mean(S("d_pre_f") * S("g_f") * S("mf"))
                                         / S("sqrt_pre_sqrt") ** 3)


def test_a_centred_gate_is_written_over_its_pre_activation_in_the_gate_store():
    """m_f = u_f - mean(u_f) reads u_f last and backward never reads u_f: m_f
    takes u_f's block of the gate store, which the cache keeps; m_c, of a
    state, gets a store of its own, written in place (no copy)."""
    plan = plan_of("lstm_ln")
    kept = {k.value.name: k for k in plan.kept}
    assert [(kept[m].store.name, kept[m].index) for m in ("mf", "mi", "mg", "mo")] == [("pre_all", k) for k in range(4)]
    assert kept["mc"].store is None and not any(isinstance(s, KeepValue) for s in plan.forward_step)
    assert InPlace(S("mf"), Op.SUBTRACT, (S("uf"), S("mean_uf"))) in plan.forward_step


def test_a_lone_sigmoid_is_computed_from_its_exp_form():
    """The rule table's sigmoid row says exp_alone: f = sigmoid(pre_f), not
    in a store of gates, is E = exp(-pre_f) into f's store, then 1/(1 + E),
    under the errstate decorator; the helper is not emitted."""
    plan = plan_of("lstm_ln")
    lone = [s for s in plan.forward_step if isinstance(s, ExpApply)]
    assert [(s.out.name, s.into) for s in lone] == [("f", Into.STORE), ("i", Into.STORE), ("o", Into.STORE)]
    assert sigmoid not in plan.forward_functions and forward_needs_errstate(plan)
    assert ELEMENTWISE["sigmoid"].helper not in layer_helpers(plan)


@pytest.mark.parametrize("cell, recomputable", [
    ("mgu", {"v_G": "f*h_prev"}),  # a product of a kept gate and the previous state
    ("gru", {"v_G": "h_prev*r"}),
    ("lstmp", {"v_r": "o*tanh_c"}),  # of two kept values
    ("lstm", {}),  # every kept value is a function's
    ("lstm_ln", {}),  # means are not elementwise
])
def test_kept_products_of_other_kept_values_are_recomputable(cell, recomputable):
    plan = plan_of(cell)
    assert {str(r.value): str(r.expr) for r in plan.recomputable} == recomputable
    assert {r.value for r in plan.recomputable} <= {k.value for k in plan.kept}
    for r in plan.recomputable:  # from values the backward has without it
        assert not r.expr.free_symbols & {s.value for s in plan.recomputable}


def test_the_jax_forward_does_not_emit_what_its_backward_recomputes():
    text = symrnn.generate(symrnn.network("mgu"), backend="jax")
    assert '"v_G_seq": v_G' not in text and 'cache["v_G_seq"]' not in text
    assert text.count("v_G_seq = f_seq*h_hist[:-1]") == 2  # backward and its window
    assert "v_G_seq = cache[\"v_G\"]" in symrnn.generate(symrnn.network("mgu"))  # the NumPy module keeps it
