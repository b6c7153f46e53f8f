"""Inventory: load (rmmctl MSP YAML, Ansible YAML/INI), validate, select hosts by pattern, and view."""

from __future__ import annotations

from rmmctl.inventory.load import default_inventory, load_inventory, parse_inventory
from rmmctl.inventory.model import CONNECTIONS, Group, Host, Inventory
from rmmctl.inventory.parse import is_secret_key
from rmmctl.inventory.select import SELECTORS, select_hosts
from rmmctl.inventory.views import check, graph_lines, host_vars, to_ansible_list

__all__ = [
    "CONNECTIONS",
    "SELECTORS",
    "Group",
    "Host",
    "Inventory",
    "check",
    "default_inventory",
    "graph_lines",
    "host_vars",
    "is_secret_key",
    "load_inventory",
    "parse_inventory",
    "select_hosts",
    "to_ansible_list",
]
