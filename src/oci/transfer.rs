//! What stackctl reads from a registry, read within limits: a manifest into memory up to
//! `[registries] max-manifest-size`, a blob streamed to a temporary file up to
//! `max-blob-size` while its digest is computed, and the token service's answer up to
//! [`MAX_TOKEN_ANSWER`]. oci-client reads every answer whole into memory whatever its size, so
//! these requests, and the token flow of the distribution spec before them, are made here.
//!
//! The chart's config blob is never downloaded: stackctl takes a chart's metadata from its
//! archive.

use std::io::{Read, Seek, Write};

use oci_client::Reference;
use oci_client::errors::OciDistributionError;
use oci_client::manifest::OciImageManifest;
use oci_client::token_cache::RegistryToken;
use sha2::Digest as _;

use crate::error::{Error, Result};
use crate::fsutil::format_size;
use crate::oci::credentials::Credential;
use crate::oci::registry::{Operation, classify};

/// Media types of a single-artifact manifest, as helm pushes them.
const MANIFEST_TYPES: &str = "application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json";

/// The most read of a token service's answer: a token is a few kilobytes.
pub const MAX_TOKEN_ANSWER: u64 = 1024 * 1024;

/// The most read from a registry for one manifest and one blob.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TransferLimits {
    pub manifest: u64,
    pub blob: u64,
}

/// Which limit a response ran into, for the message.
#[derive(Clone, Copy)]
enum Limited {
    Manifest,
    Blob,
    Token,
}

impl Limited {
    fn what(self) -> &'static str {
        match self {
            Limited::Manifest => "manifest",
            Limited::Blob => "chart archive",
            Limited::Token => "token answer",
        }
    }

    /// The setting that raises the limit; the token answer's is fixed.
    fn key(self) -> Option<&'static str> {
        match self {
            Limited::Manifest => Some("max-manifest-size"),
            Limited::Blob => Some("max-blob-size"),
            Limited::Token => None,
        }
    }
}

/// The HTTP client of bounded reads, and how it authenticates.
pub(super) struct Transfer {
    http: reqwest::Client,
    pub(super) limits: TransferLimits,
}

/// A fetched manifest: parsed, and its digest (the SHA-256 of the bytes the registry sent).
pub(super) struct Manifest {
    pub manifest: OciImageManifest,
    pub digest: String,
}

impl Transfer {
    pub(super) fn new(
        limits: TransferLimits,
        connect_timeout: std::time::Duration,
        read_timeout: std::time::Duration,
    ) -> Transfer {
        let http = reqwest::Client::builder()
            .connect_timeout(connect_timeout)
            .read_timeout(read_timeout)
            .user_agent(concat!("stackctl/", env!("CARGO_PKG_VERSION")))
            .build()
            // Building fails only when TLS cannot initialise; the default client then reports
            // the same failure at the first request.
            .unwrap_or_default();
        Transfer { http, limits }
    }

    /// A GET of `path` under the registry's `/v2/`, authenticated as oci-client would: with
    /// the bearer token the registry's token service grants for the repository, or basic
    /// credentials.
    async fn get(
        &self,
        op: &Operation<'_>,
        reference: &Reference,
        path: &str,
        accept: Option<&str>,
    ) -> Result<reqwest::Response> {
        let token = self.token(op, reference).await?;
        let url = format!(
            "{}/{}/{path}",
            v2_root(op, reference),
            reference.repository()
        );
        let mut request = self.http.get(&url);
        if let Some(accept) = accept {
            request = request.header(reqwest::header::ACCEPT, accept);
        }
        request = match (token, op.credential) {
            (Some(token), _) => request.bearer_auth(token),
            (
                None,
                Some(Credential {
                    username, password, ..
                }),
            ) => request.basic_auth(username, Some(password)),
            (None, None) => request,
        };
        let response = request
            .send()
            .await
            .map_err(|e| classify(OciDistributionError::RequestError(e), op))?;
        let status = response.status();
        if !status.is_success() {
            return Err(classify(
                OciDistributionError::ServerError {
                    code: status.as_u16(),
                    url,
                    message: error_body(response).await,
                },
                op,
            ));
        }
        Ok(response)
    }

    /// The token flow of the distribution spec, as oci-client runs it, with the answer bounded:
    /// ask `/v2/` who grants access; when a Bearer challenge comes back, ask its realm for a
    /// pull token for the repository (with the credential, if any). `None` when the registry
    /// asks for no token (anonymous access, or basic credentials sent with each request).
    async fn token(&self, op: &Operation<'_>, reference: &Reference) -> Result<Option<String>> {
        let probe = self
            .http
            .get(format!("{}/", v2_root(op, reference)))
            .send()
            .await
            .map_err(|e| classify(OciDistributionError::RequestError(e), op))?;
        let Some(challenge) = probe
            .headers()
            .get(reqwest::header::WWW_AUTHENTICATE)
            .and_then(|value| value.to_str().ok())
            .and_then(bearer_challenge)
        else {
            return Ok(None);
        };
        drop(probe);
        let scope = format!("repository:{}:pull", reference.repository());
        let mut query = vec![("scope", scope.as_str())];
        if let Some(service) = &challenge.service {
            query.push(("service", service));
        }
        let mut request = self.http.get(&challenge.realm).query(&query);
        if let Some(Credential {
            username, password, ..
        }) = op.credential
        {
            request = request.basic_auth(username, Some(password));
        }
        let answer = request
            .send()
            .await
            .map_err(|e| classify(OciDistributionError::RequestError(e), op))?;
        if !answer.status().is_success() {
            return Err(classify(
                OciDistributionError::AuthenticationFailure(error_body(answer).await),
                op,
            ));
        }
        refuse_declared(
            answer.content_length(),
            MAX_TOKEN_ANSWER,
            op,
            Limited::Token,
        )?;
        let mut body = Vec::new();
        read_capped(answer, MAX_TOKEN_ANSWER, op, Limited::Token, &mut |chunk| {
            body.extend_from_slice(chunk);
            Ok(())
        })
        .await?;
        let token: RegistryToken = serde_json::from_slice(&body).map_err(|e| {
            classify(
                OciDistributionError::RegistryTokenDecodeError(e.to_string()),
                op,
            )
        })?;
        Ok(Some(token.token().to_string()))
    }

    /// The manifest of `reference`, read up to the manifest limit.
    pub(super) async fn manifest(
        &self,
        op: &Operation<'_>,
        reference: &Reference,
    ) -> Result<Manifest> {
        let tag = reference.tag().unwrap_or("latest");
        let response = self
            .get(
                op,
                reference,
                &format!("manifests/{tag}"),
                Some(MANIFEST_TYPES),
            )
            .await?;
        let limit = self.limits.manifest;
        refuse_declared(response.content_length(), limit, op, Limited::Manifest)?;
        let mut body = Vec::new();
        read_capped(response, limit, op, Limited::Manifest, &mut |chunk| {
            body.extend_from_slice(chunk);
            Ok(())
        })
        .await?;
        let digest = crate::oci::sha256_digest(&body);
        let manifest = serde_json::from_slice::<OciImageManifest>(&body).map_err(|e| {
            Error::environment(format!(
                "{} answered with a manifest stackctl cannot read: {e}",
                op.reference()
            ))
            .with_hint("check that the reference is a Helm chart pushed with `helm push` or `stackctl chart publish`")
        })?;
        Ok(Manifest { manifest, digest })
    }

    /// The blob `digest` of `reference`, streamed to a temporary file up to the blob limit
    /// and checked against its digest, then read back.
    pub(super) async fn blob(
        &self,
        op: &Operation<'_>,
        reference: &Reference,
        digest: &str,
        declared: i64,
    ) -> Result<Vec<u8>> {
        let limit = self.limits.blob;
        refuse_declared(u64::try_from(declared).ok(), limit, op, Limited::Blob)?;
        let response = self
            .get(op, reference, &format!("blobs/{digest}"), None)
            .await?;
        refuse_declared(response.content_length(), limit, op, Limited::Blob)?;
        let mut file = tempfile::tempfile()
            .map_err(|e| Error::environment(format!("cannot create a temporary file: {e}")))?;
        let mut hasher = sha2::Sha256::new();
        read_capped(response, limit, op, Limited::Blob, &mut |chunk| {
            hasher.update(chunk);
            file.write_all(chunk)
                .map_err(|e| Error::environment(format!("cannot write a temporary file: {e}")))
        })
        .await?;
        let actual = format!("sha256:{}", hex::encode(hasher.finalize()));
        if actual != digest {
            return Err(Error::environment(format!(
                "{} sent a chart archive with digest {actual}, but its manifest says {digest}",
                op.reference()
            ))
            .with_hint("retry; if it persists, the registry or a proxy corrupts downloads"));
        }
        let mut bytes = Vec::new();
        file.rewind()
            .and_then(|_| file.read_to_end(&mut bytes))
            .map_err(|e| Error::environment(format!("cannot read a temporary file: {e}")))?;
        Ok(bytes)
    }
}

/// `scheme://registry/v2` of `reference`.
fn v2_root(op: &Operation<'_>, reference: &Reference) -> String {
    let scheme = if op.location.plain_http {
        "http"
    } else {
        "https"
    };
    format!("{scheme}://{}/v2", reference.resolve_registry())
}

/// A Bearer challenge of a `WWW-Authenticate` header: where to ask for a token.
#[derive(Debug, PartialEq, Eq)]
struct BearerChallenge {
    realm: String,
    service: Option<String>,
}

/// The first Bearer challenge of a `WWW-Authenticate` header (a registry may offer Basic
/// beside it); `None` when there is none or it has no realm.
fn bearer_challenge(header: &str) -> Option<BearerChallenge> {
    http_auth::ChallengeParser::new(header)
        .filter_map(std::result::Result::ok)
        .filter(|challenge| challenge.scheme.eq_ignore_ascii_case("Bearer"))
        .find_map(|challenge| {
            let param = |name: &str| {
                challenge
                    .params
                    .iter()
                    .find(|(key, _)| key.eq_ignore_ascii_case(name))
                    .map(|(_, value)| value.to_unescaped())
            };
            Some(BearerChallenge {
                realm: param("realm")?,
                service: param("service"),
            })
        })
}

/// Refuse a response whose declared size is over the limit before reading any of it.
fn refuse_declared(
    declared: Option<u64>,
    limit: u64,
    op: &Operation<'_>,
    what: Limited,
) -> Result<()> {
    match declared {
        Some(size) if size > limit => Err(over_limit(op, what, limit, Some(size))),
        _ => Ok(()),
    }
}

/// Read a response body chunk by chunk into `sink`, stopping with an error as soon as it
/// passes `limit`.
async fn read_capped(
    mut response: reqwest::Response,
    limit: u64,
    op: &Operation<'_>,
    what: Limited,
    sink: &mut dyn FnMut(&[u8]) -> Result<()>,
) -> Result<()> {
    let mut total: u64 = 0;
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|e| classify(OciDistributionError::RequestError(e), op))?
    {
        total += chunk.len() as u64;
        if total > limit {
            return Err(over_limit(op, what, limit, None));
        }
        sink(&chunk)?;
    }
    Ok(())
}

/// The start of an error answer's body, for the message: a little of it is enough.
async fn error_body(mut response: reqwest::Response) -> String {
    const KEPT: usize = 4096;
    let mut body = Vec::new();
    while body.len() < KEPT {
        match response.chunk().await {
            Ok(Some(chunk)) => body.extend_from_slice(&chunk[..chunk.len().min(KEPT - body.len())]),
            _ => break,
        }
    }
    String::from_utf8_lossy(&body).into_owned()
}

fn over_limit(op: &Operation<'_>, what: Limited, limit: u64, declared: Option<u64>) -> Error {
    let message = match declared {
        Some(size) => format!(
            "registry {} declares a {} of {}, over the {} limit, while {}; nothing was downloaded",
            op.location.host,
            what.what(),
            format_size(size),
            format_size(limit),
            op.what()
        ),
        None => format!(
            "registry {} sent a {} larger than the {} limit while {}; the download was stopped",
            op.location.host,
            what.what(),
            format_size(limit),
            op.what()
        ),
    };
    let hint = match what.key() {
        Some(key) => format!(
            "if the {} really is this large, raise `{key}` under [registries] in stackctl.toml (docs/configuration.md); otherwise the registry or a proxy in front of it is misbehaving",
            what.what()
        ),
        None => "a token is a few kilobytes: the registry's token service or a proxy in front of it is misbehaving".to_string(),
    };
    Error::environment(message).with_hint(hint)
}
