"""A private CUPS scheduler for tests: real cupsd, temp ServerRoot, a domain socket, no TCP, no auth.

`cupsd -f -c DIR/etc/cupsd.conf -s DIR/etc/cups-files.conf` with every path absolute, FileDevice Yes
and a permissive policy; the host's /etc/cups and /run/cups are never touched. Stop it by PID.
See research/linux-diag.md section 1. Usage::

    with CupsServer() as cups:      # a fresh /tmp/rmmctl-cups-* dir (lp must traverse it)
        cups.start()
        cups.add_printer("office-ok", "file:/dev/null")
        cups.submit("office-ok")
        # CUPS_SERVER=cups.socket lpstat -t, or bind cups.socket onto /run/cups/cups.sock of a fleet host
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from rmmctl.checks.printers import BACKEND_TROUBLE

CUPSD = "/usr/sbin/cupsd"
DRIVERD = "/usr/lib/cups/daemon/cups-driverd"
GENERIC_DRIVER = "drv:///sample.drv/generic.ppd"
_NOISE = ("are deprecated and will stop working",)  # lpadmin says this on every PPD or raw queue

_FILES_CONF = """\
ServerRoot {d}/etc
RequestRoot {d}/spool
TempDir {d}/spool/tmp
CacheDir {d}/cache
StateDir {d}/state
ErrorLog {d}/log/error_log
AccessLog {d}/log/access_log
PageLog {d}/log/page_log
Printcap {d}/printcap
FileDevice Yes
SystemGroup root
FatalErrors none
"""
_CUPSD_CONF = """\
LogLevel info
Listen {d}/cups.sock
Browsing No
WebInterface No
IdleExitTimeout 0
ErrorPolicy retry-job
DirtyCleanInterval 0
<Location />
  Order allow,deny
  Allow all
</Location>
<Policy default>
  JobPrivateAccess all
  JobPrivateValues none
  SubscriptionPrivateAccess all
  SubscriptionPrivateValues none
  <Limit All>
    Order deny,allow
  </Limit>
</Policy>
"""
TEST_PAGE = "%!PS\n/Courier findfont 12 scalefont setfont 72 720 moveto (test) show showpage\n"


def cups_missing() -> str | None:
    """Why a private cupsd cannot run here (None if it can)."""
    if os.geteuid() != 0:
        return "a private cupsd needs root"
    for tool in (CUPSD, DRIVERD, "/usr/sbin/lpadmin", "/usr/bin/lpstat", "/usr/bin/lp"):
        if not os.access(tool, os.X_OK):
            return f"{tool} is missing (apt-get install cups cups-client cups-bsd)"
    return None


class CupsError(RuntimeError):
    """cupsd did not start, or a CUPS command failed (with its output)."""


class CupsServer:
    """One private cupsd under `workdir`, reached through `socket` (CUPS_SERVER)."""

    def __init__(self, workdir: Path | None = None) -> None:
        # cupsd runs filters and backends as user lp: every directory above the spool must be
        # traversable, which pytest's 0700 tmp_path is not. None: a fresh /tmp dir, removed by stop().
        self._own_dir = workdir is None
        self.workdir = Path(workdir) if workdir is not None else Path(tempfile.mkdtemp(prefix="rmmctl-cups-"))
        self.socket = self.workdir / "cups.sock"
        self.log_dir = self.workdir / "log"
        self.error_log = self.log_dir / "error_log"
        self.filters = self.workdir / "filters"
        self._proc: subprocess.Popen[bytes] | None = None
        self._ppd: Path | None = None

    @property
    def env(self) -> dict[str, str]:
        """The environment that points CUPS clients at this scheduler."""
        return {**os.environ, "CUPS_SERVER": str(self.socket), "LC_ALL": "C"}

    def start(self) -> CupsServer:
        """Write the config, start cupsd in the foreground (as a child) and wait until it answers."""
        reason = cups_missing()
        if reason:
            raise CupsError(reason)
        self._write_config()
        with open(self.log_dir / "stdout", "wb") as out:
            self._proc = subprocess.Popen(
                [CUPSD, "-f", "-c", str(self.workdir / "etc/cupsd.conf"), "-s", str(self.workdir / "etc/cups-files.conf")],
                stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
            )  # fmt: skip
        deadline = time.monotonic() + 10
        while "is running" not in self.run("lpstat", "-r", check=False):
            if self._proc.poll() is not None or time.monotonic() > deadline:
                raise CupsError(f"cupsd did not start: {(self.log_dir / 'stdout').read_text(errors='replace')[-300:]}")
            time.sleep(0.05)
        return self

    def stop(self) -> None:
        """SIGTERM our cupsd by PID and wait for it (backends still running make this take ~2 s); remove an own dir."""
        proc, self._proc = self._proc, None
        if proc is not None and proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if self._own_dir:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def __enter__(self) -> CupsServer:  # noqa: PYI034 - typing.Self needs Python 3.11
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def pid(self) -> int | None:
        """The cupsd PID while it runs."""
        return self._proc.pid if self._proc is not None and self._proc.poll() is None else None

    def run(self, *argv: str, check: bool = True) -> str:
        """Run a CUPS client command against this scheduler; stdout+stderr without lpadmin's deprecation lines."""
        proc = subprocess.run(argv, env=self.env, capture_output=True, text=True, timeout=30, check=False)
        text = "".join(line for line in (proc.stdout + proc.stderr).splitlines(keepends=True)
                       if not any(n in line for n in _NOISE))
        if check and proc.returncode != 0:
            raise CupsError(f"{' '.join(argv)} exited {proc.returncode}: {text.strip()}")
        return text

    def generic_ppd(self) -> Path:
        """The sample "Generic PostScript Printer" PPD, generated once (cups-driverd cat, ~0.3 s)."""
        if self._ppd is None:
            ppd = self.workdir / "generic.ppd"
            with open(ppd, "wb") as out:
                subprocess.run([DRIVERD, "cat", GENERIC_DRIVER], stdout=out, stderr=subprocess.DEVNULL, check=True,
                               env=self.env, timeout=30)
            self._ppd = ppd
        return self._ppd

    def vendor_ppd(self, model: str, filter_program: str, name: str) -> Path:
        """A copy of the generic PPD claiming `model` whose last filter is `filter_program` (name or path)."""
        lines = []
        for line in self.generic_ppd().read_text().splitlines():
            if line.startswith("*NickName:"):
                line = f'*NickName: "{model}"'
            lines.append(line)
            if line.startswith("*ShortNickName"):
                lines.append(f'*cupsFilter2: "application/vnd.cups-postscript application/vnd.acme-raster 0 '
                             f'{filter_program}"')
        path = self.workdir / f"{name}.ppd"
        path.write_text("\n".join(lines) + "\n")
        return path

    def failing_filter(self, name: str, message: str) -> Path:
        """An executable filter that prints `ERROR: message` and exits 1 (a crashing driver)."""
        path = self.filters / name
        path.write_text(f'#!/bin/sh\necho "ERROR: {message}" >&2\nexit 1\n')
        path.chmod(0o755)
        return path

    def add_printer(self, name: str, uri: str, ppd: Path | None = None, *extra: str) -> None:
        """lpadmin -p NAME -E -v URI (-P PPD, else the generic PPD; pass ppd=Path('raw') via -m raw)."""
        model = ["-m", "raw"] if ppd is not None and str(ppd) == "raw" else ["-P", str(ppd or self.generic_ppd())]
        self.run("lpadmin", "-p", name, "-E", "-v", uri, *model, *extra)

    def submit(self, printer: str, *options: str, title: str | None = None) -> str:
        """lp a one-page PostScript job; returns the job id (`printer-N`)."""
        page = self.workdir / "test.ps"
        if not page.exists():
            page.write_text(TEST_PAGE)
        out = self.run("lp", "-d", printer, "-t", title or f"job-{printer}", *options, str(page))
        return out.split("request id is ", 1)[1].split()[0]

    def wait_for(self, argv: Sequence[str], text: str, timeout: float = 15.0) -> str:
        """Poll a CUPS command until its output contains `text` (state changes driven by backends)."""
        deadline = time.monotonic() + timeout
        while True:
            out = self.run(*argv, check=False)
            if text in out:
                return out
            if time.monotonic() > deadline:
                raise CupsError(f"{' '.join(argv)}: no {text!r} within {timeout} s: {out.strip()[-300:]}")
            time.sleep(0.1)

    def _write_config(self) -> None:
        d = self.workdir
        for sub in ("etc/ppd", "spool/tmp", "cache", "state", "log", "filters"):
            (d / sub).mkdir(parents=True, exist_ok=True)
        for sub, mode in (("", 0o755), ("etc", 0o755), ("filters", 0o755), ("log", 0o755), ("spool", 0o710),
                          ("spool/tmp", 0o1770)):
            (d / sub).chmod(mode)
        (d / "etc/cups-files.conf").write_text(_FILES_CONF.format(d=d))
        (d / "etc/cupsd.conf").write_text(_CUPSD_CONF.format(d=d))


ACME_MODEL = "Acme LaserMax 5000 (acme-driver 1.2)"
ACME_ERROR = "Acme driver: unable to open device profile /usr/share/acme/lm5000.icc"

OFFICE = {
    "office-ok": set(),
    "office-paused": {"printers.paused"},
    "office-reject": {"printers.rejecting"},
    "office-stuck": {"printers.unreachable"},
    "office-offline": {"printers.unreachable"},
    "office-baddriver": {"printers.driver_missing"},
    "office-filterfail": {"printers.driver_crash"},
    "office-raw": {"printers.raw_queue"},
}
"""The queues `build_office` makes -> the printer check ids each must raise (with the default thresholds
and OFFICE_MODELS as `printer_models`); office-ok is healthy and must raise nothing."""
OFFICE_MODELS = {"office-ok": "Generic PostScript", "office-raw": "Generic PostScript"}
STUCK_WITH_JOBS = ("office-stuck", "office-baddriver", "office-filterfail")
"""Queues (not stopped) whose unfinished jobs printers.stuck_queue reports once they are old enough."""


def build_office(cups: CupsServer) -> None:
    """One queue per broken state of research/linux-diag.md 1.3, one job each, and a held job.

    Returns once office-offline has been stopped by its backend (about 4 s after its job).
    """
    crash = cups.failing_filter("rastertoacme", ACME_ERROR)
    add = cups.add_printer
    # First: its socket backend needs ~4 s (contimeout, then a retry) to give up and stop the queue.
    add("office-offline", "socket://127.0.0.1:9/?contimeout=1", None, "-o", "printer-error-policy=stop-printer")
    cups.submit("office-offline")
    add("office-ok", "file:/dev/null", None, "-D", "Front office laser", "-L", "Reception")
    add("office-paused", "file:/dev/null")
    cups.run("cupsdisable", "-r", "Paused by technician for toner change", "office-paused")
    add("office-reject", "file:/dev/null")
    cups.run("cupsreject", "-r", "Decommissioned, use office-ok", "office-reject")
    add("office-stuck", "socket://127.0.0.1:9")  # nothing listens on the discard port: retries forever
    add("office-baddriver", "file:/dev/null", cups.vendor_ppd(ACME_MODEL, "rastertoacme", "acme-missing"))
    add("office-filterfail", "file:/dev/null", cups.vendor_ppd(ACME_MODEL, str(crash), "acme-crash"))
    add("office-raw", "file:/dev/null", Path("raw"))
    for name in OFFICE:
        if name not in ("office-reject", "office-offline"):
            cups.submit(name)
    cups.submit("office-paused", "-H", "hold", title="held")
    cups.wait_for(["lpstat", "-p", "office-offline"], "disabled")
    cups.wait_for(["lpstat", "-W", "completed", "-o", "office-ok"], "office-ok-")
    # office-stuck's backend says it cannot connect only after its first try (later under load): the
    # probe must not run before that message is there
    deadline = time.monotonic() + 15
    while not BACKEND_TROUBLE.search(cups.run("lpstat", "-l", "-p", "office-stuck", check=False)):
        if time.monotonic() > deadline:
            raise CupsError("office-stuck: its backend reported no connection trouble within 15 s")
        time.sleep(0.1)
