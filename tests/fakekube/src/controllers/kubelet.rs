//! The scheduler and the kubelet, in the style of kwok: pods are bound to the one node at once
//! (or never, for `unschedulable`), then their status follows the scenario's behaviour as a
//! function of the time since the kubelet first saw them: container states, restarts and
//! `lastState`, conditions, IPs, and the events the kubelet writes (Pulling, Failed, BackOff,
//! Created, Started, Unhealthy).

use std::collections::{BTreeMap, HashSet};
use std::time::{Duration, Instant, SystemTime};

use serde_json::{Value, json};

use super::events::{self, Event};
use super::{Pass, condition, fnv32, owner_chain};
use crate::meta;
use crate::scenario::{Behaviour, PodRule};
use crate::store::ObjectKey;

/// The one node of the stand-in cluster, named as kind names its control plane.
pub const NODE_NAME: &str = "kind-control-plane";
pub const NODE_IP: &str = "172.18.0.2";

/// When the kubelet first saw a pod, and the pod's IP.
pub struct PodClock {
    created: Instant,
    created_wall: SystemTime,
    ip: String,
}

pub fn reconcile(pass: &mut Pass<'_, '_>) {
    let mut seen = HashSet::new();
    for (key, pod) in pass.txn.list("", "pods", None) {
        seen.insert(meta::uid(&pod).to_string());
        if !meta::is_terminating(&pod) {
            sync(pass, &key, pod);
        }
    }
    pass.state.pods.retain(|uid, _| seen.contains(uid));
}

fn labels_of(pod: &Value) -> BTreeMap<String, String> {
    meta::labels(pod)
        .map(|m| {
            m.iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
                .collect()
        })
        .unwrap_or_default()
}

/// The rule for a pod. Pods in kube-system follow only rules that name that namespace, so a
/// catch-all rule does not break the cluster's own DNS.
fn rule_for<'s>(pass: &'s Pass<'_, '_>, pod: &Value) -> Option<&'s PodRule> {
    let owners = owner_chain(pass.txn, pod);
    let namespace = meta::namespace(pod);
    let labels = labels_of(pod);
    pass.scenario.pods.iter().find(|r| {
        r.select.matches(&owners, &labels, namespace)
            && (namespace != "kube-system" || r.select.namespace.as_deref() == Some("kube-system"))
    })
}

fn sync(pass: &mut Pass<'_, '_>, key: &ObjectKey, mut pod: Value) {
    let rule = rule_for(pass, &pod).cloned();
    let behaviour = rule.as_ref().map_or(Behaviour::Ready, |r| r.behaviour);
    let stamp = meta::timestamp(pass.wall);

    if behaviour == Behaviour::Unschedulable {
        let message = "0/1 nodes are available: 1 Insufficient cpu. preemption: 0/1 nodes are available: 1 No preemption victims found for incoming pod.";
        let mut status = pod["status"].clone();
        status["phase"] = json!("Pending");
        status["conditions"] = json!([condition(
            &pod["status"]["conditions"],
            "PodScheduled",
            false,
            "Unschedulable",
            message,
            &stamp,
            false
        )]);
        super::write_status(pass.txn, key, status);
        if let Some(p) = pass.txn.get(key).cloned() {
            events::record(
                pass,
                &p,
                Event::warning("FailedScheduling", message.into(), "default-scheduler"),
            );
        }
        return;
    }

    if pod["spec"]["nodeName"]
        .as_str()
        .unwrap_or_default()
        .is_empty()
    {
        pod["spec"]["nodeName"] = json!(NODE_NAME);
        pod = pass.txn.put(key.clone(), pod);
        events::record(
            pass,
            &pod,
            Event::normal(
                "Scheduled",
                format!(
                    "Successfully assigned {}/{} to {NODE_NAME}",
                    meta::namespace(&pod),
                    meta::name(&pod)
                ),
                "default-scheduler",
            ),
        );
    }

    let uid = meta::uid(&pod).to_string();
    if !pass.state.pods.contains_key(&uid) {
        pass.state.next_pod_ip += 1;
        let n = pass.state.next_pod_ip + 1;
        let clock = PodClock {
            created: pass.now,
            created_wall: pass.wall,
            ip: format!("10.244.{}.{}", n / 254, 1 + n % 254),
        };
        pass.state.pods.insert(uid.clone(), clock);
    }
    let clock = &pass.state.pods[&uid];
    let elapsed = pass.now.saturating_duration_since(clock.created);
    let sim = Simulation {
        pod: &pod,
        rule: rule.as_ref(),
        behaviour,
        t: elapsed,
        created_wall: clock.created_wall,
        ip: clock.ip.clone(),
        created: clock.created,
    };
    let view = sim.run(&stamp);
    if let Some(at) = view.next {
        pass.state.wake_at(at);
    }
    super::write_status(pass.txn, key, view.status);
    let Some(pod) = pass.txn.get(key).cloned() else {
        return;
    };
    for event in view.events {
        events::record(pass, &pod, event);
    }
}

/// One container's simulated state.
enum State {
    Waiting(&'static str, String),
    Running {
        since: Duration,
        ready: bool,
    },
    Terminated {
        exit: i64,
        reason: &'static str,
        from: Duration,
        to: Duration,
    },
}

struct ContainerView {
    name: String,
    image: String,
    state: State,
    restarts: u64,
    last: Option<(i64, Duration, Duration)>,
}

impl ContainerView {
    /// A container that has not restarted.
    fn fresh(name: &str, image: &str, state: State) -> Self {
        Self {
            name: name.into(),
            image: image.into(),
            state,
            restarts: 0,
            last: None,
        }
    }
}

struct PodView {
    status: Value,
    events: Vec<Event<'static>>,
    next: Option<Instant>,
}

struct Simulation<'a> {
    pod: &'a Value,
    rule: Option<&'a PodRule>,
    behaviour: Behaviour,
    t: Duration,
    created_wall: SystemTime,
    created: Instant,
    ip: String,
}

/// Where a crash-looping container is at time `t`: runs of `period`, then back-offs of
/// `period`, `2 period`, … up to `32 period`.
enum Cycle {
    Running {
        restarts: u64,
        since: Duration,
        last: Option<(Duration, Duration)>,
    },
    BackOff {
        restarts: u64,
        backoff: Duration,
        last: (Duration, Duration),
    },
}

fn crash_cycle(t: Duration, period: Duration) -> (Cycle, Duration) {
    let mut start = Duration::ZERO;
    let mut restarts = 0u64;
    let mut last = None;
    loop {
        let crash = start + period;
        if t < crash {
            return (
                Cycle::Running {
                    restarts,
                    since: start,
                    last,
                },
                crash,
            );
        }
        restarts += 1;
        let backoff = period * (1u32 << (restarts - 1).min(5));
        let restart = crash + backoff;
        if t < restart {
            return (
                Cycle::BackOff {
                    restarts,
                    backoff,
                    last: (start, crash),
                },
                restart,
            );
        }
        last = Some((start, crash));
        start = restart;
    }
}

/// A Go-style duration, as the kubelet prints back-offs (`10s`, `1m20s`, `200ms`).
fn go_duration(d: Duration) -> String {
    let ms = d.as_millis();
    if ms < 1000 {
        format!("{ms}ms")
    } else if ms < 60_000 {
        let s = ms as f64 / 1000.0;
        format!(
            "{}s",
            format!("{s:.3}")
                .trim_end_matches('0')
                .trim_end_matches('.')
        )
    } else {
        format!("{}m{}s", ms / 60_000, (ms % 60_000) / 1000)
    }
}

impl Simulation<'_> {
    fn delay(&self, default_ms: u64) -> Duration {
        Duration::from_millis(
            self.rule
                .and_then(|r| r.delay_ms)
                .unwrap_or(default_ms)
                .max(1),
        )
    }

    fn at(&self, offset: Duration) -> String {
        meta::timestamp(self.created_wall + offset)
    }

    fn containers(&self, list: &str) -> Vec<(String, String)> {
        self.pod["spec"][list]
            .as_array()
            .map(|a| {
                a.iter()
                    .map(|c| {
                        (
                            c["name"].as_str().unwrap_or_default().to_string(),
                            c["image"].as_str().unwrap_or_default().to_string(),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default()
    }

    fn affected(&self, name: &str, is_init: bool, init_names: &[(String, String)]) -> bool {
        match (
            self.behaviour,
            self.rule.and_then(|r| r.container.as_deref()),
        ) {
            (_, Some(target)) => target == name,
            (Behaviour::InitCrash, None) => {
                is_init && init_names.first().is_some_and(|(n, _)| n == name)
            }
            (_, None) => !is_init,
        }
    }

    fn run(&self, stamp: &str) -> PodView {
        let init = self.containers("initContainers");
        let main = self.containers("containers");
        let restart_policy = self.pod["spec"]["restartPolicy"]
            .as_str()
            .unwrap_or("Always");
        let mut events: Vec<Event<'static>> = Vec::new();
        let mut next: Option<Duration> = None;
        let mut wake = |d: Duration| next = Some(next.map_or(d, |n: Duration| n.min(d)));
        let pod_label = format!(
            "{}_{}({})",
            meta::name(self.pod),
            meta::namespace(self.pod),
            meta::uid(self.pod)
        );

        // When containers may start: `slow` holds everything in ContainerCreating first.
        let start = if self.behaviour == Behaviour::Slow {
            self.delay(1000)
        } else {
            Duration::ZERO
        };
        let sandbox_ready = self.t >= start;
        if !sandbox_ready {
            wake(start);
        }

        let mut init_views = Vec::new();
        let mut init_done = true;
        for (name, image) in &init {
            let view = if !sandbox_ready || !init_done {
                ContainerView::fresh(
                    name,
                    image,
                    State::Waiting("PodInitializing", String::new()),
                )
            } else if self.affected(name, true, &init) {
                init_done = false;
                self.failing(
                    name,
                    image,
                    "initContainers",
                    restart_policy,
                    &pod_label,
                    &mut events,
                    &mut wake,
                )
            } else {
                self.started_events(name, image, "initContainers", 1, &mut events);
                ContainerView::fresh(
                    name,
                    image,
                    State::Terminated {
                        exit: 0,
                        reason: "Completed",
                        from: start,
                        to: start,
                    },
                )
            };
            if !matches!(view.state, State::Terminated { exit: 0, .. }) {
                init_done = false;
            }
            init_views.push(view);
        }

        let job_like = restart_policy != "Always";
        let mut main_views = Vec::new();
        for (name, image) in &main {
            let view = if !sandbox_ready {
                ContainerView::fresh(
                    name,
                    image,
                    State::Waiting("ContainerCreating", String::new()),
                )
            } else if !init_done {
                ContainerView::fresh(
                    name,
                    image,
                    State::Waiting("PodInitializing", String::new()),
                )
            } else if self.affected(name, false, &init)
                && self.behaviour != Behaviour::Ready
                && self.behaviour != Behaviour::Slow
            {
                self.failing(
                    name,
                    image,
                    "containers",
                    restart_policy,
                    &pod_label,
                    &mut events,
                    &mut wake,
                )
            } else {
                self.started_events(name, image, "containers", 1, &mut events);
                let run_for = self.delay(50);
                if job_like && self.t >= start + run_for {
                    ContainerView::fresh(
                        name,
                        image,
                        State::Terminated {
                            exit: 0,
                            reason: "Completed",
                            from: start,
                            to: start + run_for,
                        },
                    )
                } else {
                    if job_like {
                        wake(start + run_for);
                    }
                    ContainerView::fresh(
                        name,
                        image,
                        State::Running {
                            since: start,
                            ready: true,
                        },
                    )
                }
            };
            main_views.push(view);
        }

        // Phase, as the kubelet derives it from container states.
        let all_terminated = !main_views.is_empty()
            && main_views
                .iter()
                .all(|v| matches!(v.state, State::Terminated { .. }));
        let any_failed = main_views
            .iter()
            .any(|v| matches!(v.state, State::Terminated { exit, .. } if exit != 0))
            || init_views.iter().any(|v| {
                matches!(v.state, State::Terminated { exit, .. } if exit != 0) && job_like
            });
        let started = main_views
            .iter()
            .any(|v| !matches!(v.state, State::Waiting(..)) || v.restarts > 0);
        let phase = if job_like && any_failed {
            "Failed"
        } else if all_terminated {
            "Succeeded"
        } else if init_done
            && started
            && main_views
                .iter()
                .all(|v| !matches!(v.state, State::Waiting(..)) || v.restarts > 0)
        {
            "Running"
        } else {
            "Pending"
        };

        let old = &self.pod["status"]["conditions"];
        let names_where =
            |views: &[ContainerView], pred: &dyn Fn(&ContainerView) -> bool| -> Vec<String> {
                views
                    .iter()
                    .filter(|v| pred(v))
                    .map(|v| v.name.clone())
                    .collect()
            };
        let not_ready = names_where(&main_views, &|v| {
            !matches!(v.state, State::Running { ready: true, .. })
        });
        let incomplete = names_where(&init_views, &|v| {
            !matches!(v.state, State::Terminated { exit: 0, .. })
        });
        let (ready_status, ready_reason, ready_message) =
            if phase == "Succeeded" || phase == "Failed" {
                (false, "PodCompleted", String::new())
            } else if not_ready.is_empty() {
                (true, "", String::new())
            } else {
                (
                    false,
                    "ContainersNotReady",
                    format!("containers with unready status: [{}]", not_ready.join(" ")),
                )
            };
        let (init_status, init_reason, init_message) = if incomplete.is_empty() {
            (true, "", String::new())
        } else {
            (
                false,
                "ContainersNotInitialized",
                format!(
                    "containers with incomplete status: [{}]",
                    incomplete.join(" ")
                ),
            )
        };
        let conditions = json!([
            condition(
                old,
                "PodReadyToStartContainers",
                sandbox_ready,
                "",
                "",
                stamp,
                false
            ),
            condition(
                old,
                "Initialized",
                init_status,
                init_reason,
                &init_message,
                stamp,
                false
            ),
            condition(
                old,
                "Ready",
                ready_status,
                ready_reason,
                &ready_message,
                stamp,
                false
            ),
            condition(
                old,
                "ContainersReady",
                ready_status,
                ready_reason,
                &ready_message,
                stamp,
                false
            ),
            condition(old, "PodScheduled", true, "", "", stamp, false),
        ]);

        let mut status = json!({
            "phase": phase,
            "conditions": conditions,
            "hostIP": NODE_IP,
            "hostIPs": [{"ip": NODE_IP}],
            "startTime": self.at(Duration::ZERO),
            "qosClass": self.pod["status"]["qosClass"],
        });
        if sandbox_ready {
            status["podIP"] = json!(self.ip);
            status["podIPs"] = json!([{"ip": self.ip}]);
        }
        if !init_views.is_empty() {
            status["initContainerStatuses"] = json!(
                init_views
                    .iter()
                    .map(|v| self.container_json(v))
                    .collect::<Vec<_>>()
            );
        }
        status["containerStatuses"] = json!(
            main_views
                .iter()
                .map(|v| self.container_json(v))
                .collect::<Vec<_>>()
        );
        if self.pod["status"]["qosClass"].is_null() {
            status.as_object_mut().expect("object").remove("qosClass");
        }
        PodView {
            status,
            events,
            next: next.map(|d| self.created + d),
        }
    }

    /// Created / Started (and Pulled) events for `runs` runs of a container.
    fn started_events(
        &self,
        name: &str,
        image: &str,
        list: &str,
        runs: u64,
        events: &mut Vec<Event<'static>>,
    ) {
        events.push(
            Event::normal(
                "Pulled",
                format!("Container image \"{image}\" already present on machine"),
                "kubelet",
            )
            .container(list, name)
            .count(runs),
        );
        events.push(
            Event::normal("Created", format!("Created container: {name}"), "kubelet")
                .container(list, name)
                .count(runs),
        );
        events.push(
            Event::normal("Started", format!("Started container {name}"), "kubelet")
                .container(list, name)
                .count(runs),
        );
    }

    /// A container the behaviour makes fail (image pull, crash loop, never ready).
    #[allow(clippy::too_many_arguments)]
    fn failing(
        &self,
        name: &str,
        image: &str,
        list: &str,
        restart_policy: &str,
        pod_label: &str,
        events: &mut Vec<Event<'static>>,
        wake: &mut dyn FnMut(Duration),
    ) -> ContainerView {
        let view = |state, restarts, last| ContainerView {
            name: name.into(),
            image: image.into(),
            state,
            restarts,
            last,
        };
        match self.behaviour {
            Behaviour::ImagePullBackoff => {
                let p = self.delay(100);
                let reason = format!(
                    "rpc error: code = NotFound desc = failed to pull and unpack image \"{image}\": failed to resolve reference \"{image}\": {image}: not found"
                );
                // One pull attempt at once, then one per back-off period of 4 p.
                let attempts = if self.t < p {
                    1
                } else {
                    2 + ((self.t - p).as_millis() / (4 * p.as_millis())) as u64
                }
                .min(20);
                if attempts < 20 {
                    wake(if self.t < p {
                        p
                    } else {
                        p + 4 * p * (attempts as u32 - 1)
                    });
                }
                events.push(
                    Event::normal("Pulling", format!("Pulling image \"{image}\""), "kubelet")
                        .container(list, name)
                        .count(attempts),
                );
                events.push(
                    Event::warning(
                        "Failed",
                        format!("Failed to pull image \"{image}\": {reason}"),
                        "kubelet",
                    )
                    .container(list, name)
                    .count(attempts),
                );
                events.push(
                    Event::warning("Failed", "Error: ErrImagePull".into(), "kubelet")
                        .container(list, name)
                        .count(attempts),
                );
                if self.t < p {
                    view(State::Waiting("ErrImagePull", reason), 0, None)
                } else {
                    let backoffs = attempts - 1;
                    events.push(
                        Event::normal(
                            "BackOff",
                            format!("Back-off pulling image \"{image}\""),
                            "kubelet",
                        )
                        .container(list, name)
                        .count(backoffs),
                    );
                    events.push(
                        Event::warning("Failed", "Error: ImagePullBackOff".into(), "kubelet")
                            .container(list, name)
                            .count(backoffs),
                    );
                    view(
                        State::Waiting(
                            "ImagePullBackOff",
                            format!("Back-off pulling image \"{image}\""),
                        ),
                        0,
                        None,
                    )
                }
            }
            Behaviour::NeverReady => {
                let period = self.delay(1000);
                self.started_events(name, image, list, 1, events);
                let probes = (1 + self.t.as_millis() / period.as_millis()) as u64;
                if probes < 1000 {
                    wake(period * probes as u32);
                }
                events.push(
                    Event::warning(
                        "Unhealthy",
                        "Readiness probe failed: HTTP probe failed with statuscode: 503".into(),
                        "kubelet",
                    )
                    .container(list, name)
                    .count(probes.min(1000)),
                );
                view(
                    State::Running {
                        since: Duration::ZERO,
                        ready: false,
                    },
                    0,
                    None,
                )
            }
            Behaviour::Crashloop | Behaviour::InitCrash => {
                let p = self.delay(100);
                let exit = self.rule.and_then(|r| r.exit_code).unwrap_or(1);
                if restart_policy == "Never" {
                    self.started_events(name, image, list, 1, events);
                    if self.t < p {
                        wake(p);
                        return view(
                            State::Running {
                                since: Duration::ZERO,
                                ready: false,
                            },
                            0,
                            None,
                        );
                    }
                    return view(
                        State::Terminated {
                            exit,
                            reason: "Error",
                            from: Duration::ZERO,
                            to: p,
                        },
                        0,
                        None,
                    );
                }
                let (cycle, change_at) = crash_cycle(self.t, p);
                if change_at < p * 2000 {
                    wake(change_at);
                }
                match cycle {
                    Cycle::Running {
                        restarts,
                        since,
                        last,
                    } => {
                        self.started_events(name, image, list, restarts + 1, events);
                        if restarts > 0 {
                            events.push(
                                Event::warning("BackOff", format!("Back-off restarting failed container {name} in pod {pod_label}"), "kubelet")
                                    .container(list, name)
                                    .count(restarts),
                            );
                        }
                        view(
                            State::Running {
                                since,
                                ready: false,
                            },
                            restarts,
                            last.map(|(a, b)| (exit, a, b)),
                        )
                    }
                    Cycle::BackOff {
                        restarts,
                        backoff,
                        last,
                    } => {
                        self.started_events(name, image, list, restarts, events);
                        events.push(
                            Event::warning(
                                "BackOff",
                                format!(
                                    "Back-off restarting failed container {name} in pod {pod_label}"
                                ),
                                "kubelet",
                            )
                            .container(list, name)
                            .count(restarts),
                        );
                        let message = format!(
                            "back-off {} restarting failed container={name} pod={pod_label}",
                            go_duration(backoff)
                        );
                        view(
                            State::Waiting("CrashLoopBackOff", message),
                            restarts,
                            Some((exit, last.0, last.1)),
                        )
                    }
                }
            }
            _ => view(
                State::Running {
                    since: Duration::ZERO,
                    ready: true,
                },
                0,
                None,
            ),
        }
    }

    fn container_json(&self, v: &ContainerView) -> Value {
        let hash = |salt: &str| {
            let seed = format!("{}/{}/{salt}", meta::uid(self.pod), v.name);
            (0..8)
                .map(|i| format!("{:08x}", fnv32(format!("{seed}/{i}").as_bytes())))
                .collect::<String>()
        };
        let repo = v.image.split([':', '@']).next().unwrap_or_default();
        let ever_ran = !matches!(v.state, State::Waiting(..)) || v.restarts > 0;
        let state = match &v.state {
            State::Waiting(reason, message) => {
                let mut w = json!({"reason": reason});
                if !message.is_empty() {
                    w["message"] = json!(message);
                }
                json!({"waiting": w})
            }
            State::Running { since, .. } => json!({"running": {"startedAt": self.at(*since)}}),
            State::Terminated {
                exit,
                reason,
                from,
                to,
            } => json!({"terminated": {
                "exitCode": exit,
                "reason": reason,
                "startedAt": self.at(*from),
                "finishedAt": self.at(*to),
                "containerID": format!("containerd://{}", hash(&v.restarts.to_string())),
            }}),
        };
        let last_state = match v.last {
            Some((exit, from, to)) => json!({"terminated": {
                "exitCode": exit,
                "reason": "Error",
                "startedAt": self.at(from),
                "finishedAt": self.at(to),
                "containerID": format!("containerd://{}", hash(&(v.restarts.saturating_sub(1)).to_string())),
            }}),
            None => json!({}),
        };
        let mut c = json!({
            "name": v.name,
            "image": v.image,
            "imageID": if ever_ran { format!("{repo}@sha256:{}", hash("image")) } else { String::new() },
            "ready": matches!(v.state, State::Running { ready: true, .. }),
            "started": matches!(v.state, State::Running { .. }),
            "restartCount": v.restarts,
            "state": state,
            "lastState": last_state,
        });
        if ever_ran {
            c["containerID"] = json!(format!("containerd://{}", hash(&v.restarts.to_string())));
        }
        c
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crash_loops_back_off_doubling() {
        let p = Duration::from_millis(100);
        let at = |ms| crash_cycle(Duration::from_millis(ms), p).0;
        assert!(matches!(at(50), Cycle::Running { restarts: 0, .. }));
        assert!(matches!(at(150), Cycle::BackOff { restarts: 1, .. }));
        assert!(matches!(at(250), Cycle::Running { restarts: 1, .. }));
        // Second crash at 300, back-off 200 ms until 500.
        assert!(matches!(at(450), Cycle::BackOff { restarts: 2, .. }));
        assert!(matches!(at(550), Cycle::Running { restarts: 2, .. }));
    }

    #[test]
    fn durations_print_as_go_does() {
        assert_eq!(go_duration(Duration::from_millis(200)), "200ms");
        assert_eq!(go_duration(Duration::from_millis(10_000)), "10s");
        assert_eq!(go_duration(Duration::from_millis(1_600)), "1.6s");
        assert_eq!(go_duration(Duration::from_millis(80_000)), "1m20s");
    }
}
