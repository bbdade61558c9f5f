from django.apps import AppConfig


class DevtoolsConfig(AppConfig):
    """The benchmark commands (manage.py benchmark, benchmark_live, benchmark_exports)."""

    name = "devtools"
    verbose_name = "Development tools"
