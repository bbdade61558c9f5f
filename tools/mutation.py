"""Mutation testing of the security-critical units: a mutant the unit's own tests accept is a
bug they would let back in (issue 14).

The mutants are generated from each unit's syntax tree (comparisons and boolean operators
swapped, arithmetic swapped, conditions negated, constants changed, return values replaced,
statements and keyword arguments deleted, a few look-alike functions swapped). Each is applied
alone to a copy of the checkout and the unit's tests run there with `pytest -x -q`; failing
tests kill it. Mutants that cannot change behaviour are listed in EQUIVALENT with the reason.
The changes issue 14 found surviving (ISSUE_CHANGES) are run as well and must all be killed.
UNITS, EQUIVALENT and ISSUE_CHANGES are in tools/mutation_testing/units.py.

    python tools/mutation.py                  # every unit; exits 1 below --threshold (90%)
    python tools/mutation.py --unit signing   # one unit (see UNITS)
    python tools/mutation.py --list           # print the mutants, run nothing
    python tools/mutation.py --unit transport --match request_send   # some of them

It needs what the tests need (DATABASE_URL, REDIS_URL, ...) and is slow (minutes per unit),
so it is not part of the test command.
"""

import argparse
import shutil
import sys

from mutation_testing.mutants import mutants_of
from mutation_testing.runner import checkout_copy, prepare, run_unit
from mutation_testing.units import EQUIVALENT, UNITS


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
