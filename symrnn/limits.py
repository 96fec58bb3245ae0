"""The limits on T, the number of steps a network is unrolled, in one place.

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
