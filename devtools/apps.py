from django.apps import AppConfig


class DevtoolsConfig(AppConfig):
    """Development commands: the benchmarks (benchmark, benchmark_live, benchmark_exports)
    and the documentation's screenshots."""

    name = "devtools"
    verbose_name = "Development tools"
