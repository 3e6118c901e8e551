"""Cloudflare's own CLI (wrangler, pinned by the relay Worker's package-lock.json) as a second
real client of the sandbox: the requests it builds must get the answers it expects."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import httpx
import pytest

from polaris_tui.relay.node import ensure_node_modules, node_bin, node_env

WORKER = "polaris-email-worker"


@pytest.fixture(scope="module")
def wrangler_bin() -> Path:
    """The pinned wrangler, installed by the locked npm ci (a missing Node fails here)."""
    return node_bin(ensure_node_modules(), "wrangler")


@pytest.fixture(scope="module")
def wrangler_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A HOME of wrangler's own for its config and logs."""
    return tmp_path_factory.mktemp("wrangler-home")


@pytest.fixture
def wrangler(ep, wrangler_bin: Path, wrangler_home: Path):  # type: ignore[no-untyped-def]
    env = {
        **node_env(),
        "HOME": str(wrangler_home),
        "XDG_CONFIG_HOME": str(wrangler_home / ".config"),
        "CLOUDFLARE_API_BASE_URL": ep.api,
        "CLOUDFLARE_API_TOKEN": ep.token,
        "CLOUDFLARE_ACCOUNT_ID": ep.account_id,
        "CI": "true",
        "NO_COLOR": "1",
        "FORCE_COLOR": "0",
    }
    env.pop("CLOUDFLARE_API_KEY", None)
    env.pop("CLOUDFLARE_EMAIL", None)

    def run(*args: str, stdin: str = "", ok: bool = True) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            [str(wrangler_bin), *args],
            input=stdin,
            capture_output=True,
            text=True,
            env=env,
            cwd=wrangler_home,
            timeout=120,
            check=False,
        )
        if ok and result.returncode != 0:
            raise AssertionError(
                f"wrangler {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}"
            )
        return result

    return run


def test_kv_namespace_create_and_its_title_clash(wrangler, cf, ep):
    created = wrangler("kv", "namespace", "create", "EMAIL_NONCE_DEDUP")
    ids = [n.id for n in cf.kv.namespaces.list(account_id=ep.account_id)]
    assert len(ids) == 1 and f'"id": "{ids[0]}"' in created.stdout
    clash = wrangler("kv", "namespace", "create", "EMAIL_NONCE_DEDUP", ok=False)
    assert clash.returncode != 0
    assert 'A KV namespace with the title "EMAIL_NONCE_DEDUP" already exists' in (
        clash.stdout + clash.stderr
    )
    listed = json.loads(wrangler("kv", "namespace", "list").stdout)
    assert [(n["id"], n["title"]) for n in listed] == [(ids[0], "EMAIL_NONCE_DEDUP")]


def test_secret_put_on_a_missing_then_an_existing_worker_reaches_the_edge(wrangler, cf, ep):
    first = wrangler("secret", "put", "POLARIS_SECRET_A", "--name", WORKER, stdin="first-value")
    assert "Creating new Worker" in first.stdout and "Success" in first.stdout
    names = [s.name for s in cf.workers.scripts.secrets.list(WORKER, account_id=ep.account_id)]
    assert names == ["POLARIS_SECRET_A"]
    # Replace wrangler's placeholder with code that shows the secret, keeping the binding.
    cf.workers.scripts.update(
        WORKER,
        account_id=ep.account_id,
        metadata={
            "main_module": "main.js",
            "compatibility_date": "2026-04-26",
            "bindings": [],
            "keep_bindings": ["secret_text"],
        },
        files=[
            (
                "main.js",
                b"export default { fetch: (r, env) => new Response(env.POLARIS_SECRET_A) };",
                "application/javascript+module",
            )
        ],
    )
    cf.dns.records.create(
        zone_id=ep.zone_id, name="mail", type="A", content="192.0.2.10", ttl=1, proxied=True
    )
    cf.workers.routes.create(zone_id=ep.zone_id, pattern="mail.polaris.test/*", script=WORKER)

    def edge() -> str:
        resp = httpx.get(ep.edge + "/", headers={"Host": "mail.polaris.test"}, timeout=120)
        assert resp.status_code == 200, resp.text
        return resp.text

    assert edge() == "first-value"
    again = wrangler("secret", "put", "POLARIS_SECRET_A", "--name", WORKER, stdin="second-value")
    assert "Creating new Worker" not in again.stdout and "Success" in again.stdout
    assert edge() == "second-value"


def test_r2_bucket_domain_add_and_list(wrangler, cf, ep):
    cf.r2.buckets.create(account_id=ep.account_id, name="polaris-assets")
    wrangler(
        "r2", "bucket", "domain", "add", "polaris-assets",
        "--domain", "assets.polaris.test", "--zone-id", ep.zone_id, "--force",
    )  # fmt: skip
    domains = cf.r2.buckets.domains.custom.list("polaris-assets", account_id=ep.account_id)
    assert [d.domain for d in domains.domains] == ["assets.polaris.test"]
    listed = wrangler("r2", "bucket", "domain", "list", "polaris-assets").stdout
    assert "domain:            assets.polaris.test" in listed
    assert "zone_name:         polaris.test" in listed


def test_email_routing_rules_create_and_list(wrangler, cf, ep):
    created = wrangler(
        "email", "routing", "rules", "create", "polaris.test",
        "--name", "relay inbound", "--match-type", "literal", "--match-field", "to",
        "--match-value", "relay@polaris.test", "--action-type", "drop",
    )  # fmt: skip
    rules = list(cf.email_routing.rules.list(zone_id=ep.zone_id))
    assert [(r.name, r.matchers[0].value, r.actions[0].type) for r in rules] == [
        ("relay inbound", "relay@polaris.test", "drop")
    ]
    assert f"Created routing rule: {rules[0].id}" in created.stdout
    listed = wrangler("email", "routing", "rules", "list", "polaris.test").stdout
    assert rules[0].id in listed and "relay inbound" in listed


def test_an_endpoint_the_product_does_not_use_answers_cloudflares_7003(wrangler):
    result = wrangler("queues", "list", ok=False)
    assert result.returncode != 0
    assert (
        "perhaps your object identifier is invalid? [code: 7003]" in result.stdout + result.stderr
    )
