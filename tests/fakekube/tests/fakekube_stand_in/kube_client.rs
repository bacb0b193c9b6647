//! The stand-in driven by the exact kube-rs 5 calls a deploy tool makes.

use std::collections::BTreeMap;

use fakekube::{
    Behaviour, CrdSpec, FakeKube, Fault, ForwardTarget, PodMatch, PodRule, PortForwardRule,
    Scenario,
};
use futures_util::{AsyncBufReadExt, StreamExt, TryStreamExt};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{ConfigMap, Event, Namespace, Pod, Service};
use kube::api::{
    Api, DeleteParams, DynamicObject, ListParams, LogParams, Patch, PatchParams, PostParams,
    WatchEvent, WatchParams,
};
use kube::core::GroupVersionKind;
use kube::discovery::{self, Discovery, Scope};
use kube::runtime::watcher;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::support::{self, client, eventually, within};

fn api_error(err: kube::Error) -> Box<kube::core::Status> {
    match err {
        kube::Error::Api(status) => status,
        other => panic!("expected an API error, got {other:?}"),
    }
}

async fn create_namespace(client: &kube::Client, name: &str) {
    let namespaces: Api<Namespace> = Api::all(client.clone());
    namespaces
        .patch(
            name,
            &PatchParams::apply("stackctl").force(),
            &Patch::Apply(support::namespace(name)),
        )
        .await
        .expect("namespace applied");
}

#[tokio::test]
async fn discovery_legacy_and_aggregated_serve_the_same_table() {
    let kube = FakeKube::start(Scenario::ready()).unwrap();
    let client = client(&kube).await;
    let legacy = within("Discovery::run", Discovery::new(client.clone()).run())
        .await
        .unwrap();
    let aggregated = within(
        "Discovery::run_aggregated",
        Discovery::new(client.clone()).run_aggregated(),
    )
    .await
    .unwrap();
    for discovery in [&legacy, &aggregated] {
        let groups: Vec<&str> = discovery.groups().map(|g| g.name()).collect();
        for expected in ["", "apps", "batch", "networking.k8s.io"] {
            assert!(groups.contains(&expected), "{expected} in {groups:?}");
        }
        let (deploy, caps) = discovery
            .resolve_gvk(&GroupVersionKind::gvk("apps", "v1", "Deployment"))
            .expect("Deployment is served");
        assert_eq!(deploy.plural, "deployments");
        assert_eq!(caps.scope, Scope::Namespaced);
        assert!(
            caps.subresources
                .iter()
                .any(|(ar, _)| ar.plural == "status")
        );
        let (_, pod_caps) = discovery
            .resolve_gvk(&GroupVersionKind::gvk("", "v1", "Pod"))
            .unwrap();
        let subs: Vec<&str> = pod_caps
            .subresources
            .iter()
            .map(|(ar, _)| ar.plural.as_str())
            .collect();
        assert!(
            subs.contains(&"log") && subs.contains(&"portforward"),
            "{subs:?}"
        );
        let (_, ns_caps) = discovery
            .resolve_gvk(&GroupVersionKind::gvk("", "v1", "Namespace"))
            .unwrap();
        assert_eq!(ns_caps.scope, Scope::Cluster);
        assert!(
            discovery
                .resolve_gvk(&GroupVersionKind::gvk(
                    "external-secrets.io",
                    "v1",
                    "ExternalSecret"
                ))
                .is_none(),
            "no CRD declared, no ExternalSecret"
        );
    }
    // One group, as stackctl's pinned lookups do.
    let (ar, _) =
        discovery::oneshot::pinned_kind(&client, &GroupVersionKind::gvk("batch", "v1", "CronJob"))
            .await
            .unwrap();
    assert_eq!(ar.plural, "cronjobs");
}

#[tokio::test]
async fn discovery_serves_declared_crd_groups_only() {
    let crd = CrdSpec {
        group: "external-secrets.io".into(),
        version: "v1".into(),
        kind: "ExternalSecret".into(),
        plural: None,
        namespaced: true,
        short_names: vec!["es".into()],
        status_subresource: true,
    };
    let kube = FakeKube::start(Scenario::ready().with_crd(crd)).unwrap();
    let client = client(&kube).await;
    let discovery = Discovery::new(client.clone())
        .run_aggregated()
        .await
        .unwrap();
    let (ar, _) = discovery
        .resolve_gvk(&GroupVersionKind::gvk(
            "external-secrets.io",
            "v1",
            "ExternalSecret",
        ))
        .expect("the declared CRD is served");
    create_namespace(&client, "es").await;
    let api: Api<DynamicObject> = Api::namespaced_with(client, "es", &ar);
    let es = json!({"apiVersion": "external-secrets.io/v1", "kind": "ExternalSecret", "metadata": {"name": "db"}, "spec": {"refreshInterval": "1h"}});
    let applied = api
        .patch(
            "db",
            &PatchParams::apply("stackctl").force(),
            &Patch::Apply(&es),
        )
        .await
        .unwrap();
    assert_eq!(applied.metadata.generation, Some(1));
}

#[tokio::test]
async fn server_side_apply_of_every_object_the_ci_chart_renders() {
    let (_, objects) = support::rendered_test_chart();
    let kube = FakeKube::start(Scenario::ready()).unwrap();
    let client = client(&kube).await;
    let discovery = Discovery::new(client.clone())
        .run_aggregated()
        .await
        .unwrap();
    create_namespace(&client, "jetscale-ci").await;
    let params = PatchParams::apply("stackctl").force();

    let api_for = |obj: &Value| {
        let api_version = obj["apiVersion"].as_str().unwrap();
        let (group, version) = api_version.rsplit_once('/').unwrap_or(("", api_version));
        let gvk = GroupVersionKind::gvk(group, version, obj["kind"].as_str().unwrap());
        let (ar, caps) = discovery
            .resolve_gvk(&gvk)
            .unwrap_or_else(|| panic!("{gvk:?} is served"));
        let api: Api<DynamicObject> = if caps.scope == Scope::Namespaced {
            Api::namespaced_with(client.clone(), "jetscale-ci", &ar)
        } else {
            Api::all_with(client.clone(), &ar)
        };
        api
    };

    let mut first = BTreeMap::new();
    for obj in &objects {
        let name = obj["metadata"]["name"].as_str().unwrap();
        let applied = within(
            "apply",
            api_for(obj).patch(name, &params, &Patch::Apply(obj)),
        )
        .await
        .unwrap_or_else(|e| panic!("applying {} {name}: {e}", obj["kind"]));
        assert!(applied.metadata.uid.is_some(), "{name} has a uid");
        let key = format!("{}/{name}", obj["kind"].as_str().unwrap());
        first.insert(key, applied);
    }
    assert_eq!(
        first.len(),
        objects.len(),
        "every rendered object applied once"
    );

    // A re-apply of the same objects changes nothing (and bumps no resourceVersion), and
    // keeps what the server set (a Service's cluster IP).
    for obj in &objects {
        let name = obj["metadata"]["name"].as_str().unwrap();
        let again = api_for(obj)
            .patch(name, &params, &Patch::Apply(obj))
            .await
            .unwrap();
        let before = &first[&format!("{}/{name}", obj["kind"].as_str().unwrap())];
        assert_eq!(before.metadata.uid, again.metadata.uid);
        if matches!(
            obj["kind"].as_str(),
            Some("ConfigMap" | "Secret" | "ServiceAccount")
        ) {
            // Nothing else writes these: an unchanged apply is no write at all.
            assert_eq!(
                before.metadata.resource_version, again.metadata.resource_version,
                "{name}"
            );
        }
        if obj["kind"] == "Service" {
            assert_eq!(
                before.data["spec"]["clusterIP"],
                again.data["spec"]["clusterIP"]
            );
            assert!(
                again.data["spec"]["clusterIP"]
                    .as_str()
                    .unwrap()
                    .starts_with("10.96.")
            );
        }
    }

    // A dry run shows the change and stores nothing.
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), "jetscale-ci");
    let mut changed = objects
        .iter()
        .find(|o| o["kind"] == "Deployment" && o["metadata"]["name"] == "jetscale-ci-frontend")
        .unwrap()
        .clone();
    changed["spec"]["replicas"] = json!(3);
    let preview = deployments
        .patch(
            "jetscale-ci-frontend",
            &PatchParams::apply("stackctl").force().dry_run(),
            &Patch::Apply(&changed),
        )
        .await
        .unwrap();
    assert_eq!(preview.spec.unwrap().replicas, Some(3));
    let stored = deployments.get("jetscale-ci-frontend").await.unwrap();
    assert_eq!(stored.spec.unwrap().replicas, Some(1));

    // Every workload rolls out in the `ready` scenario.
    for obj in objects.iter().filter(|o| o["kind"] == "Deployment") {
        let name = obj["metadata"]["name"].as_str().unwrap().to_string();
        eventually(&kube, &format!("{name} available"), |s| {
            s.get("deployments.apps", "jetscale-ci", &name)
                .filter(support::available)
        });
    }
    for obj in objects.iter().filter(|o| o["kind"] == "StatefulSet") {
        let name = obj["metadata"]["name"].as_str().unwrap().to_string();
        eventually(&kube, &format!("{name} ready"), |s| {
            s.get("statefulsets.apps", "jetscale-ci", &name)
                .filter(|o| o["status"]["readyReplicas"] == o["spec"]["replicas"])
        });
    }
}

#[tokio::test]
async fn raw_watches_send_bookmarks_and_410_for_compacted_versions() {
    let kube = FakeKube::start(Scenario::ready().with_bookmark_interval_ms(50)).unwrap();
    let client = client(&kube).await;
    create_namespace(&client, "w").await;
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "w");
    let list = cms.list(&ListParams::default()).await.unwrap();
    let rv = list.metadata.resource_version.unwrap();

    let mut stream = cms
        .watch(&WatchParams::default().timeout(5), &rv)
        .await
        .unwrap()
        .boxed();
    cms.create(
        &PostParams::default(),
        &serde_json::from_value(json!({"metadata": {"name": "a"}})).unwrap(),
    )
    .await
    .unwrap();
    let mut added = false;
    let mut bookmark = None;
    while bookmark.is_none() || !added {
        match within("watch events", stream.try_next()).await.unwrap() {
            Some(WatchEvent::Added(cm)) => added |= cm.metadata.name.as_deref() == Some("a"),
            Some(WatchEvent::Bookmark(b)) => bookmark = Some(b.metadata.resource_version),
            Some(other) => panic!("unexpected {other:?}"),
            None => panic!("the watch ended early"),
        }
    }
    assert!(bookmark.unwrap().parse::<u64>().unwrap() >= rv.parse::<u64>().unwrap());

    kube.compact();
    let mut stale = cms
        .watch(&WatchParams::default(), &rv)
        .await
        .unwrap()
        .boxed();
    match within("the 410 event", stale.try_next()).await.unwrap() {
        Some(WatchEvent::Error(status)) => {
            assert_eq!(status.code, 410);
            assert_eq!(status.reason, "Expired");
            assert!(
                status.message.starts_with("too old resource version"),
                "{}",
                status.message
            );
        }
        other => panic!("expected an ERROR event, got {other:?}"),
    }
    assert!(
        within("end of the stale watch", stale.try_next())
            .await
            .unwrap()
            .is_none()
    );
}

#[tokio::test]
async fn the_runtime_watcher_relists_after_a_410() {
    // Watches start 300 ms late, so the test can compact the history between the watcher's
    // list and its watch: the watch then starts from a resourceVersion the history lost.
    let scenario = Scenario::ready().with_fault(
        Fault::path("/api/v1/namespaces/w410/configmaps")
            .watch(true)
            .latency_ms(300),
    );
    let kube = FakeKube::start(scenario).unwrap();
    let client = client(&kube).await;
    create_namespace(&client, "w410").await;
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "w410");
    let mut events = watcher(cms.clone(), watcher::Config::default()).boxed();

    let mut seen = Vec::new();
    loop {
        let event = within("watcher events", events.next())
            .await
            .expect("the watcher goes on");
        let done = matches!(event, Ok(watcher::Event::InitDone));
        seen.push(format!("{event:?}"));
        if done {
            break;
        }
    }
    // A change, then a compaction: the watcher's resourceVersion is now older than the history.
    cms.create(
        &PostParams::default(),
        &serde_json::from_value(json!({"metadata": {"name": "after"}})).unwrap(),
    )
    .await
    .unwrap();
    kube.compact();

    let mut got_410 = false;
    let mut relisted_after = false;
    while !relisted_after {
        match within("watcher events after compaction", events.next())
            .await
            .expect("the watcher goes on")
        {
            Err(watcher::Error::WatchError(status)) => {
                assert_eq!(status.code, 410, "{status:?}");
                got_410 = true;
            }
            Ok(watcher::Event::InitApply(cm)) if got_410 => {
                relisted_after |= cm.metadata.name.as_deref() == Some("after");
            }
            Ok(watcher::Event::Init) => assert!(got_410, "a re-list only after the 410"),
            other => panic!("unexpected {other:?} (seen before: {seen:?})"),
        }
    }
}

#[tokio::test]
async fn streaming_list_watches_end_their_initial_events_with_a_bookmark() {
    let kube = FakeKube::start(Scenario::ready()).unwrap();
    let client = client(&kube).await;
    let namespaces: Api<Namespace> = Api::all(client);
    let mut events = watcher(namespaces, watcher::Config::default().streaming_lists()).boxed();
    let mut initial = Vec::new();
    loop {
        match within("streaming list", events.next())
            .await
            .unwrap()
            .unwrap()
        {
            watcher::Event::Init => {}
            watcher::Event::InitApply(ns) => initial.push(ns.metadata.name.unwrap()),
            watcher::Event::InitDone => break,
            other => panic!("unexpected {other:?}"),
        }
    }
    assert!(initial.contains(&"kube-system".to_string()), "{initial:?}");
}

#[tokio::test]
async fn logs_and_events_of_a_crash_looping_pod() {
    let scenario = Scenario::ready()
        .with_pod(PodRule::new(PodMatch::owner("crashy"), Behaviour::Crashloop).delay_ms(30));
    let kube = FakeKube::start(scenario).unwrap();
    let client = client(&kube).await;
    create_namespace(&client, "logs").await;
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), "logs");
    deployments
        .create(
            &PostParams::default(),
            &serde_json::from_value(support::deployment("crashy", "logs", 1)).unwrap(),
        )
        .await
        .unwrap();
    let pod_name = support::wait_pod(&kube, "logs", "a restarted pod", |p| {
        support::first_container(p)["restartCount"].as_u64() >= Some(1)
    });
    let pods: Api<Pod> = Api::namespaced(client.clone(), "logs");
    let previous = pods
        .logs(
            &pod_name,
            &LogParams {
                previous: true,
                ..LogParams::default()
            },
        )
        .await
        .unwrap();
    assert!(previous.contains("exited with code 1"), "{previous}");
    let tail = pods
        .logs(
            &pod_name,
            &LogParams {
                previous: true,
                tail_lines: Some(1),
                ..LogParams::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(tail.lines().count(), 1, "{tail}");

    let events: Api<Event> = Api::namespaced(client.clone(), "logs");
    let backoffs = events
        .list(&ListParams::default().fields(&format!(
            "involvedObject.name={pod_name},reason=BackOff,type=Warning"
        )))
        .await
        .unwrap();
    assert_eq!(backoffs.items.len(), 1, "one BackOff event, counted");
    let event = &backoffs.items[0];
    assert!(
        event
            .message
            .as_deref()
            .unwrap()
            .starts_with("Back-off restarting failed container app in pod")
    );
    assert_eq!(event.involved_object.kind.as_deref(), Some("Pod"));
    let normal = events
        .list(&ListParams::default().fields(&format!("involvedObject.name={pod_name},type=Normal")))
        .await
        .unwrap();
    assert!(
        normal
            .items
            .iter()
            .all(|e| e.type_.as_deref() == Some("Normal"))
    );
    assert!(
        normal
            .items
            .iter()
            .any(|e| e.reason.as_deref() == Some("Started"))
    );
}

async fn ready_pod(kube: &FakeKube, client: &kube::Client, ns: &str, deployment: &str) -> String {
    create_namespace(client, ns).await;
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), ns);
    deployments
        .create(
            &PostParams::default(),
            &serde_json::from_value(support::deployment(deployment, ns, 1)).unwrap(),
        )
        .await
        .unwrap();
    support::wait_pod(kube, ns, "a ready pod", |p| {
        support::first_container(p)["ready"] == true
    })
}

#[tokio::test]
async fn port_forward_carries_an_http_request_to_the_platform_stub() {
    let kube = FakeKube::start(Scenario::ready()).unwrap();
    let client = client(&kube).await;
    let pod = ready_pod(&kube, &client, "pf", "api").await;
    let pods: Api<Pod> = Api::namespaced(client, "pf");
    let mut forwarder = within("portforward", pods.portforward(&pod, &[8000]))
        .await
        .unwrap();
    let mut stream = forwarder.take_stream(8000).expect("a stream for the port");
    stream
        .write_all(
            b"GET /api/v2/system/ready HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
        )
        .await
        .unwrap();
    let mut response = Vec::new();
    within("the response", stream.read_to_end(&mut response))
        .await
        .unwrap();
    let response = String::from_utf8(response).unwrap();
    assert!(response.starts_with("HTTP/1.1 200 OK"), "{response}");
    let body: Value = serde_json::from_str(response.split("\r\n\r\n").nth(1).unwrap()).unwrap();
    assert_eq!(body["data"]["components"]["database"], "ok");
    assert_eq!(body["data"]["components"]["redis"], "ok");
    let error = forwarder.take_error(8000).unwrap();
    drop(stream);
    assert_eq!(
        within("no error", error).await,
        None,
        "a healthy forward reports no error"
    );
    let _ = within("the forwarder ends", forwarder.join()).await;
}

#[tokio::test]
async fn port_forward_to_a_port_nobody_listens_on_reports_the_kubelet_error() {
    let scenario = Scenario::ready().with_port_forward(PortForwardRule {
        select: PodMatch::owner("down"),
        port: Some(8001),
        target: ForwardTarget::Refused,
    });
    let kube = FakeKube::start(scenario).unwrap();
    let client = client(&kube).await;
    let pod = ready_pod(&kube, &client, "pfdown", "down").await;
    let pods: Api<Pod> = Api::namespaced(client, "pfdown");
    let mut forwarder = pods.portforward(&pod, &[8001]).await.unwrap();
    let error = within("the error channel", forwarder.take_error(8001).unwrap())
        .await
        .expect("an error message");
    assert!(
        error.starts_with("error forwarding port 8001 to pod "),
        "{error}"
    );
    assert!(
        error.contains(", uid : failed to execute portforward in network namespace"),
        "{error}"
    );
    assert!(
        error.contains("dial tcp4 127.0.0.1:8001: connect: connection refused"),
        "{error}"
    );
}

#[tokio::test]
async fn port_forward_to_a_missing_pod_is_an_api_error() {
    let kube = FakeKube::start(Scenario::ready()).unwrap();
    let client = client(&kube).await;
    let pods: Api<Pod> = Api::namespaced(client, "default");
    let err = api_error(
        pods.portforward("nope", &[80])
            .await
            .err()
            .expect("no such pod"),
    );
    assert_eq!((err.code, err.reason.as_str()), (404, "NotFound"));
}

#[tokio::test]
async fn errors_are_the_apiservers_statuses() {
    let kube = FakeKube::start(Scenario::ready().with_stuck_namespace("stuck")).unwrap();
    let client = client(&kube).await;
    create_namespace(&client, "errs").await;
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "errs");

    let err = api_error(cms.get("missing").await.unwrap_err());
    assert_eq!((err.code, err.reason.as_str()), (404, "NotFound"));
    assert_eq!(err.message, "configmaps \"missing\" not found");

    let cm: ConfigMap =
        serde_json::from_value(json!({"metadata": {"name": "one"}, "data": {"a": "1"}})).unwrap();
    let created = cms.create(&PostParams::default(), &cm).await.unwrap();
    let err = api_error(cms.create(&PostParams::default(), &cm).await.unwrap_err());
    assert_eq!((err.code, err.reason.as_str()), (409, "AlreadyExists"));

    // Optimistic concurrency: a replace carrying an old resourceVersion.
    let mut newer = created.clone();
    newer.data = Some([("a".to_string(), "2".to_string())].into());
    cms.replace("one", &PostParams::default(), &newer)
        .await
        .unwrap();
    let err = api_error(
        cms.replace("one", &PostParams::default(), &newer)
            .await
            .unwrap_err(),
    );
    assert_eq!((err.code, err.reason.as_str()), (409, "Conflict"));
    assert!(
        err.message.contains("the object has been modified"),
        "{}",
        err.message
    );

    // Immutable fields: 422 with the field path.
    let services: Api<Service> = Api::namespaced(client.clone(), "errs");
    let svc: Service = serde_json::from_value(
        json!({"metadata": {"name": "svc"}, "spec": {"ports": [{"port": 80}]}}),
    )
    .unwrap();
    services.create(&PostParams::default(), &svc).await.unwrap();
    let err = api_error(
        services
            .patch(
                "svc",
                &PatchParams::default(),
                &Patch::Merge(json!({"spec": {"clusterIP": "10.96.200.200"}})),
            )
            .await
            .unwrap_err(),
    );
    assert_eq!((err.code, err.reason.as_str()), (422, "Invalid"));
    let fields: Vec<String> = err
        .details
        .unwrap()
        .causes
        .into_iter()
        .map(|c| c.field)
        .collect();
    assert!(fields.contains(&"spec.clusterIP".to_string()), "{fields:?}");

    let deployments: Api<Deployment> = Api::namespaced(client.clone(), "errs");
    deployments
        .create(
            &PostParams::default(),
            &serde_json::from_value(support::deployment("web", "errs", 1)).unwrap(),
        )
        .await
        .unwrap();
    let mut moved = support::deployment("web", "errs", 1);
    moved["spec"]["selector"]["matchLabels"]["app"] = json!("other");
    moved["spec"]["template"]["metadata"]["labels"]["app"] = json!("other");
    let err = api_error(
        deployments
            .patch(
                "web",
                &PatchParams::apply("stackctl").force(),
                &Patch::Apply(&moved),
            )
            .await
            .unwrap_err(),
    );
    assert_eq!(err.code, 422);
    assert_eq!(err.details.unwrap().causes[0].field, "spec.selector");

    let jobs: Api<Job> = Api::namespaced(client.clone(), "errs");
    let job = json!({
        "apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "migrate"},
        "spec": {"template": {"spec": {"restartPolicy": "Never", "containers": [{"name": "m", "image": "busybox:1"}]}}},
    });
    jobs.patch(
        "migrate",
        &PatchParams::apply("stackctl").force(),
        &Patch::Apply(&job),
    )
    .await
    .unwrap();
    // Re-applying the same Job is fine (the server's labels are kept) …
    jobs.patch(
        "migrate",
        &PatchParams::apply("stackctl").force(),
        &Patch::Apply(&job),
    )
    .await
    .unwrap();
    // … changing its template is not.
    let mut changed = job.clone();
    changed["spec"]["template"]["spec"]["containers"][0]["image"] = json!("busybox:2");
    let err = api_error(
        jobs.patch(
            "migrate",
            &PatchParams::apply("stackctl").force(),
            &Patch::Apply(&changed),
        )
        .await
        .unwrap_err(),
    );
    assert_eq!(err.code, 422);
    assert_eq!(err.details.unwrap().causes[0].field, "spec.template");

    // Creating in a terminating namespace is forbidden.
    create_namespace(&client, "stuck").await;
    let namespaces: Api<Namespace> = Api::all(client.clone());
    namespaces
        .delete("stuck", &DeleteParams::default())
        .await
        .unwrap();
    let in_stuck: Api<ConfigMap> = Api::namespaced(client.clone(), "stuck");
    let err = api_error(
        in_stuck
            .create(&PostParams::default(), &cm)
            .await
            .unwrap_err(),
    );
    assert_eq!((err.code, err.reason.as_str()), (403, "Forbidden"));
    assert!(
        err.message.contains("because it is being terminated"),
        "{}",
        err.message
    );

    // A namespace that does not exist.
    let nowhere: Api<ConfigMap> = Api::namespaced(client.clone(), "nowhere");
    let err = api_error(
        nowhere
            .create(&PostParams::default(), &cm)
            .await
            .unwrap_err(),
    );
    assert_eq!(err.message, "namespaces \"nowhere\" not found");

    // A path nobody serves (a CRD that is not installed): plain text, as the apiserver's mux.
    let request =
        http::Request::get("/apis/external-secrets.io/v1/namespaces/errs/externalsecrets")
            .body(Vec::new())
            .unwrap();
    let err = api_error(client.request_text(request).await.unwrap_err());
    assert_eq!(err.code, 404);
    assert_eq!(err.message.trim(), "404 page not found");

    // A malformed body.
    let request = http::Request::post("/api/v1/namespaces/errs/configmaps")
        .header("content-type", "application/json")
        .body(b"{not json".to_vec())
        .unwrap();
    let err = api_error(client.request_text(request).await.unwrap_err());
    assert_eq!((err.code, err.reason.as_str()), (400, "BadRequest"));
    // A body of the wrong kind.
    let request = http::Request::post("/api/v1/namespaces/errs/configmaps")
        .header("content-type", "application/json")
        .body(
            serde_json::to_vec(
                &json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "x"}}),
            )
            .unwrap(),
        )
        .unwrap();
    assert_eq!(
        api_error(client.request_text(request).await.unwrap_err()).code,
        400
    );
}

#[tokio::test]
async fn lists_page_and_select() {
    let kube = FakeKube::start(Scenario::ready()).unwrap();
    let client = client(&kube).await;
    create_namespace(&client, "lists").await;
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "lists");
    for (i, tier) in ["a", "b", "a", "b", "a"].iter().enumerate() {
        let cm: ConfigMap = serde_json::from_value(
            json!({"metadata": {"name": format!("cm-{i}"), "labels": {"tier": tier}}}),
        )
        .unwrap();
        cms.create(&PostParams::default(), &cm).await.unwrap();
    }
    // Pages of two, until the continue token runs out (kube-root-ca.crt is there too).
    let mut names = Vec::new();
    let mut params = ListParams::default().limit(2);
    loop {
        let page = cms.list(&params).await.unwrap();
        assert!(page.items.len() <= 2);
        names.extend(page.items.into_iter().map(|c| c.metadata.name.unwrap()));
        match page.metadata.continue_ {
            Some(token) if !token.is_empty() => {
                params = ListParams::default().limit(2).continue_token(&token)
            }
            _ => break,
        }
    }
    assert_eq!(
        names,
        ["cm-0", "cm-1", "cm-2", "cm-3", "cm-4", "kube-root-ca.crt"]
    );
    let a = cms
        .list(&ListParams::default().labels("tier=a"))
        .await
        .unwrap();
    assert_eq!(a.items.len(), 3);
    let not_a = cms
        .list(&ListParams::default().labels("tier,tier notin (a)"))
        .await
        .unwrap();
    assert_eq!(not_a.items.len(), 2);
    let one = cms
        .list(&ListParams::default().fields("metadata.name=cm-3"))
        .await
        .unwrap();
    assert_eq!(one.items.len(), 1);
    let err = api_error(
        cms.list(&ListParams::default().fields("data.x=1"))
            .await
            .unwrap_err(),
    );
    assert_eq!(
        (err.code, err.message.as_str()),
        (400, "field label not supported: data.x")
    );

    // A continue token older than the history answers 410.
    let page = cms.list(&ListParams::default().limit(2)).await.unwrap();
    let token = page.metadata.continue_.unwrap();
    cms.create(
        &PostParams::default(),
        &serde_json::from_value(json!({"metadata": {"name": "late"}})).unwrap(),
    )
    .await
    .unwrap();
    kube.compact();
    let err = api_error(
        cms.list(&ListParams::default().limit(2).continue_token(&token))
            .await
            .unwrap_err(),
    );
    assert_eq!((err.code, err.reason.as_str()), (410, "Expired"));
}

#[tokio::test]
async fn deletes_propagate_and_wait_for_finalizers() {
    let kube = FakeKube::start(Scenario::ready()).unwrap();
    let client = client(&kube).await;
    create_namespace(&client, "del").await;
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), "del");
    for name in ["bg", "orphan", "fg"] {
        deployments
            .create(
                &PostParams::default(),
                &serde_json::from_value(support::deployment(name, "del", 1)).unwrap(),
            )
            .await
            .unwrap();
    }
    for name in ["bg", "orphan", "fg"] {
        eventually(&kube, name, |s| {
            s.get("deployments.apps", "del", name)
                .filter(support::available)
        });
    }
    let rs_of = |kube: &FakeKube, name: &str| -> Vec<Value> {
        kube.store()
            .list("replicasets.apps", Some("del"))
            .into_iter()
            .filter(|rs| {
                rs["metadata"]["name"]
                    .as_str()
                    .unwrap()
                    .starts_with(&format!("{name}-"))
            })
            .collect()
    };

    deployments
        .delete("bg", &DeleteParams::background())
        .await
        .unwrap();
    eventually(&kube, "bg's ReplicaSet collected", |_| {
        rs_of(&kube, "bg").is_empty().then_some(())
    });

    deployments
        .delete("orphan", &DeleteParams::orphan())
        .await
        .unwrap();
    let orphans = rs_of(&kube, "orphan");
    assert_eq!(orphans.len(), 1, "the ReplicaSet stays");
    assert!(
        orphans[0]["metadata"]["ownerReferences"]
            .as_array()
            .unwrap()
            .is_empty()
    );

    let pending = deployments
        .delete("fg", &DeleteParams::foreground())
        .await
        .unwrap();
    let pending = pending
        .left()
        .expect("foreground deletion returns the object");
    assert!(
        pending
            .metadata
            .finalizers
            .unwrap()
            .contains(&"foregroundDeletion".to_string())
    );
    eventually(&kube, "fg gone after its dependents", |s| {
        (s.get("deployments.apps", "del", "fg").is_none() && rs_of(&kube, "fg").is_empty())
            .then_some(())
    });

    // A finalizer holds an object until it is removed.
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "del");
    let held: ConfigMap = serde_json::from_value(
        json!({"metadata": {"name": "held", "finalizers": ["example.com/hold"]}}),
    )
    .unwrap();
    cms.create(&PostParams::default(), &held).await.unwrap();
    let pending = cms
        .delete("held", &DeleteParams::default())
        .await
        .unwrap()
        .left()
        .unwrap();
    assert!(pending.metadata.deletion_timestamp.is_some());
    assert!(cms.get("held").await.is_ok());
    cms.patch(
        "held",
        &PatchParams::default(),
        &Patch::Merge(json!({"metadata": {"finalizers": null}})),
    )
    .await
    .unwrap();
    assert_eq!(api_error(cms.get("held").await.unwrap_err()).code, 404);
    // Deleting what is not there.
    let err = api_error(
        cms.delete("held", &DeleteParams::default())
            .await
            .unwrap_err(),
    );
    assert_eq!(err.code, 404);
}

#[tokio::test]
async fn bad_input_gets_a_status_never_a_crash() {
    let kube = FakeKube::start(Scenario::ready()).unwrap();
    let client = client(&kube).await;
    create_namespace(&client, "bad").await;
    let send = |method: &str, path: &str, content_type: &str, body: Vec<u8>| {
        let request = http::Request::builder()
            .method(method)
            .uri(path)
            .header("content-type", content_type)
            .body(body)
            .unwrap();
        let client = client.clone();
        async move { client.request_text(request).await }
    };
    let deployments = "/apis/apps/v1/namespaces/bad/deployments";
    let mut wrong = support::deployment("web", "bad", 1);
    wrong["spec"]["template"]["spec"]["containers"] = json!("app");
    let err = api_error(
        send(
            "POST",
            deployments,
            "application/json",
            serde_json::to_vec(&wrong).unwrap(),
        )
        .await
        .unwrap_err(),
    );
    assert_eq!(err.code, 400);
    assert!(
        err.message.starts_with("Deployment in version \"v1\" cannot be handled as a Deployment: json: cannot unmarshal string"),
        "{}",
        err.message
    );
    send(
        "POST",
        deployments,
        "application/json",
        serde_json::to_vec(&support::deployment("web", "bad", 1)).unwrap(),
    )
    .await
    .unwrap();
    let web = format!("{deployments}/web");
    // Patches that would leave an undecodable object.
    let err = api_error(
        send(
            "PATCH",
            &web,
            "application/merge-patch+json",
            br#"{"spec": {"template": "x"}}"#.to_vec(),
        )
        .await
        .unwrap_err(),
    );
    assert_eq!(err.code, 400);
    let err = api_error(
        send(
            "PATCH",
            &web,
            "application/json-patch+json",
            br#"[{"op": "replace", "path": "", "value": 7}]"#.to_vec(),
        )
        .await
        .unwrap_err(),
    );
    assert_eq!(err.code, 400);
    let err = api_error(
        send(
            "PATCH",
            &web,
            "application/json-patch+json",
            br#"[{"op": "remove", "path": "/nope/x"}]"#.to_vec(),
        )
        .await
        .unwrap_err(),
    );
    assert_eq!(err.code, 422);
    let err = api_error(
        send("PATCH", &web, "text/plain", b"{}".to_vec())
            .await
            .unwrap_err(),
    );
    assert_eq!(
        (err.code, err.reason.as_str()),
        (415, "UnsupportedMediaType")
    );
    let err = api_error(
        send(
            "PATCH",
            &web,
            "application/apply-patch+yaml",
            b"kind: Deployment\n".to_vec(),
        )
        .await
        .unwrap_err(),
    );
    assert_eq!(err.code, 422, "apply without fieldManager: {}", err.message);
    let err = api_error(
        send(
            "PATCH",
            &format!("{web}?fieldManager=m"),
            "application/apply-patch+yaml",
            b": : :".to_vec(),
        )
        .await
        .unwrap_err(),
    );
    assert_eq!(err.code, 400);
    let huge = vec![b' '; 4 * 1024 * 1024];
    let err = api_error(
        send("POST", deployments, "application/json", huge)
            .await
            .unwrap_err(),
    );
    assert_eq!(
        (err.code, err.reason.as_str()),
        (413, "RequestEntityTooLarge")
    );
    let err = api_error(
        send(
            "PUT",
            &format!("{web}/log"),
            "application/json",
            b"{}".to_vec(),
        )
        .await
        .unwrap_err(),
    );
    assert_eq!(
        err.code, 404,
        "deployments have no log subresource: {}",
        err.message
    );
    let err = api_error(
        send("POST", &web, "application/json", b"{}".to_vec())
            .await
            .unwrap_err(),
    );
    assert_eq!((err.code, err.reason.as_str()), (405, "MethodNotAllowed"));
    let err = api_error(
        send(
            "GET",
            &format!("{deployments}?labelSelector=a%20in%20b"),
            "application/json",
            Vec::new(),
        )
        .await
        .unwrap_err(),
    );
    assert_eq!(err.code, 400);
    let err = api_error(
        send(
            "GET",
            &format!("{deployments}?watch=true&resourceVersion=abc"),
            "application/json",
            Vec::new(),
        )
        .await
        .unwrap_err(),
    );
    assert_eq!(err.code, 400);
    // Still serving, and the controllers still run.
    eventually(&kube, "web available", |s| {
        s.get("deployments.apps", "bad", "web")
            .filter(support::available)
    });
}

#[tokio::test]
async fn watches_follow_selections_and_time_out() {
    let kube = FakeKube::start(Scenario::ready()).unwrap();
    let client = client(&kube).await;
    create_namespace(&client, "sel").await;
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "sel");
    let rv = cms
        .list(&ListParams::default())
        .await
        .unwrap()
        .metadata
        .resource_version
        .unwrap();
    let mut watch = cms
        .watch(
            &WatchParams::default().labels("tier=a").disable_bookmarks(),
            &rv,
        )
        .await
        .unwrap()
        .boxed();
    let label = |tier: &str| Patch::Merge(json!({"metadata": {"labels": {"tier": tier}}}));
    cms.create(
        &PostParams::default(),
        &serde_json::from_value(json!({"metadata": {"name": "m", "labels": {"tier": "a"}}}))
            .unwrap(),
    )
    .await
    .unwrap();
    cms.patch("m", &PatchParams::default(), &label("b"))
        .await
        .unwrap();
    cms.patch("m", &PatchParams::default(), &label("a"))
        .await
        .unwrap();
    cms.delete("m", &DeleteParams::default()).await.unwrap();
    let mut kinds = Vec::new();
    while kinds.len() < 4 {
        let kind = match within("selection events", watch.try_next())
            .await
            .unwrap()
            .expect("open")
        {
            WatchEvent::Added(_) => "ADDED",
            WatchEvent::Modified(_) => "MODIFIED",
            WatchEvent::Deleted(_) => "DELETED",
            other => panic!("{other:?}"),
        };
        kinds.push(kind);
    }
    // Leaving the selection reads as a deletion, entering it as an addition.
    assert_eq!(kinds, ["ADDED", "DELETED", "ADDED", "DELETED"]);

    let begun = std::time::Instant::now();
    let mut short = cms
        .watch(&WatchParams::default().timeout(1), &rv)
        .await
        .unwrap()
        .boxed();
    while within("the end of a 1 s watch", short.try_next())
        .await
        .unwrap()
        .is_some()
    {}
    let took = begun.elapsed();
    assert!(
        took >= std::time::Duration::from_millis(900) && took < std::time::Duration::from_secs(5),
        "{took:?}"
    );
}

#[tokio::test]
async fn followed_logs_end_when_the_container_goes() {
    let kube = FakeKube::start(Scenario::ready()).unwrap();
    let client = client(&kube).await;
    let pod = ready_pod(&kube, &client, "follow", "tail").await;
    let pods: Api<Pod> = Api::namespaced(client, "follow");
    let mut lines = pods
        .log_stream(
            &pod,
            &LogParams {
                follow: true,
                ..LogParams::default()
            },
        )
        .await
        .unwrap()
        .lines();
    let first = within("the first line", lines.try_next())
        .await
        .unwrap()
        .unwrap();
    assert!(
        first.contains(&format!("of pod follow/{pod} is starting")),
        "{first}"
    );
    within("the second line", lines.try_next())
        .await
        .unwrap()
        .unwrap();
    pods.delete(&pod, &DeleteParams::default()).await.unwrap();
    assert!(
        within("the end of the followed log", lines.try_next())
            .await
            .unwrap()
            .is_none()
    );
}

#[tokio::test]
async fn apply_managers_conflict_unless_forced() {
    let kube = FakeKube::start(Scenario::ready()).unwrap();
    let client = client(&kube).await;
    create_namespace(&client, "ssa").await;
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), "ssa");
    let mut ours = support::deployment("web", "ssa", 2);
    deployments
        .patch("web", &PatchParams::apply("stackctl"), &Patch::Apply(&ours))
        .await
        .unwrap();
    ours["spec"]["replicas"] = json!(3);
    let err = api_error(
        deployments
            .patch(
                "web",
                &PatchParams::apply("someone-else"),
                &Patch::Apply(&ours),
            )
            .await
            .unwrap_err(),
    );
    assert_eq!((err.code, err.reason.as_str()), (409, "Conflict"));
    assert_eq!(
        err.message,
        "Apply failed with 1 conflict: conflict with \"stackctl\" using apps/v1: .spec.replicas"
    );
    assert_eq!(err.details.unwrap().causes[0].field, ".spec.replicas");
    let forced = deployments
        .patch(
            "web",
            &PatchParams::apply("someone-else").force(),
            &Patch::Apply(&ours),
        )
        .await
        .unwrap();
    assert_eq!(forced.spec.unwrap().replicas, Some(3));
    // The first manager no longer owns replicas: its re-apply without them keeps 3.
    let mut without = support::deployment("web", "ssa", 2);
    without["spec"].as_object_mut().unwrap().remove("replicas");
    let kept = deployments
        .patch(
            "web",
            &PatchParams::apply("stackctl"),
            &Patch::Apply(&without),
        )
        .await
        .unwrap();
    assert_eq!(kept.spec.unwrap().replicas, Some(3));
}
