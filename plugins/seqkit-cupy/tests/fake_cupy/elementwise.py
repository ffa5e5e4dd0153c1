"""``cupy.ElementwiseKernel`` on NumPy: the C body runs over all elements at once.

The body (and its preamble's one-statement functions) is translated once, at
construction as CuPy compiles it (``c_expr``), into a list of assignments;
a call evaluates them with every non-raw argument as the flat array of all its
elements and ``i`` as all the element indices, which is what the kernel does
element by element. Stricter than CuPy where that is cheap: mixed dtypes for one
type placeholder, assigning to an input or a ``const``, and indexing a non-raw
argument are errors, and a raw index out of bounds (on a GPU a silent bad read
or write) raises.
"""
from __future__ import annotations

import re
import types

import numpy as np

from . import c_expr
from .c_expr import TranslationError


def _caster(dtype):
    return lambda v: np.asarray(v).astype(dtype)


class _Raw:
    """A ``raw`` argument: indexed by element number in C order, honouring strides."""

    def __init__(self, a):
        self.a = a

    def size(self):
        return self.a.size

    def shape(self):
        return self.a.shape

    def __getitem__(self, idx):
        return self.a[np.unravel_index(idx, self.a.shape)]

    def __setitem__(self, idx, value):
        self.a[np.unravel_index(idx, self.a.shape)] = value


def _declared(words: list[str]) -> tuple[str, str]:
    """``const T v`` -> ``("T", "v")``."""
    words = [w for w in words if w != "const"]
    if len(words) != 2 or not all(w.isidentifier() for w in words):
        raise TranslationError(f"cannot read the parameter {' '.join(words)!r}")
    return words[0], words[1]


_PREAMBLE_FUNCTION = re.compile(
    r"(?:template\s*<\s*typename\s+(?P<template>\w+)\s*>\s*)?"
    r"(?:(?:__device__|__host__|__forceinline__|inline)\s+)*"
    r"(?P<ret>\w+)\s+(?P<name>\w+)\s*\((?P<params>[^()]*)\)\s*\{\s*return\s+(?P<body>[^;{}]*);\s*\}")


class _Function:
    """A preamble function of one return statement, templated on at most one type."""

    def __init__(self, m: re.Match, earlier: set):
        self.name, self.template, self.ret = m["name"], m["template"], m["ret"]
        self.params = [_declared(p.split()) for p in m["params"].split(",") if p.strip()]
        for ctype in [self.ret, *(t for t, _ in self.params)]:
            if ctype != self.template and ctype not in c_expr.C_TYPES:
                raise TranslationError(f"{self.name}: the stand-in does not know the type {ctype!r}")
        known = set(c_expr.BASE) | earlier | {n for _, n in self.params} | {self.template}
        self.code = c_expr.compile_expr(c_expr.tokenize(m["body"]), known, set(), self.name)

    def bind(self, env: dict):
        def call(*args):
            # the template type is deduced from the first argument declared with it
            deduced = next((np.asarray(a).dtype for (t, _), a in zip(self.params, args, strict=True)
                            if t == self.template), None)
            dtype = {self.template: deduced, **c_expr.C_TYPES}
            local = {**env, self.template: _caster(deduced)}
            for (ctype, name), a in zip(self.params, args, strict=True):
                local[name] = np.asarray(a).astype(dtype[ctype])
            return np.asarray(eval(self.code, local)).astype(dtype[self.ret])
        return call


def _params(text: str) -> list[types.SimpleNamespace]:
    out = []
    for part in text.split(","):
        words = part.split()
        raw = bool(words) and words[0] == "raw"
        ctype, name = _declared(words[raw:])
        out.append(types.SimpleNamespace(raw=raw, ctype=ctype, name=name))
    return out


_UPDATE = {"+=": np.add, "-=": np.subtract, "*=": np.multiply, "/=": c_expr.c_div}


class ElementwiseKernel:
    """``cupy.ElementwiseKernel``, its body run with NumPy over all elements at once."""

    def __init__(self, in_params, out_params, operation, name="kernel", preamble="", **options):
        if options:
            raise TranslationError(f"{name}: the stand-in takes no {', '.join(sorted(options))}")
        self.name, self.inputs, self.outputs = name, _params(in_params), _params(out_params)
        params = self.inputs + self.outputs
        self.raw = {p.name for p in params if p.raw}
        self.placeholders = {p.ctype for p in params if p.ctype not in c_expr.PARAM_TYPES}
        self.functions = self._preamble(preamble)
        self.statements = self._statements(operation, params)

    def _preamble(self, preamble: str) -> list[_Function]:
        functions = []
        text = c_expr.strip_comments(preamble)
        for m in _PREAMBLE_FUNCTION.finditer(text):
            functions.append(_Function(m, {f.name for f in functions}))
        left = _PREAMBLE_FUNCTION.sub("", text).strip()
        if left:
            raise TranslationError(f"{self.name}: the stand-in translates preamble functions of one "
                                   f"return statement only, not {left[:40]!r}")
        return functions

    def _statements(self, operation: str, params) -> list[tuple]:
        """The body as (target, its C type, index code or None, operator, value code) tuples."""
        known = set(c_expr.BASE) | {f.name for f in self.functions} | {p.name for p in params}
        known |= self.placeholders | {"i"}
        ctypes = {p.name: p.ctype for p in params}
        consts = {p.name for p in self.inputs}   # CuPy passes inputs as const
        out = []
        for stmt in c_expr.split(c_expr.tokenize(c_expr.strip_comments(operation)), ";"):
            if not stmt:
                continue
            words = stmt[1:] if stmt[0] == "const" else stmt
            if words[0] not in c_expr.C_TYPES and words[0] not in self.placeholders:
                out.append(self._assignment(stmt, known, ctypes, consts))
                continue
            for d in c_expr.split(words[1:], ","):   # const T a = ..., b = ...
                if len(d) < 3 or d[1] != "=" or not d[0].isidentifier() or d[0] in known:
                    raise TranslationError(f"{self.name}: {' '.join(d)!r} must declare a new name "
                                           "(not i, the element index) with a value")
                out.append((d[0], words[0], None, "=", self._compile(d[2:], known)))
                known.add(d[0])
                ctypes[d[0]] = words[0]
                if stmt[0] == "const":
                    consts.add(d[0])
        return out

    def _assignment(self, stmt, known, ctypes, consts) -> tuple:
        depth, k = 0, 0
        while k < len(stmt) and not (depth == 0 and stmt[k] in c_expr.ASSIGN):
            depth += (stmt[k] in c_expr.OPEN) - (stmt[k] in c_expr.CLOSE)
            k += 1
        if k == len(stmt):
            raise TranslationError(f"{self.name}: {' '.join(stmt)!r} is neither a declaration "
                                   "nor an assignment")
        target, index = stmt[0], stmt[1:k]
        if target not in ctypes or target in consts:
            raise TranslationError(f"{self.name}: cannot assign to {target!r} (an input, a const "
                                   "or undeclared)")
        if bool(index) != (target in self.raw) or index and (index[0], index[-1]) != ("[", "]"):
            raise TranslationError(f"{self.name}: a raw parameter is assigned by index, others "
                                   f"by name: {' '.join(stmt)!r}")
        index = self._compile(index[1:-1], known) if index else None
        return target, ctypes[target], index, stmt[k], self._compile(stmt[k + 1:], known)

    def _compile(self, tokens, known):
        return c_expr.compile_expr(tokens, known, self.raw, self.name)

    def __call__(self, *args, **kwargs):
        params = self.inputs + self.outputs
        if kwargs or len(args) != len(params):
            raise TypeError(f"{self.name}: the stand-in takes every input and output, "
                            f"{len(params)} arrays, by position")
        dtypes = {}
        for p, a in zip(params, args, strict=True):
            if not isinstance(a, np.ndarray):
                raise TypeError(f"{self.name}: {p.name} must be an array, not {type(a).__name__}")
            concrete = p.ctype in c_expr.PARAM_TYPES
            want = np.dtype(p.ctype) if concrete else dtypes.setdefault(p.ctype, a.dtype)
            if a.dtype != want:   # CuPy: "Type is mismatched"
                raise TypeError(f"{self.name}: {p.name} is {a.dtype} where {p.ctype} is {want}")
        shape = np.broadcast_shapes(*(a.shape for p, a in zip(params, args, strict=True) if not p.raw))
        size = int(np.prod(shape))
        outs = args[len(self.inputs):]
        for p, a in zip(self.outputs, outs, strict=True):
            if not p.raw and a.shape != shape:
                raise ValueError(f"{self.name}: output {p.name} is {a.shape}, the elements {shape}")
        dtype = {**c_expr.C_TYPES, **{t: np.dtype(t) for t in c_expr.PARAM_TYPES}, **dtypes}

        env = dict(c_expr.BASE)
        for f in self.functions:
            env[f.name] = f.bind(env)
        env.update({t: _caster(d) for t, d in dtypes.items()}, i=np.arange(size, dtype=np.int64))
        for p, a in zip(params, args, strict=True):
            env[p.name] = _Raw(a) if p.raw else np.broadcast_to(a, shape).reshape(size).copy()
        for target, ctype, index, op, code in self.statements:
            value = eval(code, env)
            if index is None:
                env[target] = np.asarray(value if op == "=" else _UPDATE[op](env[target], value)
                                         ).astype(dtype[ctype])
            else:
                idx = eval(index, env)
                raw = env[target]
                raw[idx] = value if op == "=" else _UPDATE[op](raw[idx], value)
        for p, a in zip(self.outputs, outs, strict=True):
            if not p.raw:
                a[...] = np.broadcast_to(env[p.name], (size,)).reshape(shape)
        return outs[0] if len(outs) == 1 else outs
