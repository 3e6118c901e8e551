"""Textual UI for polaris-tui; calls the engine in polaris_tui."""
