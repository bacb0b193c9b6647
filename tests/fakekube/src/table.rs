//! Server-side printing: the `meta.k8s.io/v1` Table the apiserver returns when a client (kubectl
//! for its human output) asks for `as=Table`, with the columns of the apiserver's printers for
//! the built-in types (a pod's READY, STATUS and RESTARTS as kubectl shows them, a
//! Deployment's READY, UP-TO-DATE and AVAILABLE, …) and NAME and AGE for anything else.

use std::time::SystemTime;

use serde_json::{Value, json};

use crate::resources::ResourceType;

/// Whether an Accept header asks for a Table.
pub fn wants_table(accept: &str) -> bool {
    accept.split(',').any(|media| {
        let media = media.replace(' ', "");
        media.contains("as=Table") && media.contains("g=meta.k8s.io")
    })
}

/// What each row carries as its object (`includeObject`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Include {
    None,
    Metadata,
    Object,
}

impl Include {
    pub fn from_query(value: Option<&str>) -> Self {
        match value {
            Some("None") => Self::None,
            Some("Object") => Self::Object,
            _ => Self::Metadata,
        }
    }
}

type Column = (&'static str, &'static str, u8);

const NAME: Column = ("Name", "string", 0);
const AGE: Column = ("Age", "string", 0);

fn columns(rt: &ResourceType) -> Vec<Column> {
    match (rt.group.as_str(), rt.plural.as_str()) {
        ("", "pods") => vec![
            NAME,
            ("Ready", "string", 0),
            ("Status", "string", 0),
            ("Restarts", "string", 0),
            AGE,
            ("IP", "string", 1),
            ("Node", "string", 1),
            ("Nominated Node", "string", 1),
            ("Readiness Gates", "string", 1),
        ],
        ("apps", "deployments") => vec![
            NAME,
            ("Ready", "string", 0),
            ("Up-to-date", "integer", 0),
            ("Available", "integer", 0),
            AGE,
            ("Containers", "string", 1),
            ("Images", "string", 1),
            ("Selector", "string", 1),
        ],
        ("apps", "replicasets") => vec![
            NAME,
            ("Desired", "integer", 0),
            ("Current", "integer", 0),
            ("Ready", "integer", 0),
            AGE,
            ("Containers", "string", 1),
            ("Images", "string", 1),
            ("Selector", "string", 1),
        ],
        ("apps", "statefulsets") => vec![
            NAME,
            ("Ready", "string", 0),
            AGE,
            ("Containers", "string", 1),
            ("Images", "string", 1),
        ],
        ("batch", "jobs") => vec![
            NAME,
            ("Status", "string", 0),
            ("Completions", "string", 0),
            ("Duration", "string", 0),
            AGE,
            ("Containers", "string", 1),
            ("Images", "string", 1),
            ("Selector", "string", 1),
        ],
        ("batch", "cronjobs") => vec![
            NAME,
            ("Schedule", "string", 0),
            ("Timezone", "string", 0),
            ("Suspend", "boolean", 0),
            ("Active", "integer", 0),
            ("Last Schedule", "string", 0),
            AGE,
        ],
        ("", "services") => vec![
            NAME,
            ("Type", "string", 0),
            ("Cluster-IP", "string", 0),
            ("External-IP", "string", 0),
            ("Port(s)", "string", 0),
            AGE,
            ("Selector", "string", 1),
        ],
        ("", "endpoints") => vec![NAME, ("Endpoints", "string", 0), AGE],
        ("", "namespaces") => vec![NAME, ("Status", "string", 0), AGE],
        ("", "nodes") => vec![
            NAME,
            ("Status", "string", 0),
            ("Roles", "string", 0),
            AGE,
            ("Version", "string", 0),
            ("Internal-IP", "string", 1),
            ("External-IP", "string", 1),
            ("OS-Image", "string", 1),
            ("Kernel-Version", "string", 1),
            ("Container-Runtime", "string", 1),
        ],
        ("", "events") => vec![
            ("Last Seen", "string", 0),
            ("Type", "string", 0),
            ("Reason", "string", 0),
            ("Object", "string", 0),
            ("Message", "string", 0),
        ],
        ("", "configmaps") => vec![NAME, ("Data", "integer", 0), AGE],
        ("", "secrets") => vec![NAME, ("Type", "string", 0), ("Data", "integer", 0), AGE],
        ("", "serviceaccounts") => vec![NAME, ("Secrets", "integer", 0), AGE],
        ("", "persistentvolumeclaims") => vec![
            NAME,
            ("Status", "string", 0),
            ("Volume", "string", 0),
            ("Capacity", "string", 0),
            ("Access Modes", "string", 0),
            ("StorageClass", "string", 0),
            ("VolumeAttributesClass", "string", 0),
            AGE,
        ],
        ("networking.k8s.io", "ingresses") => vec![
            NAME,
            ("Class", "string", 0),
            ("Hosts", "string", 0),
            ("Address", "string", 0),
            ("Ports", "string", 0),
            AGE,
        ],
        _ => vec![NAME, AGE],
    }
}

/// `duration.HumanDuration`, the age format of every printer.
pub fn human_duration(secs: i64) -> String {
    if secs < -1 {
        return "<invalid>".into();
    }
    let secs = secs.max(0);
    if secs < 120 {
        return format!("{secs}s");
    }
    let minutes = secs / 60;
    if minutes < 10 {
        return match secs % 60 {
            0 => format!("{minutes}m"),
            s => format!("{minutes}m{s}s"),
        };
    }
    if minutes < 180 {
        return format!("{minutes}m");
    }
    let hours = minutes / 60;
    if hours < 8 {
        return match minutes % 60 {
            0 => format!("{hours}h"),
            m => format!("{hours}h{m}m"),
        };
    }
    if hours < 48 {
        return format!("{hours}h");
    }
    if hours < 24 * 8 {
        return match hours % 24 {
            0 => format!("{}d", hours / 24),
            h => format!("{}d{h}h", hours / 24),
        };
    }
    if hours < 24 * 365 * 2 {
        return format!("{}d", hours / 24);
    }
    format!("{}y", hours / 24 / 365)
}

fn seconds_since(timestamp: &Value, now: SystemTime) -> Option<i64> {
    let t: jiff::Timestamp = timestamp.as_str()?.parse().ok()?;
    let now = now.duration_since(SystemTime::UNIX_EPOCH).ok()?.as_secs() as i64;
    Some(now - t.as_second())
}

fn age(timestamp: &Value, now: SystemTime) -> String {
    seconds_since(timestamp, now).map_or_else(|| "<unknown>".into(), human_duration)
}

fn int(v: &Value) -> i64 {
    v.as_i64().unwrap_or(0)
}

fn containers_and_images(pod_spec: &Value) -> (String, String) {
    let list = pod_spec["containers"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let names: Vec<&str> = list.iter().filter_map(|c| c["name"].as_str()).collect();
    let images: Vec<&str> = list.iter().filter_map(|c| c["image"].as_str()).collect();
    (names.join(","), images.join(","))
}

/// Labels as the printers show them: `a=b,c=d`, or `<none>`.
fn labels_or_none(labels: &Value) -> String {
    match crate::selectors::labels_text(labels) {
        text if text.is_empty() => "<none>".into(),
        text => text,
    }
}

/// The STATUS column of a pod, as kubectl's printer derives it.
fn pod_status(pod: &Value) -> (String, i64, i64, Option<String>) {
    let status = &pod["status"];
    let mut reason = status["reason"]
        .as_str()
        .filter(|r| !r.is_empty())
        .or(status["phase"].as_str())
        .unwrap_or("Pending")
        .to_string();
    let mut restarts = 0;
    let mut last_restart: Option<String> = None;
    let note_restart = |c: &Value, last: &mut Option<String>| {
        if let Some(f) = c["lastState"]["terminated"]["finishedAt"].as_str()
            && last.as_deref().is_none_or(|l| l < f)
        {
            *last = Some(f.to_string());
        }
    };
    let init = status["initContainerStatuses"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let init_total = pod["spec"]["initContainers"].as_array().map_or(0, Vec::len);
    let mut initializing = false;
    for (i, c) in init.iter().enumerate() {
        restarts += int(&c["restartCount"]);
        note_restart(c, &mut last_restart);
        let state = &c["state"];
        if state["terminated"].is_object() && int(&state["terminated"]["exitCode"]) == 0 {
            continue;
        }
        initializing = true;
        reason = if let Some(t) = state["terminated"].as_object() {
            match t
                .get("reason")
                .and_then(Value::as_str)
                .filter(|r| !r.is_empty())
            {
                Some(r) => format!("Init:{r}"),
                None => format!("Init:ExitCode:{}", int(&state["terminated"]["exitCode"])),
            }
        } else if let Some(r) = state["waiting"]["reason"]
            .as_str()
            .filter(|r| !r.is_empty() && *r != "PodInitializing")
        {
            format!("Init:{r}")
        } else {
            format!("Init:{i}/{init_total}")
        };
        break;
    }
    let initialized = status["conditions"].as_array().is_some_and(|c| {
        c.iter()
            .any(|c| c["type"] == "Initialized" && c["status"] == "True")
    });
    let containers = status["containerStatuses"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let mut ready = 0;
    if !initializing || initialized {
        restarts = 0;
        let mut has_running = false;
        for c in containers.iter().rev() {
            restarts += int(&c["restartCount"]);
            note_restart(c, &mut last_restart);
            let state = &c["state"];
            if let Some(r) = state["waiting"]["reason"]
                .as_str()
                .filter(|r| !r.is_empty())
            {
                reason = r.to_string();
            } else if let Some(r) = state["terminated"]["reason"]
                .as_str()
                .filter(|r| !r.is_empty())
            {
                reason = r.to_string();
            } else if state["terminated"].is_object() {
                reason = format!("ExitCode:{}", int(&state["terminated"]["exitCode"]));
            } else if c["ready"] == true && state["running"].is_object() {
                has_running = true;
                ready += 1;
            }
        }
        if reason == "Completed" && has_running {
            let ready_condition = status["conditions"].as_array().is_some_and(|c| {
                c.iter()
                    .any(|c| c["type"] == "Ready" && c["status"] == "True")
            });
            reason = if ready_condition {
                "Running"
            } else {
                "NotReady"
            }
            .into();
        }
    }
    if pod["metadata"]["deletionTimestamp"].is_string() {
        reason = "Terminating".into();
    }
    (reason, ready, restarts, last_restart)
}

fn cells(rt: &ResourceType, obj: &Value, now: SystemTime) -> Vec<Value> {
    let name = json!(obj["metadata"]["name"]);
    let created = age(&obj["metadata"]["creationTimestamp"], now);
    let spec = &obj["spec"];
    let status = &obj["status"];
    match (rt.group.as_str(), rt.plural.as_str()) {
        ("", "pods") => {
            let (reason, ready, restarts, last) = pod_status(obj);
            let total = spec["containers"].as_array().map_or(0, Vec::len);
            let restarts = match last.and_then(|l| seconds_since(&json!(l), now)) {
                Some(ago) if restarts > 0 => format!("{restarts} ({} ago)", human_duration(ago)),
                _ => restarts.to_string(),
            };
            let or_none = |v: &Value| {
                v.as_str()
                    .filter(|s| !s.is_empty())
                    .unwrap_or("<none>")
                    .to_string()
            };
            vec![
                name,
                json!(format!("{ready}/{total}")),
                json!(reason),
                json!(restarts),
                json!(created),
                json!(or_none(&status["podIP"])),
                json!(or_none(&spec["nodeName"])),
                json!("<none>"),
                json!("<none>"),
            ]
        }
        ("apps", "deployments") => {
            let (c, i) = containers_and_images(&spec["template"]["spec"]);
            vec![
                name,
                json!(format!(
                    "{}/{}",
                    int(&status["readyReplicas"]),
                    spec["replicas"].as_i64().unwrap_or(1)
                )),
                json!(int(&status["updatedReplicas"])),
                json!(int(&status["availableReplicas"])),
                json!(created),
                json!(c),
                json!(i),
                json!(labels_or_none(&spec["selector"]["matchLabels"])),
            ]
        }
        ("apps", "replicasets") => {
            let (c, i) = containers_and_images(&spec["template"]["spec"]);
            vec![
                name,
                json!(spec["replicas"].as_i64().unwrap_or(1)),
                json!(int(&status["replicas"])),
                json!(int(&status["readyReplicas"])),
                json!(created),
                json!(c),
                json!(i),
                json!(labels_or_none(&spec["selector"]["matchLabels"])),
            ]
        }
        ("apps", "statefulsets") => {
            let (c, i) = containers_and_images(&spec["template"]["spec"]);
            vec![
                name,
                json!(format!(
                    "{}/{}",
                    int(&status["readyReplicas"]),
                    spec["replicas"].as_i64().unwrap_or(1)
                )),
                json!(created),
                json!(c),
                json!(i),
            ]
        }
        ("batch", "jobs") => {
            let conditions = status["conditions"].as_array().cloned().unwrap_or_default();
            let has = |t: &str| {
                conditions
                    .iter()
                    .any(|c| c["type"] == t && c["status"] == "True")
            };
            let state = if has("Complete") {
                "Complete"
            } else if has("Failed") {
                "Failed"
            } else if spec["suspend"] == true {
                "Suspended"
            } else {
                "Running"
            };
            let duration = match (
                seconds_since(&status["startTime"], now),
                seconds_since(&status["completionTime"], now),
            ) {
                (Some(start), Some(end)) => human_duration(start - end),
                (Some(start), None) => human_duration(start),
                _ => String::new(),
            };
            let (c, i) = containers_and_images(&spec["template"]["spec"]);
            vec![
                name,
                json!(state),
                json!(format!(
                    "{}/{}",
                    int(&status["succeeded"]),
                    spec["completions"].as_i64().unwrap_or(1)
                )),
                json!(duration),
                json!(created),
                json!(c),
                json!(i),
                json!(labels_or_none(&spec["selector"]["matchLabels"])),
            ]
        }
        ("batch", "cronjobs") => vec![
            name,
            json!(spec["schedule"]),
            json!(spec["timeZone"].as_str().unwrap_or("<none>")),
            json!(spec["suspend"] == true),
            json!(status["active"].as_array().map_or(0, Vec::len)),
            json!("<none>"),
            json!(created),
        ],
        ("", "services") => {
            let kind = spec["type"].as_str().unwrap_or("ClusterIP");
            let ports: Vec<String> = spec["ports"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|p| {
                    let protocol = p["protocol"].as_str().unwrap_or("TCP");
                    match p["nodePort"].as_i64() {
                        Some(node) => format!("{}:{node}/{protocol}", int(&p["port"])),
                        None => format!("{}/{protocol}", int(&p["port"])),
                    }
                })
                .collect();
            let selector = labels_or_none(&spec["selector"]);
            vec![
                name,
                json!(kind),
                json!(spec["clusterIP"].as_str().unwrap_or("<none>")),
                json!(if kind == "LoadBalancer" {
                    "<pending>"
                } else {
                    "<none>"
                }),
                json!(if ports.is_empty() {
                    "<none>".to_string()
                } else {
                    ports.join(",")
                }),
                json!(created),
                json!(selector),
            ]
        }
        ("", "endpoints") => {
            let mut list = Vec::new();
            for subset in obj["subsets"].as_array().into_iter().flatten() {
                for address in subset["addresses"].as_array().into_iter().flatten() {
                    for port in subset["ports"].as_array().into_iter().flatten() {
                        list.push(format!(
                            "{}:{}",
                            address["ip"].as_str().unwrap_or_default(),
                            int(&port["port"])
                        ));
                    }
                }
            }
            let shown = match list.len() {
                0 => "<none>".to_string(),
                n if n > 3 => format!("{} + {} more...", list[..3].join(","), n - 3),
                _ => list.join(","),
            };
            vec![name, json!(shown), json!(created)]
        }
        ("", "namespaces") => vec![
            name,
            json!(status["phase"].as_str().unwrap_or("Active")),
            json!(created),
        ],
        ("", "nodes") => {
            let ready = status["conditions"].as_array().is_some_and(|c| {
                c.iter()
                    .any(|c| c["type"] == "Ready" && c["status"] == "True")
            });
            let mut state = if ready {
                "Ready".to_string()
            } else {
                "NotReady".to_string()
            };
            if spec["unschedulable"] == true {
                state.push_str(",SchedulingDisabled");
            }
            let mut roles: Vec<String> = obj["metadata"]["labels"]
                .as_object()
                .map(|m| {
                    m.keys()
                        .filter_map(|k| {
                            k.strip_prefix("node-role.kubernetes.io/").map(String::from)
                        })
                        .collect()
                })
                .unwrap_or_default();
            roles.sort();
            let address = |kind: &str| {
                status["addresses"]
                    .as_array()
                    .and_then(|a| a.iter().find(|x| x["type"] == kind))
                    .and_then(|x| x["address"].as_str())
                    .unwrap_or("<none>")
                    .to_string()
            };
            let info = &status["nodeInfo"];
            vec![
                name,
                json!(state),
                json!(if roles.is_empty() {
                    "<none>".to_string()
                } else {
                    roles.join(",")
                }),
                json!(created),
                json!(info["kubeletVersion"]),
                json!(address("InternalIP")),
                json!(address("ExternalIP")),
                json!(info["osImage"]),
                json!(info["kernelVersion"]),
                json!(info["containerRuntimeVersion"]),
            ]
        }
        ("", "events") => {
            let involved = &obj["involvedObject"];
            vec![
                json!(age(&obj["lastTimestamp"], now)),
                json!(obj["type"]),
                json!(obj["reason"]),
                json!(format!(
                    "{}/{}",
                    involved["kind"].as_str().unwrap_or_default().to_lowercase(),
                    involved["name"].as_str().unwrap_or_default()
                )),
                json!(obj["message"]),
            ]
        }
        ("", "configmaps") => {
            let count = obj["data"].as_object().map_or(0, |m| m.len())
                + obj["binaryData"].as_object().map_or(0, |m| m.len());
            vec![name, json!(count), json!(created)]
        }
        ("", "secrets") => vec![
            name,
            json!(obj["type"]),
            json!(obj["data"].as_object().map_or(0, |m| m.len())),
            json!(created),
        ],
        ("", "serviceaccounts") => vec![
            name,
            json!(obj["secrets"].as_array().map_or(0, Vec::len)),
            json!(created),
        ],
        ("", "persistentvolumeclaims") => {
            let modes: Vec<&str> = spec["accessModes"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .map(|m| match m {
                    "ReadWriteOnce" => "RWO",
                    "ReadOnlyMany" => "ROX",
                    "ReadWriteMany" => "RWX",
                    "ReadWriteOncePod" => "RWOP",
                    other => other,
                })
                .collect();
            vec![
                name,
                json!(status["phase"].as_str().unwrap_or("Pending")),
                json!(spec["volumeName"].as_str().unwrap_or_default()),
                json!(status["capacity"]["storage"].as_str().unwrap_or_default()),
                json!(modes.join(",")),
                json!(spec["storageClassName"].as_str().unwrap_or("<unset>")),
                json!("<unset>"),
                json!(created),
            ]
        }
        ("networking.k8s.io", "ingresses") => {
            let hosts: Vec<&str> = spec["rules"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|r| r["host"].as_str())
                .collect();
            let ports = if spec["tls"].as_array().is_some_and(|t| !t.is_empty()) {
                "80, 443"
            } else {
                "80"
            };
            vec![
                name,
                json!(spec["ingressClassName"].as_str().unwrap_or("<none>")),
                json!(if hosts.is_empty() {
                    "*".to_string()
                } else {
                    hosts.join(",")
                }),
                json!(""),
                json!(ports),
                json!(created),
            ]
        }
        _ => vec![name, json!(created)],
    }
}

/// A Table of `objects` (a list, a single get, or one watch event), with column definitions
/// unless `headers` is false (watch events after the first carry none).
pub fn table(
    rt: &ResourceType,
    objects: &[Value],
    list_metadata: Value,
    headers: bool,
    include: Include,
) -> Value {
    let now = SystemTime::now();
    let rows: Vec<Value> = objects
        .iter()
        .map(|obj| {
            let mut row = json!({"cells": cells(rt, obj, now)});
            match include {
                Include::None => {}
                Include::Metadata => {
                    row["object"] = json!({
                        "kind": "PartialObjectMetadata",
                        "apiVersion": "meta.k8s.io/v1",
                        "metadata": obj["metadata"],
                    });
                }
                Include::Object => row["object"] = obj.clone(),
            }
            row
        })
        .collect();
    let mut table = json!({
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": list_metadata,
    });
    if headers {
        table["columnDefinitions"] = columns(rt)
            .into_iter()
            .map(|(name, kind, priority)| {
                json!({
                    "name": name,
                    "type": kind,
                    "format": if name == "Name" { "name" } else { "" },
                    "description": "",
                    "priority": priority,
                })
            })
            .collect();
    }
    table["rows"] = json!(rows);
    table
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ages_print_as_kubectl_does() {
        for (secs, shown) in [
            (5, "5s"),
            (119, "119s"),
            (150, "2m30s"),
            (600, "10m"),
            (7200, "120m"),
            (3 * 3600 + 60, "3h1m"),
            (30 * 3600, "30h"),
            (50 * 3600, "2d2h"),
            (30 * 86400, "30d"),
        ] {
            assert_eq!(human_duration(secs), shown, "{secs}");
        }
    }

    #[test]
    fn pod_status_shows_the_waiting_reason() {
        let pod = json!({
            "spec": {"containers": [{"name": "app"}]},
            "status": {"phase": "Running", "containerStatuses": [{
                "name": "app", "ready": false, "restartCount": 3,
                "state": {"waiting": {"reason": "CrashLoopBackOff"}},
                "lastState": {"terminated": {"exitCode": 1, "finishedAt": "2024-01-01T00:00:00Z"}},
            }]},
        });
        let (reason, ready, restarts, last) = pod_status(&pod);
        assert_eq!(
            (reason.as_str(), ready, restarts),
            ("CrashLoopBackOff", 0, 3)
        );
        assert_eq!(last.as_deref(), Some("2024-01-01T00:00:00Z"));
        let init = json!({
            "spec": {"initContainers": [{"name": "setup"}], "containers": [{"name": "app"}]},
            "status": {"phase": "Pending", "initContainerStatuses": [{"name": "setup", "restartCount": 1, "state": {"waiting": {"reason": "CrashLoopBackOff"}}}],
                       "containerStatuses": [{"name": "app", "restartCount": 0, "state": {"waiting": {"reason": "PodInitializing"}}}]},
        });
        assert_eq!(pod_status(&init).0, "Init:CrashLoopBackOff");
    }
}
