"""Wires the state, the API, DNS, S3, edge and SMTP servers of one running sandbox."""

from __future__ import annotations

import dataclasses
import secrets
import threading
from pathlib import Path

from polaris_tui.sandbox import SandboxEndpoints, outbound
from polaris_tui.sandbox.api.app import PREFIX, create_api
from polaris_tui.sandbox.api.common import ApiContext
from polaris_tui.sandbox.api.kv_values import worker_backend
from polaris_tui.sandbox.dns_server import ZoneDnsServer
from polaris_tui.sandbox.edge import Edge
from polaris_tui.sandbox.faults import FaultPlan
from polaris_tui.sandbox.receiver import UdpResolver
from polaris_tui.sandbox.s3 import S3Server
from polaris_tui.sandbox.send_email_policy import store_policy
from polaris_tui.sandbox.servers import UvicornThread
from polaris_tui.sandbox.smtp import SmtpInbox
from polaris_tui.sandbox.state import (
    S3_KEY_ID_NAME,
    S3_SECRET_NAME,
    TOKEN_NAME,
    Settings,
    Store,
)
from polaris_tui.sandbox.workerd import Endpoints, WorkerdHost


class Runtime:
    def __init__(self, directory: Path, settings: Settings) -> None:
        self.directory = directory
        self.settings = self.initial_settings = settings
        self.store = Store(directory)
        self.faults = FaultPlan(settings.faults)
        self.s3 = S3Server(
            directory, lambda: self.settings.latency_ms, namespace=self.store.account_id[:10]
        )
        self.dns = ZoneDnsServer(self.store, lambda: self.settings.latency_ms)
        # The receiving server's own lookups (SPF, DKIM, DMARC) go to the same zone on a port
        # of their own without the injected latency: that knob models the operator's network
        # to Cloudflare, not a mail receiver's resolver (with it, one delivery paid it ~4x).
        self.receiver_dns = ZoneDnsServer(self.store, lambda: 0)
        # Two doors into one inbox, both judged by the receiving server against the sandbox
        # DNS: plain SMTP (the local relay's --smtp, any client) as its client connects;
        # Workers' send_email goes through Cloudflare's recipient rules, then is signed and
        # leaves from Cloudflare's egress address.
        resolver = UdpResolver(lambda: ("127.0.0.1", self.receiver_dns.port))
        self.smtp = SmtpInbox(directory / "inbox", resolver)
        self.send_email = SmtpInbox(
            directory / "inbox",
            resolver,
            store_policy(self.store, lambda: self.settings),
            lambda mail_from, data: outbound.prepare(self.store, mail_from, data),
        )
        self.context = ApiContext(
            store=self.store,
            settings=settings,
            faults=self.faults,
            token=self.store.credential(TOKEN_NAME),
            create_bucket=self.s3.create_bucket,
            delete_bucket=self.s3.delete_bucket,
            bucket_keys=self.s3.object_keys,
        )
        self.api_server = UvicornThread(
            # The API sets its own Date (the clock-skew knob): one Date header, as Cloudflare.
            create_api(self.context, directory / "requests.jsonl"),
            "api",
            date_header=False,
        )
        backend_token = secrets.token_urlsafe(24)
        self.backend_server = UvicornThread(
            worker_backend(self.context, PREFIX, backend_token), "worker-backend"
        )
        self.workers = WorkerdHost(
            lambda: Endpoints(
                api=f"http://127.0.0.1:{self.backend_server.port}{PREFIX}",
                token=backend_token,
                account_id=self.store.account_id,
                smtp_host="127.0.0.1",
                smtp_port=self.send_email.port,
            ),
            directory / "workerd",
        )
        self.edge = Edge(self.store, lambda: self.settings, lambda: self.s3.url, self.workers)
        self.edge_server = UvicornThread(self.edge.app(), "edge")

    def start(self, *, warm_edge: bool = False) -> SandboxEndpoints:
        """Start every server; with ``warm_edge`` the Worker host then boots and loads every
        deployed Worker in the background (after the servers, not beside them: on two cores
        the sandbox, Node and the command's own imports would take turns)."""
        problem = self.workers.check()
        self.s3.start()
        with self.store.read() as state:
            self.s3.restore(sorted(state["r2_buckets"]))
        self.dns.start()
        self.receiver_dns.start()
        self.smtp.start()
        self.send_email.start()
        api_port = self.api_server.start()
        self.backend_server.start()
        edge_port = self.edge_server.start()
        if warm_edge:
            self.edge.load_deployed()
        store = self.store
        return SandboxEndpoints(
            api=f"http://127.0.0.1:{api_port}/client/v4",
            token=self.context.token,
            account_id=store.account_id,
            zone_id=store.zone_id,
            domain=store.domain,
            dns_host="127.0.0.1",
            dns_port=self.dns.port,
            s3=self.s3.url,
            s3_access_key_id=store.credential(S3_KEY_ID_NAME),
            s3_secret_access_key=store.credential(S3_SECRET_NAME),
            edge=f"http://127.0.0.1:{edge_port}",
            smtp_host="127.0.0.1",
            smtp_port=self.smtp.port,
            inbox=self.directory / "inbox",
            directory=self.directory,
            config_path=self.directory / "config.toml",
            edge_workers=f"unavailable: {problem}" if problem else "workerd (miniflare)",
        )

    def stop(self) -> None:
        """Stop every server in parallel: socketserver shutdowns each wait for a poll."""
        stoppers = [
            self.workers.stop,
            self.api_server.stop,
            self.backend_server.stop,
            self.edge_server.stop,
            self.dns.stop,
            self.receiver_dns.stop,
            self.s3.stop,
            self.smtp.stop,
            self.send_email.stop,
        ]
        threads = [threading.Thread(target=fn, daemon=True) for fn in stoppers]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=10)

    def set_faults(self, spec: str) -> None:
        self.faults.replace(spec)

    def set_latency(self, latency_ms: int) -> None:
        self.settings = dataclasses.replace(self.settings, latency_ms=latency_ms)
        self.context.settings = self.settings

    def set_address_verify(self, delay_ms: int) -> None:
        self.settings = dataclasses.replace(self.settings, address_verify_ms=delay_ms)
        self.context.settings = self.settings

    def reset_state(self) -> None:
        with self.store.read() as state:
            buckets = list(state["r2_buckets"])
        for name in buckets:
            self.s3.delete_bucket(name)
        self.store.wipe()
        self.faults.replace(self.initial_settings.faults)
        self.set_latency(self.initial_settings.latency_ms)
        self.set_address_verify(self.initial_settings.address_verify_ms)
        self.workers.forget()
        log = self.directory / "requests.jsonl"
        if log.exists():
            log.unlink()
        for message in (self.directory / "inbox").glob("*.eml"):
            message.unlink()
