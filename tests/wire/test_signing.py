"""Signed requests (simulator.wire.signing): HMAC-SHA256, a key per partner, a 5-minute window in
virtual time, replays refused, keys never shown — and over HTTP, every refusal is a 401 that
changes nothing."""

from __future__ import annotations

import hashlib
import hmac
import json
import pickle
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from simulator.core.errors import LendsimError
from simulator.scenarios.loader import load_scenario_text
from simulator.serve.sandbox import Sandbox
from simulator.wire.contracts import load_contracts
from simulator.wire.signing import (
    KEY_ID_HEADER,
    NONCE_HEADER,
    SIGNATURE_HEADER,
    SIGNED_HEADERS,
    TIMESTAMP_HEADER,
    Keyring,
    SignatureError,
    SqliteNonces,
    canonical_string,
)
from tests.support.asgi_client import AppClient

NOW = datetime(2026, 2, 1, 13, 0, tzinfo=UTC)


SECRETS = {"platform": "platform-secret-0123456789", "bank": "bank-secret-abcdefghijklmn"}
BODY = b'{"payment_id":"PAY1","amount":1000}'


def keyring() -> Keyring:
    return Keyring(SECRETS)


def signed(ring: Keyring, *, at: datetime = NOW, method: str = "POST",
           path: str = "/bank/repayments", body: bytes = BODY) -> dict[str, str]:
    return ring.sign("platform", method, path, body, at)


def refusal(ring: Keyring, headers: dict[str, str], *, now: datetime = NOW,
            method: str = "POST", path: str = "/bank/repayments", body: bytes = BODY) -> str:
    """The reason ``verify`` gives (fails the test if it accepts)."""
    with pytest.raises(SignatureError) as refused:
        ring.verify(method, path, body, headers, now)
    return refused.value.reason


# -- the keyring ---------------------------------------------------------------------------
def test_a_signed_request_is_accepted_once() -> None:
    """A correctly signed request verifies, and the same signature a second time is a replay."""
    ring = keyring()
    headers = signed(ring)
    assert set(headers) == set(SIGNED_HEADERS)
    ring.verify("POST", "/bank/repayments", BODY, headers, NOW)
    assert "replayed" in refusal(ring, headers)


def test_a_partner_signing_by_the_documented_scheme_is_accepted() -> None:
    """Headers a partner builds on its own from the README — hex HMAC-SHA256 (Python's hmac)
    of the canonical string — are exactly what ``sign`` makes, and they verify."""
    timestamp, nonce = "2026-02-01T13:00:00Z", "partner-nonce-0001"
    canonical = "\n".join(["LENDSIM-HMAC-SHA256", "POST", "/bank/repayments?x=1", timestamp,
                           nonce, hashlib.sha256(BODY).hexdigest()])
    signature = hmac.new(SECRETS["platform"].encode(), canonical.encode(),
                         hashlib.sha256).hexdigest()
    headers = {"X-Lendsim-Key-Id": "platform", "X-Lendsim-Timestamp": timestamp,
               "X-Lendsim-Nonce": nonce, "X-Lendsim-Signature": signature}
    ring = keyring()
    assert ring.sign("platform", "post", "/bank/repayments?x=1", BODY, NOW, nonce=nonce) == headers
    ring.verify("POST", "/bank/repayments?x=1", BODY, headers, NOW)


def test_two_identical_requests_at_one_instant_are_not_replays() -> None:
    """The nonce tells apart two identical requests signed at the same (frozen) virtual instant."""
    ring = keyring()
    first, second = signed(ring), signed(ring)
    assert first[SIGNATURE_HEADER] != second[SIGNATURE_HEADER]
    ring.verify("POST", "/bank/repayments", BODY, first, NOW)
    ring.verify("POST", "/bank/repayments", BODY, second, NOW)


def test_headers_are_matched_without_regard_to_case() -> None:
    """Servers hand headers over lower-cased; verification still finds them."""
    ring = keyring()
    lowered = {name.lower(): value for name, value in signed(ring).items()}
    ring.verify("POST", "/bank/repayments", BODY, lowered, NOW)


@pytest.mark.parametrize("missing", SIGNED_HEADERS)
def test_an_unsigned_request_names_what_is_missing(missing: str) -> None:
    """A request without one of the four headers is refused as unsigned, naming the header."""
    ring = keyring()
    headers = signed(ring)
    del headers[missing]
    reason = refusal(ring, headers)
    assert reason.startswith("unsigned request") and missing in reason


@pytest.mark.parametrize("change", ["method", "path", "query", "body", "timestamp", "nonce"])
def test_a_forged_request_is_refused(change: str) -> None:
    """Changing the method, path, query, body, timestamp or nonce after signing breaks the
    signature."""
    ring = keyring()
    headers = signed(ring, path="/bank/loans?x=1")
    method, path, body = "POST", "/bank/loans?x=1", BODY
    if change == "method":
        method = "PUT"
    elif change == "path":
        path = "/bank/loanz?x=1"
    elif change == "query":
        path = "/bank/loans?x=2"
    elif change == "body":
        body = BODY.replace(b"1000", b"9000")
    elif change == "timestamp":
        headers[TIMESTAMP_HEADER] = "2026-02-01T13:00:01Z"
    else:
        headers[NONCE_HEADER] = "0123456789abcdef"
    reason = refusal(ring, headers, method=method, path=path, body=body)
    assert reason == "signature does not match the request"


def test_a_signature_made_with_another_key_is_refused() -> None:
    """A partner that signs with a key the receiver does not hold for its key id is refused."""
    forger = Keyring({"platform": "not-the-platform-secret-xyz"})
    assert refusal(keyring(), signed(forger)) == "signature does not match the request"


def test_an_unknown_key_id_is_refused() -> None:
    """A key id the receiver does not know is refused without echoing it."""
    headers = signed(keyring())
    headers[KEY_ID_HEADER] = "intruder"
    reason = refusal(keyring(), headers)
    assert "unknown" in reason and "intruder" not in reason


@pytest.mark.parametrize(("offset", "words"), [
    (timedelta(minutes=-5, seconds=-1), "stale request"),
    (timedelta(hours=-1), "stale request"),
    (timedelta(minutes=5, seconds=1), "from the future"),
    (timedelta(days=1), "from the future"),
])
def test_stale_and_future_timestamps_are_refused(offset: timedelta, words: str) -> None:
    """A timestamp more than five minutes from the virtual clock, either way, is refused."""
    ring = keyring()
    assert words in refusal(ring, signed(ring, at=NOW + offset))


@pytest.mark.parametrize("offset", [timedelta(minutes=-5), timedelta(0), timedelta(minutes=5)])
def test_the_window_is_five_minutes_either_way(offset: timedelta) -> None:
    """A timestamp exactly five minutes off is still inside the window."""
    ring = keyring()
    ring.verify("POST", "/bank/repayments", BODY, signed(ring, at=NOW + offset), NOW)


def test_malformed_headers_are_refused() -> None:
    """A timestamp that is not RFC 3339 or a signature that is not hex is refused as malformed."""
    ring = keyring()
    headers = signed(ring)
    assert "malformed" in refusal(ring, {**headers, TIMESTAMP_HEADER: "yesterday"})
    assert "malformed" in refusal(ring, {**headers, TIMESTAMP_HEADER: "2026-02-30T00:00:00Z"})
    assert "malformed" in refusal(ring, {**headers, SIGNATURE_HEADER: "zz" * 32})
    assert "malformed" in refusal(ring, {**headers, NONCE_HEADER: "x"})


def test_seen_signatures_are_forgotten_once_their_window_closes() -> None:
    """The replay memory holds a signature only while a replay of it would not be stale."""
    ring = keyring()
    headers = signed(ring)
    ring.verify("POST", "/bank/repayments", BODY, headers, NOW)
    assert ring.remembered() == 1
    later = NOW + timedelta(minutes=6)
    ring.verify("POST", "/bank/repayments", BODY, signed(ring, at=later), later)
    assert ring.remembered() == 1  # the first one is gone, the new one is held
    assert "stale" in refusal(ring, headers, now=later)


def test_a_nonce_is_never_reused_for_another_request() -> None:
    """A nonce accepted once is refused with another body or path: a nonce is one request."""
    ring = keyring()
    first = ring.sign("platform", "POST", "/bank/repayments", BODY, NOW, nonce="nonce-0001")
    ring.verify("POST", "/bank/repayments", BODY, first, NOW)
    other = ring.sign("platform", "POST", "/bank/loans", b"{}", NOW, nonce="nonce-0001")
    assert "replayed" in refusal(ring, other, path="/bank/loans", body=b"{}")


def test_a_clock_that_goes_back_keeps_the_nonces_it_may_meet_again() -> None:
    """With ``keep_from`` (a sandbox that can reset to its start), a nonce accepted at the start
    is still refused after the clock went an hour on and came back."""
    ring = keyring()
    ring.keep_from(NOW)
    headers = signed(ring)
    ring.verify("POST", "/bank/repayments", BODY, headers, NOW)
    later = NOW + timedelta(hours=1)
    ring.verify("POST", "/bank/repayments", BODY, signed(ring, at=later), later)
    assert ring.remembered() == 2
    assert "replayed" in refusal(ring, headers, now=NOW)


def test_nonces_kept_in_a_file_survive_a_restart(tmp_path: Path) -> None:
    """Nonces remembered in an SQLite file are refused by a new keyring reading the same file
    (a server restarted after kill -9)."""
    ring = keyring()
    ring.remember_in(SqliteNonces(tmp_path / "nonces.sqlite3"))
    headers = signed(ring)
    ring.verify("POST", "/bank/repayments", BODY, headers, NOW)
    again = keyring()
    again.remember_in(SqliteNonces(tmp_path / "nonces.sqlite3"))
    assert "replayed" in refusal(again, headers)
    assert again.remembered() == 1


def test_the_canonical_string_has_every_part() -> None:
    """The canonical string is algorithm, method, path with query, timestamp, nonce, body hash."""
    text = canonical_string("post", "/a?b=1", "2026-01-01T00:00:00Z", "n0nce-123", b"{}")
    lines = text.decode().split("\n")
    assert lines[:5] == ["LENDSIM-HMAC-SHA256", "POST", "/a?b=1", "2026-01-01T00:00:00Z",
                         "n0nce-123"]
    assert lines[5] == "44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"


@pytest.mark.parametrize("party", ["bank", "platform", "bureau", "sms"])
def test_the_contracts_describe_this_scheme(party: str) -> None:
    """Each party contract declares the four headers as its security schemes, and the canonical
    string its signature scheme shows is the one ``canonical_string`` makes."""
    document = load_contracts().document(party)
    schemes = document["components"]["securitySchemes"]
    assert [scheme["name"] for scheme in schemes.values()] == list(SIGNED_HEADERS)
    description = next(scheme["description"] for scheme in schemes.values()
                       if scheme["name"] == SIGNATURE_HEADER)
    shown = re.search(r"```text\n(.*?)\n```", description, re.DOTALL)
    assert shown is not None
    lines = [line.strip() for line in shown.group(1).splitlines()]
    method, path, timestamp, nonce = lines[1:5]
    assert "\n".join(lines).encode() == canonical_string(method, path, timestamp, nonce, b"")
    assert "5 minutes" in description and "401" in description


def test_the_timestamp_is_the_virtual_instant_in_utc() -> None:
    """The timestamp header carries the instant passed in (virtual time), as RFC 3339 UTC."""
    local = datetime.fromisoformat("2026-02-01T21:00:00+08:00")
    assert signed(keyring(), at=local)[TIMESTAMP_HEADER] == "2026-02-01T13:00:00Z"


# -- keys never shown ----------------------------------------------------------------------------
def every_refusal_message(ring: Keyring) -> Iterator[str]:
    headers = signed(ring)
    yield refusal(ring, {})
    yield refusal(ring, {**headers, KEY_ID_HEADER: "bank"})
    yield refusal(ring, {**headers, TIMESTAMP_HEADER: "nope"})
    yield refusal(ring, signed(ring, at=NOW - timedelta(hours=1)))
    yield refusal(ring, signed(ring, at=NOW + timedelta(hours=1)))
    ring.verify("POST", "/bank/repayments", BODY, headers, NOW)
    yield refusal(ring, headers)
    with pytest.raises(SignatureError) as unknown:
        ring.sign("nobody", "GET", "/", b"", NOW)
    yield str(unknown.value)


def test_keys_never_appear_in_repr_str_or_errors() -> None:
    """No key shows in the keyring's repr or str, in its attributes' reprs, or in any refusal."""
    ring = keyring()
    shown = [repr(ring), str(ring), f"{ring}", repr(vars(ring)), *every_refusal_message(ring)]
    for text in shown:
        for secret in SECRETS.values():
            assert secret not in text, text
    assert repr(ring) == "Keyring(key_ids=['bank', 'platform'])"


def test_a_keyring_cannot_be_pickled() -> None:
    """Pickling would write the keys out, so it is refused."""
    with pytest.raises(TypeError):
        pickle.dumps(keyring())


def test_keys_from_a_file_and_errors_that_do_not_quote_it(tmp_path: Path) -> None:
    """A keys file loads; a bad one is refused without quoting its content."""
    good = tmp_path / "keys.json"
    good.write_text(json.dumps(SECRETS), encoding="utf-8")
    assert Keyring.from_file(good).key_ids == ("bank", "platform")
    for content in ('{"platform": "SHORTKEY"}', '["SHORTKEY", "an object"]',
                    '{"platform": "platform-secret-0123456789"'):
        bad = tmp_path / "bad.json"
        bad.write_text(content, encoding="utf-8")
        with pytest.raises(LendsimError) as refused:
            Keyring.from_file(bad)
        message = str(refused.value)
        assert "SHORTKEY" not in message and "platform-secret-0123456789" not in message
        assert str(bad) in message


def test_weak_keys_are_refused() -> None:
    """A key shorter than 16 bytes, or a key id with odd characters, is refused."""
    with pytest.raises(ValueError, match="at least 16 bytes"):
        Keyring({"platform": "short"})
    with pytest.raises(ValueError, match="key ids"):
        Keyring({"plat form": "long-enough-secret-123"})


# -- over HTTP: 401 and nothing changes ------------------------------------------------------------
WORLD = """\
scenario: signing
summary: One loan to repay.
start: 2026-02-01T21:00
until: 2026-12-31
borrowers:
  - id: alice
    loan: {principal: 12000.00, annual_rate: 0.18, months: 12, disbursed: 2026-01-01}
"""
REPAYMENT = {"payment_id": "PAY-1", "loan_id": "L-alice", "amount": 110016, "currency": "CNY",
             "value_time": "2026-02-01T13:00:00+00:00"}


@pytest.fixture
def sandbox() -> Iterator[Sandbox]:
    with Sandbox(load_scenario_text(WORLD), strict_responses=True) as made:
        yield made


def postings(sandbox: Sandbox) -> list[Any]:
    return list(sandbox.call(lambda: sandbox.world.bank.db.execute(
        "SELECT posting_id, amount FROM postings").fetchall()))


def repay(client: AppClient, sandbox: Sandbox, headers: dict[str, str],
          body: bytes) -> tuple[int, dict[str, Any]]:
    response = client.post("/bank/repayments", content=body, headers={
        "Content-Type": "application/json", "Idempotency-Key": "PAY-1", **headers})
    return response.status_code, response.json()


@pytest.mark.parametrize("kind", ["unsigned", "forged", "stale", "future", "replayed",
                                  "unknown key"])
def test_refused_requests_get_401_and_change_nothing(sandbox: Sandbox, kind: str) -> None:
    """Unsigned, forged, stale, future, replayed or unknown-key repayments answer a 401 problem
    and post nothing."""
    ring = Keyring.for_testing()
    now = sandbox.call(lambda: sandbox.world.clock.now)
    body = json.dumps(REPAYMENT).encode()
    with AppClient(sandbox.app) as client:
        headers: dict[str, str] = {}
        if kind == "forged":
            headers = ring.sign("platform", "POST", "/bank/repayments", body, now)
            body = body.replace(b"110016", b"220032")
        elif kind == "stale":
            headers = ring.sign("platform", "POST", "/bank/repayments", body,
                                now - timedelta(minutes=6))
        elif kind == "future":
            headers = ring.sign("platform", "POST", "/bank/repayments", body,
                                now + timedelta(minutes=6))
        elif kind == "replayed":
            headers = ring.sign("partner", "POST", "/bank/repayments", body, now)
            assert repay(client, sandbox, headers, body)[0] == 201
        elif kind == "unknown key":
            headers = Keyring({"intruder": "x" * 32}).sign("intruder", "POST",
                                                           "/bank/repayments", body, now)
        before = postings(sandbox)
        status, problem = repay(client, sandbox, headers, body)
        assert status == 401
        assert problem["status"] == 401 and problem["title"] == "Unauthorized"
        load_contracts().validate_response("bank", "post_repayment", 401, problem)
        assert postings(sandbox) == before
        for key_id in ring.key_ids:  # the test keys are well known; still never echoed
            assert Keyring.for_testing()._keys[key_id].digest(b"") not in json.dumps(problem)


def test_a_correctly_signed_request_succeeds(sandbox: Sandbox) -> None:
    """A repayment signed at the sandbox's virtual now is posted (201) exactly once."""
    ring = Keyring.for_testing()
    now = sandbox.call(lambda: sandbox.world.clock.now)
    body = json.dumps(REPAYMENT).encode()
    with AppClient(sandbox.app) as client:
        status, posting = repay(client, sandbox, ring.sign("partner", "POST",
                                                           "/bank/repayments", body, now), body)
    assert status == 201 and posting["payment_id"] == "PAY-1"
    assert postings(sandbox) == [(posting["posting_id"], 110016)]


def test_a_signature_is_checked_against_virtual_time(sandbox: Sandbox) -> None:
    """A request signed at real "now" is stale in a world whose clock is in 2026-02; one signed
    at the world's virtual now is fresh."""
    ring = Keyring.for_testing()
    with AppClient(sandbox.app) as client:
        real = ring.sign("partner", "GET", "/bank/loans/L-alice", b"", datetime.now(UTC))
        assert client.get("/bank/loans/L-alice", headers=real).status_code == 401
        virtual = sandbox.call(lambda: sandbox.world.clock.now)
        fresh = ring.sign("partner", "GET", "/bank/loans/L-alice", b"", virtual)
        assert client.get("/bank/loans/L-alice", headers=fresh).status_code == 200
