"""The catalog is the one list of steps: the registry builds from it, and the 403 guidance
names the permission it records for each step."""

from __future__ import annotations

import pytest

from polaris_tui import troubleshooting
from polaris_tui.runner import guidance_values
from polaris_tui.steps.catalog import STEPS
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
