"""polaris-tui engine: steps, config, vault, adapters, relay, sandbox and CLI (no UI)."""
