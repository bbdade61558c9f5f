"""The parts of tools/mutation.py: which units and what they must kill (units), making
mutants from a syntax tree (mutants), running a unit's tests against each (runner)."""

from pathlib import Path

#: The checkout the mutants are made from (and copied, to run its tests).
ROOT = Path(__file__).resolve().parents[2]
