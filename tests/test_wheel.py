"""The built wheel works on its own: installed outside the checkout, read-only, as an operator
gets it, with and without the sandbox extra.

Cost: one `uv build`, two virtual environments filled from uv's cache (hard links, seconds),
one `demo` run and one `npm ci` from npm's cache into a fresh user cache dir: about a minute.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
PROBE = """
import asyncio, json, sys
from importlib import resources
from pathlib import Path
from polaris_tui import paths
from polaris_tui.relay import node
from polaris_tui.sandbox import schema
from screens import app as tui

async def first_frame():
    app = tui.create_app(config_path=Path(sys.argv[1]))
    async with app.run_test() as pilot:
        await pilot.pause()

asyncio.run(first_frame())  # loads the .tcss
print(json.dumps({
    "assets": str(paths.shipped_assets_dir() / "polaris-logo-160.png"),
    "worker": str(node.WORKER_DIR / "src" / "index.js"),
    "troubleshooting": str(resources.files("polaris_tui.data") / "troubleshooting.toml"),
    "openapi": str(schema.SPEC_PATH),
    "tcss": str(Path(tui.__file__).parent / tui.PolarisApp.CSS_PATH),
    "npm": str(node.tools_dir()),
}))
"""


def _uv() -> str:
    found = os.environ.get("UV") or shutil.which("uv")
    if not found:
        pytest.fail("uv is needed to build and install the wheel (run the tests with `uv run`)")
    return found


def _run(*argv: str | Path, cwd: Path, env: dict[str, str] | None = None, timeout: float = 300):
    return subprocess.run(
        [str(a) for a in argv],
        cwd=cwd,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
        check=False,
    )


def _ok(proc: subprocess.CompletedProcess[str]) -> str:
    assert proc.returncode == 0, f"{proc.args}\n{proc.stdout[-4000:]}\n{proc.stderr[-4000:]}"
    return proc.stdout


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    _ok(_run(_uv(), "build", "--wheel", "--out-dir", out, cwd=REPO))
    (built,) = out.glob("polaris_tui-*.whl")
    return built


def _install(wheel: Path, where: Path, *, sandbox: bool) -> Path:
    """A fresh venv with the locked dependencies and the wheel, as `pip install` would make."""
    uv = _uv()
    requirements = where / "requirements.txt"
    extra = ["--extra", "sandbox"] if sandbox else []
    _ok(
        _run(uv, "export", "--frozen", "--no-dev", *extra, "--no-emit-project", "--no-hashes",
             "--quiet", "-o", requirements, cwd=REPO)
    )  # fmt: skip
    venv = where / "venv"
    _ok(_run(uv, "venv", "--quiet", "--no-python-downloads", "--python", sys.executable, venv,
             cwd=where))  # fmt: skip
    python = venv / "bin" / "python"
    _ok(_run(uv, "pip", "install", "--quiet", "--python", python, "-r", requirements, cwd=where))
    _ok(_run(uv, "pip", "install", "--quiet", "--no-deps", "--python", python, wheel, cwd=where))
    return venv


def _site_packages(venv: Path) -> Path:
    (found,) = venv.glob("lib/python3.*/site-packages")
    return found


def _tree(root: Path) -> dict[str, tuple[int, int]]:
    return {str(p): (p.stat().st_mtime_ns, p.stat().st_size) for p in root.rglob("*")}


def _read_only(site: Path, argv: list[str]) -> list[str]:
    """``argv`` with site-packages read-only: permission bits for a user, and a read-only
    bind mount for root (which permission bits do not stop)."""
    for path in [site, *site.rglob("*")]:
        if not path.is_symlink():
            path.chmod(path.stat().st_mode & ~0o222)
    if os.geteuid() != 0:
        return argv
    unshare = shutil.which("unshare")
    if unshare is None:
        pytest.fail("root runs this test: it needs util-linux's unshare for a read-only mount")
    script = 'mount --bind "$1" "$1" && mount -o remount,ro,bind "$1" "$1" && shift && exec "$@"'
    return [unshare, "--mount", "sh", "-c", script, "sh", str(site), *argv]


def test_the_operator_install_has_no_sandbox_and_says_how_to_get_it(
    wheel: Path, tmp_path: Path
) -> None:
    venv = _install(wheel, tmp_path, sandbox=False)
    site = _site_packages(venv)
    for heavy in ("starlette", "moto", "flask", "aiosmtpd", "dnslib", "cfnlint", "sympy"):
        assert not (site / heavy).exists(), heavy
    cli = venv / "bin" / "polaris-tui"
    assert _ok(_run(cli, "--version", cwd=tmp_path)).startswith("polaris-tui ")
    for argv in (["--sandbox", "status"], ["demo"], ["sandbox", "serve"]):
        proc = _run(cli, *argv, cwd=tmp_path)
        assert proc.returncode == 2, (argv, proc.stderr)
        assert "install polaris-tui[sandbox]" in proc.stderr
    proc = _run(cli, "--sandbox", "--sandbox-dir", tmp_path / "sb", "demo", "--json", cwd=tmp_path)
    assert proc.returncode == 2
    assert "install polaris-tui[sandbox]" in json.loads(proc.stdout)["error"]["message"]


def test_the_wheel_runs_the_demo_from_a_read_only_install(wheel: Path, tmp_path: Path) -> None:
    venv = _install(wheel, tmp_path, sandbox=True)
    site = _site_packages(venv)
    env = {
        "PYTHONDONTWRITEBYTECODE": "1",
        "XDG_CACHE_HOME": str(tmp_path / "cache"),  # the Worker's npm ci must land here
        "XDG_STATE_HOME": str(tmp_path / "state"),
        "XDG_CONFIG_HOME": str(tmp_path / "config"),
        "POLARIS_SANDBOX_ACTIVATION_MS": "300",
    }
    before = _tree(site)
    demo = [str(venv / "bin" / "polaris-tui"), "--sandbox", "--sandbox-dir", str(tmp_path / "sb"),
            "demo", "--json"]  # fmt: skip
    proc = _run(*_read_only(site, demo), cwd=tmp_path, env=env, timeout=900)
    report = json.loads(proc.stdout)
    assert proc.returncode == 0 and report["ok"] is True, json.dumps(report, indent=1)
    assert all(stage["ok"] for stage in report["stages"])

    probe = [str(venv / "bin" / "python"), "-c", PROBE, str(tmp_path / "none.toml")]
    found = json.loads(_ok(_run(*_read_only(site, probe), cwd=tmp_path, env=env)))
    npm = Path(found.pop("npm"))
    for name, path in found.items():
        assert Path(path).is_file(), name
        assert Path(path).resolve().is_relative_to(site.resolve()), (name, path)
    assert npm.is_relative_to(tmp_path / "cache")
    assert (npm / "node_modules" / ".bin" / "wrangler").exists()  # the deploy's dry run
    assert _tree(site) == before  # nothing was written into the installed package
