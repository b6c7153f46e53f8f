"""Shell completion through click's own protocol (`_RMMCTL_COMPLETE=complete_bash`), as bash calls it."""

from __future__ import annotations

import contextlib
import io
import os
import subprocess
import sys
from pathlib import Path

import pytest

from rmmctl.cli import app
from rmmctl.cli.complete import COMPLETERS, complete_playbook, pattern_candidates
from rmmctl.playbooks.shipped import shipped_names
from rmmctl.inventory.load import load_inventory

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "inventories" / "example.yaml"


def _env(line: str, extra: dict[str, str] | None) -> dict[str, str]:
    words = line.split()
    cword = len(words) if line.endswith(" ") else len(words) - 1
    return {"_RMMCTL_COMPLETE": "complete_bash", "COMP_WORDS": line, "COMP_CWORD": str(cword), **(extra or {})}


def complete(line: str, env: dict[str, str] | None = None) -> list[str]:
    """What bash gets back for the last word of `line` (a trailing space completes a new, empty word):
    the app run in-process under click's completion protocol."""
    saved = dict(os.environ)
    cwd = os.getcwd()
    out = io.StringIO()
    try:
        os.environ.pop("RMMCTL_INVENTORY", None)
        os.environ.update(_env(line, env))
        os.chdir(ROOT)
        with contextlib.redirect_stdout(out), pytest.raises(SystemExit) as done:
            app(args=[], prog_name="rmmctl")
    finally:
        os.environ.clear()
        os.environ.update(saved)
        os.chdir(cwd)
    assert done.value.code == 0
    return out.getvalue().split()


def test_completion_through_the_real_entry_point() -> None:
    """The console script's way in: `python -m rmmctl` under the env protocol, as bash runs it."""
    env = {k: v for k, v in os.environ.items() if k != "RMMCTL_INVENTORY"}
    env.update(_env("rmmctl -i inventories/example.yaml status glo", None))
    env["PYTHONPATH"] = os.pathsep.join(p for p in sys.path if p)
    out = subprocess.run([sys.executable, "-m", "rmmctl"], env=env, cwd=ROOT, capture_output=True, text=True,
                         timeout=60)
    assert out.returncode == 0 and "Traceback" not in out.stderr, out.stderr
    assert {"globex", "globex/main"} <= set(out.stdout.split())


@pytest.mark.parametrize(
    ("line", "env", "expected", "absent"),
    [
        ("rmmctl status -i inventories/example.yaml ac", None,
         {"acme", "acme/hq", "acme/warehouse"}, {"globex"}),
        ("rmmctl -i inventories/example.yaml ping fs", None,
         {"fs01.acme.example", "fs02.globex.example"}, {"acme"}),
        ("rmmctl run glo", {"RMMCTL_INVENTORY": str(EXAMPLE)}, {"globex", "globex/main"}, set()),
        ("rmmctl diagnose -i inventories/example.yaml 'acme:&li", None, {"acme:&linux"}, set()),
        ("rmmctl status -i inventories/example.yaml tag=print", None, {"tag=printserver"}, set()),
        ("rmmctl status -i inventories/example.yaml site=", None, {"site=hq", "site=warehouse", "site=main"}, set()),
        ("rmmctl -i inventories/example.yaml metrics -l db", None, {"db01.globex.example"}, set()),
        ("rmmctl -i inventories/example.yaml inventory host wh-", None,
         {"wh-pos01.acme.example", "wh-print01.acme.example"}, set()),
        ("rmmctl hostkeys forget -i inventories/example.yaml jump", None, {"jump01.acme.example"}, set()),
        ("rmmctl diagnose --check disk", None, {"disk", "disk.space", "disk.inodes"}, {"printers"}),
        ("rmmctl ping loc", None, {"localhost"}, set()),  # no inventory: the embedded default
        ("rmmctl ping -i /nonexistent/inv.yaml a", None, set(), {"acme"}),  # a broken inventory: nothing, quietly
    ],
)
def test_completion_from_the_inventory(line: str, env: dict[str, str] | None, expected: set[str],
                                       absent: set[str]) -> None:
    got = set(complete(line.replace("'", ""), env))
    assert expected <= got, got
    assert not (absent & got), got


def test_check_ids_complete_every_registered_check() -> None:
    from rmmctl.diagnose import plan

    got = set(complete("rmmctl diagnose --check "))
    ids = {c.id for c in plan(()).checks}
    assert ids <= got and {i.split(".")[0] for i in ids} <= got


def test_pattern_candidates_keep_the_pattern_before_the_last_term() -> None:
    inv = load_inventory(EXAMPLE)
    values = {v for v, _ in pattern_candidates(inv, "acme:!os=")}
    assert {"acme:!os=linux", "acme:!os=windows"} <= values
    kinds = dict(pattern_candidates(inv, ""))
    assert kinds["acme"] == "client" and kinds["acme/hq"] == "site" and kinds["linux"] == "group"
    assert kinds["rmm-runner"] == "host"


def test_playbook_hook(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert COMPLETERS["playbook"] is complete_playbook
    monkeypatch.chdir(tmp_path)
    shipped = [(name, "shipped playbook") for name in shipped_names()]
    assert complete_playbook("") == shipped and ("motd", "shipped playbook") in shipped
    (tmp_path / "playbooks").mkdir()
    (tmp_path / "playbooks" / "patch.yml").write_text("name: patch\n")
    (tmp_path / "playbooks" / "notes.txt").write_text("")
    assert complete_playbook("") == [(str(Path("playbooks") / "patch.yml"), "playbook"), *shipped]
