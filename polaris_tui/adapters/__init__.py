"""Adapters: the only modules that import cloudflare, boto3, dns and httpx (lazily)."""
