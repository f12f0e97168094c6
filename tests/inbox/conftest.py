import io
import os
import sys
import uuid
from collections.abc import Callable

import pytest
from django.contrib.auth.models import Group

from bootwebhooks.inbox import dispatch, ingest
from bootwebhooks.inbox.registry import Registry


@pytest.fixture
def queued_mode(settings) -> None:
    settings.WEBHOOK_PROCESSING = "queued"
    settings.WEBHOOK_RETRY_BASE_DELAY = 0  # retries are due at once, so a batch run sees them
    settings.WEBHOOK_RETRY_LIMIT = 3


@pytest.fixture
def handlers(monkeypatch) -> Registry:
    """A fresh registry in place of the project's, for handlers defined by the test."""
    fresh = Registry()
    monkeypatch.setattr(dispatch, "registry", fresh)
    monkeypatch.setattr(ingest, "registry", fresh)
    return fresh


@pytest.fixture
def stdin(monkeypatch) -> Callable[[bytes], None]:
    """Gives a command's standard input these bytes through a real pipe, which cannot seek."""

    def feed(data: bytes) -> None:
        assert len(data) < 1 << 16, "written before anyone reads: keep it within a pipe's buffer"
        read, write = os.pipe()
        os.write(write, data)
        os.close(write)
        pipe = io.TextIOWrapper(io.BufferedReader(io.FileIO(read, "rb")))
        monkeypatch.setattr(sys, "stdin", pipe)

    return feed


def mark_effect(event, tag: str = "effect") -> None:
    """A visible, transactional side effect: one Group row per handler run."""
    Group.objects.create(name=f"{event.stripe_id}:{tag}:{uuid.uuid4().hex}")


def effects(event_id: str, tag: str = "effect") -> int:
    return Group.objects.filter(name__startswith=f"{event_id}:{tag}:").count()
