"""Running a unit's tests against each of its mutants, in a copy of the checkout, each run a
fork of one process that loaded pytest and the libraries once."""

import ast
import os
import shutil
import signal
import sys
import tempfile
import time
from pathlib import Path

from mutation_testing import ROOT
from mutation_testing.mutants import mutants_of, mutated_source
from mutation_testing.units import EQUIVALENT, ISSUE_CHANGES, Unit


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
