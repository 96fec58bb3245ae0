"""PyTorch spelling shared by the torch emitter's parts: expressions of one
step and over all steps (the NumPy printers' array names and views, which
torch indexes the same way, printed by :class:`~symrnn.printing.TorchCodePrinter`),
and in-place statements as torch calls writing through ``out=``.

Imports: the graph's ``is_param``, the torch printer, the rule table, the statements and the
NumPy spelling helpers whose text torch shares (views, array names).
"""

import sympy

from ..graph import is_param
from ..printing import torch_code
from ..rules import function_rule
from .numpy_text import SequencePrinter, StepPrinter
from .statements import Op

# The torch call of each in-place operation that writes through ``out=``, and
# the operator of each augmented assignment (the same as NumPy's).
TORCH_CALLS = {Op.ADD: "torch.add", Op.SUBTRACT: "torch.sub", Op.MULTIPLY: "torch.mul", Op.SQUARE: "torch.square"}
AUGMENTED = {Op.IADD: "+=", Op.ISUB: "-=", Op.IMUL: "*="}


def new_array(shape):
    """A buffer of the layer's dtype and device."""
    return f"inputs.new_empty({shape})"


class TorchStepPrinter(StepPrinter):
    """Prints a plan's expressions of one step as torch code."""

    def show(self, expr):
        return torch_code(expr, self.fused)

    def in_place(self, statement):
        """The line of an :class:`~symrnn.codegen.statements.InPlace` statement.
        torch's ``out=`` does not broadcast, as NumPy's does: an operation of
        parameters only (b_a * b_c into a (T, B, H) slot) is assigned instead."""
        target, op, args = statement.target.name, statement.op, statement.args
        if op in TORCH_CALLS and not any(broadcast_free(a) for a in args):
            value = {Op.ADD: sympy.Add, Op.SUBTRACT: lambda a, b: a - b, Op.MULTIPLY: sympy.Mul,
                     Op.SQUARE: lambda a: a**2}[op](*args)
            return f"{target}[...] = {self.show(value)}"
        if op in AUGMENTED:
            return f"{target} {AUGMENTED[op]} {self.show(args[0])}"
        if op is Op.FILL:
            return f"{target}[...] = {self.show(args[0])}"
        if op is Op.APPLY:
            (expr,) = args
            return function_rule(expr).torch_out.format(self.show(expr.args[0]), target)
        if op is Op.MATMUL:
            operand, weights = self.matmul_operands(args[0])
            return f"torch.matmul({operand}, {weights}, out={target})"
        return f"{TORCH_CALLS[op]}({', '.join(self.show(a) for a in args)}, out={target})"


def broadcast_free(expr):
    """Whether ``expr`` has the shape of the step's arrays: it mentions a value, not only parameters."""
    return any(not is_param(s) for s in sympy.sympify(expr).free_symbols)


class TorchSequencePrinter(SequencePrinter, TorchStepPrinter):
    """Expressions over all steps (each forward value by its (T, B, H) array) as torch code."""
