"""Keep the app repo's ``wrangler.jsonc`` KV ids in sync without touching anything else.

The file is the operator's: comments, order and formatting must survive. json-five's model
loader/dumper round-trips a JSONC document byte for byte, so only the two id strings change.
The write is atomic (temp file, fsync, rename).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from polaris_tui.errors import PolarisError
from polaris_tui.fsutil import atomic_write, read_text

WRANGLER_FILE = "wrangler.jsonc"
KV_BINDING = "EMAIL_NONCE_DEDUP"
PLACEHOLDERS = {"id": "REPLACE_WITH_KV_NAMESPACE_ID", "preview_id": "REPLACE_WITH_KV_PREVIEW_ID"}


class WranglerConfigError(PolarisError, ValueError):
    """The wrangler.jsonc cannot be updated; the message names the file, the key and the fix."""

    title = "wrangler.jsonc"
    exit_code = 2


@dataclass(frozen=True)
class KvIds:
    id: str | None
    preview_id: str | None

    def to_json(self) -> dict[str, str | None]:
        return {"id": self.id, "preview_id": self.preview_id}


def wrangler_path(worker_dir: Path) -> Path:
    return Path(worker_dir) / WRANGLER_FILE


def _key(node: Any) -> str:
    """A member name, whether quoted ("id") or a bare JSON5 identifier (id)."""
    return str(getattr(node, "characters", None) or getattr(node, "name", ""))


def _member(obj: Any, name: str) -> Any | None:
    for pair in getattr(obj, "key_value_pairs", []):
        if _key(pair.key) == name:
            return pair.value
    return None


def _load(path: Path) -> Any:
    import json5
    from json5.loader import ModelLoader

    try:
        text = read_text(path, "save it as UTF-8 (wrangler reads UTF-8 JSONC)")
    except FileNotFoundError:
        raise WranglerConfigError(
            f"{path} does not exist: set 'worker_dir' in the config to the app's "
            "cloudflare/email-worker folder, or remove it"
        ) from None
    try:
        return json5.loads(text, loader=ModelLoader())
    except Exception as exc:
        raise WranglerConfigError(f"{path} is not valid JSONC: {exc}") from None


def _kv_entry(doc: Any, path: Path) -> Any:
    namespaces = _member(doc.value, "kv_namespaces")
    for entry in getattr(namespaces, "values", []) or []:
        binding = _member(entry, "binding")
        if getattr(binding, "characters", None) == KV_BINDING:
            return entry
    raise WranglerConfigError(
        f'{path}: no kv_namespaces entry with "binding": "{KV_BINDING}"; add '
        f'{{ "binding": "{KV_BINDING}", "id": "{PLACEHOLDERS["id"]}", '
        f'"preview_id": "{PLACEHOLDERS["preview_id"]}" }} to kv_namespaces'
    )


def read_kv_ids(path: Path) -> KvIds:
    """The ids the file holds now (placeholders are reported as None)."""
    entry = _kv_entry(_load(path), path)
    values: dict[str, str | None] = {}
    for key, placeholder in PLACEHOLDERS.items():
        text = getattr(_member(entry, key), "characters", None)
        values[key] = None if text in (None, placeholder) else str(text)
    return KvIds(values["id"], values["preview_id"])


def write_kv_ids(path: Path, ids: KvIds) -> bool:
    """Replace the two id strings in place; True when the file changed."""
    import json5
    from json5.dumper import ModelDumper

    doc = _load(path)
    entry = _kv_entry(doc, path)
    changed = False
    for key, value in ids.to_json().items():
        node = _member(entry, key)
        if node is None or not hasattr(node, "characters"):
            raise WranglerConfigError(
                f'{path}: the {KV_BINDING} entry needs a string "{key}" member; add '
                f'"{key}": "{PLACEHOLDERS[key]}" to it'
            )
        if value is None or node.characters == value:
            continue
        node.characters = value
        node.raw_value = '"' + value + '"'  # ids are hex: nothing to escape
        changed = True
    if changed:
        text = json5.dumps(doc, dumper=ModelDumper())
        atomic_write(path, text.encode("utf-8"), mode=path.stat().st_mode & 0o777)
    return changed
