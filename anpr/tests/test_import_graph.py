"""No import circles: between the project's modules, and between its apps.

The graph is read from the source with `ast`, so it holds every import: module-level and
function-local (a local import that dodges a cycle at load time is still a cycle of design),
relative imports resolved. `from package import name` counts as an import of the submodule
when `name` is one. Tests, conftest files and migrations may import across apps (fixtures
build other apps' rows), so they count for module cycles but not for the app rule.
"""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
APPS = ("anpr", "core", "cameras", "events", "exporters", "watchlists", "devtools")

#: Which of our apps each app may import. `anpr` is the project's wiring (settings, urls,
#: servers, Celery): it may import every app, and only management commands (entry points
#: nothing imports) may import it. `core` is the plumbing every app may import; it imports no
#: app. `devtools` (benchmarks, not in the image) may import
#: anything, and nothing imports it.
ALLOWED = {
    "core": set(),
    "cameras": {"core"},
    "events": {"core", "cameras"},
    # Exporters send watchlist hits and filter by watchlist; watchlists know no exporter.
    "exporters": {"core", "events", "cameras", "watchlists"},
    "watchlists": {"core", "cameras", "events"},
    "devtools": {"core", "cameras", "events", "exporters", "watchlists", "anpr"},
}


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _project_files() -> dict[str, Path]:
    files = {}
    for app in APPS:
        for path in (ROOT / app).rglob("*.py"):
            files[_module_name(path)] = path
    files["conftest"] = ROOT / "conftest.py"
    return files


def _imports(name: str, path: Path, modules: set[str]) -> set[str]:
    """The project modules that module `name` (at `path`) imports, anywhere in it."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            targets = [
                f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base
                for alias in node.names
            ]
        else:
            continue
        for target in targets:
            # `import a.b.c` names a.b.c; the closest project module is the one meant.
            while target and target not in modules:
                target = target.rpartition(".")[0]
            if target and target != name:
                found.add(target)
    return found


def _graph() -> dict[str, set[str]]:
    files = _project_files()
    modules = set(files)
    return {name: _imports(name, path, modules) for name, path in files.items()}


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """One cycle per strongly connected component that has one (Tarjan's algorithm)."""
    index, low, stack, on_stack, cycles = {}, {}, [], set(), []

    def visit(node):
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(graph.get(node, ())):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                cycles.append(_cycle_through(graph, set(component)))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return cycles


def _cycle_through(graph, component: set[str]) -> list[str]:
    """A concrete cycle inside a strongly connected component, for the failure message."""
    start = min(component)
    paths = {start: [start]}
    frontier = [start]
    while frontier:
        node = frontier.pop(0)
        for target in sorted(graph[node] & component):
            if target == start:
                return [*paths[node], start]
            if target not in paths:
                paths[target] = [*paths[node], target]
                frontier.append(target)
    return sorted(component)


def _app_of(module: str) -> str | None:
    """The app a module counts for in the app rule; None for tests, migrations, conftest."""
    parts = module.split(".")
    if parts[0] not in APPS or {"tests", "migrations"} & set(parts):
        return None
    return parts[0]


def _app_graph(graph) -> dict[str, dict[str, tuple[str, str]]]:
    """{app: {app it imports: one (importer, imported) pair as the example}}."""
    apps: dict[str, dict[str, tuple[str, str]]] = {}
    for module, targets in graph.items():
        source = _app_of(module)
        if source is None:
            continue
        for target in sorted(targets):
            destination = _app_of(target)
            if destination and destination != source:
                apps.setdefault(source, {}).setdefault(destination, (module, target))
    return apps


def _allowed(source: str, destination: str, importer: str) -> bool:
    if source == "anpr":
        return destination != "devtools"
    if destination == "anpr":
        return ".management.commands." in importer or source == "devtools"
    return destination in ALLOWED.get(source, set())


def test_no_import_cycle_between_modules():
    cycles = _cycles(_graph())
    assert not cycles, "Import cycles between modules:\n" + "\n".join(
        " -> ".join(cycle) for cycle in cycles
    )


def test_apps_import_only_what_they_are_allowed_to():
    refused = sorted(
        f"{source} -> {destination} ({module} imports {target})"
        for module, targets in _graph().items()
        if (source := _app_of(module)) is not None
        for target in targets
        if (destination := _app_of(target)) not in (None, source)
        and not _allowed(source, destination, module)
    )
    assert not refused, "App imports outside the declared dependencies:\n" + "\n".join(refused)


def test_no_import_cycle_between_apps():
    apps = _app_graph(_graph())
    cycles = _cycles({source: set(targets) for source, targets in apps.items()})
    assert not cycles, "Import cycles between apps:\n" + "\n".join(
        " -> ".join(cycle) for cycle in cycles
    )


def test_the_graph_sees_local_and_relative_imports(tmp_path):
    """The reader itself: a function-local relative import is an edge (else cycles hide)."""
    package = tmp_path / "pkg"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "a.py").write_text("def f():\n    from .b import g\n")
    (package / "b.py").write_text("from pkg import a\nimport pkg.c\n")
    (package / "c.py").write_text("from . import a\n")
    modules = {"pkg", "pkg.a", "pkg.b", "pkg.c"}
    assert _imports("pkg.a", package / "a.py", modules) == {"pkg.b"}
    assert _imports("pkg.b", package / "b.py", modules) == {"pkg.a", "pkg.c"}
    assert _imports("pkg.c", package / "c.py", modules) == {"pkg.a"}
    graph = {
        name: _imports(name, package / f"{name[4:]}.py", modules) for name in modules - {"pkg"}
    }
    assert _cycles(graph) == [["pkg.a", "pkg.b", "pkg.a"]]
