"""The catalog is the one list of steps: the registry builds from it, and the 403 guidance
names the permission it records for each step."""

from __future__ import annotations

import pytest

from polaris_tui import troubleshooting
from polaris_tui.runner import guidance_values
from polaris_tui.steps.catalog import STEP_IDS, STEPS, dependencies, topological
from polaris_tui.steps.registry import all_steps, get_step


def test_the_registry_builds_every_catalog_step_in_order() -> None:
    steps = all_steps()
    assert [(s.id, type(s).__name__) for s in steps] == [(i.id, i.class_name) for i in STEPS]
    assert [s.title for s in steps] == [i.title for i in STEPS]
    with pytest.raises(KeyError):
        get_step("no-such-step")


@pytest.mark.parametrize("info", STEPS, ids=[i.id for i in STEPS])
def test_a_403_names_the_permission_from_the_catalog(info, config_file) -> None:  # type: ignore[no-untyped-def]
    from polaris_tui.session import build_context

    ctx = build_context(config_file)
    entry = troubleshooting.lookup(info.id, values=guidance_values(ctx, info.id), status=403)
    assert entry is not None
    assert info.permission in entry.text()


def test_the_apply_graph_names_only_steps_has_no_cycle_and_says_why() -> None:
    graph = dependencies()
    assert set(graph) == set(STEP_IDS)
    order = topological(graph)  # raises on a cycle or an unknown step
    assert sorted(order) == sorted(STEP_IDS)
    for info in STEPS:
        for edge in info.after:
            assert edge.step in STEP_IDS and edge.step != info.id, (info.id, edge.step)
            assert edge.why, (info.id, edge.step)
            assert order.index(edge.step) < order.index(info.id)
    # the zone's writers are ordered: none of dns, auth, email-service runs beside another
    assert graph["auth"] == ("dns",) and set(graph["email-service"]) == {"dns", "auth"}


def test_a_cycle_or_an_unknown_dependency_is_refused() -> None:
    with pytest.raises(ValueError, match="cycle"):
        topological({"a": ("b",), "b": ("a",), "c": ()})
    with pytest.raises(ValueError, match="not a step"):
        topological({"a": ("zzz",)})
    assert topological({"b": ("a",), "a": (), "c": ()}) == ["a", "b", "c"]


def test_a_step_applied_alone_comes_after_nothing() -> None:
    assert dependencies(["route"]) == {"route": ()}
    assert dependencies(["kv", "deploy"]) == {"kv": (), "deploy": ("kv",)}
