"""Benchmark: what the nn.* conventions of ``symrnn.nn`` cost (issue 24).

What is measured
----------------
Wall time of one forward + backward pass (a loss of the outputs and the
final states, every parameter's gradient and the input's) at B=32, D=64,
H=128, T=50 by default, float32, items of unequal lengths (T, T-1, ..., in
a shuffled order), for

* ``nn packed``: ``symrnn.nn.LSTM(D, H, num_layers=2, batch_first=True,
  bidirectional=True)`` over a ``PackedSequence`` of unsorted items, packed
  from the (B, T, D) batch in the pass, the loss on the packed output;
* ``engine padded``: the same work on the generated module directly, the way
  a caller of ``apply`` does it today: time-major padded input, both
  directions of both layers as ``apply`` calls, the reverse direction's
  input reversed within each item's length by one precomputed gather;
* ``nn one direction``: ``symrnn.nn.LSTM`` with ``bidirectional=False``
  (otherwise the same), for the bidirectional / unidirectional ratio;
* ``torch.nn packed``: ``torch.nn.LSTM`` with the same weights and input,
  and ``torch.nn one direction`` as ``nn one direction``.

A bidirectional stack does more than twice a one-directional one's work:
its second layer reads both directions' outputs (2H inputs, not H), so at
D=64, H=128 its matrix products are 2.57 times as many flops; torch.nn's
ratio is printed beside symrnn's for that reason.

The implementations are interleaved within each repeat (round robin); the
table gives each one's median time and the median over the repeats of its
ratio to ``engine padded`` (with the 10th and 90th percentiles of the
per-repeat ratios). Each is first checked to give ``nn packed``'s outputs
and gradients. Targets (issue 24): nn packed / engine padded <= 1.1;
bidirectional / one direction <= 2.1.

Usage::

    OPENBLAS_NUM_THREADS=1 python benchmarks/bench_nn.py --threads 1
    python benchmarks/bench_nn.py --sizes 8,16,32,20 --repeats 3   # a smoke run
"""

import argparse
import statistics
import time

import torch
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

import symrnn.nn


def make_input(B, D, T, seed=0):
    """(B, T, D) batch-first input and unequal lengths in a shuffled order."""
    generator = torch.Generator().manual_seed(seed)
    lengths = torch.tensor([T - k % max(1, T // 2) for k in range(B)])
    lengths = lengths[torch.randperm(B, generator=generator)]
    return torch.randn(B, T, D, generator=generator), lengths


def nn_pass(module, x, lengths):
    """Forward and backward of a torch.nn-style LSTM over packed input; the
    loss reads the packed output's rows (a model's own unpacking, if it does
    one, is its cost, not the module's)."""
    packed = pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
    output, (h_n, c_n) = module(packed)
    (output.data.pow(2).sum() + h_n.pow(2).sum() + c_n.pow(2).sum()).backward()
    return output, h_n, c_n


class EnginePadded:
    """Both directions of both layers as calls of the generated lstm
    module's ``apply`` on time-major padded input, with the parameters of
    ``module`` (a symrnn.nn.LSTM) sliced once per pass as symrnn.nn does."""

    def __init__(self, module, lengths, T):
        self.module, self.lengths = module, lengths
        self.engine = module._engine().module
        steps = torch.arange(T)[:, None]
        reverse = lengths[None, :] - 1 - steps  # step t of the reverse run reads step L - 1 - t
        self.index = torch.where(reverse >= 0, reverse, steps)  # padding stays where it is

    def reversed(self, seq):
        return torch.gather(seq, 0, self.index[:, :, None].expand(-1, -1, seq.shape[2]))

    def __call__(self, x):
        seq = x.transpose(0, 1)  # time-major
        mask = (torch.arange(seq.shape[0])[:, None] < self.lengths[None, :])[:, :, None]
        finals = []
        for layer in range(self.module.num_layers):
            outputs = []
            for direction in (0, 1):
                params = self.module._direction_params(layer, direction)
                inputs = self.reversed(seq) if direction else seq
                out, final = self.engine.apply(params, inputs, self.lengths)
                outputs.append(self.reversed(out) if direction else out)
                finals += [final["h0"], final["c0"]]
            seq = torch.cat(outputs, dim=2)
        loss = (seq * mask).pow(2).sum() + sum(f.pow(2).sum() for f in finals)
        loss.backward()
        return seq.transpose(0, 1)


def implementations(B, D, H, T):
    x, lengths = make_input(B, D, T)
    torch.manual_seed(0)
    ours = symrnn.nn.LSTM(D, H, num_layers=2, batch_first=True, bidirectional=True)
    theirs = torch.nn.LSTM(D, H, num_layers=2, batch_first=True, bidirectional=True)
    theirs.load_state_dict(ours.state_dict())
    one_way = symrnn.nn.LSTM(D, H, num_layers=2, batch_first=True)
    their_one_way = torch.nn.LSTM(D, H, num_layers=2, batch_first=True)
    engine = EnginePadded(ours, lengths, T)
    modules = {"nn packed": ours, "nn one direction": one_way, "torch.nn packed": theirs,
               "torch.nn one direction": their_one_way}
    xs = {name: x.clone().requires_grad_() for name in (*modules, "engine padded")}
    runs = {name: (lambda name=name: nn_pass(modules[name], xs[name], lengths)) for name in modules}
    runs["engine padded"] = lambda: engine(xs["engine padded"])
    return runs, xs, (ours, theirs)


def check(runs, xs, modules):
    """nn packed, engine padded and torch.nn packed: the same outputs and x's gradient."""
    results = {}
    for name in ("nn packed", "engine padded", "torch.nn packed"):
        for m in modules:
            m.zero_grad()
        xs[name].grad = None
        output = runs[name]()
        if isinstance(output, tuple):
            output = pad_packed_sequence(output[0], batch_first=True, total_length=xs[name].shape[1])[0]
        results[name] = (output, xs[name].grad.clone())
    reference = results["nn packed"]
    for name, (output, grad) in results.items():
        mask = output.abs().sum(-1, keepdim=True) > 0
        torch.testing.assert_close(output * mask, reference[0] * mask, rtol=1e-4, atol=1e-4, msg=name)
        torch.testing.assert_close(grad, reference[1], rtol=1e-3, atol=1e-3, msg=name)


def timed(run):
    start = time.perf_counter()
    run()
    return time.perf_counter() - start


def percentile(values, q):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="32,64,128,50", help="B,D,H,T (default 32,64,128,50)")
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--threads", type=int, help="torch.set_num_threads (default: torch's)")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    B, D, H, T = (int(n) for n in args.sizes.split(","))
    runs, xs, modules = implementations(B, D, H, T)
    check(runs, xs, modules)
    for run in runs.values():  # warm up
        run()
    times = {name: [] for name in runs}
    for _ in range(args.repeats):
        for name, run in runs.items():
            times[name].append(timed(run))
    base = times["engine padded"]
    print(f"B={B} D={D} H={H} T={T}, float32, {torch.get_num_threads()} thread(s), {args.repeats} repeats, "
          f"torch {torch.__version__}")
    print(f"{'implementation':18} {'median ms':>10} {'/ engine padded':>16} {'(p10-p90)':>14}")
    for name, values in times.items():
        ratios = [v / b for v, b in zip(values, base)]
        print(f"{name:18} {1e3 * statistics.median(values):10.2f} {statistics.median(ratios):16.3f} "
              f"({percentile(ratios, 0.1):.3f}-{percentile(ratios, 0.9):.3f})")
    for who, prefix in (("symrnn.nn", "nn"), ("torch.nn", "torch.nn")):
        two_way = [a / b for a, b in zip(times[f"{prefix} packed"], times[f"{prefix} one direction"])]
        print(f"bidirectional / one direction, {who}: {statistics.median(two_way):.3f} "
              f"({percentile(two_way, 0.1):.3f}-{percentile(two_way, 0.9):.3f})")


if __name__ == "__main__":
    main()
