#!/usr/bin/env python3
"""What a step costs on one cluster and on a fleet that shares its apps: bench/fleet.py.

Generates two repositories with bench/generate_repo.py: one cluster (clusters/c00) and a fleet of --clusters
(default 50) whose kustomizations all list the same apps/ (50 namespaces x 100 workloads = 5,000), every third with
a replica patch and every fifth with a label of its own. In each, `asm-migrate apply --step S --commit --force`
takes init, setup, migrating, wave/first and wave/rest, each --runs times from the commit before it (median wall
time, median peak RSS). Then, at wave/rest: the same apply again (a no-op, answered from the record asm-migrate
keeps under .git/, and rendered again without it), and `diff --step wave/rest` before wave/rest is taken. The peer,
measured in the same run: `kubectl kustomize clusters/c00` of the one-cluster repository after wave/rest (what
Argo CD and Flux build).

Every run is checked, not only timed: each apply exits 0 and its runs commit the same tree (SOURCE_DATE_EPOCH
fixes the restart stamp); the no-op makes no commit. The targets of issue 10 are printed with PASS or FAIL, and the
exit code is 0 when all pass, 1 when one fails, 2 on an error.

Usage: bench/fleet.py [--runs 3] [--clusters 50] [--peer-runs 3] [--keep] [--no-build]
Standard library only; needs cargo, git and kubectl.
"""
import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
STEPS = ["init", "setup", "migrating", "wave/first", "wave/rest"]
EPOCH = "1790000000"  # the restart stamp's time: every run of a step renders the same bytes
RECORD = os.path.join(".git", "asm-migrate-settled")


def log(message):
    print(f"[fleet] {message}", file=sys.stderr, flush=True)


def die(message):
    log(f"error: {message}")
    sys.exit(2)


def run_isolated(command, cwd, env):
    """Runs `command`; returns (exit code, wall seconds, peak RSS in MiB, stdout, stderr) of that command alone. A
    small Python wrapper runs it and reports: RUSAGE_CHILDREN's peak is the largest of all children so far, so each
    command gets a wrapper of its own, whose one child it is."""
    wrapper = (
        "import os, resource, subprocess, sys, time\n"
        "started = time.monotonic()\n"
        "code = subprocess.call(sys.argv[1:], stdout=open(os.environ['FLEET_OUT'], 'wb'),"
        " stderr=open(os.environ['FLEET_ERR'], 'wb'))\n"
        "wall = time.monotonic() - started\n"
        "rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss\n"
        "print(code, wall, rss)\n"
    )
    with tempfile.TemporaryDirectory() as scratch:
        out_path, err_path = os.path.join(scratch, "out"), os.path.join(scratch, "err")
        full_env = dict(env or os.environ, FLEET_OUT=out_path, FLEET_ERR=err_path)
        result = subprocess.run([sys.executable, "-c", wrapper, *command], cwd=cwd, env=full_env,
                                capture_output=True, text=True, check=False)
        if result.returncode != 0:
            die(f"the measuring wrapper failed: {result.stderr}")
        code, wall, rss_kib = result.stdout.split()
        with open(out_path, encoding="utf-8", errors="replace") as f:
            out = f.read()
        with open(err_path, encoding="utf-8", errors="replace") as f:
            err = f.read()
    return int(code), float(wall), int(rss_kib) / 1024, out, err


def git(repo, *args):
    return subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True, text=True).stdout.strip()


def median(values):
    return statistics.median(values) if values else float("nan")


class Fleet:
    def __init__(self, binary, repo, clusters, runs):
        self.binary, self.repo, self.clusters, self.runs = binary, repo, clusters, runs
        self.env = dict(os.environ, SOURCE_DATE_EPOCH=EPOCH, NO_COLOR="1")
        self.rows = {}

    def tool(self, *args):
        code, wall, rss, out, err = run_isolated([self.binary, *args], self.repo, self.env)
        return code, wall, rss, out, err

    def step(self, step):
        base = git(self.repo, "rev-parse", "HEAD")
        walls, rss, trees = [], [], set()
        for run in range(self.runs):
            git(self.repo, "reset", "-q", "--hard", base)
            code, wall, peak, out, err = self.tool("apply", "--step", step, "--commit", "--force")
            if code != 0:
                die(f"{self.clusters} cluster(s): apply --step {step} exited {code}: {err}")
            if git(self.repo, "rev-list", "--count", f"{base}..HEAD") != "1":
                die(f"{self.clusters} cluster(s): apply --step {step} made no commit")
            trees.add(git(self.repo, "rev-parse", "HEAD^{tree}"))
            walls.append(wall)
            rss.append(peak)
        if len(trees) != 1:
            die(f"{self.clusters} cluster(s): the runs of {step} committed different trees: {sorted(trees)}")
        self.rows[step] = (median(walls), median(rss))
        log(f"{self.clusters:>3} cluster(s) {step:<11} {median(walls):6.2f} s {median(rss):7.1f} MiB")

    def diff(self, step):
        walls, rss = [], []
        for _ in range(self.runs):
            code, wall, peak, out, err = self.tool("diff", "--step", step, "--exit-code")
            if code != 1 or not out:
                die(f"{self.clusters} cluster(s): diff --step {step} exited {code} (expected 1, a difference): {err}")
            walls.append(wall)
            rss.append(peak)
        self.rows[f"diff --step {step}"] = (median(walls), median(rss))

    def no_op(self, step):
        head = git(self.repo, "rev-parse", "HEAD")
        for label, keep_record in (("no-op re-apply", True), ("no-op re-apply, no record", False)):
            walls, rss = [], []
            for _ in range(self.runs):
                if not keep_record and os.path.exists(os.path.join(self.repo, RECORD)):
                    os.remove(os.path.join(self.repo, RECORD))
                code, wall, peak, out, err = self.tool("apply", "--step", step, "--commit", "--force")
                if code != 0 or "nothing to change" not in out or git(self.repo, "rev-parse", "HEAD") != head:
                    die(f"{self.clusters} cluster(s): {label} of {step} was not a no-op: {code} {out} {err}")
                walls.append(wall)
                rss.append(peak)
            self.rows[label] = (median(walls), median(rss))
            log(f"{self.clusters:>3} cluster(s) {label:<26} {median(walls):6.2f} s {median(rss):7.1f} MiB")


def generate(work, clusters):
    repo = os.path.join(work, f"fleet-{clusters}")
    log(f"generating {clusters} cluster(s) x 5,000 shared workloads in {repo}")
    subprocess.run([sys.executable, os.path.join(HERE, "generate_repo.py"), repo, "--clusters", str(clusters)],
                   check=True, stdout=subprocess.DEVNULL)
    return repo


def take_steps(fleet):
    for step in STEPS:
        if step == "wave/rest":
            fleet.diff(step)
        fleet.step(step)
    fleet.no_op("wave/rest")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=3, help="runs of each asm-migrate measurement (median)")
    parser.add_argument("--clusters", type=int, default=50, help="clusters of the fleet")
    parser.add_argument("--peer-runs", type=int, default=3, help="runs of kubectl kustomize (median)")
    parser.add_argument("--keep", action="store_true", help="keep the generated repositories")
    parser.add_argument("--no-build", action="store_true", help="use target/release/asm-migrate as it is")
    args = parser.parse_args()
    for tool in ("cargo", "git", "kubectl"):
        if shutil.which(tool) is None:
            die(f"{tool} is not on PATH")
    if not args.no_build:
        log("cargo build --release")
        subprocess.run(["cargo", "build", "--release", "--quiet"], cwd=ROOT, check=True)
    target = os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target"))
    binary = os.path.join(target, "release", "asm-migrate")
    if not os.access(binary, os.X_OK):
        die(f"no binary at {binary}")
    revision = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True,
                              text=True).stdout.strip() or "?"

    work = tempfile.mkdtemp(prefix="asm-migrate-fleet.")
    try:
        one = Fleet(binary, generate(work, 1), 1, args.runs)
        many = Fleet(binary, generate(work, args.clusters), args.clusters, args.runs)
        take_steps(one)
        take_steps(many)
        peer_walls, peer_rss = [], []
        for _ in range(args.peer_runs):
            code, wall, peak, out, err = run_isolated(["kubectl", "kustomize", "clusters/c00"], one.repo, None)
            if code != 0:
                die(f"kubectl kustomize clusters/c00 exited {code}: {err}")
            if out.count("sidecar.asm.aliyun.com/inject") < 5000:
                die("kubectl kustomize clusters/c00 does not show the 5,000 workloads on the ASM proxy")
            peer_walls.append(wall)
            peer_rss.append(peak)
            log(f"peer: kubectl kustomize clusters/c00 {wall:6.2f} s {peak:7.1f} MiB")
        report(one, many, median(peer_walls), median(peer_rss), revision, args)
    finally:
        if args.keep:
            log(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


def report(one, many, peer_wall, peer_rss, revision, args):
    n = many.clusters
    print(f"asm-migrate {revision}, {os.cpu_count()} cores, medians of {args.runs} runs "
          f"(peer: {args.peer_runs}); 5,000 workloads in apps/, shared by every cluster")
    print()
    print(f"{'':32} {'1 cluster':>10} {'':>8} {f'{n} clusters':>11} {'':>8} {'time':>7} {'1 cluster':>10}")
    print(f"{'':32} {'s':>10} {'MiB':>8} {'s':>11} {'MiB':>8} {f'{n}/1':>7} {'/ peer':>10}")
    for label in [*STEPS, "no-op re-apply", "no-op re-apply, no record", "diff --step wave/rest"]:
        (w1, r1), (wn, rn) = one.rows[label], many.rows[label]
        name = f"apply --step {label}" if label in STEPS else label
        print(f"{name:32} {w1:10.2f} {r1:8.1f} {wn:11.2f} {rn:8.1f} {wn / w1:7.2f} {w1 / peer_wall:10.4f}")
    print(f"{'peer: kubectl kustomize clusters/c00':32} {peer_wall:10.2f} {peer_rss:8.1f}")
    print()
    steps_n = [many.rows[step] for step in STEPS]
    growth = max(many.rows[step][0] / one.rows[step][0] for step in STEPS)
    single = max(one.rows[step][0] for step in STEPS) / peer_wall
    real_min = {fleet.clusters: min(fleet.rows[step][0] for step in STEPS) for fleet in (one, many)}
    no_op = max(fleet.rows["no-op re-apply"][0] / real_min[fleet.clusters] for fleet in (one, many))
    targets = [
        (f"{n} clusters: every step <= 3 s", max(w for w, _ in steps_n) <= 3.0, f"{max(w for w, _ in steps_n):.2f} s"),
        (f"{n} clusters: every step <= 200 MiB", max(r for _, r in steps_n) <= 200.0,
         f"{max(r for _, r in steps_n):.1f} MiB"),
        (f"1 -> {n} clusters: a step's time at most 5x", growth <= 5.0, f"{growth:.2f}x"),
        ("1 cluster: a step <= 0.02x kubectl kustomize", single <= 0.02, f"{single:.4f}x"),
        ("a no-op re-apply <= half of the quickest real step", no_op <= 0.5, f"{no_op:.2f}x"),
    ]
    failed = 0
    for name, passed, figure in targets:
        print(f"{'PASS' if passed else 'FAIL'}: {name} ({figure})")
        failed += not passed
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
