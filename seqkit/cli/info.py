"""``seqkit plugins``, ``seqkit backends``, ``seqkit tasks``, ``seqkit cells``: what is installed."""
from __future__ import annotations

import json

import click

from ..backend import available_backends, get_backend
from ..cells import cell_types
from ..examples import Kind
from ..plugins import plugin_info, pm, registry


def _table(rows, as_json, empty, line):
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    if not rows:
        click.echo(empty)
    for r in rows:
        click.echo(line(r))


def register(cli):
    @cli.command()
    @click.option("--json", "as_json", is_flag=True, help="Print a JSON list.")
    @click.option("--requirements", type=click.Path(dir_okay=False), metavar="MODEL.npz",
                  help="Print the pip requirement lines of the plugins a checkpoint needs instead.")
    def plugins(as_json, requirements):
        """List loaded plugins: name, version, distribution and hooks."""
        if requirements:
            _requirements(requirements, as_json)
            return
        rows = []
        for name, plugin in pm.list_name_plugin():
            if plugin is None:
                continue
            info = plugin_info(name)
            hooks = sorted(h.name for h in pm.get_hookcallers(plugin) or [])
            rows.append({"name": name, "version": info.version, "distribution": info.distribution,
                         "hooks": hooks})
        rows.sort(key=lambda r: r["name"])
        _table(rows, as_json, "no plugins loaded",
               lambda r: f"{r['name']:<12} {r['version'] or '-':<10} {r['distribution'] or '-':<20} "
                         f"{', '.join(r['hooks'])}")

    @cli.command()
    @click.option("--json", "as_json", is_flag=True, help="Print a JSON list.")
    def backends(as_json):
        """List installed backends, whether each is usable here, and why not."""
        rows = []
        for name, reason in available_backends().items():
            device = get_backend(name).device if reason is None else None
            rows.append({"name": name, "available": reason is None, "device": device,
                         "reason": reason, "plugin": registry().backend_plugin[name].distribution})
        _table(rows, as_json, "no backends installed",
               lambda r: f"{r['name']:<8} " + (f"available on {r['device']}" if r["available"]
                                               else f"unavailable: {r['reason']}"))

    @cli.command()
    @click.option("--json", "as_json", is_flag=True, help="Print a JSON list.")
    def tasks(as_json):
        """List installed tasks with their kind and plugin."""
        reg = registry()
        rows = [{"name": n, "kind": Kind(t.kind).value, "description": t.description,
                 "plugin": reg.task_plugin[n].distribution} for n, t in sorted(reg.tasks.items())]
        _table(rows, as_json, "no tasks installed",
               lambda r: f"{r['name']:<10} {r['kind']:<16} {r['plugin'] or '-':<16} {r['description']}")

    @cli.command()
    @click.option("--json", "as_json", is_flag=True, help="Print a JSON list.")
    def cells(as_json):
        """List registered recurrent cells: gates, states, options and backends."""
        rows = [{"name": c.name, "gates": c.gates, "states": list(c.states),
                 "options": {k: list(v) for k, v in c.options.items()},
                 "backends": sorted(c.kernels), "description": c.description}
                for c in sorted(cell_types().values(), key=lambda c: c.name)]
        _table(rows, as_json, "no cells registered",
               lambda r: f"{r['name']:<6} gates {r['gates']}  states {','.join(r['states']):<5} "
                         f"backends {','.join(r['backends']):<12} {r['description']}")


def _requirements(path: str, as_json: bool) -> None:
    """One pip line per distribution the checkpoint's manifest names (its task, cells and
    plugin layer types), pinned to the version it was trained with, with what it provides."""
    import importlib.metadata

    from ..checkpoint import read_manifest
    from ..errors import SeqkitError

    manifest = read_manifest(path)
    needs = [("task", manifest.get("task"))]
    for what, key in (("cell", "cells"), ("layer type", "layers")):
        entries = manifest.get(key) or []
        needs += [(what, e) for e in (entries if isinstance(entries, list) else [entries])]
    rows, unnamed = {}, []
    for what, need in needs:
        if not isinstance(need, dict) or not isinstance(need.get("name"), str):
            raise SeqkitError(f"{path} has an invalid manifest: {what} entry {need!r:.60}")
        dist, version = need.get("distribution"), need.get("version")
        if not dist:
            unnamed.append(f"{what} {need['name']}")
            continue
        row = rows.setdefault(dist, {"distribution": dist, "version": version, "provides": []})
        row["provides"].append(f"{what} {need['name']}")
    for row in rows.values():
        try:
            row["installed"] = importlib.metadata.version(row["distribution"])
        except importlib.metadata.PackageNotFoundError:
            row["installed"] = None
    out = sorted(rows.values(), key=lambda r: r["distribution"])
    if as_json:
        click.echo(json.dumps(out, indent=2))
        return
    for r in out:
        line = r["distribution"] + (f"=={r['version']}" if r["version"] else "")
        note = ", ".join(r["provides"]) + ("" if r["installed"] else "; not installed here")
        click.echo(f"{line:<30} # {note}")
    for what in unnamed:
        click.echo(f"# {what}: its plugin did not record a distribution")
