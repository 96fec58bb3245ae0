"""Quiz material on the weight copies of BPTT, with its answer key.

For one configuration (cell, T, output mode, layers, parameter θ) the quiz
asks the notes' question, "Which weights (including copies of the same
weight) are used in one backpropagation through time gradient descent step
when computing ∂C/∂θ?", and follows it with multiple-choice items drawn by a
seed: which set of copies is exactly the chain (the distractors are the
usual mistakes: the chain of the other output mode, every copy of the
recurrent weight, one chain copy too few, a forward-only copy too many), and
the role of single copies. Every answer comes from :mod:`symrnn.copies`.

Deciding and writing are apart. :func:`make_quiz` decides everything (which
copies, their roles, the right answers, the seeded draws and the order of the
choices) into a :class:`Quiz` of :class:`Item` s whose text is held as
segments, ``("text", ...)`` or ``("math", LaTeX)``. :meth:`Quiz.written`
joins the segments for one format into a :class:`QuizText` of strings
(Markdown inserts text as it is, LaTeX escapes it; the choices get their
labels (a), (b), ...), and the templates ``quiz.md.j2`` and ``quiz.tex.j2``
only lay that out. The notation and delimiters are those of ``symrnn latex``
(:mod:`symrnn.notation`): ``w^{(x)}_{2}`` with ``\\left( \\right)``, math
between ``\\(`` ``\\)`` (``math="dollars"``: ``$``) in Markdown and between
``\\(`` ``\\)`` in LaTeX.

It imports the copy analysis (:mod:`symrnn.copies`, :mod:`symrnn.network`),
the notation and delimiters (:mod:`symrnn.notation`, :mod:`symrnn.latex`,
:func:`symrnn.pictures.latex_text`), :mod:`symrnn.errors` and the one
template environment (:mod:`symrnn.templating`); only the CLI imports it.

    >>> import symrnn
    >>> quiz = make_quiz(symrnn.network("rnn"), 3, "w_x", seed=1)
    >>> print(quiz.markdown().splitlines()[0])
    # BPTT weight copies: rnn, T = 3, output last
    >>> quiz.written(lambda segments: "".join(text for _, text in segments)).items[1].answer
    ('(d)',)
"""

import functools
import random
from dataclasses import dataclass

from .copies import ROLE_LABELS, ROLES, CopyAnalysis, param_origin
from .errors import ConfigError
from .latex import estimate_width, math_delimiters
from .notation import parameter_latex, partial
from .pictures import latex_text
from .templating import render as render_template

FORMATS = ("markdown", "latex")
TEMPLATES = {"markdown": "quiz.md.j2", "latex": "quiz.tex.j2"}
ROLE_CHOICES = {  # {theta} stands for the parameter's name
    "differentiated": "a copy of {theta} itself: its gradient term is summed into the derivative",
    "chain": "on the chain: it multiplies the back-propagated signal on its way to a copy of {theta}",
    "forward": "forward only: it is needed to compute activations, but on no chain",
    "unused": "unused: the derivative needs neither it nor anything computed from it",
}
SEVERAL = " (mark every one that applies)"  # follows the question of an item with several right answers
# The LaTeX quiz's line, in letters of estimate_width (article, 10pt: 345pt), what a choice's
# label and the space between columns take, and the most columns a list of choices is set in.
TEXT_WIDTH = 62
LABEL_WIDTH = 7
MAX_COLUMNS = 4


def _with_theta(text, theta):
    before, _, after = text.partition("{theta}")
    return (("text", before), theta, ("text", after)) if _ else (("text", text),)


@dataclass(frozen=True)
class ItemText:
    """An item written for one format: what a quiz template lays out."""

    question: str
    choices: tuple       # (label, text) pairs: ("(a)", ...), ("(b)", ...)
    answer: tuple        # the labels of the correct choices
    explanation: str
    columns: int = 1     # the choices side by side in this many columns (LaTeX)


@dataclass(frozen=True)
class QuizText:
    """A quiz written for one format: the title, the setting and :class:`ItemText` s."""

    title: str
    setting: str
    items: tuple


@dataclass(frozen=True)
class Item:
    question: tuple      # segments
    choices: tuple       # tuple of segments each
    answer: tuple        # indices of the correct choices
    explanation: tuple   # segments
    several: bool = False

    def written(self, write):
        """:class:`ItemText` with every segment tuple joined by ``write``."""
        labels = [f"({_letter(j)})" for j in range(len(self.choices))]
        question = self.question + ((("text", SEVERAL),) if self.several else ())
        return ItemText(write(question), tuple(zip(labels, map(write, self.choices))),
                        tuple(labels[j] for j in self.answer), write(self.explanation), self.columns())

    def columns(self):
        """As many columns as the widest choice (and its label) allows, up to
        :data:`MAX_COLUMNS`: the notes' question lists every copy (24 for a GRU at
        T = 3), one short name each, which one column spreads over a page."""
        widest = max((_width(choice) for choice in self.choices), default=0) + LABEL_WIDTH
        return max(1, min(MAX_COLUMNS, len(self.choices), int(TEXT_WIDTH // widest)))


@dataclass(frozen=True)
class Quiz:
    title: str
    setting: tuple       # segments describing the network
    items: tuple
    seed: int

    def written(self, write):
        """:class:`QuizText` with every segment tuple (and the title) joined by ``write``."""
        return QuizText(write((("text", self.title),)), write(self.setting),
                        tuple(item.written(write) for item in self.items))

    def markdown(self, math="parens"):
        """Markdown with ``\\(`` ``\\)`` around math, as ``symrnn latex`` writes its
        snippet (``math="dollars"``: ``$``; see the README for which renderer takes which)."""
        (opening, closing), _ = math_delimiters(math)
        write = functools.partial(_markdown, opening=opening, closing=closing)
        return render_template(TEMPLATES["markdown"], quiz=self.written(write))

    def latex(self):
        """A LaTeX document that pdflatex compiles, math between ``\\(`` ``\\)``."""
        return render_template(TEMPLATES["latex"], quiz=self.written(_latex))

    def render(self, fmt, math="parens"):
        """``fmt`` markdown or latex; ``math`` (parens or dollars) sets Markdown's delimiters."""
        if fmt not in FORMATS:
            raise ConfigError(f"unknown quiz format {fmt!r}; expected one of {list(FORMATS)}")
        math_delimiters(math)  # ConfigError for anything but parens and dollars
        return self.markdown(math) if fmt == "markdown" else self.latex()


def _width(segments):
    """The rendered width of ``segments`` in letters: text as written, math as estimated."""
    return sum(estimate_width(text) if kind == "math" else len(text) for kind, text in segments)


def _letter(j):
    """a, b, ..., z, aa, ab, ...: an LSTM's checklist has more than 26 copies."""
    letters = "abcdefghijklmnopqrstuvwxyz"
    return letters[j] if j < len(letters) else _letter(j // len(letters) - 1) + letters[j % len(letters)]


def _markdown(segments, opening, closing):
    return "".join(f"{opening}{text}{closing}" if kind == "math" else text for kind, text in segments)


def _latex(segments):
    return "".join(rf"\({text}\)" if kind == "math" else latex_text(text) for kind, text in segments)


def _param_math(param, network, copy=None):
    """The parameter (or its copy at step ``copy``) as ``symrnn latex`` writes it."""
    base, layer = param_origin(param, network)
    return parameter_latex(base, layer, network.layers, copy)


def _copy_math(copy, network):
    return _param_math(copy.param, network, copy.step)


def _copy_list(copies, network):
    """Segments naming ``copies``: w^(a)_2, w^(a)_3 and w^(y)_3; 'none' when empty."""
    if not copies:
        return (("text", "none"),)
    segments = []
    for k, c in enumerate(copies):
        if k:
            segments.append(("text", " and " if k == len(copies) - 1 else ", "))
        segments.append(("math", _copy_math(c, network)))
    return tuple(segments)


def make_quiz(network, steps, wrt, seed=0, role_items=2):
    """The quiz for dC/d(wrt) in ``network`` unrolled ``steps`` steps."""
    if not isinstance(seed, int) or isinstance(seed, bool):
        raise ConfigError(f"the seed must be an integer, got {seed!r}")
    rng = random.Random(seed)
    table = CopyAnalysis(network, steps).table(wrt)
    theta = ("math", _param_math(table.wrt, network))
    layers = f"{network.layers} stacked layers" if network.layers > 1 else "one layer"
    outputs = ("the output is also a sequence (one output at every step)" if network.output == "sequence"
               else "there is one output, at the end of the sequence")
    setting = (("text", f"The network (cell {network.cell.name}, {layers}) is unfolded for an input sequence of length "),
               ("math", f"T = {steps}"), ("text", (f"; {outputs}. Initial states are zero. The copy of a weight "
                                                  "used at step ")), ("math", "t"),
               ("text", " carries "), ("math", "t"), ("text", " as a subscript, e.g. "),
               ("math", _copy_math(table.copies[0], network)), ("text", "."))
    items = [_notes_item(table, theta), _chain_item(table, theta, rng)]
    items += _role_items(table, theta, rng, role_items)
    title = f"BPTT weight copies: {network.cell.name}, T = {steps}, output {network.output}"
    return Quiz(title, setting, tuple(items), seed)


def _notes_item(table, theta):
    """The notes' question over every copy; the key: differentiated and chain copies."""
    net = table.network
    question = (("text", ("Which weights (including copies of the same weight) are used in one backpropagation "
                         "through time gradient descent step when computing ")),
                ("math", partial("C", theta[1], inline=True)), ("text", "?"))
    choices = tuple((("math", _copy_math(c, net)),) for c in table.copies)
    answer = tuple(k for k, c in enumerate(table.copies) if c.role in ("differentiated", "chain"))
    by_role = {role: [c for c in table.copies if c.role == role] for role in ROLES}
    zero = [c for c in table.copies if c.zero and c.role != "unused"]
    explanation = (("text", "The gradient is the sum of the terms of the copies of "), theta, ("text", ": "),
                   *_copy_list(by_role["differentiated"], net),
                   ("text", "; the back-propagated signal is multiplied by the copies on the chain "),
                   *_copy_list(by_role["chain"], net),
                   ("text", ". The forward pass also needs "), *_copy_list(by_role["forward"], net),
                   ("text", " to compute the activations the gradient uses."))
    if zero:
        explanation += (("text", " With zero initial states the gradients of "), *_copy_list(zero, net),
                        ("text", " are exactly 0: these copies do not change C."))
    return Item(question, choices, answer, explanation, several=True)


def _chain_item(table, theta, rng):
    """Which set is exactly the chain? Distractors are the usual mistakes."""
    net = table.network
    chain = frozenset(c.copy for c in table.copies if c.role == "chain")
    by_name = table.by_name()
    candidates = [frozenset(c.copy for c in _other_output_table(table).copies if c.role == "chain"
                            and c.copy in by_name)]
    recurrent = {c.copy for c in table.copies if c.role in ("chain", "forward") and c.param != table.wrt
                 and c.param.startswith("w_") and any(d.param == c.param and d.role == "chain" for d in table.copies)}
    candidates.append(frozenset(chain | recurrent))
    if chain:
        latest = max(chain, key=lambda name: (by_name[name].step, name))
        candidates.append(chain - {latest})
    forward = sorted(c.copy for c in table.copies if c.role == "forward")
    candidates += [chain | {name} for name in rng.sample(forward, min(3, len(forward)))]
    candidates.append(frozenset(c.copy for c in table.copies if c.role == "differentiated"))
    distractors = []
    for option in candidates:
        if option != chain and option not in distractors:
            distractors.append(option)
    options = [chain, *distractors[:3]]
    rng.shuffle(options)
    order = [c.copy for c in table.copies]
    choices = tuple(_copy_list([by_name[n] for n in sorted(opt, key=order.index)], net) for opt in options)
    question = (("text", "Which copies multiply the back-propagated signal between a copy of "), theta,
                ("text", " and C (the copies on the chain), and no others?"))
    explanation = (("text", "On the chain: "), *_copy_list([by_name[n] for n in sorted(chain, key=order.index)], net),
                   ("text", "."))
    return Item(question, choices, (options.index(chain),), explanation)


def _other_output_table(table):
    from .network import Network

    net = table.network
    other = Network(net.cell, layers=net.layers, output="last" if net.output == "sequence" else "sequence")
    return CopyAnalysis(other, table.steps).table(table.wrt)


def _role_items(table, theta, rng, count):
    """The role of single copies, one drawn from each role present (in a seeded order)."""
    groups = [[c for c in table.copies if c.role == role] for role in ("chain", "forward", "unused")]
    picks = [rng.choice(group) for group in groups if group]
    rng.shuffle(picks)
    items = []
    for copy in picks[:count]:
        net = table.network
        question = (("text", "In computing "), ("math", partial("C", theta[1], inline=True)),
                    ("text", ", which role does the copy "), ("math", _copy_math(copy, net)), ("text", " play?"))
        choices = tuple(_with_theta(ROLE_CHOICES[role], theta) for role in ROLES)
        explanation = (("math", _copy_math(copy, net)), ("text", f" is {ROLE_LABELS[copy.role]}"))
        if copy.chain_of:
            by_name = table.by_name()
            explanation += (("text", " of "), *_copy_list([by_name[d] for d in copy.chain_of], net))
        if copy.zero:
            explanation += (("text", "; its own gradient is exactly 0 with zero initial states"),)
        items.append(Item(question, choices, (ROLES.index(copy.role),), explanation + (("text", "."),)))
    return items
