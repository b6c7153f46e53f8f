"""Shared parsing helpers: YAML with line marks, one-line located errors, value validators."""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import yaml

from rmmctl.errors import ConfigError

NAME_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.\-]*$")
ENV_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
# Limits on what a file may make the loader build (docs/inventory.md, "Limits").
MAX_ALIAS_NODES = 100_000  # nodes a document may repeat through *aliases (a "billion laughs" bomb has ~10^9)
_CONTROL_RE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_SECRET_NAMES = frozenset(
    {"password", "passwd", "passphrase", "secret", "ansible_ssh_pass", "ansible_become_pass"}
)
_SECRET_SUFFIXES = ("_password", "_passwd", "_passphrase", "_pass", "_secret")


class MarkedMap(dict):  # type: ignore[type-arg]
    """A YAML mapping that remembers its own line and the line of each key (1-based)."""

    line: int = 0

    def __init__(self, line: int = 0) -> None:
        super().__init__()
        self.line = line
        self.key_lines: dict[str, int] = {}
        self.duplicates: list[tuple[str, int, int]] = []  # (key, line, first line)

    def line_of(self, key: str) -> int:
        """The line where `key` is written, else the mapping's own line."""
        return self.key_lines.get(key, self.line)


class MarkedList(list):  # type: ignore[type-arg]
    """A YAML sequence that remembers its own line and the line of each item (1-based)."""

    def __init__(self, line: int = 0) -> None:
        super().__init__()
        self.line = line
        self.item_lines: list[int] = []

    def line_of(self, index: int) -> int:
        """The line of item `index`, else the sequence's own line."""
        return self.item_lines[index] if index < len(self.item_lines) else self.line


class Source:
    """The file being parsed: builds located one-line ConfigErrors and resolves relative paths."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.name = str(path)

    def error(self, line: int, keypath: str, problem: str, expected: str = "") -> ConfigError:
        """`FILE:LINE: key.path: problem; expected` as a ConfigError."""
        where = f"{self.name}:{line}: " if line else f"{self.name}: "
        text = f"{where}{keypath}: {problem}" if keypath else f"{where}{problem}"
        return ConfigError(f"{text}; {expected}" if expected else text)

    def resolve(self, value: str) -> str:
        """A path written in the file: `~` expanded, relative paths taken from the file's folder."""
        p = Path(value).expanduser()
        if not p.is_absolute():
            p = self.path.absolute().parent / p
        return str(p)


_BaseLoader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml parses ~10x faster when present


class _MarkLoader(_BaseLoader):  # type: ignore[valid-type,misc]
    """SafeLoader that builds MarkedMap/MarkedList, keeps keys as written and dates as strings, and
    refuses a document that repeats more than MAX_ALIAS_NODES nodes through aliases."""

    def get_single_node(self) -> yaml.Node | None:
        node = super().get_single_node()
        if node is not None:
            check_alias_expansion(node)
        return node


def check_alias_expansion(root: yaml.Node, limit: int = MAX_ALIAS_NODES) -> None:
    """Raise _LocatedProblem when the tree, with every alias expanded, has `limit` more nodes than the
    graph itself, or an alias refers to a node that contains it. Iterative, each node visited once."""
    size: dict[int, int] = {}  # id(node) -> nodes in its expanded subtree
    unique = 0
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    active: set[int] = set()
    while stack:
        node, done = stack.pop()
        key = id(node)
        children = _children(node)
        if done:
            active.discard(key)
            size[key] = 1 + sum(size[id(c)] for c in children)
            if size[key] - unique > limit:
                raise _LocatedProblem(
                    node.start_mark.line + 1,
                    f"aliases expand to more than {limit} repeated values (an alias bomb?)",
                    "expected anchors (&name) reused a few times; write the values out",
                )
            continue
        if key in size:
            continue
        if key in active:
            raise _LocatedProblem(
                node.start_mark.line + 1, "an alias refers to a value that contains it", "remove the loop"
            )
        active.add(key)
        unique += 1
        stack.append((node, True))
        stack.extend((c, False) for c in children if id(c) not in size)


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    if isinstance(node, yaml.MappingNode):
        return [n for pair in node.value for n in pair]
    return []


def check_text(text: str, src: Source) -> None:
    """Refuse NUL and other control characters (any format) with the line and column of the first."""
    bad = _CONTROL_RE.search(text)
    if bad:
        line = text.count("\n", 0, bad.start()) + 1
        column = bad.start() - (text.rfind("\n", 0, bad.start()) + 1) + 1
        what = "a NUL byte" if bad.group() == "\0" else f"control character {ord(bad.group()):#04x}"
        raise ConfigError(
            f"{src.name}:{line}:{column}: {what} in the text; the file is binary or damaged: save it as plain UTF-8 text"
        )


def _construct_map(loader: _MarkLoader, node: yaml.MappingNode) -> MarkedMap:
    result = MarkedMap(node.start_mark.line + 1)
    own: set[str] = set()
    for key_node, value_node in node.value:
        line = key_node.start_mark.line + 1
        if key_node.tag == "tag:yaml.org,2002:merge":
            _merge_into(result, loader.construct_object(value_node, deep=True), own, line)
            continue
        if not isinstance(key_node, yaml.ScalarNode):
            raise _LocatedProblem(line, "a key must be a plain name, not a list or a mapping")
        key = str(key_node.value)
        if key in own:
            result.duplicates.append((key, line, result.key_lines[key]))
            continue
        own.add(key)
        result[key] = loader.construct_object(value_node, deep=True)
        result.key_lines[key] = line
    return result


def _merge_into(result: MarkedMap, merged: Any, own: set[str], line: int) -> None:
    sources = merged if isinstance(merged, list) else [merged]
    for source in sources:
        if not isinstance(source, MarkedMap):
            raise _LocatedProblem(line, "a merge key '<<' needs a mapping or a list of mappings")
        for key, value in source.items():
            if key not in result:
                result[key] = value
                result.key_lines[key] = source.line_of(key)


def _construct_seq(loader: _MarkLoader, node: yaml.SequenceNode) -> MarkedList:
    result = MarkedList(node.start_mark.line + 1)
    for child in node.value:
        result.append(loader.construct_object(child, deep=True))
        result.item_lines.append(child.start_mark.line + 1)
    return result


_MarkLoader.add_constructor("tag:yaml.org,2002:map", _construct_map)
_MarkLoader.add_constructor("tag:yaml.org,2002:seq", _construct_seq)


def _construct_str(loader: _MarkLoader, node: yaml.ScalarNode) -> str:
    return str(loader.construct_scalar(node))


_MarkLoader.add_constructor("tag:yaml.org,2002:timestamp", _construct_str)  # dates stay as written


class _LocatedProblem(Exception):
    def __init__(self, line: int, message: str, expected: str = "") -> None:
        super().__init__(message)
        self.line = line
        self.message = message
        self.expected = expected


class YamlSyntaxError(Exception):
    """The text is not valid YAML; `error` is the ConfigError to raise if no other format fits."""

    def __init__(self, error: ConfigError) -> None:
        super().__init__(str(error))
        self.error = error


def load_yaml(text: str, src: Source) -> Any:
    """Parse YAML into MarkedMap/MarkedList/scalars; raises YamlSyntaxError or ConfigError."""
    try:
        return yaml.load(text, Loader=_MarkLoader)
    except yaml.MarkedYAMLError as exc:
        raise YamlSyntaxError(_syntax_error(exc, text, src)) from None
    except yaml.reader.ReaderError as exc:  # a character YAML refuses: locate it, one line
        line = text.count("\n", 0, exc.position) + 1
        raise YamlSyntaxError(
            ConfigError(f"{src.name}:{line}: YAML syntax error: character {exc.character!r} is not allowed")
        ) from None
    except yaml.YAMLError as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise YamlSyntaxError(ConfigError(f"{src.name}: YAML syntax error: {first}")) from None
    except _LocatedProblem as exc:
        raise src.error(exc.line, "", exc.message, exc.expected) from None


def _syntax_error(exc: yaml.MarkedYAMLError, text: str, src: Source) -> ConfigError:
    """`FILE:LINE:COL: YAML syntax error: problem (context at line N)`, with a hint for tabs."""
    mark = exc.problem_mark or exc.context_mark
    problem = exc.problem or exc.context or "invalid YAML"
    if mark is None:
        return ConfigError(f"{src.name}: YAML syntax error: {problem}")
    context = exc.context_mark
    if exc.problem and exc.context and context is not None and context.line != mark.line:
        problem += f" ({exc.context} at line {context.line + 1})"
    line = (text.splitlines()[mark.line : mark.line + 1] or [""])[0]
    if "\t" in line[: mark.column + 1]:
        problem += "; indent with spaces, not tabs"
    return ConfigError(f"{src.name}:{mark.line + 1}:{mark.column + 1}: YAML syntax error: {problem}")


def check_duplicates(node: Any, src: Source, path: str = "") -> None:
    """Raise on the first duplicate mapping key anywhere in the tree, naming both lines."""
    if isinstance(node, MarkedMap):
        for key, line, first in node.duplicates:
            raise src.error(line, join(path, key), f"duplicate key (first at line {first})", "keep one")
        for key, value in node.items():
            check_duplicates(value, src, join(path, key))
    elif isinstance(node, MarkedList):
        for index, value in enumerate(node):
            check_duplicates(value, src, f"{path}[{index}]")


def join(path: str, key: str) -> str:
    """Extend a dotted key path."""
    return f"{path}.{key}" if path else key


def plain(value: Any) -> Any:
    """Deep-copy a parsed value into plain dicts and lists."""
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain(v) for v in value]
    return value


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """' (did you mean 'x'?)' when a choice is close to `word`, else ''."""
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f" (did you mean '{close[0]}'?)" if close else ""


def is_secret_key(key: str) -> bool:
    """True for var names that hold a secret (password, ansible_ssh_pass, smtp_password ...)."""
    k = key.lower()
    return k in _SECRET_NAMES or k.endswith(_SECRET_SUFFIXES)


def describe(value: Any) -> str:
    """A short type name for messages ('a string', 'a list' ...)."""
    if value is None:
        return "nothing"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    return "a list" if isinstance(value, list) else "a mapping"


def mapping(value: Any, src: Source, path: str, line: int, expected: str = "expected a mapping") -> MarkedMap:
    """`value` as a MarkedMap (None -> empty), else a located error."""
    if value is None:
        return MarkedMap(line)
    if not isinstance(value, MarkedMap):
        raise src.error(line, path, f"got {describe(value)}", expected)
    return value


def names_list(node: MarkedMap, key: str, src: Source, path: str) -> list[tuple[str, int]]:
    """A list of names under `key` with each item's line."""
    if key not in node or node[key] is None:
        return []
    value, where = node[key], join(path, key)
    if isinstance(value, str):
        value = MarkedList(node.line_of(key))
        value.append(node[key])
        value.item_lines.append(node.line_of(key))
    if not isinstance(value, MarkedList):
        raise src.error(node.line_of(key), where, f"got {describe(value)}", "expected a list of names")
    out = []
    for index, item in enumerate(value):
        if not isinstance(item, str) or not NAME_RE.match(item):
            raise src.error(
                value.line_of(index),
                f"{where}[{index}]",
                f"got {item!r}",
                "expected a name of letters, digits, '.', '-' and '_'",
            )
        out.append((item, value.line_of(index)))
    return out
