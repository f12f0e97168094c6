from django.db import models


class NaiveEvent(models.Model):
    """The naive receiver's table: one row per event id, the way most tutorials store it."""

    stripe_id = models.CharField(max_length=255, unique=True)
    type = models.CharField(max_length=100)
    body = models.TextField()

    def __str__(self) -> str:
        return self.stripe_id


class Effect(models.Model):
    """One row each time the bench handler applies an event.

    Deliberately not unique: an event applied twice must show up as two rows, not as an error.
    """

    event_id = models.CharField(max_length=255, db_index=True)
    applied_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"{self.event_id} at {self.applied_at}"
