"""The interactive weight-copy explorer: one self-contained HTML page.

In the spirit of the notes' slider ("Use the slider to unfold the network
given an input sequence"): a slider for the sequence length T, a second
slider "truncate BPTT after K steps" (off, K = ∞, by default), a toggle
"output is also a sequence", pickers for the cell, the number of layers and
the parameter θ. The page draws the unrolled network with every copy
coloured by its role in dC/dθ and lists the copies with their roles. A
toggle "colour by the size of each copy's term" colours θ's differentiated
copies instead by ‖∂C/∂θ_t‖, the norm of its term, on a log scale (a colour
bar of :data:`MAGNITUDE_COLOURS`, one per bin of equal width in log10 between
the powers of ten around the configuration's smallest and largest nonzero
terms, full BPTT's and every window's), for one seeded example:
:func:`symrnn.flow.term_norms` at seed :data:`MAGNITUDE_SEED`, scale 1 (flow's
sizes and inputs), computed for every network and every T the page offers.
Every other copy enters no term of dC/dθ and is drawn pale
(:data:`MAGNITUDE_OTHER`) with no size. The sizes follow the truncation
slider: with one output at step T a window keeps its copies' full terms; with
an output at every step it changes the terms inside it too, so the page
embeds those configurations' norms for every K < T (:func:`window_norms`).

Everything the page shows is computed here by :mod:`symrnn.copies` and
:mod:`symrnn.pictures` and embedded as JSON; the page's JavaScript only looks
up the configuration the controls select and draws its layout. It loads
nothing from the network. For the window K the page does not embed a table
per K (that would multiply the page by up to 16): it embeds each copy's least
window (:meth:`symrnn.copies.CopyAnalysis.windows`), and a copy keeps its
full role when K >= that number; otherwise it is ``truncated`` (from
differentiated or on the chain) or ``unused`` (from forward only), which is
:func:`symrnn.copies.truncated_role`, the one comparison the page makes.

Embedded data (``<script type="application/json" id="symrnn-data">``)::

    {
      "schema": "symrnn.explorer/4",
      "roles": [...],                       # symrnn.copies.ALL_ROLES, with "truncated"
      "role_codes": {role: letter}, "role_labels": {...}, "colours": {role: [fill, ink, line]},
      "max_steps": 16,                      # symrnn.limits.EXPLORER_MAX_STEPS
      "magnitude": {"seed": 0, "colours": [...], "inks": [...], "zero": "#FFFFFF",
                    "other": [fill, ink], "sizes": {...}},
                                            # the seeded example, the colour bar (low to high),
                                            # the labels' colours on it, the fill of a term 0,
                                            # of a copy not in the sum, the example's sizes
      "cells": [{"key": "rnn", "label": "...", "layers": [1, 2]}],
      "configs": {
        "rnn|1|3|last": {                    # cell|layers|steps|output
          "title": [" for rnn, ", ["T", "", "", ""], " = 3, ..."],
                                             # the title's runs after ∂C/∂θ (symrnn.notation.runs_data)
          "params": ["w_x", ...], "param_displays": ["w^(x)", ...],
          "param_labels": [["w", "x", "", ""], ...],  # each θ as a label: base, sup, sub, layer
          "copy_params": [0, 0, 0, 1, ...],  # per copy (in the order of symrnn copies):
          "steps": [1, 2, 3, 1, ...],        # its parameter's index and step; the copy is
                                             # params[i] + "_" + step, shown as
                                             # param_displays[i] + "_" + step
          "zero": "0001...",                 # per copy: gradient exactly 0
          "norms": [0.0123, ...],            # per copy: ‖its term‖ in full BPTT at the seeded
                                             # example (3 significant digits; 0: exactly 0)
          "window_norms": [[...], ...],      # with an output at every step: the norms in BPTT
                                             # truncated to K, for K = 1..T-1; else []
          "roles": {"w_x": "dddfcc..."},     # per θ, per copy, full BPTT: d c f u
          "windows": {"w_x": "321133..."},   # per θ, per copy: its least window K in base 36
                                             # (1..T); 0 for an unused copy
          "layout": {...}                    # pictures.Layout.to_compact_data(): chips are
                                             # [copy index, x, y], all of size chip_size
        }
      }
    }

Imports: the registry, network, codegen (to run the generated module), copies, pictures, flow, files,
limits, notation (titles and labels as runs) and the template environment.
"""

import json
import math

from markupsafe import Markup

from .codegen import load_module
from .copies import ALL_ROLES, ROLE_LABELS, CopyAnalysis, check_steps, param_display, param_label
from .files import BUILD_COMMAND, do_not_edit
from .flow import SIZES, term_norms
from .limits import EXPLORER_MAX_STEPS
from .notation import runs_data
from .network import OUTPUT_MODES, Network
from .pictures import COLOURS, layout
from .registry import get_cell
from .templating import render

SCHEMA = "symrnn.explorer/4"  # 3: per-copy term norms; 4: window_norms, param_labels, title as runs
PAGE_MAX_STEPS = EXPLORER_MAX_STEPS  # the slider's limit (symrnn.limits)
# The cells of the notes: name, variant, label on the page.
NOTES_CELLS = (("rnn", None, "RNN (vanilla, tanh)"), ("lstm", None, "LSTM"), ("gru", "notes", "GRU (notes)"))
ROLE_CODES = {"differentiated": "d", "chain": "c", "truncated": "t", "forward": "f", "unused": "u"}
DIGITS = "0123456789abcdefghijklmnopqrstuvwxyz"  # a least window K in one character (base 36)
MAGNITUDE_SEED = 0
# The colour bar, small to large terms (viridis in 8 steps: ordered in lightness, readable in grey).
MAGNITUDE_COLOURS = ("#440154", "#46327E", "#365C8D", "#277F8E", "#1FA187", "#4AC16D", "#A0DA39", "#FDE725")
MAGNITUDE_INKS = ("#FFFFFF",) * 4 + ("#000000",) * 4  # the chip's label on each colour
MAGNITUDE_ZERO = "#FFFFFF"  # a term exactly 0
# Copies whose terms are not summed into dC/dθ (every role but differentiated) are drawn pale,
# with no size: a bright colour would say they matter to this sum.
MAGNITUDE_OTHER = ("#F2F2F2", "#9A9A9A")  # fill, label ink


def magnitude_bins(norms, colours=len(MAGNITUDE_COLOURS), span=None):  # noqa: B008 (a constant)
    """``(bins, low, high)``: each norm's colour index (None for 0) on the log
    scale from 10**low to 10**high, the powers of ten around the nonzero
    values of ``span`` (default ``norms``; the page passes every norm of the
    configuration, full BPTT's and each window's, so that the scale stays put
    while θ and K change); the page's JavaScript computes the same."""
    logs = [math.log10(v) for v in (norms if span is None else span) if v > 0]
    if not logs:
        return [None] * len(norms), 0, 1
    low, high = math.floor(min(logs)), math.ceil(max(logs))
    high = max(high, low + 1)
    return [None if v == 0 else max(0, min(colours - 1, math.floor((math.log10(v) - low) / (high - low) * colours)))
            for v in norms], low, high


def window_codes(windows):
    """Least windows (None for an unused copy) as one character each."""
    assert all(k is None or 1 <= k < len(DIGITS) for k in windows), windows
    return "".join("0" if k is None else DIGITS[k] for k in windows)


def config_key(cell_key, layers, steps, output):
    return f"{cell_key}|{layers}|{steps}|{output}"


def _norms(copies, terms):
    return [float(f"{terms[c.param][c.step - 1]:.3g}") for c in copies]


def window_norms(network, steps, copies, module):
    """Each copy's term norm in BPTT truncated to K, for K = 1..T-1 (K >= T is full
    BPTT). Only with an output at every step: with one output at step T a window
    keeps its copies' full terms and cuts the others to 0, which the roles say."""
    if network.output != "sequence":
        return []
    return [_norms(copies, term_norms(network, steps, seed=MAGNITUDE_SEED, truncate=k, module=module)[0])
            for k in range(1, steps)]


def config_data(network, steps, module=None):
    """The page's data for one network and T: every parameter's roles, every
    copy's term norm (``module``: the network's loaded module) and the layout."""
    analysis = CopyAnalysis(network, steps)
    first = analysis.table(analysis.params[0])
    lay = layout(network, steps)
    roles = {p: analysis.roles_and_windows(p) for p in analysis.params}
    terms, _ = term_norms(network, steps, seed=MAGNITUDE_SEED, module=module)
    return {
        "title": runs_data(first.title_runs()[1:]),
        "params": list(analysis.params),
        "param_displays": [param_display(p, network) for p in analysis.params],
        "param_labels": runs_data([param_label(p, network) for p in analysis.params]),
        "copy_params": [analysis.params.index(c.param) for c in first.copies],
        "steps": [c.step for c in first.copies],
        "zero": "".join("1" if c.zero else "0" for c in first.copies),
        "norms": _norms(first.copies, terms),
        "window_norms": window_norms(network, steps, first.copies, module),
        "roles": {p: "".join(ROLE_CODES[role] for role in roles[p][0]) for p in analysis.params},
        "windows": {p: window_codes(roles[p][1]) for p in analysis.params},
        "layout": lay.to_compact_data([c.copy for c in first.copies]),
    }


def explorer_data(cells=None, max_steps=PAGE_MAX_STEPS, layers=(1, 2)):
    """The embedded data: ``cells`` is a sequence of (key, Cell, label), the notes' cells by default."""
    check_steps(max_steps, PAGE_MAX_STEPS, "the page")
    if cells is None:
        cells = [(name, get_cell(name, variant), label) for name, variant, label in NOTES_CELLS]
    configs = {}
    for key, cell, _ in cells:
        for n_layers in layers:
            for output in OUTPUT_MODES:
                network = Network(cell, layers=n_layers, output=output)
                module = load_module(network)
                for steps in range(1, max_steps + 1):
                    configs[config_key(key, n_layers, steps, output)] = config_data(network, steps, module)
    return {
        "schema": SCHEMA,
        "roles": list(ALL_ROLES),
        "role_codes": ROLE_CODES,
        "role_labels": ROLE_LABELS,
        "colours": COLOURS,
        "max_steps": max_steps,
        "magnitude": {"seed": MAGNITUDE_SEED, "colours": list(MAGNITUDE_COLOURS), "inks": list(MAGNITUDE_INKS),
                      "zero": MAGNITUDE_ZERO, "other": list(MAGNITUDE_OTHER), "sizes": dict(SIZES)},
        "cells": [{"key": key, "label": label, "layers": list(layers)} for key, _, label in cells],
        "configs": configs,
    }


def script_json(data):
    """JSON safe inside a <script> element: no '<', '>' or '&' that could end
    it or open a comment, and ASCII only (U+2028/9 escaped)."""
    text = json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return Markup(text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026"))


def render_page(data=None, command=BUILD_COMMAND):
    """The page's HTML text; its header says to run ``command`` to regenerate it."""
    data = explorer_data() if data is None else data
    return render("explorer.html.j2", data_json=script_json(data), max_steps=data["max_steps"], cells=data["cells"],
                  magnitude=data["magnitude"], notice=do_not_edit(command, "(symrnn explorer)"))


def write_page(path, data=None):
    """Write the page to ``path`` atomically; its header says how to regenerate it."""
    from .files import check_output_path, command_line, write_atomic

    path = check_output_path(path)  # a bad path fails before the page's data is computed
    return write_atomic(path, render_page(data, command_line(["symrnn", "explorer", "-o", path.name])))
