"""NumPy spelling shared by the NumPy emitter's parts: expressions of one
step (a stacked group's fused product as its slot block times its stacked
weights), expressions over all steps (each value by its (T, B, H) array),
in-place statements, column blocks and sums over the batch.

Imports: the NumPy printer (:mod:`symrnn.printing`), the rule table, the
graph's ``is_param``, names and the statements.
"""

import sympy

from ..graph import is_param
from ..printing import NumPyCodePrinter, fused_dot_t
from ..rules import function_rule
from . import names
from .statements import Op


def cols(start, stop, sizes=None):
    """Column slice text for blocks ``start:stop``, block k of width
    ``sizes[k]`` (a size letter; all H if None)."""
    sizes = sizes or ("H",) * stop
    return f"{width(sizes[:start])}:{width(sizes[:stop])}"


def size_lines(plan):
    """Each size letter the layer's arrays use, from a state's initial value
    (its columns) or a weight (its rows)."""
    lines = []
    for letter, source in plan.size_bindings:
        if source in plan.states:
            lines.append(f"{letter} = {names.initial_state(source)}.shape[1]")
        else:
            lines.append(f"{letter} = {source.name}.shape[0]")
    return lines


def width(sizes):
    """The total of blocks of these size letters: "", "H", "4 * H", "4 * H + P"."""
    counts = {letter: sizes.count(letter) for letter in dict.fromkeys(sizes)}
    return " + ".join(letter if n == 1 else f"{n} * {letter}" for letter, n in counts.items())


def python_tuple(items):
    """Source text of a tuple of strings: ("H", "D"), ("H",)."""
    items = [f'"{item}"' for item in items]
    return f"({items[0]},)" if len(items) == 1 else f"({', '.join(items)})"


def sum_rows(text, expr):
    """Code summing an expression over the batch (rows)."""
    operand = text if isinstance(expr, sympy.Symbol) else f"({text})"
    return f"{operand}.sum(axis=0)"


def product_weights(group):
    """The group's weights as the (in, out) matrix of ``v @ W`` (w.T, or w of a transposed product)."""
    weights = names.stacked_weights(group)
    return weights if group.transposed else f"{weights}.T"


def adjoint_weights(group):
    """The group's weights as the (out, in) matrix of the arg's adjoint ``d @ W``."""
    weights = names.stacked_weights(group)
    return f"{weights}.T" if group.transposed else weights


def previous_input_lines(plan, zeros_like):
    """The previous step's inputs, x[t-1] with zero at the first step (one
    copy of the inputs, where the cell reads x[t-1])."""
    if plan.prev_input is None:
        return []
    return [f"inputs_prev = {zeros_like}(inputs)  # x[t-1]: zero at the first step", "inputs_prev[1:] = inputs[:-1]"]


def input_adjoint_lines(plan, zeros_like, window=False):
    """After the loop: the input's adjoint from the hoisted groups' slots, one
    product of each; a product of x[t-1] adds to the adjoint one step earlier.
    ``window`` (the window variant): only where ``keep_previous`` is True at
    that earlier step; above the first layer x[t-1] is the layer below's
    output, a constant for a window that begins at t."""
    def products(groups):
        return " + ".join(f"d_slots_2d[:, {cols(g.start, g.stop, plan.slot_sizes)}] @ {adjoint_weights(g)}"
                          for g in groups)
    current = products(g for g in plan.hoisted if g.arg != plan.prev_input)
    previous = products(g for g in plan.hoisted if g.arg == plan.prev_input)
    lines = []
    if current:
        lines.append(f"d_inputs {'+=' if plan.backward.input_adjoint_in_loop else '='} ({current}).reshape(T, B, -1)")
    elif not plan.backward.input_adjoint_in_loop:
        lines.append(f"d_inputs = {zeros_like}(inputs)")
    if previous and window:
        lines += [f"d_inputs_prev = ({previous}).reshape(T, B, -1)",
                  "d_inputs[:-1] += np.where(keep_previous[:-1], d_inputs_prev[1:], 0)"]
    elif previous:
        lines.append(f"d_inputs[:-1] += ({previous}).reshape(T, B, -1)[1:]")
    return lines


def slot_block(plan, group):
    """The group's slots at step t."""
    return f"d_slots[t, :, {cols(group.start, group.stop, plan.slot_sizes)}]"


def member_cols(group, k, stop=None):
    """Columns of members ``k:stop`` (k + 1 if None) of a group's stacked product."""
    stop = k + 1 if stop is None else stop
    return cols(k, stop, (group.size,) * stop)


# The NumPy call of each in-place operation that writes through ``out=``, and
# the operator of each augmented assignment.
NUMPY_CALLS = {Op.ADD: "np.add", Op.SUBTRACT: "np.subtract", Op.MULTIPLY: "np.multiply", Op.SQUARE: "np.square"}
AUGMENTED = {Op.IADD: "+=", Op.ISUB: "-=", Op.IMUL: "*="}


MEAN_HELPER = '''def _mean(z):
    """The mean over the last axis, as a column: np.mean's own pairwise sum and
    division (the same values) without its Python wrapper, which costs about
    three times the arithmetic on a (B, H) array."""
    return np.add.reduce(z, axis=-1, keepdims=True) / z.shape[-1]
'''


class NumPyPrinter(NumPyCodePrinter):
    """The NumPy printer, with the row mean as the module's ``_mean`` (:data:`MEAN_HELPER`)."""

    def _print_mean(self, expr):
        return f"_mean({self._print(expr.args[0])})"


class StepPrinter:
    """Prints a plan's expressions of one step as NumPy code."""

    def __init__(self, plan):
        self.plan = plan
        self.fused = {g.index: f"{slot_block(plan, g)} @ {names.stacked_weights(g)}" for g in plan.groups if g.stacked}

    def show(self, expr):
        return NumPyPrinter(self.fused).doprint(expr)

    def prepared(self, expr):
        """``expr`` as :meth:`show` prints it (a sequence printer puts in its arrays)."""
        return expr

    def matmul_operands(self, product):
        """(operand, weights) of w^T·d: the d and w of ``d @ w``."""
        if isinstance(product, fused_dot_t):
            group = self.plan.group(int(product.args[0]))
            return slot_block(self.plan, group), names.stacked_weights(group)
        weight, arg = product.args
        operand = self.show(arg)
        return (operand if isinstance(arg, sympy.Symbol) else f"({operand})"), self.show(weight)

    def in_place(self, statement):
        """The line of an :class:`~symrnn.codegen.statements.InPlace` statement."""
        target, op, args = statement.target.name, statement.op, statement.args
        if op in AUGMENTED:
            return f"{target} {AUGMENTED[op]} {self.show(args[0])}"
        if op is Op.FILL:
            return f"{target}[...] = {self.show(args[0])}"
        if op is Op.APPLY:
            (expr,) = args
            return function_rule(expr).numpy_out.format(*(self.show(a) for a in expr.args), target)
        if op is Op.MATMUL:
            operand, weights = self.matmul_operands(args[0])
            return f"np.matmul({operand}, {weights}, out={target})"
        return f"{NUMPY_CALLS[op]}({', '.join(self.show(a) for a in args)}, out={target})"


class SequencePrinter(StepPrinter):
    """Prints expressions over all steps at once: each forward value by its
    (T, B, H) array; a parameter stays itself, broadcast over steps and items."""

    def __init__(self, plan, expr):
        super().__init__(plan)
        self.arrays = {s: sympy.Symbol(self.array(s)) for s in expr.free_symbols if not is_param(s)}

    def array(self, symbol):
        plan = self.plan
        previous = plan.previous_states
        if symbol in plan.states:
            return f"{names.history(symbol)}[1:]"
        if symbol in previous:
            return f"{names.history(previous[symbol])}[:-1]"
        return "inputs" if symbol == plan.input else names.store(symbol)

    def show(self, expr):
        return super().show(self.prepared(expr))

    def prepared(self, expr):
        return sympy.sympify(expr).xreplace(self.arrays)
