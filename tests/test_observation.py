"""One observation: shared reads, one zone listing, writes end the sharing (pure, fakes)."""

from __future__ import annotations

import contextvars
import threading
import time
from concurrent.futures import ThreadPoolExecutor

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


def test_outside_an_observation_every_read_reaches_the_port() -> None:
    fake = FakeKv({"EMAIL_NONCE_DEDUP": "ns-1"})
    kv = observed("kv", fake)
    kv.titles()
    kv.titles()
    assert fake.calls["titles"] == 2


def test_inside_an_observation_a_read_is_made_once_and_copied() -> None:
    fake = FakeKv({"EMAIL_NONCE_DEDUP": "ns-1"})
    kv = observed("kv", fake)
    with observing():
        first = kv.titles()
        first["mutated"] = "x"  # a caller changing its answer does not change the next one
        assert kv.titles() == {"EMAIL_NONCE_DEDUP": "ns-1"}
    assert fake.calls["titles"] == 1
    kv.titles()
    assert fake.calls["titles"] == 2  # the observation ended with its block


def test_the_zone_is_listed_once_and_filtered_like_the_api() -> None:
    fake = FakeDnsRecords(list(ZONE))
    dns = observed("dns_records", fake)
    with observing():
        asked = [("polaris.test", "A"), ("polaris.test", None), ("MAIL.polaris.test", None)]
        for name, rtype in asked:
            want = fake.list(name=name.lower(), type=rtype)
            assert dns.list(name=name, type=rtype) == want
    assert fake.calls["list"] == 1 + 3  # one zone listing, plus the three direct comparisons


def test_a_write_ends_the_sharing_so_the_next_read_sees_it() -> None:
    fake = FakeDnsRecords(list(ZONE))
    dns = observed("dns_records", fake)
    with observing():
        assert len(dns.list(name="manage.polaris.test")) == 0
        dns.batch(deletes=[], patches=[], posts=[Record("A", "manage.polaris.test", "192.0.2.10")])
        assert len(dns.list(name="manage.polaris.test")) == 1
    assert fake.calls["list"] == 2


def test_an_error_is_shared_like_an_answer() -> None:
    fake = FakeKv()
    kv = observed("kv", fake)
    with observing():
        for _ in range(2):
            with pytest.raises(NotFound):
                kv.delete("missing")  # a write: not shared
    assert fake.calls["delete"] == 2

    class Missing(FakeKv):
        def titles(self) -> dict[str, str]:
            self.calls["titles"] += 1
            raise NotFound("no account", status=404)

    missing = Missing()
    port = observed("kv", missing)
    with observing():
        for _ in range(3):
            with pytest.raises(NotFound):
                port.titles()
    assert missing.calls["titles"] == 1


def test_threads_reading_together_make_one_request() -> None:
    gate = threading.Barrier(4)

    class Slow(FakeKv):
        def titles(self) -> dict[str, str]:
            self.calls["titles"] += 1
            time.sleep(0.05)  # long enough for every reader to arrive while it is asked
            return {"t": "ns-1"}

    fake = Slow()
    kv = observed("kv", fake)

    def read() -> dict[str, str]:
        gate.wait()
        return kv.titles()

    with observing(), ThreadPoolExecutor(4) as pool:
        results = [pool.submit(contextvars.copy_context().run, read) for _ in range(4)]
        assert all(r.result() == {"t": "ns-1"} for r in results)
    assert fake.calls["titles"] == 1


def test_another_context_is_not_part_of_the_observation() -> None:
    """An apply polling in another worker thread must always reach the port."""
    fake = FakeKv({"t": "ns-1"})
    kv = observed("kv", fake)
    with observing():
        kv.titles()
        worker = threading.Thread(target=lambda: (kv.titles(), kv.titles()))
        worker.start()
        worker.join()
    assert fake.calls["titles"] == 3
