"""Every command on adversarial cell files: each must finish in a few seconds
or refuse the file at once, naming the limit (see ``symrnn/budgets.py``).

The files stay within the documented limits of the cell-file language
(65,536 characters, 400 per line, nesting depth 32, powers 1..16, 9-digit
numbers) and are built to make the work grow: deep nesting of each function,
of parentheses and of matrix products, nested powers, powers of long sums,
long sums and products, many equations, many gates, many states, wide lines
at 400 characters and the maximum file size. The largest built-in cell (the
LSTM, two layers, an output at every step) is run at the largest T too.

Each command runs as ``python -m symrnn ...`` in a subprocess with a time
limit; a row gives the file, the command, its wall time, its peak resident
memory (that process's own, from ``os.wait4``) and what happened: ``ok``,
``refused`` with the first line of the message, ``failed`` (another exit
status) or ``TIMEOUT``. The last line gives the worst time and memory.

    python benchmarks/bench_adversarial.py            # every file and command, T = 3 and the largest T
    python benchmarks/bench_adversarial.py --quick    # a smoke run: a few files, T = 3 only
    python benchmarks/bench_adversarial.py --only deep_tanh pow_issue --keep DIR
"""

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from symrnn.cellfile import MAX_DEPTH, MAX_FILE_CHARS, MAX_LINE_CHARS
from symrnn.limits import MAX_STEPS

HEADER = "cell adv\ninput x\nstate h\n"
FUNCTIONS = ("tanh", "exp", "sigmoid", "relu", "identity")
BUDGET_SECONDS = 10  # what every command must stay under (the requirement)


def _deep_call(function):
    levels = min(MAX_DEPTH - 2, (MAX_LINE_CHARS - 24) // (len(function) + 2))
    return HEADER + "h = " + f"{function}(" * levels + "w^(x) x + h[t-1]" + ")" * levels + "\n"


def _deep_mixed():
    """Every function in turn, each times h[t-1], as deep as the limits allow."""
    opened, levels = "h = ", 0
    for function in FUNCTIONS * MAX_DEPTH:
        piece = f"{function}(h[t-1] * "
        if levels == MAX_DEPTH - 2 or len(opened) + len(piece) + len("w^(x) x") + levels + 1 > MAX_LINE_CHARS:
            break
        opened, levels = opened + piece, levels + 1
    return opened + "w^(x) x" + ")" * levels + "\n"


def _many_states(count):
    """``count`` states, each reading its own and the one before's previous value."""
    names = [f"s{chr(97 + k // 26)}{chr(97 + k % 26)}" for k in range(count)]
    text = "cell adv\ninput x\n" + "".join(f"state {name}\n" for name in names)
    for k, name in enumerate(names):
        text += f"{name} = tanh(w^(x{name}) x + w^({name}) {name}[t-1] + {names[k - 1]}[t-1])\n"
    return text


def _fill(prefix, term, suffix="", width=MAX_LINE_CHARS):
    """``prefix`` + as many numbered ``term``s (``{k}``) as fit in ``width`` + ``suffix``."""
    line, k = prefix, 1
    while term:
        piece = term.format(k=k)
        if len(line) + len(piece) + len(suffix) > width:
            return line + suffix
        line, k = line + piece, k + 1
    return line + suffix


def _gates(count, body, width=MAX_LINE_CHARS):
    """A cell of ``count`` gates g1.. (each line filled up to ``width`` by ``body``)
    feeding the state; ``body(k)`` gives the prefix and repeated term of gate k."""
    lines = [f"cell adv\ninput x\nstate h"]
    for k in range(1, count + 1):
        prefix, term, suffix = body(k)
        lines.append(_fill(f"g{k} = " + prefix, term, suffix, width))
    lines.append(f"h = tanh(w^(x) x + w^(h) h[t-1] + g{count})")
    return "\n".join(lines) + "\n"


def _max_gates(body, width=MAX_LINE_CHARS):
    """As many gates as fit in the maximum file size."""
    count = MAX_FILE_CHARS // (width + 1) - 2
    while len(_gates(count, body, width)) > MAX_FILE_CHARS:
        count -= 1
    return _gates(count, body, width)


def adversarial_files():
    """(name, text) of every adversarial file, smallest first within a kind."""
    files = [(f"deep_{f}", _deep_call(f)) for f in FUNCTIONS]
    files += [
        ("deep_parens", HEADER + "h = tanh(" + "(" * (MAX_DEPTH - 3) + "w^(x) x + h[t-1]"
         + ")" * (MAX_DEPTH - 3) + ")\n"),
        ("deep_matvec", HEADER + "h = " + "tanh(w^(a) " * 14 + "tanh(w^(x) x + h[t-1])" + ")" * 14 + "\n"),
        ("deep_mixed", HEADER + _deep_mixed()),
        ("pow_issue", HEADER + "h = ((tanh(w^(x) x + h[t-1]) + 1)^16 + 1)^16\n"),
        ("pow_tower", HEADER + "h = tanh(w^(x) x + ((((h[t-1] + 1)^16 + 1)^16 + 1)^16 + 1)^16)\n"),
        ("pow_sum", HEADER + _fill("h = tanh(w^(x) x) + (h[t-1]", " + b^(p{k})", ")^16") + "\n"),
        ("pow_product", HEADER + _fill("h = tanh(w^(x) x) * h[t-1]", " * (h[t-1] + b^(p{k}))^16") + "\n"),
        ("pow_constants", HEADER + "h = tanh(w^(x) x) + (999999999 * h[t-1] + 999999999)^16\n"),
        ("long_sum", HEADER + _fill("h = tanh(w^(x) x + w^(h) h[t-1]", " + b^(p{k})", ")") + "\n"),
        ("long_product", HEADER + _fill("h = tanh(w^(x) x) * h[t-1]", " * b^(p{k})") + "\n"),
        ("long_matvecs", HEADER + _fill("h = tanh(w^(x) x", " + w^(r{k}) h[t-1]", ")") + "\n"),
        ("wide_calls", HEADER + _fill("h = tanh(w^(x) x) + h[t-1]", " * tanh(b^(p{k}) * h[t-1])") + "\n"),
        ("many_equations", _max_gates(lambda k: (f"tanh(w^(a{k}) x + w^(b{k}) h[t-1]"
                                                  + (f" + g{k - 1}" if k > 1 else ""), "", ")"), width=60)),
        ("many_gates_dense", _max_gates(lambda k: (
            "tanh(w^(x) x" if k == 1 else f"tanh(w^(x) x + g{k - 1} * h[t-1]",
            "".join(f" + g{j} * g{k - 1}" for j in range(max(1, k - 30), k)), ")"))),
        ("many_gates_wide", _max_gates(lambda k: (
            "tanh(w^(x) x)" if k == 1 else f"g{k - 1}", " * sigmoid(b^(q{k}) * h[t-1])", ""))),
        ("many_states", _many_states(60)),
        ("max_file_comments", ("# " + "c" * (MAX_LINE_CHARS - 2) + "\n") * (MAX_FILE_CHARS // (MAX_LINE_CHARS + 1) - 1)
         + "cell adv\ninput x\nstate h\nh = tanh(w^(x) x + w^(h) h[t-1] + b^(h))\n"),
    ]
    return files


def commands(path, out, steps):
    """(label, argv) of every command on the cell file ``path``, at T = 3 and each of ``steps``."""
    rows = [("cells", ["cells", path]), ("generate", ["generate", path, "-o", str(out / "module.py")]),
            ("verify", ["verify", path])]
    for t in [3, *steps]:
        rows += [(f"latex T={t}", ["latex", path, "--steps", str(t)]),
                 (f"copies T={t}", ["copies", path, "--steps", str(t)]),
                 (f"quiz T={t}", ["quiz", path, "--steps", str(t)])]
    return rows


def run(argv, timeout):
    """(seconds, peak RSS in MiB, exit status or None on timeout, stdout, stderr) of one command."""
    with tempfile.TemporaryFile() as stdout, tempfile.TemporaryFile() as stderr:
        start = time.perf_counter()
        process = subprocess.Popen([sys.executable, "-m", "symrnn", *argv], stdout=stdout, stderr=stderr)
        status = None
        while True:
            pid, raw, usage = os.wait4(process.pid, os.WNOHANG)
            if pid:
                status = os.waitstatus_to_exitcode(raw)
                break
            if time.perf_counter() - start > timeout:
                process.kill()
                _, _, usage = os.wait4(process.pid, 0)
                break
            time.sleep(0.02)
        process.returncode = status if status is not None else -9  # reaped by wait4 above
        seconds = time.perf_counter() - start
        stdout.seek(0)
        stderr.seek(0)
        return seconds, usage.ru_maxrss / 1024, status, stdout.read(), stderr.read().decode("utf-8", "replace")


def outcome(status, stderr):
    if status is None:
        return "TIMEOUT"
    if status == 0:
        return "ok"
    first = next((line for line in stderr.splitlines() if line.strip()), "")
    if status == 2 and first.startswith("symrnn: error:"):
        return "refused: " + first.removeprefix("symrnn: error: ")[:150]
    if status == 1 and not stderr.strip() or "FAIL" in stderr:
        return "ok (a FAIL row)"
    return f"failed (exit {status}): {first[:150]}"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="a few files, T = 3 only, 30 s time limit")
    parser.add_argument("--only", nargs="+", metavar="NAME", help="only these files (names as printed)")
    parser.add_argument("--timeout", type=float, help="seconds per command (default 60, quick 30)")
    parser.add_argument("--steps", nargs="*", type=int, metavar="T",
                        help=f"the T of latex, copies and quiz beside T = 3 (default {MAX_STEPS}; quick none)")
    parser.add_argument("--keep", metavar="DIR", help="write the files to DIR and keep them")
    args = parser.parse_args(argv)
    files = adversarial_files()
    if args.quick:
        files = [f for f in files if f[0] in ("deep_tanh", "deep_exp", "pow_issue", "long_sum", "many_gates_wide")]
    if args.only:
        files = [f for f in files if f[0] in args.only]
    steps = args.steps if args.steps is not None else [] if args.quick else [MAX_STEPS]
    timeout = args.timeout or (30 if args.quick else 60)
    worst_time, worst_memory, over = (0, ""), (0, ""), []
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(args.keep or scratch)
        folder.mkdir(parents=True, exist_ok=True)
        cases = [(name, text) for name, text in files]
        cases.append(("builtin lstm 2 layers sequence", None))
        print(f"{'file':<22} {'chars':>6} {'command':<13} {'s':>6} {'MiB':>6}  outcome")
        for name, text in cases:
            if text is None:
                target, chars = "lstm", "-"
                rows = [(label, [*cmd, "--layers", "2", "--output", "sequence"])
                        for label, cmd in commands(target, folder, steps) if not label.startswith("cells")]
            else:
                path = folder / f"{name}.cell"
                path.write_text(text, encoding="utf-8")
                target, chars = str(path), len(text)
                rows = commands(target, folder, steps)
            for label, cmd in rows:
                seconds, memory, status, _, stderr = run(cmd, timeout)
                result = outcome(status, stderr)
                print(f"{name:<22} {chars:>6} {label:<13} {seconds:6.2f} {memory:6.0f}  {result}", flush=True)
                case = f"{name} / {label}"
                worst_time = max(worst_time, (seconds, case))
                worst_memory = max(worst_memory, (memory, case))
                if seconds > BUDGET_SECONDS or status is None or result.startswith("failed"):
                    over.append(f"{case}: {seconds:.1f} s, {result}")
    print(f"worst time {worst_time[0]:.2f} s ({worst_time[1]}); "
          f"worst memory {worst_memory[0]:.0f} MiB ({worst_memory[1]})")
    for line in over:
        print(f"OVER: {line}")
    return 1 if over else 0


if __name__ == "__main__":
    sys.exit(main())
