//! `test live`'s certificate check: a TLS handshake with the host, whose certificate chain is
//! verified as any client would (trusted issuer, the host's name, valid now) and once more at
//! the end of the required validity, so that a certificate about to expire fails while it
//! still works.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{CertificateError, DigitallySignedStruct, Error as TlsError, RootCertStore};

/// The roots a live host's certificate may chain to: the system's, and those given.
pub(super) fn roots(extra_pem: Option<&str>) -> Result<RootCertStore, String> {
    let mut roots = RootCertStore::empty();
    // A system without roots leaves only the given ones; the check then says the issuer is
    // unknown, which is the truth for this machine.
    let native = rustls_native_certs::load_native_certs();
    roots.add_parsable_certificates(native.certs);
    for cert in extra_certificates(extra_pem)? {
        roots
            .add(cert)
            .map_err(|e| format!("a trusted certificate cannot be used: {e}"))?;
    }
    Ok(roots)
}

/// The PEM certificates of `pem`; an error when it holds none or a broken one.
pub(super) fn extra_certificates(
    pem: Option<&str>,
) -> Result<Vec<CertificateDer<'static>>, String> {
    let Some(pem) = pem else {
        return Ok(Vec::new());
    };
    let certs = CertificateDer::pem_slice_iter(pem.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("the trusted certificates are not valid PEM: {e}"))?;
    if certs.is_empty() {
        return Err("the trusted certificates hold no PEM certificate".to_string());
    }
    Ok(certs)
}

pub(super) fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::aws_lc_rs::default_provider())
}

/// What the certificate check found.
pub(super) enum Certificate {
    /// Valid now and still at the end of the required validity.
    Valid,
    /// Not valid now: the verifier's error.
    Invalid(TlsError),
    /// Valid now, expiring before the end of the required validity.
    Expiring { not_after: UnixTime },
}

/// Handshake with `host:port` and judge the certificate it presents. `Err` when no handshake
/// could be made (no connection, no TLS).
pub(super) async fn inspect(
    host: &str,
    port: u16,
    roots: RootCertStore,
    min_validity: Duration,
    timeout: Duration,
) -> Result<Certificate, String> {
    let provider = provider();
    let verifier = WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider.clone())
        .build()
        .map_err(|e| format!("cannot set up certificate verification: {e}"))?;
    let recorder = Arc::new(Recorder {
        inner: verifier,
        min_validity,
        verdict: Mutex::new(None),
    });
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("cannot set up TLS: {e}"))?
        .dangerous()
        .with_custom_certificate_verifier(recorder.clone())
        .with_no_client_auth();
    let name = ServerName::try_from(host.to_string())
        .map_err(|e| format!("{host} is not a server name: {e}"))?;
    let handshake = async {
        let tcp = tokio::net::TcpStream::connect((host, port))
            .await
            .map_err(|e| format!("cannot connect to {host}:{port}: {e}"))?;
        let tls = tokio_rustls::TlsConnector::from(Arc::new(config))
            .connect(name, tcp)
            .await
            .map_err(|e| format!("TLS handshake with {host}:{port} failed: {e}"))?;
        // Nothing is sent: the connection was only for the certificate.
        drop(tls);
        Ok::<(), String>(())
    };
    tokio::time::timeout(timeout, handshake)
        .await
        .map_err(|_| {
            format!(
                "no TLS handshake with {host}:{port} within {:.1} s",
                timeout.as_secs_f64()
            )
        })??;
    let verdict = recorder
        .verdict
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .take();
    verdict.ok_or_else(|| format!("{host}:{port} presented no certificate"))
}

/// A verifier that lets the handshake finish whatever the certificate, and records what the
/// real verifier says of it now and at the end of the required validity. The handshake's
/// signatures are still checked by the real verifier, so the server proves it holds the
/// certificate's key; and nothing is ever sent over the connection.
#[derive(Debug)]
struct Recorder {
    inner: Arc<WebPkiServerVerifier>,
    min_validity: Duration,
    verdict: Mutex<Option<Certificate>>,
}

impl std::fmt::Debug for Certificate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Certificate::Valid => write!(f, "Valid"),
            Certificate::Invalid(e) => write!(f, "Invalid({e})"),
            Certificate::Expiring { not_after } => write!(f, "Expiring({})", not_after.as_secs()),
        }
    }
}

impl ServerCertVerifier for Recorder {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, TlsError> {
        let verify = |at: UnixTime| {
            self.inner
                .verify_server_cert(end_entity, intermediates, server_name, ocsp_response, at)
        };
        let later =
            UnixTime::since_unix_epoch(Duration::from_secs(now.as_secs()) + self.min_validity);
        let verdict = match verify(now) {
            Err(e) => Certificate::Invalid(e),
            Ok(_) => match verify(later) {
                Ok(_) => Certificate::Valid,
                Err(TlsError::InvalidCertificate(CertificateError::ExpiredContext {
                    not_after,
                    ..
                })) => Certificate::Expiring { not_after },
                // Only the time changed, so only expiry can fail; anything else is reported
                // as it is.
                Err(e) => Certificate::Invalid(e),
            },
        };
        *self.verdict.lock().unwrap_or_else(|e| e.into_inner()) = Some(verdict);
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, TlsError> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, TlsError> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

/// A verifier error as one line people understand.
pub(super) fn explain(e: &TlsError, host: &str) -> String {
    match e {
        TlsError::InvalidCertificate(CertificateError::NotValidForNameContext {
            presented,
            ..
        }) => format!(
            "the certificate is not valid for {host} (it names {})",
            if presented.is_empty() {
                "no host".to_string()
            } else {
                presented
                    .iter()
                    .map(|n| name(n))
                    .collect::<Vec<_>>()
                    .join(", ")
            }
        ),
        TlsError::InvalidCertificate(CertificateError::NotValidForName) => {
            format!("the certificate is not valid for {host}")
        }
        TlsError::InvalidCertificate(CertificateError::UnknownIssuer) => {
            "the certificate is not issued by a trusted authority (self-signed, or a missing \
             intermediate certificate)"
                .to_string()
        }
        TlsError::InvalidCertificate(CertificateError::ExpiredContext { not_after, .. }) => {
            format!("the certificate expired on {}", date(*not_after))
        }
        TlsError::InvalidCertificate(CertificateError::Expired) => {
            "the certificate has expired".to_string()
        }
        TlsError::InvalidCertificate(CertificateError::NotValidYetContext {
            not_before, ..
        }) => {
            format!("the certificate is not valid before {}", date(*not_before))
        }
        other => format!("the certificate is not valid: {other}"),
    }
}

/// A name the certificate presents, as webpki writes it (`DnsName("a.example")`,
/// `IpAddress(192.0.2.1)`), without the wrapping: `a.example`, `192.0.2.1`.
fn name(presented: &str) -> &str {
    for (start, end) in [("DnsName(\"", "\")"), ("IpAddress(", ")")] {
        if let Some(inner) = presented
            .strip_prefix(start)
            .and_then(|rest| rest.strip_suffix(end))
        {
            return inner;
        }
    }
    presented
}

/// `2026-05-03 12:00 UTC`.
pub(super) fn date(time: UnixTime) -> String {
    match jiff::Timestamp::from_second(time.as_secs() as i64) {
        Ok(ts) => ts.strftime("%Y-%m-%d %H:%M UTC").to_string(),
        Err(_) => format!("{} s after the epoch", time.as_secs()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn presented_names_lose_their_wrapping() {
        assert_eq!(name("DnsName(\"a.example\")"), "a.example");
        assert_eq!(name("IpAddress(192.0.2.1)"), "192.0.2.1");
        assert_eq!(name("DirectoryName"), "DirectoryName");
    }

    #[test]
    fn dates_read_as_utc() {
        assert_eq!(
            date(UnixTime::since_unix_epoch(Duration::from_secs(
                1_777_809_600
            ))),
            "2026-05-03 12:00 UTC"
        );
    }
}
