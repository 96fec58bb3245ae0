"""JAX spelling shared by the JAX emitter's parts: the one table of each
function's ``jax.numpy`` call (:data:`JAX_FUNCTIONS`), the printer that
reads it, and the step and sequence printers (the NumPy printers' array
names and views, which ``jax.numpy`` indexes the same way).

JAX arrays are immutable, so nothing here writes through ``out=``: an
in-place statement of the plan is the same value bound to its name again
(:meth:`JaxStepPrinter.value_of`), and XLA fuses the elementwise work.

Imports: the graph's ``is_param``, the NumPy printer, the rule table's
function classes, the statements and the NumPy spelling helpers whose
text JAX shares.
"""

import sympy

from ..graph import is_param
from ..printing import NumPyCodePrinter
from ..rules import log_softmax, maximum, mean, relu, sigmoid, softplus, sqrt
from . import names
from .numpy_text import SequencePrinter, StepPrinter
from .statements import Op

# Each function of the rule table (rules.ELEMENTWISE, rules.ROW_FUNCTIONS) as a jax call.
JAX_FUNCTIONS = {
    sympy.tanh: "jnp.tanh({0})",
    sigmoid: "jax.nn.sigmoid({0})",
    relu: "jnp.maximum({0}, 0.0)",
    sympy.exp: "jnp.exp({0})",
    sqrt: "jnp.sqrt({0})",
    sympy.log: "jnp.log({0})",
    softplus: "jnp.logaddexp({0}, 0.0)",
    maximum: "jnp.maximum({0}, {1})",
    mean: "jnp.mean({0}, axis=-1, keepdims=True)",
    log_softmax: "jax.nn.log_softmax({0}, axis=-1)",
}

# The value an in-place statement computes into its target, as an expression of its arguments.
VALUES = {
    Op.ADD: lambda target, a, b: a + b,
    Op.SUBTRACT: lambda target, a, b: a - b,
    Op.MULTIPLY: lambda target, a, b: a * b,
    Op.SQUARE: lambda target, a: a**2,
    Op.MATMUL: lambda target, product: product,
    Op.APPLY: lambda target, expr: expr,
    Op.IADD: lambda target, a: target + a,
    Op.ISUB: lambda target, a: target - a,
    Op.IMUL: lambda target, a: target * a,
    Op.FILL: lambda target, a: a,
}


class JaxPrinter(NumPyCodePrinter):
    """Engine expressions as ``jax.numpy`` code: the operators NumPy and JAX
    share, each function from :data:`JAX_FUNCTIONS`; ``fused(index)`` gives
    the text of a fused group's product (it changes as the step runs)."""

    def __init__(self, fused=None):
        super().__init__()
        self.fused = fused

    def _print_Function(self, expr):
        spelling = JAX_FUNCTIONS.get(type(expr))
        if spelling is None:
            raise TypeError(f"no jax form for {type(expr).__name__}")
        return spelling.format(*[self._print(arg) for arg in expr.args])

    _print_tanh = _print_exp = _print_log = _print_sqrt = _print_mean = _print_Function

    def _print_fused_dot_t(self, expr):
        return self.fused(int(expr.args[0]))


def jax_code(expr):
    return JaxPrinter().doprint(expr)


def parameters_only(expr):
    """Whether ``expr`` is a number or made of parameters only (a bias): it
    does not have the step's shape, and is broadcast to it where assigned."""
    return all(is_param(s) for s in sympy.sympify(expr).free_symbols)


class JaxStepPrinter(StepPrinter):
    """Prints a plan's expressions of one step as JAX code; ``slot_block(group)``
    gives the text of the group's slots at this step (backward's fused products)."""

    shape = "(B, {})"

    def __init__(self, plan, slot_block=None):
        super().__init__(plan)
        self.slot_block = slot_block

    def show(self, expr):
        return JaxPrinter(self.fused_product).doprint(expr)

    def fused_product(self, index):
        group = self.plan.group(index)
        return f"{self.slot_block(group)} @ {names.stacked_weights(group)}"

    def value_of(self, statement):
        """The text of the value an :class:`~symrnn.codegen.statements.InPlace`
        statement leaves in its target, broadcast to the target's shape where
        it is of parameters only."""
        value = VALUES[statement.op](statement.target, *statement.args)
        text = self.show(value)
        size = dict(self.plan.sizes).get(statement.target)
        if parameters_only(self.prepared(value)) and size is not None:
            return f"jnp.broadcast_to({text}, {self.shape.format(size)})"
        return text


class JaxSequencePrinter(SequencePrinter, JaxStepPrinter):
    """Expressions over all steps (each forward value by its (T, B, H) array) as JAX code."""

    shape = "(T, B, {})"
