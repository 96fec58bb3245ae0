"""The ``symrnn`` command line.

Imports: the modules whose commands it offers; nothing imports it but ``__main__``.
"""

import argparse
import difflib
import os
import sys
import textwrap
from pathlib import Path

from . import build as build_module
from .budgets import check_verification
from .cellfile import format_cell
from .codegen import render, write_module
from .codegen.module import BACKENDS
from .copies import check_truncate
from .copy_differences import WindowRows, check_size, window_steps
from .errors import ConfigError, SymrnnError
from .files import STDOUT, check_output_dir, check_output_path, command_line, write_atomic
from .limits import EXPLORER_MAX_STEPS, FLOW_MAX_STEPS, MAX_LAYERS, MAX_STEPS
from .network import LOSSES, NETWORK_OUTPUTS, OUTPUT_ACTIVATIONS, OUTPUT_MODES, STATES, Network
from .registry import CELLS, builtin_file, get_cell, is_cell_path, resolve_cell
from .rules import ACTIVATIONS
from .verify import streamed_table


def version():
    """symrnn's version, as installed (importlib.metadata)."""
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version as installed_version

    try:
        return installed_version("symrnn")
    except PackageNotFoundError:
        return "unknown (not installed)"


# Options that name where output goes; a file's regenerate command keeps only its own path.
OUTPUT_OPTIONS = ("output_file", "svg", "tikz", "json", "pdf")


def regenerate_command(args, path):
    """The normalized command line that regenerates the file ``path`` from
    ``args``: long option names in the parser's order, defaults left out, and
    every path relative to ``path``'s directory (the command runs there), so
    the header holds no absolute path and does not depend on the current directory."""
    here = Path.cwd() if str(path) == STDOUT else Path(os.path.abspath(path)).parent
    words = ["symrnn", args.command]
    for action in args.command_parser._actions:
        value = getattr(args, action.dest, None)
        if action.dest in ("help", *OUTPUT_OPTIONS) or value is None or value is False:
            continue
        if not action.option_strings:  # the cell: a name, or a file relative to the output's directory
            words.append(os.path.relpath(os.path.abspath(value), here) if is_cell_path(value) else value)
        elif value != action.default:
            flag = max(action.option_strings, key=len)
            words += [flag] if value is True else [flag, *value] if isinstance(value, list) else [flag, str(value)]
    return command_line([*words, "-o", str(path) if str(path) == STDOUT else Path(path).name])


def _add_network_options(parser, cell_required=True, outputs=OUTPUT_MODES):
    parser.add_argument("cell", nargs=None if cell_required else "?",
                        help=f"a built-in cell ({', '.join(CELLS)}) or a cell file (a path ending in .cell)")
    parser.add_argument("--variant", help="cell variant (gru: notes, pytorch)")
    parser.add_argument("--activation", choices=sorted(ACTIVATIONS), help="activation g of the rnn cell")
    parser.add_argument("--layers", type=int, default=1,
                        help=f"number of stacked layers, 1 to {MAX_LAYERS} (default 1)")
    parser.add_argument("--output", choices=outputs, default="last",
                        help="one output per item at its last step, or one per step" +
                             (", or no output layer: the top layer's states at every step" if STATES in outputs
                              else "") + " (default last)")
    parser.add_argument("--loss", choices=LOSSES, default="squared", help="cost C (default squared)")
    parser.add_argument("--out-activation", choices=OUTPUT_ACTIVATIONS,
                        help="output activation g_o (default identity; softmax for xent)")


def _network(args):
    cell = resolve_cell(args.cell, args.variant, args.activation)
    return Network(cell, layers=args.layers, output=args.output, loss=args.loss,
                   out_activation=args.out_activation)


def cmd_generate(args):
    network = _network(args)
    if args.output_file == STDOUT:  # -o -: the module on standard output
        sys.stdout.write(render(network, regenerate_command(args, STDOUT), args.backend or "numpy"))
        return 0
    path = write_module(network, args.output_file, command=regenerate_command(args, args.output_file),
                        backend=args.backend or "numpy")
    print(f"wrote {path}")
    return 0


def print_verification(networks, more=None):
    """Print the verification table of ``networks`` line by line as each check
    finishes (with the rows of ``more``: see :func:`symrnn.verify.streamed_table`);
    returns the exit status (0 when every check passed)."""
    passed = True
    for line, result in streamed_table(networks, more=more):
        print(line, flush=True)
        passed &= result is None or result.passed
    return 0 if passed else 1


def cmd_build(args):
    if args.check:
        out = Path(args.out) if args.out else build_module.default_out_dir()
        names = build_module.check(args.out)  # None: the checkout's generated/, which `symrnn build` rewrites
        print(f"{len(names)} generated files in {out}/ are current")
        return 0
    for path in build_module.build(args.out):
        print(f"wrote {path}", flush=True)
    if args.no_verify:
        return 0
    return print_verification(build_module.committed_networks())


def verification_matrix():
    """Every built-in cell code generation supports x output mode x 1-2 layers x cost."""
    from .codegen.planner import unsupported

    cells = [get_cell(name, variant) for name, variants in CELLS.items() for variant in variants]
    cells = [cell for cell in cells if not unsupported(cell)]
    return [Network(cell, layers=layers, output=output, loss=loss)
            for cell in cells for output in OUTPUT_MODES for layers in (1, 2) for loss in LOSSES]


def cmd_verify(args):
    networks = [_network(args)] if args.cell else verification_matrix()
    check_truncate(args.truncate)
    windows = (None,) if args.truncate is None else (None, args.truncate)
    for network in networks:
        check_verification(network)  # before any work (symrnn.budgets)
        for truncate in windows:
            check_size(network, window_steps(truncate), truncate)
    return print_verification(networks, WindowRows(windows))


def cmd_cells(args):
    if args.cell is None:
        for name, variants in CELLS.items():
            for variant in variants:
                cell = get_cell(name, variant)
                print(f"{name} --variant {variant}" if len(variants) > 1 else name, f"- {cell.description}")
                for line in cell.equations_text(as_written=True):  # the file's order, as LaTeX
                    print(f"    {line}")
        return 0
    cell = resolve_cell(args.cell, args.variant, args.activation)
    if not is_cell_path(args.cell):  # a built-in cell: its file, as shipped
        print(builtin_file(cell.name).read_text(encoding="utf-8"), end="")
        return 0
    shapes = {"input": "matrix H x D", "hidden": "matrix H x H", None: "vector H"}
    params = ", ".join(f"{p.name} ({shapes[p.fan_in]})" for p in cell.parameters)
    print(f"# {args.cell}: a valid cell file")
    print("\n".join(textwrap.wrap(params, 100, initial_indent="# parameters: ", subsequent_indent="#   ")))
    print(format_cell(cell), end="")
    return 0


def cmd_copies(args):
    from .copies import CopyAnalysis

    analysis = CopyAnalysis(_network(args), args.steps)
    table = analysis.table(args.wrt or analysis.params[0], truncate=args.truncate)
    if args.svg or args.tikz:
        from .pictures import svg, tikz

        for path, picture in ((args.svg, svg), (args.tikz, tikz)):
            if path:
                write_atomic(path, picture(table))
                print(f"wrote {path}", file=sys.stderr if args.json else sys.stdout)
    print(table.to_json() if args.json else table.format(), end="")
    return 0


def _flow_networks(args):
    """The networks of ``symrnn flow``'s panels; --activation applies to the rnn panels only."""
    from .errors import ConfigError

    if args.activation is not None and "rnn" not in args.cells:
        raise ConfigError(f"--activation {args.activation} applies to the rnn cell, and no panel is rnn")
    return [Network(resolve_cell(cell, None, args.activation if cell == "rnn" else None), layers=args.layers,
                    output=args.output) for cell in args.cells]


def cmd_flow(args):
    from .flow import capture, capture_svg, check_flow_args, flow, svg, to_json
    from .errors import ConfigError
    from .limits import CAPTURE_MAX_STEPS

    if args.capture and args.truncate is not None:
        raise ConfigError("--capture runs every window K = 1..T itself; leave out --truncate")
    check_flow_args(args.steps, args.scale, args.truncate, CAPTURE_MAX_STEPS if args.capture else FLOW_MAX_STEPS)
    if args.output_file:
        check_output_path(args.output_file)  # a bad path fails before the work
    networks = _flow_networks(args)
    if args.capture:
        panels = [capture(net, args.steps, seed=args.seed, scale=args.scale) for net in networks]
    else:
        panels = [flow(net, args.steps, seed=args.seed, scale=args.scale, truncate=args.truncate) for net in networks]
    if args.output_file:
        write_atomic(args.output_file, (capture_svg if args.capture else svg)(panels))
        print(f"wrote {args.output_file}", file=sys.stderr if args.json else sys.stdout)
    if args.json:
        print(to_json(panels), end="")
    return 0


FLOW_DESCRIPTION = (
    "At seeded random weights and inputs (one item), the norm of every copy's term ∂C/∂θ_t, one line per gate "
    "(the parameters one equation reads, together), and of every state's adjoint δs_t, for each step t, on a log "
    "scale, one panel per cell. --scale multiplies the recurrent weights: below 1 the terms vanish towards early "
    "steps. Above 1 they explode only in a cell that does not saturate, a linear or relu RNN (rnn --activation "
    "identity or relu: the step's Jacobian is w^(a) itself where units are active): tanh's derivative 1 - a^2 "
    "shrinks as larger weights drive a towards +-1, so the tanh RNN, the LSTM and the GRU stay bounded. "
    "--capture plots instead how much of full BPTT's gradient g the K-step truncated gradient g_K keeps, "
    "||g_K|| / ||g|| and cos(g_K, g), for every window K = 1..T.")


def _add_flow_command(sub):
    """``flow``: the norm of every copy's term and every state's adjoint, or what truncation keeps (symrnn.flow)."""
    from .limits import CAPTURE_MAX_STEPS

    flo = sub.add_parser("flow", help="plot how much each copy contributes (‖∂C/∂θ_t‖, ‖δs_t‖ per step), "
                                      "or what truncated BPTT keeps (--capture)", description=FLOW_DESCRIPTION)
    flo.add_argument("cells", nargs="+", metavar="CELL",
                     help=f"built-in cells ({', '.join(CELLS)}) or cell files, side by side")
    flo.add_argument("--steps", "-T", type=int, default=50,
                     help=f"sequence length T, 1 to {FLOW_MAX_STEPS}; with --capture 1 to {CAPTURE_MAX_STEPS} "
                          "(it runs every window K = 1..T) (default 50)")
    flo.add_argument("--seed", type=int, default=0, help="seed of the weights and inputs (default 0)")
    flo.add_argument("--scale", type=float, default=1.0,
                     help="factor of the recurrent weights, those applied to a previous state (default 1)")
    flo.add_argument("--activation", choices=sorted(ACTIVATIONS),
                     help="activation g of the rnn panels (default tanh); identity or relu shows exploding terms")
    flo.add_argument("--output", choices=OUTPUT_MODES, default="last",
                     help="one output at step T, or one per step (default last)")
    flo.add_argument("--truncate", type=int, metavar="K", default=None,
                     help="BPTT truncated to K steps (default: full BPTT)")
    flo.add_argument("--capture", action="store_true",
                     help="plot ||g_K|| / ||g|| and cos(g_K, g) against the window K = 1..T: how much of full "
                          "BPTT's gradient g truncation to K steps keeps, per gate and for the whole cell")
    flo.add_argument("--layers", type=int, default=1, help=f"number of stacked layers, 1 to {MAX_LAYERS} (default 1)")
    flo.add_argument("-o", "--output-file", help="path of the SVG plot to write")
    flo.add_argument("--json", action="store_true",
                     help="print the numbers as JSON (schema: symrnn.flow docstring)")
    flo.set_defaults(run=cmd_flow)


def cmd_explorer(args):
    from .explorer import write_page

    print(f"wrote {write_page(args.output_file)}")
    return 0


def cmd_quiz(args):
    from .copies import CopyAnalysis
    from .quiz import make_quiz

    network = _network(args)
    wrt = args.wrt or CopyAnalysis(network, 1).params[0]
    text = make_quiz(network, args.steps, wrt, seed=args.seed).render(args.format, args.math)
    if args.output_file:
        write_atomic(args.output_file, text)
        print(f"wrote {args.output_file}")
    else:
        print(text, end="")
    return 0


def _add_copy_options(parser):
    """The network, T and θ of a copy analysis (``copies`` and ``quiz``)."""
    _add_network_options(parser)
    parser.add_argument("--steps", "-T", type=int, default=3,
                        help=f"sequence length T, 1 to {MAX_STEPS} (default 3)")
    parser.add_argument("--wrt", help="the parameter θ: w_x, or as the notes write it, w^(x) (default: the first one)")


def _add_copy_commands(sub):
    """``copies``: which copies of which weights enter dC/dθ (symrnn.copies)."""
    cop = sub.add_parser("copies", help="which copies of which weights enter dC/dθ of the unrolled network",
                         description=("The role of every step's copy of every parameter in dC/dθ of the network "
                                      "unrolled for T steps: differentiated, on the chain, forward only, unused "
                                      "(and truncated, with --truncate); "
                                      "and whether its gradient is exactly 0 for zero initial states."))
    _add_copy_options(cop)
    cop.add_argument("--truncate", type=int, metavar="K", default=None,
                     help="BPTT truncated to K steps: the cost at step t reaches only the copies of steps "
                          "t-K+1..t; copies the window cuts off are 'truncated' (default: full BPTT)")
    cop.add_argument("--json", action="store_true", help="print JSON (schema: symrnn.copies module docstring)")
    cop.add_argument("--svg", metavar="FILE", help="also write the unrolled network as SVG")
    cop.add_argument("--tikz", metavar="FILE", help="also write the unrolled network as a TikZ picture")
    cop.set_defaults(run=cmd_copies)

    exp = sub.add_parser("explorer", help="write the interactive weight-copy explorer (one HTML file)",
                         description=("Write one self-contained HTML page: a slider for T "
                                      f"(1 to {EXPLORER_MAX_STEPS}), a toggle for "
                                      "'output is also a sequence', pickers for cell, layers and parameter; "
                                      "copies coloured by role (data precomputed by symrnn copies)."))
    exp.add_argument("-o", "--output-file", required=True, help="path of the HTML file to write")
    exp.set_defaults(run=cmd_explorer)

    quiz = sub.add_parser("quiz", help="quiz on the weight copies of dC/dθ, with its answer key",
                          description=("The notes' question 'which weights (including copies) are used when "
                                       "computing dC/dθ?' and multiple-choice items drawn by a seed, with the "
                                       "answer key, as Markdown or LaTeX."))
    _add_copy_options(quiz)
    quiz.add_argument("--seed", type=int, default=0, help="seed of the drawn items and choice order (default 0)")
    quiz.add_argument("--format", choices=("markdown", "latex"), default="markdown", help="default markdown")
    quiz.add_argument("--math", choices=("parens", "dollars"), default="parens",
                      help=r"Markdown's math delimiters, as for latex: \( \) (default; MathJax) or $")
    quiz.add_argument("-o", "--output-file", help="write to this file instead of printing")
    quiz.set_defaults(run=cmd_quiz)


def cmd_latex(args):
    from .derivation import Derivation, compile_pdf

    derivation = Derivation(_network(args), args.steps, wrt=args.wrt, units=args.units, truncate=args.truncate,
                            product=args.product)
    path = Path(args.output_file) if args.output_file else None
    if args.pdf and (path is None or path.suffix != ".tex"):
        raise ConfigError("--pdf compiles the document: give it -o FILE.tex (the PDF is written beside it, "
                          "FILE.pdf); without -o, latex prints the snippet")
    if path is None:
        print(derivation.snippet(args.math, macros=args.macros), end="")
        return 0
    pdf = check_output_path(path.with_suffix(".pdf")) if args.pdf else None
    text = derivation.document(regenerate_command(args, path), macros=args.macros) if path.suffix == ".tex" else \
        derivation.snippet(args.math, macros=args.macros)
    write_atomic(path, text)
    print(f"wrote {path}")
    if pdf is not None:
        data, _ = compile_pdf(text)
        write_atomic(pdf, data)
        print(f"wrote {pdf}")
    return 0


def _add_latex_command(sub):
    """``latex``: the derivation of dC/dθ for T steps (symrnn.derivation)."""
    tex = sub.add_parser("latex", help="the derivation of dC/dθ for T steps, as LaTeX for notes",
                         description=("The exact BPTT gradient of a network unrolled T steps, derived step by step "
                                      "in the notes' notation: the cell, the unrolled network with one copy of "
                                      "each weight per step, local derivatives, BPTT recurrences, the gradient "
                                      "for this T and (scalar units, small T) written out. Without -o, prints "
                                      "a MathJax snippet; -o FILE.tex writes a standalone document."))
    _add_network_options(tex)
    tex.add_argument("--steps", "-T", type=int, required=True, help=f"sequence length T, 1 to {MAX_STEPS}")
    tex.add_argument("--wrt", nargs="+", metavar="PARAM",
                     help="parameters θ, code names like w_x w_a (default: the first input weight)")
    tex.add_argument("--units", choices=("scalar", "vector"), default="scalar",
                     help="one unit per vector (default; chains as products of numbers) or vectors")
    tex.add_argument("-o", "--output-file", help="FILE.tex: a standalone document; other names: the snippet")
    tex.add_argument("--pdf", action="store_true",
                     help="also compile the document (-o FILE.tex) with pdflatex into FILE.pdf")
    tex.add_argument("--macros", action="store_true",
                     help=r"write every parameter and vector name as a macro defined once at the head "
                          r"(\w{x} for w^(x), \bias{a}, \act{h}, \pre{f}; \wl{x}{2} in layer 2): "
                          "short to edit by hand")
    tex.add_argument("--truncate", type=int, metavar="K", default=None,
                     help="BPTT truncated to K steps: the cost at step t reaches only the copies of steps t-K+1..t")
    tex.add_argument("--product", choices=("times", "odot"), default="times",
                     help=r"the sign of elementwise products: the notes' \times (default) or \odot")
    tex.add_argument("--math", choices=("parens", "dollars"), default="parens",
                     help=r"the snippet's math delimiters: \( \) and \[ \] (default; MathJax) or $ and $$")
    tex.set_defaults(run=cmd_latex)


def parser():
    top = argparse.ArgumentParser(prog="symrnn", description=(
        "Derive exact BPTT gradients of recurrent cells with SymPy and generate verified NumPy code, or a "
        "PyTorch or JAX module whose backward is the derived BPTT (generate --backend torch|jax); for lecture notes, "
        "derivations in LaTeX, copy tables, pictures, quizzes and an interactive page."))
    top.add_argument("--version", action="version", version=f"symrnn {version()}")
    sub = top.add_subparsers(dest="command", required=True)

    gen = sub.add_parser("generate", help="write the NumPy (or PyTorch, or JAX) module of one network",
                         description=("Write the NumPy forward/backward module of one network, or with "
                                      "--backend torch a PyTorch module (an nn.Module whose backward is the "
                                      "derived BPTT), or with --backend jax a JAX module (apply is a "
                                      "custom_vjp whose backward is the derived BPTT)."))
    _add_network_options(gen, outputs=NETWORK_OUTPUTS)
    # no default value: a module's regenerate command names --backend only where given
    gen.add_argument("--backend", choices=BACKENDS, help="numpy (default), torch or jax")
    gen.add_argument("-o", "--output-file", required=True,
                     help="path of the module to write, or - for standard output")
    gen.set_defaults(run=cmd_generate)

    bld = sub.add_parser("build", help="rewrite generated/ and print a verification table",
                         description=("Rewrite everything in generated/ of a symrnn source checkout: the NumPy "
                                      "modules, the LaTeX derivations and their PDFs (needs pdflatex), the copy "
                                      "pictures and the explorer page, printing each file as it is written; then "
                                      "verify the modules against finite differences, a row as each check "
                                      "finishes. Outside a checkout it refuses unless --out names a directory."))
    bld.add_argument("--check", action="store_true", help="only check that generated/ is current")
    bld.add_argument("--out", metavar="DIR",
                     help="directory to write (default: generated/ of the symrnn checkout, the current "
                          "directory or the one the package runs from)")
    bld.add_argument("--no-verify", action="store_true", help="write the files without the verification table")
    bld.set_defaults(run=cmd_build)

    _add_flow_command(sub)

    ver = sub.add_parser("verify", help="check gradients against finite differences",
                         description=("Check a network's gradients against central finite differences, and "
                                      "its per-step terms and state adjoints against differences copy by copy "
                                      "(rows 'K=T', and 'K=<K>' with --truncate); with no cell, every built-in "
                                      "cell x output x layers x cost."))
    _add_network_options(ver, cell_required=False, outputs=NETWORK_OUTPUTS)
    ver.add_argument("--truncate", type=int, metavar="K", default=None,
                     help="also check BPTT truncated to K steps: gradients, per-step terms and state adjoints "
                          "against copy-by-copy differences (full BPTT's are always checked)")
    ver.set_defaults(run=cmd_verify)

    cells = sub.add_parser("cells", help="list the built-in cells, or show or check one cell file",
                           description=("List the built-in cells and their equations; with a cell name, print "
                                        "its shipped cell file; with a path to a .cell file, check the file "
                                        "and print it in canonical form with its parameters."))
    cells.add_argument("cell", nargs="?", help="a built-in cell name, or a cell file (a path ending in .cell)")
    cells.add_argument("--variant", help="cell variant (gru: notes, pytorch)")
    cells.add_argument("--activation", choices=sorted(ACTIVATIONS), help="activation g of the rnn cell")
    cells.set_defaults(run=cmd_cells)
    _add_copy_commands(sub)
    _add_latex_command(sub)
    return top


def _command_parsers(top):
    """Each subcommand's parser: it reports that command's errors with its own usage."""
    choices = next(a for a in top._actions if isinstance(a, argparse._SubParsersAction)).choices
    for command_parser in choices.values():
        command_parser.set_defaults(command_parser=command_parser)


def parse(argv=None):
    """The parsed arguments; an unknown option is reported by its subcommand's
    parser (its usage, and the nearest known option), not by the top-level one."""
    top = parser()
    _command_parsers(top)
    args, unknown = top.parse_known_args(argv)
    if unknown:
        command_parser = args.command_parser
        known = [flag for action in command_parser._actions for flag in action.option_strings]
        close = next((difflib.get_close_matches(word.split("=")[0], known, n=1) for word in unknown
                      if word.startswith("-")), [])
        hint = f" (did you mean {close[0]}?)" if close else ""
        command_parser.error(f"unrecognized arguments: {' '.join(unknown)}{hint}")
    return args


def check_outputs(args):
    """Refuse an output path that cannot be written before any work is done."""
    for dest in ("output_file", "svg", "tikz"):
        value = getattr(args, dest, None)
        if value and not (args.command == "generate" and value == STDOUT):
            check_output_path(value)
    if args.command == "build" and args.out and not args.check:
        check_output_dir(args.out)


def main(argv=None):
    args = parse(argv)
    try:
        check_outputs(args)
        return args.run(args)
    except SymrnnError as error:
        print(f"symrnn: error: {error}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # output piped into a reader that stopped early (| head)
        sys.stderr.close()
        return 0


if __name__ == "__main__":
    sys.exit(main())
