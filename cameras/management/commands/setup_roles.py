from django.core.management.base import BaseCommand

from cameras.services import roles_ensure


class Command(BaseCommand):
    help = "Create or refresh the viewer, operator and admin groups (idempotent)."

    def handle(self, *args, **options):
        for role, count in roles_ensure().items():
            self.stdout.write(f"{role}: {count} permissions")
