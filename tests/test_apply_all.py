"""`apply all --yes` through the console script: it converges, a second run changes nothing,
it still converges when every write endpoint it used answers 500, 500, 429 first, and a
failed step stops the steps after it while the others finish; Ctrl-C stops it promptly."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
from pathlib import Path

from tests.runtime_helpers import CLI, run_cli

ID_SEGMENT = re.compile(r"/[0-9a-f]{32}(?=/|$)")


def write_endpoints(sandbox_dir: Path) -> set[str]:
    """`METHOD:PATH_GLOB` for each write the run sent, ids made globs (from the request log)."""
    out = set()
    for line in (sandbox_dir / "requests.jsonl").read_text().splitlines():
        request = json.loads(line)
        if request["method"] in ("POST", "PUT", "PATCH", "DELETE"):
            out.add(f"{request['method']}:{ID_SEGMENT.sub('/*', request['path'])}")
    return out


def test_apply_all_twice_changes_nothing_the_second_time(tmp_path: Path) -> None:
    sandbox_dir = tmp_path / "sbx"
    first = run_cli(sandbox_dir, "apply", "all", "--yes", timeout=600)
    assert first.returncode == 0, first.stderr
    # Enabling Email Routing adds a second SPF record after auth ran: auth converges it.
    assert "auth: a later step changed what it manages; applying it again" in first.stdout

    second = run_cli(sandbox_dir, "apply", "all", "--yes", timeout=600)
    assert second.returncode == 0, second.stderr
    lines = second.stdout.splitlines()
    assert len(lines) == 8 and all(line.endswith(": nothing to do") for line in lines), lines

    plan = run_cli(sandbox_dir, "plan", "all")
    assert plan.returncode == 0, plan.stdout + plan.stderr

    # The same run with two 500s and a 429 on each write endpoint the first run used.
    endpoints = write_endpoints(sandbox_dir)
    assert {"POST:/zones/*/dns_records/batch", "PUT:/accounts/*/workers/scripts/*"} <= {
        e.replace("polaris-email-worker", "*") for e in endpoints
    }
    faults = ";".join(f"{ep}:500:2;{ep}:429:1" for ep in sorted(endpoints))
    faulty_dir = tmp_path / "faulty"
    faulty = run_cli(
        faulty_dir, "apply", "all", "--yes", timeout=600, env={"POLARIS_SANDBOX_FAULTS": faults}
    )
    assert faulty.returncode == 0, faulty.stderr
    log = [json.loads(line) for line in (faulty_dir / "requests.jsonl").read_text().splitlines()]
    assert sum(r["status"] == 429 for r in log) >= len(endpoints)
    assert sum(r["status"] == 500 for r in log) >= 2 * len(endpoints)
    assert run_cli(faulty_dir, "plan", "all").returncode == 0


def test_a_failed_step_stops_only_the_steps_after_it(tmp_path: Path) -> None:
    sandbox_dir = tmp_path / "sbx"
    faults = {"POLARIS_SANDBOX_FAULTS": "POST:*/storage/kv/namespaces*:403"}
    run = run_cli(sandbox_dir, "apply", "all", "--yes", timeout=600, env=faults)
    assert run.returncode == 1, run.stdout + run.stderr
    assert "Workers KV Storage" in run.stderr  # the failure with its guidance
    lines = run.stdout.splitlines()
    assert "deploy: not started: kv did not succeed" in lines, lines
    assert "route: not started: deploy did not succeed" in lines, lines
    history = run_cli(sandbox_dir, "history", "--json")
    entries = json.loads(history.stdout)
    outcomes = {e["step"]: e["outcome"] for e in entries}
    assert outcomes == {
        "dns": "ok",
        "auth": "ok",
        "email-service": "ok",
        "assets": "ok",
        "secret": "ok",
        "kv": "failed",
    }, outcomes


def test_ctrl_c_stops_the_running_steps_at_their_next_report(tmp_path: Path) -> None:
    """Threads cannot be cancelled: on Ctrl-C the steps still waiting (DKIM, the R2 domain,
    here 10 minutes each) stop at their next progress report and are journaled as
    interrupted, and the command exits 130 rather than after the waits."""
    sandbox_dir = tmp_path / "sbx"
    proc = subprocess.Popen(
        [str(CLI), "--sandbox", "--sandbox-dir", str(sandbox_dir), "apply", "all", "--yes"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "POLARIS_SANDBOX_ACTIVATION_MS": "600000"},
    )
    assert proc.stdout is not None
    for line in proc.stdout:
        if "waiting for Cloudflare to verify it" in line:
            break
    proc.send_signal(signal.SIGINT)
    out, _ = proc.communicate(timeout=300)  # bounds a hang only: the waits are 600 s
    assert proc.returncode == 130, out
    assert "email-service: interrupted by the operator" in out, out
    history = json.loads(run_cli(sandbox_dir, "history", "--json").stdout)
    last = {e["step"]: e for e in history}
    assert last["email-service"]["outcome"] == "failed"
    assert "interrupted" in last["email-service"]["detail"]
