"""SymPy questions the planner asks of the derived equations: which adjoint a
term flows from, how many NumPy operations an expression costs, which form of
it is cheapest, and the adjoint equations with one-multiple adjoints inlined.

Everything here takes and returns SymPy objects; nothing prints.

Imports: naming and the rule table's structural primitives (products, mean) only.
"""

from dataclasses import dataclass

import sympy

from .. import naming
from ..rules import dot, dot_t, mean


def adjoint_symbols(adjoints, cell):
    """Every symbol of a backward step that holds an adjoint."""
    symbols = {lhs for lhs, _ in adjoints.equations}
    symbols |= {v for v in adjoints.node_adjoint.values() if isinstance(v, sympy.Symbol)}
    symbols |= {sympy.Symbol(naming.next_adjoint_name(s.name)) for s in cell.states}
    return symbols | {sympy.Symbol(naming.output_adjoint_name(cell.output_state.name))}


def split_term(term, adjoint_syms):
    """``(adjoint, coefficient)`` of a product of one adjoint symbol and
    forward values only (d_c*c_prev*f*(1 - f) -> d_c, c_prev*f*(1 - f)), else None."""
    factors = sympy.Mul.make_args(term)
    flowing = [f for f in factors if f.free_symbols & adjoint_syms or f.has(dot_t)]
    if len(flowing) != 1 or flowing[0] not in adjoint_syms:
        return None
    return flowing[0], sympy.Mul(*[f for f in factors if f != flowing[0]])


@dataclass(frozen=True)
class Flow:
    """The adjoint equations as the generated step computes them: ``equations``
    ((lhs, rhs) pairs), each input's and parameter's adjoint terms, and the
    symbols that still hold adjoints once inlined ones are gone."""

    equations: tuple
    inputs: dict
    params: dict
    adjoint_syms: frozenset


def inline_adjoints(adjoints, slots, adjoint_syms):
    """Substitute every intermediate adjoint that is one multiple of another
    (d_f = c_prev*d_c) into its uses: each slot's adjoint then reads as the
    adjoint it is a multiple of times forward values only (d_pre_f =
    d_c*c_prev*f*(1 - f)), and those values are known before the loop.
    An adjoint that other expressions read as well (:func:`shared_adjoints`)
    keeps its name: substituted, each of them would compute it again."""
    shared = shared_adjoints(adjoints, slots, adjoint_syms)
    inline, equations = {}, []
    for lhs, rhs in adjoints.equations:
        rhs = rhs.xreplace(inline)
        if lhs not in slots and lhs not in shared and split_term(rhs, adjoint_syms) is not None:
            inline[lhs] = rhs
        else:
            equations.append((lhs, rhs))
    inputs = {k: sympy.sympify(v).xreplace(inline) for k, v in adjoints.inputs.items()}
    params = {k: tuple(t.xreplace(inline) for t in v) for k, v in adjoints.params.items()}
    return Flow(tuple(equations), inputs, params, frozenset(adjoint_syms - set(inline)))


def shared_adjoints(adjoints, slots, adjoint_syms):
    """One-multiple adjoints with two uses or more, one of them not a slot's
    or another one-multiple's equation (which inlining keeps one product):
    a sum of terms, a parameter's term or a carry reads it (layer
    normalization's d_pre_f, read by d_mf, by d_mean's argument and by the
    gain's and bias's terms)."""
    multiples = {lhs for lhs, rhs in adjoints.equations if split_term(rhs, adjoint_syms) is not None}
    flowing = set(slots) | multiples
    readers = [(lhs, rhs) for lhs, rhs in adjoints.equations]
    readers += [(None, rhs) for rhs in adjoints.inputs.values()]
    readers += [(None, term) for terms in adjoints.params.values() for term in terms]
    shared = set()
    for adjoint in multiples - set(slots):
        uses = [lhs for lhs, rhs in readers if adjoint in sympy.sympify(rhs).free_symbols]
        if len(uses) > 1 and any(lhs not in flowing for lhs in uses):
            shared.add(adjoint)
    return shared


def means_factored(flow, per_item):
    """``flow`` with every mean(k*v) written k*mean(v), k the factors with one
    number per item (numbers, and ``per_item`` symbols and their powers): the
    mean is linear and k is constant over the units it averages, so the
    full-size multiplications by k leave the mean (layer normalization's
    mean(-1/2*d*g*m/s**3) becomes -1/2*mean(d*g*m)/s**3, mean(-d) -mean(d))."""
    def factored(expr):
        return _factor_means(sympy.sympify(expr), per_item, {})

    return Flow(tuple((lhs, factored(rhs)) for lhs, rhs in flow.equations),
                {k: factored(v) for k, v in flow.inputs.items()},
                {k: tuple(factored(t) for t in v) for k, v in flow.params.items()},
                flow.adjoint_syms)


def _factor_means(expr, per_item, memo):
    if not expr.args:
        return expr
    if expr not in memo:
        args = [_factor_means(a, per_item, memo) for a in expr.args]
        if isinstance(expr, mean):
            factors = sympy.Mul.make_args(args[0])
            outside = [f for f in factors if _one_per_item(f, per_item)]
            inside = [f for f in factors if not _one_per_item(f, per_item)]
            memo[expr] = sympy.Mul(*outside) * mean(sympy.Mul(*inside)) if inside else args[0]
        elif all(new is old for new, old in zip(args, expr.args)):
            memo[expr] = expr
        else:
            memo[expr] = expr.func(*args)
    return memo[expr]


def _one_per_item(factor, per_item):
    """A number, a per-item symbol, or a power of one with a number exponent."""
    base, exponent = factor.as_base_exp()
    return factor.is_Number or (base in per_item and exponent.is_Number)


def operations(expr):
    """How many elementwise NumPy operations printing ``expr`` makes."""
    count = 0
    for sub in sympy.preorder_traversal(expr):
        if isinstance(sub, (sympy.Add, sympy.Mul)):
            count += len([a for a in sub.args if a != -1]) - 1
        elif isinstance(sub, (sympy.Pow, sympy.Function)):
            count += 1
    return count


def fewest_operations(expr):
    """``expr`` or it collected in one of its symbols, whichever needs the fewest
    operations: (1 - z)*h_prev + z*g becomes h_prev + z*(g - h_prev)."""
    if expr.atoms(sympy.Function):
        return expr
    expanded = sympy.expand(expr)
    candidates = [expr] + [sympy.collect(expanded, s) for s in sorted(expr.free_symbols, key=lambda s: s.name)]
    return min(candidates, key=operations)


def is_hoisted_product(term, hoisted):
    """``term`` is a product of ``hoisted`` (w^T·d, or w·d of a transposed
    member), or a multiple k of one: the engine adds up k nodes that multiply
    the input by one weight and share one adjoint (w_a·x twice in a cell),
    each a member of a hoisted group."""
    count, product = term.as_coeff_Mul()
    return count.is_Integer and count > 0 and isinstance(product, (dot, dot_t)) and product in hoisted


def negated(expr):
    """``expr`` is -1 times something (it prints with a leading minus)."""
    return isinstance(expr, sympy.Mul) and expr.args[0] == -1


def is_simple(expr):
    """A symbol, a number, or a negated symbol: no NumPy call of its own in a sum."""
    return isinstance(expr, (sympy.Symbol, sympy.Number)) or (
        negated(expr) and len(expr.args) == 2 and isinstance(expr.args[1], sympy.Symbol))


def free_symbols(exprs):
    """The symbols of every expression of ``exprs``."""
    return set().union(*(sympy.sympify(e).free_symbols for e in exprs))
