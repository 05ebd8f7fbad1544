//! Gates: `status`, `advance`, `retry` against fake API servers on 127.0.0.1 (through a kubeconfig) and against
//! snapshot directories, which must agree.

use crate::fake::{FakeWorld, Serving, World};
use crate::support::{Repo, Run};

/// Where the gates read from in a test.
pub enum Via {
    Snapshot,
    Live,
}

/// Runs `args` with the world observed through `via`; returns the run and, when live, the fake servers.
pub fn observe(repo: &Repo, world: &World, via: Via, args: &[&str]) -> (Run, Option<FakeWorld>) {
    let dir = tempfile::tempdir().expect("a temporary directory");
    match via {
        Via::Snapshot => {
            world.write_snapshot(dir.path());
            let mut all: Vec<&str> = args.to_vec();
            let snapshot = dir.path().to_str().expect("UTF-8").to_owned();
            all.extend(["--snapshot", &snapshot]);
            (repo.run(&all), None)
        }
        Via::Live => {
            let fake = FakeWorld::serve(world, FakeWorld::asm(world));
            let kubeconfig = dir.path().join("kubeconfig");
            fake.write_kubeconfig(&kubeconfig);
            let mut all: Vec<&str> = vec!["--kubeconfig", kubeconfig.to_str().expect("UTF-8")];
            all.extend(args);
            (repo.run_with(&all, &[("ASM_MIGRATE_CLUSTER_TIMEOUT", "5")]), Some(fake))
        }
    }
}

fn both(check: impl Fn(Via)) {
    check(Via::Snapshot);
    check(Via::Live);
}

#[test]
fn setup_waits_for_every_proxy_to_carry_the_xds_agent_then_advances() {
    both(|via| {
        let repo = Repo::fixture("shop").at("setup");
        let commits = repo.commit_count();
        let not_restarted = World::shop().switched("SetupIstioForMigrate");
        let live = matches!(via, Via::Live);
        let (run, fake) = observe(&repo, &not_restarted, via, &["advance", "--commit"]);
        let run = run.failure(1);
        assert!(run.stdout.contains("ASM switched                          met\n"), "{}", run.stdout);
        assert!(
            run.stdout.contains("proxies carry PROXY_CONFIG_XDS_AGENT  unmet  25 Istio-injected pod(s) without PROXY_CONFIG_XDS_AGENT=true (not restarted yet?): hz: payments/api-5d8f7c-0, "),
            "{}",
            run.stdout
        );
        assert!(run.stdout.contains(" and 15 more\n"), "long lists are counted");
        assert!(run.stdout.ends_with("not advancing to migrating: 1 gate(s) of setup unmet\n"));
        assert_eq!(repo.commit_count(), commits, "no commit when a gate is unmet");
        if let Some(fake) = fake {
            assert_eq!(fake.writes(), Vec::<String>::new(), "the tool sent no writing request");
        }

        let restarted =
            World::shop().switched("SetupIstioForMigrate").every_workload(|workload| workload.xds_agent = true);
        let via = if live { Via::Live } else { Via::Snapshot };
        let (run, _) = observe(&repo, &restarted, via, &["advance", "--commit"]);
        run.success();
        assert_eq!(repo.head_subject(), "asm-migrate(shop-prod): migrating (3/12)");
    });
}

/// The checkout stays on main (no step); the branch is at `setup`: its gates are the ones judged.
#[test]
fn advance_on_a_branch_judges_the_step_the_branch_is_at() {
    let repo = Repo::fixture("shop");
    for step in ["init", "setup"] {
        repo.run(&["apply", "--step", step, "--commit", "--branch", "asm-migrate/shop"]).success();
    }
    let not_restarted = World::shop().switched("SetupIstioForMigrate");
    let args = ["advance", "--commit", "--branch", "asm-migrate/shop"];
    let (run, _) = observe(&repo, &not_restarted, Via::Snapshot, &args);
    let run = run.failure(1);
    assert!(run.stdout.starts_with("plan shop-prod: step setup (2/12)\n"), "{}", run.stdout);
    assert!(run.stdout.ends_with("not advancing to migrating: 1 gate(s) of setup unmet\n"));
    let restarted = not_restarted.every_workload(|workload| workload.xds_agent = true);
    observe(&repo, &restarted, Via::Snapshot, &args).0.success();
    assert_eq!(
        repo.git(&["log", "-1", "--format=%s", "asm-migrate/shop"]).trim(),
        "asm-migrate(shop-prod): migrating (3/12)"
    );
    assert_eq!(repo.commit_count(), 1, "the checkout's branch did not move");
}

#[test]
fn setup_waits_for_asm_s_istio_injection_label_to_leave_istio_system() {
    both(|via| {
        let repo = Repo::fixture("shop").at("setup");
        let mut world =
            World::shop().switched("SetupIstioForMigrate").every_workload(|workload| workload.xds_agent = true);
        world.istio_injection.insert("hz", "disable");
        let (run, _) = observe(&repo, &world, via, &["advance", "--commit"]);
        let run = run.failure(1);
        assert!(
            run.stdout.contains(
                "istio-system injectable               unmet  istio-system still carries istio-injection in hz (istio-injection: disable): has the GitOps engine synced the namespace?\n"
            ),
            "{}",
            run.stdout
        );
        assert!(run.stdout.ends_with("not advancing to migrating: 1 gate(s) of setup unmet\n"));
    });
}

#[test]
fn a_switch_asm_reports_as_failed_is_quoted_and_retried() {
    both(|via| {
        let live = matches!(via, Via::Live);
        let repo = Repo::fixture("shop").at("init");
        let mut failed = World::shop();
        failed.status_retry_counter = 0;
        failed.message = "istio-system still has istio-injection: disable";
        let (run, _) = observe(&repo, &failed, via, &["status"]);
        let run = run.failure(1);
        assert!(run.stdout.contains("ASM: desiredState Init, state Init, retryCounter 0/0, message \"istio-system still has istio-injection: disable\"\n"), "{}", run.stdout);
        assert!(run.stdout.contains("unmet  ASM reports: \"istio-system still has istio-injection: disable\": fix what it names, then run `asm-migrate retry`"));

        let via = if live { Via::Live } else { Via::Snapshot };
        let (run, _) = observe(&repo, &failed, via, &["retry", "--commit"]);
        let run = run.success();
        assert!(run.stdout.starts_with(
            "ASM reports: \"istio-system still has istio-injection: disable\"; retrying step init (retryCounter 1)\n"
        ));
        assert_eq!(repo.head_subject(), "asm-migrate(shop-prod): init (1/12)");
        assert!(repo.read("gitops/asm-migration/asm/asmmigratefromistio.yaml").contains("  retryCounter: 1\n"));

        let fine = World::shop();
        let via = if live { Via::Live } else { Via::Snapshot };
        let (run, _) = observe(&repo, &fine, via, &["retry", "--commit"]);
        let run = run.failure(1);
        assert_eq!(run.stdout, "nothing to retry: ASM reports no failed switch for step init\n");
    });
}

#[test]
fn the_engine_not_having_applied_the_step_is_unmet() {
    let repo = Repo::fixture("shop").at("setup");
    let (run, _) = observe(&repo, &World::shop(), Via::Snapshot, &["status", "--output", "json"]);
    let report: serde_json::Value = serde_json::from_str(&run.failure(1).stdout).expect("JSON");
    assert_eq!(report["ready"], false);
    assert_eq!(report["gates"][0]["outcome"], "unmet");
    assert_eq!(
        report["gates"][0]["reason"],
        "ASM has desiredState Init and retryCounter 0, the repository SetupIstioForMigrate and 0: the GitOps engine has not applied the step yet"
    );
}

#[test]
fn several_networks_need_a_confirmation_recorded_with_its_author() {
    let repo = Repo::fixture("shop").at("migrating");
    let migrating = World::shop()
        .switched("Migrating")
        .every_workload(|workload| workload.xds_agent = true)
        .with_asm_gateways(&["asm-egressgateway", "ingressgateway-asm"]);
    let (run, _) = observe(&repo, &migrating, Via::Snapshot, &["advance", "--commit"]);
    let run = run.failure(1);
    assert!(run.stdout.contains("ASM gateways rolled out  met\n"), "{}", run.stdout);
    assert!(
        run.stdout
            .contains("confirmed                confirm  no API shows that ASM's cross-cluster gateway is deployed"),
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains("confirm it with `asm-migrate advance --confirm migrating`"));

    let (wrong, _) = observe(&repo, &migrating, Via::Snapshot, &["advance", "--confirm", "setup", "--commit"]);
    assert_eq!(
        wrong.failure(2).stderr,
        "error: --confirm setup: the repository is at step migrating; confirm migrating (its gates) or wave/canary (its \
         preconditions)\n"
    );

    let (run, _) = observe(&repo, &migrating, Via::Snapshot, &["advance", "--confirm", "migrating", "--commit"]);
    run.success();
    assert_eq!(repo.head_subject(), "asm-migrate(shop-prod): wave/canary (4/12)");
    let state = repo.read("gitops/asm-migration/state.yaml");
    assert!(state.contains("confirmations:\n- step: migrating\n  at: "), "{state}");
    assert!(state.contains("  by: Platform Team <platform@example.com>\n"));
    assert!(repo
        .git(&["log", "-1", "--format=%B"])
        .contains("Migration-Confirmed: migrating by Platform Team <platform@example.com>\n"));
}

#[test]
fn a_wave_waits_for_its_pods_on_the_asm_proxy_and_force_is_recorded() {
    let repo = Repo::fixture("shop").at("wave/canary");
    let mut world = World::shop().switched("Migrating").every_workload(|workload| workload.xds_agent = true);
    let (run, _) = observe(&repo, &world, Via::Snapshot, &["advance", "--commit"]);
    let run = run.failure(1);
    assert!(
        run.stdout.contains("pods on the ASM proxy  unmet  3 pod(s) of moved workloads not on the ASM proxy and ready: hz: payments/api-5d8f7c-0 (not on the ASM proxy)"),
        "{}",
        run.stdout
    );

    for workload in world.clusters.get_mut("hz").expect("hz") {
        if workload.name == "api" {
            workload.on_asm = true;
            workload.rollout_complete = false;
        }
    }
    let (run, _) = observe(&repo, &world, Via::Snapshot, &["advance", "--commit"]);
    let run = run.failure(1);
    assert!(
        run.stdout.contains(
            "rollouts complete      unmet  1 rollout(s) not complete: hz: payments/api (2 of 3 updated, 2 ready)"
        ),
        "{}",
        run.stdout
    );

    let (run, _) = observe(&repo, &world, Via::Snapshot, &["advance", "--force", "--commit"]);
    let run = run.success();
    assert!(run.stdout.starts_with(
        "--force: advancing to wave/payments with 1 gate(s) of wave/canary unmet; state.yaml records it\n"
    ));
    assert!(repo.read("gitops/asm-migration/state.yaml").contains("gatesSkipped:\n- step: wave/canary\n"));
    assert!(repo
        .git(&["log", "-1", "--format=%B"])
        .contains("Migration-Gates-Skipped: wave/canary by Platform Team <platform@example.com>\n"));
}

#[test]
fn status_wait_gives_up_at_the_timeout() {
    let repo = Repo::fixture("shop").at("setup");
    let started = std::time::Instant::now();
    let (run, _) = observe(
        &repo,
        &World::shop().switched("SetupIstioForMigrate"),
        Via::Snapshot,
        &["status", "--wait", "--timeout", "1s"],
    );
    run.failure(1);
    assert!(started.elapsed() >= std::time::Duration::from_secs(1));
    let (run, _) = observe(
        &repo,
        &World::shop().switched("SetupIstioForMigrate").every_workload(|workload| workload.xds_agent = true),
        Via::Snapshot,
        &["status", "--wait", "--timeout", "30s"],
    );
    assert!(run.success().stdout.contains("proxies carry PROXY_CONFIG_XDS_AGENT  met\n"));
}

fn live_error(asm: Serving, hz_refuses: Option<u16>) -> String {
    let repo = Repo::fixture("shop").at("init");
    let world = World::shop();
    let mut fake = FakeWorld::serve(&world, asm);
    if let Some(code) = hz_refuses {
        fake.servers.insert("ack-hz", crate::fake::FakeApiServer::start(Serving::Refuse(code)));
    }
    let dir = tempfile::tempdir().expect("a temporary directory");
    let kubeconfig = dir.path().join("kubeconfig");
    fake.write_kubeconfig(&kubeconfig);
    let run = repo.run_with(
        &["--kubeconfig", kubeconfig.to_str().expect("UTF-8"), "status"],
        &[("ASM_MIGRATE_CLUSTER_TIMEOUT", "5")],
    );
    let run = run.failure(2);
    assert!(fake.writes().is_empty());
    run.stderr.replace(&fake.servers["asm-prod"].url, "ASM").replace(&fake.servers["ack-hz"].url, "HZ")
}

#[test]
fn a_missing_resource_another_version_a_403_and_an_unreachable_server_are_named() {
    assert_eq!(
        live_error(Serving::Asm { version: "v1beta1", object: None, istio_objects: Vec::new() }, None),
        "error: context asm-prod (ASM): ASMMigrateFromIstio/default does not exist: the cluster is not added to ASM yet (ASM creates it then)\n"
    );
    assert_eq!(
        live_error(Serving::Asm { version: "v1", object: Some(World::shop().asm_object()), istio_objects: Vec::new() }, None),
        "error: context asm-prod (ASM): ASMMigrateFromIstio is served as istio.alibabacloud.com/v1, not istio.alibabacloud.com/v1beta1: set spec.asm.apiVersion in the plan\n"
    );
    let forbidden = live_error(FakeWorld::asm(&World::shop()), Some(403));
    assert!(
        forbidden.starts_with("error: context ack-hz (HZ): forbidden (403) reading pods: asm-migrate needs get and list on it (User \"ci\" cannot list"),
        "{forbidden}"
    );

    let repo = Repo::fixture("shop").at("init");
    let closed = std::net::TcpListener::bind("127.0.0.1:0").expect("a port").local_addr().expect("an address");
    let dir = tempfile::tempdir().expect("a temporary directory");
    let kubeconfig = dir.path().join("kubeconfig");
    std::fs::write(
        &kubeconfig,
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: asm\n  cluster:\n    server: http://{closed}\ncontexts:\n- name: asm-prod\n  context:\n    cluster: asm\n    user: ci\nusers:\n- name: ci\n  user:\n    token: t\n"
        ),
    )
    .expect("written");
    let started = std::time::Instant::now();
    let run = repo
        .run_with(
            &["--kubeconfig", kubeconfig.to_str().expect("UTF-8"), "status"],
            &[("ASM_MIGRATE_CLUSTER_TIMEOUT", "3")],
        )
        .failure(2);
    assert!(
        run.stderr.starts_with(&format!("error: context asm-prod (http://{closed}): cannot reach the API server: ")),
        "{}",
        run.stderr
    );
    assert!(started.elapsed() < std::time::Duration::from_secs(20), "within a bounded time");
}

#[test]
fn without_a_kubeconfig_status_says_which_file_it_looked_for() {
    let repo = Repo::fixture("shop").at("init");
    let home = tempfile::tempdir().expect("a temporary home");
    let run =
        repo.run_with(&["status"], &[("HOME", home.path().to_str().expect("UTF-8")), ("KUBECONFIG", "")]).failure(2);
    assert_eq!(
        run.stderr,
        format!(
            "error: cannot read the kubeconfig {}/.kube/config: No such file or directory (os error 2)\n",
            home.path().display()
        )
    );
}
