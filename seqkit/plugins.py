"""Plugin loading: entry points of group ``seqkit``, loaded lazily, once.

Environment:
  SEQKIT_LOAD_PLUGINS     comma list of plugin (entry-point or distribution) names to
                          load; set but empty loads none. Unset loads all.
  SEQKIT_DISABLE_PLUGINS  comma list of plugin names never to load.
  SEQKIT_STRICT_PLUGINS=1 a broken plugin (fails to import, misspells a hook, raises in
                          a hook) is an error, not a one-line warning.
  SEQKIT_TRACE_PLUGINS=1  log every plugin loaded and every hook call, with its plugin, to
                          stderr (pluggy's tracing: ``pm.trace``, ``pm.enable_tracing``).
"""
from __future__ import annotations

import importlib.metadata
import os
import sys
import warnings
from dataclasses import dataclass, field

import pluggy

from . import hookspecs
from .errors import SeqkitError

pm = pluggy.PluginManager("seqkit")
pm.add_hookspecs(hookspecs)


class PluginWarning(UserWarning):
    """A plugin is broken (or clashes with another) and was skipped; the others load."""


class PluginError(SeqkitError):
    pass


@dataclass
class PluginInfo:
    name: str
    distribution: str | None = None
    version: str | None = None


@dataclass
class Registry:
    """What the loaded plugins registered. ``*_plugin`` maps a name to its provider."""

    backends: dict = field(default_factory=dict)
    tasks: dict = field(default_factory=dict)
    cell_registrations: list = field(default_factory=list)  # (Cell, PluginInfo), as registered
    cells: dict | None = None   # name -> seqkit.cells.CellType, merged on first use
    layers: dict = field(default_factory=dict)    # type name -> Layer subclass (plugin layers, heads)
    backend_plugin: dict = field(default_factory=dict)
    task_plugin: dict = field(default_factory=dict)
    layer_plugin: dict = field(default_factory=dict)
    #: backend instances, made once per registry (seqkit.backend.get_backend)
    backend_instances: dict = field(default_factory=dict)


_infos: dict[str, PluginInfo] = {}
_registry: Registry | None = None
_loaded = False


def _names(var: str) -> set[str] | None:
    value = os.environ.get(var)
    if value is None:
        return None
    return {n.strip() for n in value.split(",") if n.strip()}


def load_plugins() -> pluggy.PluginManager:
    """Load every ``seqkit`` entry point once; a broken one warns and is skipped."""
    global _loaded
    if _loaded:
        return pm
    _tracing(os.environ.get("SEQKIT_TRACE_PLUGINS", "") not in ("", "0"))
    allowed = _names("SEQKIT_LOAD_PLUGINS")
    for name in _names("SEQKIT_DISABLE_PLUGINS") or ():
        pm.set_blocked(name)
    for ep in importlib.metadata.entry_points(group="seqkit"):
        dist = getattr(ep, "dist", None)
        dist_name = dist.metadata["Name"] if dist is not None else None
        wanted = {ep.name, dist_name} - {None}
        if allowed is not None and not wanted & allowed:
            continue
        if any(pm.is_blocked(n) for n in wanted) or pm.has_plugin(ep.name):
            continue
        try:
            module = ep.load()
        except (Exception, SystemExit) as exc:  # any import failure, sys.exit() included
            _broken(f"plugin {ep.name!r} ({dist_name or 'unknown distribution'}) failed to load: "
                    f"{type(exc).__name__}: {exc}", exc)
            continue
        pm.register(module, name=ep.name)
        _infos[ep.name] = PluginInfo(ep.name, dist_name, dist.version if dist else None)
        pm.trace.root.get("load")("plugin", _who(ep.name))
    # a misspelled hook implementation is a broken plugin too: warn and drop it
    while True:
        try:
            pm.check_pending()
            break
        except pluggy.PluginValidationError as exc:
            _broken(f"plugin {pm.get_name(exc.plugin)!r} is invalid: {exc}", exc)
            pm.unregister(exc.plugin)
    _loaded = True
    return pm


_untrace = None


def _tracing(on: bool) -> None:
    """Turn pluggy's tracing on (every line to stderr) or off."""
    global _untrace
    if on and _untrace is None:
        pm.trace.root.setwriter(lambda text: sys.stderr.write(
            "".join(f"seqkit trace: {line}\n" for line in text.splitlines())))
        _untrace = pm.enable_tracing()  # hooks called through pm.hook
    elif not on and _untrace is not None:
        _untrace()
        pm.trace.root.setwriter(None)
        _untrace = None


def _who(name: str) -> str:
    info = plugin_info(name)
    return f"{name!r} ({info.distribution} {info.version})" if info.distribution else repr(name)


def _strict() -> bool:
    return os.environ.get("SEQKIT_STRICT_PLUGINS", "") not in ("", "0")


def _broken(message: str, exc: BaseException) -> None:
    """A plugin failed: an error under SEQKIT_STRICT_PLUGINS=1, else one warning."""
    if _strict():
        raise PluginError(message) from exc
    warnings.warn(message, PluginWarning, stacklevel=3)


def failing_plugin(exc: BaseException) -> str | None:
    """The plugin whose code raised ``exc`` (the innermost traceback frame in one of
    the loaded plugins' packages), or None when no plugin code is on the traceback."""
    packages = {}
    for name, plugin in pm.list_name_plugin():
        module = getattr(plugin, "__name__", None)
        if module and not module.startswith("seqkit."):
            packages[module.split(".")[0]] = name
    # blame the plugin only when it is the innermost of seqkit's and the plugins' frames:
    # a plugin that calls back into the core is not at fault for the core's errors
    found, tb = None, exc.__traceback__
    while tb is not None:
        root = tb.tb_frame.f_globals.get("__name__", "").split(".")[0]
        if root in packages:
            found = packages[root]
        elif root == "seqkit":
            found = None
        tb = tb.tb_next
    return found


def plugin_info(name: str) -> PluginInfo:
    return _infos.get(name, PluginInfo(name))


def registry() -> Registry:
    """What the loaded plugins registered: backends, tasks, cells, layers (loading
    them on first use)."""
    global _registry
    if _registry is None:
        load_plugins()
        reg = Registry()
        _collect("register_backends", reg.backends, reg.backend_plugin)
        _collect("register_tasks", reg.tasks, reg.task_plugin)
        _collect("register_layers", reg.layers, reg.layer_plugin, key="type_name")
        _collect_cells(reg.cell_registrations)
        _registry = reg
    return _registry


def _collect(hook_name: str, items: dict, providers: dict, key: str = "name") -> None:
    """Call each plugin's hook on its own, so the registry knows who registered
    what (a checkpoint names the distribution of its task). Objects are keyed by
    their ``name`` (``key``); a second plugin registering a taken name is warned about."""
    for impl in getattr(pm.hook, hook_name).get_hookimpls():
        info = plugin_info(impl.plugin_name)

        def register(obj, info=info):
            name = getattr(obj, key)
            if name in items and providers[name].name != info.name:
                warnings.warn(f"plugins {providers[name].name!r} and {info.name!r} both "
                              f"register {name!r}; using the one from {info.name!r}",
                              PluginWarning, stacklevel=2)
            items[name], providers[name] = obj, info

        _call_hook(impl, register=register)


def _collect_cells(registrations: list) -> None:
    """``register_cells``: every (cell, provider) as registered; ``seqkit.cells``
    merges cells of one name across backends when they are first looked up."""
    for impl in pm.hook.register_cells.get_hookimpls():
        info = plugin_info(impl.plugin_name)
        _call_hook(impl, register=lambda cell, info=info: registrations.append((cell, info)))


def call_each(hook_name: str, **kwargs) -> None:
    """Call a hook plugin by plugin, so that one raising costs only itself."""
    for impl in getattr(pm.hook, hook_name).get_hookimpls():
        _call_hook(impl, **kwargs)


def _call_hook(impl, **kwargs) -> None:
    """Call one plugin's hook; an exception in it costs that plugin only."""
    pm.trace.root.get("hook")(impl.function.__name__, "plugin", _who(impl.plugin_name))
    try:
        impl.function(**kwargs)
    except (Exception, SystemExit) as exc:  # third-party code
        _broken(f"plugin {impl.plugin_name!r} failed in {impl.function.__name__}: "
                f"{type(exc).__name__}: {exc}", exc)


def reset() -> None:
    """Forget loaded plugins (tests use it to reload under another environment)."""
    global _loaded, _registry
    for name, plugin in list(pm.list_name_plugin()):
        if plugin is None:  # a blocked name
            pm.unblock(name)
        else:
            pm.unregister(name=name)
    _infos.clear()
    _loaded = False
    _registry = None
