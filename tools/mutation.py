"""Mutation testing of the security-critical units: a mutant the unit's own tests accept is a
bug they would let back in (issue 14).

The mutants are generated from each unit's syntax tree (comparisons and boolean operators
swapped, arithmetic swapped, conditions negated, constants changed, return values replaced,
statements and keyword arguments deleted, a few look-alike functions swapped). Each is applied
alone to a copy of the checkout and the unit's tests run there with `pytest -x -q`; failing
tests kill it. Mutants that cannot change behaviour are listed in EQUIVALENT with the reason.
The changes issue 14 found surviving (ISSUE_CHANGES) are run as well and must all be killed.

    python tools/mutation.py                  # every unit; exits 1 below --threshold (90%)
    python tools/mutation.py --unit signing   # one unit (see UNITS)
    python tools/mutation.py --list           # print the mutants, run nothing
    python tools/mutation.py --unit transport --match request_send   # some of them

It needs what the tests need (DATABASE_URL, REDIS_URL, ...) and is slow (minutes per unit),
so it is not part of the test command.
"""

import argparse
import ast
import copy
import os
import shutil
import signal
import sys
import tempfile
import time
from dataclasses import dataclass, replace
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Unit:
    """Files to mutate (path -> top-level names to mutate, or None for the whole module) and
    the tests that own them."""

    targets: dict[str, tuple[str, ...] | None]
    tests: tuple[str, ...]


UNITS = {
    "signing": Unit(
        targets={"exporters/signing.py": None},
        tests=("exporters/tests/test_signing_exact.py",),
    ),
    "transport": Unit(
        targets={"exporters/transport.py": None},
        tests=("exporters/tests/test_transport_exact.py", "exporters/tests/test_tls.py"),
    ),
    "plate_keys": Unit(
        targets={
            "events/reads.py": (
                "OCR_CONFUSION_GROUPS",
                "_FOLD",
                "_PLATE_CHARS",
                "plate_normalize",
                "plate_confusion_key",
            )
        },
        tests=("events/tests/test_plate_keys.py",),
    ),
    "device_auth": Unit(
        targets={
            "cameras/authentication.py": None,
            "cameras/selectors.py": ("_device_for_digest",),
            "events/api/ingest.py": ("json_ingest_directly",),
        },
        tests=("cameras/tests/test_device_auth_exact.py",),
    ),
}

#: (file, enclosing definition, mutation as printed) -> why no test can tell it apart.
EQUIVALENT = {
    ("exporters/signing.py", "signature_verify", "1 -> 2 #3"): (
        "the maxsplit of our own header's split on 'v1=': it holds 'v1=' once"
    ),
    ("exporters/signing.py", "signature_verify", "'' -> 'X'"): (
        "the stand-in for a missing v1: '' and 'X' both differ from a 64-digit MAC"
    ),
    (
        "exporters/transport.py",
        "destination_resolve",
        "socket.getaddrinfo(parts.hostname, port, type=socket.SOCK_STREAM) -> "
        "socket.getaddrinfo(parts.hostname, port)",
    ): "the same addresses, once per socket type; the first allowed one is the same",
    ("exporters/transport.py", "destination_resolve", "1 -> 2"): (
        "the maxsplit on '%': an address holds one zone separator at most"
    ),
    (
        "exporters/transport.py",
        "PinnedAddressAdapter",
        "hostname and host_params['scheme'] == 'https' -> "
        "hostname or host_params['scheme'] == 'https'",
    ): "a server name on a plain-HTTP pool is never used",
    ("exporters/transport.py", "_session_pid", "_session_pid: int | None = None -> pass"): (
        "read only after `_session is None` was false, i.e. after session() set it"
    ),
    **{
        ("exporters/transport.py", "session", change): (
            "how many connections the pool keeps for reuse (or urllib3's default of 0 "
            "retries, which is ours): every request is still sent once"
        )
        for change in (
            "PinnedAddressAdapter(pool_connections=32, pool_maxsize=32, max_retries=0) -> "
            "PinnedAddressAdapter(pool_maxsize=32, max_retries=0)",
            "PinnedAddressAdapter(pool_connections=32, pool_maxsize=32, max_retries=0) -> "
            "PinnedAddressAdapter(pool_connections=32, max_retries=0)",
            "PinnedAddressAdapter(pool_connections=32, pool_maxsize=32, max_retries=0) -> "
            "PinnedAddressAdapter(pool_connections=32, pool_maxsize=32)",
            "32 -> 33",
            "32 -> 33 #2",
        )
    },
    **{
        ("exporters/transport.py", "session", change): (
            "plain HTTP then goes through requests' own adapter, which also never retries; "
            "the pinning adapter differs only for TLS"
        )
        for change in ("created.mount('http://', adapter) -> pass", "'http://' -> ''")
    },
    ("exporters/transport.py", "request_send", "'' -> 'X'"): (
        "a fragment on the pinned URL: requests never sends the fragment"
    ),
    ("exporters/transport.py", "request_send", "'/' -> ''"): (
        "an empty path: requests sends '/' for it"
    ),
    **{
        ("exporters/transport.py", "_read_capped", change): (
            "the size of each read, or one more read of at most 8 KiB before stopping: "
            "the excerpt is the same and the reading still stops"
        )
        for change in (
            "response.iter_content(chunk_size=8192) -> response.iter_content()",
            "8192 -> 8193",
            "len(received) >= cap -> len(received) > cap",
        )
    },
    ("exporters/transport.py", "request_send", "1000 -> 1001"): (
        "a 0.1% error in a measured duration, below the clock's own jitter"
    ),
    ("cameras/authentication.py", "device_key_from_request", "'' -> 'X'"): (
        "the default of path_key: every caller passes it"
    ),
    ("cameras/authentication.py", "DeviceKeyAuthentication", "'' -> 'X' #2"): (
        "the branch for a request without parser_context: DRF's Request always has one"
    ),
    ("events/api/ingest.py", "json_ingest_directly", "response.render() -> pass"): (
        "Django's handler renders a response that is not rendered yet"
    ),
}


#: The changes issue 14 found the tests accepting, written out by hand: each must be killed
#: too. (file, text, replacement, what it breaks); a text no longer in the file is reported.
ISSUE_CHANGES = {
    "signing": [
        ("exporters/signing.py", 'f"{t}.".encode() + body', "body", "timestamp not signed"),
        ("exporters/signing.py", "hashlib.sha256", "hashlib.sha1", "SHA-1"),
        ("exporters/signing.py", ".hexdigest()", ".hexdigest()[:16]", "a 64-bit MAC"),
        ("exporters/signing.py", "if abs(time.time() - t) > tolerance:", "if False:", "no window"),
        (
            "exporters/signing.py",
            "hmac.compare_digest(expected.encode(), ",
            "expected.encode().startswith(",
            "an empty or truncated v1= verified",
        ),
    ],
    "transport": [
        (
            "exporters/transport.py",
            "timeout=(min(CONNECT_TIMEOUT, timeout), timeout),",
            "timeout=None,",
            "no timeout",
        ),
        (
            "exporters/transport.py",
            "except ResolveFailed as error:\n        return SendResult(None, elapsed(), "
            "str(error), retryable=True)",
            "except ResolveFailed as error:\n        return SendResult(None, elapsed(), "
            "str(error), retryable=False)",
            "a DNS failure permanent",
        ),
        (
            "exporters/transport.py",
            "if len(received) >= cap:",
            "if False:",
            "no cap on the response body",
        ),
        (
            "exporters/transport.py",
            '(443 if parts.scheme == "https" else 80)',
            "80",
            "https:// sent to port 80",
        ),
        (
            "exporters/transport.py",
            'netloc = f"[{address}]" if ":" in address else address',
            "netloc = address",
            "an IPv6 URL without brackets",
        ),
        (
            "exporters/transport.py",
            "return address.ipv4_mapped\n",
            "return None\n",
            "an IPv4-mapped address judged as IPv6",
        ),
    ],
    "plate_keys": [
        ("events/reads.py", '"8B", "6G")', '"8B")', "6/G not folded"),
        ("events/reads.py", '("0ODQ",', '("0OD",', "Q/0 not folded"),
        ("events/reads.py", '"1IL",', '"1I",', "L/1 not folded"),
        ("events/reads.py", "if c in _PLATE_CHARS", "if c.isalnum()", "non-ASCII kept"),
    ],
    "device_auth": [
        (
            "cameras/authentication.py",
            "        if not key:\n            return None\n        device = device_for_key",
            "        device = device_for_key",
            "no key answered as a wrong key",
        ),
    ],
}


# Generating mutants ----------------------------------------------------------------------

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


# Running ---------------------------------------------------------------------------------


def checkout_copy() -> Path:
    """The working tree without .git, virtualenvs and caches, in a temporary folder."""
    target = Path(tempfile.mkdtemp(prefix="anpr-mutation-")) / "repo"
    shutil.copytree(
        ROOT,
        target,
        ignore=shutil.ignore_patterns(
            ".git", ".venv", "venv", "var", "test-output", "__pycache__", ".*_cache"
        ),
    )
    return target


def prepare(workdir: Path) -> None:
    """Load pytest and the third-party libraries once; each test run is a fork of this
    process, so it starts in a fraction of a second. Nothing of the project is imported
    here: every run imports the (mutated) units afresh."""
    os.environ.update(PYTHONDONTWRITEBYTECODE="1", PYTEST_DISABLE_PLUGIN_AUTOLOAD="1")
    sys.dont_write_bytecode = True
    os.chdir(workdir)
    sys.path.insert(0, str(workdir))
    for module in PRELOADED:
        __import__(module)


PRELOADED = (
    "pytest",
    "pytest_django.plugin",
    "pytest_timeout",
    "django.test",
    "rest_framework",
    "requests",
    "cryptography.x509",
    "psycopg",
    "redis",
    "factory",
)


def run_tests(tests, timeout: float, create_db: bool) -> tuple[bool, float]:
    """(passed, seconds) of `pytest -x -q` over the tests, in a forked child."""
    import pytest

    arguments = ["-x", "-q", "-p", "pytest_django.plugin", "-p", "pytest_timeout"]
    arguments += ["--create-db" if create_db else "--reuse-db", *tests]
    started = time.monotonic()
    child = os.fork()
    if child == 0:
        quiet = os.open(os.devnull, os.O_WRONLY)
        os.dup2(quiet, 1)
        os.dup2(quiet, 2)
        code = 3  # pytest itself failed
        try:
            code = int(pytest.main(arguments))
        finally:
            os._exit(code)
    try:
        while True:
            done, status = os.waitpid(child, os.WNOHANG)
            if done:
                return os.waitstatus_to_exitcode(status) == 0, time.monotonic() - started
            if time.monotonic() - started > timeout:
                break
            time.sleep(0.02)
    except BaseException:  # interrupted: leave no test run behind
        os.kill(child, signal.SIGKILL)
        raise
    os.kill(child, signal.SIGKILL)
    os.waitpid(child, 0)
    return False, time.monotonic() - started


def run_unit(name: str, unit: Unit, workdir: Path, verbose: bool, match: str) -> dict[str, int]:
    # From the copy: the checkout may change while this runs.
    originals = {path: (workdir / path).read_text() for path in unit.targets}
    mutants = [m for path, names in unit.targets.items() for m in mutants_of(path, names, workdir)]
    mutants = [m for m in mutants if match in str(m)]
    # The baseline is the unparsed (not the original) source: what every mutant is made from.
    for path in unit.targets:
        (workdir / path).write_text(ast.unparse(ast.parse(originals[path])))
    passed, seconds = run_tests(unit.tests, timeout=900, create_db=True)
    if not passed:
        raise SystemExit(f"{name}: the tests fail without any mutant; fix that first.")
    timeout = max(60.0, seconds * 4)
    counts = {"mutants": len(mutants), "killed": 0, "equivalent": 0, "survived": 0}
    create_db = False
    print(f"== {name}: {len(mutants)} mutants, tests {' '.join(unit.tests)} ({seconds:.0f} s)")
    for number, mutant in enumerate(mutants, 1):
        if mutant.key in EQUIVALENT:
            counts["equivalent"] += 1
            print(f"  equivalent {mutant}  ({EQUIVALENT[mutant.key]})")
            continue
        (workdir / mutant.path).write_text(mutated_source(mutant, originals[mutant.path]))
        try:
            survived, seconds = run_tests(unit.tests, timeout, create_db)
        finally:
            (workdir / mutant.path).write_text(ast.unparse(ast.parse(originals[mutant.path])))
        # A test run killed by the timeout may leave rows behind: start the next one afresh.
        create_db = seconds >= timeout
        outcome = "SURVIVED" if survived else "killed"
        counts["survived" if survived else "killed"] += 1
        if survived or verbose:
            print(f"  {outcome:8} {mutant}  [{number}/{len(mutants)}, {seconds:.0f} s]", flush=True)
    issue_changes = ISSUE_CHANGES.get(name, ()) if match in ("", "\0") else ()
    for path, text, replacement, what in issue_changes:
        if text not in originals[path]:
            # A change that no longer applies is not killed: the list must follow the code.
            print(f"  n/a      issue 14: {what} ({path} no longer holds {text!r})")
            counts["issue"] = counts.get("issue", 0) + 1
            continue
        (workdir / path).write_text(originals[path].replace(text, replacement, 1))
        try:
            survived, seconds = run_tests(unit.tests, timeout, create_db)
        finally:
            (workdir / path).write_text(ast.unparse(ast.parse(originals[path])))
        create_db = seconds >= timeout
        counts["issue_killed"] = counts.get("issue_killed", 0) + (not survived)
        counts["issue"] = counts.get("issue", 0) + 1
        print(f"  {'SURVIVED' if survived else 'killed':8} issue 14: {what}", flush=True)
    return counts


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--unit", action="append", choices=sorted(UNITS))
    parser.add_argument("--list", action="store_true", help="print the mutants and stop")
    parser.add_argument("--match", default="", help="only the mutants whose line holds this")
    parser.add_argument("--issue-only", action="store_true", help="only issue 14's changes")
    parser.add_argument("--threshold", type=float, default=90.0, help="minimum kill %%")
    parser.add_argument("-v", "--verbose", action="store_true", help="print killed ones too")
    args = parser.parse_args()
    names = args.unit or list(UNITS)
    if args.list:
        for name in names:
            for path, targets in UNITS[name].targets.items():
                for mutant in mutants_of(path, targets):
                    note = EQUIVALENT.get(mutant.key)
                    print(f"{name}: {mutant}" + (f"  (equivalent: {note})" if note else ""))
        return 0
    workdir = checkout_copy()
    prepare(workdir)
    results = {}
    try:
        for name in names:
            match = "\0" if args.issue_only else args.match  # "\0" matches no mutant
            results[name] = run_unit(name, UNITS[name], workdir, args.verbose, match)
    finally:
        shutil.rmtree(workdir.parent, ignore_errors=True)
    print(
        f"\n{'unit':12} {'mutants':>7} {'killed':>6} {'equiv.':>6} {'survived':>8} "
        f"{'kill %':>7} {'issue 14 changes killed':>24}"
    )
    failing = False
    for name, c in results.items():
        judged = c["mutants"] - c["equivalent"]
        score = 100.0 * c["killed"] / judged if judged else 100.0
        failing |= score < args.threshold or c.get("issue_killed") != c.get("issue")
        print(
            f"{name:12} {c['mutants']:7} {c['killed']:6} {c['equivalent']:6} "
            f"{c['survived']:8} {score:6.1f}% {c.get('issue_killed', 0):>17} of {c.get('issue', 0)}"
        )
    return 1 if failing else 0


if __name__ == "__main__":
    sys.exit(main())
