"""One observation: shared reads, one zone listing, writes end the sharing (pure, fakes)."""

from __future__ import annotations

import asyncio
import threading

import pytest

from polaris_tui.errors import NotFound
from polaris_tui.observation import observed, observing
from polaris_tui.ports import Record
from tests.fakes import FakeDnsRecords, FakeKv

ZONE = [
    Record("A", "polaris.test", "192.0.2.10", id="1"),
    Record("TXT", "polaris.test", "v=spf1 -all", id="2"),
    Record("A", "mail.polaris.test", "192.0.2.10", proxied=True, id="3"),
]


async def test_outside_an_observation_every_read_reaches_the_port() -> None:
    fake = FakeKv({"EMAIL_NONCE_DEDUP": "ns-1"})
    kv = observed("kv", fake)
    await kv.titles()
    await kv.titles()
    assert fake.calls["titles"] == 2


async def test_inside_an_observation_a_read_is_made_once_and_copied() -> None:
    fake = FakeKv({"EMAIL_NONCE_DEDUP": "ns-1"})
    kv = observed("kv", fake)
    with observing():
        first = await kv.titles()
        first["mutated"] = "x"  # a caller changing its answer does not change the next one
        assert await kv.titles() == {"EMAIL_NONCE_DEDUP": "ns-1"}
    assert fake.calls["titles"] == 1
    await kv.titles()
    assert fake.calls["titles"] == 2  # the observation ended with its block


async def test_the_zone_is_listed_once_and_filtered_like_the_api() -> None:
    fake = FakeDnsRecords(list(ZONE))
    dns = observed("dns_records", fake)
    with observing():
        asked = [("polaris.test", "A"), ("polaris.test", None), ("MAIL.polaris.test", None)]
        for name, rtype in asked:
            want = await fake.list(name=name.lower(), type=rtype)
            assert await dns.list(name=name, type=rtype) == want
    assert fake.calls["list"] == 1 + 3  # one zone listing, plus the three direct comparisons


async def test_a_write_ends_the_sharing_so_the_next_read_sees_it() -> None:
    fake = FakeDnsRecords(list(ZONE))
    dns = observed("dns_records", fake)
    with observing():
        assert len(await dns.list(name="manage.polaris.test")) == 0
        post = Record("A", "manage.polaris.test", "192.0.2.10")
        await dns.batch(deletes=[], patches=[], posts=[post])
        assert len(await dns.list(name="manage.polaris.test")) == 1
    assert fake.calls["list"] == 2


async def test_an_error_is_shared_like_an_answer() -> None:
    fake = FakeKv()
    kv = observed("kv", fake)
    with observing():
        for _ in range(2):
            with pytest.raises(NotFound):
                await kv.delete("missing")  # a write: not shared
    assert fake.calls["delete"] == 2

    class Missing(FakeKv):
        async def titles(self) -> dict[str, str]:
            self.calls["titles"] += 1
            raise NotFound("no account", status=404)

    missing = Missing()
    port = observed("kv", missing)
    with observing():
        for _ in range(3):
            with pytest.raises(NotFound):
                await port.titles()
    assert missing.calls["titles"] == 1


class Slow(FakeKv):
    """A read that takes long enough for every other reader to arrive while it is asked."""

    async def titles(self) -> dict[str, str]:
        self.calls["titles"] += 1
        await asyncio.sleep(0.05)
        return {"t": "ns-1"}


async def test_concurrent_reads_share_one_request() -> None:
    fake = Slow()
    kv = observed("kv", fake)
    with observing():
        results = await asyncio.gather(*(kv.titles() for _ in range(4)))
    assert results == [{"t": "ns-1"}] * 4
    assert fake.calls["titles"] == 1


async def test_a_reader_that_gives_up_does_not_cancel_the_read_for_the_others() -> None:
    fake = Slow()
    kv = observed("kv", fake)
    with observing():
        impatient = asyncio.ensure_future(asyncio.wait_for(kv.titles(), 0.01))
        patient = asyncio.ensure_future(kv.titles())
        with pytest.raises(TimeoutError):
            await impatient
        assert await patient == {"t": "ns-1"}
    assert fake.calls["titles"] == 1


async def test_a_new_observation_inside_another_reads_again() -> None:
    """Checking that the world still looks as planned is never answered from the plan's reads."""
    fake = FakeKv({"t": "ns-1"})
    kv = observed("kv", fake)
    with observing():
        await kv.titles()
        with observing(new=True):
            await kv.titles()
            await kv.titles()
        await kv.titles()  # the outer observation is back, with its answer
    assert fake.calls["titles"] == 2


async def test_another_context_is_not_part_of_the_observation() -> None:
    """An apply polling in another worker thread (its own loop) must always reach the port."""
    fake = FakeKv({"t": "ns-1"})
    kv = observed("kv", fake)

    async def poll_twice() -> None:
        await kv.titles()
        await kv.titles()

    with observing():
        await kv.titles()
        worker = threading.Thread(target=lambda: asyncio.run(poll_twice()))
        worker.start()
        worker.join()
    assert fake.calls["titles"] == 3
