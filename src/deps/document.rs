//! Reading YAML with the byte position of every scalar, for findings located at a line and
//! for edits that replace one scalar and leave every other byte of the file alone.
//!
//! saphyr's markers count characters, not bytes; [`Source`] converts them so that spans can
//! slice and splice the original text directly.

use std::ops::Range;

use saphyr::{LoadableYamlNode, MarkedYaml, Scalar, YamlData};

use crate::nesting::{MAX_DEPTH, too_deep_message, yaml_too_deep};

/// A YAML node with positions; `'static` because saphyr owns every string it reads from a
/// character iterator.
pub type Node = MarkedYaml<'static>;

/// YAML text with its first document parsed, and the character → byte offset table that
/// turns saphyr's markers into byte ranges.
#[derive(Debug, Clone)]
pub struct Source {
    pub text: String,
    pub root: Node,
    /// Byte offset of every character, plus one entry for the end of the text.
    char_offsets: Vec<usize>,
}

/// Why a YAML text could not be read: the message and its 1-based line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyntaxError {
    pub message: String,
    pub line: usize,
    pub column: usize,
}

impl Source {
    /// Parse `text`. An empty document is an empty mapping (as helm treats it). A text that
    /// nests deeper than [`MAX_DEPTH`] is refused before saphyr builds (and recursively drops)
    /// its tree, so walks over a [`Source`] are bounded.
    pub fn parse(text: impl Into<String>) -> Result<Source, SyntaxError> {
        let text = text.into();
        if let Some(at) = yaml_too_deep(&text, MAX_DEPTH) {
            return Err(SyntaxError {
                message: too_deep_message(),
                line: at.line,
                column: at.column,
            });
        }
        let docs = MarkedYaml::load_from_iter(text.chars()).map_err(|e| SyntaxError {
            message: e.info().to_string(),
            line: e.marker().line(),
            column: e.marker().col() + 1,
        })?;
        let root = docs
            .into_iter()
            .next()
            .unwrap_or_else(|| MarkedYaml::from(YamlData::Mapping(Default::default())));
        let mut char_offsets: Vec<usize> = text.char_indices().map(|(i, _)| i).collect();
        char_offsets.push(text.len());
        Ok(Source {
            text,
            root,
            char_offsets,
        })
    }

    /// The byte range of a node in the text.
    pub fn byte_range(&self, node: &Node) -> Range<usize> {
        self.byte_at(node.span.start.index())..self.byte_at(node.span.end.index())
    }

    fn byte_at(&self, char_index: usize) -> usize {
        self.char_offsets
            .get(char_index)
            .copied()
            .unwrap_or(self.text.len())
    }

    /// A scalar node's value as text, with its position and quoting.
    ///
    /// Plain scalars are returned exactly as written (so `version: 1.0` reads as `"1.0"`, not
    /// as the float 1), because helm reads these fields as strings.
    pub fn scalar(&self, node: &Node) -> Option<ScalarText> {
        let span = self.byte_range(node);
        let raw = self.text.get(span.clone())?;
        let style = match raw.chars().next() {
            Some('"') => QuoteStyle::Double,
            Some('\'') => QuoteStyle::Single,
            Some('|') | Some('>') => QuoteStyle::Block,
            _ => QuoteStyle::Plain,
        };
        // saphyr's end marker of a flow scalar can run past a trailing comment; an edit must
        // never swallow it, so the scalar's end is found from the text itself.
        let length = match style {
            QuoteStyle::Double | QuoteStyle::Single => quoted_length(raw, style)?,
            QuoteStyle::Plain => plain_length(raw),
            QuoteStyle::Block => raw.len(),
        };
        let range = span.start..span.start + length;
        let raw = &self.text[range.clone()];
        let value = match (&node.data, style) {
            (YamlData::Value(Scalar::String(s)), QuoteStyle::Double | QuoteStyle::Single) => {
                s.to_string()
            }
            (YamlData::Value(Scalar::String(s)), QuoteStyle::Block) => s.to_string(),
            (YamlData::Value(Scalar::Null), QuoteStyle::Plain) if raw.trim().is_empty() => {
                String::new()
            }
            (YamlData::Value(_), QuoteStyle::Plain) => raw.trim_end().to_string(),
            _ => return None,
        };
        Some(ScalarText {
            value,
            style,
            range,
            line: node.span.start.line(),
            column: node.span.start.col() + 1,
        })
    }

    /// The 1-based line and column of a node.
    pub fn position(node: &Node) -> (usize, usize) {
        (node.span.start.line(), node.span.start.col() + 1)
    }
}

/// Bytes of a quoted scalar up to and including its closing quote.
fn quoted_length(raw: &str, style: QuoteStyle) -> Option<usize> {
    let quote = if style == QuoteStyle::Double {
        '"'
    } else {
        '\''
    };
    let mut chars = raw.char_indices().skip(1).peekable();
    while let Some((i, c)) = chars.next() {
        match c {
            '\\' if style == QuoteStyle::Double => {
                chars.next();
            }
            // '' is an escaped quote inside single quotes.
            '\'' if style == QuoteStyle::Single && chars.peek().map(|(_, c)| *c) == Some('\'') => {
                chars.next();
            }
            c if c == quote => return Some(i + c.len_utf8()),
            _ => {}
        }
    }
    None
}

/// Bytes of a single-line plain scalar: up to a ` #` comment or the end of the line, without
/// trailing blanks.
fn plain_length(raw: &str) -> usize {
    let trimmed = raw.trim_end();
    if trimmed.contains('\n') {
        // A multi-line plain scalar: saphyr's span is right, and such values are not edited.
        return trimmed.len();
    }
    let value = match trimmed.find(" #").or_else(|| trimmed.find("\t#")) {
        Some(comment) => &trimmed[..comment],
        None => trimmed,
    };
    value.trim_end().len()
}

/// How a scalar is written in the file, so an edit can keep it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QuoteStyle {
    Plain,
    Single,
    Double,
    Block,
}

/// A scalar's value and where it is written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScalarText {
    pub value: String,
    pub style: QuoteStyle,
    /// The bytes of the scalar in the text, quotes included.
    pub range: Range<usize>,
    pub line: usize,
    pub column: usize,
}

impl ScalarText {
    /// The text that writes `value` in this scalar's place with the same quoting.
    /// `None` when the style cannot hold the value verbatim (block scalars, or a plain value
    /// that would change meaning); the caller reports that instead of guessing.
    pub fn rewrite(&self, value: &str) -> Option<String> {
        let safe = !value.is_empty()
            && value.chars().all(|c| {
                c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | '+' | '/' | ':' | '@')
            })
            && !value.starts_with(['-', ':', '@']);
        match self.style {
            QuoteStyle::Plain if safe => Some(value.to_string()),
            QuoteStyle::Double if safe => Some(format!("\"{value}\"")),
            QuoteStyle::Single if safe => Some(format!("'{value}'")),
            _ => None,
        }
    }
}

/// Get a mapping's value by string key.
pub fn get<'a>(node: &'a Node, key: &str) -> Option<&'a Node> {
    match &node.data {
        YamlData::Mapping(map) => map.iter().find_map(|(k, v)| match &k.data {
            YamlData::Value(Scalar::String(s)) if s == key => Some(v),
            _ => None,
        }),
        _ => None,
    }
}

/// The entries of a mapping with string keys, in document order.
pub fn entries(node: &Node) -> Vec<(&str, &Node, &Node)> {
    match &node.data {
        YamlData::Mapping(map) => map
            .iter()
            .filter_map(|(k, v)| match &k.data {
                YamlData::Value(Scalar::String(s)) => Some((s.as_ref(), k, v)),
                _ => None,
            })
            .collect(),
        _ => Vec::new(),
    }
}

/// The items of a sequence (empty for anything else).
pub fn items(node: &Node) -> &[Node] {
    match &node.data {
        YamlData::Sequence(seq) => seq,
        _ => &[],
    }
}

pub fn is_null(node: &Node) -> bool {
    matches!(node.data, YamlData::Value(Scalar::Null))
}

/// Convert a node to JSON, for fields whose exact structure matters to helm's digest
/// (`tags`, `import-values`). Mapping keys become strings, as in Go's YAML → JSON conversion.
pub fn to_json(node: &Node) -> serde_json::Value {
    use serde_json::Value;
    match &node.data {
        YamlData::Value(Scalar::Null) => Value::Null,
        YamlData::Value(Scalar::Boolean(b)) => Value::Bool(*b),
        YamlData::Value(Scalar::Integer(i)) => Value::from(*i),
        YamlData::Value(Scalar::FloatingPoint(f)) => serde_json::Number::from_f64(f.into_inner())
            .map(Value::Number)
            .unwrap_or(Value::Null),
        YamlData::Value(Scalar::String(s)) => Value::String(s.to_string()),
        YamlData::Sequence(seq) => Value::Array(seq.iter().map(to_json).collect()),
        YamlData::Mapping(map) => Value::Object(
            map.iter()
                .map(|(k, v)| {
                    let key = match to_json(k) {
                        Value::String(s) => s,
                        other => other.to_string(),
                    };
                    (key, to_json(v))
                })
                .collect(),
        ),
        YamlData::Tagged(_, inner) => to_json(inner),
        _ => Value::Null,
    }
}

/// Replace byte ranges of `text` with new strings. Ranges must not overlap.
pub fn splice(text: &str, mut edits: Vec<(Range<usize>, String)>) -> String {
    edits.sort_by_key(|(range, _)| range.start);
    let mut out = String::with_capacity(text.len());
    let mut cursor = 0;
    for (range, replacement) in edits {
        out.push_str(&text[cursor..range.start]);
        out.push_str(&replacement);
        cursor = range.end;
    }
    out.push_str(&text[cursor..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scalars_keep_their_text_position_and_quoting() {
        let text = "# comment\né: 1\ndeps:\n  - name: \"bé\" # note\n    v: '1.2' # note\n    w: 4.6.12 # pin\n    u: 1.0\n    q: \"a\\\"b\" # q\n";
        let source = Source::parse(text).unwrap();
        let dep = &items(get(&source.root, "deps").unwrap())[0];

        let name = source.scalar(get(dep, "name").unwrap()).unwrap();
        assert_eq!(name.value, "bé");
        assert_eq!(name.style, QuoteStyle::Double);
        assert_eq!(&text[name.range.clone()], "\"bé\"");
        let v_raw = source.scalar(get(dep, "v").unwrap()).unwrap();
        assert_eq!(&text[v_raw.range.clone()], "'1.2'");
        assert_eq!((name.line, name.column), (4, 11));

        let v = source.scalar(get(dep, "v").unwrap()).unwrap();
        assert_eq!((v.value.as_str(), v.style), ("1.2", QuoteStyle::Single));

        let w = source.scalar(get(dep, "w").unwrap()).unwrap();
        assert_eq!(&text[w.range.clone()], "4.6.12");

        // A float-looking plain scalar reads as written, as helm reads a version.
        let u = source.scalar(get(dep, "u").unwrap()).unwrap();
        assert_eq!(u.value, "1.0");

        let q = source.scalar(get(dep, "q").unwrap()).unwrap();
        assert_eq!(&text[q.range.clone()], "\"a\\\"b\"");
        assert_eq!(q.value, "a\"b");
    }

    #[test]
    fn rewrite_keeps_quoting_and_refuses_unsafe_values() {
        let text = "a: \"1.0.0\"\nb: '1.0.0'\nc: 1.0.0\n";
        let source = Source::parse(text).unwrap();
        let edits: Vec<_> = ["a", "b", "c"]
            .iter()
            .map(|key| {
                let s = source.scalar(get(&source.root, key).unwrap()).unwrap();
                (s.range.clone(), s.rewrite("2.0.0").unwrap())
            })
            .collect();
        assert_eq!(splice(text, edits), "a: \"2.0.0\"\nb: '2.0.0'\nc: 2.0.0\n");
        let c = source.scalar(get(&source.root, "c").unwrap()).unwrap();
        assert_eq!(c.rewrite("has space"), None);
    }

    #[test]
    fn syntax_errors_name_the_line() {
        let err = Source::parse("a: 1\nb: [unclosed\n").unwrap_err();
        assert!(err.line >= 2, "{err:?}");
    }
}
