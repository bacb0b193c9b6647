//! Pulling and pushing Helm chart artifacts through `oci-client`, with credentials chosen for
//! the host actually contacted and failures turned into errors a user can act on.

use std::collections::BTreeMap;
use std::time::Duration;

use oci_client::client::{ClientConfig, ClientProtocol, Config, ImageLayer};
use oci_client::errors::{OciDistributionError, OciErrorCode};
use oci_client::manifest::OciImageManifest;
use oci_client::secrets::RegistryAuth;
use oci_client::{Client, Reference};

use crate::environment::Environment;
use crate::error::{Error, ErrorKind, Result};
use crate::oci::PackagedChart;
use crate::oci::credentials::{Credential, CredentialChain, describe_reqwest};
use crate::oci::transfer::Transfer;
use crate::oci::{
    HELM_CHART_MEDIA_TYPE, HELM_CONFIG_MEDIA_TYPE, RegistrySettings, RepositoryLocation,
    version_tag,
};
use crate::process::Cancel;
use crate::redact;

/// A registry that does not accept a connection within this is reported unreachable.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
/// A registry that stops sending for this long is reported.
const READ_TIMEOUT: Duration = Duration::from_secs(30);
/// Bounds of whole operations, so nothing waits forever.
const MANIFEST_TIMEOUT: Duration = Duration::from_secs(30);
const TRANSFER_TIMEOUT: Duration = Duration::from_secs(300);

/// A client for the registries of one run.
pub struct RegistryClient {
    client: Client,
    credentials: CredentialChain,
    /// Manifests and blobs are read through it, within the configured limits.
    transfer: Transfer,
}

/// What a push produced.
#[derive(Debug, Clone)]
pub struct PushedChart {
    /// `host/path/name:tag`.
    pub reference: String,
    /// The manifest digest the registry reports.
    pub manifest_digest: String,
}

/// What an operation was about, for error messages.
pub(super) struct Operation<'a> {
    pub(super) verb: &'static str,
    pub(super) location: &'a RepositoryLocation,
    pub(super) name: &'a str,
    pub(super) version: &'a str,
    pub(super) credential: Option<&'a Credential>,
}

impl Operation<'_> {
    pub(super) fn reference(&self) -> String {
        self.location.display_reference(self.name, self.version)
    }

    pub(super) fn what(&self) -> String {
        let mut text = format!("{} {} ({})", self.verb, self.name, self.reference());
        if self.location.mirrored {
            text.push_str(&format!(", mirror of {}", self.location.canonical));
        }
        text
    }
}

impl RegistryClient {
    /// A client with `settings`; credential helpers it runs are killed when `cancel` fires.
    pub fn new(settings: &RegistrySettings, env: Environment, cancel: Cancel) -> RegistryClient {
        let config = ClientConfig {
            protocol: ClientProtocol::HttpsExcept(settings.insecure_hosts()),
            connect_timeout: Some(CONNECT_TIMEOUT),
            read_timeout: Some(READ_TIMEOUT),
            ..ClientConfig::default()
        };
        RegistryClient {
            client: Client::new(config),
            credentials: CredentialChain::new(env, cancel),
            transfer: Transfer::new(settings.limits, CONNECT_TIMEOUT, READ_TIMEOUT),
        }
    }

    async fn credential(&self, location: &RepositoryLocation) -> Result<Option<Credential>> {
        self.credentials
            .lookup(&location.host, location.github)
            .await
    }

    /// Whether credentials exist for the registry `location` is on (from the environment,
    /// `.env`, helm's registry config or docker's config and its helpers).
    pub async fn has_credentials(&self, location: &RepositoryLocation) -> Result<bool> {
        Ok(self.credential(location).await?.is_some())
    }

    fn auth(credential: Option<&Credential>) -> RegistryAuth {
        match credential {
            Some(c) => RegistryAuth::Basic(c.username.clone(), c.password.clone()),
            None => RegistryAuth::Anonymous,
        }
    }

    fn reference(location: &RepositoryLocation, name: &str, version: &str) -> Reference {
        Reference::with_tag(
            location.host.clone(),
            location.chart_repository(name),
            version_tag(version),
        )
    }

    /// Download a chart version's archive, verified against the manifest's digest.
    pub async fn pull_chart(
        &self,
        location: &RepositoryLocation,
        name: &str,
        version: &str,
    ) -> Result<Vec<u8>> {
        let credential = self.credential(location).await?;
        let op = Operation {
            verb: "pulling",
            location,
            name,
            version,
            credential: credential.as_ref(),
        };
        let reference = Self::reference(location, name, version);
        let manifest = within(
            MANIFEST_TIMEOUT,
            &op,
            self.transfer.manifest(&op, &reference),
        )
        .await?
        .manifest;
        if manifest.config.media_type != HELM_CONFIG_MEDIA_TYPE {
            return Err(Error::environment(format!(
                "{} is not a Helm chart: its config media type is {}",
                op.reference(),
                manifest.config.media_type
            )));
        }
        let layer = manifest
            .layers
            .iter()
            .find(|l| l.media_type == HELM_CHART_MEDIA_TYPE)
            .ok_or_else(|| {
                Error::environment(format!(
                    "{} has no chart layer ({HELM_CHART_MEDIA_TYPE})",
                    op.reference()
                ))
            })?;
        within(
            TRANSFER_TIMEOUT,
            &op,
            self.transfer
                .blob(&op, &reference, &layer.digest, layer.size),
        )
        .await
    }

    /// Succeed when the chart version exists in the registry.
    pub async fn check_exists(
        &self,
        location: &RepositoryLocation,
        name: &str,
        version: &str,
    ) -> Result<()> {
        let credential = self.credential(location).await?;
        let op = Operation {
            verb: "looking up",
            location,
            name,
            version,
            credential: credential.as_ref(),
        };
        let reference = Self::reference(location, name, version);
        within(
            MANIFEST_TIMEOUT,
            &op,
            self.transfer.manifest(&op, &reference),
        )
        .await?;
        Ok(())
    }

    /// Push a packaged chart with helm's media types; `config` is the chart metadata as JSON.
    pub async fn push_chart(
        &self,
        location: &RepositoryLocation,
        chart: &PackagedChart,
        config: Vec<u8>,
        annotations: BTreeMap<String, String>,
    ) -> Result<PushedChart> {
        let credential = self.credential(location).await?;
        let op = Operation {
            verb: "pushing",
            location,
            name: &chart.name,
            version: &chart.version,
            credential: credential.as_ref(),
        };
        let reference = Self::reference(location, &chart.name, &chart.version);
        let auth = Self::auth(credential.as_ref());
        let layers = vec![ImageLayer::new(
            chart.bytes.clone(),
            HELM_CHART_MEDIA_TYPE.to_string(),
            None,
        )];
        let config = Config::new(config, HELM_CONFIG_MEDIA_TYPE.to_string(), None);
        let manifest = OciImageManifest::build(&layers, &config, Some(annotations));
        bounded(
            TRANSFER_TIMEOUT,
            &op,
            self.client
                .push(&reference, &layers, config, &auth, Some(manifest)),
        )
        .await?;
        let manifest_digest = within(
            MANIFEST_TIMEOUT,
            &op,
            self.transfer.manifest(&op, &reference),
        )
        .await?
        .digest;
        Ok(PushedChart {
            reference: op.reference(),
            manifest_digest,
        })
    }
}

/// Run a registry call with an overall deadline, classifying its failure.
async fn bounded<T>(
    limit: Duration,
    op: &Operation<'_>,
    call: impl std::future::Future<Output = oci_client::errors::Result<T>>,
) -> Result<T> {
    match tokio::time::timeout(limit, call).await {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(err)) => Err(classify(err, op)),
        Err(_) => Err(unreachable(
            op,
            &format!("no answer within {} s", limit.as_secs()),
        )),
    }
}

/// [`bounded`] for the reads of [`Transfer`], which classify their own failures.
async fn within<T>(
    limit: Duration,
    op: &Operation<'_>,
    call: impl std::future::Future<Output = Result<T>>,
) -> Result<T> {
    tokio::time::timeout(limit, call).await.unwrap_or_else(|_| {
        Err(unreachable(
            op,
            &format!("no answer within {} s", limit.as_secs()),
        ))
    })
}

/// The kinds of registry failure a user acts on differently.
#[derive(Debug, PartialEq, Eq)]
enum Failure {
    Unauthorized(u16),
    NotFound,
    Unreachable(String),
    Other(String),
}

fn failure_of(err: &OciDistributionError) -> Failure {
    match err {
        OciDistributionError::UnauthorizedError { .. } => Failure::Unauthorized(401),
        OciDistributionError::AuthenticationFailure(_) => Failure::Unauthorized(401),
        OciDistributionError::ImageManifestNotFoundError(_) => Failure::NotFound,
        OciDistributionError::RegistryError { envelope, .. } => {
            let codes: Vec<&OciErrorCode> = envelope.errors.iter().map(|e| &e.code).collect();
            if codes.iter().any(|c| {
                matches!(
                    c,
                    OciErrorCode::ManifestUnknown
                        | OciErrorCode::NameUnknown
                        | OciErrorCode::NotFound
                        | OciErrorCode::BlobUnknown
                )
            }) {
                Failure::NotFound
            } else if codes.contains(&&OciErrorCode::Denied) {
                Failure::Unauthorized(403)
            } else if codes.contains(&&OciErrorCode::Unauthorized) {
                Failure::Unauthorized(401)
            } else {
                Failure::Other(envelope.to_string())
            }
        }
        OciDistributionError::ServerError { code, message, .. } => match code {
            401 | 403 => Failure::Unauthorized(*code),
            404 => Failure::NotFound,
            _ => Failure::Other(format!("HTTP {code}: {}", message.trim())),
        },
        OciDistributionError::RequestError(e) if e.is_connect() || e.is_timeout() => {
            Failure::Unreachable(describe_reqwest(e))
        }
        OciDistributionError::RequestError(e) => {
            if let Some(status) = e.status() {
                match status.as_u16() {
                    401 | 403 => return Failure::Unauthorized(status.as_u16()),
                    404 => return Failure::NotFound,
                    _ => {}
                }
            }
            Failure::Other(describe_reqwest(e))
        }
        other => Failure::Other(other.to_string()),
    }
}

impl Operation<'_> {
    /// Whether the operation reads: a read can be done offline from local chart sources
    /// instead, a push cannot (`chart publish` has no `--offline`).
    fn reads(&self) -> bool {
        self.verb != "pushing"
    }

    /// How else to get the chart, for a read; nothing for a push.
    fn offline_alternative(&self, lead: &str) -> String {
        if self.reads() {
            format!("{lead}build offline from local chart sources with --offline")
        } else {
            String::new()
        }
    }
}

fn fix_hint(op: &Operation<'_>) -> String {
    let location = op.location;
    let host = &location.host;
    if location.github {
        let scope = if op.reads() {
            "read:packages"
        } else {
            "write:packages"
        };
        format!(
            "put GITHUB_TOKEN=<token with {scope}> (and optionally GITHUB_USER) in the repository's .env (gitignored), or run `helm registry login {host}`{}",
            op.offline_alternative(", or ")
        )
    } else {
        format!(
            "run `helm registry login {host}` (or `docker login {host}`){}",
            op.offline_alternative(", or ")
        )
    }
}

fn unreachable(op: &Operation<'_>, cause: &str) -> Error {
    Error::new(
        ErrorKind::Unreachable,
        format!(
            "registry {} is unreachable ({cause}) while {}",
            op.location.host,
            op.what()
        ),
    )
    .with_hint(format!(
        "check the network and the registry address{}{}",
        if op.location.plain_http {
            ""
        } else {
            " (a plain-HTTP registry needs --insecure-registry HOST:PORT)"
        },
        op.offline_alternative("; or ")
    ))
}

pub(super) fn classify(err: OciDistributionError, op: &Operation<'_>) -> Error {
    let host = &op.location.host;
    let error = match failure_of(&err) {
        Failure::Unauthorized(status) => match op.credential {
            None => Error::new(
                ErrorKind::CredentialsRejected,
                format!(
                    "no credentials found for {host}: the registry answered {status} while {}",
                    op.what()
                ),
            )
            .with_hint(fix_hint(op)),
            Some(credential) => Error::new(
                ErrorKind::CredentialsRejected,
                format!(
                    "credentials for {host} rejected ({status}): {} (user {}) while {}",
                    credential.source,
                    credential.username,
                    op.what()
                ),
            )
            .with_hint(if op.location.github {
                format!(
                    "check that the token is valid and has the read:packages scope (write:packages to publish), or run `helm registry login {host}` again{}",
                    op.offline_alternative("; or ")
                )
            } else {
                format!(
                    "run `helm registry login {host}` again with valid credentials{}",
                    op.offline_alternative("; or ")
                )
            }),
        },
        Failure::NotFound => Error::new(
            ErrorKind::NotFound,
            format!(
                "chart {} version {} was not found in {} ({}: manifest unknown)",
                op.name,
                op.version,
                op.location.canonical,
                op.reference()
            ),
        )
        .with_hint(
            "check that this version was published (a release may still be building), or pin one that exists",
        ),
        Failure::Unreachable(cause) => unreachable(op, &cause),
        Failure::Other(detail) => Error::environment(format!(
            "registry {host} failed while {}: {detail}",
            op.what()
        )),
    };
    // Registry answers can echo request details; nothing secret may pass through.
    Error {
        message: redact::redact(&error.message).into_owned(),
        ..error
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use oci_client::errors::{OciEnvelope, OciError};

    fn envelope(code: OciErrorCode) -> OciDistributionError {
        OciDistributionError::RegistryError {
            envelope: OciEnvelope {
                errors: vec![OciError {
                    code,
                    message: String::new(),
                    detail: serde_json::Value::Null,
                }],
            },
            url: "http://x".into(),
        }
    }

    #[test]
    fn classifies_registry_answers() {
        assert_eq!(
            failure_of(&envelope(OciErrorCode::ManifestUnknown)),
            Failure::NotFound
        );
        assert_eq!(
            failure_of(&envelope(OciErrorCode::Denied)),
            Failure::Unauthorized(403)
        );
        assert_eq!(
            failure_of(&OciDistributionError::UnauthorizedError { url: "u".into() }),
            Failure::Unauthorized(401)
        );
        assert_eq!(
            failure_of(&OciDistributionError::ServerError {
                code: 404,
                url: "u".into(),
                message: String::new()
            }),
            Failure::NotFound
        );
    }
}
