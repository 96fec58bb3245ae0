"""The JAX module's derived backward against jax.grad of a plain lax.scan.

For each cell: one layer, --output states, forward + backward of
sum(outputs * r) with respect to the parameters and x, each as one
jax.jit-compiled function; ``symrnn`` runs the generated module's apply (a
custom_vjp whose backward is the derived BPTT: a reversed scan, every
weight's gradient one product after it), ``lax.scan`` the same equations
written from the step graph (symrnn.codegen.jax_loop) transposed by JAX,
and where flax is installed symrnn.flax_module.Recurrent (the same module
inside a linen module) and for the LSTM ``flax nn.RNN`` of
``nn.OptimizedLSTMCell``. Repeats are interleaved; medians, ratio = time / symrnn's time
with its p10-p90 spread, and each function's compile time.

    python3 benchmarks/bench_jax.py [--cells lstm mgu lstm_ln] [--repeats 20] [--dtype float32]
"""

import argparse
import time

import jax
import jax.numpy as jnp
import numpy as np

import symrnn
from symrnn.codegen import load_module
from symrnn.codegen.jax_loop import render_loop

B, D, H, T = 32, 64, 128, 50


def implementations(cell, dtype):
    """(name, loss of (params, x), params) of each implementation of ``cell``."""
    net = symrnn.network(cell, output="states")
    module = load_module(net, backend="jax")
    namespace = {}
    exec(compile(render_loop(net), f"<jax loop {cell}>", "exec"), namespace)
    params = module.init_params(D, H, sizes={"P": H}, seed=0, dtype=dtype)
    rng = np.random.default_rng(1)
    r = jnp.asarray(rng.normal(size=(T, B, H)), dtype)
    lengths = jnp.full((B,), T, jnp.int32)
    state0 = {name: jnp.zeros((B, H), dtype) for names in module.INITIAL_STATES for name in names}
    rows = [("symrnn", lambda p, x: jnp.sum(module.apply(p, x, lengths, state0)[0] * r), params),
            ("lax.scan", lambda p, x: jnp.sum(namespace["run"](p, x, lengths, state0)[0] * r), params)]
    return rows + flax_rows(cell, r, dtype)


def flax_rows(cell, r, dtype):
    """symrnn.flax_module.Recurrent (the same module inside a linen module),
    and for the LSTM Flax's own nn.RNN(nn.OptimizedLSTMCell), where flax is installed."""
    try:
        from flax import linen as nn

        from symrnn.flax_module import Recurrent
    except ImportError:
        return []
    x0 = jnp.zeros((T, B, D), dtype)
    ours = Recurrent(cell, features=H, sizes={"P": H} if cell.startswith("lstmp") else None, time_major=True,
                     param_dtype=dtype)
    rows = [("symrnn.flax_module.Recurrent", lambda p, x: jnp.sum(ours.apply(p, x) * r),
             ours.init(jax.random.PRNGKey(0), x0))]
    if cell == "lstm":
        rnn = nn.RNN(nn.OptimizedLSTMCell(features=H, param_dtype=dtype, dtype=dtype), time_major=True)
        rows.append(("flax nn.RNN(OptimizedLSTMCell)", lambda p, x: jnp.sum(rnn.apply(p, x) * r),
                     rnn.init(jax.random.PRNGKey(0), x0)))
    return rows


def timed(function, *args):
    start = time.perf_counter()
    jax.block_until_ready(function(*args))
    return time.perf_counter() - start


def bench(cell, repeats, dtype):
    x = jnp.asarray(np.random.default_rng(2).normal(size=(T, B, D)), dtype)
    rows = []
    for name, loss, params in implementations(cell, dtype):
        step = jax.jit(jax.value_and_grad(loss, argnums=(0, 1)))
        start = time.perf_counter()
        compiled = step.lower(params, x).compile()
        rows.append([name, compiled, params, time.perf_counter() - start, []])
    for row in rows:
        timed(row[1], row[2], x)  # warm
    for _ in range(repeats):
        for row in rows:
            row[4].append(timed(row[1], row[2], x))
    base = np.array(rows[0][4])
    for name, _, _, compile_s, times in rows:
        times = np.array(times)
        ratios = times / base
        print(f"| {cell} | {name} | {1e3 * np.median(times):.1f} | {np.median(ratios):.2f} "
              f"({np.percentile(ratios, 10):.2f}-{np.percentile(ratios, 90):.2f}) | {compile_s:.2f} |", flush=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cells", nargs="+", default=["lstm", "mgu", "lstm_ln"])
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--dtype", default="float32", choices=["float32", "float64"])
    args = parser.parse_args()
    if args.dtype == "float64":
        jax.config.update("jax_enable_x64", True)
    print(f"jax {jax.__version__} on {jax.devices()[0].platform}, {args.dtype}, B={B} D={D} H={H} T={T}, "
          f"medians of {args.repeats} interleaved repeats")
    print("| cell | implementation | median ms | ratio to symrnn (p10-p90) | compile s |")
    print("|---|---|---|---|---|")
    for cell in args.cells:
        bench(cell, args.repeats, getattr(jnp, args.dtype))


if __name__ == "__main__":
    main()
