"""The desired zone: every DNS record a step publishes, in one table, each with its owner.

Five steps care about one zone: dns (the address records), auth (the apex SPF record and
DMARC), email-service (Email Sending's records), route (``mail.`` must be proxied for a Worker
Route) and assets (``assets.`` belongs to the R2 custom domain). Each record is listed here
once with the step that owns it, every record is compared by one rule (``Record.same_as``),
and ``diff_slots`` turns the table into changes for all of them, so no two steps can disagree
about whether a record is right.

The records Cloudflare writes itself are not in the table: Email Routing's apex MX and SPF
records (auth merges that SPF into the one it owns) and the record behind an R2 or Worker
Custom Domain.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace

from polaris_tui import dmarc, spf
from polaris_tui.config import Config
from polaris_tui.ports import Record, unquote
from polaris_tui.steps.base import Change
from polaris_tui.steps.records import record_change

ADDRESS_TYPES = ("A", "AAAA", "CNAME")


@dataclass(frozen=True)
class Desired:
    """One record the zone should hold; ``owner`` is the step that publishes it.

    ``merges``: the record carries what the other records in its slot said (one SPF record
    from all of them), so removing those loses nothing and needs no --allow-delete.
    """

    owner: str
    label: str
    record: Record
    note: str = ""
    merges: bool = False


def slot(rec: Record) -> tuple[str, str, str]:
    """Which existing records compete for ``rec``'s place: same name and type; TXT records
    share a name by their version tag (v=spf1, v=DMARC1, v=DKIM1); an MX is its exchange."""
    tag = ""
    if rec.type == "TXT":
        head = unquote(rec.content).split(";", 1)[0].split(" ", 1)[0].strip().lower()
        tag = head if head.startswith("v=") else f"text:{unquote(rec.content)}"
    elif rec.type == "MX":
        tag = rec.content.rstrip(".").lower()
    return (rec.name.rstrip(".").lower(), rec.type, tag)


def diff_slots(existing: Sequence[Record], desired: Iterable[Desired]) -> list[Change]:
    """For each desired record, the changes that leave its slot holding exactly it.

    An exact copy is kept (the one the tool did not create first: Cloudflare may have
    written it); otherwise a record in the slot is updated in place (ours first, else the
    oldest), or the record is created. Every other record in the slot is deleted: freely when
    it is ours or the desired record merges it, else only with --allow-delete.
    """
    changes: list[Change] = []
    for want in desired:
        holders = [r for r in existing if slot(r) == slot(want.record)]
        exact = sorted((r for r in holders if r.same_as(want.record)), key=lambda r: r.owned)
        if exact:
            keep = exact[0]
            changes.append(record_change(keep, keep, note=want.note))
        elif holders:
            keep = sorted(holders, key=lambda r: not r.owned)[0]
            note = want.note or f"{want.record.name} {want.record.type} differs from the plan"
            changes.append(record_change(keep, replace(want.record, id=keep.id), note=note))
        else:
            keep = None
            changes.append(record_change(None, want.record, note=want.note))
        for other in holders:
            if other is not keep:
                changes.append(_surplus(other, want))
    return changes


def _surplus(rec: Record, want: Desired) -> Change:
    if want.merges:
        note = f"second {want.label.upper()} record: merged into the one above"
        return replace(record_change(rec, None, note=note), owned=True)
    if rec.same_as(want.record):
        return record_change(rec, None, note="duplicate of the record above")
    return record_change(rec, None, note=f"surplus {rec.type} at {want.record.name}")


def address_records(config: Config) -> list[Desired]:
    """The dns step's address records: apex, manage. and (for a Worker Route) mail. at the
    Traefik entry, and assets. when another public origin serves the logos."""
    hosts = [
        ("apex", config.domain, config.proxied_apex),
        (config.host_manage, config.manage_host, config.proxied_manage),
    ]
    if config.route_mode != "custom_domain":
        hosts.append((config.host_mail, config.mail_host, True))
    wants: list[Desired] = []
    for label, host, proxied in hosts:
        wants.append(Desired("dns", label, Record("A", host, config.traefik_ipv4, proxied=proxied)))
        if config.traefik_ipv6:
            wants.append(
                Desired("dns", label, Record("AAAA", host, config.traefik_ipv6, proxied=proxied))
            )
    if config.assets_origin != "r2":
        wants.append(
            Desired(
                "dns",
                config.host_assets,
                Record("CNAME", config.assets_host, config.assets_origin),
            )
        )
    return wants


def dmarc_name(config: Config) -> str:
    return f"_dmarc.{config.domain}"


def spf_record(domain: str, qualifier: str, published: Sequence[Record], note: str = "") -> Desired:
    """auth's one apex SPF record: every published SPF record merged (Email Routing adds its
    own), keeping the operator's mechanisms."""
    merged = spf.merge([r.content for r in published], qualifier=qualifier)
    notes = "; ".join(filter(None, [*merged.notes, note])) if published else note
    return Desired("auth", "spf", Record("TXT", domain, merged.record), notes, merges=True)


def dmarc_record(name: str, planned: dmarc.Planned, published: Sequence[Record]) -> Desired:
    """auth's DMARC record: the planned tags over the operator's extra ones."""
    target = dmarc.merge([r.content for r in published], planned)
    return Desired("auth", "dmarc", Record("TXT", name, target), merges=True)


def sending_records(required: Sequence[Record]) -> list[Desired]:
    """email-service's records: exactly what Email Sending lists as required, once each."""
    return [
        Desired(
            "email-service",
            "dkim" if is_dkim(r) else "sending",
            r,
            "required by Email Sending" + (" (DKIM)" if is_dkim(r) else ""),
        )
        for r in required
    ]


def is_dkim(rec: Record) -> bool:
    return "._domainkey." in f"{rec.name}."


def desired_zone(
    config: Config,
    *,
    apex_spf: Sequence[Record] = (),
    dmarcs: Sequence[Record] = (),
    sending_required: Sequence[Record] = (),
    spf_note: str = "",
) -> list[Desired]:
    """The whole table, from the config and what the zone and Email Sending report now."""
    planned = dmarc.Planned(config.dmarc_policy, config.dmarc_rua)
    return [
        *address_records(config),
        spf_record(config.domain, config.spf_qualifier, apex_spf, spf_note),
        dmarc_record(dmarc_name(config), planned, dmarcs),
        *sending_records(sending_required),
    ]


PRIVATE_S3_SUFFIX = ".r2.cloudflarestorage.com"


def private_r2_cnames(records: Iterable[Record]) -> list[Record]:
    """CNAMEs to R2's private S3 API host: they serve nothing publicly, so ``assets.`` must
    not hold one; the assets step removes it (dns only points at it)."""
    return [
        r
        for r in records
        if r.type == "CNAME" and r.content.rstrip(".").lower().endswith(PRIVATE_S3_SUFFIX)
    ]


def owned_by(owner: str, table: Iterable[Desired]) -> list[Desired]:
    return [d for d in table if d.owner == owner]
