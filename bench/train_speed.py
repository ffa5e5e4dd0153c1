"""Whole training epochs of a task's default model in seqkit against the same model,
data order and loss in PyTorch, alternating in one process.

Usage (from the repository root):

    python bench/train_speed.py                        # chars (LSTM), 6 epochs per contender
    python bench/train_speed.py --cell gru
    python bench/train_speed.py --settings auto 1 2    # seqkit's --threads settings to alternate
    python bench/train_speed.py --load 1               # one `seqkit train chars` beside it
    python bench/train_speed.py --load 1 --load-threads 2   # ... an old-style 2-thread one
    python bench/train_speed.py --processes            # whole `seqkit train` processes vs torch
                                                       # ones, start-up included (bytecode
                                                       # cache on, one untimed run each first;
                                                       # torch also validates and checkpoints
                                                       # every epoch, as seqkit train does)
    python bench/train_speed.py --processes --torch-train-only   # and a torch that only trains
    python bench/train_speed.py --memory               # peak memory of a training step
    python bench/train_speed.py --task ner --data PATH --limit 480   # any task, against its
                                                       # torch twin (bench/torch_twin.py)
    python bench/train_speed.py --task ner --data PATH --no-torch --limit 800 \
        --optimizers adam sparse-adam                  # seqkit only

Contenders: seqkit with each ``--settings`` value (``seqkit.threads.set_threads``:
``auto`` is the default policy, ``1`` one thread, ``2`` every GEMM on 2 threads
as numpy's BLAS does by default) and torch (optional, never a dependency)
with its own defaults (``torch.get_num_threads()`` threads, OpenMP's default wait
policy), running the task's model as ``bench/torch_twin.py`` mirrors it (every bundled
task's default model; a model it cannot mirror is said so and timed in seqkit
only). Round r runs epoch r of every contender, one after another, each on its own
model (torch's starts from seqkit's initial weights; PyTorch's
state_dict names are seqkit's). Both see the same batches (the task's
``prepare``/``batches`` with ``default_rng([seed, epoch])``, as ``seqkit
train``), the same ragged lengths (torch: packed sequences), the same truncated-BPTT
windows, the task's loss and reduction, Adam, clipping at the task's norm; dropout
masks are each framework's own draws.
Each round starts with the next contender in turn. Reported: the median epoch
time, tokens per second, and each contender's time over torch's and over
seqkit's one-thread time.

``--load N`` starts N ``seqkit train chars`` (default settings, or
``--threads K`` with ``--load-threads K``) before the first round and stops
them after the last, so every contender runs under the same contention.
"""
from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time


def _parse(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--task", default="chars")
    p.add_argument("--data", default="dinos", help="the task's data (default: the bundled dinos)")
    p.add_argument("--cell", default=None, help="override the task's default cell (lstm, gru, rnn)")
    p.add_argument("--epochs", type=int, default=6, help="epochs per contender")
    p.add_argument("--settings", nargs="+", default=["auto", "1"],
                   help="seqkit thread settings to alternate (auto, 1, 2, ...)")
    p.add_argument("--optimizers", nargs="+", default=[None],
                   help="seqkit optimizers to alternate (default: the task's; e.g. adam sparse-adam)")
    p.add_argument("--limit", type=int, default=None,
                   help="train on the first N training examples only (the vocabulary stays the full one)")
    p.add_argument("--no-torch", action="store_true")
    p.add_argument("--load", type=int, default=0, help="other trainings to run beside it")
    p.add_argument("--load-threads", default=None, help="--threads of the load trainings")
    p.add_argument("--processes", action="store_true",
                   help="time whole processes (seqkit train vs a torch script), start-up included")
    p.add_argument("--reps", type=int, default=3, help="--processes: runs of each")
    p.add_argument("--memory", action="store_true", help="peak memory of a training step")
    p.add_argument("--markdown", action="store_true")
    p.add_argument("--torch-child", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--torch-out", help=argparse.SUPPRESS)
    p.add_argument("--torch-train-only", action="store_true",
                   help="--processes: also time a torch process that only trains (no validation "
                        "pass or checkpoint per epoch, which seqkit train and the other torch "
                        "process do); the earlier sessions' measure")
    p.add_argument("--memory-child", choices=["seqkit", "torch"], help=argparse.SUPPRESS)
    return p.parse_args(argv)


# -- the seqkit side ------------------------------------------------------------
def seqkit_run(args, optimizer=None):
    """A fresh ``Run`` of the task's default model, its encoded training examples and
    its encoded validation examples."""
    from seqkit.cli.train import fresh_run
    from seqkit.plugins import load_plugins
    from seqkit.run import get_task

    load_plugins()
    given = {**({"cell": args.cell} if args.cell else {}),
             **({"optimizer": optimizer} if optimizer else {})}
    run, splits = fresh_run(get_task(args.task), args.data, given)
    return run, run.encode(splits["train"])[:args.limit], run.encode(splits.get("valid") or [])


def seqkit_epoch(run, train, epoch, setting):
    from seqkit import threads
    from seqkit.train import train_epoch

    threads.configure(setting)
    t0 = time.perf_counter()
    stats = train_epoch(run.model, run.optimizer, train, run.config, epoch, run.bos_id,
                        show_progress=False, task=run.task)
    return time.perf_counter() - t0, stats["loss"]


# -- the torch side (bench/torch_twin.py) ---------------------------------------------
def torch_twin(run):
    """The task's model in PyTorch (same layers, weights, loss, batches), or None with the
    reason printed when torch is missing or the model has a layer it does not mirror."""
    try:
        import torch  # noqa: F401
    except ImportError:
        print("torch is not importable: seqkit only", file=sys.stderr)
        return None
    here = os.path.dirname(os.path.abspath(__file__))
    if here not in sys.path:
        sys.path.insert(0, here)
    from torch_twin import NotMirrored, twin
    try:
        return twin(run)
    except NotMirrored as e:
        print(f"no torch twin of {run.task.name}'s model ({e} is not mirrored): seqkit only",
              file=sys.stderr)
        return None


# -- load ---------------------------------------------------------------------------
def start_load(n, threads_, tmp):
    procs = []
    for i in range(n):
        cmd = [sys.executable, "-m", "seqkit"] + (["--threads", threads_] if threads_ else [])
        cmd += ["train", "chars", "--data", "dinos", "--epochs", "100000", "-q",
                "--out", os.path.join(tmp, f"load{i}.npz")]
        procs.append(subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
    time.sleep(3.0)  # past their start-up
    return procs


def stop_load(procs):
    for p in procs:
        p.terminate()
    for p in procs:
        p.wait()


def table(head, rows, markdown):
    if markdown:
        print("| " + " | ".join(head) + " |\n|---|" + "---:|" * (len(head) - 1))
        for r in rows:
            print("| " + " | ".join(r) + " |")
    else:
        w = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(head)]
        for r in [head, *rows]:
            print("  ".join(c.rjust(w[i]) for i, c in enumerate(r)))


def machine_line(extra=""):
    from seqkit import threads
    load = os.getloadavg()
    return (f"load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}{extra}; {threads.describe()}")


def epochs_main(args):
    run0, train, _ = seqkit_run(args)
    tokens = sum(e.length for e in train)
    contenders = []
    for s in args.settings:
        for opt in args.optimizers:
            run = seqkit_run(args, opt)[0]
            name = f"seqkit --threads {s}" + (f" --optimizer {opt}" if opt else "")
            contenders.append((name, lambda e, run=run, s=s: seqkit_epoch(run, train, e, s)))
    tl = None if args.no_torch else torch_twin(seqkit_run(args)[0])
    if tl is not None:
        contenders.append((f"torch ({tl.torch.get_num_threads()} threads)",
                           lambda e, tl=tl: tl.epoch(train, e)))
    tmp = tempfile.mkdtemp(prefix="train_speed_")
    procs = start_load(args.load, args.load_threads, tmp) if args.load else []
    times = {name: [] for name, _ in contenders}
    losses = {name: None for name, _ in contenders}
    print(f"start: {machine_line(f', {args.load} load training(s)' if args.load else '')}", flush=True)
    try:
        for e in range(args.epochs):
            # each round starts with the next contender: none always runs right after another
            for name, fn in contenders[e % len(contenders):] + contenders[:e % len(contenders)]:
                dt, loss = fn(e)
                times[name].append(dt)
                losses[name] = loss
    finally:
        stop_load(procs)
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"end:   {machine_line()}")
    med = {k: statistics.median(v) for k, v in times.items()}
    torch_name = next((n for n in med if n.startswith("torch")), None)
    one = next((n for n in med if n == "seqkit --threads 1"), None)
    from seqkit.cli.train import describe
    print(f"\n{args.task} ({describe(run0.model)}, {len(train)} examples, {tokens:,} tokens per "
          f"epoch, {args.epochs} epochs per contender, alternating)")
    head = ["contender", "median epoch s", "total s", "tok/s", "last loss"]
    head += ["/ torch"] if torch_name else []
    head += ["/ seqkit 1 thread"] if one else []
    rows = []
    for name, m in med.items():
        r = [name, f"{m:.3f}", f"{sum(times[name]):.2f}", f"{tokens / m:,.0f}", f"{losses[name]:.4f}"]
        r += [f"{m / med[torch_name]:.2f}"] if torch_name else []
        r += [f"{m / med[one]:.2f}"] if one else []
        rows.append(r)
    table(head, rows, args.markdown)


# -- whole processes -------------------------------------------------------------------
def torch_child(args):
    """A whole torch training as a process would run it (imports and data included).
    With ``--torch-out`` it also does the per-epoch work ``seqkit train`` does: a
    validation pass and a checkpoint (seqkit: an atomic .npz, a .best.npz link)."""
    run, train, valid = seqkit_run(args)
    tl = torch_twin(run)
    if tl is None:
        sys.exit(f"no torch twin for {args.task}")
    for e in range(args.epochs):
        tl.epoch(train, e)
        if args.torch_out:
            tl.validate(valid)
            tl.save(args.torch_out)


def processes_main(args):
    tmp = tempfile.mkdtemp(prefix="train_speed_")
    procs = start_load(args.load, args.load_threads, tmp) if args.load else []
    me = [sys.executable, os.path.abspath(__file__), "--task", args.task, "--data", args.data,
          "--epochs", str(args.epochs)] + (["--cell", args.cell] if args.cell else [])
    # each contender's command line, given the run's output path
    cmds = {f"seqkit --threads {s}": lambda out, s=s: (
        [sys.executable, "-m", "seqkit", "--threads", s, "train", args.task, "--data", args.data,
         "--epochs", str(args.epochs), "-q", "--out", out, "--overwrite"]
        + (["--cell", args.cell] if args.cell else []))
        for s in args.settings}
    if not args.no_torch:
        cmds["torch"] = lambda out: me + ["--torch-child", "--torch-out", out + ".pt"]
        if args.torch_train_only:
            cmds["torch, training only"] = lambda out: me + ["--torch-child"]
    times = {k: [] for k in cmds}
    # as a user runs it: Python's bytecode cache on (a sandbox's PYTHONDONTWRITEBYTECODE
    # would recompile every module in every process, ~0.25 s of seqkit's start-up), and
    # one untimed run of each first so the cache exists
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    print(f"start: {machine_line(f', {args.load} load training(s)' if args.load else '')}", flush=True)
    try:
        for r in range(-1, args.reps):
            for name, cmd in cmds.items():
                t0 = time.perf_counter()
                done = subprocess.run(cmd(os.path.join(tmp, f"run{r}.npz")), capture_output=True,
                                      text=True, env=env)
                if r >= 0:
                    times[name].append(time.perf_counter() - t0)
                if done.returncode:
                    sys.exit(f"{name} failed: {done.stderr.strip()[-500:]}")
    finally:
        stop_load(procs)
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"end:   {machine_line()}")
    print(f"\nwhole processes, {args.task}, {args.epochs} epochs, {args.reps} runs each, alternating")
    med = {k: statistics.median(v) for k, v in times.items()}
    head = ["process", "median s", "min s", "max s"] + (["/ torch"] if "torch" in med else [])
    rows = [[k, f"{m:.2f}", f"{min(times[k]):.2f}", f"{max(times[k]):.2f}"]
            + ([f"{m / med['torch']:.2f}"] if "torch" in med else []) for k, m in med.items()]
    table(head, rows, args.markdown)


# -- peak memory -------------------------------------------------------------------
def _status(key):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(key):
                return int(line.split()[1]) * 1024
    return 0


def memory_child(args):
    """RSS growth over 20 steady-state training steps: peak RSS during the steps minus
    RSS before them (after the model, data and a warm-up epoch); the RSS before; and
    for seqkit the peak of numpy's allocations over the steps above what stays (tracemalloc)."""
    run, train, _ = seqkit_run(args)
    small = train[: 20 * run.config.batch_size]
    if args.memory_child == "seqkit":
        def epoch(e):
            seqkit_epoch(run, small, e, "auto")
    else:
        tl = torch_twin(run)

        def epoch(e):
            tl.epoch(small, e)
    epoch(0)
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")  # reset the peak-RSS mark
    except OSError:
        pass
    before = _status("VmRSS")
    import tracemalloc
    tracemalloc.start()  # numpy's allocations are traced; torch's allocator is not
    epoch(1)
    traced = tracemalloc.get_traced_memory()[1] - tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    print((_status("VmHWM") - before) / 2 ** 20, before / 2 ** 20,
          traced / 2 ** 20 if args.memory_child == "seqkit" else float("nan"))


def memory_main(args):
    me = [sys.executable, os.path.abspath(__file__), "--task", args.task, "--data", args.data] + (
        ["--cell", args.cell] if args.cell else [])
    rows = []
    for who in ["seqkit"] + ([] if args.no_torch else ["torch"]):
        out = subprocess.run(me + ["--memory-child", who], capture_output=True, text=True, check=True)
        growth, rss, traced = (float(v) for v in out.stdout.split()[-3:])
        rows.append([who, f"{growth:.1f}", f"{rss:.0f}", "-" if traced != traced else f"{traced:.2f}"])
    print(f"memory of 20 training steps of {args.task} (after a warm-up epoch), MiB")
    table(["framework", "peak RSS growth", "RSS before the steps", "peak traced (numpy) allocations"],
          rows, args.markdown)


def main():
    args = _parse()
    if args.torch_child:
        return torch_child(args)
    if args.memory_child:
        return memory_child(args)
    if args.memory:
        return memory_main(args)
    if args.processes:
        return processes_main(args)
    return epochs_main(args)


if __name__ == "__main__":
    main()
