"""Assembling the probe script, framing its output, and running it for real under dash and busybox sh."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

import jsonschema
import pytest

from rmmctl.facts import json_schema
from rmmctl.probes import linux
from rmmctl.probes.linux import bundle

NONCE = "0123456789abcdef"


def run_script(script: str, shell: tuple[str, ...] = ("sh",)) -> tuple[str, float]:
    started = time.monotonic()
    proc = subprocess.run([*shell, "-s"], input=script.encode(), capture_output=True, timeout=60, check=True)
    return proc.stdout.decode("utf-8", "replace"), time.monotonic() - started


def test_build_script_holds_only_the_requested_sections() -> None:
    script = bundle.build_script(["memory", "host"], nonce=NONCE, since=1795300000.7, log_level="warning")
    assert "s_host()" in script and "s_memory()" in script
    assert "s_updates" not in script and "apt list" not in script and "_sample1 " not in script
    assert script.index("run host") < script.index("run memory")  # the file's order, not the caller's
    assert f"N={NONCE}\nSINCE=1795300000\nPRIO=4\nLOGMAX=500\n" in script
    assert "@" + "NONCE@" not in script
    assert script.rstrip().endswith("_o=$(_main </dev/null); printf '%s\\n' \"$_o\"\nexit 0")


def test_build_script_samples_cpu_once_for_cpu_and_processes() -> None:
    assert "_sample1 0" in bundle.build_script(["cpu"], nonce=NONCE)
    assert "_sample1 1" in bundle.build_script(["cpu", "processes"], nonce=NONCE)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"sections": ["host"], "nonce": "bad nonce;rm -rf /"}, "nonce"),
        ({"sections": ["host", "nosuch"], "nonce": NONCE}, "unknown probe section"),
        ({"sections": ["logs"], "nonce": NONCE, "log_level": "loud"}, "unknown log level"),
    ],
)
def test_build_script_rejects_bad_input(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        bundle.build_script(**kwargs)


def test_new_nonce_is_random_hex() -> None:
    a, b = bundle.new_nonce(), bundle.new_nonce()
    assert a != b and len(a) == 16 and int(a, 16) >= 0


def test_split_sections_keeps_bodies_exact_and_reports_cutoff() -> None:
    out = (
        f"@@{NONCE} START\n@@{NONCE} BEGIN os\nNAME=x\n\n@@{NONCE} END os 0 3\n"
        f"@@{NONCE} BEGIN host\nhostname=a\n\n@@{NONCE} END host 3 0\n"
        f"@@{NONCE} BEGIN memory\nMemTotal: 1 kB\nMemFr"
    )
    raw = bundle.split_sections(out, NONCE)
    assert raw["os"] == bundle.RawSection("os", 0, "NAME=x", 0.03)
    assert raw["host"].rc == 3 and not raw["host"].truncated
    assert raw["memory"].truncated and raw["memory"].body == "MemTotal: 1 kB\nMemFr"


def test_split_parts() -> None:
    head, parts = bundle.split_parts("a=1\n@@part df\nrow\n\n@@end df 1\nb=2\n@@part mounts\nx")
    assert head == ["a=1", "b=2"]
    assert parts["df"] == bundle.RawPart("df", 1, "row")
    assert parts["mounts"] == bundle.RawPart("mounts", None, "x")


def _check_real_run(stdout: str, sections: tuple[str, ...]) -> None:
    assert stdout.rstrip().endswith(f"@@{NONCE} DONE"), stdout[-500:]
    facts = linux.parse_output(stdout, NONCE, sections, controller_time=time.time())
    assert facts.errors == {}
    assert set(facts) == set(sections)
    jsonschema.validate(facts.to_jsonable(), json_schema(sections))
    assert facts["host"]["hostname"] and facts["memory"]["total_kb"] > 0
    assert facts["cpu"]["count"] >= 1 and facts["processes"]["count"] > 1
    assert abs(facts["time"]["skew_s"]) < 5
    assert any(m["mount"] == "/" for m in facts["filesystems"]["mounts"])


def test_real_run_with_dash_parses_every_fast_section() -> None:
    # Its speed is measured in benchmarks/, not asserted here (a loaded CI machine would make it flaky).
    script = bundle.build_script(linux.FAST_SECTIONS, nonce=NONCE, since=time.time() - 3600)
    stdout, _ = run_script(script)
    _check_real_run(stdout, linux.FAST_SECTIONS)


def test_real_run_under_busybox_sh() -> None:
    busybox = shutil.which("busybox")
    if busybox is None:
        pytest.skip("busybox is not installed (apt-get install -y busybox)")
    script = bundle.build_script(linux.FAST_SECTIONS, nonce=NONCE)
    stdout, _ = run_script(script, (busybox, "sh"))
    _check_real_run(stdout, linux.FAST_SECTIONS)


def test_a_cut_off_run_never_crashes_the_parser() -> None:
    stdout, _ = run_script(bundle.build_script(linux.FAST_SECTIONS, nonce=NONCE))
    for cut in range(0, len(stdout), max(1, len(stdout) // 40)):
        facts = linux.parse_output(stdout[:cut], NONCE, linux.FAST_SECTIONS, controller_time=time.time())
        assert set(facts) | set(facts.errors) == set(linux.FAST_SECTIONS)


def test_the_probe_writes_its_output_in_one_go(tmp_path: Path) -> None:
    """sshd turns every write of the probe into an SSH packet the client must decrypt: the script
    collects its output and writes it at the end (one write up to the pipe's size), not line by line."""
    if not shutil.which("strace"):
        if os.environ.get("CI"):
            pytest.fail("strace missing: scripts/test installs it", pytrace=False)
        pytest.skip("needs strace")
    script = bundle.build_script(["time", "host", "os", "uptime", "memory", "filesystems"], nonce=NONCE)
    trace = tmp_path / "trace"
    out = subprocess.run(["strace", "-qq", "-e", "trace=write", "-e", "signal=none", "-o", str(trace),
                          "/bin/sh", "-c", script], capture_output=True, text=True, check=True).stdout
    writes = [line for line in trace.read_text().splitlines() if line.startswith("write(1,") and "@@" in line]
    assert f"@@{NONCE} DONE" in out and out.count("\n") > 50
    assert 1 <= len(writes) <= 1 + len(out) // 65536, writes[:3]


def test_split_parts_reads_every_body_as_the_line_by_line_reference_does() -> None:
    """split_parts slices parts out with str.find; any body (cut off, nested markers, empty lines, unknown
    end lines) reads the same as a line-by-line reading of the framing."""
    import random

    from rmmctl.probes.linux.bundle import _split_parts_by_line, split_parts

    pieces = ["@@part a", "@@part b", "@@end a 0", "@@end b 3", "@@end a x", "@@end b", "@@part  a ", "",
              "x", "y z", "@@partial", " @@part a", "@@end a 0 extra", "@@end c 1"]
    rng = random.Random(7)
    bodies = ["", "\n", "@@part a\n@@end a 0", "@@part a\n\n@@end a 0\n", "head\n@@part a\n1\n\n\n@@end a 2\ntail\n"]
    bodies += ["\n".join(rng.choice(pieces) for _ in range(rng.randint(0, 12))) + rng.choice(["", "\n"])
               for _ in range(3000)]
    for body in bodies:
        assert split_parts(body) == _split_parts_by_line(body), repr(body)


def test_mount_tables_are_cached_by_text_only_up_to_a_size() -> None:
    from rmmctl.probes.linux import storage

    small = "/dev/vda / ext4 rw,relatime 0 0\n/dev/vdb /srv\\040data xfs ro 0 0\n"
    first = storage.parse_mounts(small)
    assert first["/srv data"] == ("/dev/vdb", "xfs", ("ro",)) and first["/"][2] == ("rw", "relatime")
    assert storage.parse_mounts("".join(list(small))) is first  # equal text: the parsed table again, no re-parse
    with pytest.raises(TypeError):
        first["/x"] = ("d", "t", ())  # type: ignore[index]  # read-only: callers share it
    big = small + "".join(f"tmpfs /run/m{i} tmpfs rw 0 0\n" for i in range(3000))
    assert len(big) > storage.MOUNTS_CACHED_MAX
    assert storage.parse_mounts(big) is not storage.parse_mounts(big)  # too big to keep
    assert len(storage.parse_mounts(big)) == 3002
