#!/usr/bin/env python3
"""Driver of bench/validate.sh: synthetic repositories, timed runs, checks, the table.

Run it through bench/validate.sh, which provides the toolchain, the release build of
stackctl, the stand-in helm and a local registry holding the service charts. Method and
results: docs/performance.md.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

UPSTREAM = "oci://ghcr.io/jetscale-ai/charts"
# CronJob names are <release>-backend-api-generate-from-discovery and must stay within 52
# characters (render/name-too-long), so a release name has at most 16.
MAX_RELEASE = 16


def log(message: str) -> None:
    print(f"bench: {message}", file=sys.stderr, flush=True)


def fail(message: str) -> None:
    """A run did not do what the benchmark claims it measures: stop, loudly."""
    print(f"bench: FAILED: {message}", file=sys.stderr, flush=True)
    sys.exit(1)


# --- the synthetic repository ------------------------------------------------------------


@dataclass
class Target:
    path: str  # envs/<dir>/<file>.yaml
    release: str
    namespace: str
    external_refs: list[str]
    layers: list[str] = field(default_factory=list)


def real_targets(root: Path) -> tuple[list[Target], dict]:
    config = tomllib.loads((root / "stackctl.toml").read_text())
    render = config.get("render", {})
    targets = []
    for path in sorted((root / "envs").glob("*/*.yaml")):
        if path.stem == "default":
            continue
        rel = path.relative_to(root).as_posix()
        entry = config.get("targets", {}).get(rel, {})
        targets.append(
            Target(
                rel,
                entry.get("release", render.get("release", "jetscale")),
                entry.get("namespace", render.get("namespace", "default")),
                list(entry.get("external-refs", [])),
            )
        )
    if len(targets) != 8:
        fail(f"expected the 8 real env files, found {len(targets)}")
    return targets, config


HOST_RE = re.compile(r"(?<![\w.*@-])([a-z0-9][a-z0-9-]*)((?:\.staging)?\.jetscale\.ai)\b")
SERVICE_ACCOUNT_RE = re.compile(r"^(\s*name:\s*)([a-z0-9-]+?)((?:-api|-ws)?-service-account)\s*$", re.M)
PROJECT_RE = re.compile(r"^(\s*project_name:\s*)([a-z0-9-]+)\s*$", re.M)
CLIENT_RE = re.compile(r"^(\s*client_name:\s*)([a-z0-9-]+)\s*$", re.M)


def derive(source: Target, text: str, copy: int) -> tuple[Target, str]:
    """Copy `copy` (1, 2, …) of a real env: its own file, host, release, namespace and names."""
    env_dir, stem = source.path.rsplit("/", 1)
    stem = stem.removesuffix(".yaml")
    suffix = f"c{copy}"
    release = f"{suffix}-{stem}"[:MAX_RELEASE].rstrip("-")
    text = HOST_RE.sub(lambda m: f"{m.group(1)}-{suffix}{m.group(2)}", text)
    text = SERVICE_ACCOUNT_RE.sub(lambda m: f"{m.group(1)}{release}{m.group(3)}", text)
    # Distinct secret paths and database names: the project in prod, the client in staging
    # (every staging env's project is "staging").
    if env_dir.endswith("/staging"):
        text = CLIENT_RE.sub(lambda m: f"{m.group(1)}{m.group(2)}-{suffix}", text)
    else:
        text = PROJECT_RE.sub(lambda m: f"{m.group(1)}{m.group(2)}-{suffix}", text)
    target = Target(f"{env_dir}/{stem}-{suffix}.yaml", release, release, source.external_refs)
    return target, text


def copy_stack(root: Path, dest: Path) -> None:
    """charts/ (without built dependency archives), envs/ shared layers, .gitignore (a
    validation checks it); stackctl.toml is written by the caller."""
    if dest.exists():
        shutil.rmtree(dest)

    def ignore(directory: str, names: list[str]) -> list[str]:
        d = Path(directory)
        # charts/<chart>/charts holds archives the tools build; every run starts without them.
        if d.parent.name == "charts" and d.parent.parent == root:
            return [n for n in names if n == "charts"]
        return []

    shutil.copytree(root / "charts", dest / "charts", ignore=ignore)
    (dest / "envs").mkdir(parents=True)
    for layer in (root / "envs").glob("*.yaml"):
        shutil.copy(layer, dest / "envs" / layer.name)
    for layer in (root / "envs").glob("*/default.yaml"):
        (dest / "envs" / layer.parent.name).mkdir(exist_ok=True)
        shutil.copy(layer, dest / layer.relative_to(root))
    shutil.copy(root / ".gitignore", dest / ".gitignore")


def toml_str(s: str) -> str:
    return json.dumps(s)  # TOML basic strings accept JSON string escapes.


def synthesize(root: Path, dest: Path, n: int) -> list[Target]:
    """A copy of the repository with n env files generated from the real ones."""
    reals, _ = real_targets(root)
    copy_stack(root, dest)
    targets = []
    for i in range(n):
        source = reals[i % len(reals)]
        text = (root / source.path).read_text()
        copy = i // len(reals)
        target = source if copy == 0 else None
        if target is None:
            target, text = derive(source, text, copy)
        (dest / target.path).parent.mkdir(parents=True, exist_ok=True)
        (dest / target.path).write_text(text)
        targets.append(target)
    # stackctl.toml: the real one without its [targets] tables, then one table per target.
    config = (root / "stackctl.toml").read_text()
    config = re.sub(r'(?ms)^\[targets\."[^"]+"\]\n.*?(?=^\[|\Z)', "", config)
    config = re.sub(r"(?m)^# Each env renders.*?\n(#.*\n)*", "", config)
    config += "\n# Generated by bench/validate.py.\n"
    for t in targets:
        refs = ", ".join(toml_str(r) for r in t.external_refs)
        config += (
            f"\n[targets.{toml_str(t.path)}]\nrelease = {toml_str(t.release)}\n"
            f"namespace = {toml_str(t.namespace)}\nexternal-refs = [{refs}]\n"
        )
    (dest / "stackctl.toml").write_text(config)
    for t in targets:
        t.layers = ["envs/aws.yaml"]
        default = Path(t.path).parent / "default.yaml"
        if (dest / default).exists():
            t.layers.append(default.as_posix())
        t.layers.append(t.path)
    releases = [t.release for t in targets]
    if n > len(reals) and len(set(releases[len(reals):])) != n - len(reals):
        fail("generated release names are not distinct")
    return targets


# --- running and measuring ---------------------------------------------------------------


@dataclass
class Run:
    wall_ms: float
    code: int
    stdout: str
    stderr: str
    peak_rss_kb: int  # the process's own high-water mark (VmHWM), not its children's
    cpu_ms: float  # user + system of the process and every child it waited for


def run(cmd: list[str], cwd: Path, env: dict[str, str]) -> Run:
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=out, stderr=err)
        peak = [0]
        done = threading.Event()

        def sample() -> None:
            # VmHWM only grows, so the last sample before exit is the peak up to a few ms.
            status = f"/proc/{proc.pid}/status"
            while not done.is_set():
                try:
                    with open(status) as f:
                        for line in f:
                            if line.startswith("VmHWM:"):
                                peak[0] = max(peak[0], int(line.split()[1]))
                                break
                except OSError:
                    return
                done.wait(0.005)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        _, status, usage = os.wait4(proc.pid, 0)
        wall = (time.perf_counter() - start) * 1000
        done.set()
        sampler.join()
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        return Run(
            wall,
            proc.returncode,
            out.read().decode(errors="replace"),
            err.read().decode(errors="replace"),
            peak[0],
            (usage.ru_utime + usage.ru_stime) * 1000,
        )


def isolated_env(work: Path, extra: dict[str, str]) -> dict[str, str]:
    """No credentials, homes or caches of the machine leak into a run."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GITHUB_", "GH_", "STACKCTL_", "HELM_", "XDG_"))}
    env.pop("CI", None)
    for sub in ("home", "docker", "helm/config", "helm/data"):
        (work / sub).mkdir(parents=True, exist_ok=True)
    env.update(
        HOME=str(work / "home"),
        DOCKER_CONFIG=str(work / "docker"),
        HELM_CONFIG_HOME=str(work / "helm/config"),
        HELM_DATA_HOME=str(work / "helm/data"),
        HELM_CACHE_HOME=str(work / "helm/cache"),
        NO_COLOR="1",
    )
    env.update(extra)
    return env


def reset(*paths: Path) -> None:
    for p in paths:
        if p.is_dir():
            shutil.rmtree(p)
        elif p.exists():
            p.unlink()


def report_of(r: Run, what: str, n: int) -> dict:
    try:
        doc = json.loads(r.stdout)
    except json.JSONDecodeError:
        fail(f"{what}: stackctl printed no JSON report (exit {r.code}):\n{r.stdout[-2000:]}\n{r.stderr[-4000:]}")
    if r.code != 0 or not doc.get("ok"):
        findings = "\n".join(
            f"  {d['rule']} {d.get('target')}: {d['message']}" for d in doc.get("diagnostics", [])[:20]
        )
        fail(f"{what}: exit {r.code}, every target must pass:\n{findings}\n{r.stderr[-2000:]}")
    targets = doc["targets"]
    if len(targets) != n or doc["summary"]["targets"] != n or doc["summary"]["passed"] != n:
        fail(f"{what}: {len(targets)} targets reported ({doc['summary']}), expected {n} passed")
    return doc


def expect_cached(doc: dict, what: str, fresh: set[str]) -> None:
    """Exactly the targets in `fresh` were checked afresh; every other came from the cache."""
    got = {t["target"] for t in doc["targets"] if not t["cached"]}
    if got != fresh:
        sample = sorted(got ^ fresh)[:5]
        fail(f"{what}: rendered {len(got)} targets afresh, expected {len(fresh)} (differences: {sample})")


@dataclass
class Sample:
    baseline: list[float] = field(default_factory=list)
    renders: list[float] = field(default_factory=list)
    render_cpu: list[float] = field(default_factory=list)
    cold: list[float] = field(default_factory=list)
    warm: list[float] = field(default_factory=list)
    one_changed: list[float] = field(default_factory=list)
    overhead: list[float] = field(default_factory=list)
    overhead_cpu: list[float] = field(default_factory=list)
    overhead_one: list[float] = field(default_factory=list)
    overhead_one_cpu: list[float] = field(default_factory=list)
    standin: list[float] = field(default_factory=list)
    cold_cpu: list[float] = field(default_factory=list)
    rss_kb: list[int] = field(default_factory=list)
    helm_rss_kb: list[int] = field(default_factory=list)


def bench_n(args: argparse.Namespace, n: int) -> dict:
    root = Path(args.root)
    base = Path(args.out) / f"n{n}"
    reset(base)
    stack = base / "stack"  # what stackctl validates: the repository as committed
    mage = base / "mage"  # what mage validated: Chart.yaml pointing at the local registry
    targets = synthesize(root, stack, n)
    # The same repository with one target: what a stand-in run costs whatever N is (start-up,
    # helm version, configuration, dependency checks, schemas), subtracted from the overhead.
    one = base / "one"
    synthesize(root, one, 1)
    synthesize(root, mage, n)
    chart_yaml = mage / "charts/jetscale/Chart.yaml"
    local = f"oci://{args.registry}/jetscale-ai/charts"
    chart_yaml.write_text(chart_yaml.read_text().replace(UPSTREAM, local))
    manifests = base / "manifests"
    manifests.mkdir()
    kube_version = tomllib.loads((stack / "stackctl.toml").read_text())["render"]["kube-version"]

    cache = base / "cache"
    stack_env = isolated_env(
        base / "stackctl-env",
        {
            "STACKCTL_CACHE_DIR": str(cache),
            # The same local registry as the baseline, in place of ghcr.io; Chart.yaml and
            # Chart.lock stay as committed.
            "STACKCTL_REGISTRY_MIRRORS": f"{UPSTREAM}={local}",
            "STACKCTL_INSECURE_REGISTRIES": args.registry,
        },
    )
    jobs = ["--jobs", str(args.jobs)] if args.jobs else []
    validate = [args.stackctl, "--format", "json", "--helm", args.helm, "validate", "envs", "aws", *jobs]
    overhead_cmd = [
        args.stackctl, "--format", "json", "--helm", args.standin, "validate", "envs", "aws", "--no-cache", *jobs,
    ]
    all_targets = {t.path for t in targets}
    s = Sample()

    for rep in range(args.reps):
        log(f"n={n} rep {rep + 1}/{args.reps}")
        # baseline: mage's validate:envs, with empty helm caches and no charts/ built.
        helm_work = base / "helm-env"
        reset(helm_work, mage / "charts/jetscale/charts")
        henv = isolated_env(helm_work, {})
        start = time.perf_counter()
        for step in ("update", "build"):
            r = run([args.helm, "dependency", step, "charts/jetscale", "--plain-http"], mage, henv)
            if r.code != 0:
                fail(f"baseline: helm dependency {step}: {r.stderr}")
        renders = []
        for t in targets:
            cmd = [args.helm, "template", t.release, "charts/jetscale", "--namespace", t.namespace,
                   "--kube-version", kube_version]
            for layer in t.layers:
                cmd += ["--values", layer]
            r = run(cmd, mage, henv)
            if r.code != 0:
                fail(f"baseline: helm template {t.path}: {r.stderr}")
            if not r.stdout.count("\nkind: "):
                fail(f"baseline: helm template {t.path} rendered nothing")
            renders.append(r.wall_ms)
            s.render_cpu.append(r.cpu_ms)
            s.helm_rss_kb.append(r.peak_rss_kb)
            if rep == 0:
                (manifests / t.path.replace("/", "__")).write_text(r.stdout)
        s.baseline.append((time.perf_counter() - start) * 1000)
        s.renders.extend(renders)

        # cold: no result cache, no dependency cache, no charts/ built: stackctl resolves the
        # dependencies from the registry, then renders and checks every target.
        reset(cache, stack / "charts/jetscale/charts", stack / ".stackctl")
        r = run(validate, stack, stack_env)
        doc = report_of(r, f"cold n={n}", n)
        expect_cached(doc, f"cold n={n}", all_targets)
        if not list((stack / "charts/jetscale/charts").glob("*.tgz")):
            fail("cold: no dependency archives were built")
        s.cold.append(r.wall_ms)
        s.cold_cpu.append(r.cpu_ms)
        s.rss_kb.append(r.peak_rss_kb)

        # warm: nothing changed; every verdict must come from the cache.
        r = run(validate, stack, stack_env)
        expect_cached(report_of(r, f"warm n={n}", n), f"warm n={n}", set())
        s.warm.append(r.wall_ms)
        s.rss_kb.append(r.peak_rss_kb)

        # one-changed: a new line in one env file (new bytes each repetition, so no repetition
        # finds an earlier one's verdict), which only that target reads.
        edited = targets[(rep * 7) % n]
        with open(stack / edited.path, "a") as f:
            f.write(f"# bench edit n={n} rep={rep} {time.time_ns()}\n")
        r = run(validate, stack, stack_env)
        expect_cached(report_of(r, f"one-changed n={n}", n), f"one-changed n={n}", {edited.path})
        s.one_changed.append(r.wall_ms)
        s.rss_kb.append(r.peak_rss_kb)

        # overhead: the stand-in helm prints the manifest real helm rendered for the target.
        ovenv = dict(stack_env, BENCH_MANIFESTS=str(manifests))
        r = run(overhead_cmd, stack, ovenv)
        expect_cached(report_of(r, f"overhead n={n}", n), f"overhead n={n}", all_targets)
        s.overhead.append(r.wall_ms)
        s.overhead_cpu.append(r.cpu_ms)
        s.rss_kb.append(r.peak_rss_kb)
        r = run(overhead_cmd, one, ovenv)
        expect_cached(report_of(r, "overhead n=1", 1), "overhead n=1", {targets[0].path})
        s.overhead_one.append(r.wall_ms)
        s.overhead_one_cpu.append(r.cpu_ms)

        # What the stand-in itself costs per call, spawned the way stackctl spawns it.
        t = targets[0]
        cmd = [args.standin, "template", t.release, "charts/jetscale"]
        for layer in t.layers:
            cmd += ["--values", layer]
        costs = [run(cmd, stack, ovenv).wall_ms for _ in range(20)]
        s.standin.append(statistics.median(costs))

    med = statistics.median
    cores = os.cpu_count() or 1
    jobs_used = args.jobs or cores
    render_ms = med(s.renders)
    # Per target: what one more target adds to the wall of a stand-in run (the run over n
    # targets less the run over one, divided by n - 1), less what the stand-in's own call adds
    # (one call per target, spread over the parallel jobs). With n = 1, the whole run.
    if n > 1:
        marginal = (med(s.overhead) - med(s.overhead_one)) / (n - 1)
        marginal_cpu = (med(s.overhead_cpu) - med(s.overhead_one_cpu)) / (n - 1)
    else:
        marginal, marginal_cpu = med(s.overhead), med(s.overhead_cpu)
    overhead = marginal - med(s.standin) / jobs_used
    result = {
        "n": n,
        "baseline_ms": round(med(s.baseline)),
        "cold_ms": round(med(s.cold)),
        "warm_ms": round(med(s.warm)),
        "one_changed_ms": round(med(s.one_changed)),
        "overhead_ms_per_target": round(overhead, 2),
        "peak_rss_mb": round(max(s.rss_kb) / 1024, 1),
    }
    detail = {
        **result,
        "reps": args.reps,
        "cores": cores,
        "jobs": jobs_used,
        "helm_render_ms": round(render_ms, 1),
        "helm_render_cpu_ms": round(med(s.render_cpu), 1),
        "helm_peak_rss_mb": round(max(s.helm_rss_kb) / 1024, 1),
        "overhead_wall_ms": round(med(s.overhead)),
        "overhead_one_target_ms": round(med(s.overhead_one)),
        "overhead_marginal_ms": round(marginal, 2),
        "overhead_cpu_ms_per_target": round(marginal_cpu, 2),
        "standin_call_ms": round(med(s.standin), 2),
        "cold_cpu_ms": round(med(s.cold_cpu)),
        "samples": {
            k: [round(v, 1) for v in getattr(s, k)]
            for k in ("baseline", "cold", "warm", "one_changed", "overhead", "overhead_one")
        },
    }
    if not args.keep:
        reset(base)
    return detail


def table(details: list[dict]) -> str:
    head = ("N", "baseline", "cold", "warm", "one-changed", "overhead/target", "peak RSS", "helm render")
    rows = [head]
    for d in details:
        rows.append((
            str(d["n"]),
            f"{d['baseline_ms']} ms",
            f"{d['cold_ms']} ms ({d['baseline_ms'] / d['cold_ms']:.1f}x)",
            f"{d['warm_ms']} ms ({d['baseline_ms'] / d['warm_ms']:.1f}x)",
            f"{d['one_changed_ms']} ms ({d['baseline_ms'] / d['one_changed_ms']:.1f}x)",
            f"{d['overhead_ms_per_target']} ms",
            f"{d['peak_rss_mb']} MB",
            f"{d['helm_render_ms']} ms",
        ))
    widths = [max(len(r[i]) for r in rows) for i in range(len(head))]
    lines = ["| " + " | ".join(c.ljust(w) for c, w in zip(r, widths)) + " |" for r in rows]
    lines.insert(1, "|" + "|".join("-" * (w + 2) for w in widths) + "|")
    return "\n".join(lines)


def targets_verdict(details: list[dict]) -> list[str]:
    out = []
    by_n = {d["n"]: d for d in details}
    if 8 in by_n:
        d = by_n[8]
        out.append(f"N=8   cold {d['baseline_ms'] / d['cold_ms']:.1f}x faster than baseline (target >= 2.5x)")
        out.append(f"N=8   warm {d['baseline_ms'] / d['warm_ms']:.1f}x faster than baseline (target >= 20x)")
    if 32 in by_n:
        d = by_n[32]
        out.append(f"N=32  one-changed {d['baseline_ms'] / d['one_changed_ms']:.1f}x faster than baseline (target >= 8x)")
    if 128 in by_n:
        d = by_n[128]
        ideal = d["n"] * d["helm_render_ms"] / d["cores"]
        out.append(f"N=128 cold {d['cold_ms'] / ideal:.2f}x of N x render / cores = {ideal:.0f} ms (target <= 1.3x)")
        out.append(f"N=128 peak RSS {d['peak_rss_mb']} MB (target < 150 MB)")
    for d in details:
        out.append(f"N={d['n']:<4} overhead {d['overhead_ms_per_target']} ms per target (target < 5 ms)")
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--root", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--stackctl", required=True)
    p.add_argument("--helm", required=True)
    p.add_argument("--standin", required=True)
    p.add_argument("--registry", required=True, help="host:port of the registry holding the service charts")
    p.add_argument("--n", default="8,32,128", help="comma-separated env counts (default 8,32,128)")
    p.add_argument("--reps", type=int, default=5, help="repetitions per N; medians are reported (default 5)")
    p.add_argument("--jobs", type=int, default=0, help="stackctl --jobs (default: stackctl's, the core count)")
    p.add_argument("--json", action="store_true", help="print one JSON object per N instead of the table")
    p.add_argument("--detail", help="also write every measurement, samples included, to this JSON file")
    p.add_argument("--keep", action="store_true", help="keep the synthetic trees in bench/out/")
    args = p.parse_args()
    if args.reps < 1:
        fail("--reps must be at least 1")
    details = []
    for n in (int(x) for x in args.n.split(",")):
        if n < 1:
            fail("--n values must be positive")
        details.append(bench_n(args, n))
    if args.detail:
        Path(args.detail).write_text(json.dumps(details, indent=2) + "\n")
    if args.json:
        keys = ("n", "baseline_ms", "cold_ms", "warm_ms", "one_changed_ms", "overhead_ms_per_target", "peak_rss_mb")
        for d in details:
            print(json.dumps({k: d[k] for k in keys}))
    else:
        print(table(details))
        print()
        print("\n".join(targets_verdict(details)))


if __name__ == "__main__":
    main()
