//! The image pull secret of `test ci`: a `kubernetes.io/dockerconfigjson` Secret for the
//! registry, written through the API (never on a command line), and the namespace's `default`
//! ServiceAccount told to use it.

use base64::Engine as _;
use k8s_openapi::api::core::v1::{Secret, ServiceAccount};
use kube::api::{Api, Patch, PatchParams};

use super::Cluster;
use crate::error::{Error, ErrorKind, Result};
use crate::process::cancellable;

/// The field manager of what stackctl writes.
const FIELD_MANAGER: &str = "stackctl";

/// Write the pull secret `name` for `registry` into `namespace`, and add it to the `default`
/// ServiceAccount's `imagePullSecrets`.
pub async fn ensure(
    cluster: &Cluster,
    namespace: &str,
    name: &str,
    registry: &str,
    username: &str,
    password: &str,
) -> Result<()> {
    let auth = base64::engine::general_purpose::STANDARD.encode(format!("{username}:{password}"));
    let config = serde_json::json!({
        "auths": { registry: { "username": username, "password": password, "auth": auth } }
    });
    let secret = serde_json::json!({
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": { "name": name, "namespace": namespace },
        "type": "kubernetes.io/dockerconfigjson",
        "data": {
            ".dockerconfigjson": base64::engine::general_purpose::STANDARD.encode(config.to_string()),
        },
    });
    let service_account = serde_json::json!({
        "apiVersion": "v1",
        "kind": "ServiceAccount",
        "metadata": { "name": "default", "namespace": namespace },
        "imagePullSecrets": [ { "name": name } ],
    });
    let params = PatchParams::apply(FIELD_MANAGER).force();
    let secrets: Api<Secret> = Api::namespaced(cluster.client().clone(), namespace);
    let accounts: Api<ServiceAccount> = Api::namespaced(cluster.client().clone(), namespace);
    cancellable(cluster.cancel(), async {
        secrets
            .patch(name, &params, &Patch::Apply(&secret))
            .await
            .map_err(|e| refused("the image pull secret", name, namespace, &e))?;
        accounts
            .patch("default", &params, &Patch::Apply(&service_account))
            .await
            .map_err(|e| refused("the default ServiceAccount", "default", namespace, &e))?;
        Ok(())
    })
    .await
}

fn refused(what: &str, name: &str, namespace: &str, error: &kube::Error) -> Error {
    let kind = match error {
        kube::Error::Api(status) if status.code == 401 || status.code == 403 => {
            ErrorKind::CredentialsRejected
        }
        _ => ErrorKind::Environment,
    };
    // A Status can quote the request; the token must not travel with it.
    let message = crate::redact::redact(&error.to_string()).into_owned();
    Error::new(
        kind,
        format!("cannot write {what} {namespace}/{name}: {message}"),
    )
}
