"""Every error the engine raises for an operator derives from PolarisError, with a title."""

from __future__ import annotations

import pytest

from polaris_tui.dmarc import DmarcError
from polaris_tui.errors import MetadataError, PolarisError, UsageError
from polaris_tui.png import PngError, png_size
from polaris_tui.rotation import RotationError
from polaris_tui.runner import StepFailure
from polaris_tui.spf import SpfError
from polaris_tui.steps.assets import AssetError
from polaris_tui.steps.email_service import EmailServiceError
from polaris_tui.troubleshooting import lookup
from polaris_tui.vault import VaultError
from polaris_tui.wrangler_sync import WranglerConfigError

OPERATOR_ERRORS = (
    VaultError,
    RotationError,
    UsageError,
    SpfError,
    DmarcError,
    PngError,
    AssetError,
    MetadataError,
    EmailServiceError,
    WranglerConfigError,
)


@pytest.mark.parametrize("cls", OPERATOR_ERRORS, ids=lambda c: c.__name__)
def test_operator_errors_share_the_base_with_their_own_title(cls: type[PolarisError]) -> None:
    assert issubclass(cls, PolarisError)
    assert cls.title != PolarisError.title
    assert cls.exit_code in (1, 2)


def test_value_errors_stay_value_errors() -> None:
    """Callers that catch ValueError around parsing keep working."""
    with pytest.raises(ValueError, match="not a PNG") as err:
        png_size(b"not a png at all, just text")
    assert isinstance(err.value, PolarisError) and err.value.title == "Invalid PNG"


def test_a_step_failure_carries_its_entry_as_guidance() -> None:
    entry = lookup("kv", status=403)
    assert entry is not None
    failure = StepFailure("kv", "Cloudflare refused the call", entry)
    assert isinstance(failure, PolarisError)
    assert failure.title == "Step kv failed" and failure.guidance == entry.text()
    assert str(failure) == "kv: Cloudflare refused the call"
    assert failure.to_json()["message"] == "kv: Cloudflare refused the call"
    assert StepFailure("kv", "no entry").guidance == ""
