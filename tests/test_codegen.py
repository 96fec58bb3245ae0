import ast
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import symrnn
from symrnn.build import committed_networks
from symrnn.codegen import plan_layer
from symrnn.codegen.numpy_text import SequencePrinter
from symrnn.codegen.statements import matrix_products as planned_products
from symrnn.derived import derive_network

ROOT = Path(__file__).resolve().parents[1]


def tree(source):
    return ast.parse(source)


@pytest.mark.parametrize("net", committed_networks(), ids=lambda n: n.module_name)
def test_module_imports_only_numpy(net):
    """NumPy (and, where it uses the tanh helper, NumPy's own report of its
    CPU dispatch), and symrnn's InputError only where it can: in a try whose
    ImportError handler defines the module's own."""
    module = tree(symrnn.render(net))
    imports = [n for n in ast.walk(module) if isinstance(n, (ast.Import, ast.ImportFrom))]
    sources = [alias.name if isinstance(n, ast.Import) else n.module for n in imports for alias in n.names]
    assert [s for s in sources if s.split(".")[0] != "numpy"] == ["symrnn.errors"]
    assert sources[0] == "numpy" and set(sources) <= {"numpy", "numpy.lib.introspect", "symrnn.errors"}
    (guard,) = [n for n in module.body if isinstance(n, ast.Try) and "InputError" in ast.unparse(n)]
    assert ast.unparse(guard.body) == "from symrnn.errors import InputError"
    (handler,) = guard.handlers
    assert ast.unparse(handler.type) == "ImportError"
    assert [n.name for n in handler.body if isinstance(n, ast.ClassDef)] == ["InputError"]


@pytest.mark.parametrize("net", committed_networks(), ids=lambda n: n.module_name)
def test_one_loop_over_time_per_layer_function_and_no_other_loops(net):
    functions = {f.name: f for f in ast.walk(tree(symrnn.render(net))) if isinstance(f, ast.FunctionDef)}
    for name in ("_layer_forward", "_layer_backward"):
        loops = [n for n in ast.walk(functions[name]) if isinstance(n, (ast.For, ast.While, ast.comprehension))]
        assert len(loops) == 1, name
        assert "range(T)" in ast.unparse(loops[0].iter)
    for name in ("_head_forward", "_head_backward", "_head_loss"):
        assert not [n for n in ast.walk(functions[name]) if isinstance(n, (ast.For, ast.While))]


def matrix_products(code):
    return code.count("@") + code.count("np.matmul(")


def layer_function(source, name):
    return next(f for f in ast.walk(tree(source)) if isinstance(f, ast.FunctionDef) and f.name == name)


def time_loop(function):
    return next(n for n in ast.walk(function) if isinstance(n, ast.For))


@pytest.mark.parametrize("net", committed_networks(), ids=lambda n: n.module_name)
def test_products_are_where_the_plan_puts_them(net):
    """The emitter writes each product the plan decides on, and no other: one
    per hoisted group before forward's loop, one per in-loop group inside it
    (the LSTM's four recurrent products are one), and backward's step has
    the plan's products (tests/test_plan.py asserts the decisions)."""
    plan = plan_layer(derive_network(net))
    source = symrnn.render(net)
    forward = layer_function(source, "_layer_forward")
    in_loop = matrix_products(ast.unparse(time_loop(forward)))
    assert in_loop == planned_products(plan.forward_step)
    body = "\n".join(ast.unparse(statement) for statement in forward.body)  # not its decorator's @
    assert matrix_products(body) - in_loop == len(plan.hoisted)
    backward = layer_function(source, "_layer_backward")
    assert matrix_products(ast.unparse(time_loop(backward))) == planned_products(plan.backward.step)


def test_lstm_exp_runs_are_spelled_as_one_call_per_function():
    """The plan activates the LSTM's gates from one expm1 (g) and one exp
    (f, i, o) call; the NumPy emitter spells each over its gate-major block."""
    source = symrnn.render(symrnn.network("lstm"))
    assert "np.expm1(pre_all[0], out=pre_all[0])" in source and "_sigmoid" not in source
    assert "np.exp(pre_all[1:4], out=pre_all[1:4])" in source and "reciprocal" not in source
    assert "d_slots_gates[t, :3] *= d_c" in source


def test_backward_step_of_the_lstm_does_six_operations():
    """Each slot's local derivative is computed before the loop, so the step
    does one multiplication per run of slots sharing an adjoint: d_h, d_c,
    d_pre_o, d_pre_g:d_pre_i, two carries."""
    loop = time_loop(layer_function(symrnn.render(symrnn.network("lstm")), "_layer_backward"))
    work = [s for s in loop.body
            if isinstance(s, ast.AugAssign) or isinstance(getattr(s, "value", None), (ast.Call, ast.BinOp))]
    assert len(work) == 6, ast.unparse(loop)


def local_derivative_text(network, slot):
    """The NumPy lines of one slot's local derivative (over all steps)."""
    plan = plan_layer(derive_network(network))
    (derivative,) = [d for d in plan.backward.local_derivatives if d.slot.name == slot]
    printer = SequencePrinter(plan, derivative.coefficient)
    return [printer.in_place(s) for s in derivative.statements]


def test_local_derivatives_are_spelled_over_all_steps():
    """Each value by its (T, B, H) array: a previous state is its history
    without the last step, a kept value its per-step store."""
    assert local_derivative_text(symrnn.network("lstm"), "d_pre_f") == [
        "np.subtract(1, f_seq, out=dc_dpre_f)", "dc_dpre_f *= c_hist[:-1]", "dc_dpre_f *= f_seq"]
    assert local_derivative_text(symrnn.network("gru"), "d_pre_z") == [
        "np.subtract(1, z_seq, out=dh_dpre_z)", "dh_dpre_z *= z_seq", "dh_dpre_z *= g_seq - h_hist[:-1]"]
    assert local_derivative_text(symrnn.network("gru", variant="pytorch"), "d_pre_g") == [
        "np.square(g_seq, out=dh_dpre_g)", "np.subtract(1, dh_dpre_g, out=dh_dpre_g)", "dh_dpre_g *= 1 - z_seq"]


def test_module_docstring_and_parameter_table():
    module = symrnn.load_module(symrnn.network("gru", variant="pytorch"))
    assert "g = tanh(w_g·x + b_g + r*(w_G·h[t-1] + b_G))" in module.__doc__
    assert module.PARAMS["w_G"] == ("H", "H") and module.PARAMS["b_G"] == ("H",)
    assert module.PARAMS["w_y"] == ("K", "H")


def test_stacked_layer_names():
    module = symrnn.load_module(symrnn.network("rnn", layers=2))
    assert list(module.PARAMS) == ["w_x_l1", "w_a_l1", "b_a_l1", "w_x_l2", "w_a_l2", "b_a_l2", "w_y", "b_y"]
    assert module.PARAMS["w_x_l2"] == ("H", "H") and module.PARAMS["w_x_l1"] == ("H", "D")
    assert module.INITIAL_STATES == (("a0_l1",), ("a0_l2",))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_dtypes_are_kept(dtype):
    module = symrnn.load_module(symrnn.network("lstm", output="sequence", loss="xent"))
    params = module.init_params(3, 5, 4, dtype=dtype)
    x = np.random.default_rng(0).normal(size=(6, 2, 3)).astype(dtype)
    y = np.eye(4, dtype=dtype)[[[0, 1]] * 6]
    loss, grads = module.loss_and_grad(params, x, y, lengths=np.array([6, 3]))
    assert loss.dtype == dtype
    assert all(g.dtype == dtype for g in grads.values())


def test_float32_gradients_agree_with_float64():
    module = symrnn.load_module(symrnn.network("gru"))
    params = module.init_params(3, 5, 2)
    x = np.random.default_rng(1).normal(size=(5, 4, 3))
    y = np.random.default_rng(2).normal(size=(4, 2))
    _, g64 = module.loss_and_grad(params, x, y)
    _, g32 = module.loss_and_grad({k: v.astype(np.float32) for k, v in params.items()}, x, y)
    for name in g64:
        np.testing.assert_allclose(g32[name], g64[name], rtol=1e-3, atol=1e-5)


def test_output_is_byte_identical_across_hash_seeds(tmp_path):
    outputs = []
    for seed in ("0", "1", "12345"):
        out = tmp_path / seed
        env = {**os.environ, "PYTHONHASHSEED": seed, "PYTHONPATH": str(ROOT)}
        subprocess.run([sys.executable, "-m", "symrnn", "build", "--out", str(out), "--no-verify"],
                       check=True, env=env, cwd=tmp_path, capture_output=True)
        outputs.append({p.name: p.read_bytes() for p in sorted(out.iterdir())})
    assert outputs[0] == outputs[1] == outputs[2]
    assert {f"{net.module_name}.py" for net in committed_networks()} <= set(outputs[0])


def test_generated_modules_pass_ruff(tmp_path):
    for net in committed_networks() + [symrnn.network("rnn", activation="relu", layers=3, output="sequence",
                                                      loss="xent")]:
        symrnn.write_module(net, tmp_path / f"{net.module_name}.py")
    result = subprocess.run([sys.executable, "-m", "ruff", "check", "--no-cache", "--isolated",
                             "--line-length", "120", str(tmp_path)], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout


def test_generate_api_writes_and_loads(tmp_path):
    net = symrnn.network("rnn")
    path = tmp_path / "rnn.py"
    module = symrnn.generate(net, path, load=True)
    assert path.read_text() == symrnn.render(net)
    assert callable(module.loss_and_grad)
