"""Durable Objects on the sandbox: migrations move a script's tag and create namespaces, a
binding needs one (Cloudflare's 10061, 10070, 10079), and the class runs in workerd with its
storage kept across reloads."""

from __future__ import annotations

import cloudflare
import pytest

from tests.sandbox.test_edge_workerd import DATE, WORKER, call, route

COUNTER = b"""
import { DurableObject } from "cloudflare:workers";
export class Counter extends DurableObject {
  async bump() {
    const sql = this.ctx.storage.sql;
    sql.exec("CREATE TABLE IF NOT EXISTS n (v INTEGER)");
    sql.exec("INSERT INTO n VALUES (1)");
    return sql.exec("SELECT COUNT(*) AS c FROM n").one().c;
  }
}
export default {
  async fetch(request, env) {
    const stub = env.COUNTER.get(env.COUNTER.idFromName("one"));
    return Response.json({ count: await stub.bump(), version: env.VERSION });
  },
};
"""
BINDING = {"type": "durable_object_namespace", "name": "COUNTER", "class_name": "Counter"}
NEW_COUNTER = {"new_tag": "v1", "new_sqlite_classes": ["Counter"]}


def upload(cf, ep, *, migrations=None, source: bytes = COUNTER, version: str = "1") -> None:
    metadata = {
        "main_module": "main.js",
        "compatibility_date": DATE,
        "bindings": [BINDING, {"type": "plain_text", "name": "VERSION", "text": version}],
    }
    if migrations is not None:
        metadata["migrations"] = migrations
    cf.workers.scripts.update(
        WORKER,
        account_id=ep.account_id,
        metadata=metadata,
        files=[("main.js", source, "application/javascript+module")],
    )


def refused(cf, ep, **kwargs) -> cloudflare.APIStatusError:
    with pytest.raises(cloudflare.BadRequestError) as caught:
        upload(cf, ep, **kwargs)
    return caught.value


def codes(error: cloudflare.APIStatusError) -> list[int]:
    return [e["code"] for e in error.body["errors"]]  # type: ignore[index]


def migration_tag(cf, ep) -> str | None:
    return next(s.migration_tag for s in cf.workers.scripts.list(account_id=ep.account_id))


def test_a_binding_needs_a_migration_that_created_its_class(cf, ep):
    error = refused(cf, ep)
    assert codes(error) == [10061]
    assert "not currently configured to implement Durable Objects" in str(error)
    assert list(cf.workers.scripts.list(account_id=ep.account_id)) == []  # nothing stored
    error = refused(cf, ep, migrations=NEW_COUNTER, source=b"export default {};")
    assert codes(error) == [10070]  # a migration for a class the code does not export


def test_a_migration_sets_the_tag_once_and_checks_old_tag(cf, ep):
    upload(cf, ep, migrations=NEW_COUNTER)
    assert migration_tag(cf, ep) == "v1"
    settings = cf.workers.scripts.script_and_version_settings.get(WORKER, account_id=ep.account_id)
    [guard] = [b for b in settings.bindings if b.name == "COUNTER"]
    assert guard.class_name == "Counter" and guard.namespace_id
    upload(cf, ep, version="2")  # no migration: the class keeps its namespace
    assert migration_tag(cf, ep) == "v1"
    error = refused(cf, ep, migrations={"old_tag": "v0", "new_tag": "v2", "deleted_classes": []})
    assert codes(error) == [10079]
    assert "current tag is v1" in str(error)
    error = refused(cf, ep, migrations={"old_tag": "v1", **NEW_COUNTER, "new_tag": "v2"})
    assert "already has a Durable Object namespace" in str(error)
    assert migration_tag(cf, ep) == "v1"


def test_the_class_runs_in_workerd_and_keeps_its_storage_across_reloads(cf, ep):
    upload(cf, ep, migrations=NEW_COUNTER)
    route(cf, ep)
    assert call(ep).json() == {"count": 1, "version": "1"}
    assert call(ep).json() == {"count": 2, "version": "1"}
    upload(cf, ep, version="2")  # a new version reloads workerd; the object's rows stay
    assert call(ep).json() == {"count": 3, "version": "2"}
