"""Staff users in the roles `manage.py create_staff_roles` makes, for tests."""

from django.contrib.auth.models import Group, User

from bootwebhooks.memberships.roles import create_roles


def staff_in(role: str, username: str = "staff") -> User:
    create_roles()
    user = User.objects.create_user(username, is_staff=True)
    user.groups.add(Group.objects.get(name=role))
    return user
