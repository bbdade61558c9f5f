"""Mutants generated from a module's syntax tree: comparisons, boolean and arithmetic
operators swapped, conditions negated, constants changed, return values replaced, statements
and keyword arguments deleted, a few look-alike functions swapped."""

import ast
import copy
from dataclasses import dataclass, replace
from pathlib import Path

from mutation_testing import ROOT

_COMPARE_SWAPS = {
    ast.Eq: (ast.NotEq,),
    ast.NotEq: (ast.Eq,),
    ast.Lt: (ast.GtE, ast.LtE),
    ast.LtE: (ast.Gt, ast.Lt),
    ast.Gt: (ast.LtE, ast.GtE),
    ast.GtE: (ast.Lt, ast.Gt),
    ast.In: (ast.NotIn,),
    ast.NotIn: (ast.In,),
    ast.Is: (ast.IsNot,),
    ast.IsNot: (ast.Is,),
}
_BINOP_SWAPS = {ast.Add: ast.Sub, ast.Sub: ast.Add, ast.Mult: ast.Div, ast.Div: ast.Mult}
_NAME_SWAPS = {"min": "max", "max": "min", "any": "all", "all": "any", "sha256": "sha1"}
_DELETABLE = (
    ast.Expr,
    ast.Assign,
    ast.AugAssign,
    ast.AnnAssign,
    ast.Raise,
    ast.Break,
    ast.Continue,
    ast.If,
    ast.For,
    ast.With,
    ast.Try,
)


@dataclass(frozen=True)
class Mutant:
    path: str
    index: int  # the node's position in ast.walk order of the module
    kind: str
    scope: str  # the enclosing top-level definition
    line: int
    before: str
    after: str
    edit: object  # node -> replacement node, applied to a fresh copy
    nth: int = 1  # the same change in the same definition: which occurrence (source order)

    @property
    def key(self) -> tuple[str, str, str]:
        change = f"{self.before} -> {self.after}" + (f" #{self.nth}" if self.nth > 1 else "")
        return (self.path, self.scope, change)

    def __str__(self) -> str:
        return f"{self.path}:{self.line} [{self.scope}] {self.kind}: {self.key[2]}"


def _skipped_nodes(tree: ast.Module) -> set[int]:
    """Nodes never mutated: docstrings, imports, annotations, f-string format specs."""
    skipped = set()

    def skip(node):
        if node is not None:
            skipped.update(id(n) for n in ast.walk(node))

    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if isinstance(body, list) and body and isinstance(body[0], ast.Expr):
            if isinstance(body[0].value, ast.Constant) and isinstance(body[0].value.value, str):
                skip(body[0])
        if isinstance(node, ast.Import | ast.ImportFrom | ast.Global | ast.Nonlocal):
            skip(node)
        if isinstance(node, ast.arg):
            skip(node.annotation)
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            skip(node.returns)
        if isinstance(node, ast.AnnAssign):
            skip(node.annotation)
        if isinstance(node, ast.FormattedValue):
            skip(node.format_spec)
    return skipped


def _scopes(tree: ast.Module, names) -> dict[int, str]:
    """id(node) -> the top-level definition it belongs to, for the names to mutate."""
    scopes = {}
    for statement in tree.body:
        if isinstance(statement, ast.FunctionDef | ast.ClassDef | ast.AsyncFunctionDef):
            name = statement.name
        elif isinstance(statement, ast.Assign | ast.AnnAssign):
            targets = statement.targets if isinstance(statement, ast.Assign) else [statement.target]
            name = ",".join(t.id for t in targets if isinstance(t, ast.Name)) or "<module>"
        else:
            continue
        if names is None or name in names:
            scopes.update((id(n), name) for n in ast.walk(statement))
    return scopes


def _edits(node):
    """(kind, replacement builder) for each mutation of this one node."""
    if isinstance(node, ast.Compare):
        for position, op in enumerate(node.ops):
            for swap in _COMPARE_SWAPS.get(type(op), ()):

                def edit(n, position=position, swap=swap):
                    n.ops[position] = swap()
                    return n

                yield "comparison swapped", edit
    elif isinstance(node, ast.BoolOp):
        other = ast.Or if isinstance(node.op, ast.And) else ast.And
        yield "boolean operator swapped", lambda n, other=other: ast.BoolOp(other(), n.values)
    elif isinstance(node, ast.BinOp) and type(node.op) in _BINOP_SWAPS:
        swap = _BINOP_SWAPS[type(node.op)]
        yield "operator swapped", lambda n, swap=swap: ast.BinOp(n.left, swap(), n.right)
    elif isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not | ast.USub):
        yield "unary operator removed", lambda n: n.operand
    elif isinstance(node, ast.Constant):
        value = node.value
        if isinstance(value, bool):
            yield "constant changed", lambda n: ast.Constant(not n.value)
        elif isinstance(value, int | float):
            yield "constant changed", lambda n: ast.Constant(n.value + 1)
        elif isinstance(value, str | bytes):
            empty = value[:0]
            new = empty if value else (b"X" if isinstance(value, bytes) else "X")
            yield "constant changed", lambda n, new=new: ast.Constant(new)
    elif isinstance(node, ast.Name | ast.Attribute):
        name = node.id if isinstance(node, ast.Name) else node.attr
        if name in _NAME_SWAPS:
            swap = _NAME_SWAPS[name]

            def edit(n, swap=swap):
                setattr(n, "id" if isinstance(n, ast.Name) else "attr", swap)
                return n

            yield "name swapped", edit
    elif isinstance(node, ast.Return) and node.value is not None:
        if not (isinstance(node.value, ast.Constant) and node.value.value is None):
            yield "return value replaced", lambda n: ast.Return(ast.Constant(None))
    # (a comparison, `and`/`or` and `not` have their own mutations above)
    if isinstance(node, ast.If | ast.IfExp | ast.While) and not (
        isinstance(node.test, ast.Compare | ast.BoolOp)
        or (isinstance(node.test, ast.UnaryOp) and isinstance(node.test.op, ast.Not))
    ):
        yield (
            "condition negated",
            lambda n: type(n)(
                **{**{f: getattr(n, f) for f in n._fields}, "test": ast.UnaryOp(ast.Not(), n.test)}
            ),
        )
    if isinstance(node, _DELETABLE):
        yield "statement deleted", lambda n: ast.Pass()
    if isinstance(node, ast.Call):
        for position, keyword in enumerate(node.keywords):
            if keyword.arg is not None:

                def edit(n, position=position):
                    del n.keywords[position]
                    return n

                yield f"keyword {keyword.arg}= deleted", edit


def _replace(tree: ast.Module, index: int, edit) -> ast.Module:
    """A copy of the tree with the node at `index` (ast.walk order) replaced by edit(node)."""
    tree = copy.deepcopy(tree)
    nodes = list(ast.walk(tree))
    target = nodes[index]
    replacement = edit(target)
    if replacement is not target:
        for parent in nodes:
            for field, value in ast.iter_fields(parent):
                if value is target:
                    setattr(parent, field, replacement)
                elif isinstance(value, list) and any(item is target for item in value):
                    value[[item is target for item in value].index(True)] = replacement
    return ast.fix_missing_locations(tree)


def mutants_of(path: str, names, root: Path = ROOT) -> list[Mutant]:
    source = (root / path).read_text()
    tree = ast.parse(source)
    skipped = _skipped_nodes(tree)
    scopes = _scopes(tree, names)
    found = []
    for index, node in enumerate(ast.walk(tree)):
        if id(node) in skipped or id(node) not in scopes:
            continue
        for kind, edit in _edits(node):
            mutated = _replace(tree, index, edit)
            after_node = list(ast.walk(mutated))[index]
            before = ast.unparse(node) if not isinstance(node, ast.stmt) else _first_line(node)
            after = (
                _first_line(after_node)
                if isinstance(after_node, ast.stmt)
                else ast.unparse(after_node)
            )
            if kind.startswith("keyword") or kind == "statement deleted":
                after = "pass" if kind == "statement deleted" else after
            found.append(
                Mutant(path, index, kind, scopes[id(node)], node.lineno, before, after, edit)
            )
    # Numbered in source order, so that a key does not depend on line numbers or walk order.
    found.sort(key=lambda m: (m.line, m.index))
    seen: dict[tuple, int] = {}
    for position, mutant in enumerate(found):
        seen[mutant.key] = seen.get(mutant.key, 0) + 1
        found[position] = replace(mutant, nth=seen[mutant.key])
    return found


def _first_line(node) -> str:
    return ast.unparse(node).splitlines()[0]


def mutated_source(mutant: Mutant, source: str) -> str:
    """The mutant applied to `source`, the text its mutants were generated from."""
    return ast.unparse(_replace(ast.parse(source), mutant.index, mutant.edit))
