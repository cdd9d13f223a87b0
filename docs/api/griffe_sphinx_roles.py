"""Griffe extension of the API reference: Sphinx cross-reference roles in docstrings as links.

The package's docstrings name other objects with Sphinx roles (``:class:`Core```,
``:func:`~snn_neurram.compile```, ``:mod:`~.spread```). mkdocstrings renders Markdown, where
these would show as literal text. This extension (loaded by ``mkdocs.yml``, only when the site
is built) rewrites every role into an optional mkdocs-autorefs cross-reference: a link when the
target is documented on the site, plain code when it is not (a private helper, a lazily imported
name) -- never a broken link, so ``mkdocs build --strict`` stays clean.

Targets are resolved as Sphinx does: ``~`` shows only the last component; a leading ``.`` is
relative to the current module; other names are looked up in the scope of the documented object
(its members, its module's imports, then outwards). Old module paths that the package keeps for
user code (``snn_neurram.layers``: a module that replaces itself by ``snn_neurram.nn.layers``)
are mapped to the modules they stand for.
"""

from __future__ import annotations

import html
import re
from typing import Any

import griffe

_ROLE = re.compile(
    r":(?:py:)?(?P<role>class|func|meth|mod|attr|data|exc|obj|const|type):"
    r"`(?P<tilde>~)?(?P<target>[\w.]+)(?:\(\))?`")
_SHIM = re.compile(r"sys\.modules\[__name__\]\s*=\s*importlib\.import_module\(\s*[\"']([\w.]+)[\"']")


class SphinxRoles(griffe.Extension):
    """Rewrite ``:role:`target``` in every docstring of the package into an optional autoref."""

    def on_package(self, *, pkg: griffe.Module, loader: griffe.GriffeLoader, **kwargs: Any) -> None:
        self._root = pkg
        self._shims: dict[str, str] = {}
        for obj in _walk(pkg):
            if obj.is_module:
                try:
                    source = obj.source
                except Exception:  # noqa: BLE001  (a module without source: nothing to map)
                    continue
                if match := _SHIM.search(source):
                    self._shims[obj.path] = match.group(1)
        # public objects by name, for names that no scope resolves (lazily imported ones)
        self._by_name: dict[str, set[str]] = {}
        for obj in _walk(pkg):
            if not any(part.startswith("_") for part in obj.path.split(".")) \
                    and obj.module.path not in self._shims:
                self._by_name.setdefault(obj.name, set()).add(obj.path)
        for obj in _walk(pkg):
            if obj.docstring is not None and ":" in obj.docstring.value:
                lines = []
                for line, in_code in _code_lines(obj.docstring.value):
                    line = _ROLE.sub(lambda m, o=obj, c=in_code: self._replace(m, o, c), line)
                    lines.append(line if in_code else _literal_marker(line))
                obj.docstring.value = "\n".join(lines)

    # griffe 1 names the event on_package_loaded (a second pass finds no roles left)
    def on_package_loaded(self, *, pkg: griffe.Module, loader: griffe.GriffeLoader,
                          **kwargs: Any) -> None:
        self.on_package(pkg=pkg, loader=loader, **kwargs)

    def _replace(self, match: re.Match, obj: griffe.Object, in_code: bool) -> str:
        target = match["target"]
        shown = target.lstrip(".")
        if match["tilde"]:
            shown = shown.rsplit(".", 1)[-1]
        if match["role"] in ("func", "meth"):
            shown += "()"
        if in_code:  # a line that Markdown shows as code: the name as plain text
            return shown
        code = f"<code>{html.escape(shown)}</code>"
        path = self._resolve(target, obj)
        if path is None:
            return f"`{shown}`"
        return f'<autoref identifier="{html.escape(path)}" optional>{code}</autoref>'

    def _resolve(self, target: str, obj: griffe.Object) -> str | None:
        candidates: list[str] = []
        if target.startswith("."):
            module = obj if obj.is_module else obj.module
            name = target.lstrip(".")
            candidates += [f"{module.path}.{name}"]
            if module.parent is not None:
                candidates += [f"{module.parent.path}.{name}"]
        elif target.split(".", 1)[0] == self._root.name:
            candidates.append(target)
        else:
            head, _, rest = target.partition(".")
            scope: griffe.Object | None = obj
            while scope is not None:
                try:
                    resolved = scope.resolve(head)
                except Exception:  # noqa: BLE001  (griffe's NameResolutionError and kin)
                    resolved = None
                if resolved:
                    candidates.append(f"{resolved}.{rest}" if rest else resolved)
                    break
                scope = scope.parent
        for candidate in candidates:
            if (path := self._lookup(candidate)) is not None:
                return path
        head, _, rest = target.lstrip(".").partition(".")
        if len(found := self._by_name.get(head, ())) == 1:
            (path,) = found
            return self._lookup(f"{path}.{rest}" if rest else path)
        return None

    def _lookup(self, path: str) -> str | None:
        """The canonical path of a documented-looking object at ``path``, else None."""
        for old, new in self._shims.items():
            if path == old or path.startswith(old + "."):
                path = new + path[len(old):]
                break
        parts = path.split(".")
        if parts[0] != self._root.name:
            return None
        try:
            found = self._root[".".join(parts[1:])] if len(parts) > 1 else self._root
        except (KeyError, griffe.AliasResolutionError, griffe.CyclicAliasError):
            return None
        try:
            if found.is_alias:
                found = found.final_target
        except (griffe.AliasResolutionError, griffe.CyclicAliasError):
            return None
        return found.path


def _literal_marker(line: str) -> str:
    """reST's ``text::`` (a literal block follows) as ``text:``; a lone ``::`` goes."""
    stripped = line.rstrip()
    if not stripped.endswith("::"):
        return line
    if stripped.strip() == "::":
        return ""
    if stripped.endswith(" ::"):
        return stripped[:-3]
    return stripped[:-1]


# numpy sections whose items griffe parses (their indented descriptions are text, not code)
_ITEM_SECTIONS = {"parameters", "other parameters", "returns", "yields", "receives", "raises",
                  "warns", "attributes", "methods", "functions", "classes", "modules"}


def _code_lines(text: str):
    """Each line of a docstring with whether Markdown will show it as code: inside a fence, or
    indented by four spaces after a blank line (outside the item sections of numpy style)."""
    lines = text.split("\n")
    fence = None
    in_items = False
    code = False
    previous_blank = True
    for i, line in enumerate(lines):
        stripped = line.strip()
        following = lines[i + 1].strip() if i + 1 < len(lines) else ""
        if fence is None and following and set(following) == {"-"} and stripped \
                and len(following) >= len(stripped) and not line.startswith(" "):
            in_items = stripped.lower() in _ITEM_SECTIONS
        if fence is not None:
            yield line, True
            if stripped.startswith(fence):
                fence = None
            continue
        if stripped.startswith(("```", "~~~")):
            fence = stripped[:3]
            yield line, True
            continue
        indented = line.startswith("    ")
        if not stripped:
            previous_blank = True
            yield line, code
            continue
        code = indented and not in_items and (code or previous_blank)
        previous_blank = False
        yield line, code


def _walk(obj: griffe.Object):
    yield obj
    for member in obj.members.values():
        if member.is_alias:
            continue
        yield from _walk(member)
