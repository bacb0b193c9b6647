//! Redaction: every secret stackctl knows of (tokens and passwords from the environment and
//! `.env`, registry credentials, secret literals found in values files) is replaced by
//! `[REDACTED]` in every text that reaches the user, helm's stderr included.

use std::borrow::Cow;
use std::io::Write;
use std::sync::RwLock;

/// Secrets shorter than this are not redacted: replacing every `1` or `yes` in the output
/// would make it unreadable and protects nothing.
const MIN_SECRET_LEN: usize = 6;

const REDACTED: &str = "[REDACTED]";

static KNOWN_SECRETS: RwLock<Vec<String>> = RwLock::new(Vec::new());

/// Register a value that must never appear in output (a token read from a credentials file,
/// a password). Idempotent.
///
/// The forms the secret takes once quoted are registered too: messages quote values with
/// Rust's `{:?}`, the JSON and SARIF reports escape them as JSON strings, JUnit as XML (and a
/// quoted value may be quoted again), so a secret holding `"` or `\` would otherwise pass
/// through redaction escaped.
pub fn register(secret: &str) {
    let secret = secret.trim();
    if secret.len() < MIN_SECRET_LEN {
        return;
    }
    let mut forms = vec![secret.to_string()];
    // Two rounds: a value quoted by a message, then escaped by the report format.
    for _ in 0..2 {
        let previous = forms.clone();
        for form in &previous {
            for escaped in escaped_forms(form) {
                if !forms.contains(&escaped) {
                    forms.push(escaped);
                }
            }
        }
    }
    let mut known = KNOWN_SECRETS.write().unwrap_or_else(|e| e.into_inner());
    for form in forms {
        if !known.contains(&form) {
            known.push(form);
        }
    }
    // Longest first, so a secret that contains another is replaced whole.
    known.sort_by_key(|s| std::cmp::Reverse(s.len()));
}

/// `text` as Rust's `{:?}`, a JSON string and XML (text and attribute) escape it, without the
/// surrounding quotes.
fn escaped_forms(text: &str) -> Vec<String> {
    let unquote = |quoted: String| quoted[1..quoted.len() - 1].to_string();
    vec![
        unquote(format!("{text:?}")),
        unquote(serde_json::to_string(text).expect("a string serializes")),
        quick_xml::escape::escape(text).into_owned(),
        quick_xml::escape::partial_escape(text).into_owned(),
    ]
}

/// How many bytes at the end of `head` are the start of a registered secret, and at the
/// start of `tail` the end of one: what a cut through a secret leaves on either side, which
/// [`redact`] cannot recognise once the two pieces are apart.
pub fn pieces_at_cut(head: &[u8], tail: &[u8]) -> (usize, usize) {
    let known = KNOWN_SECRETS.read().unwrap_or_else(|e| e.into_inner());
    let mut at_end = 0;
    let mut at_start = 0;
    for secret in known.iter().map(String::as_bytes) {
        for n in (at_end + 1)..secret.len() {
            if head.ends_with(&secret[..n]) {
                at_end = n;
            }
        }
        for n in (at_start + 1)..secret.len() {
            if tail.starts_with(&secret[secret.len() - n..]) {
                at_start = n;
            }
        }
    }
    (at_end, at_start)
}

/// Replace every registered secret in `text`.
pub fn redact(text: &str) -> Cow<'_, str> {
    let known = KNOWN_SECRETS.read().unwrap_or_else(|e| e.into_inner());
    if !known.iter().any(|s| text.contains(s.as_str())) {
        return Cow::Borrowed(text);
    }
    let mut out = text.to_string();
    for secret in known.iter() {
        if out.contains(secret.as_str()) {
            out = out.replace(secret.as_str(), REDACTED);
        }
    }
    Cow::Owned(out)
}

/// Is a variable of this name a secret? Tokens, passwords, keys, credentials.
pub fn is_secret_name(name: &str) -> bool {
    let upper = name.to_ascii_uppercase();
    [
        "TOKEN",
        "PASSWORD",
        "PASSWD",
        "SECRET",
        "CREDENTIAL",
        "API_KEY",
        "PRIVATE_KEY",
        "AUTH",
    ]
    .iter()
    .any(|word| upper.contains(word))
        || upper.ends_with("_KEY")
}

/// A writer that redacts secrets from whole lines before passing them on.
///
/// Text is buffered until a newline so that a secret split across two `write` calls is still
/// caught; the rest is flushed on `flush` and on drop.
pub struct RedactingWriter<W: Write> {
    inner: W,
    pending: Vec<u8>,
}

impl<W: Write> RedactingWriter<W> {
    pub fn new(inner: W) -> Self {
        RedactingWriter {
            inner,
            pending: Vec::new(),
        }
    }

    fn emit(&mut self, upto: usize) -> std::io::Result<()> {
        let chunk: Vec<u8> = self.pending.drain(..upto).collect();
        let text = String::from_utf8_lossy(&chunk);
        self.inner.write_all(redact(&text).as_bytes())
    }
}

impl<W: Write> Write for RedactingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.pending.extend_from_slice(buf);
        if let Some(last_newline) = self.pending.iter().rposition(|&b| b == b'\n') {
            self.emit(last_newline + 1)?;
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        let len = self.pending.len();
        self.emit(len)?;
        self.inner.flush()
    }
}

impl<W: Write> Drop for RedactingWriter<W> {
    fn drop(&mut self) {
        let _ = self.flush();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacts_registered_secrets_everywhere() {
        register("ghp_sentinelAAAA1111");
        let text = "login failed with token ghp_sentinelAAAA1111 (ghp_sentinelAAAA1111)";
        assert_eq!(
            redact(text),
            "login failed with token [REDACTED] ([REDACTED])"
        );
        assert!(matches!(redact("nothing to hide"), Cow::Borrowed(_)));
    }

    #[test]
    fn escaped_forms_of_a_secret_are_redacted_too() {
        let secret = r#"Pa&ss"w0rd9\x<y>'"#;
        register(secret);
        let debug = format!("is {secret:?}, not that");
        let json = serde_json::to_string(&serde_json::json!({ "m": debug })).unwrap();
        let xml = quick_xml::escape::escape(&debug).into_owned();
        for text in [debug.as_str(), &json, &xml] {
            let out = redact(text);
            assert!(out.contains(REDACTED), "{text} -> {out}");
            assert!(!out.contains("w0rd9"), "{text} -> {out}");
        }
    }

    #[test]
    fn short_values_are_not_treated_as_secrets() {
        register("abc");
        assert_eq!(redact("abc"), "abc");
    }

    #[test]
    fn secret_names_are_recognised() {
        for name in [
            "GITHUB_TOKEN",
            "GH_TOKEN",
            "DB_PASSWORD",
            "AWS_SECRET_ACCESS_KEY",
            "SIGNING_KEY",
        ] {
            assert!(is_secret_name(name), "{name}");
        }
        for name in ["GITHUB_USER", "HOME", "CI", "KEYBOARD"] {
            assert!(!is_secret_name(name), "{name}");
        }
    }

    #[test]
    fn redacting_writer_catches_secrets_split_across_writes() {
        register("split-secret-value-42");
        let mut out = Vec::new();
        {
            let mut writer = RedactingWriter::new(&mut out);
            writer.write_all(b"token split-sec").unwrap();
            writer.write_all(b"ret-value-42 end\nnext").unwrap();
        }
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "token [REDACTED] end\nnext"
        );
    }
}
