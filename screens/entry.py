"""The `polaris-tui` console script: the engine's CLI, with the TUI when no command is given.

It lives in ``screens`` so the engine never imports the UI; Textual is imported only when
the TUI actually opens.
"""

from __future__ import annotations

import argparse
import gc
import sys

from polaris_tui.cli import main as cli_main


def open_tui(args: argparse.Namespace) -> int:
    from screens.app import create_app

    app = create_app(config_path=args.config, sandbox=args.sandbox, sandbox_dir=args.sandbox_dir)
    # What is loaded by now (modules, classes, the CLI) lives as long as the process. Moved
    # out of the collector's reach, CPython's first full collection no longer walks it all in
    # the middle of rendering the first frame (~25 ms), nor does any later one.
    gc.freeze()
    app.run()
    return app.return_code or 0


def main() -> None:
    code = cli_main(open_tui=open_tui)
    # The same at exit: after a command that read Cloudflare (the SDK's thousands of
    # classes and models loaded), the interpreter's last collections at shutdown walked them
    # all, 0.3-0.5 s after the answer was printed. Frozen, they are skipped; atexit handlers
    # and finalizers still run.
    gc.freeze()
    sys.exit(code)
