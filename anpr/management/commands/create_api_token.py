"""manage.py create_api_token: a user's API token for scripts, printed once."""

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from cameras.services import user_token_issue


class Command(BaseCommand):
    help = (
        "Create an API token for a user (sent as 'Authorization: Bearer <token>') and print "
        "it once; only a digest is stored. The token acts with the user's role."
    )

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument("--name", default="command line", help="What the token is for.")

    def handle(self, *args, username, name, **options):
        user = get_user_model().objects.filter(username=username, is_active=True).first()
        if user is None:
            raise CommandError(f"No active user {username!r}.")
        if not name.strip() or len(name) > 100:
            raise CommandError("--name must be 1 to 100 characters.")
        issued = user_token_issue(user=user, name=name.strip())
        self.stderr.write(f"Created API token {name!r} for {user.username}, shown only now:")
        self.stdout.write(issued.key)
