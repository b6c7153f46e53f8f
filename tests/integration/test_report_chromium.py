"""`rmmctl report` over a history of real runs on the sshd fleet (status a few times, a diagnose, a play,
an unreachable host), rendered as HTML, Markdown and JSON, then in a real headless Chromium (Debian's
`chromium`, installed by scripts/test) to a PNG screenshot and a PDF, offline, with no external fetch.

The screenshot stays under the test's tmp dir; its path is printed (`pytest -s` shows it) and also copied
to $RMMCTL_REPORT_SHOTS when that is set, for a note to cite.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path

import jsonschema
import pytest
import yaml

from conftest import cli
from fleet import Fleet
from rmmctl.pdf import NAMES, render

ROOT = Path(__file__).resolve().parents[2]
SCHEMA = json.loads((ROOT / "docs" / "schemas" / "report.schema.json").read_text())
EXTERNAL = re.compile(r"""(?:\b(?:src|href|xlink:href|action|poster)\s*=\s*["']?\s*(?:https?:|//|file:))"""
                      r"""|url\(\s*["']?\s*(?:https?:|//)|@import|<script|<link\b""", re.IGNORECASE)
PLAY = """\
name: Tiny maintenance
hosts: all
tasks:
  - name: say hello
    command: echo hello
"""
# A 1x1 PNG, for the logo.
PNG = bytes.fromhex("89504e470d0a1a0a0000000d4948445200000001000000010806000000"
                    "1f15c4890000000d49444154789c6360f8cf00000301010018dd8db40000000049454e44ae426082")


def _chromium() -> str:
    found = next((shutil.which(n) for n in NAMES if shutil.which(n)), None)
    if found is None:
        if os.environ.get("CI"):
            pytest.fail("chromium missing in CI: scripts/test installs it", pytrace=False)
        pytest.skip("no chromium here (apt-get install chromium)")
    return found


@pytest.fixture(scope="module")
def history(fleet: Fleet, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """An acme inventory of two fleet hosts and one that never answers; 3 status runs, a diagnose, a play."""
    base = tmp_path_factory.mktemp("report")
    inv = fleet.write_inventory(base / "flat.yaml", [1, 2])
    flat = yaml.safe_load(inv.read_text())
    address, port = fleet.closed_port
    doc = {"known_hosts": flat["known_hosts"], "defaults": {"connect_timeout": 2},
           "clients": {"acme": {"vars": {"contact": "ops@acme.example"},
                                "hosts": {**flat["hosts"], "gone01": {"address": address, "port": port,
                                                                      "user": "root"}}}}}
    inv.write_text(yaml.safe_dump(doc, sort_keys=False))
    book = base / "tiny.yaml"
    book.write_text(PLAY)
    db = base / "h.db"
    env = {"RMMCTL_DB": str(db), "HOME": str(base)}
    old = {k: os.environ.get(k) for k in (*env, "SSH_AUTH_SOCK", "RMMCTL_INVENTORY")}
    os.environ.update(env)
    os.environ.pop("SSH_AUTH_SOCK", None)
    os.environ.pop("RMMCTL_INVENTORY", None)
    try:
        for _ in range(3):
            assert cli("status", "acme", "-i", str(inv)).exit_code in (4, 5, 6)
        assert cli("diagnose", "acme", "-i", str(inv)).exit_code in (4, 5, 6)
        result = cli("play", str(book), "acme", "-i", str(inv), "--yes")
        assert result.exit_code == 6, result.output  # gone01 unreachable; the others ran the task
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    logo = base / "logo.png"
    logo.write_bytes(PNG)
    return {"inv": inv, "db": db, "base": base, "logo": logo}


def _report(history: dict[str, Path], monkeypatch: pytest.MonkeyPatch, *args: str) -> str:
    monkeypatch.setenv("RMMCTL_DB", str(history["db"]))
    result = cli("report", "acme", "-i", str(history["inv"]), "--period", "7d", "--msp-name", "Example MSP",
                 "--logo", str(history["logo"]), *args)
    assert result.exit_code == 0, result.output
    return result.stdout


def test_json_from_real_runs(history: dict[str, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    doc = json.loads(_report(history, monkeypatch, "-o", "json"))
    jsonschema.Draft202012Validator(SCHEMA).validate(doc)
    assert doc["client"] == {"name": "acme", "contact": "ops@acme.example"}
    hosts = {h["name"]: h for h in doc["hosts"]}
    assert list(hosts) == ["fleet-01", "fleet-02", "gone01"]
    assert hosts["gone01"]["unreachable_runs"] == hosts["gone01"]["runs"] == 5
    assert hosts["gone01"]["score"] <= 70 and hosts["gone01"]["last_seen"] is None
    for name in ("fleet-01", "fleet-02"):
        assert hosts[name]["runs"] == 5 and hosts[name]["unreachable_runs"] == 0 and hosts[name]["score"] is not None
        assert hosts[name]["os"]
    [outage] = doc["unreachable"]
    assert outage["host"] == "gone01" and outage["ongoing"] and outage["runs"] == 5
    [play] = doc["maintenance"]
    assert play["playbook"] == "tiny" and {h["host"]: h["status"] for h in play["hosts"]} == {
        "fleet-01": "changed", "fleet-02": "changed", "gone01": "unreachable"}
    disks = [t for t in doc["trends"] if t["host"] == "fleet-01" and t["kind"] == "disk"]
    assert disks and all(len(t["points"]) == 3 for t in disks)  # status runs record samples, diagnose not
    assert {u["host"] for u in doc["updates"]} == {"fleet-01", "fleet-02"}


def test_html_and_markdown(history: dict[str, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    page = _report(history, monkeypatch, "-o", "html")
    assert not EXTERNAL.search(page)
    assert page.count("<svg") == 4 and page.count('<polyline class="series"') >= 4  # disk + memory, two hosts
    for name in ("fleet-01", "fleet-02", "gone01"):
        assert f'<tr data-host="{name}">' in page
    assert "Example MSP" in page and 'src="data:image/png;base64,' in page and "ops@acme.example" in page
    text = _report(history, monkeypatch, "-o", "md")
    assert text.startswith("# acme: report for last 7 days") and "| gone01 |" in text and "still unreachable" in text


def test_chromium_renders_a_screenshot_and_a_pdf_offline(history: dict[str, Path],
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    browser = _chromium()
    base = history["base"]
    page = base / "report.html"
    _report(history, monkeypatch, "--out", str(page))
    html = page.read_text()
    assert not EXTERNAL.search(html) and "<svg" in html
    shot = base / "report.png"
    render(page, png=shot, chromium=browser, window=(1200, 4800))  # offline: every name resolves to nothing
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 20_000
    print(f"\nreport screenshot: {shot}")
    if os.environ.get("RMMCTL_REPORT_SHOTS"):
        Path(os.environ["RMMCTL_REPORT_SHOTS"]).mkdir(parents=True, exist_ok=True)
        shutil.copy(shot, Path(os.environ["RMMCTL_REPORT_SHOTS"]) / "report.png")
    pdf = base / "report.pdf"
    _report(history, monkeypatch, "-o", "pdf", "--out", str(pdf), "--chromium", browser)
    data = pdf.read_bytes()
    assert data.startswith(b"%PDF") and b"%%EOF" in data[-1024:]
    assert len(re.findall(rb"/Type\s*/Page\b", data)) >= 2  # the cover, then each section on its own page


def test_a_page_that_fetches_gets_nothing(history: dict[str, Path], tmp_path: Path) -> None:
    """The offline flags hold: an image from the network does not load (the screenshot shows no image),
    where a data: image does. Proves `render` would not leak a fetch even if a template had one."""
    browser = _chromium()
    import http.server
    import threading

    hits: list[str] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - the stdlib's name
            hits.append(self.path)
            self.send_response(404)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        port = server.server_address[1]
        page = tmp_path / "fetch.html"
        page.write_text(f'<html><body><img src="http://localhost:{port}/pixel.png">'
                        f'<img src="http://127.0.0.1:{port}/direct.png"></body></html>')
        render(page, png=tmp_path / "fetch.png", chromium=browser)
    finally:
        server.shutdown()
        server.server_close()
    assert hits == []
