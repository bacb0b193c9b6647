//! Values layers: YAML with positions, Helm's merge, and where every merged value came from.
//!
//! A target's values are a chain of layers: the chart's `values.yaml` (the defaults), then the
//! files given to helm with `-f`, in order. This module reads each layer once, keeping the line
//! and column of every key and value ([`parse_layer`]), merges a chain the way Helm does
//! ([`merge_chain`], [`merge_chain_with`]), narrows the umbrella's values to what one
//! dependency sees ([`scope_subchart`]), and answers "which file and line set this?"
//! ([`Provenance::locate`], [`Provenance::origin`], [`Provenance::history`]). For a chart
//! without a schema, [`known`] says which paths its values may have.
//!
//! Pointers are JSON pointers (RFC 6901) into the merged values: `/backend-api/image/tag`,
//! `/ingress/annotations/alb.ingress.kubernetes.io~1scheme` (a `/` in a key is written `~1`,
//! a `~` is written `~0`; see [`escape_key`] and [`pointer`]).
//!
//! ```
//! use stackctl::values::{merge_chain, parse_layer};
//!
//! let defaults = parse_layer("charts/jetscale/values.yaml", "replicas: 1\nimage:\n  tag: dev\n")?;
//! let aws = parse_layer("envs/aws.yaml", "image:\n  tag: \"4.6.12\"\n")?;
//! let merged = merge_chain(&defaults, &[aws]);
//!
//! assert_eq!(merged.value["image"]["tag"], "4.6.12");
//! let origin = merged.provenance.locate("/image/tag").unwrap();
//! assert_eq!((origin.file.as_str(), origin.line), ("envs/aws.yaml", 2));
//! let origin = merged.provenance.locate("/replicas").unwrap();
//! assert_eq!((origin.file.as_str(), origin.line), ("charts/jetscale/values.yaml", 1));
//! # Ok::<(), stackctl::values::YamlError>(())
//! ```
//!
//! What Helm does, and so what this module does (checked against helm 3.17.2 and 4.3.1):
//!
//! - Scalars follow YAML 1.1 as Helm's YAML library reads them: `yes`, `no`, `on`, `off`, `y`,
//!   `n` are booleans, `0755` is the octal number 493, dates stay strings. Keys that are not
//!   strings (`1:`, `on:`) become strings (`"1"`, `"true"`), and a map, list or null key is
//!   an error.
//! - Between `-f` files, maps merge key by key; lists and scalars replace; a `null` replaces.
//! - Onto the chart's defaults, a `null` deletes the key when the defaults have that key; a
//!   `null` for a key the defaults lack stays in the values as `null`. Inside a dependency's
//!   block, a `null` survives the umbrella's merge and deletes the dependency's own default
//!   (see [`scope_subchart`]).
//! - A map set over a non-map default, or a non-map over a map default, wins; Helm warns
//!   about it ("coalesce" warnings), and [`Merged::type_changes`] lists every such place.
//! - An empty map `{}` over a non-empty map clears nothing; [`Merged::empty_map_overrides`]
//!   lists every such place (the `envFrom: {}` mistake).

pub mod known;
mod layer;
mod merge;
pub mod schema;
pub mod suppressions;

use std::fmt;

pub use layer::{
    EMPTY_LAYER_HINT, Layer, LayerFinding, LayerFindingKind, ParsedLayer, parse_layer,
};
pub use merge::{
    EmptyMapOverride, History, LayerValue, MergeOptions, Merged, Provenance, TypeChange, ValueKind,
    merge_chain, merge_chain_with, scope_subchart,
};
pub use suppressions::{Suppression, SuppressionProblem, Suppressions, scan_suppressions};

use crate::findings::Diagnostic;

/// A position in a file: 1-based line and 1-based column (in characters).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Span {
    pub line: usize,
    pub column: usize,
}

impl Span {
    pub fn new(line: usize, column: usize) -> Self {
        Span { line, column }
    }
}

impl fmt::Display for Span {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.line, self.column)
    }
}

/// Where one node of a layer is written.
///
/// `key` is the position of the key when the node is a map entry: the line a user edits to
/// change it. `value` is where the value itself starts (for a block map, its first key).
/// List items and the document root have no key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct NodeSpan {
    pub key: Option<Span>,
    pub value: Span,
}

impl NodeSpan {
    /// The position to show a user: the key when there is one, else the value.
    pub fn primary(&self) -> Span {
        self.key.unwrap_or(self.value)
    }
}

/// The file and position that set a value, as [`Provenance`] reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    /// Position of the file in the chain: 0 is the first (the chart's defaults).
    pub layer: usize,
    /// The file, as given to [`parse_layer`] (relative to the repository root).
    pub file: String,
    /// The node's [`NodeSpan::primary`] position.
    pub line: usize,
    pub column: usize,
    /// The pointer of the node inside that file (differs from the merged pointer for
    /// dependency values, e.g. `/image/tag` in the subchart is `/backend-api/image/tag` in an
    /// env file).
    pub pointer: String,
    /// False when the asked pointer does not exist there and this is its nearest ancestor.
    pub exact: bool,
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.file, self.line, self.column)
    }
}

/// A values file that cannot be read as YAML, or not as Helm values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct YamlError {
    pub file: String,
    pub line: usize,
    pub column: usize,
    pub message: String,
    /// The file nests deeper than [`crate::nesting::MAX_DEPTH`]: stackctl refuses to read it
    /// at all (an input error of the run, exit 2), where a syntax error is a finding of the
    /// targets that use the file.
    pub too_deep: bool,
}

impl YamlError {
    pub(crate) fn new(file: &str, at: Span, message: impl Into<String>) -> Self {
        YamlError {
            file: file.to_string(),
            line: at.line,
            column: at.column,
            message: message.into(),
            too_deep: false,
        }
    }

    /// The file nests deeper than [`crate::nesting::MAX_DEPTH`] at `at`; `how` says through
    /// what when it is not plain nesting (an alias, merge keys).
    pub(crate) fn too_deep(file: &str, at: Span, how: &str) -> Self {
        YamlError {
            too_deep: true,
            ..YamlError::new(
                file,
                at,
                format!("{}{how}", crate::nesting::too_deep_message()),
            )
        }
    }

    /// The error as a finding (rule `values/yaml`), for reports that go on with other targets.
    pub fn to_diagnostic(&self) -> Diagnostic {
        let d = Diagnostic::error("values/syntax", &self.message).at(
            &self.file,
            self.line,
            self.column,
        );
        match self.too_deep {
            true => d.with_hint(crate::nesting::TOO_DEEP_HINT),
            false => d,
        }
    }
}

impl fmt::Display for YamlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}:{}: {}",
            self.file, self.line, self.column, self.message
        )
    }
}

impl std::error::Error for YamlError {}

impl From<YamlError> for crate::Error {
    fn from(err: YamlError) -> Self {
        let error = crate::Error::config(err.message.clone()).at(err.file.clone(), Some(err.line));
        match err.too_deep {
            true => error.with_hint(crate::nesting::TOO_DEEP_HINT),
            false => error,
        }
    }
}

/// Escape one map key for use in a JSON pointer: `~` becomes `~0`, `/` becomes `~1`.
///
/// ```
/// assert_eq!(stackctl::values::escape_key("alb.ingress.kubernetes.io/scheme"),
///            "alb.ingress.kubernetes.io~1scheme");
/// ```
pub fn escape_key(key: &str) -> std::borrow::Cow<'_, str> {
    if key.contains(['~', '/']) {
        key.replace('~', "~0").replace('/', "~1").into()
    } else {
        key.into()
    }
}

/// Build a JSON pointer from keys (list indexes as their decimal text).
///
/// ```
/// assert_eq!(stackctl::values::pointer(["ingress", "hosts", "a/b"]), "/ingress/hosts/a~1b");
/// assert_eq!(stackctl::values::pointer::<[&str; 0], &str>([]), "");
/// ```
pub fn pointer<I, S>(keys: I) -> String
where
    I: IntoIterator<Item = S>,
    S: AsRef<str>,
{
    let mut out = String::new();
    for key in keys {
        push_key(&mut out, key.as_ref());
    }
    out
}

/// Append one escaped key to a pointer.
pub(crate) fn push_key(pointer: &mut String, key: &str) {
    pointer.push('/');
    pointer.push_str(&escape_key(key));
}

/// The pointer of the parent node, or `None` for the root (`""`).
pub(crate) fn parent_pointer(pointer: &str) -> Option<&str> {
    pointer.rfind('/').map(|at| &pointer[..at])
}

/// Whether `pointer` is `base` or below it.
pub(crate) fn is_at_or_under(pointer: &str, base: &str) -> bool {
    pointer == base
        || (pointer.len() > base.len()
            && pointer.starts_with(base)
            && pointer.as_bytes()[base.len()] == b'/')
}

/// The keys of a JSON pointer, unescaped (RFC 6901): `/a/b~1c` gives `a`, `b/c`.
pub fn pointer_keys(pointer: &str) -> impl Iterator<Item = String> + '_ {
    pointer
        .split('/')
        .skip(1)
        .map(|token| token.replace("~1", "/").replace("~0", "~"))
}

/// `/a/b~1c/0` as `a.b/c[0]`, the way people write values paths.
pub fn dotted_path(pointer: &str) -> String {
    let mut out = String::new();
    for key in pointer_keys(pointer) {
        if key.chars().all(|c| c.is_ascii_digit()) && !key.is_empty() && !out.is_empty() {
            out.push_str(&format!("[{key}]"));
        } else {
            if !out.is_empty() {
                out.push('.');
            }
            out.push_str(&key);
        }
    }
    if out.is_empty() {
        "(root)".to_string()
    } else {
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pointer_helpers() {
        assert_eq!(escape_key("a~b/c"), "a~0b~1c");
        assert_eq!(pointer(["a", "0", "b"]), "/a/0/b");
        assert_eq!(parent_pointer("/a/b"), Some("/a"));
        assert_eq!(parent_pointer("/a"), Some(""));
        assert_eq!(parent_pointer(""), None);
        assert!(is_at_or_under("/a/b", "/a"));
        assert!(is_at_or_under("/a", "/a"));
        assert!(is_at_or_under("/a", ""));
        assert!(!is_at_or_under("/ab", "/a"));
    }

    #[test]
    fn pointers_read_as_dotted_values_paths() {
        assert_eq!(
            dotted_path("/backend-api/cronJobs/pull-ce/suspend"),
            "backend-api.cronJobs.pull-ce.suspend"
        );
        assert_eq!(
            dotted_path("/ingress/annotations/alb.ingress.kubernetes.io~1scheme"),
            "ingress.annotations.alb.ingress.kubernetes.io/scheme"
        );
        assert_eq!(dotted_path("/ingress/tls/0/hosts"), "ingress.tls[0].hosts");
        assert_eq!(dotted_path(""), "(root)");
    }
}
