//! Issue 13, "nothing lost, nothing injected": the write path under hostile plans and repositories. Each test
//! reproduces a defect the campaign found, on the shop fixture's layout.

use crate::support::Repo;

/// The repository's state, to check that a refused command left it exactly as it was.
fn snapshot(repo: &Repo) -> (String, String, String) {
    (
        repo.git(&["rev-parse", "HEAD"]),
        repo.git(&["status", "--porcelain", "--ignored", "--untracked-files=all"]),
        repo.git(&["for-each-ref"]),
    )
}

#[track_caller]
fn refused(plan_edit: (&str, &str), args: &[&str]) -> String {
    let repo = Repo::fixture("shop").edited("migration.yaml", plan_edit.0, plan_edit.1).committed("hostile plan");
    let before = snapshot(&repo);
    let run = repo.run(args).failure(2);
    assert_eq!(snapshot(&repo), before, "the repository is exactly as it was");
    run.stderr
}

/// `output: .git/refs` passed validate, and the next step removed .git/refs/heads/main and committed.
#[test]
fn issue_13_the_output_is_never_inside_git() {
    let stderr =
        refused(("output: gitops/asm-migration", "output: .git/refs"), &["apply", "--step", "init", "--commit"]);
    assert!(
        stderr
            .starts_with("error: output `.git/refs` is inside .git, which is git's own\n  --> migration.yaml:10:11\n"),
        "{stderr}"
    );
    let stderr =
        refused(("installPaths: [infra/istio, infra/istio-eastwest]", "installPaths: [.git/refs]"), &["validate"]);
    assert!(
        stderr.starts_with("error: installPaths entry `.git/refs` is inside .git, which is git's own\n"),
        "{stderr}"
    );
}

/// `output: argocd` deleted the Argo CD Applications there; `output: infra/istio` deleted operator.yaml.
#[test]
fn issue_13_the_output_is_a_directory_of_the_tools_own() {
    let stderr = refused(("output: gitops/asm-migration", "output: argocd"), &["apply", "--step", "init", "--commit"]);
    assert!(
        stderr.starts_with(
            "error: output `argocd` holds files asm-migrate did not write (argocd/asm-control-plane.yaml, \
             argocd/project.yaml, argocd/shop-hz.yaml, argocd/shop-sh.yaml): give the tool a directory of its own\n"
        ),
        "{stderr}"
    );
    let stderr = refused(("output: gitops/asm-migration", "output: infra/istio"), &["validate"]);
    assert!(
        stderr.contains("error: output `infra/istio` overlaps meshConfig.path `infra/istio/operator.yaml`"),
        "{stderr}"
    );
    assert!(stderr.contains("error: output `infra/istio` overlaps installPaths entry `infra/istio`"), "{stderr}");
    let stderr = refused(("output: gitops/asm-migration", "output: clusters"), &["validate"]);
    assert!(stderr.contains("error: output `clusters` overlaps the source `clusters/hz` of cluster `hz`"), "{stderr}");
}

/// `gitops/asm-migration -> ../infra/istio` was followed: Istio's files were deleted in the work tree.
#[test]
fn issue_13_a_symbolic_link_on_the_output_path_is_refused() {
    let repo = Repo::fixture("shop");
    std::fs::create_dir_all(repo.path().join("gitops")).expect("a directory");
    std::os::unix::fs::symlink("../infra/istio", repo.path().join("gitops/asm-migration")).expect("the link");
    let repo = repo.committed("the output is Istio's directory, by a link");
    let before = snapshot(&repo);
    let run = repo.run(&["apply", "--step", "init", "--commit"]).failure(2);
    assert!(
        run.stderr.starts_with(
            "error: output `gitops/asm-migration` is a symbolic link (to ../infra/istio): asm-migrate writes only into a \
             directory of its own\n"
        ),
        "{}",
        run.stderr
    );
    assert_eq!(snapshot(&repo), before);
    assert!(repo.exists("infra/istio/operator.yaml"));
    let diff = repo.run(&["diff", "--step", "init"]).failure(2);
    assert!(diff.stderr.starts_with("error: output `gitops/asm-migration` is a symbolic link"), "{}", diff.stderr);
}

/// Point 10: what the plan's JSON Schema refuses, validate refused too? Istio 2.0, empty waves, `output: true`.
#[test]
fn issue_13_validate_refuses_what_the_schema_refuses() {
    let cases: [(&str, &str, &str); 8] = [
        ("version: \"1.22.3\"", "version: \"2.0\"", "Istio 2.0 is not an Istio 1.x version"),
        ("workloads: [payments/api]", "workloads: []", "wave `canary` selects no workload: list at least one"),
        ("namespaces: [payments]", "namespaces: []", "wave `payments` selects no namespace: list at least one"),
        (
            "output: gitops/asm-migration",
            "output: true",
            "`true` reads as a boolean or a number here, where text is expected",
        ),
        ("network: network-2", "network: 123", "`123` reads as a boolean or a number here, where text is expected"),
        ("network: network-2", "network: \"network 2\"", "network `network 2` is not a Kubernetes label value"),
        ("{name: http, port: 80", "{name: HTTP, port: 80", "port name `HTTP` is not a DNS-1123 label"),
        ("workloads: [payments/api]", "workloads: [payments/API]", "has name `API` that is not a DNS-1123 subdomain"),
    ];
    let schema: serde_json::Value =
        serde_json::from_str(&Repo::fixture("shop").run(&["schema"]).success().stdout).expect("the schema");
    let validator = jsonschema::validator_for(&schema).expect("the schema compiles");
    for (from, to, said) in cases {
        let stderr = refused((from, to), &["validate"]);
        assert!(stderr.contains(said), "{to}: {stderr}");
        let plan = std::fs::read_to_string(crate::support::manifest_dir().join("fixtures/repos/shop/migration.yaml"))
            .expect("the plan")
            .replacen(from, to, 1);
        let value: serde_json::Value = serde_saphyr::from_str(&plan).expect("YAML");
        assert!(!validator.is_valid(&value), "the schema refuses {to} too");
    }
}

/// Point 10: `--branch HEAD` created refs/heads/HEAD; `retryCounter: 4294967295` wrapped to 0 on `retry`.
#[test]
fn issue_13_a_branch_named_head_and_an_overflowing_retry_counter_are_refused() {
    let repo = Repo::fixture("shop");
    let before = snapshot(&repo);
    let run = repo.run(&["apply", "--step", "init", "--commit", "--branch", "HEAD"]).failure(2);
    assert_eq!(run.stderr, "error: `HEAD` is not a valid branch name\n");
    assert_eq!(snapshot(&repo), before);

    let repo = Repo::fixture("shop").at("init");
    let state = repo.read("gitops/asm-migration/state.yaml").replace("retryCounter: 0", "retryCounter: 4294967295");
    repo.write("gitops/asm-migration/state.yaml", &state);
    let repo = repo.committed("a counter at its end");
    let run = repo.run(&["validate"]).failure(2);
    assert!(
        run.stderr.starts_with("error: retryCounter 4294967295 is beyond what ASM's retryCounter holds (2147483647)\n"),
        "{}",
        run.stderr
    );
}

/// Point 9: library internals reached users ("set DuplicateKeyPolicy in Options", "use Option<String>"), and a
/// 200 MB single-line value was echoed whole into stderr.
#[test]
fn issue_13_messages_are_the_tools_and_short() {
    let stderr = refused(("  engine: argocd\n", "  engine: argocd\n  engine: flux\n"), &["validate"]);
    assert!(stderr.starts_with("error: duplicate key `engine`: a key is written once in a mapping\n"), "{stderr}");
    let stderr = refused(("output: gitops/asm-migration", "output: ~"), &["validate"]);
    assert!(stderr.starts_with("error: a value is missing here: expected a string\n"), "{stderr}");
    let long = format!("engine: {}", "x".repeat(2_000_000));
    let stderr = refused(("engine: argocd", &long), &["validate"]);
    assert!(stderr.len() < 1_000, "{} bytes of stderr", stderr.len());
    assert!(
        stderr.contains("unknown engine `xxxx") && stderr.contains("… (2000000 characters)"),
        "{}",
        &stderr[..300.min(stderr.len())]
    );
}

/// Point 9: a FIFO as state.yaml (or the mesh config) hung forever; `File exists (os error 17)` named no path.
#[test]
fn issue_13_special_files_are_refused_and_write_errors_name_their_path() {
    let repo = Repo::fixture("shop");
    std::fs::create_dir_all(repo.path().join("gitops/asm-migration")).expect("a directory");
    let fifo = repo.path().join("gitops/asm-migration/state.yaml");
    let made = std::process::Command::new("mkfifo").arg(&fifo).status().expect("mkfifo runs");
    assert!(made.success());
    let run = repo.run_within(&["validate"], std::time::Duration::from_secs(20)).failure(2);
    assert!(
        run.stderr.contains(
            "error: is not a regular file: asm-migrate reads only regular files\n  --> gitops/asm-migration/state.yaml"
        ),
        "{}",
        run.stderr
    );
    std::fs::remove_file(&fifo).expect("removed");

    let repo = Repo::fixture("shop");
    repo.write("gitops", "a file where the output's directory goes\n");
    let repo = repo.committed("gitops is a file");
    let run = repo.run(&["apply", "--step", "init", "--commit"]).failure(2);
    assert!(run.stderr.contains("gitops/asm-migration"), "the path is named: {}", run.stderr);
    assert!(!run.stderr.contains("os error 17") || run.stderr.contains("gitops"), "{}", run.stderr);
}

/// Point 9: a chain of 9,000 nested kustomizations overflowed the stack (exit 134); kustomize builds 10,000.
#[test]
fn issue_13_deeply_nested_kustomizations_are_followed() {
    let repo = Repo::fixture("bookinfo-flux");
    let depth = 9_000;
    for level in 0..depth {
        let next = if level + 1 == depth { "../../base/bookinfo".to_owned() } else { format!("../l{}", level + 1) };
        repo.write(&format!("apps/deep/l{level}/kustomization.yaml"), &format!("resources:\n  - {next}\n"));
    }
    let repo = repo
        .edited("apps/production/kustomization.yaml", "  - ../base/bookinfo\n", "  - ../deep/l0\n")
        .committed("a deep chain");
    let run = repo.run(&["validate"]);
    assert_eq!(run.code, 0, "{}", &run.stderr[..run.stderr.len().min(500)]);
    assert!(run.stdout.contains("6 workload(s) of which 6 Istio-injected"), "{}", run.stdout);
}

/// A ClusterRoleBinding to cluster-admin, as a YAML double-quoted string's escapes: a value that, pasted into a
/// template, becomes a second object.
const INJECTED: &str =
    "\\n---\\napiVersion: rbac.authorization.k8s.io/v1\\nkind: ClusterRoleBinding\\nmetadata: {name: owned}\\n\
                        roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: cluster-admin}\\n\
                        subjects: [{kind: ServiceAccount, name: default, namespace: default}]\\n";

/// Point 3: an ingress port name, clusterId, network, a workload and state.yaml's restartedAt carried a second
/// object into asm/ or a component. The plan's strings are held to what Kubernetes accepts for their field.
#[test]
fn issue_13_plan_strings_are_what_kubernetes_accepts_for_their_field() {
    let cases = [
        (
            "ports: [{name: http, port: 80, targetPort: 80}]",
            format!("ports: [{{name: \"http{INJECTED}\", port: 80, targetPort: 80}}]"),
            "error: port name `http\\n---\\napiVersion: rbac.authorization.k8s.io/v1\\nkind: ClusterRoleBinding\\nmetad… \
             (256 characters)` is not a DNS-1123 label: use only lower-case letters, digits and '-'\n  --> migration.yaml:47:22",
        ),
        (
            "network: network-2",
            format!("network: \"network-2{INJECTED}\""),
            "is not a Kubernetes label value: use only letters, digits, '-', '_' and '.'\n  --> migration.yaml:28:16",
        ),
        (
            "clusterId: c89c4ec9f6b3f1086b158d8ef03dfe815",
            format!("clusterId: \"c1{INJECTED}\""),
            "error: clusterId `c1\\n---\\napiVersion",
        ),
        (
            "workloads: [payments/api]",
            "workloads: [\"payments/api\\n---\\nkind: ClusterRoleBinding\"]".to_owned(),
            "is not a DNS-1123 subdomain: use only lower-case letters, digits, '-' and '.'\n  --> migration.yaml:34:19",
        ),
        (
            "virtualService: payments/stripe-through-egress-gateway",
            format!("virtualService: \"payments/stripe{INJECTED}\""),
            "must be written namespace/name, a DNS-1123 label and a DNS-1123 subdomain\n  --> migration.yaml:41:23",
        ),
        (
            "output: gitops/asm-migration",
            "output: \"gitops/asm-migration\\n---\\nkind: ClusterRoleBinding\"".to_owned(),
            "holds a control character (a line break, a tab)",
        ),
    ];
    for (from, to, said) in cases {
        let stderr = refused((from, &to), &["apply", "--step", "init", "--commit"]);
        assert!(stderr.contains(said), "{to}:\n{stderr}");
    }

    let repo = Repo::fixture("shop").at("setup");
    let state = repo.read("gitops/asm-migration/state.yaml");
    let stamp = state.lines().find(|line| line.starts_with("restartedAt:")).expect("a restart stamp").to_owned();
    repo.write(
        "gitops/asm-migration/state.yaml",
        &state.replace(&stamp, &format!("restartedAt: \"2026-01-01T00:00:00Z{INJECTED}\"")),
    );
    let repo = repo.committed("a stamp that carries an object");
    let before = snapshot(&repo);
    let run = repo.run(&["apply", "--step", "next", "--commit"]).failure(2);
    assert!(
        run.stderr.starts_with(
            "error: restartedAt `2026-01-01T00:00:00Z\\n---\\napiVersion: rbac.authorization.k8s.io/v1\\nkind: \
             ClusterR… (272 characters)` is not a time as asm-migrate writes it (like 2026-01-01T00:00:00Z)\n \
             --> gitops/asm-migration/state.yaml:7:14\n"
        ),
        "{}",
        run.stderr
    );
    assert_eq!(snapshot(&repo), before);
}

/// Point 3: whatever strings reach the templates (here from the repository, which the plan's checks do not hold:
/// a Gateway server's port name; and a network that reads as a number), every step builds exactly the objects it
/// builds with plain strings, and each string arrives as itself.
#[test]
fn issue_13_the_objects_built_are_exactly_the_expected_kinds_whatever_the_strings() {
    let plain = Repo::fixture("shop");
    let hostile = Repo::fixture("shop")
        .edited(
            "apps/payments/egress-stripe.yaml",
            "        name: http\n",
            &format!("        name: \"http{INJECTED}\"\n"),
        )
        .edited("migration.yaml", "network: network-1", "network: \"123\"")
        .committed("strings that are not names");
    let steps = plain.step_ids();
    let identities = |built: &crate::support::Built| -> Vec<String> {
        let mut objects: Vec<String> = built
            .objects
            .iter()
            .map(|object| {
                format!(
                    "{} {}/{}",
                    object["kind"].as_str().unwrap_or("?"),
                    object["metadata"]["namespace"].as_str().unwrap_or(""),
                    object["metadata"]["name"].as_str().unwrap_or("?")
                )
            })
            .collect();
        objects.sort();
        objects
    };
    for step in &steps {
        plain.apply(step);
        hostile.apply(step);
        for dir in ["gitops/asm-migration/asm", "clusters/hz", "clusters/sh"] {
            let expected = identities(&plain.kustomize(dir));
            let built = hostile.kustomize(dir);
            assert_eq!(identities(&built), expected, "{step}: {dir} builds the same objects");
            assert!(!built.text.contains("\nkind: ClusterRoleBinding"), "{step}: {dir}");
            let declared = "gitops/asm-migration/clusters/hz/istio-system-namespace.yaml";
            if step == "finished" && dir == "clusters/hz" {
                let namespace: serde_json::Value = serde_saphyr::from_str(&hostile.read(declared)).expect("YAML");
                assert_eq!(namespace["metadata"]["labels"]["topology.istio.io/network"], "123", "text, not a number");
            }
        }
        let asm = hostile.kustomize("gitops/asm-migration/asm");
        if let Some(egress) = asm.objects.iter().find(|object| object["metadata"]["name"] == "asm-egressgateway") {
            let name = egress["spec"]["ports"][0]["name"].as_str().expect("a port name");
            assert!(name.starts_with("http\n---\napiVersion: rbac.authorization.k8s.io/v1\n"), "{step}: {name:?}");
        }
    }
}

/// Point 6: after `migrating`, deleting state.yaml (or emptying `step:`) had the next step render `init` again:
/// desiredState went from Migrating back to Init. The rendered ASMMigrateFromIstio wins; the error says how to
/// repair, and the repair works.
#[test]
fn issue_13_a_lost_or_edited_state_never_moves_asm_backwards() {
    let state = "gitops/asm-migration/state.yaml";
    type Edit = Box<dyn Fn(&Repo)>;
    let edits: [(&str, Edit); 3] = [
        ("deleted", Box::new(move |repo: &Repo| std::fs::remove_file(repo.path().join(state)).expect("removed"))),
        (
            "emptied",
            Box::new(move |repo: &Repo| {
                repo.write(state, &repo.read(state).replacen("\nstep: migrating\n", "\nstep:\n", 1))
            }),
        ),
        (
            "set back",
            Box::new(move |repo: &Repo| {
                repo.write(state, &repo.read(state).replacen("\nstep: migrating", "\nstep: init", 1))
            }),
        ),
    ];
    for (what, edit) in edits {
        let repo = Repo::fixture("shop").at("migrating");
        edit(&repo);
        let repo = repo.committed(&format!("the state, {what}"));
        let before = snapshot(&repo);
        let run = repo.run(&["apply", "--step", "next", "--commit"]).failure(2);
        let said = if what == "deleted" {
            "error: gitops/asm-migration/state.yaml is missing, but gitops/asm-migration/asm/asmmigratefromistio.yaml \
             already has ASM at desiredState Migrating: without its state the next step would render Init and move \
             ASM backwards; restore state.yaml"
        } else if what == "emptied" {
            "error: state.yaml is at no step (Init), but gitops/asm-migration/asm/asmmigratefromistio.yaml has ASM at \
             desiredState Migrating: the two were written together and one of them was changed by hand"
        } else {
            "error: state.yaml is at step `init` (Init), but gitops/asm-migration/asm/asmmigratefromistio.yaml has ASM \
             at desiredState Migrating"
        };
        assert!(run.stderr.starts_with(said), "{what}: {}", run.stderr);
        assert_eq!(snapshot(&repo), before, "{what}: the repository is as it was");
        assert!(repo.read("gitops/asm-migration/asm/asmmigratefromistio.yaml").contains("desiredState: Migrating"));

        // The repair the message gives.
        let commit = repo.git(&["log", "-1", "--format=%h", "--grep=^Migration-Step:", "--", state]);
        repo.git(&["checkout", commit.trim(), "--", state]);
        let repo = repo.committed("the state, restored");
        repo.apply("wave/canary");
        assert!(repo.read("gitops/asm-migration/asm/asmmigratefromistio.yaml").contains("desiredState: Migrating"));
    }
}

/// Point 8: a full disk left an empty `.git/asm-migrate.lock`, after which every run waited 10 s and failed with
/// `another asm-migrate is working in this repository ()`.
#[test]
fn issue_13_an_empty_lock_is_named_with_the_command_that_removes_it() {
    let repo = Repo::fixture("shop");
    let lock = repo.path().join(".git/asm-migrate.lock");
    std::fs::write(&lock, "").expect("an empty lock");
    let started = std::time::Instant::now();
    let run = repo.run(&["apply", "--step", "init", "--commit"]).failure(2);
    assert!(started.elapsed() < std::time::Duration::from_secs(5), "no wait for a lock nobody holds");
    assert_eq!(
        run.stderr,
        format!(
            "error: the lock file {0} is empty (a run stopped before it could write it): if no asm-migrate is running \
             in this repository, remove it: rm {0}\n",
            lock.display()
        )
    );
    assert_eq!(repo.commit_count(), 1);
    std::fs::remove_file(&lock).expect("removed as told");
    repo.apply("init");
}

/// Point 8: a run that waits for a lock says so, and reads the repository as the holder left it: here the holder
/// committed `init` while the second run waited for `next`, which is then `setup`.
#[test]
fn issue_13_a_run_that_waited_for_the_lock_says_so_and_reads_the_repository_after_it() {
    let repo = Repo::fixture("shop");
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").expect("a hostname").trim().to_owned();
    let lock = repo.path().join(".git/asm-migrate.lock");
    // The holder is this test's process: alive, on this host.
    let holder =
        format!("pid: {}\nhost: {host}\nsince: 2026-01-01T00:00:00Z\ncommand: the holder\n", std::process::id());
    std::fs::write(&lock, holder).expect("the lock is taken");
    // What the holder commits meanwhile, prepared in a copy.
    let elsewhere = Repo::fixture("shop");
    elsewhere.apply("init");
    let waiting = repo
        .command(&["apply", "--step", "next", "--commit"])
        .env("ASM_MIGRATE_LOCK_WAIT", "60")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("the second run starts");
    std::thread::sleep(std::time::Duration::from_millis(700));
    repo.git(&["fetch", "-q", elsewhere.path().to_str().expect("UTF-8"), "main"]);
    repo.git(&["reset", "-q", "--hard", "FETCH_HEAD"]);
    std::fs::remove_file(&lock).expect("the holder is done");
    let run = crate::support::Run::of(waiting.wait_with_output().expect("the second run ends")).success();
    assert!(
        run.stderr.starts_with("note: waited ")
            && run.stderr.contains(&format!(
                " s for another asm-migrate (pid {} on {host} since 2026-01-01T00:00:00Z: the holder) to finish; the \
                 repository is read as it left it\n",
                std::process::id()
            )),
        "{}",
        run.stderr
    );
    assert_eq!(repo.head_subject(), "asm-migrate(shop-prod): setup (2/12)");
    assert!(!lock.exists());
}
