"""manage.py benchmark_instructions: instructions per single-read device request, counted by
valgrind's callgrind in-process through anpr.wsgi (devtools/benchmark/instructions.py says
how). A figure that repeats, for a before and after; not a wall-clock rate.

    manage.py benchmark_instructions                      # 200 reads after 30, LOG_LEVEL=WARNING
    manage.py benchmark_instructions --log-level INFO     # with production's request log line
    manage.py benchmark_instructions --keep cg.out        # then: callgrind_annotate cg.out
"""

import argparse
import shutil

from django.core.management.base import BaseCommand, CommandError

from devtools.benchmark.instructions import instructions_measure, options_add


class Command(BaseCommand):
    help = "Count the instructions of one single-read device request (valgrind callgrind)."

    def add_arguments(self, parser):
        options_add(parser)

    def handle(self, *args, **options):
        if not options["python_profile"] and not shutil.which("valgrind"):
            raise CommandError("valgrind is not installed (apt-get install valgrind).")
        if options["requests"] < 1 or options["warmup"] < 0:
            raise CommandError("--requests must be at least 1 and --warmup at least 0.")
        per_request = instructions_measure(argparse.Namespace(**options))
        if per_request is not None:
            self.stdout.write(
                f"{per_request:,} instructions per request ({options['requests']} single "
                f"native reads after {options['warmup']}, LOG_LEVEL={options['log_level']})"
            )
