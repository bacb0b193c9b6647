//! Reading one values layer: YAML text to JSON values, with the position of every node.
//!
//! The text goes through saphyr's parser, whose events carry exact positions. Scalars are
//! then read the way Helm reads them (its YAML library follows YAML 1.1: `yes` is a boolean,
//! `0755` an octal number) rather than by YAML 1.2 rules, so the values stackctl checks are
//! the values helm renders.

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::Arc;

use indexmap::IndexMap;
use saphyr_parser::{Event, Marker, Parser, ScalarStyle, SpannedEventReceiver, Tag};
use serde_json::{Map, Number, Value};

use super::{NodeSpan, Span, YamlError, push_key};
use crate::findings::{Diagnostic, Severity};
use crate::nesting::{MAX_DEPTH, is_scanner_recursion_limit};

/// Alias expansion can make a tiny file produce a huge tree ("billion laughs"); no real values
/// file comes near this many nodes.
const MAX_NODES: usize = 1_000_000;

/// How to fix an empty layer.
pub const EMPTY_LAYER_HINT: &str =
    "write the values this layer is for, `{}` if it is meant to set nothing, or delete it";

/// A values file to read: its path relative to the repository root and its text.
///
/// ```
/// let layer = stackctl::values::Layer::new("envs/aws.yaml", "ingress:\n  enabled: true\n");
/// let parsed = layer.parse()?;
/// assert_eq!(parsed.value()["ingress"]["enabled"], true);
/// # Ok::<(), stackctl::values::YamlError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layer {
    pub file: String,
    pub text: String,
}

impl Layer {
    pub fn new(file: impl Into<String>, text: impl Into<String>) -> Self {
        Layer {
            file: file.into(),
            text: text.into(),
        }
    }

    /// Read `relative` under `root`; the layer's name is `relative` with `/` separators.
    pub fn read(root: &std::path::Path, relative: &str) -> crate::Result<Self> {
        let path = root.join(relative);
        let text = crate::fsutil::read_text(&path).map_err(|problem| problem.into_error(&path))?;
        Ok(Layer::new(relative.replace('\\', "/"), text))
    }

    pub fn parse(&self) -> Result<ParsedLayer, YamlError> {
        parse_layer(&self.file, &self.text)
    }
}

/// One values file read once: its values as JSON, where each node is written, and the
/// problems Helm would silently accept.
///
/// Cloning is cheap (the data is shared), so one parsed `envs/aws.yaml` can serve every
/// target that uses it.
#[derive(Debug, Clone)]
pub struct ParsedLayer {
    inner: Arc<LayerData>,
}

#[derive(Debug)]
struct LayerData {
    file: String,
    value: Value,
    spans: HashMap<String, NodeSpan>,
    findings: Vec<LayerFinding>,
}

impl ParsedLayer {
    /// The file's path as given to [`parse_layer`].
    pub fn file(&self) -> &str {
        &self.inner.file
    }

    /// The file's values: always a JSON object (an empty file gives `{}`).
    pub fn value(&self) -> &Value {
        &self.inner.value
    }

    /// The value at a JSON pointer, if the file sets it.
    pub fn get(&self, pointer: &str) -> Option<&Value> {
        self.inner.value.pointer(pointer)
    }

    /// Where the node at `pointer` is written (`""` is the document).
    pub fn span(&self, pointer: &str) -> Option<NodeSpan> {
        self.inner.spans.get(pointer).copied()
    }

    /// Things Helm accepts without a word but that are almost surely mistakes: duplicate keys,
    /// a second YAML document, keys that are not strings.
    pub fn findings(&self) -> &[LayerFinding] {
        &self.inner.findings
    }

    /// Number of nodes with a recorded position.
    pub fn node_count(&self) -> usize {
        self.inner.spans.len()
    }

    pub(crate) fn same_as(&self, other: &ParsedLayer) -> bool {
        Arc::ptr_eq(&self.inner, &other.inner)
    }
}

/// Something in a layer that Helm reads without complaint but that hides a mistake.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LayerFinding {
    pub kind: LayerFindingKind,
    pub file: String,
    /// The line to fix: the second occurrence of a duplicate key, the start of the extra
    /// document, the coerced key.
    pub span: Span,
    /// The node the finding is about (for a duplicate: the key's pointer).
    pub pointer: String,
    pub message: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LayerFindingKind {
    /// The same key twice in one map. Helm keeps the last one; the first is dead text.
    DuplicateKey { key: String, first: Span },
    /// A second YAML document (`---`). Helm 3 applies only the first; Helm 4 merges every
    /// document over the ones before it.
    ExtraDocument,
    /// A key written as a number or boolean, which Helm turns into a string (`on:` is the key
    /// `"true"`).
    CoercedKey { written: String, becomes: String },
    /// No YAML document at all (an empty file, or comments only): the layer sets nothing.
    Empty,
}

impl LayerFinding {
    /// Stable rule ID for reports.
    pub fn rule(&self) -> &'static str {
        match self.kind {
            LayerFindingKind::DuplicateKey { .. } => "values/duplicate-key",
            LayerFindingKind::ExtraDocument => "values/extra-document",
            LayerFindingKind::CoercedKey { .. } => "values/coerced-key",
            LayerFindingKind::Empty => "values/empty-layer",
        }
    }

    pub fn severity(&self) -> Severity {
        match self.kind {
            LayerFindingKind::CoercedKey { .. } | LayerFindingKind::Empty => Severity::Warning,
            _ => Severity::Error,
        }
    }

    pub fn to_diagnostic(&self) -> Diagnostic {
        let hint = match &self.kind {
            LayerFindingKind::DuplicateKey { first, .. } => format!(
                "helm keeps only this one; delete the entry at line {} or this one",
                first.line
            ),
            LayerFindingKind::ExtraDocument => {
                "keep one document: move what follows the `---` into the first, or into a file of its own".to_string()
            }
            LayerFindingKind::CoercedKey { written, .. } => {
                format!("quote the key (\"{written}\") if a string was meant")
            }
            LayerFindingKind::Empty => EMPTY_LAYER_HINT.to_string(),
        };
        let mut d = Diagnostic::new(self.rule(), self.severity(), &self.message)
            .at(&self.file, self.span.line, self.span.column)
            .with_hint(hint);
        if !self.pointer.is_empty() {
            d = d.with_path(&self.pointer);
        }
        d
    }
}

/// Read one values file: `file` names it in positions and errors, `text` is its content.
///
/// An empty file (or one with only comments, or a lone `~`) is an empty map. A file whose top
/// is not a map, a syntax error, a map or null key, or a `.inf`/`.nan` value (JSON cannot hold
/// them; helm fails on them too) is a [`YamlError`]. So is a file that nests deeper than
/// [`MAX_DEPTH`] levels of maps and lists, counted as written and again after aliases and
/// merge keys are expanded ([`YamlError::too_deep`]): every later walk over the values is
/// then bounded.
///
/// ```
/// let layer = stackctl::values::parse_layer("envs/prod/console.yaml", "backend-api:\n  replicaCount: 3\n")?;
/// assert_eq!(layer.value()["backend-api"]["replicaCount"], 3);
/// let span = layer.span("/backend-api/replicaCount").unwrap();
/// assert_eq!(span.key.unwrap().line, 2);
/// assert_eq!(span.value.column, 17);
/// # Ok::<(), stackctl::values::YamlError>(())
/// ```
pub fn parse_layer(file: &str, text: &str) -> Result<ParsedLayer, YamlError> {
    let mut builder = Builder::default();
    let mut parser = Parser::new_from_str(text);
    // Events one at a time: saphyr's own `Parser::load` recurses once per level of nesting.
    let scanned = loop {
        match parser.next_event() {
            None => break Ok(()),
            Some(Err(e)) => break Err(e),
            Some(Ok((event, span))) => {
                let end = matches!(event, Event::StreamEnd);
                builder.on_event(event, span);
                if end || builder.too_deep.is_some() || builder.error.is_some() {
                    break Ok(());
                }
            }
        }
    };
    if let Some(at) = builder.too_deep {
        return Err(YamlError::too_deep(file, at, ""));
    }
    if let Some(err) = builder.error.take() {
        return Err(YamlError::new(file, err.0, err.1));
    }
    if let Err(err) = scanned {
        let at = within_text(span_of(*err.marker()), text);
        if is_scanner_recursion_limit(err.info()) {
            return Err(YamlError::too_deep(file, at, ""));
        }
        return Err(YamlError::new(file, at, syntax_message(err.info())));
    }
    let mut conv = Converter {
        file,
        anchors: &builder.anchors,
        spans: HashMap::new(),
        findings: Vec::new(),
        nodes: 0,
    };
    if let Some(at) = builder.extra_document {
        conv.findings.push(LayerFinding {
            kind: LayerFindingKind::ExtraDocument,
            file: file.to_string(),
            span: at,
            pointer: String::new(),
            message: "a second YAML document in a values file: helm 3 applies only the first, helm 4 merges each document over the ones before it (and stackctl reads the first), so the result depends on the helm".to_string(),
        });
    }
    let value = match &builder.root {
        None => {
            conv.findings.push(LayerFinding {
                kind: LayerFindingKind::Empty,
                file: file.to_string(),
                span: Span::new(1, 1),
                pointer: String::new(),
                message: "the layer is empty: it sets no values".to_string(),
            });
            conv.spans.insert(
                String::new(),
                NodeSpan {
                    key: None,
                    value: Span::new(1, 1),
                },
            );
            Value::Object(Map::new())
        }
        Some(root) => {
            let root_node = conv.deref(root)?;
            match root_node {
                Node::Map { .. } => conv.convert(root, &mut String::new(), None, (1, None))?,
                Node::Scalar { .. } if matches!(conv.scalar(root_node)?, Value::Null) => {
                    conv.spans.insert(
                        String::new(),
                        NodeSpan {
                            key: None,
                            value: root_node.at(),
                        },
                    );
                    Value::Object(Map::new())
                }
                other => {
                    let what = if matches!(other, Node::Seq { .. }) {
                        "a list"
                    } else {
                        "a single value"
                    };
                    return Err(YamlError::new(
                        file,
                        other.at(),
                        format!(
                            "a values file must be a map of keys at the top level, but this one is {what}"
                        ),
                    ));
                }
            }
        }
    };
    conv.findings.sort_by_key(|f| f.span);
    Ok(ParsedLayer {
        inner: Arc::new(LayerData {
            file: file.to_string(),
            value,
            spans: conv.spans,
            findings: conv.findings,
        }),
    })
}

fn span_of(mark: Marker) -> Span {
    Span::new(mark.line().max(1), mark.col() + 1)
}

/// An error found at the end of the input (an unclosed `[` or quote) is reported by the
/// parser on the line after the last one; point at the end of the last line instead, so the
/// report can show the line that left something open.
fn within_text(span: Span, text: &str) -> Span {
    let lines = text.lines().count().max(1);
    if span.line <= lines {
        return span;
    }
    let last = text.lines().last().unwrap_or("");
    Span::new(lines, last.chars().count() + 1)
}

fn syntax_message(info: &str) -> String {
    let info = info.trim();
    // "while parsing a block mapping, did not find expected key" reads better as
    // "did not find expected key (in a block mapping)".
    let rest = info
        .strip_prefix("while parsing ")
        .or_else(|| info.strip_prefix("while scanning "));
    let info = match rest.and_then(|rest| rest.split_once(", ")) {
        Some(("node", problem)) => problem.to_string(),
        Some((context, problem)) => format!("{problem} (in {context})"),
        None => info.to_string(),
    };
    format!("invalid YAML: {info}")
}

/// The YAML tree as the parser gave it, before scalars are interpreted.
#[derive(Debug, Clone)]
enum Node<'i> {
    Scalar {
        text: Cow<'i, str>,
        style: ScalarStyle,
        tag: Option<Cow<'i, Tag>>,
        at: Span,
    },
    Seq {
        items: Vec<Node<'i>>,
        at: Span,
    },
    Map {
        entries: Vec<(Node<'i>, Node<'i>)>,
        at: Span,
    },
    Alias {
        id: usize,
        at: Span,
    },
}

impl Node<'_> {
    fn at(&self) -> Span {
        match self {
            Node::Scalar { at, .. }
            | Node::Seq { at, .. }
            | Node::Map { at, .. }
            | Node::Alias { at, .. } => *at,
        }
    }
}

struct Frame<'i> {
    node: Node<'i>,
    anchor: usize,
    key: Option<Node<'i>>,
}

/// Receives the parser's events and builds the first document's [`Node`] tree.
#[derive(Default)]
struct Builder<'i> {
    stack: Vec<Frame<'i>>,
    anchors: HashMap<usize, Node<'i>>,
    root: Option<Node<'i>>,
    documents: usize,
    /// Where a second document with content starts.
    extra_document: Option<Span>,
    pending_document: Option<Span>,
    error: Option<(Span, String)>,
    /// Where the first document opens a collection deeper than [`MAX_DEPTH`].
    too_deep: Option<Span>,
}

impl<'i> SpannedEventReceiver<'i> for Builder<'i> {
    fn on_event(&mut self, ev: Event<'i>, span: saphyr_parser::Span) {
        if self.error.is_some() || self.too_deep.is_some() {
            return;
        }
        let at = span_of(span.start);
        if self.documents > 1 {
            // Later documents are ignored, as helm ignores them; note the first with content.
            let content = match &ev {
                Event::Scalar(text, style, _, tag) => {
                    !(text.is_empty() && *style == ScalarStyle::Plain && tag.is_none())
                }
                Event::SequenceStart(..) | Event::MappingStart(..) | Event::Alias(_) => true,
                _ => false,
            };
            if content && self.extra_document.is_none() {
                self.extra_document = self.pending_document;
            }
            if !matches!(ev, Event::DocumentStart(_)) {
                return;
            }
        }
        match ev {
            Event::DocumentStart(_) => {
                self.documents += 1;
                if self.documents == 2 {
                    self.pending_document = Some(at);
                }
            }
            Event::Scalar(text, style, anchor, tag) => self.push(
                Node::Scalar {
                    text,
                    style,
                    tag,
                    at,
                },
                anchor,
            ),
            Event::SequenceStart(..) | Event::MappingStart(..) if self.stack.len() >= MAX_DEPTH => {
                self.too_deep = Some(at);
            }
            Event::SequenceStart(anchor, _) => self.stack.push(Frame {
                node: Node::Seq {
                    items: Vec::new(),
                    at,
                },
                anchor,
                key: None,
            }),
            Event::MappingStart(anchor, _) => self.stack.push(Frame {
                node: Node::Map {
                    entries: Vec::new(),
                    at,
                },
                anchor,
                key: None,
            }),
            Event::SequenceEnd | Event::MappingEnd => {
                if let Some(frame) = self.stack.pop() {
                    self.push(frame.node, frame.anchor);
                }
            }
            Event::Alias(id) => {
                if self.anchors.contains_key(&id) {
                    self.push(Node::Alias { id, at }, 0);
                } else {
                    self.error = Some((
                        at,
                        "this alias refers to an anchor that is not defined before it (or to the node that contains it)".to_string(),
                    ));
                }
            }
            Event::StreamStart | Event::StreamEnd | Event::DocumentEnd | Event::Nothing => {}
        }
    }
}

impl<'i> Builder<'i> {
    fn push(&mut self, node: Node<'i>, anchor: usize) {
        if anchor > 0 {
            self.anchors.insert(anchor, node.clone());
        }
        match self.stack.last_mut() {
            None => {
                if self.root.is_none() {
                    self.root = Some(node);
                }
            }
            Some(frame) => match &mut frame.node {
                Node::Seq { items, .. } => items.push(node),
                Node::Map { entries, .. } => match frame.key.take() {
                    Some(key) => entries.push((key, node)),
                    None => frame.key = Some(node),
                },
                _ => unreachable!("only collections are pushed on the stack"),
            },
        }
    }
}

/// Turns the [`Node`] tree into JSON values and the span index.
struct Converter<'t, 'i> {
    file: &'t str,
    anchors: &'t HashMap<usize, Node<'i>>,
    spans: HashMap<String, NodeSpan>,
    findings: Vec<LayerFinding>,
    /// Nodes converted and map entries read so far, aliases and merge keys expanded.
    nodes: usize,
}

/// A map entry after merge keys are applied: the key's text and position, and its value.
struct Entry<'t, 'i> {
    key_span: Span,
    value: &'t Node<'i>,
}

impl<'t, 'i> Converter<'t, 'i> {
    fn error(&self, at: Span, message: impl Into<String>) -> YamlError {
        YamlError::new(self.file, at, message)
    }

    /// Follow aliases to the node they stand for.
    fn deref(&self, mut node: &'t Node<'i>) -> Result<&'t Node<'i>, YamlError> {
        while let Node::Alias { id, at } = node {
            node = self
                .anchors
                .get(id)
                .ok_or_else(|| self.error(*at, "alias to an unknown anchor"))?;
        }
        Ok(node)
    }

    /// Count one more node or entry against [`MAX_NODES`].
    fn count_node(&mut self, at: Span) -> Result<(), YamlError> {
        self.nodes += 1;
        if self.nodes > MAX_NODES {
            return Err(self.error(
                at,
                format!("this file expands to more than {MAX_NODES} values (anchors and aliases that multiply?)"),
            ));
        }
        Ok(())
    }

    /// `depth` is the node's level (the document's map is 1) and the first alias on the way
    /// to it: expanding aliases can nest a tree deeper than it is written, and the alias is
    /// the line to fix.
    fn convert(
        &mut self,
        node: &'t Node<'i>,
        pointer: &mut String,
        key: Option<Span>,
        (depth, via_alias): (usize, Option<Span>),
    ) -> Result<Value, YamlError> {
        self.count_node(node.at())?;
        let via_alias = via_alias.or(match node {
            Node::Alias { at, .. } => Some(*at),
            _ => None,
        });
        self.spans.insert(
            pointer.clone(),
            NodeSpan {
                key,
                value: node.at(),
            },
        );
        let target = self.deref(node)?;
        if depth > MAX_DEPTH && !matches!(target, Node::Scalar { .. }) {
            return Err(match via_alias {
                Some(at) => YamlError::too_deep(self.file, at, " once this alias is expanded"),
                None => YamlError::too_deep(self.file, node.at(), ""),
            });
        }
        let below = (depth + 1, via_alias);
        match target {
            Node::Scalar { .. } => self.scalar(target),
            Node::Seq { items, .. } => {
                let mut out = Vec::with_capacity(items.len());
                for (i, item) in items.iter().enumerate() {
                    let len = pointer.len();
                    pointer.push('/');
                    pointer.push_str(&i.to_string());
                    out.push(self.convert(item, pointer, None, below)?);
                    pointer.truncate(len);
                }
                Ok(Value::Array(out))
            }
            Node::Map { entries, .. } => {
                let flat = self.entries(entries, pointer, 0)?;
                let mut out = Map::with_capacity(flat.len());
                for (key, entry) in flat {
                    let len = pointer.len();
                    push_key(pointer, &key);
                    let value = self.convert(entry.value, pointer, Some(entry.key_span), below)?;
                    pointer.truncate(len);
                    out.insert(key, value);
                }
                Ok(Value::Object(out))
            }
            Node::Alias { .. } => unreachable!("deref follows aliases"),
        }
    }

    /// A map's entries with `<<` merge keys applied as Helm's YAML library applies them: the
    /// merged map's keys are set where the `<<` stands, so keys written before it are
    /// overwritten and keys after it win; in a list of maps, earlier maps win. `merges` is
    /// how many merge keys led here: a chain of them recurses as deep as it is long.
    fn entries(
        &mut self,
        entries: &'t [(Node<'i>, Node<'i>)],
        pointer: &str,
        merges: usize,
    ) -> Result<IndexMap<String, Entry<'t, 'i>>, YamlError> {
        let mut out: IndexMap<String, Entry<'t, 'i>> = IndexMap::with_capacity(entries.len());
        let mut written: HashMap<String, Span> = HashMap::new();
        for (key, value) in entries {
            // Merge keys can read one map many times: each entry read counts.
            self.count_node(key.at())?;
            if is_merge_key(key) {
                if merges >= MAX_DEPTH {
                    return Err(YamlError::too_deep(
                        self.file,
                        key.at(),
                        " through merge keys (`<<`) that merge maps with merge keys",
                    ));
                }
                self.merge_into(&mut out, value, pointer, merges + 1)?;
                continue;
            }
            let (name, key_span) = self.key(key, pointer)?;
            if let Some(first) = written.insert(name.clone(), key_span) {
                let mut at = pointer.to_string();
                push_key(&mut at, &name);
                self.findings.push(LayerFinding {
                    kind: LayerFindingKind::DuplicateKey {
                        key: name.clone(),
                        first,
                    },
                    file: self.file.to_string(),
                    span: key_span,
                    pointer: at,
                    message: format!(
                        "duplicate key `{name}` (first at line {}): helm silently keeps only the last one",
                        first.line
                    ),
                });
            }
            out.insert(name, Entry { key_span, value });
        }
        Ok(out)
    }

    fn merge_into(
        &mut self,
        out: &mut IndexMap<String, Entry<'t, 'i>>,
        value: &'t Node<'i>,
        pointer: &str,
        merges: usize,
    ) -> Result<(), YamlError> {
        let wrong = |conv: &Self, at: Span| {
            conv.error(
                at,
                "a merge key `<<` takes a map or a list of maps (usually an alias like `*defaults`)",
            )
        };
        match self.deref(value)? {
            Node::Map { entries, .. } => {
                for (key, entry) in self.entries(entries, pointer, merges)? {
                    out.insert(key, entry);
                }
            }
            Node::Seq { items, .. } => {
                for item in items.iter().rev() {
                    match self.deref(item)? {
                        Node::Map { entries, .. } => {
                            for (key, entry) in self.entries(entries, pointer, merges)? {
                                out.insert(key, entry);
                            }
                        }
                        other => return Err(wrong(self, other.at())),
                    }
                }
            }
            other => return Err(wrong(self, other.at())),
        }
        Ok(())
    }

    /// A map key as Helm sees it: strings as written; numbers and booleans turned into
    /// strings; null, map and list keys rejected (helm fails on them too).
    fn key(&mut self, key: &'t Node<'i>, pointer: &str) -> Result<(String, Span), YamlError> {
        let at = key.at();
        let node = self.deref(key)?;
        let Node::Scalar { text, .. } = node else {
            return Err(self.error(
                at,
                "a map or list used as a key: helm accepts only string, number and boolean keys",
            ));
        };
        let value = self.scalar(node)?;
        let name = match &value {
            Value::String(s) => return Ok((s.clone(), at)),
            Value::Null => {
                return Err(self.error(
                    at,
                    "a null key (`~`, `null` or nothing before the colon): helm rejects it",
                ));
            }
            Value::Bool(b) => b.to_string(),
            Value::Number(n) => match (n.as_i64(), n.as_u64(), n.as_f64()) {
                (Some(i), _, _) => i.to_string(),
                (None, Some(_), _) => {
                    return Err(self.error(at, "a key too large for helm (it rejects it)"));
                }
                (_, _, Some(f)) => go_format_float32(f),
                _ => unreachable!("a JSON number is an i64, a u64 or an f64"),
            },
            _ => unreachable!("scalars convert to scalars"),
        };
        if name != text.as_ref() {
            let mut at_pointer = pointer.to_string();
            push_key(&mut at_pointer, &name);
            self.findings.push(LayerFinding {
                kind: LayerFindingKind::CoercedKey {
                    written: text.to_string(),
                    becomes: name.clone(),
                },
                file: self.file.to_string(),
                span: at,
                pointer: at_pointer,
                message: format!("helm reads the key `{text}` as `{name}`"),
            });
        }
        Ok((name, at))
    }

    /// A scalar's value as Helm reads it.
    fn scalar(&self, node: &Node<'i>) -> Result<Value, YamlError> {
        let Node::Scalar {
            text,
            style,
            tag,
            at,
        } = node
        else {
            unreachable!("scalar() is called on scalars")
        };
        let resolved = match tag.as_deref() {
            Some(tag) if tag.is_yaml_core_schema() => {
                let resolved = resolve_plain(text);
                let ok = match (tag.suffix.as_str(), &resolved) {
                    ("str" | "binary", _) => return Ok(Value::String(text.to_string())),
                    ("int", Resolved::Int(_) | Resolved::UInt(_)) => true,
                    ("float", Resolved::Int(i)) => {
                        return self.float(*i as f64, text, *at);
                    }
                    ("float", Resolved::UInt(u)) => {
                        return self.float(*u as f64, text, *at);
                    }
                    ("float", Resolved::Float(_)) => true,
                    ("bool", Resolved::Bool(_)) => true,
                    ("null", Resolved::Null) => true,
                    ("int" | "float" | "bool" | "null", _) => false,
                    _ => true,
                };
                if !ok {
                    return Err(
                        self.error(*at, format!("`{text}` cannot be read as !!{}", tag.suffix))
                    );
                }
                resolved
            }
            Some(_) => Resolved::Str,
            None if *style == ScalarStyle::Plain => resolve_plain(text),
            None => Resolved::Str,
        };
        Ok(match resolved {
            Resolved::Null => Value::Null,
            Resolved::Bool(b) => Value::Bool(b),
            Resolved::Int(i) => Value::Number(i.into()),
            Resolved::UInt(u) => Value::Number(u.into()),
            Resolved::Float(f) => return self.float(f, text, *at),
            Resolved::Str => Value::String(text.to_string()),
        })
    }

    fn float(&self, f: f64, text: &str, at: Span) -> Result<Value, YamlError> {
        Number::from_f64(f).map(Value::Number).ok_or_else(|| {
            self.error(
                at,
                format!("`{text}` is not a finite number: JSON cannot hold it, and helm fails on it; quote it if a string was meant"),
            )
        })
    }
}

fn is_merge_key(node: &Node<'_>) -> bool {
    match node {
        Node::Scalar {
            text, style, tag, ..
        } => {
            text == "<<"
                && ((*style == ScalarStyle::Plain && tag.is_none())
                    || tag
                        .as_deref()
                        .is_some_and(|t| t.is_yaml_core_schema() && t.suffix == "merge"))
        }
        _ => false,
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Resolved {
    Null,
    Bool(bool),
    Int(i64),
    UInt(u64),
    Float(f64),
    Str,
}

/// Resolve a plain (unquoted) scalar the way Helm's YAML library (go-yaml v2) does.
fn resolve_plain(text: &str) -> Resolved {
    match text {
        "y" | "Y" | "yes" | "Yes" | "YES" | "true" | "True" | "TRUE" | "on" | "On" | "ON" => {
            return Resolved::Bool(true);
        }
        "n" | "N" | "no" | "No" | "NO" | "false" | "False" | "FALSE" | "off" | "Off" | "OFF" => {
            return Resolved::Bool(false);
        }
        "" | "~" | "null" | "Null" | "NULL" => return Resolved::Null,
        ".nan" | ".NaN" | ".NAN" => return Resolved::Float(f64::NAN),
        ".inf" | ".Inf" | ".INF" | "+.inf" | "+.Inf" | "+.INF" => {
            return Resolved::Float(f64::INFINITY);
        }
        "-.inf" | "-.Inf" | "-.INF" => return Resolved::Float(f64::NEG_INFINITY),
        _ => {}
    }
    match text.as_bytes()[0] {
        b'.' => match go_parse_float(text) {
            Some(f) => Resolved::Float(f),
            None => Resolved::Str,
        },
        b'0'..=b'9' | b'+' | b'-' => {
            let plain = text.replace('_', "");
            if let Some(i) = go_parse_int(&plain) {
                return Resolved::Int(i);
            }
            if let Some(u) = go_parse_uint(&plain) {
                return Resolved::UInt(u);
            }
            if is_yaml_style_float(&plain)
                && let Some(f) = go_parse_float(&plain)
            {
                return Resolved::Float(f);
            }
            Resolved::Str
        }
        _ => Resolved::Str,
    }
}

/// Go's `strconv.ParseUint(s, 0, 64)`: `0x`, `0o`, `0b` prefixes, a leading `0` means octal.
fn go_parse_uint(s: &str) -> Option<u64> {
    let (digits, radix) = if let Some(rest) = s.strip_prefix("0x").or(s.strip_prefix("0X")) {
        (rest, 16)
    } else if let Some(rest) = s.strip_prefix("0o").or(s.strip_prefix("0O")) {
        (rest, 8)
    } else if let Some(rest) = s.strip_prefix("0b").or(s.strip_prefix("0B")) {
        (rest, 2)
    } else if s.len() > 1 && s.starts_with('0') {
        (&s[1..], 8)
    } else {
        (s, 10)
    };
    if digits.is_empty() || !digits.chars().all(|c| c.is_digit(radix)) {
        return None;
    }
    u64::from_str_radix(digits, radix).ok()
}

/// Go's `strconv.ParseInt(s, 0, 64)`.
fn go_parse_int(s: &str) -> Option<i64> {
    let (negative, rest) = match s.as_bytes().first()? {
        b'-' => (true, &s[1..]),
        b'+' => (false, &s[1..]),
        _ => (false, s),
    };
    let magnitude = go_parse_uint(rest)?;
    if negative {
        if magnitude <= i64::MAX as u64 + 1 {
            Some((magnitude as i64).wrapping_neg())
        } else {
            None
        }
    } else {
        i64::try_from(magnitude).ok()
    }
}

/// Decimal floats as Go's `strconv.ParseFloat` reads them (the forms YAML 1.1 allows).
fn go_parse_float(s: &str) -> Option<f64> {
    let body = s.strip_prefix(['+', '-']).unwrap_or(s);
    if body.is_empty() || !body.starts_with(|c: char| c.is_ascii_digit() || c == '.') {
        return None;
    }
    if body
        .chars()
        .any(|c| c.is_ascii_alphabetic() && c != 'e' && c != 'E')
    {
        return None;
    }
    s.parse::<f64>().ok()
}

/// `^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$`, go-yaml v2's float pattern.
fn is_yaml_style_float(s: &str) -> bool {
    let b = s.as_bytes();
    let mut i = 0;
    let digits = |i: &mut usize| {
        let start = *i;
        while *i < b.len() && b[*i].is_ascii_digit() {
            *i += 1;
        }
        *i - start
    };
    if i < b.len() && (b[i] == b'+' || b[i] == b'-') {
        i += 1;
    }
    if i < b.len() && b[i] == b'.' {
        i += 1;
        if digits(&mut i) == 0 {
            return false;
        }
    } else {
        if digits(&mut i) == 0 {
            return false;
        }
        if i < b.len() && b[i] == b'.' {
            i += 1;
            digits(&mut i);
        }
    }
    if i < b.len() && (b[i] == b'e' || b[i] == b'E') {
        i += 1;
        if i < b.len() && (b[i] == b'+' || b[i] == b'-') {
            i += 1;
        }
        if digits(&mut i) == 0 {
            return false;
        }
    }
    i == b.len()
}

/// Go's `strconv.FormatFloat(f, 'g', -1, 32)`, which turns float keys into strings.
fn go_format_float32(f: f64) -> String {
    let f = f as f32;
    if f.is_nan() {
        return ".nan".to_string();
    }
    if f.is_infinite() {
        return if f > 0.0 { ".inf" } else { "-.inf" }.to_string();
    }
    if f == 0.0 {
        return if f.is_sign_negative() { "-0" } else { "0" }.to_string();
    }
    // Shortest digits that round-trip as f32, in scientific form: "1.5e-5".
    let sci = format!("{f:e}");
    let (mantissa, exp) = sci.split_once('e').expect("{:e} has an exponent");
    let exp: i32 = exp.parse().expect("{:e} exponent is an integer");
    if !(-4..6).contains(&exp) {
        let sign = if exp < 0 { '-' } else { '+' };
        return format!("{mantissa}e{sign}{:02}", exp.abs());
    }
    let negative = mantissa.starts_with('-');
    let digits: String = mantissa.chars().filter(|c| c.is_ascii_digit()).collect();
    let mut out = String::new();
    if negative {
        out.push('-');
    }
    if exp < 0 {
        out.push_str("0.");
        out.extend(std::iter::repeat_n('0', (-exp - 1) as usize));
        out.push_str(&digits);
    } else {
        let point = exp as usize + 1;
        if digits.len() <= point {
            out.push_str(&digits);
            out.extend(std::iter::repeat_n('0', point - digits.len()));
        } else {
            out.push_str(&digits[..point]);
            out.push('.');
            out.push_str(&digits[point..]);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parse(text: &str) -> ParsedLayer {
        parse_layer("test.yaml", text).unwrap()
    }

    fn key_line(layer: &ParsedLayer, pointer: &str) -> usize {
        layer
            .span(pointer)
            .unwrap_or_else(|| panic!("no span for {pointer}"))
            .primary()
            .line
    }

    #[test]
    fn empty_file_is_an_empty_map() {
        for text in ["", "# only a comment\n", "~\n", "---\n"] {
            let layer = parse(text);
            assert_eq!(layer.value(), &json!({}), "{text:?}");
            assert!(layer.span("").is_some());
        }
    }

    #[test]
    fn top_level_must_be_a_map() {
        let err = parse_layer("envs/x.yaml", "\n- a\n- b\n").unwrap_err();
        assert_eq!((err.line, err.column), (2, 1));
        assert!(err.message.contains("a list"), "{}", err.message);
        let err = parse_layer("envs/x.yaml", "just text\n").unwrap_err();
        assert!(err.message.contains("single value"), "{}", err.message);
    }

    #[test]
    fn spans_of_nested_maps() {
        let layer = parse("a:\n  b:\n    c: 1\n  d: two\ne: 3\n");
        assert_eq!(
            layer.value(),
            &json!({"a": {"b": {"c": 1}, "d": "two"}, "e": 3})
        );
        assert_eq!(key_line(&layer, "/a"), 1);
        assert_eq!(key_line(&layer, "/a/b"), 2);
        assert_eq!(key_line(&layer, "/a/b/c"), 3);
        assert_eq!(key_line(&layer, "/a/d"), 4);
        assert_eq!(key_line(&layer, "/e"), 5);
        let c = layer.span("/a/b/c").unwrap();
        assert_eq!(c.key, Some(Span::new(3, 5)));
        assert_eq!(c.value, Span::new(3, 8));
        let d = layer.span("/a/d").unwrap();
        assert_eq!(d.value, Span::new(4, 6));
    }

    #[test]
    fn spans_of_list_items() {
        let layer = parse("a:\n  - b: 1\n    c: 2\n  - b: 3\n  - plain\n");
        assert_eq!(layer.value()["a"][1]["b"], 3);
        assert_eq!(key_line(&layer, "/a/0/b"), 2);
        assert_eq!(key_line(&layer, "/a/0/c"), 3);
        assert_eq!(key_line(&layer, "/a/1/b"), 4);
        assert_eq!(key_line(&layer, "/a/2"), 5);
        let item = layer.span("/a/1").unwrap();
        assert_eq!(item.key, None);
        assert_eq!(item.value.line, 4);
        assert_eq!(layer.span("/a/2").unwrap().value, Span::new(5, 5));
    }

    #[test]
    fn keys_with_slash_and_tilde_are_escaped() {
        let layer =
            parse("annotations:\n  alb.ingress.kubernetes.io/scheme: internet-facing\n  a~b: 1\n");
        assert_eq!(
            key_line(&layer, "/annotations/alb.ingress.kubernetes.io~1scheme"),
            2
        );
        assert_eq!(key_line(&layer, "/annotations/a~0b"), 3);
        assert_eq!(
            layer.get("/annotations/alb.ingress.kubernetes.io~1scheme"),
            Some(&json!("internet-facing"))
        );
    }

    #[test]
    fn anchors_and_aliases_are_resolved() {
        let text = "\
base: &res
  cpu: 100m
  memory: 128Mi
api:
  resources: *res
ws:
  resources:
    <<: *res
    cpu: 200m
";
        let layer = parse(text);
        assert_eq!(
            layer.value()["api"]["resources"],
            json!({"cpu": "100m", "memory": "128Mi"})
        );
        assert_eq!(
            layer.value()["ws"]["resources"],
            json!({"cpu": "200m", "memory": "128Mi"})
        );
        // The alias itself is where it is used; what it expands to is where the anchor is.
        assert_eq!(key_line(&layer, "/api/resources"), 5);
        assert_eq!(layer.span("/api/resources").unwrap().value.line, 5);
        assert_eq!(key_line(&layer, "/api/resources/memory"), 3);
        assert_eq!(key_line(&layer, "/ws/resources/cpu"), 9);
        assert_eq!(key_line(&layer, "/ws/resources/memory"), 3);
    }

    #[test]
    fn merge_keys_follow_helm() {
        // Helm's YAML library applies `<<` where it stands: keys before it are overwritten.
        let text = "\
b: &b {p: 1, q: 2}
before: {q: 9, <<: *b}
after: {<<: *b, q: 9}
list: {<<: [{p: 5}, {p: 6, r: 7}]}
";
        let layer = parse(text);
        assert_eq!(layer.value()["before"], json!({"q": 2, "p": 1}));
        assert_eq!(layer.value()["after"], json!({"p": 1, "q": 9}));
        assert_eq!(layer.value()["list"], json!({"p": 5, "r": 7}));
        let err = parse_layer("t.yaml", "a:\n  <<: 5\n").unwrap_err();
        assert_eq!(err.line, 2);
    }

    #[test]
    fn scalars_read_as_helm_reads_them() {
        let text = "\
yes_: yes
on_: On
n_: n
quoted: \"yes\"
oct: 0755
bad_oct: 08
hex: 0x1F
neg_hex: -0x1f
under: 1_000
plus: +12
float: 1.5
exp: 1e3
dot: .5
date: 2024-01-01
time: 12:30
null_: ~
empty:
str_tag: !!str 123
int_tag: !!int \"5\"
big: 9223372036854775808
huge: 123456789012345678901234
version: 4.6.12
block: |
  line
";
        let v = parse(text).value().clone();
        assert_eq!(v["yes_"], true);
        assert_eq!(v["on_"], true);
        assert_eq!(v["n_"], false);
        assert_eq!(v["quoted"], "yes");
        assert_eq!(v["oct"], 493);
        assert_eq!(v["bad_oct"], 8.0);
        assert_eq!(v["hex"], 31);
        assert_eq!(v["neg_hex"], -31);
        assert_eq!(v["under"], 1000);
        assert_eq!(v["plus"], 12);
        assert_eq!(v["float"], 1.5);
        assert_eq!(v["exp"], 1000.0);
        assert_eq!(v["dot"], 0.5);
        assert_eq!(v["date"], "2024-01-01");
        assert_eq!(v["time"], "12:30");
        assert_eq!(v["null_"], Value::Null);
        assert_eq!(v["empty"], Value::Null);
        assert_eq!(v["str_tag"], "123");
        assert_eq!(v["int_tag"], 5);
        assert_eq!(v["big"], 9223372036854775808u64);
        assert_eq!(v["huge"], 1.2345678901234569e23);
        assert_eq!(v["version"], "4.6.12");
        assert_eq!(v["block"], "line\n");
        assert!(v["oct"].is_i64() && v["float"].is_f64());
    }

    #[test]
    fn infinite_numbers_are_errors() {
        let err = parse_layer("t.yaml", "a:\n  b: .inf\n").unwrap_err();
        assert_eq!((err.line, err.column), (2, 6));
    }

    #[test]
    fn syntax_error_has_a_position() {
        let err = parse_layer("envs/bad.yaml", "a:\n  b: 1\n c: 2\n").unwrap_err();
        assert_eq!(err.file, "envs/bad.yaml");
        assert_eq!(err.line, 3);
        assert!(err.message.starts_with("invalid YAML"), "{}", err.message);
        let err = parse_layer("envs/bad.yaml", "a: [1, 2\nb: 3\n").unwrap_err();
        assert!(err.line >= 1 && err.column >= 1);
        // Left open at the end of the file: the last line, where the opening is.
        let err = parse_layer("envs/bad.yaml", "global:\n  env: [prod\n").unwrap_err();
        assert_eq!((err.line, err.column), (2, 13), "{err}");
        let err = parse_layer("envs/bad.yaml", "a: \"open\nb: 1\n").unwrap_err();
        assert!(err.line <= 2, "{err}");
        assert!(err.message.starts_with("invalid YAML"), "{}", err.message);
        let shown = err.to_string();
        assert!(shown.starts_with("envs/bad.yaml:"), "{shown}");
    }

    #[test]
    fn duplicate_keys_are_findings_at_the_second_occurrence() {
        let layer = parse("a: 1\nb:\n  c: 1\n  c: 2\n\"a\": 3\n");
        // Helm keeps the last value.
        assert_eq!(layer.value(), &json!({"a": 3, "b": {"c": 2}}));
        let found: Vec<_> = layer
            .findings()
            .iter()
            .map(|f| (f.rule(), f.span.line, f.pointer.as_str()))
            .collect();
        assert_eq!(
            found,
            vec![
                ("values/duplicate-key", 4, "/b/c"),
                ("values/duplicate-key", 5, "/a"),
            ]
        );
        match &layer.findings()[0].kind {
            LayerFindingKind::DuplicateKey { first, .. } => assert_eq!(first.line, 3),
            other => panic!("{other:?}"),
        }
        let d = layer.findings()[0].to_diagnostic();
        assert_eq!(d.line, Some(4));
        assert_eq!(d.severity, Severity::Error);
        // The span index points at the value helm keeps.
        assert_eq!(key_line(&layer, "/b/c"), 4);
    }

    #[test]
    fn extra_documents_are_findings() {
        let layer = parse("a: 1\n---\nb: 2\n");
        assert_eq!(layer.value(), &json!({"a": 1}));
        assert_eq!(layer.findings().len(), 1);
        assert_eq!(layer.findings()[0].rule(), "values/extra-document");
        assert_eq!(layer.findings()[0].span.line, 2);
        // A trailing `---` with nothing after it is harmless.
        assert!(parse("a: 1\n---\n").findings().is_empty());
    }

    #[test]
    fn non_string_keys() {
        let layer = parse("1: a\non: b\n1.5: c\n1e3: d\n0x10: e\n\"2\": f\n");
        assert_eq!(
            layer.value(),
            &json!({"1": "a", "true": "b", "1.5": "c", "1000": "d", "16": "e", "2": "f"})
        );
        let coerced: Vec<_> = layer
            .findings()
            .iter()
            .map(|f| (f.span.line, f.pointer.as_str()))
            .collect();
        assert_eq!(coerced, vec![(2, "/true"), (4, "/1000"), (5, "/16")]);
        assert_eq!(layer.findings()[0].severity(), Severity::Warning);

        let err = parse_layer("t.yaml", "a: 1\n? [1, 2]\n: v\n").unwrap_err();
        assert_eq!(err.line, 2);
        let err = parse_layer("t.yaml", "a:\n  ~: 1\n").unwrap_err();
        assert_eq!(err.line, 2);
        assert!(err.message.contains("null key"), "{}", err.message);
    }

    #[test]
    fn alias_bombs_are_stopped() {
        let mut text = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
        for i in 1..9 {
            let prev = i - 1;
            text.push_str(&format!(
                "a{i}: &a{i} [*a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}]\n"
            ));
        }
        let err = parse_layer("bomb.yaml", &text).unwrap_err();
        assert!(err.message.contains("expands"), "{}", err.message);
    }

    #[test]
    fn merge_key_bombs_are_stopped() {
        // Each map merges the previous one twice: 2^40 entry reads if nothing counted them.
        let mut text = String::from("a0: &a0 {x: 1}\n");
        for i in 1..40 {
            let prev = i - 1;
            text.push_str(&format!(
                "a{i}: &a{i} {{<<: [*a{prev}, *a{prev}], y{i}: 1}}\n"
            ));
        }
        let err = parse_layer("bomb.yaml", &text).unwrap_err();
        assert!(err.message.contains("expands"), "{}", err.message);
    }

    use crate::nesting::block_maps as nested_maps;

    #[test]
    fn nesting_up_to_the_limit_is_read_and_deeper_is_refused_at_its_line() {
        // The document's map is level 1: MAX_DEPTH - 1 keys nest MAX_DEPTH maps.
        let layer = parse(&nested_maps(MAX_DEPTH - 1));
        assert_eq!(layer.node_count(), MAX_DEPTH + 1);
        let err = parse_layer("deep.yaml", &nested_maps(MAX_DEPTH)).unwrap_err();
        assert!(err.too_deep, "{err}");
        assert_eq!((err.line, err.column), (MAX_DEPTH + 1, 2 * MAX_DEPTH + 1));
        assert!(err.message.contains("deeper than 100 levels"), "{err}");
    }

    #[test]
    fn nesting_of_any_depth_is_refused_without_recursion() {
        for depth in [1_000, 100_000] {
            let block = format!("a:\n{}1\n", "- ".repeat(depth));
            let err = parse_layer("deep.yaml", &block).unwrap_err();
            assert!(err.too_deep, "{err}");
            assert_eq!((err.line, err.column), (2, 2 * (MAX_DEPTH - 1) + 1));
            let flow = format!("a: {}{}\n", "[".repeat(depth), "]".repeat(depth));
            let err = parse_layer("deep.yaml", &flow).unwrap_err();
            assert!(err.too_deep, "{err}");
            assert_eq!(err.line, 1);
            let flow_maps = format!("a: {}1{}\n", "{b: ".repeat(depth), "}".repeat(depth));
            let err = parse_layer("deep.yaml", &flow_maps).unwrap_err();
            assert!(err.too_deep, "{err}");
        }
    }

    #[test]
    fn aliases_that_nest_past_the_limit_are_refused_at_the_alias() {
        // Each anchor nests the previous one 10 levels deeper: 12 of them are 120 levels.
        let mut text = String::from("a0: &a0 {x: 1}\n");
        for i in 1..12 {
            let prev = i - 1;
            text.push_str(&format!(
                "a{i}: &a{i} {open}*a{prev}{close}\n",
                open = "{k: ".repeat(10),
                close = "}".repeat(10)
            ));
        }
        let err = parse_layer("deep.yaml", &text).unwrap_err();
        assert!(err.too_deep, "{err}");
        assert!(err.message.contains("once this alias is expanded"), "{err}");
        assert!(err.line > 1 && err.line <= 12, "{err}");
    }

    #[test]
    fn merge_key_chains_past_the_limit_are_refused_at_the_merge_key() {
        let mut text = String::from("m0: &m0 {x: 1}\n");
        let chain = MAX_DEPTH + 5;
        for i in 1..=chain {
            let prev = i - 1;
            text.push_str(&format!("m{i}: &m{i}\n  <<: *m{prev}\n  y{i}: 1\n"));
        }
        let err = parse_layer("deep.yaml", &text).unwrap_err();
        assert!(err.too_deep, "{err}");
        assert!(err.message.contains("merge keys"), "{err}");
        // A chain as long as the limit is read.
        let short: String = text
            .lines()
            .take(1 + 3 * (MAX_DEPTH - 1))
            .map(|l| format!("{l}\n"))
            .collect();
        parse_layer("ok.yaml", &short).unwrap();
    }

    #[test]
    fn go_number_helpers() {
        assert_eq!(go_parse_int("-9223372036854775808"), Some(i64::MIN));
        assert_eq!(go_parse_int("0"), Some(0));
        assert_eq!(go_parse_int("0o17"), Some(15));
        assert_eq!(go_parse_int("0b101"), Some(5));
        assert_eq!(go_parse_int("0x"), None);
        assert_eq!(go_parse_int("12a"), None);
        assert!(is_yaml_style_float("1."));
        assert!(is_yaml_style_float("-.5e+3"));
        assert!(!is_yaml_style_float("1.2.3"));
        assert!(!is_yaml_style_float("."));
        assert_eq!(go_format_float32(1.5), "1.5");
        assert_eq!(go_format_float32(0.1), "0.1");
        assert_eq!(go_format_float32(1000.0), "1000");
        assert_eq!(go_format_float32(1e7), "1e+07");
        assert_eq!(go_format_float32(0.00001), "1e-05");
    }
}
