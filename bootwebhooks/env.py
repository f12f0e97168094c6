"""Typed readers for settings that come from the environment.

Each one either returns a value of the right type or raises ImproperlyConfigured naming the
variable, so a typo in production fails at start-up instead of meaning something else.
"""

import os

from django.core.exceptions import ImproperlyConfigured

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def env_str(name: str, default: str = "") -> str:
    return os.environ.get(name, default)


def env_bool(name: str, default: bool = False) -> bool:
    raw = os.environ.get(name)
    if raw is None:
        return default
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ImproperlyConfigured(f"{name} must be a boolean (1/0, true/false), got {raw!r}")


def env_int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw is None or not raw.strip():
        return default
    try:
        return int(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be an integer, got {raw!r}") from None


def env_list(name: str, default: tuple[str, ...] = ()) -> list[str]:
    """A comma-separated list; blanks around items and empty items are dropped."""
    raw = os.environ.get(name)
    if raw is None:
        return list(default)
    return [item.strip() for item in raw.split(",") if item.strip()]


def env_map(name: str, default: dict[str, str], *, values: tuple[str, ...] = ()) -> dict[str, str]:
    """Comma-separated `key=value` pairs; with `values`, each value must be one of them."""
    raw = os.environ.get(name)
    if raw is None:
        return dict(default)
    pairs = {}
    for item in env_list(name):
        key, sep, value = (part.strip() for part in item.partition("="))
        if not (sep and key and value) or (values and value not in values):
            allowed = f" with values in {', '.join(values)}" if values else ""
            raise ImproperlyConfigured(f"{name} must be key=value pairs{allowed}, got {item!r}")
        pairs[key] = value
    return pairs
