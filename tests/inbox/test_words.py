"""How the admin writes times and amounts (bootwebhooks.inbox.words)."""

from datetime import UTC, datetime

from django.test import override_settings

from bootwebhooks.inbox.words import day, first_line, money, sentence, when

MOMENT = datetime(2026, 12, 2, 4, 28, 50, 999782, tzinfo=UTC)


def test_a_time_is_to_the_second_with_its_time_zone():
    assert when(MOMENT) == "2 Dec 2026 04:28:50 UTC"
    assert day(MOMENT) == "2 Dec 2026"
    assert when(None) == "-"


@override_settings(TIME_ZONE="Europe/Paris")
def test_a_time_is_written_in_the_current_time_zone_and_says_which():
    assert when(MOMENT) == "2 Dec 2026 05:28:50 CET"


def test_amounts_follow_the_currency_minor_unit():
    """Stripe amounts are in the smallest unit; zero-decimal currencies such as JPY have
    none and three-decimal ones such as KWD have three (docs.stripe.com/currencies)."""
    assert money(1500, "usd") == "15.00 USD"
    assert money(123456, "eur") == "1,234.56 EUR"
    assert money(1500, "jpy") == "1,500 JPY"
    assert money(1500, "kwd") == "1.500 KWD"


def test_an_error_shows_its_first_line_and_a_sentence_ends_with_one_period():
    assert first_line("\nKeyError: 'plan'\nTraceback ...") == "KeyError: 'plan'"
    assert sentence("Access until 4:28 a.m.", "") == "Access until 4:28 a.m."
    assert sentence("Retried: processed.", "note.") == "Retried: processed. note."
