"""What the apps assume about the site's user model: a USERNAME_FIELD, an email field
(`get_email_field_name()`) and a primary key, whatever their names and types. Nothing here
knows about `username` or integer ids."""

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.db import connection
from django.db.models import Q


def email_field() -> str:
    return get_user_model().get_email_field_name()


def email_of(user: AbstractBaseUser) -> str:
    return getattr(user, email_field(), "") or ""


def search_fields(path: str = "user") -> list[str]:
    """Admin search through a relation to the user: its email and its login name (both
    partial, any case), one entry when the login name is the email."""
    User = get_user_model()
    fields = [f"{path}__{email_field()}"]
    if email_field() != User.USERNAME_FIELD:
        fields.append(f"{path}__{User.USERNAME_FIELD}")
    return fields


def parse_pk(value: object) -> object | None:
    """`value` as the user model's primary key (an int, a UUID...), or None if it cannot be
    one: anyone can put text in a URL or a payload's client_reference_id."""
    field = get_user_model()._meta.pk
    text = str(value if value is not None else "").strip()
    if isinstance(value, bool) or not text:
        return None
    if field.get_internal_type() in _INTEGER_KEYS:
        _, high = connection.ops.integer_field_range(field.get_internal_type())
        number = int(text) if text.isascii() and text.isdecimal() else 0
        return number if 0 < number <= (high or 2**63 - 1) else None
    try:
        return field.to_python(text)
    except ValidationError:
        return None


_INTEGER_KEYS = {"AutoField", "BigAutoField", "SmallAutoField", "IntegerField", "BigIntegerField"}


def find_user(value: str) -> AbstractBaseUser | None:
    """The one user whose login name or email (any case) or primary key is `value`."""
    User = get_user_model()
    value = value.strip()
    query = Q(**{f"{User.USERNAME_FIELD}__iexact": value}) | Q(
        **{f"{email_field()}__iexact": value}
    )
    pk = parse_pk(value)
    if pk is not None:
        query |= Q(pk=pk)
    found = list(User.objects.filter(query)[:2])
    return found[0] if len(found) == 1 else None
