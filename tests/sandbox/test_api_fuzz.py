"""Fuzzed JSON bodies over loopback: the sandbox API answers in Cloudflare's envelope and never
with a 5xx, deeply nested bodies included (they were a 500 RecursionError)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from polaris_tui.sandbox import Sandbox
from polaris_tui.sandbox.api.common import MAX_JSON_DEPTH

WRITES = (
    ("POST", "/zones/{zone}/dns_records"),
    ("POST", "/zones/{zone}/dns_records/batch"),
    ("PATCH", "/zones/{zone}/dns_records/{zone}"),
    ("POST", "/zones/{zone}/email/routing/rules"),
    ("POST", "/zones/{zone}/email/routing/dns"),
    ("POST", "/zones/{zone}/email/sending/subdomains"),
    ("POST", "/accounts/{account}/email/routing/addresses"),
    ("POST", "/accounts/{account}/r2/buckets"),
    ("POST", "/accounts/{account}/storage/kv/namespaces"),
    ("PATCH", "/accounts/{account}/workers/scripts/polaris-email-worker/settings"),
    ("PUT", "/accounts/{account}/workers/scripts/polaris-email-worker/secrets"),
    ("POST", "/zones/{zone}/workers/routes"),
)

scalars = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), st.text(max_size=40)
)
documents = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4)
    ),
    max_leaves=30,
).map(json.dumps)


def nested(depth: int, kind: str) -> str:
    if kind == "array":
        return "[" * depth + "]" * depth
    if kind == "object":
        return '{"content":' * depth + "1" + "}" * depth
    return '{"type": "TXT", "name": "x", "content": ' + "[" * depth + "]" * depth + "}"


deep = st.builds(
    nested, st.integers(MAX_JSON_DEPTH - 2, 20_000), st.sampled_from(["array", "object", "mixed"])
)
bodies = st.one_of(documents, deep, st.binary(max_size=64).map(lambda b: b.decode("latin-1")))


@pytest.fixture(scope="module")
def api(sandbox_session: Sandbox) -> Iterator[tuple[httpx.Client, dict[str, str]]]:
    ep = sandbox_session.endpoints
    assert ep is not None
    headers = {"Authorization": f"Bearer {ep.token}", "Content-Type": "application/json"}
    with httpx.Client(base_url=ep.api, headers=headers, timeout=30) as client:
        yield client, {"zone": ep.zone_id, "account": ep.account_id}
    sandbox_session.reset_state()


def assert_envelope(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code < 500, response.text[:300]
    envelope = response.json()
    assert set(envelope) >= {"success", "errors", "messages", "result"}, envelope
    if not envelope["success"]:
        assert envelope["errors"] and all(
            "code" in e and "message" in e for e in envelope["errors"]
        )
    return envelope


@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.sampled_from(WRITES), bodies)
def test_fuzzed_bodies_never_get_a_5xx(
    api: tuple[httpx.Client, dict[str, str]], target, body
) -> None:
    client, ids = api
    method, path = target
    assert_envelope(client.request(method, path.format(**ids), content=body.encode()))


@pytest.mark.parametrize("depth", [MAX_JSON_DEPTH + 1, 1_000, 100_000])
def test_deep_nesting_is_a_400_in_the_envelope(
    api: tuple[httpx.Client, dict[str, str]], depth: int
) -> None:
    client, ids = api
    response = client.post(f"/zones/{ids['zone']}/dns_records", content=nested(depth, "mixed"))
    assert response.status_code == 400
    envelope = assert_envelope(response)
    assert envelope["errors"][0]["code"] == 6007
    assert f"nested deeper than {MAX_JSON_DEPTH} levels" in envelope["errors"][0]["message"]


def test_nesting_within_the_limit_is_parsed(api: tuple[httpx.Client, dict[str, str]]) -> None:
    """The limit refuses only depth: a body at the limit reaches the handler's own checks."""
    client, ids = api
    response = client.post(
        f"/zones/{ids['zone']}/dns_records", content=nested(MAX_JSON_DEPTH - 1, "mixed")
    )
    envelope = assert_envelope(response)
    assert response.status_code == 400 and envelope["errors"][0]["code"] != 6007
