"""The architecture bar, checked on every run so that whoever breaks it learns at once.

- MediaClient stays a thin facade: at most 250 lines of code (docstrings, comments and
  blank lines do not count) and no method over 25;
- no function in the package runs over 60 lines, from ``def`` to its end;
- no import circle, in the package or in the bench: module-level imports and the ones under
  ``if TYPE_CHECKING:`` both count, since a circle of type-only imports is still a knot a
  reader must untie;
- nothing reaches into aiohttp's, attrs' or tenacity's private names, where that shows in
  the source: ``from aiohttp.x import _y``, ``aiohttp.x._y``, ``getattr(tenacity, "_y")``.

Each failure names the place and what to do, not just that a number is off.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path
from typing import Final

import pytest

ROOT: Final = Path(__file__).resolve().parent.parent
PACKAGE: Final = ROOT / "twilio_media_async"
BENCH: Final = ROOT / "bench"
CLIENT_MAX_CODE_LINES: Final = 250
METHOD_MAX_CODE_LINES: Final = 25
FUNCTION_MAX_LINES: Final = 60
LIBRARIES: Final = frozenset({"aiohttp", "attrs", "attr", "tenacity"})

_DefNode = ast.FunctionDef | ast.AsyncFunctionDef
_DOCUMENTED = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Module)


def _sources(root: Path) -> Iterator[tuple[Path, ast.Module]]:
    for path in sorted(root.rglob("*.py")):
        yield path, ast.parse(path.read_text(encoding="utf-8"), filename=str(path))


def _where(path: Path, node: ast.stmt | ast.expr) -> str:
    return f"{path.relative_to(ROOT)}:{node.lineno}"


def _docstring_lines(node: ast.AST) -> set[int]:
    """The line numbers of every docstring inside ``node`` (its own included)."""
    lines: set[int] = set()
    for inner in ast.walk(node):
        if not isinstance(inner, _DOCUMENTED) or not inner.body:
            continue
        first = inner.body[0]
        if (
            isinstance(first, ast.Expr)
            and isinstance(first.value, ast.Constant)
            and isinstance(first.value.value, str)
        ):
            lines.update(range(first.lineno, (first.end_lineno or first.lineno) + 1))
    return lines


def code_lines(source: list[str], node: ast.stmt) -> int:
    """Lines of code of ``node``: not blank, not a comment, not part of a docstring."""
    skip = _docstring_lines(node)
    end = node.end_lineno or node.lineno
    return sum(
        1
        for number in range(node.lineno, end + 1)
        if number not in skip and source[number - 1].strip()[:1] not in ("", "#")
    )


def _media_client() -> tuple[list[str], ast.ClassDef]:
    text = (PACKAGE / "client.py").read_text(encoding="utf-8")
    for node in ast.parse(text).body:
        if isinstance(node, ast.ClassDef) and node.name == "MediaClient":
            return text.splitlines(), node
    raise AssertionError("client.py no longer defines MediaClient: update this test")


# -- MediaClient ----------------------------------------------------------------------------


# Strict: once the facade holds the bar these pass, the run fails, and the marker must go.
def test_media_client_is_a_thin_facade() -> None:
    source, node = _media_client()
    count = code_lines(source, node)
    assert count <= CLIENT_MAX_CODE_LINES, (
        f"MediaClient has {count} lines of code (at most {CLIENT_MAX_CODE_LINES}, without "
        "docstrings, comments and blank lines): move the work into a private module and "
        "keep the method as the public face that calls it"
    )


def test_no_media_client_method_is_long() -> None:
    source, node = _media_client()
    long = {
        member.name: code_lines(source, member)
        for member in node.body
        if isinstance(member, _DefNode) and code_lines(source, member) > METHOD_MAX_CODE_LINES
    }
    assert long == {}, (
        f"MediaClient methods over {METHOD_MAX_CODE_LINES} lines of code: {long}; a "
        "method of the facade checks its arguments and hands over to a private module"
    )


# -- functions ------------------------------------------------------------------------------


def test_no_function_in_the_package_runs_over_60_lines() -> None:
    long = [
        f"{_where(path, node)} {node.name}: {(node.end_lineno or node.lineno) - node.lineno + 1}"
        for path, tree in _sources(PACKAGE)
        for node in ast.walk(tree)
        if isinstance(node, _DefNode)
        and (node.end_lineno or node.lineno) - node.lineno + 1 > FUNCTION_MAX_LINES
    ]
    assert long == [], (
        f"functions over {FUNCTION_MAX_LINES} lines (def to end, all lines counted): {long}; "
        "split each along the steps it takes"
    )


# -- import circles -------------------------------------------------------------------------


def _module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _module_level_imports(tree: ast.Module) -> Iterator[ast.Import | ast.ImportFrom]:
    """The imports run when the module is imported, and the ones under TYPE_CHECKING."""
    pending: list[ast.stmt] = list(tree.body)
    while pending:
        node = pending.pop(0)
        if isinstance(node, ast.Import | ast.ImportFrom):
            yield node
        elif isinstance(node, ast.If):
            pending.extend(node.body if _is_type_checking(node.test) else node.body + node.orelse)
        elif isinstance(node, ast.Try):
            pending.extend(node.body + node.orelse + node.finalbody)
            for handler in node.handlers:
                pending.extend(handler.body)


def _targets(
    node: ast.Import | ast.ImportFrom, module: str, is_package: bool, known: set[str]
) -> Iterator[str]:
    """The modules of ``known`` that ``node``, in ``module``, imports."""
    if isinstance(node, ast.Import):
        yield from (alias.name for alias in node.names if alias.name in known)
        return
    base = node.module or ""
    if node.level:
        package = module.split(".") if is_package else module.split(".")[:-1]
        package = package[: len(package) - node.level + 1]
        base = ".".join([*package, *([base] if base else [])])
    for alias in node.names:
        submodule = f"{base}.{alias.name}"
        if submodule in known:  # ``from package import module``
            yield submodule
        elif base in known:
            yield base


def import_graph(*roots: Path) -> dict[str, set[str]]:
    """Module -> the modules of ``roots`` it imports at module level or for type checking."""
    trees = {
        _module_name(path, root): (path.name == "__init__.py", tree)
        for root in roots
        for path, tree in _sources(root)
    }
    known = set(trees)
    return {
        module: {
            target
            for node in _module_level_imports(tree)
            for target in _targets(node, module, is_package, known)
            if target != module
        }
        for module, (is_package, tree) in trees.items()
    }


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import circle of ``graph`` as [a, b, ..., a], or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(module: str) -> list[str] | None:
        state[module] = 1
        path.append(module)
        for target in sorted(graph.get(module, ())):
            if state.get(target) == 1:
                return [*path[path.index(target) :], target]
            if target not in state and (cycle := visit(target)) is not None:
                return cycle
        path.pop()
        state[module] = 2
        return None

    for module in sorted(graph):
        if module not in state and (cycle := visit(module)) is not None:
            return cycle
    return None


def test_find_cycle_reports_the_circle() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert find_cycle(graph) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_the_graph_sees_relative_and_type_checking_imports(tmp_path: Path) -> None:
    package = tmp_path / "pkg"
    (package / "sub").mkdir(parents=True)
    files = {
        "__init__.py": "from .a import A\n",
        "a.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from .b import B\n",
        "b.py": "from . import sub\nimport pkg.a\ndef late():\n    from . import c\n",
        "c.py": "",
        "sub/__init__.py": "from ..c import *\n",
    }
    for name, text in files.items():
        (package / name).write_text(text)
    assert import_graph(package) == {
        "pkg": {"pkg.a"},
        "pkg.a": {"pkg.b"},
        "pkg.b": {"pkg.sub", "pkg.a"},  # the import inside a function does not count
        "pkg.c": set(),
        "pkg.sub": {"pkg.c"},
    }
    assert find_cycle(import_graph(package)) == ["pkg.a", "pkg.b", "pkg.a"]


@pytest.mark.parametrize("root", [PACKAGE, BENCH], ids=["package", "bench"])
def test_no_import_circle(root: Path) -> None:
    cycle = find_cycle(import_graph(root))
    assert cycle is None, (
        f"import circle: {' -> '.join(cycle or ())}; move what both sides need into a "
        "module of its own that imports neither (TYPE_CHECKING imports count too)"
    )


# -- private names of the libraries ---------------------------------------------------------


def _is_private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def _from_library(module: str | None) -> bool:
    return module is not None and module.split(".")[0] in LIBRARIES


def _library_names(tree: ast.Module) -> dict[str, str]:
    """Local name -> the library module it is bound to, for every import of LIBRARIES."""
    names: dict[str, str] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] in LIBRARIES:
                    local = alias.asname or alias.name.split(".")[0]
                    names[local] = alias.name if alias.asname else local
        elif isinstance(node, ast.ImportFrom) and not node.level and _from_library(node.module):
            for alias in node.names:
                names[alias.asname or alias.name] = f"{node.module}.{alias.name}"
    return names


def _root_name(node: ast.expr) -> str | None:
    while isinstance(node, ast.Attribute):
        node = node.value
    return node.id if isinstance(node, ast.Name) else None


def private_uses(path: Path, tree: ast.Module) -> Iterator[str]:
    """Where ``tree`` names a private attribute of aiohttp, attrs or tenacity."""
    bound = _library_names(tree)
    for node in ast.walk(tree):
        if isinstance(node, ast.Import | ast.ImportFrom):
            modules = [a.name for a in node.names] if isinstance(node, ast.Import) else []
            if isinstance(node, ast.ImportFrom) and not node.level and _from_library(node.module):
                modules += [f"{node.module}.{a.name}" for a in node.names]
            for module in modules:
                parts = module.split(".")
                if parts[0] in LIBRARIES and any(_is_private(p) for p in parts[1:]):
                    yield f"{_where(path, node)} imports {module}"
        elif isinstance(node, ast.Attribute) and _is_private(node.attr):
            root = _root_name(node.value)
            if root in bound:
                yield f"{_where(path, node)} reads {ast.unparse(node)} ({bound[root]})"
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id in ("getattr", "setattr", "hasattr", "delattr")
            and len(node.args) >= 2
            and _root_name(node.args[0]) in bound
            and isinstance(node.args[1], ast.Constant)
            and isinstance(node.args[1].value, str)
            and _is_private(node.args[1].value)
        ):
            yield f"{_where(path, node)} {node.func.id}s {node.args[1].value!r}"


def test_the_private_name_check_finds_what_it_looks_for() -> None:
    text = (
        "import aiohttp\nimport tenacity as t\nfrom aiohttp import web\n"
        "from aiohttp.helpers import _private\nfrom attrs import _make\n"
        "aiohttp.client._RequestContextManager\nt.wait._x\nweb.Response._body\n"
        "getattr(aiohttp.ClientSession, '_connector')\n"
        "aiohttp.__version__\nsomething._else\nweb.Response\n"
    )
    found = list(private_uses(ROOT / "sample.py", ast.parse(text)))
    assert [use.split(" ", 1)[0] for use in found] == [f"sample.py:{n}" for n in range(4, 10)]


@pytest.mark.parametrize("root", [PACKAGE, BENCH], ids=["package", "bench"])
def test_no_private_name_of_aiohttp_attrs_or_tenacity(root: Path) -> None:
    found = [use for path, tree in _sources(root) for use in private_uses(path, tree)]
    assert found == [], (
        f"private names of aiohttp, attrs or tenacity: {found}; they change without notice "
        "in a minor release: use the public API, or state the need in a test of "
        "tests/test_aiohttp_assumptions.py"
    )
