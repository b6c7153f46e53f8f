"""The SSH transport against real OpenSSH servers (the fleet): no mocks."""

from __future__ import annotations

import dataclasses
import os
import shlex
import shutil
import statistics
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization

from fleet import FixtureSpec, Fleet, write_key_pair
from rmmctl.errors import AuthError, CommandTimeout, ConfigError, ConnectError, HostKeyError
from rmmctl.inventory.model import Host
from rmmctl.transports import TransportOptions
from rmmctl.transports.ssh import SSHTransport
from rmmctl.transports.ssh.config import parse_jump


@pytest.fixture
def transports() -> Iterator[list[SSHTransport]]:
    """Collects transports a test opens and closes them all afterwards."""
    opened: list[SSHTransport] = []
    yield opened
    for t in opened:
        t.close()


def _open(transports: list[SSHTransport], host: Host, options: TransportOptions, **kw: float) -> SSHTransport:
    t = SSHTransport(host, options, **kw)
    transports.append(t)
    return t


def _pgrep(t: SSHTransport, pattern: str) -> str:
    return t.run(f"pgrep -af {shlex.quote(pattern)} || true").stdout.strip()


# -- running commands --------------------------------------------------------------------------------


def test_ten_hosts_in_parallel_report_their_own_hostnames(fleet: Fleet, ssh_options: TransportOptions,
                                                          transports: list[SSHTransport]) -> None:
    def visit(i: int) -> tuple[str, float]:
        t = _open(transports, fleet.inventory_host(i), ssh_options)
        started = time.monotonic()
        t.connect()
        connect_s = time.monotonic() - started
        return t.run("hostname").stdout.strip(), connect_s

    with ThreadPoolExecutor(10) as pool:
        results = list(pool.map(visit, range(1, 11)))
    assert [name for name, _ in results] == [f"fleet-{i:02d}" for i in range(1, 11)]
    print(f"\nconnect per host (10 in parallel): max {max(s for _, s in results) * 1000:.0f} ms")


def test_exit_code_stdout_and_stderr_pass_through(fleet: Fleet, ssh_options: TransportOptions,
                                                  transports: list[SSHTransport]) -> None:
    t = _open(transports, fleet.inventory_host(1), ssh_options)
    result = t.run("echo out; echo err >&2; exit 7")
    assert (result.exit_code, result.stdout, result.stderr) == (7, "out\n", "err\n")
    assert result.command == "echo out; echo err >&2; exit 7"
    assert t.run("true").exit_code == 0


def test_a_command_killed_by_a_signal_reports_128_plus_n(fleet: Fleet, ssh_options: TransportOptions,
                                                         transports: list[SSHTransport]) -> None:
    t = _open(transports, fleet.inventory_host(1), ssh_options)
    assert t.run("kill -9 $$").exit_code == 128 + 9
    assert t.run("kill -TERM $$").exit_code == 128 + 15


def test_stdin_is_fed_and_closed(fleet: Fleet, ssh_options: TransportOptions, transports: list[SSHTransport]) -> None:
    t = _open(transports, fleet.inventory_host(2), ssh_options)
    assert t.run("cat", stdin="héllo\nworld\n").stdout == "héllo\nworld\n"
    assert t.run("wc -c", stdin=b"").stdout.strip() == "0"
    assert t.run("cat").stdout == ""  # no stdin: EOF at once, no hang
    big = os.urandom(3_000_000)  # larger than the server's window: fed from a thread while output is read
    assert t.run("sha256sum", stdin=big).stdout.split()[0] == __import__("hashlib").sha256(big).hexdigest()


def test_invalid_utf8_is_replaced_not_raised(fleet: Fleet, ssh_options: TransportOptions,
                                             transports: list[SSHTransport]) -> None:
    t = _open(transports, fleet.inventory_host(2), ssh_options)
    assert t.run(r"printf 'a\377b'").stdout == "a\ufffdb"


def test_ten_megabytes_of_stdout_with_stderr_at_the_same_time(fleet: Fleet, ssh_options: TransportOptions,
                                                              transports: list[SSHTransport]) -> None:
    t = _open(transports, fleet.inventory_host(3), dataclasses.replace(ssh_options, max_output=16 << 20))
    t.connect()
    cmd = ("head -c 10000000 /dev/zero | tr '\\0' o & "
           "head -c 4000000 /dev/zero | tr '\\0' e >&2; wait")
    started = time.monotonic()
    result = t.run(cmd)
    elapsed = time.monotonic() - started
    assert len(result.stdout) == 10_000_000 and set(result.stdout) == {"o"}
    assert len(result.stderr) == 4_000_000 and set(result.stderr) == {"e"}
    assert not result.truncated
    print(f"\n10 MB stdout + 4 MB stderr in {elapsed * 1000:.0f} ms")


@pytest.mark.parametrize("kind", ["ssh", "local"])
def test_output_past_max_output_is_drained_dropped_and_counted(fleet: Fleet, ssh_options: TransportOptions,
                                                               transports: list[SSHTransport], kind: str) -> None:
    from rmmctl.transports.local import LocalTransport

    options = dataclasses.replace(ssh_options, max_output=1000)
    cmd = "head -c 3000000 /dev/zero | tr '\\0' o; echo err >&2; exit 3"
    if kind == "ssh":
        result = _open(transports, fleet.inventory_host(3), options).run(cmd)
    else:
        result = LocalTransport(Host(name="here", address="localhost", connection="local"), options).run(cmd)
    assert (result.exit_code, result.stdout, result.stderr) == (3, "o" * 1000, "err\n")
    assert (result.stdout_truncated_bytes, result.stderr_truncated_bytes) == (3_000_000 - 1000, 0)


def test_hundred_sequential_execs_reuse_one_connection(fleet: Fleet, ssh_options: TransportOptions,
                                                       transports: list[SSHTransport]) -> None:
    t = _open(transports, fleet.inventory_host(4), ssh_options)
    started = time.monotonic()
    t.connect()
    connect_s = time.monotonic() - started
    laps = []
    for _ in range(100):
        lap = time.monotonic()
        assert t.run("true").exit_code == 0
        laps.append(time.monotonic() - lap)
    assert sum(laps) < 5.0
    print(f"\nconnect {connect_s * 1000:.0f} ms; 100 x true: total {sum(laps) * 1000:.0f} ms, "
          f"median {statistics.median(laps) * 1000:.1f} ms, max {max(laps) * 1000:.1f} ms")


def test_shell_metacharacters_in_a_quoted_argument_are_not_executed(fleet: Fleet, ssh_options: TransportOptions,
                                                                    transports: list[SSHTransport],
                                                                    tmp_path: Path) -> None:
    t = _open(transports, fleet.inventory_host(5), ssh_options)
    marker = tmp_path / "pwned"
    payloads = ["'; touch /tmp/pwned-$$'", f"; touch {marker}", f"$(touch {marker})", f"`touch {marker}`",
                "$(id)", "`id`", 'a"b\\c', "$HOME ${PATH} * ?", "line1\nline2", f"| touch {marker} &"]
    for payload in payloads:
        result = t.run(f"printf '%s' {shlex.quote(payload)}")
        assert (result.exit_code, result.stdout) == (0, payload)
    assert not marker.exists()
    assert not list(Path("/tmp").glob("pwned-*"))


def test_put_and_get_round_trip_with_mode(fleet: Fleet, ssh_options: TransportOptions,
                                          transports: list[SSHTransport], tmp_path: Path) -> None:
    t = _open(transports, fleet.inventory_host(6), ssh_options)
    payload = os.urandom(300_000)
    local = tmp_path / "up.bin"
    local.write_bytes(payload)
    remote = f"/tmp/rmmctl-put-{uuid.uuid4().hex}"
    try:
        t.put(local, remote, mode=0o600)
        assert t.run(f"stat -c %a {remote}").stdout.strip() == "600"
        back = tmp_path / "down.bin"
        t.get(remote, back)
        assert back.read_bytes() == payload
    finally:
        t.run(f"rm -f {remote}")


def test_close_is_idempotent_and_a_later_run_reconnects(fleet: Fleet, ssh_options: TransportOptions) -> None:
    t = SSHTransport(fleet.inventory_host(7), ssh_options)
    assert t.run("hostname").stdout == "fleet-07\n"
    t.close()
    t.close()
    assert t.run("hostname").stdout == "fleet-07\n"
    t.close()


# -- deadlines and failures --------------------------------------------------------------------------


def test_a_command_past_its_deadline_is_killed_on_the_host(fleet: Fleet, ssh_options: TransportOptions,
                                                           transports: list[SSHTransport]) -> None:
    t = _open(transports, fleet.inventory_host(8), ssh_options)
    t.connect()
    started = time.monotonic()
    with pytest.raises(CommandTimeout, match=r"fleet-08: command did not finish within 0\.5 s"):
        t.run("sleep 30.017", timeout=0.5)
    assert time.monotonic() - started < 0.5 + 1.0
    gone_by = time.monotonic() + 2
    while _pgrep(t, "[s]leep 30.017") and time.monotonic() < gone_by:
        time.sleep(0.05)
    assert _pgrep(t, "[s]leep 30.017") == ""


def test_the_host_deadline_bounds_a_command(fleet: Fleet, ssh_options: TransportOptions,
                                            transports: list[SSHTransport]) -> None:
    t = _open(transports, fleet.inventory_host(8), ssh_options, deadline=time.monotonic() + 0.8)
    t.connect()
    started = time.monotonic()
    with pytest.raises(CommandTimeout):
        t.run("sleep 30.018", timeout=20)
    assert time.monotonic() - started < 0.8 + 1.0
    with pytest.raises(CommandTimeout, match="deadline has passed"):
        t.run("true")


def test_closed_port_is_a_connect_error(fleet: Fleet, ssh_options: TransportOptions) -> None:
    address, port = fleet.closed_port
    t = SSHTransport(Host(name="closed", address=address, port=port, user="root"), ssh_options)
    with pytest.raises(ConnectError, match=f"closed: connection refused by {address}:{port}"):
        t.run("true")


def test_unresolvable_name_is_a_connect_error(ssh_options: TransportOptions) -> None:
    t = SSHTransport(Host(name="ghost", address="no-such-host.invalid", port=22, user="root"), ssh_options)
    with pytest.raises(ConnectError, match="ghost: cannot resolve 'no-such-host.invalid'"):
        t.connect()


@pytest.mark.parametrize("limit", ["connect_timeout", "deadline"])
def test_tarpit_times_out_within_the_limit(fleet: Fleet, ssh_options: TransportOptions, limit: str) -> None:
    address, port = fleet.tarpit()
    options = dataclasses.replace(ssh_options, connect_timeout=0.5 if limit == "connect_timeout" else 30.0)
    deadline = time.monotonic() + 0.5 if limit == "deadline" else None
    t = SSHTransport(Host(name="tarpit", address=address, port=port, user="root"), options, deadline=deadline)
    started = time.monotonic()
    with pytest.raises(CommandTimeout, match="tarpit: no SSH answer within"):
        t.connect()
    assert time.monotonic() - started < 0.5 + 1.0


def test_wrong_client_key_is_an_auth_error(fleet: Fleet, ssh_options: TransportOptions, tmp_path: Path,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    wrong = tmp_path / "wrong_ed25519"
    write_key_pair(wrong)
    monkeypatch.setenv("RMM_TEST_PW", "not-the-password")
    host = fleet.inventory_host(9, key_file=str(wrong), password_env="RMM_TEST_PW")
    with pytest.raises(AuthError) as err:
        SSHTransport(host, ssh_options).connect()
    assert not isinstance(err.value, HostKeyError)
    assert str(err.value).startswith(f"fleet-09: authentication failed for user root (tried: key {wrong}, password)")
    assert "not-the-password" not in str(err.value)


def test_missing_key_file_is_named_in_the_auth_error(fleet: Fleet, ssh_options: TransportOptions,
                                                     tmp_path: Path) -> None:
    host = fleet.inventory_host(9, key_file=str(tmp_path / "nope"))
    with pytest.raises(AuthError, match=f"{tmp_path / 'nope'} \\(missing\\)"):
        SSHTransport(host, ssh_options).connect()


def _encrypted_copy(fleet: Fleet, path: Path, passphrase: bytes) -> Path:
    key = serialization.load_ssh_private_key(fleet.client_key.read_bytes(), password=None)
    path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH,
                                       serialization.BestAvailableEncryption(passphrase)))
    path.chmod(0o600)
    return path


def test_encrypted_key_file_uses_the_passphrase_env(fleet: Fleet, ssh_options: TransportOptions, tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch,
                                                    transports: list[SSHTransport]) -> None:
    key = _encrypted_copy(fleet, tmp_path / "enc_ed25519", b"correct horse")
    with pytest.raises(AuthError, match=f"{key} \\(encrypted: set key_passphrase_env\\)"):
        SSHTransport(fleet.inventory_host(9, key_file=str(key)), ssh_options).connect()
    monkeypatch.setenv("RMM_TEST_KEY_PP", "correct horse")
    host = fleet.inventory_host(9, key_file=str(key), key_passphrase_env="RMM_TEST_KEY_PP")
    assert _open(transports, host, ssh_options).run("hostname").stdout == "fleet-09\n"


@pytest.fixture
def agent(tmp_path: Path, fleet: Fleet, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A real ssh-agent (ours, stopped by PID) holding the fleet's client key."""
    if shutil.which("ssh-agent") is None:
        pytest.skip("ssh-agent is not installed")
    sock = tmp_path / "agent.sock"
    proc = subprocess.Popen(["ssh-agent", "-D", "-a", str(sock)], stdout=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 5
        while not sock.exists() and time.monotonic() < deadline:
            time.sleep(0.01)
        env = {**os.environ, "SSH_AUTH_SOCK": str(sock)}
        subprocess.run(["ssh-add", "-q", str(fleet.client_key)], env=env, check=True, capture_output=True)
        monkeypatch.setenv("SSH_AUTH_SOCK", str(sock))
        yield sock
    finally:
        proc.terminate()
        proc.wait(5)


def test_the_ssh_agent_is_tried_after_the_key_file(fleet: Fleet, ssh_options: TransportOptions, agent: Path,
                                                   tmp_path: Path, transports: list[SSHTransport]) -> None:
    wrong = tmp_path / "wrong_ed25519"
    write_key_pair(wrong)
    t = _open(transports, fleet.inventory_host(8, key_file=str(wrong)), ssh_options)
    assert t.run("hostname").stdout == "fleet-08\n"


def test_ssh_config_supplies_hostname_port_user_and_identity(fleet: Fleet, ssh_options: TransportOptions,
                                                             transports: list[SSHTransport]) -> None:
    h = fleet.host(4)
    assert ssh_options.ssh_config is not None
    ssh_options.ssh_config.write_text(
        f"Host web-alias\n  HostName {h.address}\n  Port {h.port}\n  User root\n"
        f"  IdentityFile {fleet.client_key}\n  IdentitiesOnly yes\n")
    t = _open(transports, Host(name="web", address="web-alias"), ssh_options)
    assert t.run("hostname; id -un").stdout == "fleet-04\nroot\n"


# -- host keys ---------------------------------------------------------------------------------------------


def _other_key_line(tmp_path: Path) -> str:
    return write_key_pair(tmp_path / "impostor_ed25519")


def test_changed_host_key_is_refused_and_known_hosts_untouched(fleet: Fleet, ssh_options: TransportOptions,
                                                               tmp_path: Path) -> None:
    h = fleet.host(4)
    known = tmp_path / "inventory_known_hosts"
    known.write_text(f"# inventory keys\n{h.known_hosts_name} {_other_key_line(tmp_path)}\n")
    before = known.read_bytes()
    for policy in ("strict", "accept-new"):
        options = dataclasses.replace(ssh_options, known_hosts=(known,), host_key_policy=policy)
        with pytest.raises(HostKeyError) as err:
            SSHTransport(fleet.inventory_host(4), options).connect()
        message = str(err.value)
        assert message.startswith(f"fleet-04: HOST KEY CHANGED: {known}:2 has ssh-ed25519 SHA256:")
        assert message.count("SHA256:") == 2 and "\n" not in message
    assert known.read_bytes() == before


def test_unknown_host_key_is_refused_under_strict(fleet: Fleet, ssh_options: TransportOptions) -> None:
    options = dataclasses.replace(ssh_options, known_hosts=())
    with pytest.raises(HostKeyError, match=r"fleet-05: unknown host key \(ssh-ed25519 SHA256:\S+\); run "
                                           r"`rmmctl hostkeys scan fleet-05` then `rmmctl hostkeys approve "
                                           r"fleet-05`, or set host_key_policy: accept-new"):
        SSHTransport(fleet.inventory_host(5), options).connect()
    assert options.user_known_hosts is not None and options.user_known_hosts.read_text() == ""


def test_accept_new_records_the_key_in_the_inventory_known_hosts(fleet: Fleet, ssh_options: TransportOptions,
                                                                 tmp_path: Path) -> None:
    known = tmp_path / "inv" / "known_hosts"
    h = fleet.host(6)
    options = dataclasses.replace(ssh_options, known_hosts=(known,))
    t = SSHTransport(fleet.inventory_host(6, host_key_policy="accept-new"), options)
    assert t.run("hostname").stdout == "fleet-06\n"
    t.close()
    assert known.read_text() == f"{h.known_hosts_name} {fleet.host_public_key}\n"
    assert known.stat().st_mode & 0o777 == 0o600
    strict = SSHTransport(fleet.inventory_host(6), options)  # now known: strict connects
    assert strict.run("hostname").stdout == "fleet-06\n"
    strict.close()
    assert options.user_known_hosts is not None and options.user_known_hosts.read_text() == ""


def test_accept_new_without_inventory_file_uses_user_known_hosts(fleet: Fleet, ssh_options: TransportOptions) -> None:
    options = dataclasses.replace(ssh_options, known_hosts=(), host_key_policy="accept-new")
    t = SSHTransport(fleet.inventory_host(7), options)
    t.connect()
    t.close()
    assert options.user_known_hosts is not None
    assert options.user_known_hosts.read_text() == f"{fleet.host(7).known_hosts_name} {fleet.host_public_key}\n"


# -- ProxyJump ---------------------------------------------------------------------------------------------


def _hop(fleet: Fleet, i: int) -> str:
    h = fleet.host(i)
    return f"root@{h.address}:{h.port}"


def test_proxy_jump_through_one_host(fleet: Fleet, ssh_options: TransportOptions,
                                     transports: list[SSHTransport]) -> None:
    t = _open(transports, fleet.inventory_host(2, proxy_jump=_hop(fleet, 1)), ssh_options)
    assert t.run("hostname").stdout == "fleet-02\n"


def test_proxy_jump_chain_of_two_hosts(fleet: Fleet, ssh_options: TransportOptions,
                                       transports: list[SSHTransport]) -> None:
    chain = f"{_hop(fleet, 1)},{_hop(fleet, 2)}"
    t = _open(transports, fleet.inventory_host(3, proxy_jump=chain), ssh_options)
    assert t.run("hostname").stdout == "fleet-03\n"
    assert t.run("echo $RMM_TEST_HOST").stdout == "fleet-03\n"


def test_proxy_jump_is_really_dialled(fleet: Fleet, ssh_options: TransportOptions) -> None:
    address, port = fleet.closed_port
    host = fleet.inventory_host(2, proxy_jump=f"root@{address}:{port}")
    with pytest.raises(ConnectError, match=f"fleet-02: jump host {address}: connection refused"):
        SSHTransport(host, ssh_options).connect()


def test_the_jump_host_key_is_checked_too(fleet: Fleet, ssh_options: TransportOptions, tmp_path: Path) -> None:
    known = tmp_path / "known_hosts"
    known.write_text(f"{fleet.host(2).known_hosts_name} {fleet.host_public_key}\n")  # the target only
    options = dataclasses.replace(ssh_options, known_hosts=(known,))
    host = fleet.inventory_host(2, proxy_jump=_hop(fleet, 1))
    with pytest.raises(HostKeyError, match=f"fleet-02: jump host {fleet.host(1).address}: unknown host key"):
        SSHTransport(host, options).connect()


def test_proxy_jump_none_overrides_ssh_config(fleet: Fleet, ssh_options: TransportOptions,
                                              transports: list[SSHTransport]) -> None:
    address, port = fleet.closed_port
    assert ssh_options.ssh_config is not None
    ssh_options.ssh_config.write_text(f"Host *\n  ProxyJump root@{address}:{port}\n")
    with pytest.raises(ConnectError, match="jump host"):
        SSHTransport(fleet.inventory_host(3), ssh_options).connect()
    t = _open(transports, fleet.inventory_host(3, proxy_jump="none"), ssh_options)
    assert t.run("hostname").stdout == "fleet-03\n"


# -- become (sudo) -----------------------------------------------------------------------------------------

SUDO_SHIM = r"""#!/bin/sh
# A recording sudo: logs each argv, and the password it reads with -S; NOPASSWD when {dir}/nopasswd exists.
{{ printf 'argv:'; for a in "$@"; do printf ' [%s]' "$a"; done; echo; }} >> {dir}/sudo.log
if [ "$1" = -n ] && [ "$2" = true ]; then [ -e {dir}/nopasswd ]; exit $?; fi
if [ "$1" = -S ]; then
  IFS= read -r pw; printf 'password-on-stdin: %s\n' "$pw" >> {dir}/sudo.log
  [ "$pw" = "$(cat {dir}/expected)" ] || {{ echo 'Sorry, try again.' >&2; exit 1; }}
elif [ "$1" = -n ] && [ ! -e {dir}/nopasswd ]; then echo 'sudo: a password is required' >&2; exit 1
fi
while [ "$#" -gt 0 ] && [ "$1" != -- ]; do shift; done; shift
exec "$@"
"""


@pytest.fixture(scope="module")
def sudo_fleet(tmp_path_factory: pytest.TempPathFactory, fleet: Fleet) -> Iterator[tuple[Fleet, Path]]:
    """One more host whose /usr/local/bin/sudo is the recording shim (its own fleet, another port)."""
    workdir = tmp_path_factory.mktemp("sudofleet")
    state = workdir / "sudo-state"
    state.mkdir()
    (state / "expected").write_text("s3cr3t-Pw\n")
    with Fleet(workdir) as sf:
        sf.start(1, fixtures={"fleet-01": FixtureSpec(bin={"sudo": SUDO_SHIM.format(dir=state)})})
        yield sf, state


@pytest.fixture
def sudo_host(sudo_fleet: tuple[Fleet, Path], ssh_options: TransportOptions,
              monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[SSHTransport, Path]]:
    sf, state = sudo_fleet
    for name in ("sudo.log", "nopasswd"):
        (state / name).unlink(missing_ok=True)
    monkeypatch.setenv("RMM_TEST_SUDO_PW", "s3cr3t-Pw")
    options = dataclasses.replace(ssh_options, known_hosts=(sf.known_hosts,))
    t = SSHTransport(sf.inventory_host(1, become_password_env="RMM_TEST_SUDO_PW"), options)
    yield t, state
    t.close()


def test_become_sends_the_password_on_stdin_never_in_argv(sudo_host: tuple[SSHTransport, Path]) -> None:
    t, state = sudo_host
    result = t.run("echo as-$(id -un); cat", stdin="user data\n", become=True)
    assert (result.exit_code, result.stdout) == (0, "as-root\nuser data\n")
    assert result.command == "echo as-$(id -un); cat"
    log = (state / "sudo.log").read_text()
    assert "password-on-stdin: s3cr3t-Pw" in log
    argv_lines = [line for line in log.splitlines() if line.startswith("argv:")]
    assert argv_lines[-1].startswith("argv: [-S] [-p] [] [-H] [--]")
    assert all("s3cr3t" not in line for line in argv_lines)


def test_become_with_nopasswd_sudo_drops_the_password_line(sudo_host: tuple[SSHTransport, Path]) -> None:
    t, state = sudo_host
    (state / "nopasswd").touch()
    result = t.run("cat", stdin="only this\n", become=True)
    assert (result.exit_code, result.stdout) == (0, "only this\n")
    log = (state / "sudo.log").read_text()
    assert "s3cr3t" not in log and "argv: [-n] [-H] [--]" in log


def test_become_quotes_metacharacters(sudo_host: tuple[SSHTransport, Path], tmp_path: Path) -> None:
    t, _ = sudo_host
    payload = f"'; touch {tmp_path}/pwned; '$(touch {tmp_path}/pwned2)`id`"
    assert t.run(f"printf '%s' {shlex.quote(payload)}", become=True).stdout == payload
    assert not list(tmp_path.glob("pwned*"))


def test_become_without_a_password_uses_sudo_n(sudo_fleet: tuple[Fleet, Path],
                                               ssh_options: TransportOptions) -> None:
    sf, state = sudo_fleet
    (state / "sudo.log").unlink(missing_ok=True)
    (state / "nopasswd").touch()
    options = dataclasses.replace(ssh_options, known_hosts=(sf.known_hosts,))
    t = SSHTransport(sf.inventory_host(1), options)
    try:
        assert t.run("id -un", become=True).stdout == "root\n"
    finally:
        t.close()
        (state / "nopasswd").unlink()
    assert (state / "sudo.log").read_text().startswith("argv: [-n] [-H] [--] [timeout]")


def test_close_from_another_thread_interrupts_a_running_command(fleet: Fleet, ssh_options: TransportOptions) -> None:
    t = SSHTransport(fleet.inventory_host(9), ssh_options)
    t.connect()
    closer = threading.Timer(0.3, t.close)
    closer.start()
    started = time.monotonic()
    with pytest.raises(ConnectError, match="fleet-09: interrupted; the command was stopped on the host"):
        t.run("sleep 2.019", timeout=10)
    assert time.monotonic() - started < 0.3 + 1.0
    closer.join()


# -- the fleet itself ------------------------------------------------------------------------------------------


def test_fleet_inventory_loads_and_every_host_answers(fleet: Fleet, ssh_options: TransportOptions,
                                                      tmp_path: Path, transports: list[SSHTransport]) -> None:
    from rmmctl.inventory.load import load_inventory

    inventory = load_inventory(fleet.write_inventory(tmp_path / "inv" / "inventory.yaml", hosts=[1, 10],
                                                     extra={"defaults": {"connect_timeout": 5}}))
    assert inventory.known_hosts is not None and inventory.known_hosts.resolve() == fleet.known_hosts.resolve()
    assert list(inventory.hosts) == ["fleet-01", "fleet-10"]
    options = dataclasses.replace(ssh_options, known_hosts=(inventory.known_hosts,))
    for host in inventory.hosts.values():
        assert _open(transports, host, options).run("hostname").stdout == f"{host.name}\n"


def test_fleet_fixtures_are_visible_only_inside_their_host(tmp_path: Path, ssh_options: TransportOptions,
                                                           fleet: Fleet) -> None:
    spec = FixtureSpec(
        bin={"systemctl": "#!/bin/sh\necho shim-systemctl \"$@\"\n"},
        run={"reboot-required": "*** System restart required ***\n", "systemd/system/.keep": ""},
        log={"syslog": "Nov 22 01:00:00 fx kernel: boom\n"},
        proc={"loadavg": "17.50 12.01 8.00 3/200 999\n"},
        os_release='ID=ubuntu\nVERSION_ID="22.04"\n',
        fulldisk="512k",
    )
    with Fleet(tmp_path / "fx") as fx:
        fx.start(2, fixtures={"fleet-01": spec})
        options = dataclasses.replace(ssh_options, known_hosts=(fx.known_hosts,))
        probe = ("systemctl --failed; cat /run/reboot-required; cat /var/log/syslog; cat /proc/loadavg; "
                 ". /usr/lib/os-release; echo $ID; df -P /srv/data | tail -1 | awk '{print $5}'; "
                 "test -d /run/systemd/system && echo systemd")
        with_fx = SSHTransport(fx.inventory_host(1), options)
        plain = SSHTransport(fx.inventory_host(2), options)
        try:
            out = with_fx.run(probe).stdout.splitlines()
            assert out == ["shim-systemctl --failed", "*** System restart required ***",
                           "Nov 22 01:00:00 fx kernel: boom", "17.50 12.01 8.00 3/200 999", "ubuntu", "100%", "systemd"]
            assert "shim-systemctl" not in plain.run("systemctl --failed 2>&1 || true").stdout
            assert not plain.run("test -e /run/reboot-required").ok
        finally:
            with_fx.close()
            plain.close()
    assert not Path("/srv/data/fill").exists()


def test_wrong_passphrase_is_named(fleet: Fleet, ssh_options: TransportOptions, tmp_path: Path,
                                   monkeypatch: pytest.MonkeyPatch) -> None:
    key = _encrypted_copy(fleet, tmp_path / "enc_ed25519", b"correct horse")
    monkeypatch.setenv("RMM_TEST_KEY_PP", "battery staple")
    host = fleet.inventory_host(9, key_file=str(key), key_passphrase_env="RMM_TEST_KEY_PP")
    with pytest.raises(AuthError, match="wrong passphrase") as err:
        SSHTransport(host, ssh_options).connect()
    assert "battery" not in str(err.value)


@pytest.mark.parametrize(
    ("spec", "parsed"),
    [
        ("root@127.0.77.2:2222", ("root", "127.0.77.2", 2222)),
        ("bastion", (None, "bastion", None)),
        ("[::1]:2200", (None, "::1", 2200)),
        ("ssh://ops@jump.example:2022", ("ops", "jump.example", 2022)),
    ],
)
def test_proxy_jump_hops_parse(spec: str, parsed: tuple[str | None, str, int | None]) -> None:
    assert parse_jump(spec, "web01") == parsed


def test_malformed_proxy_jump_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="web01: proxy_jump entry 'a b' is not"):
        parse_jump("a b", "web01")


@pytest.mark.parametrize("spec", ["root@127.0.77.2:2222", "[fe80::1%eth0]:2200", "ssh://ops@jump.example",
                                  "jump:99999", "jump:0", "ops/x@jump", "a b", "[not-v6]:22", "jump:"])
def test_inventory_and_transport_share_one_proxy_jump_grammar(spec: str) -> None:
    from rmmctl.inventory.load import parse_inventory

    try:
        parse_jump(spec, "web01")
        transport_ok = True
    except ConfigError:
        transport_ok = False
    try:
        parse_inventory(f"hosts:\n  web01: {{proxy_jump: '{spec}'}}\n", Path("inv.yaml"))
        inventory_ok = True
    except ConfigError:
        inventory_ok = False
    assert transport_ok == inventory_ok


def test_a_passphrase_env_does_not_break_unencrypted_keys(fleet: Fleet, ssh_options: TransportOptions,
                                                          tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                          transports: list[SSHTransport]) -> None:
    monkeypatch.setenv("RMM_TEST_KEY_PP", "correct horse")
    host = fleet.inventory_host(9, key_passphrase_env="RMM_TEST_KEY_PP")  # the fleet's key is not encrypted
    assert _open(transports, host, ssh_options).run("hostname").stdout == "fleet-09\n"
    wrong = tmp_path / "wrong_ed25519"
    write_key_pair(wrong)
    with pytest.raises(AuthError) as err:
        SSHTransport(fleet.inventory_host(9, key_file=str(wrong), key_passphrase_env="RMM_TEST_KEY_PP"),
                     ssh_options).connect()
    assert f"(tried: key {wrong});" in str(err.value) and "wrong passphrase" not in str(err.value)


def test_the_auth_error_lists_unusable_keys_as_tried_never_nothing(fleet: Fleet, ssh_options: TransportOptions,
                                                                   tmp_path: Path) -> None:
    key = _encrypted_copy(fleet, tmp_path / "enc_ed25519", b"correct horse")
    with pytest.raises(AuthError) as err:
        SSHTransport(fleet.inventory_host(9, key_file=str(key)), ssh_options).connect()
    assert f"(tried: key {key} (encrypted: set key_passphrase_env))" in str(err.value)
    assert "nothing" not in str(err.value)


def _wait_for(check: object, seconds: float = 5.0) -> None:
    """Poll `check()` until true (a readiness check on the host, not a guess)."""
    end = time.monotonic() + seconds
    while not check():  # type: ignore[operator]
        assert time.monotonic() < end, "condition not met in time"
        time.sleep(0.02)


@pytest.mark.parametrize(("command", "marker"), [("sleep 300.021", "300.021"),
                                                 ("sh -c 'sleep 300.022; echo done'", "300.022"),
                                                 ("sleep 300.023 & sleep 300.023; wait", "300.023")])
def test_close_while_a_command_runs_stops_it_on_the_host(fleet: Fleet, ssh_options: TransportOptions,
                                                         transports: list[SSHTransport], command: str,
                                                         marker: str) -> None:
    watcher = _open(transports, fleet.inventory_host(9), ssh_options)
    t = SSHTransport(fleet.inventory_host(9), ssh_options)
    t.connect()
    errors: list[BaseException] = []
    runner = threading.Thread(target=lambda: _capture(errors, lambda: t.run(command, timeout=60)))
    runner.start()
    _wait_for(lambda: _pgrep(watcher, f"[s]leep {marker}"))
    started = time.monotonic()
    t.close()
    runner.join(5)
    assert time.monotonic() - started < 2.0
    assert errors and isinstance(errors[0], ConnectError) and "interrupted" in str(errors[0])
    assert _pgrep(watcher, f"[s]leep {marker}") == ""  # gone as soon as close() returns: no polling needed


def _capture(errors: list[BaseException], call: object) -> None:
    try:
        call()  # type: ignore[operator]
    except BaseException as exc:  # noqa: BLE001
        errors.append(exc)


# -- warm channels (one round trip per command on an open connection) ---------------------------------


WARM_CASES = [
    ("printf '%s|' \"$@\"; echo", None),  # no stdin at all
    ("cat", b"line one\n  indented \\ backslash\n\n\ttab\nno newline at the end"),
    ("sh -c 'cat; echo; echo err >&2; exit 3'", b"x" * 300_000),  # more than one window of stdin
    ("printf 'a\\\\nb\\n'; printf '%s\\n' '  lead' 'trail  ' ''; exit 0", None),
    ("f() {\n  echo \"in f: $1\"\n}\n\nf 'two\n lines'\n", None),  # a multi-line command, blank lines kept
]


def test_warm_channels_run_commands_exactly_as_fresh_ones(fleet: Fleet, ssh_options: TransportOptions,
                                                          transports: list[SSHTransport]) -> None:
    """The same commands on a transport without warm channels and on one that uses them from the first
    command on (expect_many): the same stdout, stderr and exit codes, byte for byte."""
    fresh = _open(transports, fleet.inventory_host(1), ssh_options)
    warm = _open(transports, fleet.inventory_host(1), ssh_options)
    warm.expect_many()
    for command, data in WARM_CASES * 2:
        want = fresh.run(command, stdin=data)
        got = warm.run(command, stdin=data)
        assert (got.exit_code, got.stdout, got.stderr) == (want.exit_code, want.stdout, want.stderr), command
    assert warm.warm_commands >= len(WARM_CASES), "the later commands should have found a warm channel ready"


def test_a_command_on_a_warm_channel_is_still_killed_at_its_deadline(fleet: Fleet, ssh_options: TransportOptions,
                                                                     transports: list[SSHTransport]) -> None:
    t = _open(transports, fleet.inventory_host(1), ssh_options)
    t.expect_many()
    marker = f"warm-deadline-{uuid.uuid4().hex[:8]}"
    t.run("true")
    t.run("true")
    with pytest.raises(CommandTimeout):
        t.run(f"sleep 30 # {marker}", timeout=0.5)
    other = _open(transports, fleet.inventory_host(1), ssh_options)
    deadline = time.monotonic() + 5
    while _pgrep(other, f"[s]leep 30 # {marker}") and time.monotonic() < deadline:
        time.sleep(0.05)  # the remote timeout fires just past ours
    assert not _pgrep(other, f"[s]leep 30 # {marker}")


def test_spare_channels_are_closed_with_the_transport(fleet: Fleet, ssh_options: TransportOptions,
                                                      transports: list[SSHTransport]) -> None:
    """Warm shells nobody used end when the transport closes: no idle shell is left on the host (the fleet
    hosts are processes of this machine, so a local pgrep sees them)."""
    def warm_shells() -> set[int]:
        out = subprocess.run(["pgrep", "-f", "^[^ ]*sh -c IFS= read -r __rmm_n"], capture_output=True, text=True).stdout
        return {int(p) for p in out.split()}

    before = warm_shells()
    t = _open(transports, fleet.inventory_host(1), ssh_options)
    t.expect_many()
    t.run("true")
    t.run("true")
    mine = warm_shells() - before
    assert mine, "two warm shells should wait for the next commands"
    t.close()
    deadline = time.monotonic() + 5
    while mine & warm_shells() and time.monotonic() < deadline:
        time.sleep(0.05)  # sshd ends the shells when their channels close
    assert not mine & warm_shells()
