//! What the clusters show, as Kubernetes objects: written as `kubectl get -o yaml` dumps, or served by a fake API
//! server on 127.0.0.1 that records every request (to prove the tool never writes).

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::path::Path;
use std::sync::{Arc, Mutex};

use serde_json::{json, Value};

/// The proxy images pods run: Istio 1.22.3's, and (a stand-in for) ASM's.
pub const ISTIO_PROXY: &str = "docker.io/istio/proxyv2:1.22.3";
pub const ASM_PROXY: &str = "registry.example.com/asm/proxyv2:1.24.6";

/// The kinds of Istio's config API groups the fake API servers serve (at `v1`): group, kind, resource.
pub const ISTIO_KINDS: [(&str, &str, &str); 7] = [
    ("networking.istio.io", "VirtualService", "virtualservices"),
    ("networking.istio.io", "DestinationRule", "destinationrules"),
    ("networking.istio.io", "Gateway", "gateways"),
    ("networking.istio.io", "ServiceEntry", "serviceentries"),
    ("security.istio.io", "AuthorizationPolicy", "authorizationpolicies"),
    ("security.istio.io", "PeerAuthentication", "peerauthentications"),
    ("telemetry.istio.io", "Telemetry", "telemetries"),
];

/// One workload and its pods, as a cluster would show them.
#[derive(Clone)]
pub struct FakeWorkload {
    /// The image of its pods' istio-proxy, when a test sets it; else Istio's, or ASM's once on ASM.
    pub proxy_image: Option<&'static str>,
    pub kind: &'static str,
    pub namespace: &'static str,
    pub name: &'static str,
    pub replicas: i64,
    pub istio_proxy: bool,
    pub xds_agent: bool,
    pub on_asm: bool,
    pub ready: bool,
    pub rollout_complete: bool,
    /// The Flux HelmRelease (namespace, name) that rendered it: helm-controller labels the workload with it.
    pub helm_release: Option<(&'static str, &'static str)>,
}

impl FakeWorkload {
    pub fn injected(kind: &'static str, namespace: &'static str, name: &'static str, replicas: i64) -> FakeWorkload {
        FakeWorkload {
            proxy_image: None,
            kind,
            namespace,
            name,
            replicas,
            istio_proxy: true,
            xds_agent: false,
            on_asm: false,
            ready: true,
            rollout_complete: true,
            helm_release: None,
        }
    }

    fn object(&self) -> Value {
        let updated = if self.rollout_complete { self.replicas } else { self.replicas - 1 };
        let labels = match self.helm_release {
            Some((namespace, name)) => {
                json!({"helm.toolkit.fluxcd.io/namespace": namespace, "helm.toolkit.fluxcd.io/name": name})
            }
            None => json!({}),
        };
        json!({
            "apiVersion": "apps/v1", "kind": self.kind,
            "metadata": {"namespace": self.namespace, "name": self.name, "generation": 2, "labels": labels},
            "spec": {"replicas": self.replicas, "selector": {"matchLabels": {"app": self.name}},
                     "template": {"metadata": {"labels": {"app": self.name}}, "spec": {"containers": [{"name": "app", "image": "app"}]}}},
            "status": {"observedGeneration": 2, "replicas": self.replicas, "updatedReplicas": updated, "readyReplicas": updated}
        })
    }

    fn pods(&self) -> Vec<Value> {
        (0..self.replicas)
            .map(|index| {
                let mut containers = vec![json!({"name": "app", "image": "app"})];
                if self.istio_proxy {
                    let env = if self.xds_agent { json!([{"name": "PROXY_CONFIG_XDS_AGENT", "value": "true"}]) } else { json!([]) };
                    let image = self.proxy_image.unwrap_or(if self.on_asm { ASM_PROXY } else { ISTIO_PROXY });
                    containers.push(json!({"name": "istio-proxy", "image": image, "env": env}));
                }
                let mut labels = json!({"app": self.name, "pod-template-hash": "5d8f7c"});
                if self.on_asm {
                    labels["sidecar.asm.aliyun.com/inject"] = json!("true");
                }
                let owner = match self.kind {
                    "Deployment" => json!({"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": format!("{}-5d8f7c", self.name), "uid": "1", "controller": true}),
                    kind => json!({"apiVersion": "apps/v1", "kind": kind, "name": self.name, "uid": "1", "controller": true}),
                };
                json!({
                    "apiVersion": "v1", "kind": "Pod",
                    "metadata": {"namespace": self.namespace, "name": format!("{}-5d8f7c-{index}", self.name), "labels": labels, "ownerReferences": [owner]},
                    "spec": {"containers": containers},
                    "status": {"conditions": [{"type": "Ready", "status": if self.ready { "True" } else { "False" }}]}
                })
            })
            .collect()
    }
}

/// The ASM control plane and the clusters.
#[derive(Clone)]
pub struct World {
    pub desired_state: &'static str,
    pub retry_counter: i64,
    pub state: &'static str,
    pub status_retry_counter: i64,
    pub message: &'static str,
    pub clusters: BTreeMap<&'static str, Vec<FakeWorkload>>,
    /// Clusters whose istio-system still carries `istio-injection`, with its value.
    pub istio_injection: BTreeMap<&'static str, &'static str>,
    /// The Services of istio-system in each cluster.
    pub services: BTreeMap<&'static str, Vec<Value>>,
    /// The VirtualServices of each cluster, as the engine last applied them.
    pub virtual_services: BTreeMap<&'static str, Vec<Value>>,
    /// Argo CD Applications served by each cluster's API server (namespace argocd), by name.
    pub applications: BTreeMap<&'static str, Vec<Value>>,
    /// The objects of Istio's config API groups each cluster holds.
    pub istio_objects: BTreeMap<&'static str, Vec<Value>>,
    /// The objects of Istio's config API groups ASM's control plane holds.
    pub asm_istio_objects: Vec<Value>,
}

impl World {
    /// The shop fixture's clusters, every injected workload on Istio's proxy.
    pub fn shop() -> World {
        let common = vec![
            FakeWorkload::injected("Deployment", "payments", "api", 3),
            FakeWorkload::injected("Deployment", "payments", "worker", 2),
            FakeWorkload::injected("StatefulSet", "payments", "ledger", 1),
            FakeWorkload::injected("Deployment", "catalog", "web", 2),
            FakeWorkload::injected("Deployment", "catalog", "search", 1),
            FakeWorkload::injected("Deployment", "storefront", "frontend", 2),
        ];
        let mut hz = common.clone();
        hz.push(FakeWorkload::injected("Deployment", "tools", "debug", 1));
        hz.push(FakeWorkload::injected("Deployment", "istio-system", "istio-eastwestgateway", 2));
        World {
            desired_state: "Init",
            retry_counter: 0,
            state: "Init",
            status_retry_counter: 0,
            message: "",
            clusters: BTreeMap::from([("hz", hz), ("sh", common)]),
            istio_injection: BTreeMap::new(),
            services: BTreeMap::new(),
            virtual_services: BTreeMap::new(),
            applications: BTreeMap::new(),
            istio_objects: BTreeMap::new(),
            asm_istio_objects: Vec::new(),
        }
    }

    /// ASM has switched to `phase`.
    pub fn switched(mut self, phase: &'static str) -> World {
        self.desired_state = phase;
        self.state = phase;
        self
    }

    /// ASM has rolled out these gateways (IstioGateway names) in every cluster: a Deployment `istio-<name>` in
    /// istio-system, as ASM names it.
    pub fn with_asm_gateways(mut self, names: &[&'static str]) -> World {
        for (index, cluster) in self.clusters.keys().enumerate() {
            let services = self.services.entry(cluster).or_default();
            for name in names {
                // ASM's Service istio-<name>, with an address from the documentation range.
                services.push(json!({"apiVersion": "v1", "kind": "Service",
                    "metadata": {"namespace": "istio-system", "name": format!("istio-{name}")},
                    "spec": {"type": "LoadBalancer", "clusterIP": "10.0.0.1"},
                    "status": {"loadBalancer": {"ingress": [{"ip": format!("203.0.113.{}", index + 1)}]}}}));
            }
        }
        for workloads in self.clusters.values_mut() {
            for name in names {
                let deployment: &'static str = Box::leak(format!("istio-{name}").into_boxed_str());
                // ASM's gateway pods run a container named istio-proxy too, with ASM's image and without the
                // label of ASM's injection: only their owner tells them apart from Istio's proxies.
                let mut gateway = FakeWorkload::injected("Deployment", "istio-system", deployment, 1);
                gateway.proxy_image = Some(ASM_PROXY);
                gateway.xds_agent = false;
                workloads.push(gateway);
            }
        }
        self
    }

    /// The engine applied the shop's Stripe VirtualService with `weight`% of mesh traffic to ASM's egress gateway.
    pub fn with_stripe_weight(mut self, weight: u32) -> World {
        let asm = json!({"destination": {"host": "istio-asm-egressgateway.istio-system.svc.cluster.local", "port": {"number": 80}}, "weight": weight});
        let istio = json!({"destination": {"host": "istio-egressgateway.istio-system.svc.cluster.local", "subset": "stripe", "port": {"number": 80}}, "weight": 100 - weight});
        let route = if weight == 100 { vec![asm] } else { vec![istio, asm] };
        for cluster in self.clusters.keys() {
            self.virtual_services.insert(cluster, vec![json!({
                "apiVersion": "networking.istio.io/v1beta1", "kind": "VirtualService",
                "metadata": {"namespace": "payments", "name": "stripe-through-egress-gateway"},
                "spec": {"hosts": ["api.stripe.com"], "gateways": ["istio-egressgateway", "asm-egressgateway", "mesh"],
                         "http": [{"match": [{"gateways": ["mesh"], "port": 80}], "route": route}]}
            })]);
        }
        self
    }

    /// An Argo CD Application `name` in namespace argocd of `cluster`'s API server, synced at `revision`.
    pub fn with_application(mut self, cluster: &'static str, name: &str, revision: &str) -> World {
        self.applications.entry(cluster).or_default().push(json!({
            "apiVersion": "argoproj.io/v1alpha1", "kind": "Application",
            "metadata": {"namespace": "argocd", "name": name},
            "status": {"sync": {"status": "Synced", "revision": revision}}
        }));
        self
    }

    pub fn every_workload(mut self, change: impl Fn(&mut FakeWorkload)) -> World {
        for workloads in self.clusters.values_mut() {
            workloads.iter_mut().for_each(&change);
        }
        self
    }

    pub fn asm_object(&self) -> Value {
        json!({
            "apiVersion": "istio.alibabacloud.com/v1beta1", "kind": "ASMMigrateFromIstio",
            "metadata": {"name": "default"},
            "spec": {"desiredState": self.desired_state, "retryCounter": self.retry_counter},
            "status": {"state": self.state, "retryCounter": self.status_retry_counter, "message": self.message}
        })
    }

    fn list(kind: &str, items: Vec<Value>) -> Value {
        json!({"apiVersion": "v1", "kind": format!("{kind}List"), "metadata": {"resourceVersion": "1"}, "items": items})
    }

    fn cluster_lists(&self, cluster: &str) -> BTreeMap<String, Value> {
        let workloads = &self.clusters[cluster];
        let of_kind = |kind: &str| workloads.iter().filter(|w| w.kind == kind).map(FakeWorkload::object).collect();
        let mut lists = BTreeMap::from([
            ("pods", World::list("Pod", workloads.iter().flat_map(FakeWorkload::pods).collect())),
            ("deployments", World::list("Deployment", of_kind("Deployment"))),
            ("statefulsets", World::list("StatefulSet", of_kind("StatefulSet"))),
            ("daemonsets", World::list("DaemonSet", of_kind("DaemonSet"))),
            ("istio-system", self.istio_system(cluster)),
            ("istio-system-services", World::list("Service", self.services.get(cluster).cloned().unwrap_or_default())),
            (
                "virtualservices",
                World::list("VirtualService", self.virtual_services.get(cluster).cloned().unwrap_or_default()),
            ),
            ("istio-objects", World::list("", self.istio_objects.get(cluster).cloned().unwrap_or_default())),
        ])
        .into_iter()
        .map(|(name, list)| (name.to_owned(), list))
        .collect::<BTreeMap<String, Value>>();
        for application in self.applications.get(cluster).into_iter().flatten() {
            let name = application["metadata"]["name"].as_str().expect("a name");
            lists.insert(format!("application/{name}"), application.clone());
        }
        lists
    }

    fn istio_system(&self, cluster: &str) -> Value {
        let mut labels = json!({"kubernetes.io/metadata.name": "istio-system"});
        if let Some(value) = self.istio_injection.get(cluster) {
            labels["istio-injection"] = json!(value);
        }
        json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "istio-system", "labels": labels}})
    }

    /// The dumps the README's kubectl commands write.
    pub fn write_snapshot(&self, dir: &Path) {
        let write = |relative: &str, value: &Value| {
            let path = dir.join(relative);
            std::fs::create_dir_all(path.parent().expect("a parent")).expect("a directory");
            std::fs::write(path, serde_saphyr::to_string(value).expect("YAML")).expect("written");
        };
        write("asm/asmmigratefromistio.yaml", &self.asm_object());
        write("asm/istio-objects.yaml", &World::list("", self.asm_istio_objects.clone()));
        for cluster in self.clusters.keys() {
            for (name, list) in self.cluster_lists(cluster) {
                // An Application is dumped where the plan that names it expects it (see the tests).
                if !name.starts_with("application/") {
                    write(&format!("clusters/{cluster}/{name}.yaml"), &list);
                }
            }
        }
    }
}

/// How a fake API server answers.
#[derive(Clone)]
pub enum Serving {
    /// The ASM control plane, `ASMMigrateFromIstio` served at this version (None: not created yet), and the
    /// objects of Istio's config API groups it holds.
    Asm { version: &'static str, object: Option<Value>, istio_objects: Vec<Value> },
    /// A data-plane cluster.
    Cluster { lists: BTreeMap<String, Value> },
    /// Everything refused with this status code.
    Refuse(u16),
}

/// A fake API server on 127.0.0.1, one thread, answering until the test ends.
pub struct FakeApiServer {
    pub url: String,
    pub requests: Arc<Mutex<Vec<String>>>,
}

impl FakeApiServer {
    pub fn start(serving: Serving) -> FakeApiServer {
        let listener = TcpListener::bind("127.0.0.1:0").expect("a local port");
        let url = format!("http://{}", listener.local_addr().expect("an address"));
        let requests = Arc::new(Mutex::new(Vec::new()));
        let log = Arc::clone(&requests);
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                let mut reader = BufReader::new(stream.try_clone().expect("a stream"));
                let mut request_line = String::new();
                if reader.read_line(&mut request_line).is_err() {
                    continue;
                }
                loop {
                    let mut header = String::new();
                    if reader.read_line(&mut header).is_err() || header == "\r\n" || header.is_empty() {
                        break;
                    }
                }
                let mut parts = request_line.split_whitespace();
                let (method, target) = (parts.next().unwrap_or("").to_owned(), parts.next().unwrap_or("").to_owned());
                log.lock().expect("the log").push(format!("{method} {target}"));
                let path = target.split('?').next().unwrap_or("").to_owned();
                let (code, body) = answer(&serving, &method, &path);
                let response = format!(
                    "HTTP/1.1 {code} {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    if code == 200 { "OK" } else { "Error" },
                    body.len()
                );
                let _ = stream.write_all(response.as_bytes());
            }
        });
        FakeApiServer { url, requests }
    }

    /// Every request that was not a read.
    pub fn writes(&self) -> Vec<String> {
        self.requests.lock().expect("the log").iter().filter(|request| !request.starts_with("GET ")).cloned().collect()
    }
}

fn status(code: u16, reason: &str, message: &str) -> (u16, String) {
    let body = json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure", "message": message, "reason": reason, "code": code});
    (code, body.to_string())
}

fn answer(serving: &Serving, method: &str, path: &str) -> (u16, String) {
    if method != "GET" {
        return status(405, "MethodNotAllowed", "this fake API server only reads");
    }
    match serving {
        Serving::Refuse(403) => {
            status(403, "Forbidden", "User \"ci\" cannot list resource in API group at the cluster scope")
        }
        Serving::Refuse(code) => status(*code, "Unauthorized", "Unauthorized"),
        Serving::Asm { version, object, istio_objects } => {
            let group_version = format!("istio.alibabacloud.com/{version}");
            let group = json!({"name": "istio.alibabacloud.com", "versions": [{"groupVersion": group_version, "version": version}],
                               "preferredVersion": {"groupVersion": group_version, "version": version}});
            if let Some(answer) = istio_api(path, istio_objects) {
                return answer;
            }
            match path {
                "/apis" => {
                    let mut groups = istio_groups();
                    groups.insert(0, group);
                    (200, json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": groups}).to_string())
                }
                "/apis/istio.alibabacloud.com" => {
                    let mut api_group = group.clone();
                    api_group["kind"] = json!("APIGroup");
                    api_group["apiVersion"] = json!("v1");
                    (200, api_group.to_string())
                }
                p if p == format!("/apis/{group_version}") => (200, json!({
                    "kind": "APIResourceList", "apiVersion": "v1", "groupVersion": group_version,
                    "resources": [{"name": "asmmigratefromistios", "singularName": "asmmigratefromistio", "namespaced": false,
                                   "kind": "ASMMigrateFromIstio", "verbs": ["get", "list", "watch", "update", "patch"]}]
                }).to_string()),
                p if p == format!("/apis/{group_version}/asmmigratefromistios/default") => match object {
                    Some(object) => (200, object.to_string()),
                    None => status(404, "NotFound", "asmmigratefromistios.istio.alibabacloud.com \"default\" not found"),
                },
                _ => status(404, "NotFound", "the server could not find the requested resource"),
            }
        }
        Serving::Cluster { lists } => match path {
            "/apis" => (200, json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": istio_groups()}).to_string()),
            p if istio_api(p, &[]).is_some() => {
                let objects = lists["istio-objects"]["items"].as_array().cloned().unwrap_or_default();
                istio_api(p, &objects).expect("an answer")
            }
            "/api/v1/pods" => (200, lists["pods"].to_string()),
            "/apis/apps/v1/deployments" => (200, lists["deployments"].to_string()),
            "/apis/apps/v1/statefulsets" => (200, lists["statefulsets"].to_string()),
            "/apis/apps/v1/daemonsets" => (200, lists["daemonsets"].to_string()),
            "/api/v1/namespaces/istio-system" => (200, lists["istio-system"].to_string()),
            "/api/v1/namespaces/istio-system/services" => (200, lists["istio-system-services"].to_string()),
            "/apis/networking.istio.io/v1beta1/virtualservices" => (200, lists["virtualservices"].to_string()),
            p if p.starts_with("/apis/argoproj.io/v1alpha1/namespaces/argocd/applications/") => {
                let name = p.rsplit('/').next().unwrap_or_default();
                match lists.get(&format!("application/{name}")) {
                    Some(application) => (200, application.to_string()),
                    None => status(404, "NotFound", &format!("applications.argoproj.io \"{name}\" not found")),
                }
            }
            _ => status(404, "NotFound", "the server could not find the requested resource"),
        },
    }
}

/// The API groups of Istio's config, each served at `v1`.
fn istio_groups() -> Vec<Value> {
    let mut names: Vec<&str> = ISTIO_KINDS.iter().map(|(group, _, _)| *group).collect();
    names.dedup();
    names
        .into_iter()
        .map(|group| {
            let version = json!({"groupVersion": format!("{group}/v1"), "version": "v1"});
            json!({"name": group, "versions": [version], "preferredVersion": version})
        })
        .collect()
}

/// What an API server answers about Istio's config (`/apis/<group>/v1` and the list of a kind, of `objects`);
/// None for another path.
fn istio_api(path: &str, objects: &[Value]) -> Option<(u16, String)> {
    let rest = path.strip_prefix("/apis/")?;
    let (group, rest) = rest.split_once("/v1")?;
    if !ISTIO_KINDS.iter().any(|(served, _, _)| *served == group) {
        return None;
    }
    let group_version = format!("{group}/v1");
    if rest.is_empty() {
        let resources: Vec<Value> = ISTIO_KINDS
            .iter()
            .filter(|(served, _, _)| *served == group)
            .map(|(_, kind, plural)| json!({"name": plural, "singularName": kind.to_lowercase(), "namespaced": true, "kind": kind, "verbs": ["get", "list", "watch"]}))
            .collect();
        let list = json!({"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": group_version, "resources": resources});
        return Some((200, list.to_string()));
    }
    let plural = rest.strip_prefix('/')?;
    let (_, kind, _) = ISTIO_KINDS.iter().find(|(served, _, resource)| *served == group && *resource == plural)?;
    let items: Vec<Value> = objects
        .iter()
        .filter(|object| {
            object["kind"] == *kind
                && object["apiVersion"].as_str().is_some_and(|v| v.starts_with(&format!("{group}/")))
        })
        .cloned()
        .collect();
    let list = json!({"apiVersion": group_version, "kind": format!("{kind}List"), "metadata": {"resourceVersion": "1"}, "items": items});
    Some((200, list.to_string()))
}

/// Fake API servers for a world: the ASM control plane and each cluster, and a kubeconfig naming them as the
/// shop plan's contexts (asm-prod, ack-hz, ack-sh).
pub struct FakeWorld {
    pub servers: BTreeMap<&'static str, FakeApiServer>,
}

impl FakeWorld {
    pub fn serve(world: &World, asm: Serving) -> FakeWorld {
        let mut servers = BTreeMap::from([("asm-prod", FakeApiServer::start(asm))]);
        for cluster in world.clusters.keys() {
            let context = if *cluster == "hz" { "ack-hz" } else { "ack-sh" };
            servers.insert(context, FakeApiServer::start(Serving::Cluster { lists: world.cluster_lists(cluster) }));
        }
        FakeWorld { servers }
    }

    pub fn asm(world: &World) -> Serving {
        Serving::Asm {
            version: "v1beta1",
            object: Some(world.asm_object()),
            istio_objects: world.asm_istio_objects.clone(),
        }
    }

    pub fn write_kubeconfig(&self, path: &Path) {
        let mut clusters = Vec::new();
        let mut contexts = Vec::new();
        for (context, server) in &self.servers {
            clusters.push(json!({"name": context, "cluster": {"server": server.url}}));
            contexts.push(json!({"name": context, "context": {"cluster": context, "user": "ci"}}));
        }
        let config = json!({"apiVersion": "v1", "kind": "Config", "clusters": clusters, "contexts": contexts,
                            "users": [{"name": "ci", "user": {"token": "test-token"}}], "current-context": "asm-prod"});
        std::fs::write(path, serde_saphyr::to_string(&config).expect("YAML")).expect("the kubeconfig is written");
    }

    pub fn writes(&self) -> Vec<String> {
        self.servers.values().flat_map(FakeApiServer::writes).collect()
    }
}
