from django.core.management.base import BaseCommand

from bootwebhooks.memberships.roles import create_roles


class Command(BaseCommand):
    help = (
        "Create the groups 'bootwebhooks support' and 'bootwebhooks billing operators' with "
        "their permissions (run after migrate; running it again changes nothing)."
    )

    def handle(self, *args, **options) -> None:
        for name, gained in create_roles().items():
            self.stdout.write(f"{name}: {gained} permissions added")
