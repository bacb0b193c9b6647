//! Pod logs (`…/pods/{name}/log`): canned text per container, current and previous, with the
//! apiserver's container choice and the kubelet's refusals (waiting containers, no previous
//! instance), `tailLines`, `limitBytes`, `timestamps` and `follow`.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::SystemTime;

use bytes::Bytes;
use hyper::Response;
use serde_json::Value;
use tokio::sync::mpsc;

use crate::http::{self, Body, Shutdown};
use crate::meta;
use crate::scenario::Scenario;
use crate::status::ApiError;
use crate::store::{ChangeKind, Store};

/// The log query parameters the stand-in honours.
#[derive(Debug, Default, Clone)]
pub struct LogOptions {
    pub container: Option<String>,
    pub previous: bool,
    pub follow: bool,
    pub tail_lines: Option<usize>,
    pub limit_bytes: Option<usize>,
    pub timestamps: bool,
}

impl LogOptions {
    pub fn from_query(q: &HashMap<String, String>) -> Result<Self, ApiError> {
        let flag = |k: &str| q.get(k).is_some_and(|v| v == "true" || v == "1");
        let number = |k: &str| -> Result<Option<usize>, ApiError> {
            q.get(k)
                .map(|v| {
                    v.parse::<usize>()
                        .map_err(|_| ApiError::bad_request(format!("invalid {k}: {v:?}")))
                })
                .transpose()
        };
        Ok(Self {
            container: q.get("container").filter(|c| !c.is_empty()).cloned(),
            previous: flag("previous"),
            follow: flag("follow"),
            tail_lines: number("tailLines")?,
            limit_bytes: number("limitBytes")?,
            timestamps: flag("timestamps"),
        })
    }
}

/// Picks the container as the apiserver does: the one asked for, or the only one.
fn choose_container(pod: &Value, asked: Option<&str>) -> Result<String, ApiError> {
    let names = |list: &str| -> Vec<String> {
        pod["spec"][list]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|c| c["name"].as_str().map(String::from))
                    .collect()
            })
            .unwrap_or_default()
    };
    let containers = names("containers");
    let init = names("initContainers");
    let pod_name = meta::name(pod);
    match asked {
        Some(c) if containers.iter().chain(&init).any(|n| n == c) => Ok(c.to_string()),
        Some(c) => Err(ApiError::bad_request(format!(
            "container {c} is not valid for pod {pod_name}"
        ))),
        None if containers.len() == 1 => Ok(containers[0].clone()),
        None if containers.is_empty() => Err(ApiError::bad_request(format!(
            "a container name must be specified for pod {pod_name}"
        ))),
        None => {
            let mut msg = format!(
                "a container name must be specified for pod {pod_name}, choose one of: [{}]",
                containers.join(" ")
            );
            if !init.is_empty() {
                msg.push_str(&format!(
                    " or one of the init containers: [{}]",
                    init.join(" ")
                ));
            }
            Err(ApiError::bad_request(msg))
        }
    }
}

fn container_status<'a>(pod: &'a Value, container: &str) -> Option<&'a Value> {
    ["containerStatuses", "initContainerStatuses"]
        .iter()
        .filter_map(|list| pod["status"][*list].as_array())
        .flatten()
        .find(|s| s["name"] == container)
}

/// The text of the logs asked for, or the kubelet's refusal.
pub fn log_text(
    pod: &Value,
    owners: &[String],
    scenario: &Scenario,
    opts: &LogOptions,
) -> Result<(String, String), ApiError> {
    let container = choose_container(pod, opts.container.as_deref())?;
    let pod_name = meta::name(pod);
    if pod["spec"]["nodeName"]
        .as_str()
        .unwrap_or_default()
        .is_empty()
    {
        // Not scheduled: the apiserver has no kubelet to ask and answers an empty body.
        return Ok((container, String::new()));
    }
    let status = container_status(pod, &container);
    let last_terminated = status.and_then(|s| s["lastState"]["terminated"].as_object());
    let state = status.map(|s| &s["state"]);
    let labels: BTreeMap<String, String> = meta::labels(pod)
        .map(|m| {
            m.iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
                .collect()
        })
        .unwrap_or_default();
    let rule = scenario.logs.iter().find(|r| {
        r.select.matches(owners, &labels, meta::namespace(pod))
            && r.container.as_ref().is_none_or(|c| *c == container)
    });
    let previous_text = |code: &Value| {
        rule.and_then(|r| r.previous.clone()).unwrap_or_else(|| {
            format!(
                "fakekube stand-in: container {container} of pod {}/{pod_name} is starting\nfakekube stand-in: container {container} exited with code {code}\n",
                meta::namespace(pod)
            )
        })
    };
    let current_text = || {
        rule.and_then(|r| r.current.clone()).unwrap_or_else(|| {
            format!(
                "fakekube stand-in: container {container} of pod {}/{pod_name} is starting\nfakekube stand-in: container {container} is running\n",
                meta::namespace(pod)
            )
        })
    };
    let refuse = |why: &str| {
        Err(ApiError::bad_request(format!(
            "container {container:?} in pod {pod_name:?} is waiting to start: {why}"
        )))
    };

    if opts.previous {
        return match last_terminated {
            Some(t) => Ok((container.clone(), previous_text(&t["exitCode"]))),
            None => Err(ApiError::bad_request(format!(
                "previous terminated container {container:?} in pod {pod_name:?} not found"
            ))),
        };
    }
    let Some(state) = state else {
        return refuse("ContainerCreating");
    };
    if state["running"].is_object() {
        return Ok((container.clone(), current_text()));
    }
    if let Some(t) = state["terminated"].as_object() {
        let text = if t["exitCode"] == 0 {
            current_text()
        } else {
            previous_text(&t["exitCode"])
        };
        return Ok((container.clone(), text));
    }
    if let Some(t) = last_terminated {
        // Waiting to restart (CrashLoopBackOff): the kubelet serves the last instance's log.
        return Ok((container.clone(), previous_text(&t["exitCode"])));
    }
    match state["waiting"]["reason"].as_str() {
        Some("ErrImagePull") => refuse("image can't be pulled"),
        Some("ImagePullBackOff") => refuse("trying and failing to pull image"),
        Some(reason) => refuse(reason),
        None => Err(ApiError::bad_request(format!(
            "container {container:?} in pod {pod_name:?} is waiting to start - no logs yet"
        ))),
    }
}

/// Applies `tailLines`, `timestamps` and `limitBytes`.
pub fn shape(text: &str, opts: &LogOptions) -> String {
    let lines: Vec<&str> = text.lines().collect();
    let start = opts.tail_lines.map_or(0, |n| lines.len().saturating_sub(n));
    let stamp = meta::timestamp_nanos(SystemTime::now());
    let mut out = String::new();
    for l in &lines[start..] {
        if opts.timestamps {
            out.push_str(&stamp);
            out.push(' ');
        }
        out.push_str(l);
        out.push('\n');
    }
    if let Some(limit) = opts.limit_bytes
        && out.len() > limit
    {
        let mut cut = limit;
        while !out.is_char_boundary(cut) {
            cut -= 1;
        }
        out.truncate(cut);
    }
    out
}

/// The response: the text, and with `follow` a stream kept open until the container stops
/// running (restart, deletion), the client leaves or the server shuts down.
pub fn respond(
    store: &Arc<Store>,
    pod: &Value,
    container: &str,
    text: String,
    opts: &LogOptions,
    shutdown: Shutdown,
) -> Response<Body> {
    let running =
        container_status(pod, container).is_some_and(|s| s["state"]["running"].is_object());
    if !opts.follow || !running {
        return Response::builder()
            .header("content-type", "text/plain")
            .body(http::full(text))
            .expect("valid response");
    }
    let (tx, rx) = mpsc::channel::<Bytes>(4);
    let mut changes = store.subscribe();
    let uid = meta::uid(pod).to_string();
    let restarts = container_status(pod, container).map(|s| s["restartCount"].clone());
    let container = container.to_string();
    tokio::spawn(async move {
        if tx.send(Bytes::from(text)).await.is_err() {
            return;
        }
        loop {
            tokio::select! {
                change = changes.recv() => match change {
                    Ok(c) if c.key.is_type("", "pods") && meta::uid(&c.object) == uid => {
                        let now = container_status(&c.object, &container);
                        let still_running = c.kind != ChangeKind::Deleted
                            && now.is_some_and(|s| s["state"]["running"].is_object())
                            && now.map(|s| s["restartCount"].clone()) == restarts;
                        if !still_running {
                            return;
                        }
                    }
                    Ok(_) => {}
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
                    Err(_) => return,
                },
                () = tx.closed() => return,
                () = shutdown.wait() => return,
            }
        }
    });
    Response::builder()
        .header("content-type", "text/plain")
        .body(http::channel_body(rx))
        .expect("valid response")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pod(statuses: Value) -> Value {
        json!({
            "metadata": {"name": "web-1", "namespace": "ns"},
            "spec": {"nodeName": "n", "containers": [{"name": "app"}, {"name": "side"}], "initContainers": [{"name": "init"}]},
            "status": {"containerStatuses": statuses}
        })
    }

    #[test]
    fn several_containers_need_a_name() {
        let err = log_text(
            &pod(json!([])),
            &[],
            &Scenario::default(),
            &LogOptions::default(),
        )
        .unwrap_err();
        assert_eq!(
            err.message,
            "a container name must be specified for pod web-1, choose one of: [app side] or one of the init containers: [init]"
        );
    }

    #[test]
    fn previous_needs_a_terminated_instance() {
        let opts = LogOptions {
            container: Some("app".into()),
            previous: true,
            ..LogOptions::default()
        };
        let running = pod(json!([{"name": "app", "state": {"running": {}}, "lastState": {}}]));
        let err = log_text(&running, &[], &Scenario::default(), &opts).unwrap_err();
        assert_eq!(
            err.message,
            "previous terminated container \"app\" in pod \"web-1\" not found"
        );
        let crashed = pod(
            json!([{"name": "app", "state": {"waiting": {"reason": "CrashLoopBackOff"}}, "lastState": {"terminated": {"exitCode": 3}}}]),
        );
        let (_, text) = log_text(&crashed, &[], &Scenario::default(), &opts).unwrap();
        assert!(text.contains("exited with code 3"), "{text}");
    }

    #[test]
    fn image_pull_failures_are_refused_as_the_kubelet_does() {
        let opts = LogOptions {
            container: Some("app".into()),
            ..LogOptions::default()
        };
        let p = pod(
            json!([{"name": "app", "state": {"waiting": {"reason": "ImagePullBackOff"}}, "lastState": {}}]),
        );
        let err = log_text(&p, &[], &Scenario::default(), &opts).unwrap_err();
        assert_eq!(
            err.message,
            "container \"app\" in pod \"web-1\" is waiting to start: trying and failing to pull image"
        );
    }

    #[test]
    fn tail_and_limit() {
        let opts = LogOptions {
            tail_lines: Some(2),
            limit_bytes: Some(4),
            ..LogOptions::default()
        };
        assert_eq!(shape("a\nbb\nccc\n", &opts), "bb\nc");
    }
}
