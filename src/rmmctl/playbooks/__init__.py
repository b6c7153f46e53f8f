"""Maintenance playbooks: YAML plays of module tasks, validated before anything runs (load), templated in
a Jinja2 sandbox (template), run as one executor Job per play (run), modules keyed by OS family (modules;
the POSIX ones in posix). docs/playbooks.md is the user's guide.
"""

from __future__ import annotations

from rmmctl.playbooks.load import Play, Playbook, Task, load_playbook, load_vars_file, parse_playbook
from rmmctl.playbooks.run import RECAP_KEYS, play_job

__all__ = ["RECAP_KEYS", "Play", "Playbook", "Task", "load_playbook", "load_vars_file", "parse_playbook", "play_job"]
