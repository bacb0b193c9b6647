//! Helm's lock digest and `Chart.lock` text, byte for byte as helm writes them.
//!
//! The digest is `sha256:` + the hex SHA-256 of Go's compact JSON encoding of
//! `[Chart.yaml dependencies, Chart.lock dependencies]`, each dependency a `chart.Dependency`
//! struct (fields in declaration order, empty ones omitted). Reproducing it lets `deps check`
//! prove a lock is in sync without network and without helm.

use sha2::{Digest as _, Sha256};

use crate::deps::chartfile::HelmDependency;

/// Helm's digest of a chart's requested and locked dependencies.
pub fn helm_digest(requested: &[HelmDependency], locked: &[HelmDependency]) -> String {
    let mut json = String::from("[");
    encode_list(requested, &mut json);
    json.push(',');
    encode_list(locked, &mut json);
    json.push(']');
    format!("sha256:{}", hex::encode(Sha256::digest(json.as_bytes())))
}

/// One locked dependency: what `Chart.lock` records for each Chart.yaml entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LockedDependency {
    pub name: String,
    pub repository: String,
    pub version: String,
}

impl LockedDependency {
    pub fn to_helm(&self) -> HelmDependency {
        HelmDependency {
            name: self.name.clone(),
            version: self.version.clone(),
            repository: self.repository.clone(),
            ..HelmDependency::default()
        }
    }
}

/// The lock helm would write for `requested` (one locked entry per requested entry, same
/// order, with name, repository and exact version only).
pub fn lock_entries(requested: &[HelmDependency]) -> Vec<LockedDependency> {
    requested
        .iter()
        .map(|d| LockedDependency {
            name: d.name.clone(),
            repository: d.repository.clone(),
            version: d.version.clone(),
        })
        .collect()
}

/// `Chart.lock` text as helm writes it: keys sorted (helm marshals through JSON), versions
/// unquoted, `generated` double-quoted.
pub fn render_lock(entries: &[LockedDependency], digest: &str, generated: &str) -> String {
    let mut out = String::from("dependencies:\n");
    for entry in entries {
        out.push_str(&format!("- name: {}\n", yaml_string(&entry.name)));
        out.push_str(&format!(
            "  repository: {}\n",
            yaml_string(&entry.repository)
        ));
        out.push_str(&format!("  version: {}\n", yaml_string(&entry.version)));
    }
    out.push_str(&format!("digest: {}\n", yaml_string(digest)));
    out.push_str(&format!("generated: {}\n", yaml_string(generated)));
    out
}

/// The current time as Go's `time.Time` marshals to JSON (RFC 3339 with nanoseconds, trailing
/// zeros trimmed, `Z` for UTC, the local offset otherwise), which is what helm writes.
pub fn generated_now() -> String {
    let now = jiff::Zoned::now();
    go_rfc3339_nano(&now)
}

pub fn go_rfc3339_nano(time: &jiff::Zoned) -> String {
    let mut out = time.strftime("%Y-%m-%dT%H:%M:%S").to_string();
    let nanos = time.subsec_nanosecond();
    if nanos > 0 {
        let fraction = format!("{nanos:09}");
        out.push('.');
        out.push_str(fraction.trim_end_matches('0'));
    }
    let offset = time.offset().seconds();
    if offset == 0 {
        out.push('Z');
    } else {
        let sign = if offset < 0 { '-' } else { '+' };
        let minutes = offset.abs() / 60;
        out.push_str(&format!("{sign}{:02}:{:02}", minutes / 60, minutes % 60));
    }
    out
}

/// A string in YAML as go-yaml (helm's encoder) writes it: plain when that reads back as the
/// same string, double-quoted otherwise.
fn yaml_string(value: &str) -> String {
    if plain_is_safe(value) {
        value.to_string()
    } else {
        let mut out = String::from("\"");
        for c in value.chars() {
            match c {
                '"' => out.push_str("\\\""),
                '\\' => out.push_str("\\\\"),
                '\n' => out.push_str("\\n"),
                '\t' => out.push_str("\\t"),
                c if c.is_control() => out.push_str(&format!("\\x{:02X}", c as u32)),
                c => out.push(c),
            }
        }
        out.push('"');
        out
    }
}

fn plain_is_safe(value: &str) -> bool {
    let Some(first) = value.chars().next() else {
        return false;
    };
    let allowed = |c: char| c.is_ascii_alphanumeric() || "./_:-+@~".contains(c);
    if !value.chars().all(allowed) || "-:?@~".contains(first) || value.ends_with(':') {
        return false;
    }
    let lower = value.to_ascii_lowercase();
    let reserved = [
        "y", "yes", "n", "no", "true", "false", "on", "off", "null", "~",
    ];
    if reserved.contains(&lower.as_str()) {
        return false;
    }
    // Numbers and timestamps would read back as something other than a string.
    let numeric = value.parse::<f64>().is_ok()
        || value.starts_with("0x")
        || value.starts_with("0o")
        || (value.contains(':') && value.split(':').all(|p| p.parse::<f64>().is_ok()));
    let timestamp = value.len() >= 10
        && value.as_bytes()[..4].iter().all(u8::is_ascii_digit)
        && value.as_bytes()[4] == b'-';
    !numeric && !timestamp
}

fn encode_list(deps: &[HelmDependency], out: &mut String) {
    if deps.is_empty() {
        // A Chart.yaml without dependencies holds a nil slice, which Go encodes as null.
        out.push_str("null");
        return;
    }
    out.push('[');
    for (i, dep) in deps.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        encode_dependency(dep, out);
    }
    out.push(']');
}

fn encode_dependency(dep: &HelmDependency, out: &mut String) {
    let mut fields: Vec<(&str, String)> = Vec::new();
    let mut push = |key: &'static str, value: String| fields.push((key, value));
    push("name", go_string(&dep.name));
    if !dep.version.is_empty() {
        push("version", go_string(&dep.version));
    }
    push("repository", go_string(&dep.repository));
    if !dep.condition.is_empty() {
        push("condition", go_string(&dep.condition));
    }
    if !dep.tags.is_empty() {
        push("tags", go_json(&serde_json::Value::Array(dep.tags.clone())));
    }
    if dep.enabled {
        push("enabled", "true".to_string());
    }
    if !dep.import_values.is_empty() {
        push(
            "import-values",
            go_json(&serde_json::Value::Array(dep.import_values.clone())),
        );
    }
    if !dep.alias.is_empty() {
        push("alias", go_string(&dep.alias));
    }
    out.push('{');
    for (i, (key, value)) in fields.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(&go_string(key));
        out.push(':');
        out.push_str(value);
    }
    out.push('}');
}

/// A JSON value as Go's encoding/json writes an `interface{}` decoded from JSON: objects with
/// sorted keys, numbers as float64.
fn go_json(value: &serde_json::Value) -> String {
    use serde_json::Value;
    match value {
        Value::Null => "null".to_string(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => go_number(n),
        Value::String(s) => go_string(s),
        Value::Array(items) => {
            let inner: Vec<String> = items.iter().map(go_json).collect();
            format!("[{}]", inner.join(","))
        }
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            let inner: Vec<String> = keys
                .into_iter()
                .map(|k| format!("{}:{}", go_string(k), go_json(&map[k])))
                .collect();
            format!("{{{}}}", inner.join(","))
        }
    }
}

fn go_number(n: &serde_json::Number) -> String {
    if let Some(i) = n.as_i64() {
        return i.to_string();
    }
    let f = n.as_f64().unwrap_or(0.0);
    if f.fract() == 0.0 && f.abs() < 1e21 {
        format!("{f:.0}")
    } else {
        f.to_string()
    }
}

/// A string as Go's encoding/json escapes it: HTML-sensitive characters and the JavaScript
/// line separators as `\u` escapes, control characters short-form where JSON has one.
fn go_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '<' | '>' | '&' | '\u{2028}' | '\u{2029}' => {
                out.push_str(&format!("\\u{:04x}", c as u32))
            }
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dep(name: &str, version: &str, alias: &str, condition: &str) -> HelmDependency {
        HelmDependency {
            name: name.into(),
            version: version.into(),
            repository: "oci://127.0.0.1:5077/charts".into(),
            condition: condition.into(),
            alias: alias.into(),
            ..Default::default()
        }
    }

    /// The digest real helm (4.3.1 and 3.17.2) wrote for this Chart.yaml.
    #[test]
    fn matches_the_digest_helm_wrote() {
        let requested = vec![
            dep("backend", "4.6.12", "backend-api", "backend-api.enabled"),
            dep("backend", "4.6.12", "backend-ws", "backend-ws.enabled"),
            dep("frontend", "2.7.1", "", "frontend.enabled"),
        ];
        let locked: Vec<_> = lock_entries(&requested)
            .iter()
            .map(LockedDependency::to_helm)
            .collect();
        assert_eq!(
            helm_digest(&requested, &locked),
            "sha256:dacfadefabd10be5d095a9f82d1dbae0b14e6cde43b311cc031e5c670af825db"
        );
    }

    #[test]
    fn encodes_like_go() {
        let mut d = dep("a<b>&c", "1.0.0", "", "");
        d.tags = vec![serde_json::json!("t")];
        d.enabled = true;
        d.import_values = vec![serde_json::json!({"parent": "p", "child": "c"}), 1.0.into()];
        let mut out = String::new();
        encode_dependency(&d, &mut out);
        assert_eq!(
            out,
            r#"{"name":"a\u003cb\u003e\u0026c","version":"1.0.0","repository":"oci://127.0.0.1:5077/charts","tags":["t"],"enabled":true,"import-values":[{"child":"c","parent":"p"},1]}"#
        );
        let mut empty = String::new();
        encode_list(&[], &mut empty);
        assert_eq!(empty, "null");
    }

    #[test]
    fn renders_the_lock_like_helm() {
        let entries = vec![LockedDependency {
            name: "backend".into(),
            repository: "oci://ghcr.io/jetscale-ai/charts".into(),
            version: "4.6.12".into(),
        }];
        assert_eq!(
            render_lock(&entries, "sha256:abc", "2026-02-25T08:39:23.1234-05:00"),
            "dependencies:\n- name: backend\n  repository: oci://ghcr.io/jetscale-ai/charts\n  version: 4.6.12\ndigest: sha256:abc\ngenerated: \"2026-02-25T08:39:23.1234-05:00\"\n"
        );
    }

    #[test]
    fn formats_time_like_go() {
        let t: jiff::Zoned = "2026-02-25T08:39:23.120000000-05:00[-05:00]"
            .parse()
            .unwrap();
        assert_eq!(go_rfc3339_nano(&t), "2026-02-25T08:39:23.12-05:00");
        let utc: jiff::Zoned = "2026-02-25T13:39:23Z[UTC]".parse().unwrap();
        assert_eq!(go_rfc3339_nano(&utc), "2026-02-25T13:39:23Z");
    }

    #[test]
    fn quotes_strings_that_would_change_type() {
        assert_eq!(yaml_string("4.6.12"), "4.6.12");
        assert_eq!(yaml_string("1.0"), "\"1.0\"");
        assert_eq!(yaml_string("true"), "\"true\"");
        assert_eq!(yaml_string("oci://x/y"), "oci://x/y");
        assert_eq!(yaml_string(""), "\"\"");
    }
}
