//! Clusters, through kube-rs: connecting to a kubeconfig context, and (in the submodules)
//! everything the deploy path does there.

pub mod activity;
mod api;
pub mod apply;
pub mod diagnose;
pub mod forward;
pub mod kind;
pub mod namespace;
pub mod pull_secret;
pub mod wait;

use std::path::Path;
use std::time::Duration;

use kube::config::{KubeConfigOptions, Kubeconfig, KubeconfigError};

use crate::error::{Error, ErrorKind, Result};
use crate::process::{Cancel, cancellable};

/// How long the API server may take to answer the first call before it is reported
/// unreachable.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// A cluster stackctl talks to: a client for one kubeconfig context, bound to the run's
/// cancellation.
#[derive(Clone)]
pub struct Cluster {
    client: kube::Client,
    context: String,
    cancel: Cancel,
}

impl Cluster {
    /// Connect to `context` of the kubeconfig (`kubeconfig`, else `$KUBECONFIG`, else
    /// `~/.kube/config`) and check that its API server answers. A context the kubeconfig does
    /// not have is [`ErrorKind::NotFound`]; an API server that does not answer is
    /// [`ErrorKind::Unreachable`].
    pub async fn connect(
        kubeconfig: Option<&Path>,
        context: &str,
        cancel: &Cancel,
    ) -> Result<Cluster> {
        let config_file = match kubeconfig {
            Some(path) => Kubeconfig::read_from(path),
            None => Kubeconfig::read(),
        }
        .map_err(|e| no_context(context, &e.to_string()))?;
        if !config_file.contexts.iter().any(|c| c.name == context) {
            let known: Vec<&str> = config_file
                .contexts
                .iter()
                .map(|c| c.name.as_str())
                .collect();
            return Err(no_context(
                context,
                &format!(
                    "the kubeconfig has {}",
                    if known.is_empty() {
                        "no contexts".to_string()
                    } else {
                        format!("the contexts {}", known.join(", "))
                    }
                ),
            ));
        }
        let options = KubeConfigOptions {
            context: Some(context.to_string()),
            ..KubeConfigOptions::default()
        };
        let config = kube::Config::from_custom_kubeconfig(config_file, &options)
            .await
            .map_err(|e: KubeconfigError| {
                Error::new(
                    ErrorKind::Config,
                    format!("the kubeconfig context {context:?} is unusable: {e}"),
                )
            })?;
        let server = config.cluster_url.to_string();
        let client = kube::Client::try_from(config).map_err(|e| {
            Error::new(
                ErrorKind::Environment,
                format!("cannot make a client for context {context:?}: {e}"),
            )
        })?;
        let version = tokio::time::timeout(CONNECT_TIMEOUT, client.apiserver_version());
        let answered = cancellable(cancel, async {
            match version.await {
                Ok(Ok(_)) => Ok(()),
                Ok(Err(e)) => Err(unreachable(context, &server, &e.to_string())),
                Err(_) => Err(unreachable(
                    context,
                    &server,
                    &format!("no answer within {} s", CONNECT_TIMEOUT.as_secs()),
                )),
            }
        });
        answered.await?;
        Ok(Cluster {
            client,
            context: context.to_string(),
            cancel: cancel.clone(),
        })
    }

    pub fn client(&self) -> &kube::Client {
        &self.client
    }

    /// The kubeconfig context this cluster was reached through.
    pub fn context(&self) -> &str {
        &self.context
    }

    /// The run's cancellation: long waits on the cluster end when it fires.
    pub fn cancel(&self) -> &Cancel {
        &self.cancel
    }
}

fn no_context(context: &str, why: &str) -> Error {
    Error::new(
        ErrorKind::NotFound,
        format!("no cluster to test against: no kubeconfig context {context:?} ({why})"),
    )
    .with_hint(
        "`stackctl cluster up` creates the local kind cluster (context kind-kind); or name another context in stackctl.toml",
    )
}

fn unreachable(context: &str, server: &str, why: &str) -> Error {
    Error::new(
        ErrorKind::Unreachable,
        format!("the API server of context {context:?} ({server}) does not answer: {why}"),
    )
    .with_hint("is the cluster running? `stackctl cluster status` says what exists; `stackctl cluster up` starts it")
}
