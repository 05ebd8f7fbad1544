//! The test harness: a fixture copied into a temporary git repository, the binary run in it, outputs built.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex, OnceLock};

use serde_json::Value;

/// A fixed clock for restart stamps, so rendered files are the same on every run.
pub const SOURCE_DATE_EPOCH: &str = "1767225600"; // 2026-01-01T00:00:00Z
pub const STAMP: &str = "2026-01-01T00:00:00Z";

pub fn manifest_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Repositories taken to a step, by their history (`Repo::history_key`), shared by the tests of this process: each
/// is made once, and `Repo::at` copies it. They live in a directory of this process's own under the temporary
/// directory; a later run removes those of processes that have ended.
struct StepCache;

impl StepCache {
    fn cells() -> &'static Mutex<HashMap<String, Arc<OnceLock<Repo>>>> {
        static CELLS: OnceLock<Mutex<HashMap<String, Arc<OnceLock<Repo>>>>> = OnceLock::new();
        CELLS.get_or_init(Mutex::default)
    }

    fn cell(key: String) -> Arc<OnceLock<Repo>> {
        let mut cells = StepCache::cells().lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        Arc::clone(cells.entry(key).or_default())
    }

    /// This process's directory, made (and those of ended processes removed) on first use.
    fn dir() -> PathBuf {
        static DIR: OnceLock<PathBuf> = OnceLock::new();
        DIR.get_or_init(|| {
            let prefix = "asm-migrate-steps-";
            for entry in std::fs::read_dir(std::env::temp_dir()).into_iter().flatten().flatten() {
                let name = entry.file_name().to_string_lossy().into_owned();
                let ended = name
                    .strip_prefix(prefix)
                    .is_some_and(|pid| !Path::new("/proc").join(pid).exists() && pid.parse::<u32>().is_ok());
                if ended {
                    let _ = std::fs::remove_dir_all(entry.path());
                }
            }
            let dir = std::env::temp_dir().join(format!("{prefix}{}", std::process::id()));
            std::fs::create_dir_all(&dir).expect("the step cache's directory");
            dir
        })
        .clone()
    }
}

/// A git repository in a temporary directory, made from `fixtures/repos/<name>`.
pub struct Repo {
    dir: tempfile::TempDir,
}

pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    pub fn of(output: std::process::Output) -> Run {
        Run {
            code: output.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }

    #[track_caller]
    pub fn success(self) -> Run {
        assert_eq!(self.code, 0, "expected success\nstdout:\n{}\nstderr:\n{}", self.stdout, self.stderr);
        self
    }

    #[track_caller]
    pub fn failure(self, code: i32) -> Run {
        assert_eq!(self.code, code, "expected exit {code}\nstdout:\n{}\nstderr:\n{}", self.stdout, self.stderr);
        self
    }
}

/// The environment asm-migrate runs in under test: a fixed clock, no colours, the repository's own git identity.
pub fn tool_environment(command: &mut Command) -> &mut Command {
    command
        .env("SOURCE_DATE_EPOCH", SOURCE_DATE_EPOCH)
        .env("NO_COLOR", "1")
        .env_remove("GIT_AUTHOR_NAME")
        .env_remove("GIT_AUTHOR_EMAIL")
        .env_remove("GIT_COMMITTER_NAME")
        .env_remove("GIT_COMMITTER_EMAIL")
}

impl Repo {
    /// `fixtures/repos/<name>` in a git repository of its own, committed once as `initial`.
    pub fn fixture(name: &str) -> Repo {
        Repo::committed_copy_of("fixtures/repos", name)
    }

    /// `fixtures/corpus/<name>`, a real repository of the corpus, in a git repository of its own.
    pub fn corpus(name: &str) -> Repo {
        Repo::committed_copy_of("fixtures/corpus", name)
    }

    /// `<root>/<name>` in a git repository of its own, committed once as `initial`. The first test of this process
    /// to ask for it makes it (in the step cache's directory); every test gets a copy.
    fn committed_copy_of(root: &str, name: &str) -> Repo {
        let cell = StepCache::cell(format!("{root}/{name}"));
        let made = cell.get_or_init(|| {
            let dir = tempfile::Builder::new()
                .prefix(&format!("asm-migrate-{name}-"))
                .tempdir_in(StepCache::dir())
                .expect("a temporary directory");
            copy_dir(&manifest_dir().join(root).join(name), dir.path());
            let repo = Repo { dir };
            repo.git(&["init", "-q", "-b", "main"]);
            repo.git(&["config", "user.name", "Platform Team"]);
            repo.git(&["config", "user.email", "platform@example.com"]);
            repo.git(&["config", "commit.gpgsign", "false"]);
            repo.git(&["add", "-A"]);
            repo.git(&["commit", "-q", "-m", "initial"]);
            repo
        });
        made.copied_with_prefix(&format!("asm-migrate-{name}-"), std::env::temp_dir())
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// A copy of this repository, its `.git` included, as it is now.
    pub fn copied(&self) -> Repo {
        self.copied_into(std::env::temp_dir())
    }

    /// A copy of this repository in a new directory under `parent`.
    fn copied_into(&self, parent: PathBuf) -> Repo {
        self.copied_with_prefix("asm-migrate-copy-", parent)
    }

    /// A copy of this repository in a new directory `<prefix>...` under `parent`, made in this process (files keep
    /// their modes and modification times, as `cp -a` keeps them).
    fn copied_with_prefix(&self, prefix: &str, parent: PathBuf) -> Repo {
        let dir = tempfile::Builder::new().prefix(prefix).tempdir_in(parent).expect("a temporary directory");
        copy_dir(self.path(), dir.path());
        Repo { dir }
    }

    /// This repository with `from` replaced by `to` in `file` (`from` must occur exactly once).
    #[track_caller]
    pub fn edited(self, file: &str, from: &str, to: &str) -> Repo {
        let text = self.read(file);
        assert_eq!(text.matches(from).count(), 1, "`{from}` occurs exactly once in {file}");
        self.write(file, &text.replacen(from, to, 1));
        self
    }

    /// This repository with every change committed.
    pub fn committed(self, message: &str) -> Repo {
        self.git(&["add", "-A"]);
        self.git(&["commit", "-qm", message]);
        self
    }

    /// This repository with every step up to and including `last` applied, one commit each. The first test to ask
    /// for a repository at a step takes the steps through the binary; the others with the same history get a copy
    /// of what it made (`StepCache`), as a fixture holding that state would give them.
    #[track_caller]
    pub fn at(self, last: &str) -> Repo {
        let Some(key) = self.history_key(last) else {
            self.apply_through(last);
            return self;
        };
        let cell = StepCache::cell(key);
        let taken = cell.get_or_init(|| {
            let taken = self.copied_into(StepCache::dir());
            taken.apply_through(last);
            taken
        });
        taken.copied()
    }

    /// What makes this repository's state at `last` (the step, then every commit's tree and subject), when
    /// nothing else does: a clean working tree, no remote, no run of asm-migrate under way in it.
    fn history_key(&self, last: &str) -> Option<String> {
        let clean = self.git(&["status", "--porcelain", "--ignored"]).is_empty();
        let remotes = self.git(&["remote"]);
        let under_way = self.path().join(".git/asm-migrate").exists();
        (clean && remotes.is_empty() && !under_way).then(|| format!("{last}\n{}", self.git(&["log", "--format=%T %s"])))
    }

    /// Applies `step` with `--commit`, which must succeed.
    #[track_caller]
    pub fn apply(&self, step: &str) {
        self.apply_run(step).success();
    }

    /// Runs `apply --step <step> --commit`, with `--force` for a step that has preconditions (its kind says, read
    /// in-process through the library): a test without clusters has nothing to check them against.
    pub fn apply_run(&self, step: &str) -> Run {
        let mut args = vec!["apply", "--step", step, "--commit"];
        if self.has_preconditions(step) {
            args.push("--force");
        }
        self.run(&args)
    }

    /// Whether `step` of this repository's plan has preconditions; a step the plan does not have has none (the
    /// binary then says what is wrong with it). Preconditions are a kind's (every egress shift has them, no wave
    /// has): the answer is read once per kind, for every test of this process.
    fn has_preconditions(&self, step: &str) -> bool {
        static ANSWERS: OnceLock<Mutex<HashMap<String, bool>>> = OnceLock::new();
        let kind = step.split('/').next().unwrap_or_default().to_owned();
        let answers = ANSWERS.get_or_init(Mutex::default);
        if let Some(known) = answers.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).get(&kind) {
            return *known;
        }
        let workplace =
            asm_migrate::commands::Workplace { plan: None, repo: Some(self.path().to_owned()), templates: None };
        let (Ok(migration), Ok(step)) = (workplace.open(), step.parse()) else { return false };
        if migration.plan.step(&step).is_none() {
            return false;
        }
        let answer = migration.precondition_names(&step).is_ok_and(|names| !names.is_empty());
        answers.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).insert(kind, answer);
        answer
    }

    /// The plan's steps as `steps --output json` lists them.
    #[track_caller]
    pub fn steps(&self) -> Vec<Value> {
        let listed: Value =
            serde_json::from_str(&self.run(&["steps", "--output", "json"]).success().stdout).expect("JSON");
        assert_eq!(listed["schemaVersion"], 1, "{listed}");
        listed["steps"].as_array().expect("a list of steps").clone()
    }

    /// The ids of the plan's steps, in order.
    #[track_caller]
    pub fn step_ids(&self) -> Vec<String> {
        self.steps().iter().map(|step| step["id"].as_str().expect("an id").to_owned()).collect()
    }

    /// Applies, one commit each, every step of the plan not applied yet, up to and including `last`.
    #[track_caller]
    pub fn apply_through(&self, last: &str) {
        let steps = self.steps();
        let pending = steps.iter().filter(|step| step["applied"] == false);
        for id in pending.map(|step| step["id"].as_str().expect("an id").to_owned()) {
            self.apply(&id);
            if id == last {
                return;
            }
        }
        panic!("step {last} is not among the steps to apply");
    }

    /// This repository with a bare `origin` it has pushed `main` to.
    pub fn with_origin(name: &str) -> (Repo, Origin) {
        let repo = Repo::fixture(name);
        let origin = Origin::new();
        repo.git(&["remote", "add", "origin", origin.path().to_str().expect("UTF-8")]);
        repo.git(&["push", "-q", "origin", "main"]);
        (repo, origin)
    }

    /// A second clone of `origin`, as a colleague or another CI job has it.
    pub fn clone_of(origin: &Origin) -> Repo {
        let dir = tempfile::Builder::new().prefix("asm-migrate-clone-").tempdir().expect("a temporary directory");
        let repo = Repo { dir };
        repo.git(&["clone", "-q", origin.path().to_str().expect("UTF-8"), "."]);
        repo.git(&["config", "user.name", "Another Engineer"]);
        repo.git(&["config", "user.email", "another@example.com"]);
        repo
    }

    /// Runs asm-migrate in the repository with a fixed clock.
    pub fn run(&self, args: &[&str]) -> Run {
        self.run_with(args, &[])
    }

    /// Runs asm-migrate with extra environment variables.
    pub fn run_with(&self, args: &[&str], environment: &[(&str, &str)]) -> Run {
        let output =
            self.command(args).envs(environment.iter().copied()).output().expect("the asm-migrate binary runs");
        Run::of(output)
    }

    /// asm-migrate as the tests run it (a fixed clock, no colours, the repository's own git identity), to run or to
    /// start in the background.
    pub fn command(&self, args: &[&str]) -> Command {
        self.command_under(&[], args)
    }

    /// asm-migrate run by another program (`strace ...`, `sh -c ...`), which is given the binary, then `args`.
    pub fn command_under(&self, wrapper: &[&str], args: &[&str]) -> Command {
        let binary = env!("CARGO_BIN_EXE_asm-migrate");
        let mut command = match wrapper.split_first() {
            Some((program, rest)) => {
                let mut command = Command::new(program);
                command.args(rest).arg(binary);
                command
            }
            None => Command::new(binary),
        };
        command.args(args).current_dir(self.path());
        tool_environment(&mut command);
        command
    }

    /// Runs asm-migrate, killing it when it takes longer than `limit` (a test must not hang on a hang).
    #[track_caller]
    pub fn run_within(&self, args: &[&str], limit: std::time::Duration) -> Run {
        let mut child = self
            .command(args)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("the asm-migrate binary runs");
        let started = std::time::Instant::now();
        while child.try_wait().expect("the child is waited for").is_none() {
            if started.elapsed() > limit {
                let _ = child.kill();
                panic!("asm-migrate {args:?} still ran after {limit:?}");
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        Run::of(child.wait_with_output().expect("its output"))
    }

    #[track_caller]
    pub fn git(&self, args: &[&str]) -> String {
        let output = Command::new("git").args(args).current_dir(self.path()).output().expect("git runs");
        assert!(output.status.success(), "git {args:?} failed: {}", String::from_utf8_lossy(&output.stderr));
        String::from_utf8_lossy(&output.stdout).into_owned()
    }

    pub fn commit_count(&self) -> usize {
        self.git(&["rev-list", "--count", "HEAD"]).trim().parse().expect("a count")
    }

    pub fn head_subject(&self) -> String {
        self.git(&["log", "-1", "--format=%s"]).trim().to_owned()
    }

    pub fn read(&self, path: &str) -> String {
        std::fs::read_to_string(self.path().join(path)).unwrap_or_else(|error| panic!("cannot read {path}: {error}"))
    }

    pub fn exists(&self, path: &str) -> bool {
        self.path().join(path).exists()
    }

    pub fn write(&self, path: &str, text: &str) {
        let target = self.path().join(path);
        std::fs::create_dir_all(target.parent().expect("a parent")).expect("a directory");
        std::fs::write(target, text).expect("the file is written");
    }

    /// `kubectl kustomize DIR`, as Argo CD and Flux build it; panics with kustomize's message when it fails.
    #[track_caller]
    pub fn kustomize(&self, dir: &str) -> Built {
        let output =
            Command::new("kubectl").args(["kustomize", dir]).current_dir(self.path()).output().expect("kubectl runs");
        assert!(
            output.status.success(),
            "kubectl kustomize {dir} failed:\n{}",
            String::from_utf8_lossy(&output.stderr)
        );
        let text = String::from_utf8(output.stdout).expect("UTF-8 output");
        let objects = serde_saphyr::from_multiple(&text).expect("kustomize output parses");
        Built { text, objects }
    }
}

/// A bare repository standing for the team's remote.
pub struct Origin {
    dir: tempfile::TempDir,
}

impl Origin {
    pub fn new() -> Origin {
        let dir = tempfile::Builder::new().prefix("asm-migrate-origin-").tempdir().expect("a temporary directory");
        let output = Command::new("git")
            .args(["init", "-q", "--bare", "-b", "main"])
            .current_dir(dir.path())
            .output()
            .expect("git runs");
        assert!(output.status.success());
        Origin { dir }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// The subjects of a branch's commits, newest first; empty when the branch does not exist.
    pub fn subjects(&self, branch: &str) -> Vec<String> {
        let output = Command::new("git")
            .args(["log", "--format=%s", branch, "--"])
            .current_dir(self.path())
            .output()
            .expect("git runs");
        String::from_utf8_lossy(&output.stdout).lines().map(str::to_owned).collect()
    }

    /// Installs a server-side hook (for example a pre-receive that declines pushes).
    pub fn hook(&self, name: &str, script: &str) {
        let path = self.path().join("hooks").join(name);
        std::fs::write(&path, script).expect("the hook is written");
        make_executable(&path);
    }
}

pub fn make_executable(path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).expect("the file is made executable");
}

/// The objects one directory builds to.
pub struct Built {
    pub text: String,
    pub objects: Vec<Value>,
}

impl Built {
    /// The destinations of the mesh route of an egress VirtualService (the http route matching `gateways:
    /// [mesh]`): host and weight.
    #[track_caller]
    pub fn mesh_route(&self, namespace: &str, name: &str) -> Vec<(String, Option<i64>)> {
        let service = self.get("VirtualService", Some(namespace), name);
        let routes = service["spec"]["http"].as_array().expect("http routes");
        let mesh = routes
            .iter()
            .find(|route| route["match"][0]["gateways"] == serde_json::json!(["mesh"]))
            .expect("a mesh route");
        mesh["route"]
            .as_array()
            .expect("destinations")
            .iter()
            .map(|d| (d["destination"]["host"].as_str().unwrap_or_default().to_owned(), d["weight"].as_i64()))
            .collect()
    }

    #[track_caller]
    pub fn get(&self, kind: &str, namespace: Option<&str>, name: &str) -> &Value {
        self.objects
            .iter()
            .find(|object| {
                object["kind"] == kind
                    && object["metadata"]["name"] == name
                    && object["metadata"]["namespace"].as_str() == namespace
            })
            .unwrap_or_else(|| panic!("{kind} {namespace:?}/{name} is not in the build"))
    }

    /// `namespace/name` of every workload whose pod template satisfies `predicate`, sorted.
    pub fn workloads_where(&self, predicate: impl Fn(&Value) -> bool) -> Vec<String> {
        let mut names: Vec<String> = self
            .objects
            .iter()
            .filter(|object| matches!(object["kind"].as_str(), Some("Deployment" | "StatefulSet" | "DaemonSet")))
            .filter(|object| predicate(&object["spec"]["template"]["metadata"]))
            .map(|object| {
                format!(
                    "{}/{}",
                    object["metadata"]["namespace"].as_str().unwrap_or(""),
                    object["metadata"]["name"].as_str().unwrap_or("")
                )
            })
            .collect();
        names.sort();
        names
    }
}

pub fn restarted(template: &Value) -> bool {
    template["annotations"]["kubectl.kubernetes.io/restartedAt"].is_string()
}

pub fn on_asm(template: &Value) -> bool {
    template["labels"]["sidecar.asm.aliyun.com/inject"] == "true"
}

/// Copies the tree `from` into `to`: directories, files with their modes (and the modification times of those
/// that are writable), and symbolic links as links.
fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("a directory");
    for entry in std::fs::read_dir(from).unwrap_or_else(|error| panic!("cannot read {}: {error}", from.display())) {
        let entry = entry.expect("a directory entry");
        let target = to.join(entry.file_name());
        let file_type = entry.file_type().expect("a file type");
        if file_type.is_dir() {
            copy_dir(&entry.path(), &target);
        } else if file_type.is_symlink() {
            let link = std::fs::read_link(entry.path()).expect("a link");
            std::os::unix::fs::symlink(link, &target).expect("the link is made");
        } else {
            std::fs::copy(entry.path(), &target).expect("the file is copied");
            // The work tree's times keep git's index fresh in the copy; git's objects are read-only, and their
            // times matter to nothing.
            let modified = entry.metadata().and_then(|metadata| metadata.modified()).expect("a modification time");
            if let Ok(file) = std::fs::File::options().write(true).open(&target) {
                file.set_modified(modified).expect("the modification time is kept");
            }
        }
    }
}

/// Asserts that the golden file `relative` (from the crate's root) holds `actual`, showing the difference when it
/// does not; with `UPDATE_GOLDEN` set, writes it instead, for review.
#[track_caller]
pub fn matches_golden(relative: &str, actual: &str) {
    let path = manifest_dir().join(relative);
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::create_dir_all(path.parent().expect("a parent")).expect("a directory");
        std::fs::write(&path, actual).expect("the golden file is written");
        return;
    }
    let expected = std::fs::read_to_string(&path)
        .unwrap_or_else(|_| panic!("missing {}: run with UPDATE_GOLDEN=1", path.display()));
    assert!(
        expected == actual,
        "{} differs:\n{}",
        path.display(),
        similar::TextDiff::from_lines(expected.as_str(), actual).unified_diff()
    );
}
