#!/usr/bin/env python3
"""Generate a large, Argo CD shaped GitOps repository for bench/component-overhead.sh.

Usage: generate_repo.py DIR [--namespaces 50] [--per-namespace 100]

Writes DIR (which must not exist or be empty), then `git init` + one commit.
Deterministic: the same arguments give byte-identical files.
Standard library only.
"""
import argparse
import os
import subprocess
import sys

TEAMS = ["checkout", "catalog", "search", "ledger", "identity", "notify", "media", "pricing"]
LANGS = [("java", "eclipse-temurin"), ("go", "distroless"), ("node", "node"), ("python", "python")]


def write(root, rel, text):
    path = os.path.join(root, rel)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", encoding="utf-8", newline="\n") as f:
        f.write(text)


def workload(ns, index, baked=None):
    """One realistic workload (~45 lines). Every 25th one is a StatefulSet. `baked`: the restart stamp, to write the
    fields asm-migrate's component adds at wave/rest into the manifest itself (the restart annotation and the ASM
    injection label of the pod template), for component-overhead.sh's (c)."""
    team = TEAMS[index % len(TEAMS)]
    lang, base = LANGS[index % len(LANGS)]
    name = f"{team}-svc-{index:03d}"
    stateful = index % 25 == 24
    kind = "StatefulSet" if stateful else "Deployment"
    port = 8000 + (index % 50)
    cpu = 100 + 50 * (index % 5)
    mem = 128 * (1 + index % 4)
    lines = [
        "apiVersion: apps/v1",
        f"kind: {kind}",
        "metadata:",
        f"  name: {name}",
        "  labels:",
        f"    app: {name}",
        f"    team: {team}",
        f"    app.kubernetes.io/version: \"1.{index % 9}.{index % 13}\"",
        "spec:",
        f"  replicas: {1 + index % 3}",
    ]
    if stateful:
        lines.append(f"  serviceName: {name}")
    lines += [
        "  selector:",
        "    matchLabels:",
        f"      app: {name}",
        "  template:",
        "    metadata:",
        "      labels:",
        f"        app: {name}",
        f"        team: {team}",
    ]
    if baked:
        lines.append("        sidecar.asm.aliyun.com/inject: \"true\"")
    lines += [
        "      annotations:",
        "        prometheus.io/scrape: \"true\"",
        f"        prometheus.io/port: \"{port + 1000}\"",
    ]
    if baked:
        lines.append(f"        kubectl.kubernetes.io/restartedAt: \"{baked}\"")
    lines += [
        "    spec:",
        "      containers:",
        "        - name: app",
        f"          image: registry.example.com/{ns}/{name}:1.{index % 9}.{index % 13}",
        "          ports:",
        "            - name: http",
        f"              containerPort: {port}",
        "            - name: metrics",
        f"              containerPort: {port + 1000}",
        "          env:",
        "            - name: LOG_LEVEL",
        "              value: info",
        "            - name: RUNTIME",
        f"              value: {lang}-{base}",
        "            - name: UPSTREAM",
        f"              value: http://{TEAMS[(index + 1) % len(TEAMS)]}-svc-{(index + 1) % 100:03d}.{ns}.svc.cluster.local:{8000 + ((index + 1) % 50)}",
        "          readinessProbe:",
        "            httpGet:",
        "              path: /ready",
        "              port: http",
        "          resources:",
        "            requests:",
        f"              cpu: {cpu}m",
        f"              memory: {mem}Mi",
        "            limits:",
        f"              cpu: {cpu * 4}m",
        f"              memory: {mem * 2}Mi",
    ]
    return "\n".join(lines) + "\n"


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("dir")
    parser.add_argument("--namespaces", type=int, default=50)
    parser.add_argument("--per-namespace", type=int, default=100)
    parser.add_argument("--files-per-namespace", type=int, default=4,
                        help="workloads of a namespace are split over this many multi-document files")
    parser.add_argument("--bake", metavar="STAMP",
                        help="write the component's fields (restart stamp STAMP, ASM label) into every workload")
    parser.add_argument("--clusters", type=int, default=0,
                        help="a fleet: this many clusters c00, c01, ... whose sources all include the same apps "
                             "(every third with a replica patch, every fifth with a cluster label); 0: the one "
                             "cluster `big`")
    parser.add_argument("--include-as", choices=["component", "transformers"], default="component",
                        help="how the plan has each cluster's source include asm-migrate's part (includeAs)")
    args = parser.parse_args()
    root = args.dir
    if os.path.exists(root) and os.listdir(root):
        sys.exit(f"{root} exists and is not empty")
    os.makedirs(root, exist_ok=True)

    namespaces = [f"ns-{i:02d}" for i in range(args.namespaces)]
    chunk = -(-args.per_namespace // args.files_per_namespace)

    for ns in namespaces:
        files = []
        for start in range(0, args.per_namespace, chunk):
            rel = f"workloads-{start // chunk}.yaml"
            docs = [workload(ns, i, args.bake) for i in range(start, min(start + chunk, args.per_namespace))]
            write(root, f"apps/{ns}/{rel}", "---\n".join(docs))
            files.append(rel)
        write(root, f"apps/{ns}/namespace.yaml",
              "apiVersion: v1\nkind: Namespace\nmetadata:\n"
              f"  name: {ns}\n  labels:\n    istio-injection: enabled\n")
        write(root, f"apps/{ns}/kustomization.yaml",
              "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\n"
              f"namespace: {ns}\nlabels:\n  - pairs:\n      app.kubernetes.io/part-of: {ns}\n"
              "resources:\n  - namespace.yaml\n" + "".join(f"  - {f}\n" for f in files))

    write(root, "infra/istio/namespace.yaml",
          "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: istio-system\n")
    write(root, "infra/istio/operator.yaml", """\
apiVersion: install.istio.io/v1alpha1
kind: IstioOperator
metadata:
  name: control-plane
  namespace: istio-system
spec:
  profile: default
  hub: docker.io/istio
  tag: 1.22.3
  meshConfig:
    accessLogFile: /dev/stdout
    defaultConfig:
      holdApplicationUntilProxyStarts: true
      proxyMetadata:
        ISTIO_META_DNS_CAPTURE: "true"
  values:
    global:
      istioNamespace: istio-system
      meshID: big-mesh
      multiCluster:
        clusterName: big
      network: network-1
""")
    write(root, "infra/istio/kustomization.yaml",
          "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\n"
          "resources:\n  - namespace.yaml\n  - operator.yaml\n")

    names = [f"c{i:02d}" for i in range(args.clusters)] if args.clusters else ["big"]
    for index, name in enumerate(names):
        overlay = ""
        local = ""
        if args.clusters and index % 3 == 1:
            overlay += ("patches:\n  - target: {kind: Deployment, namespace: ns-00, name: checkout-svc-000}\n"
                        "    patch: |-\n      - op: replace\n        path: /spec/replicas\n"
                        f"        value: {2 + index % 4}\n")
        if args.clusters and index % 4 == 2:
            overlay += f"replicas:\n  - name: catalog-svc-001\n    count: {3 + index % 3}\n"
        if args.clusters and index % 5 == 2:
            overlay += f"labels:\n  - pairs:\n      fleet.example.com/cluster: {name}\n"
        if args.clusters and index % 7 == 3:
            # A namespace of this cluster's own, with one Istio-injected workload.
            local = "  - local.yaml\n"
            write(root, f"clusters/{name}/local.yaml",
                  f"apiVersion: v1\nkind: Namespace\nmetadata:\n  name: {name}-local\n  labels:\n"
                  "    istio-injection: enabled\n---\n" + workload(f"{name}-local", 0, args.bake).replace(
                      "metadata:\n  name:", f"metadata:\n  namespace: {name}-local\n  name:", 1))
        write(root, f"clusters/{name}/kustomization.yaml",
              f"# Data-plane cluster {name}, Istio network network-1 (Argo CD Application argocd/{name}.yaml).\n"
              "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\n"
              "resources:\n  - ../../infra/istio\n" + "".join(f"  - ../../apps/{ns}\n" for ns in namespaces)
              + local + overlay)
        write(root, f"argocd/{name}.yaml", f"""\
apiVersion: argoproj.io/v1alpha1
kind: Application
metadata:
  name: {name}
  namespace: argocd
spec:
  project: default
  source:
    repoURL: https://git.example.com/platform/big.git
    targetRevision: main
    path: clusters/{name}
  destination:
    name: {name}
  syncPolicy:
    automated: {{prune: true, selfHeal: true}}
""")

    first = namespaces[: (len(namespaces) + 1) // 2]
    include_as = "" if args.include_as == "component" else f", includeAs: {args.include_as}"
    cluster_entries = "".join(
        f"    - {{name: {name}, context: ack-{name}, network: network-1, source: clusters/{name}{include_as}}}\n"
        for name in names)
    write(root, "migration.yaml", f"""\
apiVersion: asm-migrate/v1alpha1
kind: MigrationPlan
metadata:
  name: big
spec:
  engine: argocd
  output: gitops/asm-migration
  asm:
    context: asm-big
  istio:
    version: "1.22.3"
    meshConfig:
      kind: IstioOperator
      path: infra/istio/operator.yaml
    installPaths: [infra/istio]
  clusters:
{cluster_entries}  waves:
    - name: first
      namespaces: [{", ".join(first)}]
    - name: rest
      all: true
""")

    git = ["git", "-C", root]
    env = dict(os.environ, GIT_AUTHOR_DATE="2024-01-01T00:00:00Z", GIT_COMMITTER_DATE="2024-01-01T00:00:00Z")
    subprocess.run(git + ["init", "-q", "-b", "main"], check=True)
    subprocess.run(git + ["config", "user.name", "asm-migrate bench"], check=True)
    subprocess.run(git + ["config", "user.email", "bench@example.com"], check=True)
    subprocess.run(git + ["config", "commit.gpgsign", "false"], check=True)
    subprocess.run(git + ["add", "-A"], check=True)
    subprocess.run(git + ["commit", "-q", "-m", f"{len(names)} cluster(s)"], check=True, env=env)
    print(f"{root}: {len(names)} cluster(s) x {len(namespaces)} namespaces x {args.per_namespace} workloads")


if __name__ == "__main__":
    main()
