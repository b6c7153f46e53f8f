"""HTML -> PDF (and a PNG screenshot) with a headless Chromium, when one is installed. No PDF library.

Chromium runs offline: a throw-away profile, no background networking, component updates or sync, every
host name resolving to nothing and a dead proxy, so a page that tried to fetch anything would fetch
nothing, loopback addresses included (`<-loopback>` takes away the proxy's implicit bypass for them); the
report's HTML references nothing outside itself anyway.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from rmmctl.errors import ConfigError, RmmctlError

NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
TIMEOUT_S = 120.0
OFFLINE = ("--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
           "--disable-component-update", "--disable-sync", "--disable-extensions", "--disable-dev-shm-usage",
           "--host-resolver-rules=MAP * ~NOTFOUND", "--proxy-server=127.0.0.1:9", "--proxy-bypass-list=<-loopback>",
           "--no-pdf-header-footer")
HOW_TO_GET = ("no Chromium for -o pdf (looked for chromium, chromium-browser, google-chrome on PATH); "
              "install one (`apt-get install chromium`) or name it with --chromium PATH")


def find_chromium(given: str | os.PathLike[str] | None = None) -> str:
    """The Chromium to run: `given` (a path or a name on PATH), else the first of NAMES on PATH; else a
    one-line ConfigError (exit 3) saying how to get one."""
    if given:
        found = shutil.which(str(given))
        if found is None:
            raise ConfigError(f"--chromium {given}: not an executable file; {HOW_TO_GET.split('; ', 1)[1]}")
        return found
    for name in NAMES:
        found = shutil.which(name)
        if found:
            return found
    raise ConfigError(HOW_TO_GET)


def render(html_file: Path, *, pdf: Path | None = None, png: Path | None = None, chromium: str,
           timeout_s: float = TIMEOUT_S, window: tuple[int, int] = (1200, 1600)) -> None:
    """Print `html_file` to `pdf` and/or screenshot it to `png` (one Chromium run each, offline, within
    `timeout_s`); RmmctlError with Chromium's last stderr line when it fails or writes nothing."""
    jobs = [(f"--print-to-pdf={pdf}", pdf)] if pdf else []
    if png:
        jobs.append((f"--screenshot={png}", png))
    for flag, out in jobs:
        out.unlink(missing_ok=True)
        with tempfile.TemporaryDirectory(prefix="rmmctl-chromium-") as profile:
            argv = [chromium, *OFFLINE, f"--user-data-dir={profile}", f"--window-size={window[0]},{window[1]}",
                    flag, html_file.resolve().as_uri()]
            try:
                proc = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                                      timeout=timeout_s, env={**os.environ, "HOME": profile})
            except subprocess.TimeoutExpired:
                raise RmmctlError(f"{chromium} did not finish within {timeout_s:g} s rendering {html_file}") from None
            except OSError as exc:
                raise ConfigError(f"cannot run {chromium}: {exc.strerror or exc}; {HOW_TO_GET.split('; ', 1)[1]}") \
                    from None
        if proc.returncode != 0 or not out.exists() or out.stat().st_size == 0:
            lines = [line for line in proc.stderr.splitlines() if line.strip()]
            last = lines[-1].strip() if lines else f"exit {proc.returncode}"
            raise RmmctlError(f"{chromium} could not render {html_file} to {out}: {last[:300]}")
