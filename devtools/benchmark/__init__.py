"""The benchmarks behind `manage.py benchmark`, `benchmark_live` and `benchmark_exports`: one
module per benchmark, the servers they start in `servers`. Not tests: they print figures."""
