"""manage.py create_device: an edge device for some cameras, its key printed once."""

from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from cameras.models import Camera, EdgeDevice
from cameras.services import device_create


class Command(BaseCommand):
    help = (
        "Create an edge device allowed to post for the given cameras and print its key "
        "(shown once; only a digest is stored)."
    )

    def add_arguments(self, parser):
        parser.add_argument("name", help="A unique name, e.g. gate-box-3.")
        parser.add_argument(
            "--camera",
            action="append",
            default=[],
            metavar="SLUG",
            help="A camera it posts for (repeat for several).",
        )
        parser.add_argument("--notes", default="")

    @transaction.atomic
    def handle(self, *args, name, camera, notes, **options):
        name = name.strip()
        if not name:
            raise CommandError("The device needs a name.")
        if EdgeDevice.objects.filter(name=name).exists():
            raise CommandError(f"A device named {name!r} exists already.")
        cameras = list(Camera.objects.filter(slug__in=camera))
        missing = sorted(set(camera) - {c.slug for c in cameras})
        if missing:
            raise CommandError(f"No camera with slug: {', '.join(missing)}.")
        device, issued = device_create(name=name, cameras=cameras, notes=notes)
        slugs = ", ".join(sorted(c.slug for c in cameras)) or "no cameras yet"
        self.stderr.write(f"Created device {device.name!r} (id {device.pk}) for {slugs}.")
        self.stderr.write("Its key, shown only now (send it as 'Authorization: Token <key>'):")
        self.stdout.write(issued.key)
