"""Sandboxed Jinja2 for playbooks: templates in values, bare expressions in `when`/`changed_when`/`failed_when`.

`ImmutableSandboxedEnvironment` (no attribute tricks, no mutation of lists and dicts) with
`StrictUndefined` (an unknown name is an error, never an empty string). A value that is one `{{ expr }}`
and nothing else keeps its type (a list stays a list); any other template renders to a string.
A rendered value is data: modules quote it (or send it over stdin); only `shell:` gives it to a shell.
"""

from __future__ import annotations

import re
from typing import Any, Mapping

from jinja2 import StrictUndefined, TemplateError, Undefined, UndefinedError
from jinja2.sandbox import ImmutableSandboxedEnvironment

ENV = ImmutableSandboxedEnvironment(undefined=StrictUndefined, keep_trailing_newline=True, autoescape=False)
_WHOLE = re.compile(r"^\{\{(?P<expr>(?:(?!\{\{|\}\}).)*)\}\}$", re.S)


class TemplateProblem(Exception):
    """A template or expression that does not parse or cannot be evaluated; str() is one line."""


def _one_line(exc: Exception) -> str:
    if isinstance(exc, UndefinedError):
        return f"undefined variable: {exc.message}"
    text = getattr(exc, "message", None) or str(exc) or type(exc).__name__
    return " ".join(str(text).split())


def is_template(value: Any) -> bool:
    return isinstance(value, str) and ("{{" in value or "{%" in value)


def check_template(text: str) -> None:
    """Parse `text` (syntax only); TemplateProblem if it does not."""
    try:
        m = _WHOLE.match(text.strip())
        if m:
            ENV.compile_expression(m.group("expr"))
        else:
            ENV.parse(text)
    except TemplateError as exc:
        raise TemplateProblem(_one_line(exc)) from None


def check_expression(text: str) -> None:
    """Parse a bare expression (`when: x > 1`); TemplateProblem if it does not."""
    try:
        ENV.compile_expression(_bare(text))
    except TemplateError as exc:
        raise TemplateProblem(_one_line(exc)) from None


def _bare(text: str) -> str:
    """`when: "{{ x }}"` is accepted like Ansible (with its warning dropped): the braces come off."""
    m = _WHOLE.match(text.strip())
    return m.group("expr") if m else text


def render(value: Any, variables: Mapping[str, Any]) -> Any:
    """`value` with every template in it rendered (lists and mappings walked); TemplateProblem on error."""
    if isinstance(value, str):
        if not is_template(value):
            return value
        try:
            m = _WHOLE.match(value.strip())
            if m:
                return _defined(ENV.compile_expression(m.group("expr"), undefined_to_none=False)(**variables))
            return ENV.from_string(value).render(**variables)
        except (TemplateError, TypeError, ValueError, ArithmeticError, LookupError, AttributeError) as exc:
            raise TemplateProblem(_one_line(exc)) from None
    if isinstance(value, dict):
        return {k: render(v, variables) for k, v in value.items()}
    if isinstance(value, list):
        return [render(v, variables) for v in value]
    return value


def _defined(value: Any) -> Any:
    """`value` with no Undefined left anywhere in it (StrictUndefined raises when touched)."""
    if isinstance(value, Undefined):
        str(value)  # raises UndefinedError
    elif isinstance(value, (list, tuple)):
        for item in value:
            _defined(item)
    elif isinstance(value, dict):
        for item in value.values():
            _defined(item)
    return value


def evaluate(expression: Any, variables: Mapping[str, Any]) -> bool:
    """A condition's truth: a bool as written, else the expression evaluated; TemplateProblem on error."""
    if isinstance(expression, bool):
        return expression
    try:
        result = ENV.compile_expression(_bare(str(expression)), undefined_to_none=False)(**variables)
        return bool(_defined(result))
    except (TemplateError, TypeError, ValueError, ArithmeticError, LookupError, AttributeError) as exc:
        raise TemplateProblem(_one_line(exc)) from None


ANY = "*"
"""In `references`: a use of the name whose keys cannot be told (`facts` passed whole, `facts[var]`)."""
_DICT_METHODS = ("items", "keys", "values", "get")


def references(value: Any, name: str = "facts", *, expression: bool = False) -> set[str]:
    """The keys of variable `name` that the templates in `value` (lists and mappings walked) read:
    `facts.filesystems` and `facts['filesystems']` give "filesystems"; any other use (`facts` whole,
    `facts[var]`, `facts.items()`) gives ANY. `expression`: a bare string is an expression (`when:`), not
    text. Syntax errors are left to check_template/check_expression (nothing is found in what does not parse)."""
    found: set[str] = set()
    if isinstance(value, dict):
        for v in value.values():
            found |= references(v, name, expression=expression)
    elif isinstance(value, list):
        for v in value:
            found |= references(v, name, expression=expression)
    elif isinstance(value, str) and name in value and (expression or is_template(value)):
        m = _WHOLE.match(value.strip())
        source = "{{ " + (_bare(value) if expression else m.group("expr")) + " }}" if expression or m else value
        try:
            tree = ENV.parse(source)
        except TemplateError:
            return found
        _walk(tree, None, name, found)
    return found


def _walk(node: Any, parent: Any, name: str, found: set[str]) -> None:
    from jinja2 import nodes

    if isinstance(node, nodes.Name) and node.name == name and node.ctx == "load":
        found.add(_key(parent, node))
    for child in node.iter_child_nodes():
        _walk(child, node, name, found)


def _key(parent: Any, node: Any) -> str:
    from jinja2 import nodes

    if isinstance(parent, nodes.Getattr) and parent.node is node:
        return ANY if parent.attr in _DICT_METHODS else parent.attr
    if isinstance(parent, nodes.Getitem) and parent.node is node and isinstance(parent.arg, nodes.Const) \
            and isinstance(parent.arg.value, str):
        return parent.arg.value
    return ANY
