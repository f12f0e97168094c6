import pytest
from django.core.exceptions import ImproperlyConfigured

from bootwebhooks.env import env_map


def test_it_reads_key_value_pairs(monkeypatch):
    monkeypatch.setenv("PLANS", "pro_m = monthly, pro_y=yearly")

    assert env_map("PLANS", {}, values=("monthly", "yearly")) == {
        "pro_m": "monthly",
        "pro_y": "yearly",
    }


def test_it_defaults_when_unset(monkeypatch):
    monkeypatch.delenv("PLANS", raising=False)

    assert env_map("PLANS", {"a": "monthly"}) == {"a": "monthly"}


@pytest.mark.parametrize("raw", ["pro_m", "pro_m=", "pro_m=weekly"])
def test_it_refuses_what_it_cannot_mean(monkeypatch, raw):
    monkeypatch.setenv("PLANS", raw)

    with pytest.raises(ImproperlyConfigured, match="PLANS"):
        env_map("PLANS", {}, values=("monthly", "yearly"))
