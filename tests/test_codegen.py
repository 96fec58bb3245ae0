import ast
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import symrnn
from symrnn.build import committed_networks

ROOT = Path(__file__).resolve().parents[1]


def tree(source):
    return ast.parse(source)


@pytest.mark.parametrize("net", committed_networks(), ids=lambda n: n.module_name)
def test_module_imports_only_numpy(net):
    """NumPy, and symrnn's InputError only where it can: in a try whose
    ImportError handler defines the module's own."""
    module = tree(symrnn.render(net))
    imports = [n for n in ast.walk(module) if isinstance(n, (ast.Import, ast.ImportFrom))]
    assert [alias.name for n in imports for alias in n.names] == ["numpy", "InputError"]
    (guard,) = [n for n in module.body if isinstance(n, ast.Try)]
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


def test_products_independent_of_the_recurrence_are_outside_the_loop():
    source = symrnn.render(symrnn.network("lstm"))
    functions = {f.name: f for f in ast.walk(tree(source)) if isinstance(f, ast.FunctionDef)}
    forward = functions["_layer_forward"]
    loop = next(n for n in ast.walk(forward) if isinstance(n, ast.For))
    in_loop = ast.unparse(loop)
    assert "inputs.reshape(T * B, -1) @ (w_x_all.T * exp_x)" in ast.unparse(forward)
    assert matrix_products(in_loop) == 1  # the fused recurrent product of the four gates
    backward = functions["_layer_backward"]
    loop = next(n for n in ast.walk(backward) if isinstance(n, ast.For))
    assert matrix_products(ast.unparse(loop)) == 1
    assert "d_x_all.T @ inputs.reshape(T * B, -1)" in ast.unparse(backward)


def test_lstm_gates_are_activated_by_one_exp_call():
    source = symrnn.render(symrnn.network("lstm"))
    # g first (tanh), then f, i, o (sigmoid): the adjoints of g, f, i are all multiples of d_c.
    assert "w_x_all = np.concatenate([w_g, w_f, w_i, w_o])" in source
    assert "exp_x = np.repeat(np.array([-2, -1, -1, -1], dtype=inputs.dtype), H)" in source
    # tanh from expm1, to a few ulp; the sigmoids from exp, which NumPy vectorises.
    assert "np.expm1(pre_all[0], out=pre_all[0])" in source and "_sigmoid" not in source
    assert "np.exp(pre_all[1:4], out=pre_all[1:4])" in source and "reciprocal" not in source
    assert "d_slots_gates[t, :3] *= d_c" in source


def test_backward_step_multiplies_precomputed_local_derivatives():
    """Each slot's adjoint is an adjoint times forward values only: those
    values are computed for all steps before the loop, into the slots, and the
    step does one multiplication per run of slots sharing the adjoint."""
    source = symrnn.render(symrnn.network("lstm"))
    backward = next(f for f in ast.walk(tree(source)) if isinstance(f, ast.FunctionDef)
                    and f.name == "_layer_backward")
    loop = next(n for n in ast.walk(backward) if isinstance(n, ast.For))
    work = [s for s in loop.body
            if isinstance(s, ast.AugAssign) or isinstance(getattr(s, "value", None), (ast.Call, ast.BinOp))]
    assert len(work) == 6, ast.unparse(loop)  # d_h, d_c, d_pre_o, d_pre_g:d_pre_i, two carries
    assert "dc_dpre_f *= c_hist[:-1]" in ast.unparse(backward)  # dc/dpre_f = c_prev*f*(1 - f), all steps


def test_local_derivatives_take_one_temporary_at_a_time():
    """A local derivative with several compound factors, the GRU's
    dh/dpre_z = z*(1 - z)*(g - h_prev), is built in its slot: the costliest
    factor first, then each other multiplied in, so at most one (T, B, H)
    temporary exists at a time (two at once as one np.multiply)."""
    source = symrnn.render(symrnn.network("gru"))
    assert ("    np.subtract(1, z_seq, out=dh_dpre_z)\n"
            "    dh_dpre_z *= z_seq\n"
            "    dh_dpre_z *= g_seq - h_hist[:-1]\n") in source
    pytorch = symrnn.render(symrnn.network("gru", variant="pytorch"))
    assert ("    np.square(g_seq, out=dh_dpre_g)\n"
            "    np.subtract(1, dh_dpre_g, out=dh_dpre_g)\n"
            "    dh_dpre_g *= 1 - z_seq\n") in pytorch


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
