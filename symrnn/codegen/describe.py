"""A layer plan as readable text: :meth:`symrnn.codegen.plan.LayerPlan.describe`.

Each section is one decision of the plan; statements print as SymPy
expressions (``c <- add(c_prev*f, g*i)``: c computed in place by an
addition). Nothing here is generated code.

Imports: names only.
"""

from . import names


def describe_layer(plan):
    sections = [
        ("groups (slots " + ", ".join(s.name for s in plan.slots) + ")", [_group(g) for g in plan.groups]),
        ("fused sums", [_fused(f) for f in plan.fused_sums]),
        ("exp factors", [f"{plan.group(e.group).label}: {e.factors} (in {names.exp_factors(plan.group(e.array_of))})"
                         for e in plan.exp_scalings]),
        ("kept for backward", [_kept(k) for k in plan.kept]),
        ("recomputable from the kept values", [f"{r.value} = {r.expr}" for r in plan.recomputable]),
        ("cache", [f"{names.cache_key(e)}: {e.role.name.lower()}, batch axis {e.batch_axis}" for e in plan.cache]),
        ("forward step", [str(s) for s in plan.forward_step]),
        ("local derivatives", [_local(d) for d in plan.backward.local_derivatives]),
        ("backward step", [str(s) for s in plan.backward.loads + plan.backward.step]),
        ("window step", [str(s) for s in plan.backward.window_step]),
        ("parameters read", [f"forward: {', '.join(plan.forward_params)}",
                             f"backward: {', '.join(plan.backward_params)}"]),
        ("functions computed by their runtime form", [
            f"forward: {', '.join(f.__name__ for f in plan.forward_functions)}",
            f"backward: {', '.join(f.__name__ for f in plan.backward_functions)}"]),
    ]
    lines = []
    for title, items in sections:
        lines.append(f"{title}:")
        lines += [f"  {item}" for item in items] or ["  (none)"]
    return "\n".join(lines)


def _group(group):
    where = "hoisted, all steps before the loop" if group.hoisted else "in the loop"
    weights = ", ".join(m.weight.name + ("^T" if m.transposed else "") for m in group.members)
    return f"{group.label}: {weights} times {group.arg} ({where}), slots {group.start}:{group.stop}"


def _fused(fused):
    exp = f", activated from exp with factors {fused.exp}" if fused.exp else ""
    pres = ", ".join(p.name for p in fused.pres)
    return f"{fused.store} = ({pres}): {fused.loop.label}'s product + {fused.hoisted.label}'s from {fused.offset}{exp}"


def _kept(kept):
    where = f"gate {kept.index} of {kept.store}" if kept.store is not None else "its own store"
    return f"{kept.value} in {where}"


def _local(d):
    how = "; ".join(map(str, d.statements)) or "copied"
    return f"{d.slot} = {d.adjoint} * ({d.coefficient}): {how}"

