"""A small IMAP4rev1 server over TLS on loopback, for the mailbox reader's tests: LOGIN,
SELECT/EXAMINE, SEARCH HEADER, FETCH BODY.PEEK[] and LOGOUT on one INBOX, enough for
``imaplib`` to run the reader's real conversation (with a self-signed certificate the test's
client trusts, so certificate checking stays on)."""

from __future__ import annotations

import datetime
import re
import socket
import ssl
import threading
from pathlib import Path


def self_signed(directory: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1/localhost and its key, as PEM files."""
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


class ImapsServer:
    """One INBOX of raw messages; ``logins`` records each LOGIN's user (never checked later)."""

    def __init__(self, cert: Path, key: Path, user: str, password: str, *, tls: bool = True):
        self.user, self.password, self.messages = user, password, list[bytes]()
        self.logins: list[str] = []
        self._tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER) if tls else None
        if self._tls is not None:
            self._tls.load_cert_chain(cert, key)
        self._sock = socket.create_server(("127.0.0.1", 0))
        self.port = self._sock.getsockname()[1]
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._sock.close()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self._sock.accept()
            except OSError:
                return
            threading.Thread(target=self._session, args=(conn,), daemon=True).start()

    def _session(self, conn: socket.socket) -> None:
        try:
            if self._tls is not None:
                conn = self._tls.wrap_socket(conn, server_side=True)
            stream = conn.makefile("rwb")
            self._talk(stream)
        except (OSError, ssl.SSLError):
            pass
        finally:
            conn.close()

    def _talk(self, stream) -> None:  # type: ignore[no-untyped-def]
        def send(line: str) -> None:
            stream.write(line.encode() + b"\r\n")
            stream.flush()

        send("* OK IMAP4rev1 test server ready")
        authed = False
        while line := stream.readline():
            tag, _, rest = line.decode("latin-1").rstrip("\r\n").partition(" ")
            command, _, args = rest.partition(" ")
            command = command.upper()
            if command == "CAPABILITY":
                send("* CAPABILITY IMAP4rev1 AUTH=PLAIN")
                send(f"{tag} OK CAPABILITY completed")
            elif command == "LOGIN":
                user, password = (a.strip('"') for a in args.split(" ", 1))
                self.logins.append(user)
                authed = (user, password) == (self.user, self.password)
                send(f"{tag} OK LOGIN completed" if authed else f"{tag} NO LOGIN failed")
            elif not authed and command != "LOGOUT":
                send(f"{tag} BAD log in first")
            elif command in ("SELECT", "EXAMINE"):
                send(f"* {len(self.messages)} EXISTS")
                send(f"{tag} OK [READ-ONLY] {command} completed")
            elif command == "SEARCH":
                match = re.search(r'HEADER Message-ID "?([^"]*)"?', args, re.IGNORECASE)
                wanted = match.group(1).lower().encode() if match else b"\x00"
                hits = [str(i + 1) for i, m in enumerate(self.messages) if wanted in m.lower()]
                send("* SEARCH " + " ".join(hits))
                send(f"{tag} OK SEARCH completed")
            elif command == "FETCH":
                number = int(args.split(" ", 1)[0])
                raw = self.messages[number - 1]
                stream.write(f"* {number} FETCH (BODY[] {{{len(raw)}}}\r\n".encode() + raw)
                send(")")
                send(f"{tag} OK FETCH completed")
            elif command == "LOGOUT":
                send("* BYE")
                send(f"{tag} OK LOGOUT completed")
                return
            else:
                send(f"{tag} BAD unknown command")
