"""C expressions as Python: what ``fake_cupy.elementwise`` compiles kernel bodies with.

A C expression's tokens become Python source (``c ? a : b`` becomes
``_where(c, a, b)``), parsed with ``ast``, given C's integer ``/`` and ``%``,
and every name, attribute and index in it checked, then compiled once. Only the
subset the kernels use is read; anything else is a ``TranslationError``. Unlike
C, both sides of a ternary are evaluated (it runs on whole arrays), so a raw
index that only one side reads must be in bounds for every element.
"""
from __future__ import annotations

import ast
import keyword
import re

import numpy as np

_FUNCTIONS = {"tanh": np.tanh, "exp": np.exp, "log": np.log, "sqrt": np.sqrt, "fabs": np.fabs}
_INT = np.dtype(np.int64)
#: the C types a body or preamble may declare, as the dtypes the stand-in computes in
C_TYPES = {"ptrdiff_t": _INT, "size_t": _INT, "int": _INT, "long": _INT,
           "float": np.dtype(np.float32), "double": np.dtype(np.float64), "bool": np.dtype(np.bool_)}
#: the concrete types of kernel parameters; any other name is a placeholder such as T
PARAM_TYPES = {"bool", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64",
               "float16", "float32", "float64"}
_C_KEYWORDS = {"if", "else", "for", "while", "do", "return", "switch", "case", "break", "continue",
               "goto", "sizeof", "static", "unsigned", "signed"}
_TOKEN = re.compile(r"\s*(?:(\d+\.\d*(?:[eE][-+]?\d+)?|\.\d+(?:[eE][-+]?\d+)?|\d+(?:[eE][-+]?\d+)?)(?![\w.])"
                    r"|([A-Za-z_]\w*)|(<=|>=|==|!=|[-+*/]=|[-+*/%<>=?:()\[\],.;]))")
ASSIGN = {"=", "+=", "-=", "*=", "/="}
OPEN, CLOSE = {"(": ")", "[": "]"}, {")", "]"}


class TranslationError(ValueError):
    """A kernel uses C the stand-in does not translate."""


def strip_comments(src: str) -> str:
    return re.sub(r"//[^\n]*|/\*.*?\*/", " ", src, flags=re.S)


def tokenize(src: str) -> list[str]:
    out, pos, src = [], 0, src.rstrip()
    while pos < len(src):
        m = _TOKEN.match(src, pos)
        if not m:
            raise TranslationError(f"the stand-in does not translate {src[pos:pos + 20].strip()!r}")
        tok = m.group(m.lastindex)
        if keyword.iskeyword(tok) or tok in _C_KEYWORDS:
            raise TranslationError(f"the stand-in does not translate the keyword {tok!r}")
        out.append(tok)
        pos = m.end()
    return out


def split(tokens: list[str], sep: str) -> list[list[str]]:
    """``tokens`` cut at ``sep`` outside brackets."""
    parts, depth = [[]], 0
    for tok in tokens:
        depth += (tok in OPEN) - (tok in CLOSE)
        if tok == sep and depth == 0:
            parts.append([])
        else:
            parts[-1].append(tok)
    return parts


def _python(tokens: list[str]) -> str:
    """A C expression's tokens as Python source: ``c ? a : b`` becomes ``_where(c, a, b)``."""
    depth = 0
    for k, tok in enumerate(tokens):
        depth += (tok in OPEN) - (tok in CLOSE)
        if tok == "?" and depth == 0:     # ?: binds loosest and to the right
            nested = 0
            for c in range(k + 1, len(tokens)):
                depth += (tokens[c] in OPEN) - (tokens[c] in CLOSE)
                if depth == 0 and tokens[c] in {"?", ":"}:
                    nested += 1 if tokens[c] == "?" else -1
                    if nested < 0:
                        return (f"_where({_python(tokens[:k])}, {_python(tokens[k + 1:c])}, "
                                f"{_python(tokens[c + 1:])})")
            raise TranslationError(f"a '?' without its ':' in {' '.join(tokens)!r}")
    out, k = [], 0
    while k < len(tokens):
        tok = tokens[k]
        if tok in OPEN:                  # a group: its parts are expressions of their own
            depth, end = 0, k
            for end in range(k, len(tokens)):
                depth += (tokens[end] in OPEN) - (tokens[end] in CLOSE)
                if depth == 0:
                    break
            inner = tokens[k + 1:end]
            args = ", ".join(_python(p) for p in split(inner, ",")) if inner else ""
            out.append(tok + args + OPEN[tok])
            k = end + 1
            continue
        if tok in {":", ",", "="}:
            raise TranslationError(f"a stray {tok!r} in {' '.join(tokens)!r}")
        out.append(tok)
        k += 1
    return " ".join(out)


class _CSemantics(ast.NodeTransformer):
    """C's integer division and remainder, and a check of every name and index."""

    def __init__(self, known: set, raw: set):
        self.known, self.raw = known, raw

    def visit_BinOp(self, node):
        self.generic_visit(node)
        if isinstance(node.op, (ast.Div, ast.Mod)):
            fn = "_div" if isinstance(node.op, ast.Div) else "_mod"
            return ast.Call(ast.Name(fn, ast.Load()), [node.left, node.right], [])
        return node

    def visit_Compare(self, node):
        if len(node.ops) > 1:
            raise TranslationError("a chained comparison means something else in C")
        return self.generic_visit(node)

    def visit_Name(self, node):
        if node.id not in self.known:
            raise TranslationError(f"unknown name {node.id!r} (not a parameter, a local declared "
                                   "before, i, or a function the stand-in knows)")
        return node

    def visit_Attribute(self, node):
        if not (isinstance(node.value, ast.Name) and node.value.id in self.raw
                and node.attr in ("size", "shape")):
            raise TranslationError(f"only raw parameters have .size() and .shape(), not {ast.unparse(node)}")
        return node

    def visit_Subscript(self, node):
        if isinstance(node.value, ast.Name) and node.value.id not in self.raw:
            raise TranslationError(f"{node.value.id!r} is not a raw parameter: it cannot be indexed")
        return self.generic_visit(node)


def compile_expr(tokens, known, raw, name):
    src = _python(tokens)
    try:
        tree = ast.parse(src, mode="eval")
    except SyntaxError as e:
        raise TranslationError(f"cannot read {' '.join(tokens)!r} as an expression") from e
    tree = ast.fix_missing_locations(_CSemantics(known, raw).visit(tree))
    return compile(tree, f"<{name}: {src}>", "eval")


def c_div(a, b):
    if np.asarray(a).dtype.kind in "iu" and np.asarray(b).dtype.kind in "iu":
        q = np.floor_divide(a, b)
        return np.where((q < 0) & (q * b != a), q + 1, q)    # C truncates toward zero
    return np.true_divide(a, b)


def c_mod(a, b):
    if not (np.asarray(a).dtype.kind in "iu" and np.asarray(b).dtype.kind in "iu"):
        raise TypeError("% takes integers in C (fmod is the floating-point one)")
    return a - c_div(a, b) * b


BASE = {"__builtins__": {}, "_where": np.where, "_div": c_div, "_mod": c_mod, **_FUNCTIONS}
