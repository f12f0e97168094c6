"""The host's own `payments` app (made by `startapp payments`), with a reverse accessor
named `payments` on the user."""

from django.conf import settings
from django.db import models


class Payment(models.Model):
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="payments"
    )
    amount = models.IntegerField()

    def __str__(self) -> str:
        return f"{self.amount} from {self.user}"
