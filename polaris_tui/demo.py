"""The end-to-end walk of the runbook in the sandbox: apply, verify, mail, rotate, verify.

It changes only what the runbook changes (no reset): re-running it on a finished sandbox
applies nothing and still proves every stage. Each stage reports ok and a detail line; the
demo passes only when all do. Secret values never appear in the report.
"""

from __future__ import annotations

import email
import email.policy
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from polaris_tui import rotation, runner
from polaris_tui.blocking import run_blocking
from polaris_tui.steps.relay_probe import relay_url
from polaris_tui.steps.secret import VAULT_A

if TYPE_CHECKING:
    from polaris_tui.context import Context
    from polaris_tui.steps.base import Step

LOGOS = (
    "polaris-logo-160.png",
    "polaris-logo-320.png",
    "expressync-logo-160.png",
    "expressync-logo-320.png",
)
DEMO_RECIPIENT = "demo-recipient@example.com"
OPERATOR_MAILBOX = "operator@example.com"
INBOX_WAIT_SECONDS = 15.0


@dataclass
class Stage:
    name: str
    ok: bool
    detail: str
    ms: float = 0.0

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "ok": self.ok, "detail": self.detail, "ms": round(self.ms, 1)}


@dataclass
class DemoReport:
    stages: list[Stage] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return bool(self.stages) and all(s.ok for s in self.stages)

    def to_json(self) -> dict[str, Any]:
        return {"ok": self.ok, "stages": [s.to_json() for s in self.stages]}


def logo_urls(ctx: Context) -> list[str]:
    return [f"https://{ctx.config.assets_host}/email/{name}" for name in LOGOS]


def _stage(ctx: Context, name: str, run: Callable[[], tuple[bool, str]]) -> Stage:
    started = time.perf_counter()
    try:
        ok, detail = run()
    except Exception as exc:  # a stage reports its failure; the demo goes on to the summary
        ok, detail = False, runner.describe_error(ctx, name, exc).message
    return Stage(name, ok, detail, (time.perf_counter() - started) * 1000)


async def ensure_operator_mailbox(ctx: Context) -> str | None:
    """Stand in for the operator's one manual act: a destination mailbox for DMARC reports.

    In a real account the operator adds it and opens the link Cloudflare mails to it; here
    the link in the sandbox inbox is opened. Nothing is added when the account has one.
    """
    if ctx.sandbox is None or await ctx.email_routing.addresses():
        return None
    await ctx.email_routing.create_address(OPERATOR_MAILBOX)
    ctx.sandbox.verify_address(OPERATOR_MAILBOX)
    return OPERATOR_MAILBOX


def apply_all(ctx: Context) -> tuple[bool, str]:
    """Apply every step over the dependency graph (the runner re-applies what a later step
    changed); steps run side by side, so each line names its step."""
    added = run_blocking(ensure_operator_mailbox(ctx))
    done = [f"sandbox: {added} added as the verified mailbox for DMARC reports"] if added else []
    steps = runner.select("all")
    failed: list[str] = []

    async def apply_one(step: Step, again: bool) -> bool:
        try:
            planned = await runner.plan_async(ctx, step)
            result = await runner.apply_async(ctx, step, planned, confirm=lambda _s, _c: True)
        except runner.StepFailure as failure:
            failed.append(f"{step.id}: {failure.message}")
            return False
        if not result.ok:
            failed.append(f"{step.id}: {result.detail}")
            return False
        label = f"{step.id} (again, after later steps)" if again else step.id
        done.append(f"{label}: {result.detail or 'ok'}")
        return True

    try:
        runner.apply_all(ctx, steps, apply_one)
    except runner.StepFailure as failure:
        return False, f"{failure.step}: {failure.message}"
    if failed:
        return False, "; ".join(failed)
    left = [s.id for s in runner.changed_again(ctx, steps)]
    if left:
        return False, f"still pending after two passes: {', '.join(left)}"
    return True, "; ".join(done)


def verify_all(ctx: Context) -> tuple[bool, str]:
    report = runner.verify(ctx, runner.select("all"))
    failed = [f"{c.id}: {c.detail}" for c in report.checks if not c.ok]
    if failed:
        return False, "; ".join(failed)
    return True, f"{len(report.checks)} checks passed in {report.elapsed_ms:.0f} ms"


def send(ctx: Context, secret: str, recipient: str, subject: str) -> Any:
    """A real signed send through the edge, as the app does it."""
    from polaris_tui.relay.client import send_signed

    urls = logo_urls(ctx)
    html = "".join(f'<img src="{u}" alt="logo">' for u in urls) + "<p>Polaris demo</p>"
    payload = {
        "from": ctx.config.sender_customer,
        "to": recipient,
        "subject": subject,
        "text": "Polaris Express demo message.",
        "html": html,
    }
    return send_signed(relay_url(ctx.config), secret, payload, connect_to=ctx.endpoints.edge)


def find_in_inbox(inbox: Path, subject: str, timeout: float) -> email.message.EmailMessage | None:
    """The delivered message with ``subject`` from the sandbox inbox's .eml files."""
    deadline = time.monotonic() + timeout
    while True:
        for path in sorted(inbox.glob("*.eml")):
            msg = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
            if msg["Subject"] == subject:
                return msg  # type: ignore[return-value]
        if time.monotonic() >= deadline:
            return None
        time.sleep(0.2)


def mail_test(ctx: Context) -> tuple[bool, str]:
    assert ctx.sandbox is not None
    subject = f"Polaris demo {uuid.uuid4().hex[:8]}"
    secret = ctx.vault.require(VAULT_A, "apply the secret step")
    result = send(ctx, secret, DEMO_RECIPIENT, subject)
    if result.status != 202:
        return False, f"relay answered {result.status}: {result.body}"
    msg = find_in_inbox(Path(ctx.sandbox.inbox), subject, INBOX_WAIT_SECONDS)
    if msg is None:
        return False, f"accepted ({result.message_id}) but not in {ctx.sandbox.inbox}"
    problems = []
    if ctx.config.sender_customer not in str(msg["From"]):
        problems.append(f"From is {msg['From']}")
    if DEMO_RECIPIENT not in str(msg["To"]):
        problems.append(f"To is {msg['To']}")
    part = msg.get_body(preferencelist=("html",))
    html = part.get_content() if part is not None else ""
    problems += [f"HTML lacks {u}" for u in logo_urls(ctx) if u not in html]
    if problems:
        return False, "; ".join(problems)
    return True, f"202 {result.message_id}; delivered with From, To, Subject and 4 logo URLs"


def rotation_stage(ctx: Context, mode: str, *, force: bool = False) -> tuple[bool, str]:
    report = run_blocking(rotation.rotate(ctx, mode, force=force))
    report.new_secret = None  # the demo never shows secret values
    detail = "; ".join([*report.lines, *report.probes.values()])
    return report.ok, f"{detail} ({report.elapsed_s:.2f}s)"


def emergency_with_sends(ctx: Context) -> tuple[bool, str]:
    """Emergency rotation, then real sends: the previous secret 401, the new one 202."""
    previous = ctx.vault.require(VAULT_A, "apply the secret step")
    ok, detail = rotation_stage(ctx, "emergency")
    new = ctx.vault.require(VAULT_A, "the rotation should have stored it")
    old_send = send(ctx, previous, DEMO_RECIPIENT, "demo after rotation (old secret)")
    new_send = send(ctx, new, DEMO_RECIPIENT, "demo after rotation (new secret)")
    sends_ok = old_send.status == 401 and new_send.status == 202
    return ok and sends_ok, (
        f"{detail}; send with previous secret -> {old_send.status}, "
        f"with new secret -> {new_send.status}"
    )


def run_demo(ctx: Context, on_stage: Callable[[Stage], None] = lambda _: None) -> DemoReport:
    """Every stage in order; later stages are skipped once applying or verifying failed."""
    if not ctx.is_sandbox:
        raise ValueError("the demo runs only against the sandbox: add --sandbox")
    report = DemoReport()
    plan: list[tuple[str, Callable[[], tuple[bool, str]]]] = [
        ("apply", lambda: apply_all(ctx)),
        ("verify", lambda: verify_all(ctx)),
        ("send-test", lambda: mail_test(ctx)),
        ("rotate-graceful", lambda: rotation_stage(ctx, "graceful")),
        # Forced: the send-test above signed with A seconds ago and there is no app to switch.
        ("rotate-promote", lambda: rotation_stage(ctx, "promote", force=True)),
        ("rotate-emergency", lambda: emergency_with_sends(ctx)),
        ("verify-again", lambda: verify_all(ctx)),
    ]
    for name, run in plan:
        stage = _stage(ctx, name, run)
        report.stages.append(stage)
        on_stage(stage)
        if not stage.ok and name in ("apply", "verify"):
            break
    return report
