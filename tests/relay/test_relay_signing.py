"""The Python signer against the shared vectors, and the package's import-light surface."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from typing import Any
from urllib.parse import urlsplit

import pytest
from relay_vectors import VECTORS

from polaris_tui.relay import (
    WORKER_COMPATIBILITY_DATE,
    WORKER_MAIN_MODULE,
    SigningError,
    canonical_string,
    sign,
    worker_files,
)
from polaris_tui.relay.mime import encode_subject
from polaris_tui.relay.node import WORKER_DIR


@pytest.mark.parametrize("vector", VECTORS["signing"], ids=lambda v: v["name"])
def test_signing_vector(vector: dict[str, Any]) -> None:
    body = vector["body"].encode()
    url = urlsplit(vector["url"])
    ts = str(vector["ts_ms"])
    assert canonical_string(vector["method"], url.netloc, url.path, ts, vector["nonce"], body) == (
        vector["canonical"].encode()
    )
    headers = sign(
        vector["secret"], vector["method"], vector["url"], body,
        ts_ms=vector["ts_ms"], nonce=vector["nonce"],
    )  # fmt: skip
    assert headers == {
        "X-Polaris-Sig": vector["signature"],
        "X-Polaris-Ts": ts,
        "X-Polaris-Nonce": vector["nonce"],
    }


@pytest.mark.parametrize("vector", VECTORS["signing_errors"], ids=lambda v: v["name"])
def test_signer_refuses_ambiguous_fields(vector: dict[str, Any]) -> None:
    with pytest.raises(SigningError, match=f"^{vector['field']} "):
        sign("secret", vector["method"], vector["url"], b"", ts_ms=vector["ts_ms"],
             nonce=vector["nonce"])  # fmt: skip


def test_sign_defaults_fresh_nonce_and_current_timestamp() -> None:
    first = sign("secret", "POST", "https://mail.polaris.test/send", b"{}")
    second = sign("secret", "POST", "https://mail.polaris.test/send", b"{}")
    assert re.fullmatch(r"[A-Za-z0-9_-]{22}", first["X-Polaris-Nonce"])
    assert first["X-Polaris-Nonce"] != second["X-Polaris-Nonce"]
    assert re.fullmatch(r"[1-9][0-9]{12}", first["X-Polaris-Ts"])
    assert re.fullmatch(r"[0-9a-f]{64}", first["X-Polaris-Sig"])


@pytest.mark.parametrize("url", ["mail.polaris.test/send", "ftp://mail.polaris.test/send"])
def test_sign_rejects_a_non_http_url(url: str) -> None:
    with pytest.raises(SigningError, match="absolute http"):
        sign("secret", "POST", url, b"")


def test_sign_rejects_an_empty_secret() -> None:
    with pytest.raises(SigningError, match="secret is empty"):
        sign("", "POST", "https://mail.polaris.test/send", b"")


@pytest.mark.parametrize("vector", VECTORS["subjects"], ids=lambda v: v["subject"][:12])
def test_subject_encoding_vector(vector: dict[str, str]) -> None:
    encoded = encode_subject(vector["subject"])
    assert encoded == vector["header"]
    assert all(len(word) <= 75 for word in encoded.split("\r\n "))


def test_package_import_is_light() -> None:
    code = (
        "import sys, polaris_tui.relay; "
        "print([m for m in ('starlette', 'uvicorn', 'httpx', 'smtplib', 'asyncio', 'email') "
        "if m in sys.modules])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_worker_files_ship_the_main_module() -> None:
    files = worker_files()
    assert WORKER_MAIN_MODULE in files
    assert b'from "cloudflare:email"' in files[WORKER_MAIN_MODULE]
    assert all(name.endswith(".js") for name in files)


def test_compatibility_date_matches_the_wrangler_template() -> None:
    text = (WORKER_DIR / "wrangler.jsonc").read_text()
    config = json.loads(re.sub(r"^\s*//.*$", "", text, flags=re.M))
    assert config["compatibility_date"] == WORKER_COMPATIBILITY_DATE <= "2026-05-03"
    assert config["main"] == f"src/{WORKER_MAIN_MODULE}"
    assert config["kv_namespaces"][0]["id"] == "REPLACE_WITH_KV_NAMESPACE_ID"
    assert config["kv_namespaces"][0]["preview_id"] == "REPLACE_WITH_KV_PREVIEW_ID"


def test_worker_package_pins_exact_versions() -> None:
    package = json.loads((WORKER_DIR / "package.json").read_text())
    assert package["devDependencies"] == {"miniflare": "4.20260426.0", "wrangler": "4.86.0"}
    lock = json.loads((WORKER_DIR / "package-lock.json").read_text())
    assert lock["packages"]["node_modules/wrangler"]["version"] == "4.86.0"
