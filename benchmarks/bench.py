"""Benchmark: symrnn's generated modules against hand-written NumPy, the
matrix-product bound and (where installed) PyTorch.

What is measured
----------------
For each size (small, medium, large) x cell (rnn, lstm, gru by default; also
lstm_ln and lstmp with ``--cells``) x dtype (float64, float32): wall time
(``time.perf_counter``) of one forward + backward pass of a one-layer network
with a linear output layer at every step (``output="sequence"``), for

* ``gen``: the module symrnn generates for the cell, called through its public
  ``forward``/``backward`` (input checks and output mask included: that is
  what a user pays);
* ``hand``: a hand-written NumPy implementation of the same cell, written as
  an experienced NumPy programmer would: the input projections of all steps as
  one matrix product with the biases added once; per step one fused recurrent
  product for the gates that share the previous state, added gate-major into a
  preallocated (T, G, B, H) store so each gate is contiguous; one activation
  call per run of gates; states written in place; one fused product per step
  backward; every weight gradient as one large product after the loop. Its
  sigmoid is the textbook ``1 / (1 + exp(-z))`` computed in place (four calls),
  its tanh ``np.tanh``.

  lstm_ln (layer-normalized LSTM, symrnn/cell_files/lstm_ln.cell) by hand: the
  LSTM's layout and products (no bias in the input projections: each gate's
  bias follows its normalization); per step the four gates' summed
  pre-activations normalized in one go over the units (the mean subtracted
  first, then the mean of squares taken: no cancellation; eps 1e-5), gain and
  bias applied to all four at once, the cell normalized before its tanh;
  backward the four normalizations' adjoints at once, written into the input
  projections' buffer (dead after forward), each step's activation adjoints
  into that step's activation store (dead once the step is done), and the
  gains' and biases' gradients as reductions over all steps after the loop.
  lstmp (LSTM with recurrent projection, lstmp.cell): the LSTM's layout, the
  gates fed r[t-1] of size P, per step r = w_r·(o * tanh c) as a second
  product (and d_m = d_r·w_r backward), w_r's gradient one product after the
  loop. P = H // 2 at every size (the generated module's init_params gets
  ``sizes={"P": P}``; only cells that declare P get it).

Before timing, each hand-written cell is checked at float64 to give the
generated module's outputs and gradients (every parameter, x, initial states);
the script exits with status 1 if one does not. Where code generation does
not support a cell (symrnn's ConfigError: lstmp, until it handles a declared
size such as P), one line says so and the cell's rows are skipped; its
hand-written gradients are then checked against central finite differences
of the hand-written forward instead (float64, every entry), and the check
against the generated module takes over by itself once the module can be built.
``--quick`` (the CI smoke run) checks every hand-written cell, also those it
does not time (lstm_ln, lstmp). The default ``--cells`` stays rnn lstm gru:
the full run already takes many minutes, and the table's cell column keeps
its width (it widens only for a longer name in the run).

Figures (medians over the repeats; both implementations interleaved):

* ``ratio`` = gen / hand;
* ``bound``: every matrix product of forward + backward (the hand-written
  layout; the generated code does the same products) timed alone with
  ``np.matmul`` at its shape and operand layout, in the same run; ``frac`` =
  bound / measured time (1.0: nothing but the products costs time). lstm_ln
  has the LSTM's products (normalization adds none); lstmp's recurrent
  products and output layer read r (size P), and it adds the projection's
  product per step both ways and w_r's gradient;
* ``peak/need``: peak bytes allocated during forward + backward (tracemalloc
  sees NumPy's allocations) over ``need``, the bytes backpropagation must keep
  or return: the forward values the chain rule reads (the hand-written
  cache, without x), the outputs and the gradients; ``hand peak`` the same
  ratio for the hand-written implementation.

``torch``: PyTorch's CPU nn.RNN/nn.LSTM/nn.GRU (+ nn.Linear head) forward +
backward at the same sizes and dtype, when torch is importable (it is not a
dependency of symrnn). Its GRU is PyTorch's form (reset after the product);
lstmp is nn.LSTM(proj_size=P) (the same equations); lstm_ln has no PyTorch
module: "-". The independent reference's table covers rnn, lstm and gru only.

Also timed: deriving and generating (rendering) every built-in configuration
of ``symrnn.cli.verification_matrix()``.

The machine is shared and has few cores: OpenBLAS threads wait for each other,
so one busy process can slow the products a lot. Compare ratios measured in
one run; rerun when the CPU-busy line is high.

Run from the repository root::

    python benchmarks/bench.py                       # all sizes and dtypes, default cells
    python benchmarks/bench.py --sizes medium --cells lstm --repeats 31
    python benchmarks/bench.py --sizes small medium --cells lstm_ln lstmp
    python benchmarks/bench.py --quick               # tiny sizes, CI smoke run
"""

import argparse
import gc
import importlib.util
import os
import statistics
import sys
import time
import tracemalloc
import warnings
from pathlib import Path

import numpy as np

from symrnn.cli import verification_matrix
from symrnn.codegen import load_module, render
from symrnn.errors import ConfigError
from symrnn.network import Network
from symrnn.registry import get_cell


def with_projection(sizes):
    """``sizes`` with lstmp's projection size P = H // 2."""
    return {**sizes, "P": sizes["H"] // 2}


SIZES = {
    "small": with_projection({"T": 20, "B": 8, "D": 16, "H": 32, "K": 16}),
    "medium": with_projection({"T": 50, "B": 32, "D": 64, "H": 128, "K": 64}),
    "large": with_projection({"T": 100, "B": 64, "D": 256, "H": 512, "K": 256}),
}
QUICK_SIZES = {"quick": with_projection({"T": 5, "B": 4, "D": 8, "H": 16, "K": 4})}
CHECK_SIZES = with_projection({"T": 6, "B": 3, "D": 5, "H": 7, "K": 4})
REPEATS = {"small": 41, "medium": 21, "large": 7, "quick": 2}
CELLS = ("rnn", "lstm", "gru", "lstm_ln", "lstmp")
DEFAULT_CELLS = ("rnn", "lstm", "gru")
DTYPES = (np.float64, np.float32)
# The independent reference beside the checkout (not part of symrnn): PyTorch's gate order and GRU form.
REFERENCE = Path(__file__).resolve().parents[2] / "shared" / "perf" / "ref_numpy_rnn.py"
REFERENCE_VARIANTS = {"rnn": None, "lstm": None, "gru": "pytorch"}
REFERENCE_K = 8  # the reference's comparison with an output layer: one linear output of 8 at every step


# --------------------------------------------------------------------------- hand-written cells


def sigmoid(z, out):
    """1 / (1 + exp(-z)) in place; exp overflows to inf for z < -709 (float64), giving 0."""
    np.negative(z, out=out)
    np.exp(out, out=out)
    out += 1
    return np.reciprocal(out, out=out)


def head_forward(top, w_y, b_y):
    T, B, H = top.shape
    z = top.reshape(T * B, H) @ w_y.T
    z += b_y
    return z.reshape(T, B, -1)


def head_backward(top, w_y, d_z, grads):
    T, B, H = top.shape
    d_z = d_z.reshape(T * B, -1)
    grads["w_y"], grads["b_y"] = d_z.T @ top.reshape(T * B, H), d_z.sum(axis=0)
    return (d_z @ w_y).reshape(T, B, H)


def split_grads(grads, names, d_pre, operand):
    """Gradients of the weights ``names`` (stacked in that order) from one product."""
    for name, part in zip(names, np.split(d_pre.T @ operand, len(names))):
        grads[name] = part


class HandRNN:
    """a = tanh(w_x·x + w_a·a[t-1] + b_a)."""

    states = ("a0",)

    def __init__(self, params):
        self.p = params

    def forward(self, x, a0):
        p = self.p
        T, B, D = x.shape
        H = a0.shape[1]
        pre = (x.reshape(T * B, D) @ p["w_x"].T).reshape(T, B, H)
        pre += p["b_a"]
        a = np.empty((T + 1, B, H), x.dtype)
        a[0] = a0
        rec = np.empty((B, H), x.dtype)
        w_aT = p["w_a"].T
        for t in range(T):
            np.matmul(a[t], w_aT, out=rec)
            rec += pre[t]
            np.tanh(rec, out=a[t + 1])
        self.cache = (x, a)
        return head_forward(a[1:], p["w_y"], p["b_y"])

    def backward(self, d_z):
        p = self.p
        x, a = self.cache
        T, B, D = x.shape
        H = a.shape[2]
        grads = {}
        d_out = head_backward(a[1:], p["w_y"], d_z, grads)
        d_pre = np.empty((T, B, H), x.dtype)
        d_a = np.zeros((B, H), x.dtype)
        for t in reversed(range(T)):
            d_a += d_out[t]
            np.multiply(a[t + 1], a[t + 1], out=d_pre[t])
            np.subtract(1, d_pre[t], out=d_pre[t])
            d_pre[t] *= d_a
            np.matmul(d_pre[t], p["w_a"], out=d_a)
        d_pre = d_pre.reshape(T * B, H)
        grads["w_x"] = d_pre.T @ x.reshape(T * B, D)
        grads["w_a"] = d_pre.T @ a[:-1].reshape(T * B, H)
        grads["b_a"] = d_pre.sum(axis=0)
        grads["x"] = (d_pre @ p["w_x"]).reshape(T, B, D)
        grads["a0"] = d_a
        return grads


class HandLSTM:
    """The notes' LSTM; gates stacked f, i, o (sigmoid) then g (tanh)."""

    states = ("c0", "h0")
    gates = "fiog"

    def __init__(self, params):
        self.p = params
        self.w_x = np.concatenate([params[f"w_{g}"] for g in self.gates])
        self.w_h = np.concatenate([params[f"w_{g.upper()}"] for g in self.gates])
        self.b = np.concatenate([params[f"b_{g}"] for g in self.gates])

    def forward(self, x, c0, h0):
        T, B, D = x.shape
        H = h0.shape[1]
        proj = x.reshape(T * B, D) @ self.w_x.T
        proj += self.b
        proj = proj.reshape(T, B, 4, H).transpose(0, 2, 1, 3)  # gate-major view (T, 4, B, H)
        acts = np.empty((T, 4, B, H), x.dtype)
        c = np.empty((T + 1, B, H), x.dtype)
        h = np.empty((T + 1, B, H), x.dtype)
        tanh_c = np.empty((T, B, H), x.dtype)
        c[0], h[0] = c0, h0
        rec = np.empty((B, 4 * H), x.dtype)
        rec_gates = rec.reshape(B, 4, H).transpose(1, 0, 2)
        w_hT = self.w_h.T
        for t in range(T):
            a = acts[t]
            np.matmul(h[t], w_hT, out=rec)
            np.add(rec_gates, proj[t], out=a)
            sigmoid(a[:3], out=a[:3])
            np.tanh(a[3], out=a[3])
            f, i, o, g = a
            np.multiply(f, c[t], out=c[t + 1])
            c[t + 1] += i * g
            np.tanh(c[t + 1], out=tanh_c[t])
            np.multiply(o, tanh_c[t], out=h[t + 1])
        self.cache = (x, acts, c, h, tanh_c)
        return head_forward(h[1:], self.p["w_y"], self.p["b_y"])

    def backward(self, d_z):
        x, acts, c, h, tanh_c = self.cache
        T, B, D = x.shape
        H = h.shape[2]
        grads = {}
        d_out = head_backward(h[1:], self.p["w_y"], d_z, grads)
        d_pre = np.empty((T, B, 4 * H), x.dtype)
        d_c = np.zeros((B, H), x.dtype)
        d_h = np.zeros((B, H), x.dtype)
        for t in reversed(range(T)):
            f, i, o, g = acts[t]
            d_gates = d_pre[t].reshape(B, 4, H)
            d_h += d_out[t]
            d_c += d_h * o * (1 - tanh_c[t] * tanh_c[t])
            np.multiply(d_c * c[t], f * (1 - f), out=d_gates[:, 0])
            np.multiply(d_c * g, i * (1 - i), out=d_gates[:, 1])
            np.multiply(d_h * tanh_c[t], o * (1 - o), out=d_gates[:, 2])
            np.multiply(d_c * i, 1 - g * g, out=d_gates[:, 3])
            d_c *= f
            np.matmul(d_pre[t], self.w_h, out=d_h)
        d_pre = d_pre.reshape(T * B, 4 * H)
        split_grads(grads, [f"w_{g}" for g in self.gates], d_pre, x.reshape(T * B, D))
        split_grads(grads, [f"w_{g.upper()}" for g in self.gates], d_pre, h[:-1].reshape(T * B, H))
        for gate, part in zip(self.gates, np.split(d_pre.sum(axis=0), 4)):
            grads[f"b_{gate}"] = part
        grads["x"] = (d_pre @ self.w_x).reshape(T, B, D)
        grads["c0"], grads["h0"] = d_c, d_h
        return grads


class HandGRU:
    """The notes' GRU: g = tanh(w_g·x + w_G·(r*h[t-1]) + b_g), h = (1-z)*h[t-1] + z*g."""

    states = ("h0",)
    gates = "zrg"

    def __init__(self, params):
        self.p = params
        self.w_x = np.concatenate([params[f"w_{g}"] for g in self.gates])
        self.w_zr = np.concatenate([params["w_Z"], params["w_R"]])
        self.b = np.concatenate([params[f"b_{g}"] for g in self.gates])

    def forward(self, x, h0):
        T, B, D = x.shape
        H = h0.shape[1]
        proj = x.reshape(T * B, D) @ self.w_x.T
        proj += self.b
        proj = proj.reshape(T, B, 3, H).transpose(0, 2, 1, 3)  # gate-major view (T, 3, B, H)
        acts = np.empty((T, 3, B, H), x.dtype)  # z, r, g
        v = np.empty((T, B, H), x.dtype)  # r * h[t-1], the operand of w_G
        h = np.empty((T + 1, B, H), x.dtype)
        h[0] = h0
        rec = np.empty((B, 2 * H), x.dtype)
        rec_gates = rec.reshape(B, 2, H).transpose(1, 0, 2)
        rec_g = np.empty((B, H), x.dtype)
        w_zrT, w_GT = self.w_zr.T, self.p["w_G"].T
        for t in range(T):
            a = acts[t]
            np.matmul(h[t], w_zrT, out=rec)
            np.add(rec_gates, proj[t, :2], out=a[:2])
            sigmoid(a[:2], out=a[:2])
            z, r, g = a
            np.multiply(r, h[t], out=v[t])
            np.matmul(v[t], w_GT, out=rec_g)
            np.add(rec_g, proj[t, 2], out=g)
            np.tanh(g, out=g)
            np.subtract(g, h[t], out=h[t + 1])  # h = h[t-1] + z*(g - h[t-1])
            h[t + 1] *= z
            h[t + 1] += h[t]
        self.cache = (x, acts, v, h)
        return head_forward(h[1:], self.p["w_y"], self.p["b_y"])

    def backward(self, d_z):
        x, acts, v, h = self.cache
        T, B, D = x.shape
        H = h.shape[2]
        w_G = self.p["w_G"]
        grads = {}
        d_out = head_backward(h[1:], self.p["w_y"], d_z, grads)
        d_pre = np.empty((T, B, 3 * H), x.dtype)
        d_h = np.zeros((B, H), x.dtype)
        for t in reversed(range(T)):
            z, r, g = acts[t]
            d_gates = d_pre[t].reshape(B, 3, H)
            d_h += d_out[t]
            np.multiply(d_h * z, 1 - g * g, out=d_gates[:, 2])
            d_v = d_gates[:, 2] @ w_G
            np.multiply(d_v * h[t], r * (1 - r), out=d_gates[:, 1])
            np.multiply(d_h * (g - h[t]), z * (1 - z), out=d_gates[:, 0])
            d_h_prev = d_h * (1 - z)
            d_h_prev += d_v * r
            np.matmul(d_pre[t, :, :2 * H], self.w_zr, out=d_h)
            d_h += d_h_prev
        d_pre = d_pre.reshape(T * B, 3 * H)
        split_grads(grads, ["w_z", "w_r", "w_g"], d_pre, x.reshape(T * B, D))
        split_grads(grads, ["w_Z", "w_R"], d_pre[:, :2 * H], h[:-1].reshape(T * B, H))
        grads["w_G"] = d_pre[:, 2 * H:].T @ v.reshape(T * B, H)
        for gate, part in zip(self.gates, np.split(d_pre.sum(axis=0), 3)):
            grads[f"b_{gate}"] = part
        grads["x"] = (d_pre @ self.w_x).reshape(T, B, D)
        grads["h0"] = d_h
        return grads


LN_EPS = 1e-5  # lstm_ln.cell's epsilon under the square root


def row_mean(z):
    """The mean over the last axis, as a column (np.add.reduce: np.mean without its Python wrapper)."""
    return np.add.reduce(z, axis=-1, keepdims=True) / z.shape[-1]


def normalize(u, out, inv):
    """Layer normalization over the last axis, into ``out`` (may be ``u``): (u - mean(u)) * inv,
    inv = 1 / sqrt(mean((u - mean(u))²) + 1e-5) written into ``inv`` (a column): the mean is
    subtracted first, then the mean of squares taken (no cancellation)."""
    np.subtract(u, row_mean(u), out=out)
    np.sqrt(row_mean(out * out) + LN_EPS, out=inv)
    np.reciprocal(inv, out=inv)
    out *= inv


def normalize_backward(d_n, n, inv, out):
    """The adjoint of u from d_n, that of n = normalize(u): inv * (d_n - mean(d_n) - n * mean(d_n * n)),
    into ``out``; ``d_n`` is overwritten."""
    along = row_mean(d_n * n)
    d_n -= row_mean(d_n)
    np.multiply(n, along, out=out)
    np.subtract(d_n, out, out=out)
    out *= inv


class HandLSTMLN:
    """lstm_ln.cell: each gate's summed pre-activation u layer-normalized over the units,
    n = normalize(u), then gain and bias (a = g^(.) * n + b^(.)); the cell c normalized before
    the output tanh: h = o * tanh(g^(c) * normalize(c) + b^(c)). Gates stacked f, i, o, g, as
    HandLSTM; the four gates normalized in one call per step. backward writes each step's
    adjoints into the cache's stores of that step's activations (dead once the step is done):
    it runs once per forward."""

    states = ("c0", "h0")
    gates = "fiog"

    def __init__(self, params):
        self.p = params
        self.w_x = np.concatenate([params[f"w_{g}"] for g in self.gates])
        self.w_h = np.concatenate([params[f"w_{g.upper()}"] for g in self.gates])
        self.gain = np.stack([params[f"g_{g}"] for g in self.gates])[:, None, :]  # (4, 1, H)
        self.bias = np.stack([params[f"b_{g}"] for g in self.gates])[:, None, :]

    def forward(self, x, c0, h0):
        T, B, D = x.shape
        H = h0.shape[1]
        g_c, b_c = self.p["g_c"], self.p["b_c"]
        flat = (x.reshape(T * B, D) @ self.w_x.T).reshape(T, B, 4 * H)
        proj = flat.reshape(T, B, 4, H).transpose(0, 2, 1, 3)  # gate-major view (T, 4, B, H)
        norm, acts = np.empty((T, 4, B, H), x.dtype), np.empty((T, 4, B, H), x.dtype)
        inv = np.empty((T, 4, B, 1), x.dtype)
        c, h = np.empty((T + 1, B, H), x.dtype), np.empty((T + 1, B, H), x.dtype)
        norm_c, tanh_c = np.empty((T, B, H), x.dtype), np.empty((T, B, H), x.dtype)
        inv_c = np.empty((T, B, 1), x.dtype)
        c[0], h[0] = c0, h0
        rec = np.empty((B, 4 * H), x.dtype)
        rec_gates = rec.reshape(B, 4, H).transpose(1, 0, 2)
        w_hT = self.w_h.T
        for t in range(T):
            n, a = norm[t], acts[t]
            np.matmul(h[t], w_hT, out=rec)
            np.add(rec_gates, proj[t], out=n)
            normalize(n, n, inv[t])
            np.multiply(n, self.gain, out=a)
            a += self.bias
            sigmoid(a[:3], out=a[:3])
            np.tanh(a[3], out=a[3])
            f, i, o, g = a
            np.multiply(f, c[t], out=c[t + 1])
            c[t + 1] += i * g
            normalize(c[t + 1], norm_c[t], inv_c[t])
            np.multiply(norm_c[t], g_c, out=tanh_c[t])
            tanh_c[t] += b_c
            np.tanh(tanh_c[t], out=tanh_c[t])
            np.multiply(o, tanh_c[t], out=h[t + 1])
        self.cache = (x, norm, inv, acts, c, h, norm_c, inv_c, tanh_c)
        self.flat = flat  # dead after the loop: backward writes the pre-activations' adjoints into it
        return head_forward(h[1:], self.p["w_y"], self.p["b_y"])

    def backward(self, d_z):
        x, h = self.cache[0], self.cache[5]
        T, B, _ = x.shape
        H = h.shape[2]
        grads = {}
        d_out = head_backward(h[1:], self.p["w_y"], d_z, grads)
        d_pre = self.flat  # pages already mapped
        d_c, d_h = np.zeros((B, H), x.dtype), np.zeros((B, H), x.dtype)
        d_m = np.empty((B, H), x.dtype)
        for t in reversed(range(T)):
            d_h += d_out[t]
            self._step_back(t, d_c, d_h, d_m, d_pre[t].reshape(B, 4, H).transpose(1, 0, 2))
            np.matmul(d_pre[t], self.w_h, out=d_h)
        self._param_grads(grads, d_pre.reshape(T * B, 4 * H))
        grads["c0"], grads["h0"] = d_c, d_h
        return grads

    def _step_back(self, t, d_c, d_h, d_m, d_u):
        """Step t backward: d_c gets the carry into step t, d_u (4, B, H) the adjoints of the
        summed pre-activations; acts[t] and tanh_c[t] take the adjoints of their arguments."""
        _, norm, inv, acts, c, _, norm_c, inv_c, tanh_c = self.cache
        a, tc = acts[t], tanh_c[t]
        f, i, o, g = a
        d_o_h, slope = d_h * o, 1 - tc * tc
        np.multiply(d_h * tc, o * (1 - o), out=a[2])
        np.multiply(d_o_h, slope, out=tc)  # the adjoint of the output tanh's argument
        normalize_backward(tc * self.p["g_c"], norm_c[t], inv_c[t], out=d_m)
        d_c += d_m
        d_c_g, slope_i = d_c * g, i * (1 - i)
        np.multiply(d_c * i, 1 - g * g, out=a[3])
        np.multiply(d_c_g, slope_i, out=a[1])
        d_c_c, slope_f = d_c * c[t], f * (1 - f)
        d_c *= f
        np.multiply(d_c_c, slope_f, out=a[0])
        normalize_backward(a * self.gain, norm[t], inv[t], out=d_u)

    def _param_grads(self, grads, d_pre):
        """The weights' gradients, each one product; the gains' and biases' from the adjoints
        backward left in the cache (norm and norm_c are overwritten)."""
        x, norm, _, acts, _, h, norm_c, _, tanh_c = self.cache
        T, B, D = x.shape
        split_grads(grads, [f"w_{g}" for g in self.gates], d_pre, x.reshape(T * B, D))
        split_grads(grads, [f"w_{g.upper()}" for g in self.gates], d_pre, h[:-1].reshape(T * B, h.shape[2]))
        biases = acts.sum(axis=(0, 2))
        gains = np.multiply(acts, norm, out=norm).sum(axis=(0, 2))
        for k, gate in enumerate(self.gates):
            grads[f"b_{gate}"], grads[f"g_{gate}"] = biases[k], gains[k]
        grads["b_c"] = tanh_c.sum(axis=(0, 1))
        grads["g_c"] = np.multiply(tanh_c, norm_c, out=norm_c).sum(axis=(0, 1))
        grads["x"] = (d_pre @ self.w_x).reshape(T, B, D)


class HandLSTMP:
    """lstmp.cell: HandLSTM's gates fed r[t-1] (size P), m = o * tanh(c), r = w_r·m fed back and
    output. Per step two products forward (the gates' fused, r's) and two backward."""

    states = ("c0", "r0")
    state_sizes = ("H", "P")
    gates = "fiog"

    def __init__(self, params):
        self.p = params
        self.w_x = np.concatenate([params[f"w_{g}"] for g in self.gates])
        self.w_h = np.concatenate([params[f"w_{g.upper()}"] for g in self.gates])
        self.b = np.concatenate([params[f"b_{g}"] for g in self.gates])

    def forward(self, x, c0, r0):
        T, B, D = x.shape
        H, P = c0.shape[1], r0.shape[1]
        proj = x.reshape(T * B, D) @ self.w_x.T
        proj += self.b
        proj = proj.reshape(T, B, 4, H).transpose(0, 2, 1, 3)  # gate-major view (T, 4, B, H)
        acts = np.empty((T, 4, B, H), x.dtype)
        c, r = np.empty((T + 1, B, H), x.dtype), np.empty((T + 1, B, P), x.dtype)
        tanh_c, m = np.empty((T, B, H), x.dtype), np.empty((T, B, H), x.dtype)
        c[0], r[0] = c0, r0
        rec = np.empty((B, 4 * H), x.dtype)
        rec_gates = rec.reshape(B, 4, H).transpose(1, 0, 2)
        w_hT, w_rT = self.w_h.T, self.p["w_r"].T
        for t in range(T):
            a = acts[t]
            np.matmul(r[t], w_hT, out=rec)
            np.add(rec_gates, proj[t], out=a)
            sigmoid(a[:3], out=a[:3])
            np.tanh(a[3], out=a[3])
            f, i, o, g = a
            np.multiply(f, c[t], out=c[t + 1])
            c[t + 1] += i * g
            np.tanh(c[t + 1], out=tanh_c[t])
            np.multiply(o, tanh_c[t], out=m[t])
            np.matmul(m[t], w_rT, out=r[t + 1])
        self.cache = (x, acts, c, r, tanh_c, m)
        return head_forward(r[1:], self.p["w_y"], self.p["b_y"])

    def backward(self, d_z):
        x, acts, c, r, tanh_c, m = self.cache
        T, B, D = x.shape
        H, P = c.shape[2], r.shape[2]
        w_r = self.p["w_r"]
        grads = {}
        d_r = head_backward(r[1:], self.p["w_y"], d_z, grads)  # becomes the adjoints of r at every step
        d_pre = np.empty((T, B, 4 * H), x.dtype)
        d_c = np.zeros((B, H), x.dtype)
        d_r_next = np.zeros((B, P), x.dtype)
        for t in reversed(range(T)):
            f, i, o, g = acts[t]
            d_gates = d_pre[t].reshape(B, 4, H)
            d_r[t] += d_r_next
            d_m = d_r[t] @ w_r
            d_c += d_m * o * (1 - tanh_c[t] * tanh_c[t])
            np.multiply(d_c * c[t], f * (1 - f), out=d_gates[:, 0])
            np.multiply(d_c * g, i * (1 - i), out=d_gates[:, 1])
            np.multiply(d_m * tanh_c[t], o * (1 - o), out=d_gates[:, 2])
            np.multiply(d_c * i, 1 - g * g, out=d_gates[:, 3])
            d_c *= f
            np.matmul(d_pre[t], self.w_h, out=d_r_next)
        d_pre = d_pre.reshape(T * B, 4 * H)
        split_grads(grads, [f"w_{g}" for g in self.gates], d_pre, x.reshape(T * B, D))
        split_grads(grads, [f"w_{g.upper()}" for g in self.gates], d_pre, r[:-1].reshape(T * B, P))
        grads["w_r"] = d_r.reshape(T * B, P).T @ m.reshape(T * B, H)
        for gate, part in zip(self.gates, np.split(d_pre.sum(axis=0), 4)):
            grads[f"b_{gate}"] = part
        grads["x"] = (d_pre @ self.w_x).reshape(T, B, D)
        grads["c0"], grads["r0"] = d_c, d_r_next
        return grads


HAND = {"rnn": HandRNN, "lstm": HandLSTM, "gru": HandGRU, "lstm_ln": HandLSTMLN, "lstmp": HandLSTMP}


def products(cell, sizes):
    """Every matrix product of forward + backward in the hand-written layout.

    Rows (m, k, n, count, a, b): ``count`` products (m, k) @ (k, n); ``a``, ``b``
    say whether that operand is a transposed view ("T") or contiguous ("N").
    """
    T, B, D, H, K, P = (sizes[k] for k in "TBDHKP")
    TB = T * B
    S = P if cell == "lstmp" else H  # the state fed back (operand of the recurrent product) and output
    head = [(TB, S, K, 1, "N", "T"), (K, TB, S, 1, "T", "N"), (TB, K, S, 1, "N", "N")]
    G = {"rnn": H, "gru": 3 * H}.get(cell, 4 * H)  # the LSTMs: four gates
    R = {"rnn": H, "gru": 2 * H}.get(cell, 4 * H)  # width of the fused recurrent product
    rows = [
        (TB, D, G, 1, "N", "T"),  # input projections
        (B, S, R, T, "N", "T"),  # recurrent, per step
        (B, R, S, T, "N", "N"),  # recurrent adjoint, per step
        (G, TB, D, 1, "T", "N"),  # input weight gradients
        (R, TB, S, 1, "T", "N"),  # recurrent weight gradients
        (TB, G, D, 1, "N", "N"),  # input adjoint
    ]
    if cell == "gru":  # w_G·(r*h[t-1]): its own product per step, both ways
        rows += [(B, H, H, T, "N", "T"), (B, H, H, T, "N", "N"), (H, TB, H, 1, "T", "N")]
    if cell == "lstmp":  # r = w_r·m per step, its adjoint d_m = d_r·w_r per step, w_r's gradient
        rows += [(B, H, P, T, "N", "T"), (B, P, H, T, "N", "N"), (P, TB, H, 1, "T", "N")]
    return rows + head


def operand(rows, cols, layout, dtype, rng):
    if layout == "T":
        return rng.standard_normal((cols, rows)).astype(dtype).T
    return rng.standard_normal((rows, cols)).astype(dtype)


def matmul_bound(cell, sizes, dtype, repeats):
    """(flops, seconds) of all matrix products of forward + backward, each timed alone."""
    rng = np.random.default_rng(0)
    flops = seconds = 0.0
    for m, k, n, count, a_layout, b_layout in products(cell, sizes):
        a, b = operand(m, k, a_layout, dtype, rng), operand(k, n, b_layout, dtype, rng)
        out = np.empty((m, n), dtype)
        times = []
        for _ in range(repeats + 1):  # the first is a warm-up
            t0 = time.perf_counter()
            for _ in range(count):
                np.matmul(a, b, out=out)
            times.append(time.perf_counter() - t0)
        flops += 2 * m * k * n * count
        seconds += statistics.median(times[1:])
    return flops, seconds


# --------------------------------------------------------------------------- correctness


def declared_sizes(cell, sizes):
    """The sizes the cell declares beside H (lstmp: P), by letter: init_params's ``sizes``."""
    return {letter: sizes[letter] for letter in get_cell(cell).declared_sizes.values()}


def state_shapes(cell, sizes):
    """(B, size) of each initial state of the hand-written cell, by name."""
    impl = HAND[cell]
    letters = getattr(impl, "state_sizes", ("H",) * len(impl.states))
    return {name: (sizes["B"], sizes[letter]) for name, letter in zip(impl.states, letters)}


def make_data(module, cell, sizes, dtype, seed=1):
    T, B, D, H, K = (sizes[k] for k in "TBDHK")
    rng = np.random.default_rng(seed)
    extra = declared_sizes(cell, sizes)
    params = module.init_params(D, H, K, seed=0, dtype=dtype, **({"sizes": extra} if extra else {}))
    x = rng.standard_normal((T, B, D)).astype(dtype)
    d_z = rng.standard_normal((T, B, K)).astype(dtype)
    return params, x, d_z


def check_against_generated(cell, module):
    """Exit with status 1 unless the hand-written cell gives the generated outputs and gradients."""
    params, x, d_z = make_data(module, cell, CHECK_SIZES, np.float64)
    rng = np.random.default_rng(2)
    hand = HAND[cell](params)
    state0 = {name: rng.standard_normal(shape) for name, shape in state_shapes(cell, CHECK_SIZES).items()}
    out_gen, cache = module.forward(params, x, state0=state0)
    grads_gen = module.backward(params, cache, d_z)
    out_hand = hand.forward(x, *state0.values())
    grads_hand = hand.backward(d_z)
    bad = [] if np.allclose(out_gen, out_hand, rtol=1e-10, atol=1e-12) else ["outputs"]
    if set(grads_gen) != set(grads_hand):
        bad.append(f"gradient names differ: {sorted(set(grads_gen) ^ set(grads_hand))}")
    bad += [n for n in grads_gen if n in grads_hand
            and not np.allclose(grads_gen[n], grads_hand[n], rtol=1e-10, atol=1e-12)]
    if bad:
        sys.exit(f"ERROR: hand-written {cell} disagrees with the generated module on: {', '.join(bad)}")
    return len(grads_gen)


def check_finite_differences(cell, step=1e-6):
    """Where no generated module is to be had: exit with status 1 unless the hand-written cell's
    gradients (every parameter, x, initial states) agree with central differences of
    C = sum(outputs * d_z) at float64; returns how many arrays were checked."""
    T, B, D, K = (CHECK_SIZES[k] for k in "TBDK")
    rng = np.random.default_rng(2)
    shapes = Network(get_cell(cell), output="sequence").param_shapes()
    arrays = {name: rng.uniform(-0.5, 0.5, [CHECK_SIZES[d] for d in dims]) for name, dims in shapes.items()}
    arrays["x"] = rng.standard_normal((T, B, D))
    arrays.update((name, rng.standard_normal(shape)) for name, shape in state_shapes(cell, CHECK_SIZES).items())
    d_z = rng.standard_normal((T, B, K))

    def cost():
        impl = HAND[cell]({name: arrays[name] for name in shapes})
        return float(np.sum(impl.forward(arrays["x"], *[arrays[s] for s in impl.states]) * d_z))

    impl = HAND[cell]({name: arrays[name] for name in shapes})
    impl.forward(arrays["x"], *[arrays[s] for s in impl.states])
    grads = impl.backward(d_z)
    bad = sorted(set(arrays) ^ set(grads))
    for name, value in arrays.items():
        numeric = np.empty_like(value)
        for index in np.ndindex(value.shape):
            kept = value[index]
            value[index] = kept + step
            up = cost()
            value[index] = kept - step
            numeric[index] = (up - cost()) / (2 * step)
            value[index] = kept
        if name in grads and not np.allclose(grads[name], numeric, rtol=1e-6, atol=1e-8):
            bad.append(name)
    if bad:
        sys.exit(f"ERROR: hand-written {cell}'s gradients disagree with finite differences on: {', '.join(bad)}")
    return len(grads)


# --------------------------------------------------------------------------- timing


def passes(cell, module, sizes, dtype):
    """Forward+backward callables of each implementation, and the bytes backprop must keep."""
    params, x, d_z = make_data(module, cell, sizes, dtype)
    zeros = [np.zeros(shape, dtype) for shape in state_shapes(cell, sizes).values()]

    def generated():  # the outputs held, as by a caller (and as ``hand`` does)
        outputs, cache = module.forward(params, x)
        return outputs, module.backward(params, cache, d_z)

    def hand():
        impl = HAND[cell](params)
        out = impl.forward(x, *zeros)
        return out, impl.backward(d_z)

    impl = HAND[cell](params)
    out = impl.forward(x, *zeros)
    grads = impl.backward(d_z)
    kept = sum(a.nbytes for a in impl.cache[1:])  # the cache without x
    need = kept + out.nbytes + sum(g.nbytes for g in grads.values())
    return {"gen": generated, "hand": hand}, need


def peak_bytes(run):
    gc.collect()
    tracemalloc.start()
    tracemalloc.reset_peak()
    base = tracemalloc.get_traced_memory()[0]
    result = run()
    peak = tracemalloc.get_traced_memory()[1] - base
    tracemalloc.stop()
    del result
    return peak


def time_runs(runs, repeats):
    """Median seconds of each callable, interleaved so slow drifts hit all alike."""
    for run in runs.values():
        run()  # warm-up
    times = {name: [] for name in runs}
    for _ in range(repeats):
        for name, run in runs.items():
            t0 = time.perf_counter()
            run()
            times[name].append(time.perf_counter() - t0)
    return {name: statistics.median(ts) for name, ts in times.items()}


def torch_pass(cell, sizes, dtype):
    """A forward+backward callable of PyTorch's CPU module, or None without torch or without a
    PyTorch module of the cell (lstm_ln); lstmp is nn.LSTM(proj_size=P)."""
    try:
        import torch
    except ImportError:
        return None
    if cell not in ("rnn", "lstm", "gru", "lstmp"):
        return None
    T, B, D, H, K, P = (sizes[k] for k in "TBDHKP")
    tdtype = {np.float64: torch.float64, np.float32: torch.float32}[dtype]
    extra = {"proj_size": P} if cell == "lstmp" else {}
    warnings.filterwarnings("ignore", message="LSTM with projections is not supported with oneDNN")
    rnn = {"rnn": torch.nn.RNN, "gru": torch.nn.GRU}.get(cell, torch.nn.LSTM)(D, H, **extra).to(tdtype)
    head = torch.nn.Linear(P if cell == "lstmp" else H, K).to(tdtype)
    gen = torch.Generator().manual_seed(1)
    x = torch.randn(T, B, D, generator=gen, dtype=tdtype, requires_grad=True)
    d_z = torch.randn(T, B, K, generator=gen, dtype=tdtype)

    def run():
        out = head(rnn(x)[0])
        out.backward(d_z)
        return out

    return run


# --------------------------------------------------------------------------- the independent reference


def load_reference(path=REFERENCE):
    """The hand-written reference module (``../shared/perf/ref_numpy_rnn.py``), or None where it is not."""
    if not path.is_file():
        return None
    spec = importlib.util.spec_from_file_location("ref_numpy_rnn", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def reference_modules(cell):
    """The generated modules compared with the reference: with no output layer
    (``--output states``: the reference's own work) and with one linear output at every step."""
    variant = REFERENCE_VARIANTS[cell]
    return {mode: load_module(Network(get_cell(cell, variant), output=mode)) for mode in ("states", "sequence")}


def reference_runs(reference, cell, modules, sizes, dtype):
    """Forward+backward callables: the reference's C = sum of h_t² (dC/dh_t = 2 h_t, every
    gradient), the generated states module doing the same, and the generated module with
    an output layer of REFERENCE_K at every step given dC/d(outputs)."""
    T, B, D, H = (sizes[k] for k in "TBDH")
    rng = np.random.default_rng(1)
    x = rng.standard_normal((T, B, D)).astype(dtype)
    d_z = rng.standard_normal((T, B, REFERENCE_K)).astype(dtype)
    zeros = np.zeros((B, H), dtype)
    ref_params = reference.init_params(cell, D, H, dtype, np.random.default_rng(0))
    states, sequence = modules["states"], modules["sequence"]
    states_params = states.init_params(D, H, dtype=dtype)
    sequence_params = sequence.init_params(D, H, REFERENCE_K, dtype=dtype)

    def generated_states():
        outputs, cache = states.forward(states_params, x)
        return states.backward(states_params, cache, 2 * outputs)

    def generated_sequence():  # the outputs held, as by a caller
        outputs, cache = sequence.forward(sequence_params, x)
        return outputs, sequence.backward(sequence_params, cache, d_z)

    return {"states": generated_states, "sequence": generated_sequence,
            "ref": lambda: reference.fwd_bwd_sumsq(cell, x, zeros, zeros, ref_params)}


def check_reference(reference, cell, modules):
    """Exit with status 1 unless the states module gives the reference's gradients for its weights
    (PyTorch's layout: one (D + H, G*H) matrix, gates i, f, g, o / r, z, n, biases summed)."""
    from symrnn.interop import LAYOUTS

    layout = LAYOUTS[{"rnn": "RNN_TANH", "lstm": "LSTM", "gru": "GRU"}[cell]]
    T, B, D, H = (CHECK_SIZES[k] for k in "TBDH")
    rng = np.random.default_rng(3)
    x = rng.standard_normal((T, B, D))
    p = reference.init_params(cell, D, H, np.float64, rng)
    zeros = np.zeros((B, H))
    _, ref_grads = reference.fwd_bwd_sumsq(cell, x, zeros, zeros, p)
    params, expected = {}, {}
    for k, gate in enumerate(layout.gates):
        cols = slice(k * H, (k + 1) * H)
        params[gate.input_weight], params[gate.hidden_weight] = p["W"][:D, cols].T, p["W"][D:, cols].T
        expected[gate.input_weight] = ref_grads["W"][:D, cols].T
        expected[gate.hidden_weight] = ref_grads["W"][D:, cols].T
        if gate.summed_bias:
            params[gate.input_bias] = p["b"][cols] if "b" in p else p["bx"][cols] + p["bh"][cols]
            expected[gate.input_bias] = ref_grads["b"][cols] if "b" in ref_grads else ref_grads["bx"][cols]
        else:
            params[gate.input_bias], params[gate.hidden_bias] = p["bx"][cols], p["bh"][cols]
            expected[gate.input_bias], expected[gate.hidden_bias] = ref_grads["bx"][cols], ref_grads["bh"][cols]
    outputs, cache = modules["states"].forward(params, x)
    grads = modules["states"].backward(params, cache, 2 * outputs)
    bad = [n for n in expected if not np.allclose(grads[n], expected[n], rtol=1e-10, atol=1e-12)]
    if not np.allclose(grads["x"], ref_grads["x"], rtol=1e-10, atol=1e-12):
        bad.append("x")
    if bad:
        sys.exit(f"ERROR: the reference {cell} disagrees with the generated states module on: {', '.join(bad)}")


REFERENCE_COLUMNS = (f"{'size':<8}{'cell':<6}{'dtype':<9}{'states ms':>10}{'ref ms':>9}{'states/ref':>11}"
                     f"{'spread':>13}{'seq ms':>9}{'seq/ref':>9}{'spread':>13}")


def bench_reference(reference, size, sizes, cell, modules, dtype, repeats, rounds):
    """One row: medians of interleaved repeats, in ``rounds`` rounds; the ratio is the median
    over rounds, the spread its smallest and largest."""
    runs = reference_runs(reference, cell, modules, sizes, dtype)
    per_round = [time_runs(runs, repeats) for _ in range(rounds)]
    ratios = {mode: [r[mode] / r["ref"] for r in per_round] for mode in ("states", "sequence")}
    ms = {name: statistics.median(r[name] for r in per_round) * 1e3 for name in runs}

    def ratio(mode):
        values = ratios[mode]
        return f"{statistics.median(values):>{11 if mode == 'states' else 9}.3f}" \
               f"{f'{min(values):.3f}-{max(values):.3f}':>13}"

    print(f"{size:<8}{cell:<6}{np.dtype(dtype).name:<9}{ms['states']:>10.2f}{ms['ref']:>9.2f}{ratio('states')}"
          f"{ms['sequence']:>9.2f}{ratio('sequence')}", flush=True)


def reference_table(args, sizes, dtypes):
    if not any(cell in REFERENCE_VARIANTS for cell in args.cells):
        return  # the reference has none of these cells
    reference = load_reference()
    if reference is None:
        print(f"\n(the independent reference {REFERENCE} is not here: its table is skipped)")
        return
    print(f"\nagainst the independent reference {REFERENCE.name} (hoisted input products, one fused "
          "product per step, in-place activations; PyTorch's GRU form):")
    print("states = the generated module without output layer doing the reference's work (C = sum h², "
          f"every gradient); seq = with a linear output of {REFERENCE_K} at every step (work the reference "
          f"does not do); ratios: median over {args.rounds} rounds, spread = smallest-largest")
    print(REFERENCE_COLUMNS)
    print("-" * len(REFERENCE_COLUMNS))
    for cell in [cell for cell in args.cells if cell in REFERENCE_VARIANTS]:
        modules = reference_modules(cell)
        check_reference(reference, cell, modules)
        for size, dims in sizes.items():
            for dtype in dtypes:
                bench_reference(reference, size, dims, cell, modules, dtype, args.repeats or REPEATS[size],
                                args.rounds)


# --------------------------------------------------------------------------- report


def cpu_busy(seconds=0.3):
    """Fraction of all CPUs busy (Linux /proc/stat), else None."""

    def sample():
        with open("/proc/stat") as stat:
            fields = [int(v) for v in stat.readline().split()[1:]]
        return sum(fields), fields[3] + fields[4]

    try:
        total0, idle0 = sample()
        time.sleep(seconds)
        total1, idle1 = sample()
    except (OSError, ValueError, IndexError):
        return None
    return 1 - (idle1 - idle0) / max(total1 - total0, 1)


def generation_seconds():
    """Seconds to derive and render every network of the verification matrix, and their count."""
    t0 = time.perf_counter()
    networks = verification_matrix()
    for network in networks:
        render(network)
    return time.perf_counter() - t0, len(networks)


def columns(width):
    """The main table's header, its cell column ``width`` wide."""
    return (f"{'size':<8}{'cell':<{width}}{'dtype':<9}{'gen ms':>9}{'hand ms':>9}{'ratio':>7}{'bound ms':>10}"
            f"{'frac gen':>9}{'frac hand':>10}{'need MB':>9}{'peak/need':>10}{'hand peak':>11}{'torch ms':>10}")


def bench_one(size, sizes, cell, module, dtype, repeats, width=6):
    runs, need = passes(cell, module, sizes, dtype)
    peak, hand_peak = peak_bytes(runs["gen"]), peak_bytes(runs["hand"])
    medians = time_runs(runs, repeats)
    torch_run = torch_pass(cell, sizes, dtype)
    if torch_run is not None:  # timed apart: its idle OpenMP threads spin and would slow the next run
        medians.update(time_runs({"torch": torch_run}, repeats))
    _, bound = matmul_bound(cell, sizes, dtype, repeats)
    gen, hand = medians["gen"], medians["hand"]
    torch_ms = f"{medians['torch'] * 1e3:>10.2f}" if "torch" in medians else f"{'-':>10}"
    print(f"{size:<8}{cell:<{width}}{np.dtype(dtype).name:<9}{gen * 1e3:>9.2f}{hand * 1e3:>9.2f}{gen / hand:>7.2f}"
          f"{bound * 1e3:>10.2f}{bound / gen:>9.2f}{bound / hand:>10.2f}{need / 1e6:>9.2f}{peak / need:>10.2f}"
          f"{hand_peak / need:>11.2f}{torch_ms}", flush=True)


def generated_module(cell):
    """The generated module of the cell's network, or None (and one line saying so) where code
    generation does not support the cell yet (ConfigError)."""
    try:
        return load_module(Network(get_cell(cell), output="sequence"))
    except ConfigError as error:
        print(f"the generated module is not available for {cell} ({error}): its rows are skipped")
        return None


def checked_modules(cells):
    """The generated module of each cell that has one, after checking the hand-written cell
    against it (against finite differences where there is none)."""
    modules = {}
    for cell in cells:
        module = generated_module(cell)
        if module is None:
            print(f"check: hand-written {cell}'s {check_finite_differences(cell)} gradients agree with "
                  "central finite differences at float64")
            continue
        print(f"check: hand-written {cell} gives the generated outputs and all "
              f"{check_against_generated(cell, module)} gradients at float64")
        modules[cell] = module
    return modules


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes, 2 repeats (CI smoke run)")
    parser.add_argument("--sizes", nargs="+", choices=list(SIZES), default=list(SIZES))
    parser.add_argument("--cells", nargs="+", choices=CELLS, default=list(DEFAULT_CELLS))
    parser.add_argument("--dtypes", nargs="+", choices=["float64", "float32"], default=["float64", "float32"])
    parser.add_argument("--repeats", type=int, help="timed repeats (default per size)")
    parser.add_argument("--rounds", type=int, default=3, help="rounds of the reference table (default 3)")
    parser.add_argument("--only-reference", action="store_true", help="only the table against the reference")
    args = parser.parse_args(argv)
    if args.rounds < 1:
        parser.error("--rounds must be at least 1")
    if args.repeats is not None and args.repeats < 1:
        parser.error("--repeats must be at least 1")
    return args


def main(argv=None):
    args = parse_args(argv)
    sizes = QUICK_SIZES if args.quick else {name: SIZES[name] for name in args.sizes}
    print(f"numpy {np.__version__}, {os.cpu_count()} CPUs, python {sys.version.split()[0]}, "
          f"OPENBLAS_NUM_THREADS={os.environ.get('OPENBLAS_NUM_THREADS', 'unset')}")
    busy = cpu_busy()
    if busy is not None:
        print(f"CPUs busy with other work just before the start: {busy:.0%}")
    dtypes = [np.dtype(d).type for d in args.dtypes]
    if args.only_reference:
        return reference_table(args, sizes, dtypes)
    seconds, count = generation_seconds()
    print(f"derivation and generation of all {count} built-in configurations: {seconds:.2f} s")
    # --quick (CI) checks every hand-written cell, also those it does not time
    modules = checked_modules(CELLS if args.quick else args.cells)
    modules = {cell: modules[cell] for cell in args.cells if cell in modules}
    for name, dims in sizes.items():
        print(f"{name}: " + ", ".join(f"{k}={v}" for k, v in dims.items()))
    print("\nforward+backward, median of repeats; ratio = gen / hand; frac = matmul bound / time")
    width = max([6] + [len(cell) + 1 for cell in modules])
    print(columns(width))
    print("-" * len(columns(width)))
    for size, dims in sizes.items():
        repeats = args.repeats or REPEATS[size]
        for cell, module in modules.items():
            for dtype in dtypes:
                bench_one(size, dims, cell, module, dtype, repeats, width)
    reference_table(args, sizes, dtypes)


if __name__ == "__main__":
    main()
