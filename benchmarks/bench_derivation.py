"""How the derivation of a scalar LSTM's gradient grows with T, beside SymPy's
naive ``diff`` of the fully nested unrolled cost.

For each T, symrnn's side is the whole derivation (engine, six sections,
the standalone document) with θ = w^(f); its size is the number of nodes of
the "gradient for this T" section's chain forms (all copies) and the length
of the document. The naive side builds the nested cost (every intermediate
substituted), then ``sympy.diff`` with respect to the shared w^(f); its size
is the number of nodes of the derivative's expression tree, counted through
shared subtrees without writing them out. Each naive case gets a time budget;
past it the row says so and larger T are skipped.

    python benchmarks/bench_derivation.py            # T up to 100, naive budget 120 s
    python benchmarks/bench_derivation.py --quick    # a smoke run (CI)
"""

import argparse
import signal
import time

import sympy

from symrnn.registry import get_cell
from symrnn.derivation import Derivation
from symrnn.network import Network
from symrnn.unroll import Unrolled

PARAM = "w_f"


def tree_size(expr, memo=None):
    """Nodes of ``expr`` as a tree (shared subtrees counted each time they occur)."""
    memo = {} if memo is None else memo
    if expr not in memo:
        memo[expr] = 1 + sum(tree_size(arg, memo) for arg in expr.args)
    return memo[expr]


def symrnn_case(network, steps):
    start = time.perf_counter()
    derivation = Derivation(network, steps, wrt=[PARAM])
    document = derivation.document()
    seconds = time.perf_counter() - start
    size = sum(tree_size(derivation.chain(PARAM, k)) for k in range(1, steps + 1))
    return seconds, size, len(document)


class Budget(Exception):
    pass


def _alarm(signum, frame):
    raise Budget


def naive_case(network, steps, budget):
    """Seconds and derivative size of SymPy's diff of the nested cost, or None past ``budget``."""
    signal.signal(signal.SIGALRM, _alarm)
    signal.alarm(budget)
    try:
        start = time.perf_counter()
        unrolled = Unrolled(network, steps)
        shared = sympy.Symbol(PARAM)
        cost = unrolled.nested_cost().xreplace({c: shared for c in unrolled.copies(PARAM)})
        gradient = sympy.diff(cost, shared)
        seconds = time.perf_counter() - start
        return seconds, tree_size(gradient), tree_size(cost)
    except Budget:
        return None
    finally:
        signal.alarm(0)


def run(steps_list, naive_max, budget, output):
    network = Network(get_cell("lstm"), output=output)
    print(f"scalar LSTM, output {output}, dC/d{PARAM}; naive budget {budget} s per case")
    print(f"{'T':>4}  {'symrnn s':>9}  {'chain nodes':>11}  {'doc chars':>9}  "
          f"{'naive s':>9}  {'diff nodes':>12}  {'cost nodes':>10}")
    naive_alive = True
    for steps in steps_list:
        seconds, size, chars = symrnn_case(network, steps)
        naive = naive_case(network, steps, budget) if naive_alive and steps <= naive_max else None
        if naive is None and naive_alive and steps <= naive_max:
            naive_alive = False
            naive_text = f"{'> ' + str(budget):>9}  {'-':>12}  {'-':>10}"
        elif naive is None:
            naive_text = f"{'-':>9}  {'-':>12}  {'-':>10}"
        else:
            naive_text = f"{naive[0]:9.2f}  {naive[1]:12d}  {naive[2]:10d}"
        print(f"{steps:4d}  {seconds:9.2f}  {size:11d}  {chars:9d}  {naive_text}", flush=True)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small T only (a smoke run)")
    parser.add_argument("--budget", type=int, default=120, help="seconds per naive case (default 120)")
    parser.add_argument("--output", choices=("last", "sequence"), default="last")
    args = parser.parse_args(argv)
    if args.quick:
        run([1, 2, 3, 5, 10], naive_max=2, budget=30, output=args.output)
    else:
        run([1, 2, 3, 4, 5, 6, 10, 20, 50, 100], naive_max=6, budget=args.budget, output=args.output)


if __name__ == "__main__":
    main()
