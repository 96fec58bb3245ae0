"""The ``symrnn`` command line."""

import argparse
import sys
import textwrap

from . import build as build_module
from .cellfile import format_cell
from .cells import CELLS, builtin_file, get_cell, is_cell_path, resolve_cell
from .codegen import write_module
from .errors import SymrnnError
from .network import LOSSES, OUTPUT_ACTIVATIONS, OUTPUT_MODES, Network
from .rules import ACTIVATIONS
from .verify import format_table, verify_network


def _add_network_options(parser, cell_required=True):
    parser.add_argument("cell", nargs=None if cell_required else "?",
                        help=f"a built-in cell ({', '.join(CELLS)}) or a cell file (a path ending in .cell)")
    parser.add_argument("--variant", help="cell variant (gru: notes, pytorch)")
    parser.add_argument("--activation", choices=sorted(ACTIVATIONS), help="activation g of the rnn cell")
    parser.add_argument("--layers", type=int, default=1, help="number of stacked layers (default 1)")
    parser.add_argument("--output", choices=OUTPUT_MODES, default="last",
                        help="one output per item at its last step, or one per step (default last)")
    parser.add_argument("--loss", choices=LOSSES, default="squared", help="cost C (default squared)")
    parser.add_argument("--out-activation", choices=OUTPUT_ACTIVATIONS,
                        help="output activation g_o (default identity; softmax for xent)")


def _network(args):
    cell = resolve_cell(args.cell, args.variant, args.activation)
    return Network(cell, layers=args.layers, output=args.output, loss=args.loss,
                   out_activation=args.out_activation)


def cmd_generate(args):
    path = write_module(_network(args), args.output_file)
    print(f"wrote {path}")
    return 0


def cmd_build(args):
    if args.check:
        names = build_module.check(args.out)
        print(f"{len(names)} generated files in {args.out}/ are current")
        return 0
    for path in build_module.build(args.out):
        print(f"wrote {path}")
    if args.no_verify:
        return 0
    results = [r for net in build_module.committed_networks() for r in verify_network(net)]
    print(format_table(results))
    return 0 if all(r.passed for r in results) else 1


def verification_matrix():
    """Every built-in cell x output mode x 1-2 layers x cost."""
    cells = [get_cell(name, variant) for name, variants in CELLS.items() for variant in variants]
    return [Network(cell, layers=layers, output=output, loss=loss)
            for cell in cells for output in OUTPUT_MODES for layers in (1, 2) for loss in LOSSES]


def cmd_verify(args):
    networks = [_network(args)] if args.cell else verification_matrix()
    results = [r for net in networks for r in verify_network(net)]
    print(format_table(results))
    return 0 if all(r.passed for r in results) else 1


def cmd_cells(args):
    if args.cell is None:
        for name, variants in CELLS.items():
            for variant in variants:
                cell = get_cell(name, variant)
                print(f"{name} --variant {variant}" if len(variants) > 1 else name, f"- {cell.description}")
                for line in cell.equations_text():
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
    table = analysis.table(args.wrt or analysis.params[0])
    if args.svg or args.tikz:
        from .pictures import svg, tikz

        for path, render in ((args.svg, svg), (args.tikz, tikz)):
            if path:
                with open(path, "w", encoding="utf-8") as f:
                    f.write(render(table))
                print(f"wrote {path}", file=sys.stderr if args.json else sys.stdout)
    print(table.to_json() if args.json else table.format(), end="")
    return 0


def cmd_explorer(args):
    from .explorer import write_page

    print(f"wrote {write_page(args.output_file)}")
    return 0


def cmd_quiz(args):
    from .copies import CopyAnalysis
    from .quiz import make_quiz

    network = _network(args)
    wrt = args.wrt or CopyAnalysis(network, 1).params[0]
    text = make_quiz(network, args.steps, wrt, seed=args.seed).render(args.format)
    if args.output_file:
        with open(args.output_file, "w", encoding="utf-8") as f:
            f.write(text)
        print(f"wrote {args.output_file}")
    else:
        print(text, end="")
    return 0


def _add_copy_options(parser):
    """The network, T and θ of a copy analysis (``copies`` and ``quiz``)."""
    _add_network_options(parser)
    parser.add_argument("--steps", "-T", type=int, default=3, help="sequence length T (default 3)")
    parser.add_argument("--wrt", help="the parameter θ: w_x, or as the notes write it, w^(x) (default: the first one)")


def _add_copy_commands(sub):
    """``copies``: which copies of which weights enter dC/dθ (symrnn.copies)."""
    cop = sub.add_parser("copies", help="which copies of which weights enter dC/dθ of the unrolled network",
                         description=("The role of every step's copy of every parameter in dC/dθ of the network "
                                      "unrolled for T steps: differentiated, on the chain, forward only, unused; "
                                      "and whether its gradient is exactly 0 for zero initial states."))
    _add_copy_options(cop)
    cop.add_argument("--json", action="store_true", help="print JSON (schema: symrnn.copies module docstring)")
    cop.add_argument("--svg", metavar="FILE", help="also write the unrolled network as SVG")
    cop.add_argument("--tikz", metavar="FILE", help="also write the unrolled network as a TikZ picture")
    cop.set_defaults(run=cmd_copies)

    exp = sub.add_parser("explorer", help="write the interactive weight-copy explorer (one HTML file)",
                         description=("Write one self-contained HTML page: a slider for T, a toggle for "
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
    quiz.add_argument("-o", "--output-file", help="write to this file instead of printing")
    quiz.set_defaults(run=cmd_quiz)


def cmd_latex(args):
    from pathlib import Path

    from .derivation import Derivation, compile_pdf

    derivation = Derivation(_network(args), args.steps, wrt=args.wrt, units=args.units)
    path = Path(args.output_file) if args.output_file else None
    if path is None and not args.pdf:
        print(derivation.snippet(), end="")
        return 0
    if path is not None:
        path.write_text(derivation.document() if path.suffix == ".tex" else derivation.snippet(), encoding="utf-8")
        print(f"wrote {path}")
    if args.pdf:
        pdf = path.with_suffix(".pdf") if path is not None else Path(derivation.file_stem + ".pdf")
        data, _ = compile_pdf(derivation.document())
        pdf.write_bytes(data)
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
    tex.add_argument("--steps", "-T", type=int, required=True, help="sequence length T")
    tex.add_argument("--wrt", nargs="+", metavar="PARAM",
                     help="parameters θ, code names like w_x w_a (default: the first input weight)")
    tex.add_argument("--units", choices=("scalar", "vector"), default="scalar",
                     help="one unit per vector (default; chains as products of numbers) or vectors")
    tex.add_argument("-o", "--output-file", help="FILE.tex: a standalone document; other names: the snippet")
    tex.add_argument("--pdf", action="store_true", help="also compile the document with pdflatex")
    tex.set_defaults(run=cmd_latex)


def parser():
    top = argparse.ArgumentParser(prog="symrnn", description=(
        "Derive exact BPTT gradients of recurrent cells with SymPy and generate verified NumPy code."))
    sub = top.add_subparsers(dest="command", required=True)

    gen = sub.add_parser("generate", help="write the NumPy module of one network",
                         description="Write the NumPy forward/backward module of one network.")
    _add_network_options(gen)
    gen.add_argument("-o", "--output-file", required=True, help="path of the module to write")
    gen.set_defaults(run=cmd_generate)

    bld = sub.add_parser("build", help="rewrite generated/ and print a verification table",
                         description=("Rewrite everything in generated/: the NumPy modules, the LaTeX derivations "
                                      "and their PDFs, the copy pictures and the explorer page; then verify the "
                                      "modules against finite differences."))
    bld.add_argument("--check", action="store_true", help="only check that generated/ is current")
    bld.add_argument("--out", default="generated", help="directory (default generated)")
    bld.add_argument("--no-verify", action="store_true", help="write the files without the verification table")
    bld.set_defaults(run=cmd_build)

    ver = sub.add_parser("verify", help="check gradients against finite differences",
                         description=("Check a network's gradients against central finite differences; "
                                      "with no cell, every built-in cell x output x layers x cost."))
    _add_network_options(ver, cell_required=False)
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


def main(argv=None):
    args = parser().parse_args(argv)
    try:
        return args.run(args)
    except SymrnnError as error:
        print(f"symrnn: error: {error}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # output piped into a reader that stopped early (| head)
        sys.stderr.close()
        return 0


if __name__ == "__main__":
    sys.exit(main())
