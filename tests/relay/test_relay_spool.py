"""The outbox spool on a real file: torn tails, restarts, export once, private modes."""

from __future__ import annotations

import asyncio
import os
import stat
import struct
import zlib
from pathlib import Path

import pytest

from polaris_tui.errors import CorruptFile
from polaris_tui.relay import spool as spool_module
from polaris_tui.relay.outbox import OutboxDelivery
from polaris_tui.relay.spool import HEADER, MAGIC, OutboxInUse, Spool, encode_record


def _deliver(outbox: Path, *messages: bytes) -> None:
    """Start the outbox, deliver ``messages`` concurrently, wait for the export, stop."""
    delivery = OutboxDelivery(outbox)

    async def main() -> None:
        await asyncio.gather(
            *(delivery.deliver("hello@polaris.test", ["ada@example.com"], m) for m in messages)
        )

    asyncio.run(main())
    assert delivery.wait_exported()
    delivery.close()


def _contents(outbox: Path) -> list[bytes]:
    return sorted(path.read_bytes() for path in outbox.glob("*.eml"))


def _spool_file(outbox: Path) -> Path:
    return outbox / ".spool" / "messages.spool"


@pytest.mark.parametrize(
    "tail",
    [
        HEADER.pack(MAGIC, 1000, 0) + b"From: cut short",  # length says more than is there
        encode_record("1-" + "a" * 32 + ".eml", b"From: flipped")[:-1] + b"?",  # checksum fails
        b"PRS",  # not even a whole header
    ],
    ids=["short-payload", "bad-checksum", "short-header"],
)
def test_a_torn_tail_is_cut_at_start_and_never_exported(tmp_path: Path, tail: bytes) -> None:
    outbox = tmp_path / "outbox"
    spool = outbox / ".spool"
    spool.mkdir(parents=True)
    good = encode_record("1-" + "b" * 32 + ".eml", b"From: whole\r\n")
    _spool_file(outbox).write_bytes(good + tail)  # the crash came mid-append
    delivery = OutboxDelivery(outbox)
    assert delivery.spool.torn_bytes == len(tail)
    assert _spool_file(outbox).read_bytes() == good
    assert delivery.wait_exported()
    delivery.close()
    assert _contents(outbox) == [b"From: whole\r\n"]

    _deliver(outbox, b"From: after the restart\r\n")  # appended after the cut, not the garbage
    assert _contents(outbox) == [b"From: after the restart\r\n", b"From: whole\r\n"]


def test_exported_messages_are_not_exported_again_after_a_restart(tmp_path: Path) -> None:
    outbox = tmp_path / "outbox"
    _deliver(outbox, b"one\r\n", b"two\r\n", b"three\r\n")
    [first, *_] = sorted(outbox.glob("*.eml"))
    first.unlink()  # the operator has read it and moved it away
    _deliver(outbox)  # a plain restart
    assert _contents(outbox) == [b"three\r\n", b"two\r\n"]


def test_a_crash_before_the_offset_was_saved_rewrites_in_place(tmp_path: Path) -> None:
    """The .eml files exist but `exported` was not advanced: the same names come back."""
    outbox = tmp_path / "outbox"
    _deliver(outbox, b"one\r\n", b"two\r\n")
    names = sorted(p.name for p in outbox.glob("*.eml"))
    (outbox / ".spool" / "exported").write_bytes(b"0")
    _deliver(outbox)
    assert sorted(p.name for p in outbox.glob("*.eml")) == names
    assert _contents(outbox) == [b"one\r\n", b"two\r\n"]


def test_a_fully_exported_spool_is_compacted_at_start(tmp_path: Path) -> None:
    outbox = tmp_path / "outbox"
    _deliver(outbox, b"one\r\n")
    assert _spool_file(outbox).stat().st_size > 0
    Spool(outbox).close()
    assert _spool_file(outbox).stat().st_size == 0
    assert (outbox / ".spool" / "exported").read_bytes() == b"0"
    _deliver(outbox, b"two\r\n")
    assert _contents(outbox) == [b"one\r\n", b"two\r\n"]


def test_compaction_stopped_after_the_truncate_exports_nothing_twice(tmp_path: Path) -> None:
    outbox = tmp_path / "outbox"
    _deliver(outbox, b"one\r\n")
    _spool_file(outbox).write_bytes(b"")  # truncated; the offset reset never happened
    assert (outbox / ".spool" / "exported").read_bytes() != b"0"
    _deliver(outbox, b"two\r\n")
    assert _contents(outbox) == [b"one\r\n", b"two\r\n"]


def test_the_spool_is_compacted_while_running_once_caught_up(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(spool_module, "COMPACT_AT_BYTES", 1)
    outbox = tmp_path / "outbox"
    _deliver(outbox, b"one\r\n", b"two\r\n")
    assert _spool_file(outbox).stat().st_size == 0
    assert _contents(outbox) == [b"one\r\n", b"two\r\n"]


def test_a_damaged_export_offset_is_named_with_its_fix(tmp_path: Path) -> None:
    outbox = tmp_path / "outbox"
    (outbox / ".spool").mkdir(parents=True)
    (outbox / ".spool" / "exported").write_bytes(b"12x")
    with pytest.raises(CorruptFile, match=r"exported: not a spool offset; delete it"):
        OutboxDelivery(outbox)


def test_mail_and_spool_are_private_whatever_the_umask(tmp_path: Path) -> None:
    outbox = tmp_path / "outbox"
    outbox.mkdir(mode=0o755)
    previous = os.umask(0)
    try:
        _deliver(outbox, b"private\r\n")
    finally:
        os.umask(previous)
    spool = outbox / ".spool"
    modes = {
        path.relative_to(tmp_path).as_posix(): stat.S_IMODE(path.stat().st_mode)
        for path in (outbox, spool, spool / "messages.spool", spool / "exported")
    }
    assert modes == {
        "outbox": 0o700,
        "outbox/.spool": 0o700,
        "outbox/.spool/messages.spool": 0o600,
        "outbox/.spool/exported": 0o600,
    }
    [eml] = outbox.glob("*.eml")
    assert stat.S_IMODE(eml.stat().st_mode) == 0o600


def test_a_record_names_only_a_plain_eml_file(tmp_path: Path) -> None:
    """A record whose name could leave the outbox is no record: the spool ends there."""
    outbox = tmp_path / "outbox"
    (outbox / ".spool").mkdir(parents=True)
    payload = b"../../escape.eml\nFrom: x\r\n"
    crc = zlib.crc32(payload, zlib.crc32(len(payload).to_bytes(4, "big")))  # as documented
    _spool_file(outbox).write_bytes(struct.pack(">4sII", MAGIC, len(payload), crc) + payload)
    delivery = OutboxDelivery(outbox)
    assert delivery.spool.torn_bytes == len(payload) + HEADER.size
    delivery.close()
    assert not list(tmp_path.rglob("escape.eml"))


def test_a_second_relay_on_the_same_outbox_is_refused(tmp_path: Path) -> None:
    outbox = tmp_path / "outbox"
    first = OutboxDelivery(outbox)
    try:
        with pytest.raises(OutboxInUse, match="stop the other `polaris-tui relay`"):
            OutboxDelivery(outbox)
    finally:
        first.close()
    OutboxDelivery(outbox).close()  # free again once the first has stopped
