"""Policy for model-written CadQuery: an AST allow-list checked before anything runs. Pure.

Defence in depth, not the boundary (that is the container plus the forked child's rlimits in
`worker.py`): imports only of `cadquery` and `math`, no dunder names or attributes, no attribute
that exports, imports, saves, reads or writes, no reflective builtins, no lambdas/globals/async,
no string containing `__`, at most 20 KB. The code must bind `result` to a Workplane or Shape;
the runner, not the code, validates and exports it.
"""

from __future__ import annotations

import ast
import builtins
import math
from typing import Any, Final

from .errors import SandboxRejectedError

MAX_CODE_BYTES: Final = 20_000
ALLOWED_IMPORTS: Final = frozenset({"cadquery", "math"})
BANNED_NAMES: Final = frozenset(
    {
        "eval", "exec", "compile", "open", "__import__", "getattr", "setattr", "delattr", "hasattr",
        "globals", "locals", "vars", "dir", "type", "object", "super", "input", "breakpoint",
        "memoryview", "bytearray", "classmethod", "staticmethod", "property", "help", "exit", "quit",
        "os", "sys", "subprocess", "socket", "importlib", "builtins", "OCP",
    }
)  # fmt: skip
_BANNED_ATTR_PREFIXES: Final = ("_", "export", "import", "save", "write", "read")
BANNED_ATTRS: Final = frozenset(
    {
        "exporters", "importers", "occ_impl", "wrapped", "OCP", "cqgi", "vis", "assembly", "show",
        "toOCC", "Assembly", "exportStl", "exportStep", "exportBrep", "importBrep", "toSvg", "gi_frame",
        "f_globals", "f_back", "cr_frame", "tb_frame", "func_globals", "mro",
    }
)  # fmt: skip
_BANNED_NODES: Final = (
    ast.Global, ast.Nonlocal, ast.AsyncFunctionDef, ast.AsyncFor, ast.AsyncWith, ast.Await,
    ast.Yield, ast.YieldFrom, ast.Lambda, ast.ClassDef, ast.ImportFrom, ast.Try,
)  # fmt: skip
SAFE_BUILTINS: Final = (
    "abs", "bool", "dict", "float", "int", "list", "set", "tuple", "str", "all", "any", "enumerate",
    "len", "max", "min", "pow", "range", "reversed", "round", "sorted", "sum", "zip", "print",
    "isinstance", "ValueError", "Exception", "True", "False", "None", "divmod", "map", "filter",
)  # fmt: skip


def _where(node: ast.AST) -> str:
    return f"line {getattr(node, 'lineno', '?')}"


def check_code(code: str) -> ast.Module:
    """Parse and check; SandboxRejectedError names the first violation and its line."""
    if len(code.encode()) > MAX_CODE_BYTES:
        raise SandboxRejectedError(
            f"code is {len(code.encode())} bytes; the limit is {MAX_CODE_BYTES}"
        )
    try:
        tree = ast.parse(code, mode="exec")
    except SyntaxError as err:
        raise SandboxRejectedError(f"syntax error at line {err.lineno}: {err.msg}") from None
    for node in ast.walk(tree):
        if isinstance(node, _BANNED_NODES):
            what = "from-imports" if isinstance(node, ast.ImportFrom) else type(node).__name__
            raise SandboxRejectedError(f"{what} not allowed ({_where(node)})")
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name not in ALLOWED_IMPORTS:
                    raise SandboxRejectedError(
                        f"import of {alias.name!r} not allowed ({_where(node)}); only cadquery and math"
                    )
        elif isinstance(node, ast.Name):
            if node.id in BANNED_NAMES or node.id.startswith("__"):
                raise SandboxRejectedError(f"name {node.id!r} not allowed ({_where(node)})")
        elif isinstance(node, ast.Attribute):
            attr = node.attr
            if attr.startswith(_BANNED_ATTR_PREFIXES) or attr in BANNED_ATTRS:
                raise SandboxRejectedError(f"attribute {attr!r} not allowed ({_where(node)})")
        elif isinstance(node, ast.Constant) and isinstance(node.value, str | bytes):
            text = node.value if isinstance(node.value, str) else node.value.decode("latin-1")
            if "__" in text:
                raise SandboxRejectedError(f"strings containing '__' not allowed ({_where(node)})")
        elif isinstance(node, ast.FunctionDef):
            if node.name.startswith("_") or node.decorator_list:
                raise SandboxRejectedError(f"function {node.name!r} not allowed ({_where(node)})")
        elif isinstance(node, ast.keyword) and node.arg and node.arg.startswith("_"):
            raise SandboxRejectedError(f"keyword {node.arg!r} not allowed ({_where(node)})")
    return tree


def restricted_globals(cq_module: Any) -> dict[str, Any]:
    """The only names the code sees: cq, math, a few builtins, and an import hook for the allow-list."""
    safe: dict[str, Any] = {
        name: getattr(builtins, name) for name in SAFE_BUILTINS if hasattr(builtins, name)
    }
    modules = {"cadquery": cq_module, "math": math}

    def guarded_import(name: str, *args: Any, **kwargs: Any) -> Any:
        if name not in modules:
            raise ImportError(f"import of {name!r} not allowed")
        return modules[name]

    safe["__import__"] = guarded_import
    return {"__builtins__": safe, "cq": cq_module, "math": math, "__name__": "cad_sandbox"}
