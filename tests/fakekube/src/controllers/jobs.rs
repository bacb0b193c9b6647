//! The Job controller: runs pods until `completions` succeed (Complete, with
//! SuccessCriteriaMet) or more than `backoffLimit` fail (Failed, with FailureTarget, reason
//! BackoffLimitExceeded). Restarts of OnFailure pods count as failures, as they do for the
//! real controller. CronJobs are stored but never scheduled.

use serde_json::{Value, json};

use super::events::{self, Event};
use super::{
    Pass, condition, controlled_by, pod_from_template, pod_phase, pod_ready, write_status,
};
use crate::crud::{self, DeleteOptions};
use crate::meta;
use crate::store::ObjectKey;

pub fn reconcile(pass: &mut Pass<'_, '_>) {
    for (key, job) in pass.txn.list("batch", "jobs", None) {
        if !meta::is_terminating(&job) {
            sync(pass, &key, &job);
        }
    }
}

fn finished(job: &Value) -> bool {
    job["status"]["conditions"].as_array().is_some_and(|c| {
        c.iter()
            .any(|c| (c["type"] == "Complete" || c["type"] == "Failed") && c["status"] == "True")
    })
}

fn sync(pass: &mut Pass<'_, '_>, key: &ObjectKey, job: &Value) {
    if finished(job) || job["spec"]["suspend"] == Value::Bool(true) {
        return;
    }
    let uid = meta::uid(job).to_string();
    let namespace = meta::namespace(job).to_string();
    let completions = job["spec"]["completions"].as_i64().unwrap_or(1);
    let parallelism = job["spec"]["parallelism"].as_i64().unwrap_or(1);
    let backoff_limit = job["spec"]["backoffLimit"].as_i64().unwrap_or(6);
    let on_failure = job["spec"]["template"]["spec"]["restartPolicy"] == "OnFailure";
    let pod_rt = pass.txn.table.builtin("", "pods");

    let pods = controlled_by(pass.txn, "", "pods", &namespace, &uid);
    let succeeded = pods
        .iter()
        .filter(|(_, p)| pod_phase(p) == "Succeeded")
        .count() as i64;
    let mut failed = pods
        .iter()
        .filter(|(_, p)| pod_phase(p) == "Failed")
        .count() as i64;
    if on_failure {
        failed += pods
            .iter()
            .flat_map(|(_, p)| {
                p["status"]["containerStatuses"]
                    .as_array()
                    .cloned()
                    .unwrap_or_default()
            })
            .map(|c| c["restartCount"].as_i64().unwrap_or(0))
            .sum::<i64>();
    }
    let mut active: Vec<(ObjectKey, Value)> = pods
        .into_iter()
        .filter(|(_, p)| {
            !matches!(pod_phase(p), "Succeeded" | "Failed") && !meta::is_terminating(p)
        })
        .collect();

    let stamp = meta::timestamp(pass.wall);
    let old = &job["status"]["conditions"];
    let mut status = job["status"].clone();
    if !status.is_object() {
        status = json!({});
    }
    if status["startTime"].is_null() {
        status["startTime"] = json!(stamp);
    }
    if succeeded >= completions {
        let message = "Reached expected number of succeeded pods";
        status["conditions"] = json!([
            condition(
                old,
                "SuccessCriteriaMet",
                true,
                "CompletionsReached",
                message,
                &stamp,
                false
            ),
            condition(
                old,
                "Complete",
                true,
                "CompletionsReached",
                message,
                &stamp,
                false
            ),
        ]);
        status["completionTime"] = json!(stamp);
        events::record(
            pass,
            job,
            Event::normal("Completed", "Job completed".into(), "job-controller"),
        );
    } else if failed > backoff_limit {
        let message = "Job has reached the specified backoff limit";
        status["conditions"] = json!([
            condition(
                old,
                "FailureTarget",
                true,
                "BackoffLimitExceeded",
                message,
                &stamp,
                false
            ),
            condition(
                old,
                "Failed",
                true,
                "BackoffLimitExceeded",
                message,
                &stamp,
                false
            ),
        ]);
        for (k, _) in active.drain(..) {
            let _ = crud::delete(
                pass.txn,
                &pod_rt,
                &k.namespace,
                &k.name,
                &DeleteOptions::default(),
            );
        }
        events::record(
            pass,
            job,
            Event::warning("BackoffLimitExceeded", message.into(), "job-controller"),
        );
    } else {
        while (active.len() as i64) < parallelism && succeeded + (active.len() as i64) < completions
        {
            let name = format!("{}-{}", meta::name(job), pass.txn.name_suffix(5));
            let mut pod = pod_from_template(job, &job["spec"]["template"], &name);
            pod["metadata"]["generateName"] = json!(format!("{}-", meta::name(job)));
            match crud::create(pass.txn, &pod_rt, &namespace, pod, false) {
                Ok(created) => {
                    events::record(
                        pass,
                        job,
                        Event::normal(
                            "SuccessfulCreate",
                            format!("Created pod: {name}"),
                            "job-controller",
                        ),
                    );
                    active.push((ObjectKey::new(&pod_rt, &namespace, &name), created));
                }
                Err(_) => break,
            }
        }
    }
    status["active"] = json!(active.len());
    status["ready"] = json!(active.iter().filter(|(_, p)| pod_ready(p)).count());
    status["terminating"] = json!(0);
    status["uncountedTerminatedPods"] = json!({});
    for (field, n) in [("succeeded", succeeded), ("failed", failed)] {
        if n > 0 {
            status[field] = json!(n);
        }
    }
    if let Some(m) = status.as_object_mut()
        && m.get("active").and_then(Value::as_i64) == Some(0)
    {
        m.remove("active");
    }
    write_status(pass.txn, key, status);
}
