"""Email Sending's DKIM key pairs: the public half goes into the zone's DKIM record, the
private half signs the sending domain's mail and stays in the sandbox keyring file.

A real 2048-bit RSA pair, so a receiving server's DKIM check (dkimpy) verifies a signature
against exactly the record the sandbox tells the product to publish.
"""

from __future__ import annotations

import base64

from polaris_tui.sandbox.keyring_backend import SandboxKeyring

SERVICE = "polaris-sandbox-dkim"  # keyring service; one entry per sending subdomain tag
KEY_BITS = 2048


def mint(keyring: SandboxKeyring, tag: str) -> str:
    """A new key pair for one sending subdomain: the private key (PEM) is kept under ``tag``,
    the public key is returned as a DKIM record's ``p=`` value (base64 SubjectPublicKeyInfo)."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=KEY_BITS)
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    )
    keyring.set_password(SERVICE, tag, pem.decode("ascii"))
    public = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return base64.b64encode(public).decode("ascii")


def private_key(keyring: SandboxKeyring, tag: str) -> bytes | None:
    """The PEM private key of one sending subdomain, None for a subdomain made before the
    sandbox signed mail (its published key has no private half)."""
    pem = keyring.get_password(SERVICE, tag)
    return pem.encode("ascii") if pem else None


def forget(keyring: SandboxKeyring, tag: str) -> None:
    if keyring.get_password(SERVICE, tag) is not None:
        keyring.delete_password(SERVICE, tag)
