"""The edge's Worker runtime: the uploaded modules of each deployed script run in workerd.

One Node process (``workerd_host.mjs``, miniflare as pinned by the relay Worker's
package-lock.json) is started on the first request to a Worker host and reused; each script
is (re)loaded when its etag changes, i.e. after an upload, a settings change or a secret
change. Durable Objects keep their storage under ``durable-objects/`` across reloads, one
folder per namespace id (a migration makes a new one, as Cloudflare does). The process sits
in its own process group so that stopping the sandbox ends it and every workerd it spawned,
and it exits by itself when its stdin closes (the sandbox died).
"""

from __future__ import annotations

import contextlib
import json
import os
import queue
import re
import shutil
import signal
import subprocess
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from polaris_tui.relay.node import NodeMissingError, ensure_node_modules, node_env
from polaris_tui.sandbox.json_lines import read_json_lines

HOST_SCRIPT = Path(__file__).with_name("workerd_host.mjs")
MIN_NODE_MAJOR = 20
LOAD_TIMEOUT_SECONDS = 120.0
VALUE_TYPES = ("plain_text", "secret_text", "json")


class WorkerLoadError(RuntimeError):
    """The uploaded Worker could not start in workerd (Cloudflare's error 1101 territory)."""


class RuntimeUnavailable(RuntimeError):
    """Node, npm or the pinned npm packages are missing: no Worker can run here."""


@dataclass(frozen=True)
class Endpoints:
    """Where the bridge sends KV calls (the sandbox API) and mail (the SMTP inbox)."""

    api: str
    token: str
    account_id: str
    smtp_host: str
    smtp_port: int


def node_problem() -> str | None:
    """Why Worker hosts cannot be served here, or None when Node 20+ and npm are present."""
    missing = [tool for tool in ("node", "npm") if shutil.which(tool) is None]
    if missing:
        return (
            f"{' and '.join(missing)} not found on PATH: the sandbox edge runs uploaded "
            f"Workers in workerd through miniflare; install Node.js {MIN_NODE_MAJOR} or newer"
        )
    try:
        version = subprocess.run(
            ["node", "--version"], capture_output=True, text=True, timeout=20, check=True
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError) as err:
        return f"`node --version` failed ({err}); install Node.js {MIN_NODE_MAJOR} or newer"
    match = re.match(r"v(\d+)\.", version)
    if not match or int(match.group(1)) < MIN_NODE_MAJOR:
        return f"node {version} is too old to run miniflare: install Node.js {MIN_NODE_MAJOR}+"
    return None


def worker_spec(script: dict[str, Any], secrets: dict[str, str]) -> dict[str, Any]:
    """What the host needs to run ``script``: its modules (main first) and bindings."""
    modules = script["modules"]
    names = [script["main_module"], *(n for n in modules if n != script["main_module"])]
    values: dict[str, Any] = {}
    kv: dict[str, dict[str, Any]] = {}
    send_email: dict[str, dict[str, Any]] = {}
    durable_objects: dict[str, dict[str, Any]] = {}
    classes = script.get("durable_objects", {})
    for binding in script["bindings"]:
        kind, name = binding["type"], binding["name"]
        if kind == "plain_text":
            values[name] = binding.get("text", "")
        elif kind == "json":
            values[name] = binding.get("json")
        elif kind == "secret_text":
            if name not in secrets:
                raise WorkerLoadError(f"secret {name} has no stored value")
            values[name] = secrets[name]
        elif kind == "kv_namespace":
            kv[name] = {"namespace_id": binding["namespace_id"]}
        elif kind == "durable_object_namespace":
            # The upload refused a class without a namespace; its storage is the migration's.
            created = classes[binding["class_name"]]
            durable_objects[name] = {
                "class_name": binding["class_name"],
                "sqlite": created["storage"] == "sqlite",
                "namespace_id": created["namespace_id"],
            }
        elif kind == "send_email":
            send_email[name] = {
                k: binding[k]
                for k in (
                    "allowed_sender_addresses",
                    "allowed_destination_addresses",
                    "destination_address",
                )
                if k in binding
            }
        else:
            raise WorkerLoadError(
                f"binding {name}: type {kind!r} is not modelled by the sandbox edge"
            )
    return {
        "name": script["name"],
        "modules": [
            {"name": n, "content_type": modules[n]["content_type"], "b64": modules[n]["b64"]}
            for n in names
        ],
        "compatibility_date": script.get("compatibility_date"),
        "compatibility_flags": script.get("compatibility_flags") or [],
        "vars": values,
        "kv": kv,
        "send_email": send_email,
        "durable_objects": durable_objects,
    }


class WorkerdHost:
    """The Node process hosting every deployed script's miniflare; thread-safe, lazy."""

    def __init__(self, endpoints: Callable[[], Endpoints], work_dir: Path) -> None:
        self.endpoints, self.work_dir = endpoints, work_dir
        self.problem: str | None = None
        self._lock = threading.Lock()
        self._process: subprocess.Popen[str] | None = None
        self._replies: queue.Queue[dict[str, Any] | None] = queue.Queue()
        self._loaded: dict[str, tuple[str, str]] = {}
        self._failed: dict[str, tuple[str, str]] = {}
        self._next_id = 0

    def check(self) -> str | None:
        """Run at sandbox start: the reason Worker hosts will answer 503, if any."""
        self.problem = node_problem()
        return self.problem

    def url_for(self, name: str, etag: str, spec: Callable[[], dict[str, Any]]) -> str:
        """The local URL of ``name``'s workerd, (re)loading it when its etag moved on."""
        with self._lock:
            loaded = self._loaded.get(name)
            if loaded is not None and loaded[0] == etag and self._alive():
                return loaded[1]
            failed = self._failed.get(name)
            if failed is not None and failed[0] == etag:
                raise WorkerLoadError(failed[1])
            if not self._alive():
                self._start()
            try:
                worker = {**spec(), "persist": str(self.work_dir / "durable-objects")}
                reply = self._call({"op": "load", "name": name, "worker": worker})
            except WorkerLoadError as err:
                # The same version fails the same way: answer at once until a new upload.
                message = f"{err} (workerd's output: {self.work_dir / 'workerd.log'})"
                self._failed[name] = (etag, message)
                self._loaded.pop(name, None)
                raise WorkerLoadError(message) from None
            self._loaded[name] = (etag, reply["url"])
            return reply["url"]

    def forget(self) -> None:
        """Reload every script on its next request (the account was reset)."""
        with self._lock:
            self._loaded.clear()
            self._failed.clear()

    def _alive(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def _start(self) -> None:
        self._stop_process()
        try:
            tools = ensure_node_modules()
        except NodeMissingError as err:
            raise RuntimeUnavailable(str(err)) from None
        self.work_dir.mkdir(parents=True, exist_ok=True)
        log = open(self.work_dir / "workerd.log", "ab")  # noqa: SIM115 - the child owns it
        env = {**node_env(), "TMPDIR": str(self.work_dir)}
        try:
            self._process = subprocess.Popen(
                [shutil.which("node") or "node", str(HOST_SCRIPT), str(tools)],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=log,
                cwd=self.work_dir,
                env=env,
                text=True,
                start_new_session=True,
            )
        finally:
            log.close()
        self._replies = queue.Queue()
        assert self._process.stdout is not None
        threading.Thread(
            target=read_json_lines, args=(self._process.stdout, self._replies), daemon=True
        ).start()
        self._wait(0)  # the host's hello: miniflare loaded
        self._loaded.clear()

    def _call(self, request: dict[str, Any]) -> dict[str, Any]:
        assert self._process is not None and self._process.stdin is not None
        self._next_id += 1
        request = {**request, "id": self._next_id, "endpoints": vars(self.endpoints())}
        try:
            self._process.stdin.write(json.dumps(request) + "\n")
            self._process.stdin.flush()
        except OSError as err:
            raise RuntimeUnavailable(f"the workerd host is gone ({err})") from None
        return self._wait(self._next_id)

    def _wait(self, ident: int) -> dict[str, Any]:
        while True:
            try:
                reply = self._replies.get(timeout=LOAD_TIMEOUT_SECONDS)
            except queue.Empty:
                self._stop_process()
                raise RuntimeUnavailable(
                    f"workerd did not start within {LOAD_TIMEOUT_SECONDS:.0f} s"
                ) from None
            if reply is None:
                raise RuntimeUnavailable(
                    f"the workerd host exited; see {self.work_dir / 'workerd.log'}"
                )
            if reply.get("id") == ident:
                if not reply.get("ok"):
                    raise WorkerLoadError(reply.get("error", "unknown error"))
                return reply

    def stop(self) -> None:
        with self._lock:
            self._stop_process()
            self._loaded.clear()

    def _stop_process(self) -> None:
        """Close stdin (the host disposes its workerds), then end the whole group."""
        process, self._process = self._process, None
        if process is None:
            return
        try:
            if process.stdin is not None:
                process.stdin.close()
            process.wait(timeout=5)
        except (OSError, subprocess.TimeoutExpired):
            pass
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()
