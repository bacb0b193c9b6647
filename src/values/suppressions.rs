//! Inline suppressions: `# stackctl:ignore <rule-id> <reason…>` in a values file.
//!
//! A suppression written after a value applies to that line; one written on a line of its
//! own applies to the next line that holds YAML (several may be stacked above one line).
//! The reason is required: a suppression without one is reported instead of honoured.
//!
//! Comments are not part of the YAML tree, so this is a line scan. It knows enough YAML to
//! skip a `#` inside a quoted string and lines of block scalars (`|`, `>`), which are text.

/// The marker that starts a suppression comment.
pub const MARKER: &str = "stackctl:ignore";

/// One honoured suppression.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Suppression {
    pub file: String,
    /// The line (1-based) the suppression applies to.
    pub line: usize,
    pub rule: String,
    pub reason: String,
    /// The line of the comment itself.
    pub comment_line: usize,
}

/// A suppression comment that cannot be honoured (no rule, or no reason).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SuppressionProblem {
    pub file: String,
    /// The line of the comment.
    pub line: usize,
    pub column: usize,
    /// The rule it names, when it names one.
    pub rule: Option<String>,
    pub message: String,
}

/// Everything [`scan_suppressions`] found in one file.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Suppressions {
    pub items: Vec<Suppression>,
    pub problems: Vec<SuppressionProblem>,
}

impl Suppressions {
    /// Whether `rule` is suppressed on `line` of this file.
    pub fn covers(&self, rule: &str, line: usize) -> Option<&Suppression> {
        self.items.iter().find(|s| s.line == line && s.rule == rule)
    }
}

/// Find the suppression comments of one file.
///
/// ```
/// use stackctl::values::scan_suppressions;
/// // (Written with `\n` because rustdoc hides doc-test lines that start with `#`.)
/// let text = "backend-api:\n\
///     \x20 # stackctl:ignore values/empty-map-override the workflow supplies envFrom\n\
///     \x20 envFrom: {}\n\
///     \x20 replicaCount: 1 # stackctl:ignore rules/replicas preview runs one\n";
/// let found = scan_suppressions("envs/preview/preview.yaml", text);
/// assert_eq!(found.items.len(), 2);
/// assert_eq!((found.items[0].line, found.items[0].comment_line), (3, 2));
/// assert_eq!(found.items[0].reason, "the workflow supplies envFrom");
/// assert_eq!(found.items[1].line, 4);
/// ```
pub fn scan_suppressions(file: &str, text: &str) -> Suppressions {
    let mut found = Suppressions::default();
    // Comments on their own line, waiting for the next line with YAML on it.
    let mut waiting: Vec<(usize, String, String)> = Vec::new();
    let mut quote: Option<char> = None;
    // Indentation of the line that opened a block scalar; deeper lines are its text.
    let mut block_parent: Option<usize> = None;

    for (index, line) in text.lines().enumerate() {
        let number = index + 1;
        let indent = line.len() - line.trim_start_matches([' ', '\t']).len();
        let blank = line.trim().is_empty();
        if let Some(parent) = block_parent {
            if blank || indent > parent {
                continue;
            }
            block_parent = None;
        }
        let scanned = scan_line(line, quote);
        quote = scanned.open_quote;
        let content = scanned.has_content;
        if let Some(col) = scanned.comment {
            let comment = &line[col + 1..];
            if let Some(parsed) = parse_comment(comment) {
                match parsed {
                    Ok((rule, reason)) if content => found.items.push(Suppression {
                        file: file.to_string(),
                        line: number,
                        rule,
                        reason,
                        comment_line: number,
                    }),
                    Ok((rule, reason)) => waiting.push((number, rule, reason)),
                    Err((rule, message)) => found.problems.push(SuppressionProblem {
                        file: file.to_string(),
                        line: number,
                        column: line[..col].chars().count() + 1,
                        rule,
                        message,
                    }),
                }
            }
        }
        if content {
            for (comment_line, rule, reason) in waiting.drain(..) {
                found.items.push(Suppression {
                    file: file.to_string(),
                    line: number,
                    rule,
                    reason,
                    comment_line,
                });
            }
            if scanned.opens_block {
                block_parent = Some(indent);
            }
        }
    }
    for (comment_line, rule, _) in waiting {
        found.problems.push(SuppressionProblem {
            file: file.to_string(),
            line: comment_line,
            column: 1,
            rule: Some(rule),
            message: "this stackctl:ignore comment is not followed by any line it could apply to"
                .to_string(),
        });
    }
    found
}

/// `Ok((rule, reason))`, `Err((rule, message))` for a malformed suppression, `None` for an
/// ordinary comment.
#[allow(clippy::type_complexity)]
fn parse_comment(comment: &str) -> Option<Result<(String, String), (Option<String>, String)>> {
    let rest = comment.trim_start().strip_prefix(MARKER)?;
    if !(rest.is_empty() || rest.starts_with(char::is_whitespace)) {
        return None;
    }
    let rest = rest.trim();
    let (rule, reason) = match rest.split_once(char::is_whitespace) {
        Some((rule, reason)) => (rule, reason.trim()),
        None => (rest, ""),
    };
    if rule.is_empty() {
        return Some(Err((
            None,
            format!("`# {MARKER}` needs a rule ID and a reason: `# {MARKER} <rule-id> <why>`"),
        )));
    }
    if reason.is_empty() {
        return Some(Err((
            Some(rule.to_string()),
            format!(
                "`# {MARKER} {rule}` needs a reason after the rule ID, saying why the finding does not apply"
            ),
        )));
    }
    Some(Ok((rule.to_string(), reason.to_string())))
}

struct ScannedLine {
    /// Byte offset of the `#` starting a comment.
    comment: Option<usize>,
    /// Whether the line holds YAML besides comments and whitespace.
    has_content: bool,
    /// The quote still open at the end of the line (a quoted string spanning lines).
    open_quote: Option<char>,
    /// The line's value is a block scalar header (`key: |`, `- >-`).
    opens_block: bool,
}

fn scan_line(line: &str, mut quote: Option<char>) -> ScannedLine {
    let mut has_content = quote.is_some();
    let mut prev: Option<char> = None;
    let mut chars = line.char_indices().peekable();
    let mut comment = None;
    // Text outside quotes, to recognise a block scalar header.
    let mut last_token_end = 0;
    while let Some((at, c)) = chars.next() {
        match quote {
            Some('\'') => {
                if c == '\'' {
                    if chars.peek().is_some_and(|&(_, n)| n == '\'') {
                        chars.next();
                    } else {
                        quote = None;
                        last_token_end = at + 1;
                    }
                }
            }
            Some(_) => {
                if c == '\\' {
                    chars.next();
                } else if c == '"' {
                    quote = None;
                    last_token_end = at + 1;
                }
            }
            None => {
                let at_token_start = prev.is_none_or(|p| p.is_whitespace() || "[{,".contains(p));
                if c == '#' && prev.is_none_or(char::is_whitespace) {
                    comment = Some(at);
                    break;
                }
                if (c == '"' || c == '\'') && at_token_start {
                    quote = Some(c);
                    has_content = true;
                } else if !c.is_whitespace() {
                    has_content = true;
                    last_token_end = at + c.len_utf8();
                }
            }
        }
        prev = Some(c);
    }
    let before_comment = &line[..comment.unwrap_or(line.len())];
    let opens_block = quote.is_none()
        && is_block_header(&before_comment[..last_token_end.min(before_comment.len())]);
    ScannedLine {
        comment,
        has_content,
        open_quote: quote,
        opens_block,
    }
}

/// Whether a line's YAML ends with a block scalar indicator: `|`, `>`, with optional
/// chomping (`+`, `-`) and indentation digits, after `: ` or `- ` (or alone).
fn is_block_header(text: &str) -> bool {
    let text = text.trim_end();
    let indicator_start = text
        .rfind(|c: char| !(c == '+' || c == '-' || c.is_ascii_digit()))
        .map_or(0, |i| i);
    let tail = &text[indicator_start..];
    if !(tail.starts_with('|') || tail.starts_with('>')) {
        return false;
    }
    let before = text[..indicator_start].trim_end();
    before.is_empty() || before.ends_with(':') || before.ends_with('-')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(found: &Suppressions) -> Vec<(usize, &str, &str, usize)> {
        found
            .items
            .iter()
            .map(|s| (s.line, s.rule.as_str(), s.reason.as_str(), s.comment_line))
            .collect()
    }

    #[test]
    fn same_line() {
        let text = "a: 1\nb: 2 # stackctl:ignore values/type-change the chart reads both\n";
        let found = scan_suppressions("f.yaml", text);
        assert_eq!(
            lines(&found),
            vec![(2, "values/type-change", "the chart reads both", 2)]
        );
        assert!(found.problems.is_empty());
        assert!(found.covers("values/type-change", 2).is_some());
        assert!(found.covers("values/type-change", 1).is_none());
        assert_eq!(found.items[0].file, "f.yaml");
    }

    #[test]
    fn line_above() {
        let text = "\
a:
  # stackctl:ignore rule/one first reason
  # an ordinary comment
  #stackctl:ignore rule/two second reason

  b: 1
c: 2
";
        let found = scan_suppressions("f.yaml", text);
        assert_eq!(
            lines(&found),
            vec![
                (6, "rule/one", "first reason", 2),
                (6, "rule/two", "second reason", 4),
            ]
        );
    }

    #[test]
    fn missing_reason_is_a_problem() {
        let text = "a: 1 # stackctl:ignore values/type-change\n# stackctl:ignore\nb: 2\n";
        let found = scan_suppressions("f.yaml", text);
        assert!(found.items.is_empty());
        let problems: Vec<_> = found
            .problems
            .iter()
            .map(|p| (p.line, p.column, p.rule.as_deref()))
            .collect();
        assert_eq!(
            problems,
            vec![(1, 6, Some("values/type-change")), (2, 1, None)]
        );
        assert!(found.problems[0].message.contains("reason"));
    }

    #[test]
    fn inside_quoted_strings_is_ignored() {
        let text = "\
a: \"x # stackctl:ignore rule/q not a comment\"
b: 'it''s # stackctl:ignore rule/q nope'
c: \"multi
  # stackctl:ignore rule/q still the string\"
d: plain#stackctl:ignore rule/q no space before the hash
e: 1 # stackctl:ignore rule/real a real one
";
        let found = scan_suppressions("f.yaml", text);
        assert_eq!(lines(&found), vec![(6, "rule/real", "a real one", 6)]);
        assert!(found.problems.is_empty());
    }

    #[test]
    fn block_scalars_are_text() {
        let text = "\
script: |
  echo hi # stackctl:ignore rule/x inside the script
  # stackctl:ignore rule/x also inside
next: 1 # stackctl:ignore rule/y after the block
";
        let found = scan_suppressions("f.yaml", text);
        assert_eq!(lines(&found), vec![(4, "rule/y", "after the block", 4)]);
    }

    #[test]
    fn dangling_suppression_is_a_problem() {
        let found = scan_suppressions("f.yaml", "a: 1\n# stackctl:ignore rule/x why\n");
        assert!(found.items.is_empty());
        assert_eq!(found.problems.len(), 1);
        assert_eq!(found.problems[0].line, 2);
    }

    #[test]
    fn other_markers_are_plain_comments() {
        let found = scan_suppressions("f.yaml", "a: 1 # stackctl:ignored rule/x why\n");
        assert_eq!(found, Suppressions::default());
    }
}
