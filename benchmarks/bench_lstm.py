"""Benchmark: symrnn's generated LSTM against a hand-written vectorized NumPy LSTM.

What is measured
----------------
Wall time (``time.perf_counter``) of one forward + backward pass of a one-layer
LSTM with an identity output layer at every step (``output="sequence"``), for

* ``generated``: the module symrnn generates (``load_module(Network(get_cell("lstm"),
  output="sequence"))``), called through its public ``forward``/``backward``
  (so its input checks and output mask are included: that is what a user pays);
* ``hand``: the hand-written LSTM below, written for this benchmark as an
  experienced NumPy programmer would: the input projections of all steps as one
  matrix product with the biases added once; per step one fused (B, 4H) recurrent
  product, added gate-major into a preallocated (T, 4, B, H) store so that each
  gate's activations are contiguous and one sigmoid call covers f, i and o; one
  (B, 4H) x (4H, H) product per step backward; the weight gradients as one big
  product each after the loop (on this 2-core machine that made backward 12-18%
  faster than accumulating T small products inside the loop); the output layer
  as one big product forward and backward.

Both use the same numerically stable sigmoid, computed from ``exp(-|z|)``. Before
timing, the script checks at float64 that both give the same outputs and the same
gradients (every parameter, x, c0, h0) and exits with status 1 if they do not.

Each repeat times both implementations (interleaved, after one warm-up each);
the table shows medians over the repeats, in float64 and float32.

The matrix-product bound: every matrix product of forward + backward is listed
with its shape and count (2*m*k*n flops each); each is timed alone with
``np.matmul`` at the same shape and operand layout in the same run. Their summed
time is ``bound``, the time the products alone take on this machine, and
``fraction = bound / measured``: 1.0 would mean nothing but the matrix products
costs any time. All times are medians over the repeats.

Page faults: both implementations allocate their stored activations afresh on
every call, and whether glibc hands back memory that is already mapped or fresh
pages (a minor page fault each, a few microseconds on a VM) depends on the
process's allocation history, so it can differ between the two and between
dtypes by thousands of faults per pass, about 5-10 ms here (10-20% of a pass).
The ``faults`` column shows it. To time the arithmetic alone, keep freed memory
mapped::

    MALLOC_MMAP_THRESHOLD_=33554432 MALLOC_TRIM_THRESHOLD_=1000000000 python benchmarks/bench_lstm.py

Other processes: OpenBLAS runs its products on every core and its threads wait
for each other, so one other busy process can make the products many times
slower (runs of 10-100x have been seen on the 2-core development machine). The
script measures how busy the CPUs are just before it starts and warns if they
are; then rerun on an idle machine, or compare with OPENBLAS_NUM_THREADS=1.

Run from the repository root::

    python benchmarks/bench_lstm.py               # B=32, D=64, H=128, K=64, T=50
    python benchmarks/bench_lstm.py --repeats 21
    python benchmarks/bench_lstm.py --quick       # tiny sizes, for CI smoke runs

(``pip install -e .`` first, or prefix ``PYTHONPATH=.``.)
"""

import argparse
import os
import statistics
import sys
import time

import numpy as np

try:
    import resource
except ImportError:  # not on Windows: the page-fault column then shows 0
    resource = None

from symrnn.cells import get_cell
from symrnn.codegen import load_module
from symrnn.network import Network

FULL_SIZES = {"T": 50, "B": 32, "D": 64, "H": 128, "K": 64}
QUICK_SIZES = {"T": 5, "B": 4, "D": 8, "H": 16, "K": 4}
CHECK_SIZES = {"T": 6, "B": 3, "D": 5, "H": 7, "K": 4}
GATES = "fiog"  # hand-written order: the three sigmoid gates first, then g (tanh)


# --------------------------------------------------------------------------- hand-written LSTM


def sigmoid(z, out=None):
    """The generated code's sigmoid (from exp(-|z|)), written into ``out``."""
    positive = z >= 0  # before ``out``, which may be ``z`` itself, is written
    e = np.exp(-np.abs(z))
    r = 1.0 / (1.0 + e)
    if out is None:
        return np.where(positive, r, e * r)
    np.multiply(e, r, out=out)
    np.copyto(out, r, where=positive)
    return out


def pack(params):
    """Stack the four gates' weights: w_x (4H, D), w_h (4H, H), b (4H,), in GATES order."""
    w_x = np.concatenate([params[f"w_{g}"] for g in GATES])
    w_h = np.concatenate([params[f"w_{g.upper()}"] for g in GATES])
    b = np.concatenate([params[f"b_{g}"] for g in GATES])
    return w_x, w_h, b, params["w_y"], params["b_y"]


def hand_forward(packed, x, c0, h0):
    """Outputs (T, B, K) and the cache for :func:`hand_backward`."""
    w_x, w_h, b, w_y, b_y = packed
    T, B, D = x.shape
    H = w_h.shape[1]
    proj = x.reshape(T * B, D) @ w_x.T  # input projections of all steps, (T*B, 4H)
    proj += b
    proj = proj.reshape(T, B, 4, H).transpose(0, 2, 1, 3)  # gate-major view (T, 4, B, H)
    acts = np.empty((T, 4, B, H), x.dtype)  # f, i, o, g of every step, each gate contiguous
    cs = np.empty((T + 1, B, H), x.dtype)
    hs = np.empty((T + 1, B, H), x.dtype)
    tanh_cs = np.empty((T, B, H), x.dtype)
    cs[0], hs[0] = c0, h0
    w_hT = w_h.T
    rec = np.empty((B, 4 * H), x.dtype)
    rec_gates = rec.reshape(B, 4, H).transpose(1, 0, 2)
    for t in range(T):
        a = acts[t]
        np.matmul(hs[t], w_hT, out=rec)  # the fused (B, 4H) recurrent product
        np.add(rec_gates, proj[t], out=a)
        sigmoid(a[:3], out=a[:3])
        np.tanh(a[3], out=a[3])
        f, i, o, g = a
        np.multiply(f, cs[t], out=cs[t + 1])
        cs[t + 1] += i * g
        np.tanh(cs[t + 1], out=tanh_cs[t])
        np.multiply(o, tanh_cs[t], out=hs[t + 1])
    z = hs[1:].reshape(T * B, H) @ w_y.T
    z += b_y
    return z.reshape(T, B, -1), (x, acts, cs, hs, tanh_cs)


def hand_pass(params, x, c0, h0):
    """Forward from the parameter dict; returns the (packed, cache) that hand_backward takes."""
    packed = pack(params)
    return packed, hand_forward(packed, x, c0, h0)[1]


def hand_backward(packed, cache, d_z):
    """Gradients of every parameter and of x, c0, h0, from d_z = dC/d(outputs)."""
    w_x, w_h, _, w_y, _ = packed
    x, acts, cs, hs, tanh_cs = cache
    T, B, D = x.shape
    H = w_h.shape[1]
    d_z = d_z.reshape(T * B, -1)
    grads = {"w_y": d_z.T @ hs[1:].reshape(T * B, H), "b_y": d_z.sum(axis=0)}
    d_h_out = (d_z @ w_y).reshape(T, B, H)
    d_pre = np.empty((T, B, 4 * H), x.dtype)  # adjoints of the pre-activations, (B, 4H) per step
    d_c = np.zeros((B, H), x.dtype)
    d_h = np.zeros((B, H), x.dtype)
    for t in reversed(range(T)):
        f, i, o, g = acts[t]
        tanh_c = tanh_cs[t]
        d_gates = d_pre[t].reshape(B, 4, H)
        d_h += d_h_out[t]
        d_c += d_h * o * (1 - tanh_c * tanh_c)
        np.multiply(d_c * cs[t], f * (1 - f), out=d_gates[:, 0])
        np.multiply(d_c * g, i * (1 - i), out=d_gates[:, 1])
        np.multiply(d_h * tanh_c, o * (1 - o), out=d_gates[:, 2])
        np.multiply(d_c * i, 1 - g * g, out=d_gates[:, 3])
        d_c *= f
        np.matmul(d_pre[t], w_h, out=d_h)  # the one recurrent product of the step
    d_pre = d_pre.reshape(T * B, 4 * H)
    g_x = np.split(d_pre.T @ x.reshape(T * B, D), 4)  # weight gradients: one big product each
    g_h = np.split(d_pre.T @ hs[:-1].reshape(T * B, H), 4)
    g_b = np.split(d_pre.sum(axis=0), 4)
    for k, gate in enumerate(GATES):
        grads[f"w_{gate}"], grads[f"w_{gate.upper()}"], grads[f"b_{gate}"] = g_x[k], g_h[k], g_b[k]
    grads["x"] = (d_pre @ w_x).reshape(T, B, D)
    grads["c0"], grads["h0"] = d_c, d_h
    return grads


# --------------------------------------------------------------------------- correctness


def make_data(module, sizes, dtype, seed=1):
    """Parameters, input x (T, B, D) and an output adjoint d_z (T, B, K)."""
    T, B, D, H, K = (sizes[k] for k in "TBDHK")
    rng = np.random.default_rng(seed)
    params = module.init_params(D, H, K, seed=0, dtype=dtype)
    x = rng.standard_normal((T, B, D)).astype(dtype)
    d_z = rng.standard_normal((T, B, K)).astype(dtype)
    return params, x, d_z


def check_gradients(module):
    """Exit with status 1 unless both implementations agree at float64 (random c0, h0)."""
    params, x, d_z = make_data(module, CHECK_SIZES, np.float64)
    rng = np.random.default_rng(2)
    c0, h0 = (rng.standard_normal((CHECK_SIZES["B"], CHECK_SIZES["H"])) for _ in range(2))
    out_gen, cache = module.forward(params, x, state0={"c0": c0, "h0": h0})
    grads_gen = module.backward(params, cache, d_z)
    packed = pack(params)
    out_hand, hand_cache = hand_forward(packed, x, c0, h0)
    grads_hand = hand_backward(packed, hand_cache, d_z)
    bad = [] if np.allclose(out_gen, out_hand, rtol=1e-10, atol=1e-12) else ["outputs"]
    if set(grads_gen) != set(grads_hand):
        bad.append(f"gradient names differ: {sorted(set(grads_gen) ^ set(grads_hand))}")
    bad += [
        name
        for name in grads_gen
        if name in grads_hand and not np.allclose(grads_gen[name], grads_hand[name], rtol=1e-10, atol=1e-12)
    ]
    if bad:
        sys.exit(f"ERROR: hand-written LSTM disagrees with the generated module on: {', '.join(bad)}")
    print(f"check: outputs and all {len(grads_gen)} gradients agree at float64 (np.allclose, rtol=1e-10)")


# --------------------------------------------------------------------------- timing


def minor_faults():
    """Minor page faults of this process so far (0 where the resource module is missing)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt if resource else 0


def one_pass(forward, backward):
    """Forward and backward seconds and minor page faults of one pass, and the gradients."""
    faults = minor_faults()
    t0 = time.perf_counter()
    state = forward()
    t1 = time.perf_counter()
    grads = backward(state)
    t2 = time.perf_counter()
    return (t1 - t0, t2 - t1, minor_faults() - faults), grads


def time_pair(module, sizes, dtype, repeats):
    """Medians of (forward s, backward s, total s, page faults) of each implementation."""
    params, x, d_z = make_data(module, sizes, dtype)
    zeros = np.zeros((sizes["B"], sizes["H"]), dtype)
    passes = {
        "generated": (lambda: module.forward(params, x)[1], lambda cache: module.backward(params, cache, d_z)),
        "hand": (lambda: hand_pass(params, x, zeros, zeros), lambda state: hand_backward(*state, d_z)),
    }
    for forward, backward in passes.values():  # warm-up, and both keep the dtype
        assert one_pass(forward, backward)[1]["w_F"].dtype == dtype
    runs = {name: [] for name in passes}
    for _ in range(repeats):  # interleaved, so slow drifts of the machine hit both alike
        for name, (forward, backward) in passes.items():
            runs[name].append(one_pass(forward, backward)[0])
    summary = {}
    for name, rows in runs.items():
        fwd, bwd, faults = zip(*rows)
        totals = [f + b for f, b in zip(fwd, bwd)]
        summary[name] = tuple(statistics.median(column) for column in (fwd, bwd, totals, faults))
    return summary


def products(sizes):
    """Every matrix product of forward + backward, as the hand-written LSTM lays it out.

    Rows (label, m, k, n, count, a, b): ``count`` products (m, k) @ (k, n), where ``a``
    and ``b`` say whether that operand is a transposed view ("T") or contiguous ("N").
    """
    T, B, D, H, K = (sizes[k] for k in "TBDHK")
    TB, G = T * B, 4 * H
    return [
        ("fwd input projection", TB, D, G, 1, "N", "T"),
        ("fwd recurrent (per step)", B, H, G, T, "N", "T"),
        ("fwd output layer", TB, H, K, 1, "N", "T"),
        ("bwd output d_w_y", K, TB, H, 1, "T", "N"),
        ("bwd output d_h", TB, K, H, 1, "N", "N"),
        ("bwd recurrent (per step)", B, G, H, T, "N", "N"),
        ("bwd d_w_x", G, TB, D, 1, "T", "N"),
        ("bwd d_w_h", G, TB, H, 1, "T", "N"),
        ("bwd d_x", TB, G, D, 1, "N", "N"),
    ]


def operand(rows, cols, layout, dtype, rng):
    """A random (rows, cols) array, contiguous ("N") or a transposed view ("T")."""
    if layout == "T":
        return rng.standard_normal((cols, rows)).astype(dtype).T
    return rng.standard_normal((rows, cols)).astype(dtype)


def time_product(m, k, n, count, a_layout, b_layout, dtype, repeats):
    """Median seconds of ``count`` products (m, k) @ (k, n) with np.matmul."""
    rng = np.random.default_rng(0)
    a, b = operand(m, k, a_layout, dtype, rng), operand(k, n, b_layout, dtype, rng)
    times = []
    for _ in range(repeats + 1):  # the first is a warm-up
        t0 = time.perf_counter()
        for _ in range(count):
            np.matmul(a, b)
        times.append(time.perf_counter() - t0)
    return statistics.median(times[1:])


def matmul_bound(sizes, dtype, repeats):
    """Rows (label, shape, count, flops, seconds) for every product, and the total flops and seconds."""
    rows = []
    for label, m, k, n, count, a_layout, b_layout in products(sizes):
        seconds = time_product(m, k, n, count, a_layout, b_layout, dtype, repeats)
        rows.append((label, f"({m},{k})x({k},{n})", count, 2 * m * k * n * count, seconds))
    return rows, sum(r[3] for r in rows), sum(r[4] for r in rows)


# --------------------------------------------------------------------------- report


def blas_info():
    """A one-line description of numpy's BLAS."""
    try:
        blas = np.show_config(mode="dicts")["Build Dependencies"]["blas"]
        info = f"{blas.get('name', '?')} {blas.get('version', '')}".strip()
    except (TypeError, KeyError, AttributeError):  # older numpy: no mode="dicts"
        info = "unknown"
    coretype = os.environ.get("OPENBLAS_CORETYPE")
    return info + (f" (OPENBLAS_CORETYPE={coretype})" if coretype else "")


def cpu_busy(seconds=0.3):
    """Fraction of all CPUs busy with other work over ``seconds`` (Linux), else None."""

    def sample():
        with open("/proc/stat") as stat:
            fields = [int(v) for v in stat.readline().split()[1:]]
        return sum(fields), fields[3] + fields[4]  # total, idle + iowait

    try:
        total0, idle0 = sample()
        time.sleep(seconds)
        total1, idle1 = sample()
    except (OSError, ValueError, IndexError):
        return None
    return 1 - (idle1 - idle0) / max(total1 - total0, 1)


def print_products(rows, dtype):
    print(f"\nmatrix products of forward+backward, each timed alone with np.matmul ({np.dtype(dtype).name}):")
    print(f"  {'product':<26}{'shape':<24}{'count':>6}{'MFLOP':>10}{'ms':>9}{'GFLOP/s':>9}")
    for label, shape, count, flops, seconds in rows:
        print(
            f"  {label:<26}{shape:<24}{count:>6}{flops / 1e6:>10.4g}{seconds * 1e3:>9.3f}{flops / seconds / 1e9:>9.1f}"
        )


def print_table(results):
    print("\nforward+backward, median of repeats (ms); bound = time of the matrix products alone;")
    print("faults = minor page faults per forward+backward")
    head = (
        f"{'dtype':<9}{'impl':<11}{'fwd':>9}{'bwd':>9}{'total':>9}{'gen/hand':>10}{'bound':>9}{'fraction':>10}"
        f"{'faults':>8}"
    )
    print(head)
    print("-" * len(head))
    for dtype, (timings, bound) in results.items():
        ratio = timings["generated"][2] / timings["hand"][2]
        for name, (fwd, bwd, total, faults) in timings.items():
            shown = f"{ratio:>10.2f}" if name == "generated" else f"{'':>10}"
            print(
                f"{dtype:<9}{name:<11}{fwd * 1e3:>9.2f}{bwd * 1e3:>9.2f}{total * 1e3:>9.2f}{shown}"
                f"{bound * 1e3:>9.2f}{bound / total:>10.2f}{faults:>8.0f}"
            )


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes and 2 repeats (CI smoke run)")
    parser.add_argument(
        "--repeats", type=int, default=None, help="timed repeats of each implementation and each product (default 15)"
    )
    args = parser.parse_args(argv)
    if args.repeats is not None and args.repeats < 1:
        parser.error("--repeats must be at least 1")
    return args


def main(argv=None):
    args = parse_args(argv)
    sizes = QUICK_SIZES if args.quick else FULL_SIZES
    repeats = args.repeats or (2 if args.quick else 15)
    print(f"numpy {np.__version__}, BLAS {blas_info()}, {os.cpu_count()} CPUs, python {sys.version.split()[0]}")
    busy = cpu_busy()
    if busy is not None:
        print(f"CPUs busy with other work just before the start: {busy:.0%}")
        if busy > 0.2:
            print("WARNING: the machine is not idle; BLAS threads will contend and the times are unreliable")
    print("sizes: " + ", ".join(f"{k}={v}" for k, v in sizes.items()) + f"; repeats={repeats}")
    module = load_module(Network(get_cell("lstm"), layers=1, output="sequence", loss="squared"))
    check_gradients(module)
    results = {}
    for dtype in (np.float64, np.float32):
        rows, flops, bound = matmul_bound(sizes, dtype, repeats)
        print_products(rows, dtype)
        print(f"  {'total':<56}{flops / 1e6:>10.4g}{bound * 1e3:>9.3f}{flops / bound / 1e9:>9.1f}")
        results[np.dtype(dtype).name] = (time_pair(module, sizes, dtype, repeats), bound)
    print_table(results)


if __name__ == "__main__":
    main()
