"""Every relay vector case against the Python relay (ASGI app in-process, fixed clock)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest
from relay_vectors import NOW_MS, RELAY, build_request, case_settings, check_message, check_response

from polaris_tui.relay.engine import RelayEngine
from polaris_tui.relay.outbox import OutboxDelivery
from polaris_tui.relay.server import create_app


@pytest.mark.parametrize("case", RELAY["cases"], ids=lambda c: c["name"])
async def test_relay_case(case: dict[str, Any], tmp_path: Path) -> None:
    settings = case_settings(case)
    outbox = OutboxDelivery(tmp_path)
    engine = RelayEngine(settings, outbox, clock=lambda: NOW_MS / 1000)
    transport = httpx.ASGITransport(app=create_app(engine))
    nonces: list[str | None] = []
    async with httpx.AsyncClient(transport=transport) as client:
        for index, step in enumerate(case["steps"]):
            before = set(tmp_path.glob("*.eml"))
            request = build_request(step, settings, NOW_MS, nonces)
            nonces.append(request.nonce)
            response = await client.request(
                request.method, request.url, headers=request.headers, content=request.body
            )
            expect = step["expect"]
            check_response(
                case["name"],
                index,
                expect,
                response.status_code,
                dict(response.headers),
                response.content,
            )
            assert outbox.wait_exported()
            new = sorted(set(tmp_path.glob("*.eml")) - before)
            if "delivered" in expect:
                assert len(new) == expect["delivered"], f"{case['name']} step {index}"
            if "message" in expect:
                check_message(
                    f"{case['name']} step {index}", expect["message"], new[0].read_bytes()
                )
