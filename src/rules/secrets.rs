//! `secrets/literal` and `secrets/gitignore`: this repository is public, so no secret is ever
//! written into a values file, and the files that hold local secrets are ignored by git.
//!
//! [`classify`] decides about one scalar from its key and its text; [`scan_layer`] applies it
//! to every string of a parsed values layer and locates each finding at the line to edit;
//! [`check_gitignore`] asks git's own matching rules (through the `ignore` crate) whether the
//! repository's `.gitignore` covers `.env`, `*.secret.yaml` and `.stackctl/`.
//!
//! A finding never carries the secret: messages show [`mask`]ed text only, and every literal
//! found is registered with [`crate::redact::register`] so that any other text quoting it is
//! redacted as well.

use std::path::Path;
use std::sync::LazyLock;

use regex::Regex;
use serde_json::Value;

use super::{Scope, finding, rule};
use crate::findings::{Diagnostic, Severity};
use crate::values::{ParsedLayer, Suppressions, push_key};

pub const RULES: &[super::Rule] = &[
    rule(
        "secrets/literal",
        Severity::Error,
        Scope::File,
        "no secret-looking literal (password, token, key, private key) in a values file",
    ),
    rule(
        "secrets/gitignore",
        Severity::Error,
        Scope::Repository,
        ".gitignore keeps .env, *.secret.yaml and .stackctl/ out of git",
    ),
];

/// Why a scalar looks like a secret.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Why {
    AwsAccessKeyId,
    PrivateKey,
    GithubToken,
    GitlabToken,
    SlackToken,
    StripeKey,
    GoogleApiKey,
    NpmToken,
    Jwt,
    /// `scheme://user:password@host` with a real password.
    UrlCredentials,
    /// `Password=…;` or `password=…` inside a connection string.
    ConnectionString,
    /// A key named like a password, token, secret or key holds a literal.
    SecretNamedKey,
    /// A long random-looking base64 or hex string.
    HighEntropy,
}

impl Why {
    pub fn describe(self) -> &'static str {
        match self {
            Why::AwsAccessKeyId => "an AWS access key ID",
            Why::PrivateKey => "a PEM private key block",
            Why::GithubToken => "a GitHub token",
            Why::GitlabToken => "a GitLab token",
            Why::SlackToken => "a Slack token",
            Why::StripeKey => "a Stripe API key",
            Why::GoogleApiKey => "a Google API key",
            Why::NpmToken => "an npm token",
            Why::Jwt => "a JSON Web Token",
            Why::UrlCredentials => "a password inside a URL",
            Why::ConnectionString => "a password inside a connection string",
            Why::SecretNamedKey => "a literal secret",
            Why::HighEntropy => "a high-entropy string",
        }
    }
}

/// A secret-looking literal: why, and the part of the text that is the secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hit {
    pub why: Why,
    pub secret: String,
}

static PATTERNS: LazyLock<Vec<(Why, Regex)>> = LazyLock::new(|| {
    [
        (
            Why::AwsAccessKeyId,
            r"\b(?:AKIA|ASIA|ABIA|ACCA|AGPA|AIDA|AIPA|ANPA|ANVA|APKA|AROA|ASCA)[A-Z2-7]{16}\b",
        ),
        (
            Why::PrivateKey,
            r"-----BEGIN[A-Z0-9 ]*PRIVATE KEY(?: BLOCK)?-----[\s\S]*?(?:-----END[A-Z0-9 ]*PRIVATE KEY(?: BLOCK)?-----|$)",
        ),
        (
            Why::GithubToken,
            r"\b(?:gh[pousr]_[A-Za-z0-9]{36,255}|github_pat_[A-Za-z0-9_]{22,255})\b",
        ),
        (Why::GitlabToken, r"\bglpat-[A-Za-z0-9_-]{20,}"),
        (
            Why::SlackToken,
            r"\bxox[abposr]-[A-Za-z0-9-]{10,}|hooks\.slack\.com/services/T[A-Z0-9]+/B[A-Z0-9]+/[A-Za-z0-9]+",
        ),
        (Why::StripeKey, r"\b[sr]k_(?:live|test)_[A-Za-z0-9]{16,}\b"),
        (Why::GoogleApiKey, r"\bAIza[0-9A-Za-z_-]{35}"),
        (Why::NpmToken, r"\bnpm_[A-Za-z0-9]{36}\b"),
        (
            Why::Jwt,
            r"\beyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}",
        ),
    ]
    .into_iter()
    .map(|(why, re)| (why, Regex::new(re).expect("valid secret pattern")))
    .collect()
});

/// `scheme://user:password@` and `scheme://:password@` (Redis has no user).
static URL_CREDENTIALS: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"[A-Za-z][A-Za-z0-9+.-]*://[^:/@\s]*:([^@\s]+)@").expect("valid URL pattern")
});

/// `Password=…;` (ADO.NET, JDBC options) and libpq's `password=…` inside a value.
static CONNECTION_PASSWORD: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r#"(?i)(?:^|[;\s?&])(?:password|pwd)\s*=\s*([^;\s&'"]+)(?:$|[;\s&])"#)
        .expect("valid connection-string pattern")
});

/// Decide about one string scalar. `key` is the map key it sits under (for a list item, the
/// key of the list; for `{name: X, value: Y}` pairs, the name `X`).
///
/// Placeholders (`changeme`, `<token>`, `${VAR}`, `{{ .Values.x }}`, `REPLACE_ME`, …) and
/// references (`secretRef`, ARNs, secret-store paths, secret names under `…Secret` keys,
/// variable names) are never secrets.
pub fn classify(key: &str, value: &str) -> Option<Hit> {
    let text = value.trim();
    if text.is_empty() {
        return None;
    }
    let public = is_public_key(key);
    for (why, re) in PATTERNS.iter() {
        // Firebase's browser API key is an `AIza…` key, public by design under `VITE_`.
        if public && *why == Why::GoogleApiKey {
            continue;
        }
        for found in re.find_iter(text) {
            // A credential's shape is evidence enough: only the documented examples and
            // bodies of one repeated character are placeholders (`tbd` inside a token is
            // chance, not intent).
            if !is_shaped_placeholder(*why, found.as_str()) {
                return Some(Hit {
                    why: *why,
                    secret: found.as_str().to_string(),
                });
            }
        }
    }
    for captures in URL_CREDENTIALS.captures_iter(text) {
        let password = captures.get(1).expect("group 1").as_str();
        // `https://host:8080/@scope/pkg`: a port and a path, not a password.
        let port = password
            .split_once('/')
            .is_some_and(|(p, _)| !p.is_empty() && p.chars().all(|c| c.is_ascii_digit()));
        if !port && !is_placeholder(password) && !is_template(password) {
            return Some(Hit {
                why: Why::UrlCredentials,
                secret: password.to_string(),
            });
        }
    }
    // One line: a script (`password=os.environ[…]`) is not a connection string.
    let one_line = !text.contains('\n');
    for captures in CONNECTION_PASSWORD.captures_iter(text).filter(|_| one_line) {
        let password = captures.get(1).expect("group 1").as_str();
        if !is_placeholder(password) && !is_reference(password) {
            return Some(Hit {
                why: Why::ConnectionString,
                secret: password.to_string(),
            });
        }
    }
    if !public
        && let Some(strength) = secret_key_strength(key)
        && !is_placeholder(text)
        && !is_reference(text)
        && !is_setting_word(text)
        && !(strength == Strength::MayNameASecret && is_object_name(text))
    {
        return Some(Hit {
            why: Why::SecretNamedKey,
            secret: text.to_string(),
        });
    }
    if !public
        && !entropy_exempt_key(key)
        && !is_public_material(text)
        && looks_random(text)
        && !is_placeholder(text)
    {
        return Some(Hit {
            why: Why::HighEntropy,
            secret: text.to_string(),
        });
    }
    None
}

/// How sure a key's name makes us that its value is a secret.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Strength {
    /// `password`, `token`, `apiKey`, `JWT_SECRET_KEY`: any literal is a secret.
    Holds,
    /// `…Secret` / `…Secrets`: often the *name* of a Kubernetes Secret (`tlsSecret: web-tls`).
    MayNameASecret,
}

/// The words of a key: `JETSCALE_DB_PASSWORD` → jetscale db password, `apiKeyRef` → api key ref.
fn words(key: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current = String::new();
    let chars: Vec<char> = key.chars().collect();
    for (i, &c) in chars.iter().enumerate() {
        if !c.is_ascii_alphanumeric() {
            if !current.is_empty() {
                out.push(std::mem::take(&mut current));
            }
            continue;
        }
        let boundary = i > 0 && c.is_ascii_uppercase() && {
            let prev = chars[i - 1];
            prev.is_ascii_lowercase()
                || prev.is_ascii_digit()
                || (prev.is_ascii_uppercase()
                    && chars.get(i + 1).is_some_and(|n| n.is_ascii_lowercase()))
        };
        if boundary && !current.is_empty() {
            out.push(std::mem::take(&mut current));
        }
        current.push(c.to_ascii_lowercase());
    }
    if !current.is_empty() {
        out.push(current);
    }
    out
}

/// The words of a key as [`secret_key_strength`] and [`entropy_exempt_key`] read them:
/// version suffixes dropped (`DB_PASSWORD_2`, `API_KEY_V2`, `tokenOld`) and the last word's
/// digits too (`password1`, `sha256`).
fn key_words(key: &str) -> Vec<String> {
    static SUFFIX: LazyLock<Regex> =
        LazyLock::new(|| Regex::new(r"^(?:[0-9]+|v[0-9]+|old|new)$").expect("valid"));
    let mut words = words(key);
    while words.len() > 1 && words.last().is_some_and(|w| SUFFIX.is_match(w)) {
        words.pop();
    }
    if let Some(last) = words.last_mut() {
        let trimmed = last.trim_end_matches(|c: char| c.is_ascii_digit());
        if !trimmed.is_empty() {
            *last = trimmed.to_string();
        }
    }
    words
}

/// `VITE_…` variables are compiled into the frontend bundle every visitor downloads: public
/// by design (`VITE_RECAPTCHA_SITE_KEY`, `VITE_FIREBASE_API_KEY`), as are keys that say
/// `public` (`sshPublicKey`) and the [`PUBLIC_IDENTIFIERS`] of client-side services.
fn is_public_key(key: &str) -> bool {
    let words = words(key);
    key.starts_with("VITE_")
        || words.iter().any(|w| w == "public")
        || PUBLIC_IDENTIFIERS
            .iter()
            .any(|identifier| words.ends_with(&identifier.map(str::to_string)))
}

/// Identifiers a browser or a mobile app receives by design, by the last words of their key:
/// Google Tag Manager's environment parameters (`gtm_auth`, `gtm_preview`), reCAPTCHA and
/// Turnstile site keys, Stripe publishable keys, analytics measurement IDs, OAuth client IDs.
/// Documented in docs/rules.md (`secrets/literal`).
const PUBLIC_IDENTIFIERS: &[[&str; 2]] = &[
    ["gtm", "auth"],
    ["gtm", "preview"],
    ["site", "key"],
    ["publishable", "key"],
    ["measurement", "id"],
    ["client", "id"],
];

/// Words that, last in a key, say it holds a secret.
const HOLDING_WORDS: &[&str] = &[
    "password",
    "passwd",
    "pass",
    "pwd",
    "passphrase",
    "token",
    "apikey",
    "credential",
    "credentials",
    "secretkey",
    "privatekey",
    "accesskey",
];

/// Words that, before a final `key`, make it a secret key (`secretKey`, `API_KEY`).
const KEY_QUALIFIERS: &[&str] = &[
    "secret",
    "private",
    "api",
    "access",
    "signing",
    "encryption",
    "encrypt",
    "master",
    "client",
    "license",
    "ssh",
    "hmac",
    "jwt",
    "auth",
    "app",
];

fn secret_key_strength(key: &str) -> Option<Strength> {
    let words = key_words(key);
    let last = words.last()?.as_str();
    // `existingSecret`, `existingPassword`: the name of something that holds it.
    if words.first().is_some_and(|w| w == "existing") {
        return None;
    }
    if HOLDING_WORDS.contains(&last) {
        return Some(Strength::Holds);
    }
    if last == "key"
        && words.len() >= 2
        && KEY_QUALIFIERS.contains(&words[words.len() - 2].as_str())
    {
        return Some(Strength::Holds);
    }
    if last == "secret" || last == "secrets" {
        // `JWT_SECRET`: an environment variable holds the secret itself; `tlsSecret` names a
        // Kubernetes Secret.
        let env_style = key.chars().any(|c| c.is_ascii_uppercase())
            && !key.chars().any(|c| c.is_ascii_lowercase());
        return Some(if env_style {
            Strength::Holds
        } else {
            Strength::MayNameASecret
        });
    }
    None
}

/// Text that stands for a value to be filled in, not a value: the whole value or whole words
/// of it (`changeme`, `change-me-local-only`, `your-token-here`, `TBD`), never a piece of a
/// word (`tbd` inside random text is chance).
pub fn is_placeholder(text: &str) -> bool {
    let t = text.trim();
    if t.is_empty() || is_template(t) {
        return true;
    }
    if t.starts_with('<') && t.ends_with('>') {
        return true;
    }
    // Elisions: `****`, `...`, `…` appear in no key alphabet.
    if t.contains("****") || t.contains("...") || t.contains('…') {
        return true;
    }
    // One character repeated (`aaaaaaaa`, `00000000`, `xxxx`).
    let first = t.chars().next().expect("non-empty");
    if t.chars().all(|c| c == first) {
        return true;
    }
    let lower = t.to_ascii_lowercase();
    if matches!(
        lower.as_str(),
        "none" | "null" | "nil" | "~" | "true" | "false" | "n/a" | "na" | "-" | "unset" | "secret"
    ) {
        return true;
    }
    let parts: Vec<&str> = lower
        .split(|c: char| c.is_whitespace() || matches!(c, '-' | '_' | '.' | ':' | ','))
        .filter(|w| !w.is_empty())
        .collect();
    const WORDS: &[&str] = &[
        "changeme",
        "replaceme",
        "placeholder",
        "example",
        "dummy",
        "redacted",
        "todo",
        "tbd",
        "fixme",
        "notasecret",
    ];
    let xs = |w: &str| w.len() >= 3 && w.chars().all(|c| c == 'x');
    if parts.iter().any(|w| WORDS.contains(w) || xs(w)) {
        return true;
    }
    let pair = |a: &str, b: &str| parts.windows(2).any(|p| p[0] == a && p[1] == b);
    pair("change", "me")
        || pair("replace", "me")
        || (pair("not", "a") && parts.contains(&"secret"))
        || parts.first() == Some(&"your")
}

/// A match of a credential's shape that is a documented example (`AKIA…EXAMPLE`), a token
/// whose body is one character repeated (`ghp_xxxx…`), or a PEM block without a key's body.
fn is_shaped_placeholder(why: Why, token: &str) -> bool {
    if why == Why::PrivateKey {
        let body: usize = token
            .lines()
            .filter(|l| !l.contains("-----"))
            .map(|l| l.chars().filter(char::is_ascii_alphanumeric).count())
            .sum();
        return body < 64;
    }
    if token.ends_with("EXAMPLE") {
        return true;
    }
    let alnum: Vec<char> = token
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .map(|c| c.to_ascii_lowercase())
        .collect();
    let mut counts = std::collections::HashMap::new();
    for c in &alnum {
        *counts.entry(c).or_insert(0usize) += 1;
    }
    counts.values().any(|&n| n * 2 >= alnum.len())
}

/// A setting's value under a secret-named key rather than a secret: `PASS: "no"`,
/// `credentials: aws`, `token: off`.
fn is_setting_word(text: &str) -> bool {
    let lower = text.to_ascii_lowercase();
    matches!(lower.as_str(), "yes" | "no" | "on" | "off" | "y" | "n")
        || (text.len() <= 3 && text.chars().all(|c| c.is_ascii_lowercase()))
}

/// Base64 of a PEM certificate or public key (`caBundle`): long and random, and public.
fn is_public_material(text: &str) -> bool {
    // base64 of `-----BEGIN CERT` and of `-----BEGIN PUBLIC`.
    text.starts_with("LS0tLS1CRUdJTiBDRVJU") || text.starts_with("LS0tLS1CRUdJTiBQVUJMSUM")
}

/// `${VAR}`, `{{ .Values.x }}`, `$(cat file)`, `$VAR`: filled in by something else.
fn is_template(text: &str) -> bool {
    static VAR: LazyLock<Regex> =
        LazyLock::new(|| Regex::new(r"^\$[A-Za-z_][A-Za-z0-9_]*$").expect("valid"));
    text.contains("${") || text.contains("{{") || text.contains("$(") || VAR.is_match(text)
}

/// Text that names where a secret lives rather than the secret.
fn is_reference(text: &str) -> bool {
    static ENV_NAME: LazyLock<Regex> =
        LazyLock::new(|| Regex::new(r"^[A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+$").expect("valid"));
    static PATH: LazyLock<Regex> = LazyLock::new(|| {
        Regex::new(r"^(?:[./~]*/)?[A-Za-z0-9._-]+(?:/[A-Za-z0-9._-]+)+/?$").expect("valid")
    });
    const SCHEMES: &[&str] = &[
        "arn:",
        "ref+",
        "vault:",
        "awssm:",
        "secretsmanager:",
        "ssm:",
        "gcpsm:",
        "azkv:",
        "sops:",
        "op://",
        "k8s://",
        "file://",
    ];
    if matches!(text, "secretRef" | "configMapRef" | "secretKeyRef") {
        return true;
    }
    if SCHEMES.iter().any(|s| text.starts_with(s)) {
        return true;
    }
    // A variable name (`DB_PASSWORD`): the key of a secret, not its value.
    if ENV_NAME.is_match(text) {
        return true;
    }
    // A secret-store path (`jetscale-prod/database/console`) or an absolute file path. Base64
    // keys contain `/` too, but mix upper and lower case and look random as a whole.
    let lower_case = !text.chars().any(|c| c.is_ascii_uppercase());
    if PATH.is_match(text) && (lower_case || text.starts_with('/')) && !looks_random(text) {
        return true;
    }
    // `password`, `db-password`, `api_key`: the name of a key inside a secret.
    let words = words(text);
    const KEY_NAME_WORDS: &[&str] = &[
        "password", "passwd", "pass", "pwd", "token", "secret", "key", "api", "apikey", "private",
        "access", "client", "db", "database", "auth",
    ];
    !words.is_empty() && words.iter().all(|w| KEY_NAME_WORDS.contains(&w.as_str()))
}

/// A Kubernetes object name (`web-tls`, `wildcard`, `jetscale-registry-secret`): what
/// camelCase `…Secret` keys usually hold.
fn is_object_name(text: &str) -> bool {
    static NAME: LazyLock<Regex> = LazyLock::new(|| {
        Regex::new(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
            .expect("valid")
    });
    NAME.is_match(text) && !looks_random(text)
}

/// Keys whose values are long hex or mixed strings by nature: image tags, digests, versions
/// (last word), identifiers, checksums and public material (any word: `objectId`,
/// `RELEASE_ID`, `checksum/config`, `caBundle`, `integrity`, `VITE_RECAPTCHA_SITE_KEY`).
fn entropy_exempt_key(key: &str) -> bool {
    const ANY_WORD: &[&str] = &[
        "checksum",
        "id",
        "uuid",
        "digest",
        "etag",
        "integrity",
        "public",
        "ca",
        "cabundle",
        "cert",
        "certificate",
        "site",
    ];
    let words = key_words(key);
    if words.iter().any(|w| ANY_WORD.contains(&w.as_str())) {
        return true;
    }
    const EXEMPT: &[&str] = &[
        "tag",
        "digest",
        "sha",
        "version",
        "commit",
        "revision",
        "checksum",
        "hash",
        "fingerprint",
        "thumbprint",
        "image",
    ];
    words.last().is_some_and(|w| EXEMPT.contains(&w.as_str()))
}

/// Shannon entropy in bits per character.
pub fn entropy(text: &str) -> f64 {
    let mut counts = std::collections::HashMap::new();
    let mut total = 0usize;
    for c in text.chars() {
        *counts.entry(c).or_insert(0usize) += 1;
        total += 1;
    }
    if total == 0 {
        return 0.0;
    }
    counts
        .values()
        .map(|&n| {
            let p = n as f64 / total as f64;
            -p * p.log2()
        })
        .sum()
}

/// One token of base64 or hex that looks generated rather than written: long, from a key
/// alphabet, high in entropy, and (for base64) switching between upper case, lower case and
/// digits the way random text does and words (`ELBSecurityPolicy-TLS13-1-2-2021-06`) do not.
pub fn looks_random(text: &str) -> bool {
    let len = text.chars().count();
    if len < 20
        || !text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '/' | '=' | '_' | '-'))
    {
        return false;
    }
    let hex = text.chars().all(|c| c.is_ascii_hexdigit());
    if hex {
        return len >= 32
            && text.chars().any(|c| c.is_ascii_digit())
            && text.chars().any(|c| c.is_ascii_alphabetic())
            && entropy(text) >= 3.0;
    }
    let upper = text.chars().any(|c| c.is_ascii_uppercase());
    let lower = text.chars().any(|c| c.is_ascii_lowercase());
    let digit = text.chars().any(|c| c.is_ascii_digit());
    if !(upper && lower && digit) {
        return false;
    }
    let threshold = (0.85 * (len as f64).log2()).min(4.5);
    entropy(text) >= threshold && class_switch_ratio(text) >= 0.35
}

/// Among adjacent pairs of alphanumeric characters, the share that changes class (upper case,
/// lower case, digit). About 0.6 for random base64; low for words and identifiers.
fn class_switch_ratio(text: &str) -> f64 {
    fn class(c: char) -> Option<u8> {
        if c.is_ascii_uppercase() {
            Some(0)
        } else if c.is_ascii_lowercase() {
            Some(1)
        } else if c.is_ascii_digit() {
            Some(2)
        } else {
            None
        }
    }
    let chars: Vec<char> = text.chars().collect();
    let (mut pairs, mut switches) = (0usize, 0usize);
    for pair in chars.windows(2) {
        if let (Some(a), Some(b)) = (class(pair[0]), class(pair[1])) {
            pairs += 1;
            if a != b {
                switches += 1;
            }
        }
    }
    if pairs == 0 {
        0.0
    } else {
        switches as f64 / pairs as f64
    }
}

/// The secret as it may be shown: at most its first four characters (never more than a quarter
/// of it), then `…` and its length.
///
/// ```
/// use stackctl::rules::secrets::mask;
/// assert_eq!(mask("abcdefghijklmnopqrstuvwxyz"), "abcd… (26 chars)");
/// assert_eq!(mask("hunter22"), "hu… (8 chars)");
/// assert_eq!(mask("abc"), "… (3 chars)");
/// ```
pub fn mask(secret: &str) -> String {
    let len = secret.chars().count();
    let shown: String = secret.chars().take((len / 4).min(4)).collect();
    format!("{shown}… ({len} chars)")
}

/// `secrets/literal` over one values layer: every string that [`classify`] flags, at the line
/// of its key. Each literal found is registered for redaction, unless `suppressions` silence
/// its finding or it could be an ordinary word of the repository (see [`worth_redacting`]).
pub fn scan_layer(layer: &ParsedLayer, suppressions: &Suppressions) -> Vec<Diagnostic> {
    let mut hits = Vec::new();
    walk(layer.value(), String::new(), "", &mut hits);
    hits.into_iter()
        .map(|(pointer, hit)| {
            let d = diagnostic(layer, &pointer, &hit);
            let suppressed = d
                .line
                .is_some_and(|line| suppressions.covers("secrets/literal", line).is_some());
            if !suppressed && worth_redacting(&hit) {
                crate::redact::register(&hit.secret);
            }
            d
        })
        .collect()
}

/// A line of a values file as it may be shown under a finding: when it assigns a
/// secret-looking value (`password: hunter2-…`, by [`classify`]), the value is replaced by
/// `[REDACTED]`. Redaction knows the secrets of files that parsed; this covers the line a
/// syntax error quotes, in a file whose literals were never scanned.
pub fn redact_line(line: &str) -> std::borrow::Cow<'_, str> {
    static ASSIGNMENT: LazyLock<Regex> = LazyLock::new(|| {
        Regex::new(r#"^(?P<lead>\s*(?:-\s+)?(?:"(?P<dq>[^"]*)"|'(?P<sq>[^']*)'|(?P<plain>[^\s:#'"][^:#]*?))\s*:)\s+(?P<value>.*)$"#)
            .expect("a valid pattern")
    });
    let Some(captures) = ASSIGNMENT.captures(line) else {
        return line.into();
    };
    let key = ["dq", "sq", "plain"]
        .iter()
        .find_map(|name| captures.name(name))
        .map_or("", |m| m.as_str());
    let value = captures["value"].trim();
    let unquoted = ['"', '\'']
        .iter()
        .find_map(|&quote| {
            let inner = value.strip_prefix(quote)?;
            Some(inner.split(quote).next().unwrap_or(inner))
        })
        .unwrap_or(value);
    match classify(key, unquoted).or_else(|| classify(key, value)) {
        Some(_) => format!("{} [REDACTED]", &captures["lead"]).into(),
        None => line.into(),
    }
}

/// Whether a literal found may be replaced in all output: redaction is global, so a weak
/// "secret" that is also an ordinary word (`default`, `jetscale`) would mangle paths, release
/// names and rule keys. Its own finding masks it anyway. Credential shapes and random strings
/// always qualify; other values need 8 characters of at least two classes (lower case, upper
/// case, digits, symbols).
pub fn worth_redacting(hit: &Hit) -> bool {
    if !matches!(
        hit.why,
        Why::SecretNamedKey | Why::UrlCredentials | Why::ConnectionString
    ) || looks_random(&hit.secret)
    {
        return true;
    }
    let s = &hit.secret;
    let classes = [
        s.chars().any(|c| c.is_ascii_lowercase()),
        s.chars().any(|c| c.is_ascii_uppercase()),
        s.chars().any(|c| c.is_ascii_digit()),
        s.chars().any(|c| !c.is_ascii_alphanumeric()),
    ];
    s.chars().count() >= 8 && classes.iter().filter(|&&c| c).count() >= 2
}

fn walk(value: &Value, pointer: String, key: &str, out: &mut Vec<(String, Hit)>) {
    match value {
        Value::Object(map) => {
            // Kubernetes-style `{name: DB_PASSWORD, value: …}`: the name is the key.
            let named = match (map.get("name"), map.get("value")) {
                (Some(Value::String(name)), Some(Value::String(_) | Value::Number(_))) => {
                    Some(name.as_str())
                }
                _ => None,
            };
            // An External Secrets `data` entry: `secretKey` names the key the Secret gets,
            // `remoteRef` where its value lives; neither is the secret.
            let external_secret_entry = map.contains_key("remoteRef");
            for (child_key, child) in map {
                if external_secret_entry && child_key == "secretKey" {
                    continue;
                }
                let mut child_pointer = pointer.clone();
                push_key(&mut child_pointer, child_key);
                let effective = match named {
                    Some(name) if child_key == "value" => name,
                    _ => child_key.as_str(),
                };
                walk(child, child_pointer, effective, out);
            }
        }
        Value::Array(items) => {
            for (index, item) in items.iter().enumerate() {
                walk(item, format!("{pointer}/{index}"), key, out);
            }
        }
        Value::String(text) => {
            if let Some(hit) = classify(key, text) {
                out.push((pointer, hit));
            }
        }
        // `DB_PASSWORD: 84736251`: YAML reads a numeric password as a number.
        Value::Number(number) if secret_key_strength(key) == Some(Strength::Holds) => {
            if let Some(hit) = classify(key, &number.to_string()) {
                out.push((pointer, hit));
            }
        }
        _ => {}
    }
}

fn diagnostic(layer: &ParsedLayer, pointer: &str, hit: &Hit) -> Diagnostic {
    let shown = crate::values::dotted_path(pointer);
    let d = finding(
        "secrets/literal",
        format!(
            "{shown} holds {} in plain text: {}; this repository is public",
            hit.why.describe(),
            mask(&hit.secret)
        ),
    )
    .with_hint(
        "rotate it, then deliver it through External Secrets (an ExternalSecret reading the \
         secret store) or, for local work, the gitignored .env; if it is not a secret: \
         # stackctl:ignore secrets/literal <why>",
    )
    .with_path(pointer);
    match layer.span(pointer) {
        Some(span) => {
            let at = span.primary();
            // The caret goes under the value when it starts on the key's line.
            let column = if span.value.line == at.line {
                span.value.column
            } else {
                at.column
            };
            d.at(layer.file(), at.line, column)
        }
        None => d.in_file(layer.file()),
    }
}

/// What `.gitignore` must cover, as a path to test and the line that adds it.
const MUST_IGNORE: &[(&str, bool, &str)] = &[
    (".env", false, ".env"),
    ("envs/prod/console.secret.yaml", false, "*.secret.yaml"),
    ("app.secret.yaml", false, "*.secret.yaml"),
    // A file inside it, as `git check-ignore` tests it: `/.stackctl/*` and `.stackctl/**`
    // ignore every file in the directory but not the directory itself.
    (".stackctl/links.toml", false, "/.stackctl/"),
];

/// `secrets/gitignore`: the repository's `.gitignore` ignores `.env`, `*.secret.yaml` and
/// `.stackctl/`, as git itself would match them. One finding per missing line, at the end of
/// `.gitignore` (line 1 when there is none).
/// The `.gitignore` matchers of the directories above `root`, nearest first, up to the root
/// of the git checkout that holds it; none when `root` is the checkout's root or in none.
fn enclosing_gitignores(root: &Path) -> Vec<ignore::gitignore::Gitignore> {
    if root.join(".git").exists() {
        return Vec::new();
    }
    let Some(checkout) = root
        .ancestors()
        .skip(1)
        .find(|dir| dir.join(".git").exists())
    else {
        return Vec::new();
    };
    root.ancestors()
        .skip(1)
        .take_while(|dir| dir.starts_with(checkout))
        .filter_map(|dir| {
            let file = dir.join(".gitignore");
            crate::fsutil::read_text(&file).ok()?;
            let mut builder = ignore::gitignore::GitignoreBuilder::new(dir);
            builder.add(&file);
            builder.build().ok()
        })
        .collect()
}

pub fn check_gitignore(root: &Path) -> Vec<Diagnostic> {
    let path = root.join(".gitignore");
    // Checked read: a `.gitignore` that is a FIFO must not block the run.
    let text = crate::fsutil::read_text(&path).ok();
    let mut builder = ignore::gitignore::GitignoreBuilder::new(root);
    let mut broken = None;
    if text.is_some()
        && let Some(e) = builder.add(&path)
    {
        broken = Some(e.to_string());
    }
    let matcher = builder
        .build()
        .unwrap_or_else(|_| ignore::gitignore::Gitignore::empty());
    // A repository nested in a git checkout (a chart directory with its own stackctl.toml)
    // is also covered by the .gitignore files above it, up to the checkout's root.
    let above = enclosing_gitignores(root);
    let line = text
        .as_deref()
        .map(|t| t.lines().count().max(1))
        .unwrap_or(1);
    let mut missing: Vec<&str> = Vec::new();
    for (probe, is_dir, add) in MUST_IGNORE {
        let probe = root.join(probe);
        let ignored = std::iter::once(&matcher)
            .chain(above.iter())
            .map(|m| m.matched_path_or_any_parents(&probe, *is_dir))
            .find(|matched| !matched.is_none())
            .is_some_and(|matched| matched.is_ignore());
        if !ignored && !missing.contains(add) {
            missing.push(add);
        }
    }
    missing
        .into_iter()
        .map(|add| {
            let what = match add {
                ".env" => "`.env` (local secrets such as GITHUB_TOKEN)",
                "*.secret.yaml" => "`*.secret.yaml` (values files with secrets)",
                _ => "`.stackctl/` (per-developer dependency links)",
            };
            let state = match (&text, &broken) {
                (None, _) => "there is no .gitignore".to_string(),
                (Some(_), Some(e)) => format!(".gitignore cannot be read fully ({e})"),
                (Some(_), None) => ".gitignore does not ignore it".to_string(),
            };
            finding(
                "secrets/gitignore",
                format!("git would commit {what}: {state}"),
            )
            .with_hint(format!(
                "add the line `{add}` to .gitignore (and no later `!` line that re-includes it)"
            ))
            .at(".gitignore", line, 1)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_shown_line_that_assigns_a_secret_hides_its_value() {
        for (line, shown) in [
            (
                "    DB_PASSWORD: \"Zq8-sentinel-Pw-4471\" ]",
                "    DB_PASSWORD: [REDACTED]",
            ),
            (
                "    DB_PASSWORD: {value: \"Zq8-sentinel-Pw-4471\"",
                "    DB_PASSWORD: [REDACTED]",
            ),
            (
                "  - 'apiToken': ghp_0123456789abcdefghijABCDEFGHIJ012345",
                "  - 'apiToken': [REDACTED]",
            ),
            (
                "  url: postgres://app:Zq8sentinelPw4471@db:5432/app [",
                "  url: [REDACTED]",
            ),
            // Not secrets: shown as written.
            ("    other: [unclosed", "    other: [unclosed"),
            ("  password: \"\"", "  password: \"\""),
            (
                "  passwordSecret: db-credentials",
                "  passwordSecret: db-credentials",
            ),
            (
                "  image: ghcr.io/jetscale/backend:4.6.12",
                "  image: ghcr.io/jetscale/backend:4.6.12",
            ),
            ("no assignment here", "no assignment here"),
        ] {
            assert_eq!(redact_line(line), shown, "{line}");
        }
    }

    /// The pointers `walk` flags in a values document.
    fn flagged(values: serde_json::Value) -> Vec<String> {
        let mut hits = Vec::new();
        walk(&values, String::new(), "", &mut hits);
        hits.into_iter().map(|(pointer, _)| pointer).collect()
    }

    #[test]
    fn external_secret_key_names_are_not_secrets() {
        let values = serde_json::json!({
            "externalSecret": {
                "data": [
                    {"secretKey": "admin-password", "remoteRef": {"key": "prod/app", "property": "admin-password"}},
                    {"secretKey": "JWT_SECRET_KEY", "remoteRef": {"key": "prod/app", "property": "jwtSecretKey"}},
                    {"secretKey": "dbPassword7", "remoteRef": {"key": "prod/db"}}
                ]
            },
            // Outside an ExternalSecret entry, the same key still holds a secret.
            "storage": {"secretKey": "wJalrXUtnFEMI-K7MDENG-bPxRfiCY"}
        });
        assert_eq!(flagged(values), ["/storage/secretKey"]);
    }

    #[test]
    fn public_client_side_identifiers_are_not_secrets() {
        let values = serde_json::json!({
            "frontend": {"env": {
                "GTM_AUTH": "Xk3a9fQzL0aP1s2D3f4G5h",
                "GTM_PREVIEW": "env-5",
                "gtmAuth": "Xk3a9fQzL0aP1s2D3f4G5h",
                "RECAPTCHA_SITE_KEY": "6LcZk3QpAAAAAGx7RmZ0qWb4s9Vn1kQe2yTu8PzL",
                "STRIPE_PUBLISHABLE_KEY": "pk_live_51H8xKfLkq2mZT0aQ9rVb7cNpW3yS",
                "GA_MEASUREMENT_ID": "G-7XK2Q9LM4P",
                "OAUTH_CLIENT_ID": "0oa1b2c3d4e5F6g7H8i9J0kLmNoPqRsT"
            }},
            // A client secret stays one.
            "oauth": {"clientSecret": "Zq8sentinelPw4471Zq8sentinel"}
        });
        assert_eq!(flagged(values), ["/oauth/clientSecret"]);
    }

    #[test]
    fn key_words_split_like_people_write_them() {
        assert_eq!(
            words("JETSCALE_DB_PASSWORD"),
            ["jetscale", "db", "password"]
        );
        assert_eq!(words("apiKeyRef"), ["api", "key", "ref"]);
        assert_eq!(words("JWTSecret"), ["jwt", "secret"]);
        assert_eq!(words("db-secret"), ["db", "secret"]);
    }

    #[test]
    fn key_names_decide_how_strictly_values_are_read() {
        for key in [
            "password",
            "JETSCALE_DB_PASSWORD",
            "JETSCALE_JWT_SECRET_KEY",
            "apiKey",
            "AWS_SECRET_ACCESS_KEY",
            "githubToken",
            "privateKey",
        ] {
            assert_eq!(secret_key_strength(key), Some(Strength::Holds), "{key}");
        }
        for key in ["tlsSecret", "db-secret", "imagePullSecrets"] {
            assert_eq!(
                secret_key_strength(key),
                Some(Strength::MayNameASecret),
                "{key}"
            );
        }
        for key in [
            "existingSecret",
            "secretName",
            "secretPath",
            "awsSecretPrefix",
            "secretStoreName",
            "passwordKey",
            "secretKeyRef",
            "key",
            "publicKey",
            "tokenUrl",
            "accessKeyId",
        ] {
            assert_eq!(secret_key_strength(key), None, "{key}");
        }
    }

    #[test]
    fn words_and_identifiers_are_not_random() {
        for text in [
            "ELBSecurityPolicy-TLS13-1-2-2021-06",
            "6e3e7f72-af8e-457d-a397-8f13728dd06c",
            "dialogue-5624-staging-external-secrets-role",
            "jetscale-prod/database/console",
            "JetScaleRequestEncryptionEnabled2024",
        ] {
            assert!(!looks_random(text), "{text}");
        }
    }

    #[test]
    fn only_literals_that_cannot_be_ordinary_words_are_redacted_everywhere() {
        let hit = |why, secret: &str| Hit {
            why,
            secret: secret.to_string(),
        };
        for weak in ["jetscale", "default", "supersecretvalue", "Pw9x!"] {
            assert!(!worth_redacting(&hit(Why::SecretNamedKey, weak)), "{weak}");
        }
        assert!(!worth_redacting(&hit(Why::UrlCredentials, "jetscale")));
        for strong in ["Tr0ub4dor&3", "hunter2-Correct-Horse", "84736251a"] {
            assert!(
                worth_redacting(&hit(Why::SecretNamedKey, strong)),
                "{strong}"
            );
        }
        let token = ["gh", "p_"].concat() + "Ab3dE5gH7jK9mN1pQ3sT5vW7yZ9bC1eF3hJ5";
        assert!(worth_redacting(&hit(Why::GithubToken, &token)));
    }

    #[test]
    fn numbers_under_secret_named_keys_are_read() {
        let text = "db:\n  DB_PASSWORD: 84736251\n  port: 5432\n  passwordMinLength: 12\n";
        let layer = crate::values::parse_layer("envs/x.yaml", text).unwrap();
        let found = scan_layer(&layer, &Default::default());
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].line, Some(2));
        assert!(
            !found[0].message.contains("84736251"),
            "{}",
            found[0].message
        );
    }

    #[test]
    fn masks_show_little_and_never_all() {
        assert_eq!(mask("ghp_0123456789abcdefghij"), "ghp_… (24 chars)");
        assert_eq!(mask("pass"), "p… (4 chars)");
        assert!(!mask("s3cr3tvalue").contains("s3cr3tvalue"));
    }

    #[test]
    fn findings_sit_at_the_key_line_with_a_masked_message() {
        let token = format!("ghp_{}", "Ab3dE5gH7jK9mN1pQ3sT5vW7yZ9bC1eF3hJ5");
        let text = format!("backend-api:\n  env:\n    GITHUB_TOKEN: {token}\n    MODE: fast\n");
        let layer = crate::values::parse_layer("envs/x.yaml", &text).unwrap();
        let found = scan_layer(&layer, &Default::default());
        assert_eq!(found.len(), 1);
        let d = &found[0];
        assert_eq!(d.rule, "secrets/literal");
        assert_eq!(
            (d.file.as_deref(), d.line, d.column),
            (Some("envs/x.yaml"), Some(3), Some(19))
        );
        assert!(d.message.contains("a GitHub token"), "{}", d.message);
        assert!(d.message.contains("ghp_… (40 chars)"), "{}", d.message);
        assert!(!d.message.contains(&token));
    }

    #[test]
    fn a_private_key_block_is_found_at_its_key() {
        let body = "MIIEowIBAAKCAQEAx7Yq9Lr3vT2nW8pK5mJ1hF6dS4aZ0cX9bV7nM3qR2tY8uI1o";
        let text = format!(
            "tls:\n  key: |\n    -----BEGIN RSA PRIVATE KEY-----\n    {body}\n    -----END RSA PRIVATE KEY-----\n"
        );
        let layer = crate::values::parse_layer("envs/x.yaml", &text).unwrap();
        let found = scan_layer(&layer, &Default::default());
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].line, Some(2));
        assert!(found[0].message.contains("PEM private key"));
        assert!(!found[0].message.contains(body));
    }

    #[test]
    fn list_env_entries_use_their_name_as_the_key() {
        let text = "env:\n  - name: DB_PASSWORD\n    value: Tr0ub4dor3\n  - name: MODE\n    value: Tr0ub4dor3\n";
        let layer = crate::values::parse_layer("envs/x.yaml", text).unwrap();
        let found = scan_layer(&layer, &Default::default());
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].line, Some(3));
    }

    #[test]
    fn this_repositorys_values_have_no_secret() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let mut files = Vec::new();
        for dir in ["envs", "charts"] {
            for entry in walkdir::WalkDir::new(root.join(dir)).into_iter().flatten() {
                let name = entry.file_name().to_string_lossy();
                let relative = entry.path().strip_prefix(root).unwrap();
                let values = name.starts_with("values") || dir == "envs";
                if entry.file_type().is_file()
                    && name.ends_with(".yaml")
                    && values
                    && !relative.components().any(|c| c.as_os_str() == "templates")
                {
                    files.push(relative.to_string_lossy().replace('\\', "/"));
                }
            }
        }
        assert!(files.len() >= 18, "{files:?}");
        for file in files {
            let layer = crate::values::Layer::read(root, &file)
                .unwrap()
                .parse()
                .unwrap();
            let found = scan_layer(&layer, &Default::default());
            assert!(found.is_empty(), "{file}: {found:?}");
        }
    }

    /// Deterministic pseudo-random text over `alphabet`: fake secrets with a real secret's shape,
    /// built at run time so no token-shaped literal sits in the source.
    struct Fake(u64);

    impl Fake {
        fn text(&mut self, alphabet: &str, len: usize) -> String {
            let chars: Vec<char> = alphabet.chars().collect();
            (0..len)
                .map(|_| {
                    // xorshift64*
                    self.0 ^= self.0 >> 12;
                    self.0 ^= self.0 << 25;
                    self.0 ^= self.0 >> 27;
                    let n = self.0.wrapping_mul(0x2545_F491_4F6C_DD1D);
                    chars[(n >> 33) as usize % chars.len()]
                })
                .collect()
        }
    }

    const ALNUM: &str = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    const BASE64: &str = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    const BASE32: &str = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    const HEX: &str = "0123456789abcdef";

    /// The corpus: (key, value, expected). `Some(why)` must be caught for that reason; `None`
    /// must pass.
    fn corpus() -> Vec<(&'static str, String, Option<Why>)> {
        let mut f = Fake(0x5EC2_E75E_C2E7_5EC2);
        let pem = |kind: &str, f: &mut Fake| {
            let body: Vec<String> = (0..6).map(|_| f.text(BASE64, 64)).collect();
            format!(
                "-----BEGIN {kind}PRIVATE KEY-----\n{}\n-----END {kind}PRIVATE KEY-----\n",
                body.join("\n")
            )
        };
        let pem_with = |kind: &str, start: &str, f: &mut Fake| {
            let body: Vec<String> = (0..6).map(|_| f.text(BASE64, 64)).collect();
            format!(
                "-----BEGIN {kind}PRIVATE KEY-----\n{start}{}\n-----END {kind}PRIVATE KEY-----\n",
                body.join("\n")
            )
        };
        let jwt = |f: &mut Fake| {
            let alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
            format!(
                "eyJ{}.eyJ{}.{}",
                f.text(alphabet, 30),
                f.text(alphabet, 60),
                f.text(alphabet, 43)
            )
        };
        use Why::*;
        vec![
            // Must be caught.
            ("accessKeyId", ["AK", "IA"].concat() + &f.text(BASE32, 16), Some(AwsAccessKeyId)),
            ("AWS_ACCESS_KEY_ID", ["AS", "IA"].concat() + &f.text(BASE32, 16), Some(AwsAccessKeyId)),
            ("aws_secret_access_key", f.text(BASE64, 40), Some(SecretNamedKey)),
            ("password", f.text(BASE64, 40), Some(SecretNamedKey)),
            // Shaped like AWS's documented secret key: slashes, but not a path.
            (
                "AWS_SECRET_ACCESS_KEY",
                ["wJa1rXUtnF", "AKE/K7MDENG/bPxRfiCYf", "ake0KEY00"].concat(),
                Some(SecretNamedKey),
            ),
            ("GITHUB_TOKEN", ["gh", "p_"].concat() + &f.text(ALNUM, 36), Some(GithubToken)),
            ("oauth", ["gh", "o_"].concat() + &f.text(ALNUM, 36), Some(GithubToken)),
            ("value", ["gh", "s_"].concat() + &f.text(ALNUM, 36), Some(GithubToken)),
            (
                "pat",
                format!("github_{}{}_{}", "pat_", f.text(ALNUM, 22), f.text(ALNUM, 59)),
                Some(GithubToken),
            ),
            ("key", pem("RSA ", &mut f), Some(PrivateKey)),
            ("sshKey", pem("OPENSSH ", &mut f), Some(PrivateKey)),
            ("tlsKey", pem("", &mut f), Some(PrivateKey)),
            ("slack", format!("{}b-{}-{}", "xox", f.text("0123456789", 12), f.text(ALNUM, 24)), Some(SlackToken)),
            (
                "webhookUrl",
                format!(
                    "https://hooks.slack.com/services/T{}/B{}/{}",
                    f.text(BASE32, 8),
                    f.text(BASE32, 10),
                    f.text(ALNUM, 24)
                ),
                Some(SlackToken),
            ),
            ("billing", ["sk", "_live_"].concat() + &f.text(ALNUM, 24), Some(StripeKey)),
            ("maps", ["AI", "za"].concat() + &f.text(ALNUM, 35), Some(GoogleApiKey)),
            ("registry", ["gl", "pat-"].concat() + &f.text(ALNUM, 20), Some(GitlabToken)),
            ("NPM_CONFIG", ["np", "m_"].concat() + &f.text(ALNUM, 36), Some(NpmToken)),
            ("authorization", format!("Bearer {}", jwt(&mut f)), Some(Jwt)),
            ("JETSCALE_DB_PASSWORD", "hunter2-Correct-Horse".into(), Some(SecretNamedKey)),
            ("password", "Tr0ub4dor&3".into(), Some(SecretNamedKey)),
            ("JWT_SECRET", "supersecretvalue".into(), Some(SecretNamedKey)),
            ("apiKey", "k3y-9f8a7b6c".into(), Some(SecretNamedKey)),
            ("data", f.text(BASE64, 40), Some(HighEntropy)),
            ("signature", f.text(HEX, 64), Some(HighEntropy)),
            (
                "DATABASE_URL",
                format!("postgresql://app:{}@db:5432/app", f.text(ALNUM, 16)),
                Some(UrlCredentials),
            ),
            // Placeholder words inside a credential's shape or a word are chance, not intent.
            ("GITHUB_TOKEN", ["gh", "p_Tbd"].concat() + &f.text(ALNUM, 33), Some(GithubToken)),
            ("key", pem_with("RSA ", "MIIEtodoTBDxxxx", &mut f), Some(PrivateKey)),
            ("password", "xTodo7-Quartz!".into(), Some(SecretNamedKey)),
            // Credentials inside URLs without a user, and connection strings.
            ("REDIS_URL", format!("redis://:{}@cache:6379/0", f.text(ALNUM, 16)), Some(UrlCredentials)),
            (
                "DB_CONNECTION",
                format!("Server=db;Database=app;User Id=app;Password={};", f.text(ALNUM, 16)),
                Some(ConnectionString),
            ),
            (
                "PG_DSN",
                format!("host=db user=app password={} dbname=app", f.text(ALNUM, 16)),
                Some(ConnectionString),
            ),
            // Version suffixes after the secret word; env-style `…_SECRET` keys hold secrets.
            ("DB_PASSWORD_2", "Tr0ub4dor&3x".into(), Some(SecretNamedKey)),
            ("API_KEY_V2", "k3y-9f8a7b6c".into(), Some(SecretNamedKey)),
            ("password1", "hunter2-Correct".into(), Some(SecretNamedKey)),
            ("JWT_SECRET", "jetscale-prod-jwt-signing-2024".into(), Some(SecretNamedKey)),
            ("SESSION_SECRET", "correct-horse-battery-staple".into(), Some(SecretNamedKey)),
            // Must pass.
            ("objectId", f.text(HEX, 32), None),
            ("buildId", f.text(HEX, 40), None),
            ("etag", f.text(HEX, 40), None),
            ("RELEASE_ID", f.text(HEX, 40), None),
            ("sha256", f.text(HEX, 64), None),
            ("imageDigestSha256", f.text(HEX, 64), None),
            ("checksum/config", f.text(HEX, 64), None),
            ("caBundle", format!("LS0tLS1CRUdJTiBDRVJU{}", f.text(BASE64, 200)), None),
            ("bundle", format!("LS0tLS1CRUdJTiBDRVJU{}", f.text(BASE64, 200)), None),
            ("sshPublicKey", f.text(BASE64, 68), None),
            ("keycloakRealmPublicKey", f.text(BASE64, 300), None),
            ("integrity", format!("sha512-{}==", f.text(BASE64, 86)), None),
            ("VITE_RECAPTCHA_SITE_KEY", format!("6Lc{}", f.text(ALNUM, 37)), None),
            ("VITE_POSTHOG_KEY", format!("phc_{}", f.text(ALNUM, 43)), None),
            ("VITE_FIREBASE_API_KEY", ["AI", "za"].concat() + &f.text(ALNUM, 35), None),
            ("tlsSecret", "wildcard".into(), None),
            ("credentials", "aws".into(), None),
            ("PASS", "no".into(), None),
            ("password", "TBD".into(), None),
            ("token", "your-token-here".into(), None),
            ("GITHUB_TOKEN", ["gh", "p_"].concat() + &"x".repeat(36), None),
            ("registry", "https://registry.npmjs.org:443/@scope/pkg".into(), None),
            ("password", "change-me-local-only".into(), None),
            ("JETSCALE_JWT_SECRET_KEY", "change-me-ci-only-jwt-key".into(), None),
            ("password", "changeme".into(), None),
            ("password", String::new(), None),
            ("password", "${DB_PASSWORD}".into(), None),
            ("token", "{{ .Values.global.token }}".into(), None),
            ("password", "REPLACE_ME".into(), None),
            ("token", "<token>".into(), None),
            ("db-secret", "secretRef".into(), None),
            ("existingSecret", "jetscale-db-secret".into(), None),
            ("tlsSecret", "wildcard-jetscale-tls".into(), None),
            ("secretName", "jetscale-tls".into(), None),
            ("secretKey", "DB_PASSWORD".into(), None),
            ("passwordKey", "password".into(), None),
            ("key", "jetscale-prod/database/console".into(), None),
            ("awsSecretPrefix", "jetscale-prod".into(), None),
            (
                "alb.ingress.kubernetes.io/certificate-arn",
                "arn:aws:acm:us-east-1:134051052096:certificate/6e3e7f72-af8e-457d-a397-8f13728dd06c".into(),
                None,
            ),
            (
                "eks.amazonaws.com/role-arn",
                "arn:aws:iam::134051052096:role/jetscale-prod-external-secrets-role".into(),
                None,
            ),
            ("uid", "6e3e7f72-af8e-457d-a397-8f13728dd06c".into(), None),
            ("host", "console.jetscale.ai".into(), None),
            ("tag", "4.6.12".into(), None),
            ("tag", f.text(HEX, 40), None),
            ("enabled", "true".into(), None),
            ("alb.ingress.kubernetes.io/ssl-policy", "ELBSecurityPolicy-TLS13-1-2-2021-06".into(), None),
            ("name", "dialogue-5624-staging-external-secrets-role".into(), None),
            ("name", "{{ .Release.Name }}-external-secrets".into(), None),
            ("repository", "081373342681.dkr.ecr.us-east-1.amazonaws.com/jetscale-staging-backend".into(), None),
            (
                "JETSCALE_DATABASE_URL",
                "postgresql+asyncpg://jetscale:change-me-local-only@jetscale-local-postgres:5432/jetscale".into(),
                None,
            ),
            ("accessKeyId", ["AKIA", "IOSFODNN7", "EXAMPLE"].concat(), None),
            ("token", "/var/run/secrets/eks.amazonaws.com/serviceaccount/token".into(), None),
        ]
    }

    #[test]
    fn the_corpus_is_caught_and_passed_as_expected() {
        let corpus = corpus();
        let caught = corpus.iter().filter(|c| c.2.is_some()).count();
        let passed = corpus.len() - caught;
        assert!(caught >= 18 && passed >= 15, "{caught} / {passed}");
        let mut wrong = Vec::new();
        for (key, value, expected) in &corpus {
            // Through YAML, the way values files reach the rule (a JSON string is a YAML one).
            let text = format!("{key}: {}\n", serde_json::to_string(value).unwrap());
            let layer = crate::values::parse_layer("envs/corpus.yaml", &text).unwrap();
            let found = scan_layer(&layer, &Default::default());
            let got = classify(key, value).map(|h| h.why);
            let ok = match expected {
                Some(_) => {
                    got == *expected
                        && found.len() == 1
                        && found[0].line == Some(1)
                        && !found[0].message.contains(value.trim())
                }
                None => got.is_none() && found.is_empty(),
            };
            if !ok {
                wrong.push(format!(
                    "{key}: {} (expected {expected:?}, got {got:?})",
                    mask(value)
                ));
            }
        }
        assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    }

    fn gitignore_findings(text: Option<&str>) -> Vec<Diagnostic> {
        let dir = tempfile::tempdir().unwrap();
        if let Some(text) = text {
            std::fs::write(dir.path().join(".gitignore"), text).unwrap();
        }
        check_gitignore(dir.path())
    }

    #[test]
    fn this_repositorys_gitignore_passes() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        assert_eq!(check_gitignore(root), Vec::new());
    }

    #[test]
    fn gitignore_lines_are_matched_like_git_matches_them() {
        assert!(gitignore_findings(Some(".env\n*.secret.yaml\n.stackctl/\n")).is_empty());
        assert!(gitignore_findings(Some(".env*\n**/*.secret.yaml\n/.stackctl\n")).is_empty());
        assert!(gitignore_findings(Some(".env\n*.secret.yaml\n/.stackctl/*\n")).is_empty());
        assert!(gitignore_findings(Some(".env\n*.secret.yaml\n.stackctl/**\n")).is_empty());

        let found = gitignore_findings(Some("/target/\n*.secret.yaml\n.stackctl/\n"));
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(
            (found[0].file.as_deref(), found[0].line),
            (Some(".gitignore"), Some(3))
        );
        assert!(found[0].hint.as_deref().unwrap().contains("`.env`"));

        // A later negation re-includes the file: git would commit it.
        let found = gitignore_findings(Some(".env\n*.secret.yaml\n.stackctl/\n!.env\n"));
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].line, Some(4));

        // Only in envs/: a secret values file at the root is still committed.
        let found = gitignore_findings(Some(".env\nenvs/**/*.secret.yaml\n.stackctl/\n"));
        assert_eq!(found.len(), 1, "{found:?}");
        assert!(
            found[0]
                .hint
                .as_deref()
                .unwrap()
                .contains("`*.secret.yaml`")
        );

        let found = gitignore_findings(None);
        assert_eq!(found.len(), 3, "{found:?}");
        assert!(found.iter().all(|d| d.line == Some(1)));
    }
}
