"""The limits on T, the number of steps a network is unrolled, and on the
layers of a stack (:data:`MAX_LAYERS`), in one place, with the one wording of
their messages (:func:`steps_problem`, :func:`layers_problem`).

:data:`MAX_STEPS` (100)
    every command that unrolls one network for a T the user gives:
    ``symrnn copies`` (and its ``--svg``/``--tikz`` pictures), ``symrnn quiz``
    and ``symrnn latex``. The copy analysis is exact and linear in T (the
    2-layer LSTM with an output at every step takes about 2.5 s and 80 MB at
    T = 100 on a 2-core machine); a derivation's chain forms grow as T², so
    its document at T = 100 is already long for lecture notes.
:data:`EXPLORER_MAX_STEPS` (16)
    the explorer's slider. The page embeds the analysis of every T from 1 to
    this limit for each of its cells, layer counts and output modes, so its
    size and generation time grow as the square of this limit.
:data:`FLOW_MAX_STEPS` (1000) is the limit of ``symrnn flow``: it runs the
generated module on one item (linear in T, about a millisecond a step), and a
plot of more steps than pixels shows nothing more.
:data:`CAPTURE_MAX_STEPS` (200) is the limit of ``symrnn flow --capture``: it
runs the module once for every window K = 1..T, so its work grows as T² (with
an output at every step as T³: K lanes travel back); at T = 200 the LSTM with
an output at every step takes about a minute on a 2-core machine.

Imports: nothing from symrnn.
"""

MAX_STEPS = 100
EXPLORER_MAX_STEPS = 16

FLOW_MAX_STEPS = 1000
CAPTURE_MAX_STEPS = 200

# The layers of a stacked network (``--layers``): each layer is a copy of the cell's step,
# and budgets.MAX_UNROLLED_NODES and the others count every one.
MAX_LAYERS = 8


def steps_problem(steps, limit=MAX_STEPS, what=None):
    """The one wording of a T out of its range, or None where ``steps`` is in it
    (the caller raises it as its own error type: this module imports nothing).

    >>> steps_problem(0, 16, "the explorer")
    'T (--steps) must be an integer from 1 to 16 for the explorer, got 0'
    """
    if isinstance(steps, int) and not isinstance(steps, bool) and 1 <= steps <= limit:
        return None
    return f"T (--steps) must be an integer from 1 to {limit}{f' for {what}' if what else ''}, got {steps!r}"


def layers_problem(layers):
    """The one wording of a number of layers out of its range, or None."""
    if isinstance(layers, int) and not isinstance(layers, bool) and 1 <= layers <= MAX_LAYERS:
        return None
    return f"the number of layers (--layers) must be an integer from 1 to {MAX_LAYERS}, got {layers!r}"
