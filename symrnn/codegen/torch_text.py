"""PyTorch spelling shared by the torch emitter's parts: expressions of one
step and over all steps (the NumPy printers' array names and views, which
torch indexes the same way, printed by :class:`FusingTorchPrinter`), and
in-place statements as torch calls writing through ``out=``.

Every torch call on the CPU costs a dispatch (a few microseconds, as much as
the arithmetic on a (32, 128) tensor), so a sum is spelled with torch's fused
calls where one fits: a term that is a matrix product as ``torch.addmm`` of
the other terms, else a term that is a product of factors as
``torch.addcmul``; ``x**2`` is ``torch.square(x)`` (``**`` dispatches pow).

Imports: the graph's ``is_param``, the torch printer, the rule table, the statements and the
NumPy spelling helpers whose text torch shares (views, array names).
"""

import sympy

from ..graph import is_param
from ..printing import TorchCodePrinter, fused_dot_t
from ..rules import dot, dot_t, function_rule, is_units, step
from .numpy_text import SequencePrinter, StepPrinter
from .statements import Op

# The torch call of each in-place operation that writes through ``out=``, and
# the operator of each augmented assignment (the same as NumPy's).
TORCH_CALLS = {Op.ADD: "torch.add", Op.SUBTRACT: "torch.sub", Op.MULTIPLY: "torch.mul", Op.SQUARE: "torch.square"}
AUGMENTED = {Op.IADD: "+=", Op.ISUB: "-=", Op.IMUL: "*="}


def new_array(shape):
    """A buffer of the layer's dtype and device."""
    return f"inputs.new_empty({shape})"


class TorchPrinter(TorchCodePrinter):
    """The torch printer, with the row mean as a call of its own: the rule
    row's method form ``{0}.mean(...)`` binds to the last factor of a
    product it is given (``a/b**3.mean()``)."""

    def _print_mean(self, expr):
        return f"torch.mean({self._print(expr.args[0])}, dim=-1, keepdim=True)"


def torch_text(expr):
    """``expr`` as torch code (:class:`TorchPrinter`)."""
    return TorchPrinter().doprint(expr)


class FusingTorchPrinter(TorchPrinter):
    """The torch printer, spelling a sum with ``torch.addmm`` or
    ``torch.addcmul`` where one of its terms is a matrix product or a
    product of factors and the rest is a tensor (not a number);
    ``operands(product)`` gives the (operand, weights) text of a product."""

    def __init__(self, fused_products, operands):
        super().__init__(fused_products)
        self.operands = operands

    def _print_Add(self, expr, order=None):
        negated_step = self._print_Add_of_step(expr)
        if negated_step is not None:
            return negated_step
        fused = fused_call(self, expr.args)
        return fused if fused is not None else super()._print_Add(expr, order)

    def _print_Add_of_step(self, expr):
        """1 - step(u) (the adjoint max(a, b) sends to b) as a negated
        comparison: torch refuses to subtract a bool tensor; else None."""
        if len(expr.args) == 2 and sympy.S.One in expr.args:
            (other,) = (a for a in expr.args if a != 1)
            if isinstance(-other, step):
                return f"(~({self._print((-other).args[0])} > 0))"
        return None

    def _print_Pow(self, expr, rational=False):
        if expr.exp == 2:
            return f"torch.square({self._print(expr.base)})"
        return super()._print_Pow(expr, rational)


PRODUCTS = (dot, dot_t, fused_dot_t)


def fused_call(printer, terms, out=None):
    """``torch.addmm``/``torch.addcmul`` of the sum of ``terms`` (written into
    ``out``, a symbol, if given), or None where neither fits. A product that
    reads ``out`` is not fused (addmm must not write into what it multiplies;
    an elementwise call may write into an operand of its own shape)."""
    tail = f", out={out.name}" if out is not None else ""
    for k, term in enumerate(terms):
        rest = sympy.Add(*terms[:k], *terms[k + 1:])
        if not broadcast_free(rest) and not _is_param_only(rest):
            continue
        sign, core = (-1, -term) if term.could_extract_minus_sign() else (1, term)
        if isinstance(core, PRODUCTS) and out not in core.free_symbols:
            operand, weights = printer.operands(core)
            alpha = ", alpha=-1" if sign < 0 else ""
            return f"torch.addmm({printer._print(rest)}, {operand}, {weights}{alpha}{tail})"
    for k, term in enumerate(terms):
        rest = sympy.Add(*terms[:k], *terms[k + 1:])
        if not broadcast_free(rest) and not _is_param_only(rest):
            continue
        coefficient, factors = term.as_coeff_mul()
        # as_coeff_mul takes out a rational coefficient only: a real constant (0.01*a) and a
        # size (1/H, a Python int in the code) join it
        coefficient *= sympy.Mul(*(f for f in factors if _is_constant(f)))
        factors = tuple(f for f in factors if not _is_constant(f))
        if len(factors) < 2 or not coefficient.is_number or any(isinstance(f, PRODUCTS) for f in factors):
            continue
        value = "" if coefficient == 1 else f", value={printer._print(coefficient)}"
        first, others = factors[0], sympy.Mul(*factors[1:])
        return f"torch.addcmul({printer._print(rest)}, {printer._print(first)}, {printer._print(others)}{value}{tail})"
    return None


def _is_constant(factor):
    """A number, or made of numbers and sizes of vectors (1/H) only."""
    return factor.is_number or all(is_units(s) for s in factor.free_symbols)


def function_args(show, expr):
    """The argument texts (``show(arg)``) of a function application: a
    number beside a tensor (max(a, 0.5)) as a 0-d tensor of the other's
    dtype and device, since torch.maximum takes tensors only."""
    texts = [show(a) for a in expr.args]
    if len(texts) < 2:
        return texts
    tensor = next(t for a, t in zip(expr.args, texts) if not a.is_number)
    return [f"{tensor}.new_tensor({t})" if a.is_number else t for a, t in zip(expr.args, texts)]


def _is_param_only(expr):
    """A tensor of parameters only (a bias), not a number."""
    symbols = sympy.sympify(expr).free_symbols
    return bool(symbols) and all(is_param(s) for s in symbols)


class TorchStepPrinter(StepPrinter):
    """Prints a plan's expressions of one step as torch code."""

    def show(self, expr):
        return FusingTorchPrinter(self.fused, self.torch_operands).doprint(expr)

    def torch_operands(self, product):
        """(operand, weights) of a matrix product, as ``torch.addmm`` takes them."""
        operand, weights = self.matmul_operands(product)
        return operand, f"{weights}.T" if isinstance(product, dot) else weights

    def in_place(self, statement):
        """The line of an :class:`~symrnn.codegen.statements.InPlace` statement.
        torch's ``out=`` does not broadcast, as NumPy's does: an operation of
        parameters only (b_a * b_c into a (T, B, H) slot) is assigned instead."""
        target, op, args = statement.target.name, statement.op, statement.args
        if op in TORCH_CALLS and not any(broadcast_free(a) for a in args):
            value = {Op.ADD: sympy.Add, Op.SUBTRACT: lambda a, b: a - b, Op.MULTIPLY: sympy.Mul,
                     Op.SQUARE: lambda a: a**2}[op](*args)
            return f"{target}[...] = {self.show(value)}"
        fused = self.fused_in_place(statement)
        if fused is not None:
            return fused
        if op in AUGMENTED:
            return f"{target} {AUGMENTED[op]} {self.show(args[0])}"
        if op is Op.FILL:
            return f"{target}[...] = {self.show(args[0])}"
        if op is Op.APPLY:
            (expr,) = args
            return function_rule(expr).torch_out.format(*function_args(self.show, expr), target)
        if op is Op.MATMUL:
            operand, weights = self.matmul_operands(args[0])
            return f"torch.matmul({operand}, {weights}, out={target})"
        return f"{TORCH_CALLS[op]}({', '.join(self.show(a) for a in args)}, out={target})"

    def fused_in_place(self, statement):
        """A sum written into its target (``+=``, ``-=``, ``out=``) as one
        ``torch.addmm``/``torch.addcmul``, or None."""
        target, op, args = statement.target, statement.op, statement.args
        total = {Op.IADD: lambda: target + args[0], Op.ISUB: lambda: target - args[0],
                 Op.ADD: lambda: args[0] + args[1], Op.SUBTRACT: lambda: args[0] - args[1]}.get(op)
        if total is None:
            return None
        total = self.prepared(total())  # over all steps: each value by its array, as show prints it
        if not isinstance(total, sympy.Add) or not broadcast_free(total):
            return None
        printer = FusingTorchPrinter(self.fused, self.torch_operands)
        return fused_call(printer, total.args, out=target)


def broadcast_free(expr):
    """Whether ``expr`` has the shape of the step's arrays: it mentions a value, not only parameters."""
    return any(not is_param(s) for s in sympy.sympify(expr).free_symbols)


class TorchSequencePrinter(SequencePrinter, TorchStepPrinter):
    """Expressions over all steps (each forward value by its (T, B, H) array) as torch code."""
