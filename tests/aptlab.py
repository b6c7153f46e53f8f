"""An isolated apt/dpkg root for package_update tests: real apt-get, real dpkg, no network, no change to
the machine's own packages.

`AptLab(dir)` builds tiny .deb packages with `dpkg-deb --build`, installs version 1.0 of each into a
private dpkg root (`dpkg --root`), and serves the newer versions from a local `file:` repository
(`dpkg-scanpackages` + a hand-made Release per suite) with two suites: `lab` and `lab-security`. The
apt config file it writes (`apt.conf`, used as APT_CONFIG through the `apt_config` host var) points
every apt directory into the root (`Dir`), so the machine's /etc/apt/apt.conf.d hooks, lists, cache
and dpkg database are never read or written, and passes `--root` to dpkg.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from email.utils import formatdate
from pathlib import Path

NEEDS = ("apt-get", "dpkg", "dpkg-deb", "dpkg-scanpackages", "dpkg-query")


def missing_tools() -> list[str]:
    return [t for t in NEEDS if shutil.which(t) is None]


class AptLab:
    """A private dpkg root + local repository. `install` (1.0 versions), `publish` (newer ones)."""

    def __init__(self, top: Path) -> None:
        self.top = top
        self.root = top / "root"
        self.repo = top / "repo"
        self.build = top / "build"
        self.apt_conf = top / "apt.conf"
        for d in ("var/lib/dpkg/updates", "var/lib/dpkg/info", "var/lib/dpkg/triggers", "etc/apt/apt.conf.d",
                  "etc/apt/sources.list.d", "etc/apt/preferences.d", "var/lib/apt/lists/partial",
                  "var/cache/apt/archives/partial", "var/log/apt"):
            (self.root / d).mkdir(parents=True, exist_ok=True)
        (self.root / "var/lib/dpkg/status").touch()
        (self.repo / "pool").mkdir(parents=True, exist_ok=True)
        self.build.mkdir(parents=True, exist_ok=True)
        self.suites: dict[str, list[Path]] = {"lab": [], "lab-security": []}
        self.apt_conf.write_text(f'Dir "{self.root}/";\nDPkg::Options {{ "--root={self.root}"; }};\n')
        (self.root / "etc/apt/sources.list").write_text(
            "".join(f"deb [trusted=yes] file:{self.repo} {s} main\n" for s in self.suites))

    def deb(self, name: str, version: str, depends: str = "") -> Path:
        """A tiny arch-all package holding /usr/share/doc/NAME/VERSION."""
        src = self.build / f"{name}_{version}"
        (src / "DEBIAN").mkdir(parents=True, exist_ok=True)
        (src / "usr/share/doc" / name).mkdir(parents=True, exist_ok=True)
        control = (f"Package: {name}\nVersion: {version}\nArchitecture: all\nMaintainer: rmmctl tests "
                   f"<tests@example.invalid>\nDescription: rmmctl test package {name}\n")
        if depends:
            control += f"Depends: {depends}\n"
        (src / "DEBIAN/control").write_text(control)
        (src / "usr/share/doc" / name / "VERSION").write_text(f"{name} {version}\n")
        out = self.build / f"{name}_{version}_all.deb"
        subprocess.run(["dpkg-deb", "--build", "--root-owner-group", str(src), str(out)], check=True,
                       capture_output=True)
        return out

    def install(self, *debs: Path) -> None:
        """Install into the private root (dpkg --root: its own admin dir and files)."""
        subprocess.run(["dpkg", "--root", str(self.root), "-i", *map(str, debs)], check=True, capture_output=True,
                       env={**os.environ, "LC_ALL": "C"})

    def publish(self, suite: str, *debs: Path) -> None:
        """Put these packages into SUITE (lab or lab-security) and write its Packages and Release."""
        for deb in debs:
            shutil.copy2(deb, self.repo / "pool" / deb.name)
            self.suites[suite].append(self.repo / "pool" / deb.name)
        folder = self.repo / "dists" / suite / "main" / "binary-all"
        folder.mkdir(parents=True, exist_ok=True)
        stage = self.top / f"stage-{suite}"
        shutil.rmtree(stage, ignore_errors=True)
        stage.mkdir()
        for deb in self.suites[suite]:
            os.link(deb, stage / deb.name)
        scan = subprocess.run(["dpkg-scanpackages", stage.name, "/dev/null"], cwd=self.top, check=True,
                              capture_output=True, text=True).stdout
        shutil.rmtree(stage)
        packages = scan.replace(f"Filename: {stage.name}/", "Filename: pool/").encode()
        (folder / "Packages").write_bytes(packages)
        digest = hashlib.sha256(packages).hexdigest()
        release = (f"Origin: Lab\nLabel: Lab\nSuite: {suite}\nCodename: {suite}\n"
                   f"Date: {formatdate(usegmt=True)}\nArchitectures: all amd64\nComponents: main\n"
                   f"SHA256:\n {digest} {len(packages)} main/binary-all/Packages\n")
        (self.repo / "dists" / suite / "Release").write_text(release)

    def apt(self, *args: str) -> subprocess.CompletedProcess[str]:
        """apt-get against the lab (for setup: `update`)."""
        return subprocess.run(["apt-get", "-q", *args], env={**os.environ, "APT_CONFIG": str(self.apt_conf),
                                                             "LC_ALL": "C"},
                              capture_output=True, text=True, check=True)

    def versions(self) -> dict[str, str]:
        """Installed name -> version in the private root."""
        out = subprocess.run(["dpkg-query", f"--admindir={self.root}/var/lib/dpkg", "-W"], capture_output=True,
                             text=True).stdout
        return dict(line.split("\t", 1) for line in out.splitlines() if "\t" in line)

    def snapshot(self) -> dict[str, str]:
        """Every file under the root (dpkg database, apt lists and cache, installed files): its hash."""
        out = {}
        for folder, _dirs, files in os.walk(self.root):
            for name in files:
                p = Path(folder, name)
                if p.is_file() and not p.is_symlink():
                    out[str(p.relative_to(self.root))] = hashlib.sha256(p.read_bytes()).hexdigest()
        return out
