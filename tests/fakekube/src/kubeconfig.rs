//! The kubeconfig that points clients at the stand-in: one cluster, context and user named
//! after the scenario's context (`kind-kind` by default), plain HTTP on loopback, no
//! credentials (the stand-in authorises every request).

/// A kubeconfig for `server` (`http://127.0.0.1:PORT`) with one context named `context`.
pub fn render(server: &str, context: &str) -> String {
    format!(
        "# fakekube: a test stand-in, not a Kubernetes.\n\
         apiVersion: v1\n\
         kind: Config\n\
         clusters:\n\
         - cluster:\n    server: {server}\n  name: {context}\n\
         contexts:\n\
         - context:\n    cluster: {context}\n    user: {context}\n  name: {context}\n\
         current-context: {context}\n\
         preferences: {{}}\n\
         users:\n\
         - name: {context}\n  user: {{}}\n"
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_kubeconfig_is_yaml_with_one_context() {
        let text = super::render("http://127.0.0.1:1234", "kind-kind");
        let doc: serde_json::Value = serde_saphyr::from_str(&text).unwrap();
        assert_eq!(doc["current-context"], "kind-kind");
        assert_eq!(
            doc["clusters"][0]["cluster"]["server"],
            "http://127.0.0.1:1234"
        );
        assert_eq!(doc["contexts"][0]["context"]["user"], "kind-kind");
    }
}
