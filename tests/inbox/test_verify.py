import pytest

from bootwebhooks.inbox.exceptions import InvalidSignature
from bootwebhooks.inbox.verify import parse_header, sign, verify
from tests.webhooks import TEST_SECRET, signature_header

BODY = b'{"id": "evt_1", "object": "event"}'
NOW = 1_780_000_000


def test_it_matches_an_independently_computed_signature():
    header = signature_header(BODY, TEST_SECRET, NOW)
    assert header == f"t={NOW},v1={sign(BODY, TEST_SECRET, NOW)}"


def test_it_returns_the_signed_timestamp():
    assert verify(BODY, signature_header(BODY, timestamp=NOW), [TEST_SECRET], 300, now=NOW) == NOW


def test_it_parses_several_v1_and_ignores_other_schemes():
    assert parse_header("t=5,v1=aa,v0=bb,v1=cc,x=dd") == (5, ["aa", "cc"])


@pytest.mark.parametrize(
    "header",
    [
        *(None, "", "garbage", "t=abc,v1=00", "t=,v1=00", "v1=00", "t=5", "t=5,v0=00"),
        "t=-5,v1=00",
        "t=" + "9" * 5000 + ",v1=00",  # int() of that many digits raises ValueError
    ],
)
def test_it_refuses_unusable_headers(header):
    with pytest.raises(InvalidSignature):
        parse_header(header)


def test_it_refuses_a_header_stuffed_with_signatures():
    with pytest.raises(InvalidSignature, match="too many"):
        parse_header("t=5," + ",".join(["v1=00"] * 9))


def test_it_refuses_a_body_changed_by_one_byte():
    header = signature_header(BODY, timestamp=NOW)
    with pytest.raises(InvalidSignature, match="no v1 signature matches"):
        verify(BODY + b" ", header, [TEST_SECRET], 300, now=NOW)


def test_it_refuses_the_tolerance_edge_plus_one_in_both_directions():
    for timestamp in (NOW - 301, NOW + 301):
        with pytest.raises(InvalidSignature, match="tolerance"):
            verify(BODY, signature_header(BODY, timestamp=timestamp), [TEST_SECRET], 300, now=NOW)
    for timestamp in (NOW - 300, NOW + 300):
        verify(BODY, signature_header(BODY, timestamp=timestamp), [TEST_SECRET], 300, now=NOW)


def test_it_refuses_everything_when_no_secret_is_configured():
    with pytest.raises(InvalidSignature, match="no webhook secret"):
        verify(BODY, signature_header(BODY, timestamp=NOW), [], 300, now=NOW)


def test_it_survives_non_ascii_signatures():
    with pytest.raises(InvalidSignature):
        verify(BODY, f"t={NOW},v1=é", [TEST_SECRET], 300, now=NOW)
