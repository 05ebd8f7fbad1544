//! The commands as a user runs them: steps, render, diff, apply and its refusals, schema, templates.

use std::process::Command;

use serde_json::Value;

use crate::support::{manifest_dir, on_asm, Repo};

#[test]
fn steps_lists_the_default_order_and_marks_the_current_step() {
    let repo = Repo::fixture("shop");
    let table = repo.run(&["steps"]).success().stdout;
    assert!(table.starts_with("   #  STEP               PHASE\n   1  init               Init\n"), "{table}");
    repo.apply("init");
    repo.apply("setup");
    let listed: Value = serde_json::from_str(&repo.run(&["steps", "--output", "json"]).success().stdout).expect("JSON");
    assert_eq!(
        (&listed["schemaVersion"], &listed["plan"], &listed["current"]),
        (&1.into(), &"shop-prod".into(), &"setup".into())
    );
    let list = listed["steps"].as_array().expect("a list");
    assert_eq!(list.len(), 12);
    assert_eq!(
        list[1],
        serde_json::json!({"index": 2, "id": "setup", "phase": "SetupIstioForMigrate", "current": true, "applied": true})
    );
    assert_eq!(list[2]["current"], false);
    assert_eq!(list[2]["applied"], false);
    let ids: Vec<&str> = list.iter().map(|step| step["id"].as_str().expect("an id")).collect();
    assert_eq!(ids[3..7], ["wave/canary", "wave/payments", "wave/rest", "egress/stripe/1"]);
    assert!(repo.run(&["steps"]).success().stdout.contains("*  2  setup"));
}

#[test]
fn desired_state_never_moves_backwards() {
    let repo = Repo::fixture("shop");
    for step in ["init", "setup", "migrating"] {
        repo.apply(step);
    }
    let commits = repo.commit_count();
    let refused = repo.run(&["apply", "--step", "setup", "--commit"]).failure(2);
    assert_eq!(
        refused.stderr,
        "error: step `setup` would move ASMMigrateFromIstio's desiredState back from Migrating to SetupIstioForMigrate: \
         ASM only moves forward (waves, egress weights and ingress can go back, phases cannot)\n"
    );
    assert_eq!(repo.commit_count(), commits);
    assert_eq!(repo.git(&["status", "--porcelain"]), "");
}

#[test]
fn waves_and_weights_roll_back_by_applying_an_earlier_step() {
    let repo = Repo::fixture("shop");
    for step in [
        "init",
        "setup",
        "migrating",
        "wave/canary",
        "wave/payments",
        "wave/rest",
        "egress/stripe/1",
        "egress/stripe/10",
    ] {
        repo.apply(step);
    }
    repo.apply("wave/canary");
    assert_eq!(repo.head_subject(), "asm-migrate(shop-prod): wave/canary (4/12)");
    let hz = repo.kustomize("clusters/hz");
    assert_eq!(hz.workloads_where(on_asm), ["payments/api"]);
    let route = hz.get("VirtualService", Some("payments"), "stripe-through-egress-gateway");
    assert_eq!(
        route["spec"]["http"][0]["route"].as_array().expect("destinations").len(),
        1,
        "the egress split comes after wave/canary, so it goes back too"
    );
    hz.get("Gateway", Some("payments"), "asm-egressgateway"); // created at migrating, it stays
    assert!(repo.read("gitops/asm-migration/state.yaml").contains("step: wave/canary\n"));
    repo.apply("egress/stripe/10");
    assert!(repo.kustomize("clusters/hz").text.contains("weight: 90"));
}

#[test]
fn diff_exit_code_says_whether_the_step_is_in_the_repository() {
    let repo = Repo::fixture("shop");
    let pending = repo.run(&["diff", "--step", "init", "--exit-code"]).failure(1);
    assert!(pending.stdout.contains("+++ b/gitops/asm-migration/asm/asmmigratefromistio.yaml\n"), "{}", pending.stdout);
    assert!(pending.stdout.contains("+  desiredState: Init\n"));
    assert_eq!(
        repo.run(&["diff", "--step", "init"]).success().stdout,
        pending.stdout,
        "without --exit-code a difference exits 0"
    );
    repo.apply("init");
    let same = repo.run(&["diff", "--exit-code"]).success();
    assert_eq!(same.stdout, "");
    let next = repo.run(&["diff", "--step", "next", "--exit-code"]).failure(1);
    assert!(next.stdout.contains("+  desiredState: SetupIstioForMigrate\n"));
}

#[test]
fn a_step_is_needed_before_the_first_apply_and_unknown_steps_are_named() {
    let repo = Repo::fixture("shop");
    let first = repo.run(&["apply"]).failure(2);
    assert_eq!(first.stderr, "error: no step has been applied yet: use --step init (or --step next)\n");
    let unknown = repo.run(&["diff", "--step", "wave/nope"]).failure(2);
    assert!(unknown
        .stderr
        .starts_with("error: unknown step `wave/nope`; the plan's steps are: init, setup, migrating, wave/canary,"));
    assert_eq!(repo.git(&["status", "--porcelain"]), "");
}

#[test]
fn uncommitted_edits_in_files_a_step_rewrites_are_never_overwritten() {
    let repo = Repo::fixture("shop");
    repo.apply("init");
    let edited =
        repo.read("infra/istio/operator.yaml").replace("ISTIO_META_DNS_CAPTURE", "ISTIO_META_DNS_AUTO_ALLOCATE");
    repo.write("infra/istio/operator.yaml", &edited);
    let commits = repo.commit_count();
    let refused = repo.run(&["apply", "--step", "setup", "--commit"]).failure(2);
    assert_eq!(
        refused.stderr,
        "error: uncommitted changes in files this step rewrites: infra/istio/operator.yaml\n\
         commit or stash them first (or pass --allow-dirty)\n"
    );
    assert_eq!(repo.read("infra/istio/operator.yaml"), edited, "the user's edit is intact");
    assert_eq!(repo.commit_count(), commits);
    assert_eq!(repo.git(&["status", "--porcelain"]), " M infra/istio/operator.yaml\n", "nothing else was written");
}

#[test]
fn a_missing_git_identity_stops_the_commit_before_anything_is_written() {
    let repo = Repo::fixture("shop");
    repo.git(&["config", "--unset", "user.name"]);
    repo.git(&["config", "--unset", "user.email"]);
    let home = tempfile::tempdir().expect("a temporary home");
    let output = Command::new(env!("CARGO_BIN_EXE_asm-migrate"))
        .args(["apply", "--step", "init", "--commit"])
        .current_dir(repo.path())
        .env("HOME", home.path())
        .env("XDG_CONFIG_HOME", home.path())
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env_remove("GIT_AUTHOR_NAME")
        .env_remove("GIT_AUTHOR_EMAIL")
        .output()
        .expect("the binary runs");
    assert_eq!(output.status.code(), Some(2));
    assert_eq!(
        String::from_utf8_lossy(&output.stderr),
        "error: no git identity: set user.name and user.email (git config), or GIT_AUTHOR_NAME / GIT_AUTHOR_EMAIL \
         (and GIT_COMMITTER_NAME / GIT_COMMITTER_EMAIL)\n"
    );
    assert_eq!(repo.git(&["status", "--porcelain"]), "", "the repository is as it was");
}

#[test]
fn the_commit_names_the_step_and_carries_the_users_words() {
    let repo = Repo::fixture("shop");
    repo.run(&["apply", "--step", "init", "--commit", "-m", "CHG-1234 approved by the mesh team"]).success();
    repo.apply("setup");
    let message = repo.git(&["log", "-1", "--skip=1", "--format=%B"]);
    assert!(
        message.starts_with("asm-migrate(shop-prod): init (1/12)\n\n- ASMMigrateFromIstio desiredState: Init\n"),
        "{message}"
    );
    assert!(message.contains("\nCHG-1234 approved by the mesh team\n"));
    assert!(message.contains("Migration-Plan: shop-prod\nMigration-Step: init\nMigration-Previous-Step: none\n"));
    let setup = repo.git(&["log", "-1", "--format=%B"]);
    assert!(
        setup.contains("- restart 14 Istio-injected workload(s), 25 replica(s), to pick up PROXY_CONFIG_XDS_AGENT: hz: catalog/search, "),
        "{setup}"
    );
    assert!(setup.contains("Migration-Previous-Step: init\n"));
    assert_eq!(repo.git(&["log", "-1", "--format=%an <%ae>"]).trim(), "Platform Team <platform@example.com>");
}

#[test]
fn render_writes_a_directory_or_one_stream_and_is_deterministic() {
    let repo = Repo::fixture("shop");
    let out = tempfile::tempdir().expect("a temporary directory");
    let target = out.path().join("rendered");
    repo.run(&["render", "--step", "setup", "--out", target.to_str().expect("UTF-8")]).success();
    for file in [
        "state.yaml",
        "asm/kustomization.yaml",
        "asm/asmmigratefromistio.yaml",
        "clusters/hz/restart-values.yaml",
        "clusters/sh/kustomization.yaml",
    ] {
        assert!(target.join(file).is_file(), "{file} is rendered");
    }
    assert_eq!(repo.git(&["status", "--porcelain"]), "", "render does not touch the repository");
    let stream = repo.run(&["render", "--step", "setup", "--only", "cluster/hz", "--out", "-"]).success().stdout;
    assert!(stream.starts_with("# Source: gitops/asm-migration/clusters/hz/"), "{stream}");
    assert!(stream.contains("# Source: gitops/asm-migration/clusters/hz/kustomization.yaml\n"), "{stream}");
    assert_eq!(
        repo.run(&["render", "--step", "setup", "--only", "cluster/hz", "--out", "-"]).success().stdout,
        stream,
        "the same input renders the same bytes"
    );
    let other = Repo::fixture("shop");
    assert_eq!(
        other.run(&["render", "--step", "setup", "--only", "cluster/hz", "--out", "-"]).success().stdout,
        stream,
        "in another clone too"
    );
}

#[test]
fn schema_describes_the_plan_files() {
    let repo = Repo::fixture("shop");
    let schema: Value = serde_json::from_str(&repo.run(&["schema"]).success().stdout).expect("the schema is JSON");
    let validator = jsonschema::validator_for(&schema).expect("the schema compiles");
    for fixture in ["shop", "bookinfo-flux"] {
        let text = std::fs::read_to_string(manifest_dir().join("fixtures/repos").join(fixture).join("migration.yaml"))
            .expect("a plan");
        let plan: Value = serde_saphyr::from_str(&text).expect("the plan parses");
        let errors: Vec<String> = validator.iter_errors(&plan).map(|error| error.to_string()).collect();
        assert!(errors.is_empty(), "{fixture}: {errors:?}");
        let mut wrong = plan.clone();
        wrong["spec"]["engine"] = "helm".into();
        assert!(!validator.is_valid(&wrong), "an unknown engine is refused");
    }
}

/// Every built-in template is rendered by some step of the example: each is overridden by a copy that marks
/// its output, which also exercises `--templates`.
#[test]
fn every_template_is_rendered_by_some_step_and_can_be_overridden() {
    let overrides = tempfile::tempdir().expect("a temporary directory");
    let mut names = Vec::new();
    for entry in walk(&manifest_dir().join("templates")) {
        let name =
            entry.strip_prefix(manifest_dir().join("templates")).expect("inside").to_string_lossy().replace('\\', "/");
        let text = std::fs::read_to_string(&entry).expect("a template");
        let target = overrides.path().join(&name);
        std::fs::create_dir_all(target.parent().expect("a parent")).expect("a directory");
        std::fs::write(target, format!("# rendered-from {name}\n{text}")).expect("the override is written");
        names.push(name);
    }
    let mut seen = String::new();
    // The shop renders every template but those of Helm releases and charts, which podinfo-flux and a shop whose
    // Argo CD Application builds a chart kustomization have, and those of `includeAs: transformers`.
    let repos = [
        Repo::fixture("shop"),
        Repo::fixture("podinfo-flux"),
        crate::helm::shop_with_a_chart_kustomization(),
        crate::transformers::shop_with_hz_as_transformers(),
    ];
    for repo in repos {
        for step in repo.step_ids() {
            let rendered = tempfile::tempdir().expect("a temporary directory");
            let (templates, out) =
                (overrides.path().to_str().expect("UTF-8"), rendered.path().to_str().expect("UTF-8"));
            repo.run(&["--templates", templates, "render", "--step", &step, "--out", out]).success();
            for file in walk(rendered.path()) {
                seen.push_str(&std::fs::read_to_string(file).expect("a rendered file"));
            }
            repo.apply(&step);
        }
    }
    // `init` renders the plan and, with --wire, an Argo CD Application or a Flux Kustomization.
    let templates = overrides.path().to_str().expect("UTF-8");
    for fixture in ["bookinfo-argocd", "podinfo-flux"] {
        let repo = Repo::fixture(fixture);
        let args = ["--templates", templates, "init", "--force", "--wire", "--asm-context", "asm-prod", "-o", "json"];
        let report: serde_json::Value = serde_json::from_str(&repo.run(&args).success().stdout).expect("JSON");
        seen.push_str(&repo.read("migration.yaml"));
        seen.push_str(&repo.read(report["wiring"]["asmApplier"]["path"].as_str().expect("a file written")));
    }
    for name in &names {
        assert!(seen.contains(&format!("# rendered-from {name}\n")), "template {name} is never rendered");
    }
}

#[test]
fn a_template_using_an_undefined_value_is_an_error_naming_it() {
    let repo = Repo::fixture("shop");
    let overrides = tempfile::tempdir().expect("a temporary directory");
    std::fs::create_dir_all(overrides.path().join("asm")).expect("a directory");
    std::fs::write(
        overrides.path().join("asm/asmmigratefromistio.yaml.j2"),
        "spec:\n  desiredState: {{ desired_phase }}\n",
    )
    .expect("written");
    let failed = repo
        .run(&["--templates", overrides.path().to_str().expect("UTF-8"), "render", "--step", "init", "--only", "asm"])
        .failure(2);
    assert!(failed.stderr.starts_with("error: undefined value"), "{}", failed.stderr);
    assert!(failed.stderr.contains("asm/asmmigratefromistio.yaml.j2"), "{}", failed.stderr);
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).expect("a directory").flatten() {
        if entry.path().is_dir() {
            files.extend(walk(&entry.path()));
        } else {
            files.push(entry.path());
        }
    }
    files.sort();
    files
}

#[test]
fn render_only_asm_prints_the_control_plane_manifests_for_a_config_management_plugin() {
    let repo = Repo::fixture("shop");
    for step in ["init", "setup", "migrating", "wave/canary", "wave/payments", "wave/rest", "egress/stripe/1"] {
        repo.apply(step);
    }
    let stream = repo.run(&["render", "--step", "current", "--only", "asm", "--out", "-"]).success().stdout;
    let objects: Vec<Value> = serde_saphyr::from_multiple(&stream).expect("one YAML stream");
    let kinds: Vec<(&str, &str)> = objects
        .iter()
        .map(|object| (object["kind"].as_str().unwrap_or(""), object["metadata"]["name"].as_str().unwrap_or("")))
        .collect();
    // The files of asm/ in order: Istio's config imported (issue 9) comes between ASMMigrateFromIstio and the
    // IstioGateways.
    assert_eq!(
        kinds,
        [
            ("ASMMigrateFromIstio", "default"),
            ("Gateway", "cross-network-gateway"),
            ("DestinationRule", "egressgateway-for-stripe"),
            ("Gateway", "asm-egressgateway"),
            ("Gateway", "istio-egressgateway"),
            ("Namespace", "payments"),
            ("ServiceEntry", "stripe"),
            ("VirtualService", "stripe-through-egress-gateway"),
            ("Gateway", "storefront-gateway"),
            ("Namespace", "storefront"),
            ("VirtualService", "storefront"),
            ("IstioGateway", "asm-egressgateway"),
            ("IstioGateway", "ingressgateway-asm")
        ]
    );
    assert_eq!(objects[0]["spec"]["desiredState"], "Migrating");
    let hz = repo.run(&["render", "--only", "cluster/hz", "--out", "-"]).success().stdout;
    assert!(hz.starts_with("# Source: gitops/asm-migration/clusters/hz/"), "{hz}");
    let wrong = repo.run(&["render", "--only", "cluster/nope"]).failure(2);
    assert_eq!(
        wrong.stderr,
        "error: --only takes `asm` or `cluster/<name>` of a cluster of the plan, not `cluster/nope`\n"
    );
}
