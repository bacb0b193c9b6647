//! How deep the YAML and JSON stackctl reads may nest, and the checks that enforce it.
//!
//! Reading, merging and checking values walk the data recursively; a file nested a few
//! thousand levels deep would overflow the stack and abort the process. Every reader refuses
//! such a file first, at the line where it crosses the limit, so every later walk over parsed
//! data is bounded by [`MAX_DEPTH`] (or [`MAX_OUTPUT_DEPTH`] for helm's output).

use saphyr_parser::{Event, Parser};

/// The deepest nesting of maps and lists a file of the repository may have (values files,
/// `Chart.yaml`, `Chart.lock`, JSON schemas): the top-level map is level 1. Real charts stay
/// under 20; the limit keeps every recursive walk far from the stack's end (and below
/// serde_json's own limit of 127 levels, so every reader reports the same limit).
pub const MAX_DEPTH: usize = 100;

/// The deepest nesting of one object helm renders: room for values nested to [`MAX_DEPTH`]
/// placed inside a Kubernetes object.
pub const MAX_OUTPUT_DEPTH: usize = 2 * MAX_DEPTH;

/// Where a text first nests deeper than its limit: 1-based line and column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TooDeep {
    pub line: usize,
    pub column: usize,
}

/// The message for a file that nests deeper than [`MAX_DEPTH`].
pub fn too_deep_message() -> String {
    format!(
        "nested deeper than {MAX_DEPTH} levels of maps and lists, stackctl's limit for the files it reads"
    )
}

/// The fix to suggest with [`too_deep_message`].
pub const TOO_DEEP_HINT: &str = "flatten the structure: no chart reads values this deep (nesting is counted after anchors and merge keys are expanded)";

/// Where `text`, read as YAML, first nests deeper than `limit` (all documents); `None` when it
/// never does or when it is not YAML (the reader reports the syntax error itself). The walk
/// over the parser's events is iterative: any depth is safe to check.
pub fn yaml_too_deep(text: &str, limit: usize) -> Option<TooDeep> {
    let mut parser = Parser::new_from_str(text);
    let mut depth = 0usize;
    loop {
        match parser.next_event()? {
            Ok((Event::SequenceStart(..) | Event::MappingStart(..), span)) => {
                depth += 1;
                if depth > limit {
                    return Some(TooDeep {
                        line: span.start.line().max(1),
                        column: span.start.col() + 1,
                    });
                }
            }
            Ok((Event::SequenceEnd | Event::MappingEnd, _)) => depth = depth.saturating_sub(1),
            Ok((Event::StreamEnd, _)) => return None,
            Ok(_) => {}
            // saphyr's scanner gives up on flow collections 255 levels deep: past any limit.
            Err(e) if is_scanner_recursion_limit(e.info()) => {
                return Some(TooDeep {
                    line: e.marker().line().max(1),
                    column: e.marker().col() + 1,
                });
            }
            Err(_) => return None,
        }
    }
}

/// Whether a saphyr scanner error is its flow-nesting limit (255 levels), which is always
/// deeper than [`MAX_DEPTH`].
pub fn is_scanner_recursion_limit(info: &str) -> bool {
    info.contains("recursion limit exceeded")
}

/// Where `text`, read as JSON, first nests deeper than `limit`; `None` when it never does.
/// Counts brackets outside strings, so it also answers for text that is not valid JSON (the
/// parser reports that itself).
pub fn json_too_deep(text: &str, limit: usize) -> Option<TooDeep> {
    let (mut depth, mut line, mut column) = (0usize, 1usize, 0usize);
    let (mut in_string, mut escaped) = (false, false);
    for c in text.chars() {
        column += 1;
        if c == '\n' {
            line += 1;
            column = 0;
        }
        if in_string {
            match (escaped, c) {
                (true, _) => escaped = false,
                (false, '\\') => escaped = true,
                (false, '"') => in_string = false,
                _ => {}
            }
            continue;
        }
        match c {
            '"' => in_string = true,
            '[' | '{' => {
                depth += 1;
                if depth > limit {
                    return Some(TooDeep { line, column });
                }
            }
            ']' | '}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    None
}

/// A YAML file `depth` keys deep in block style (`depth + 1` maps), for tests.
#[cfg(test)]
pub(crate) fn block_maps(depth: usize) -> String {
    (0..depth)
        .map(|i| format!("{}k{i}:\n", "  ".repeat(i)))
        .collect::<String>()
        + &"  ".repeat(depth)
        + "v: 1\n"
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn yaml_at_the_limit_passes_and_one_level_more_is_located() {
        // The top-level map is level 1: `depth` keys nest `depth + 1` maps.
        assert_eq!(yaml_too_deep(&block_maps(MAX_DEPTH - 1), MAX_DEPTH), None);
        let deeper = block_maps(MAX_DEPTH);
        assert_eq!(
            yaml_too_deep(&deeper, MAX_DEPTH),
            Some(TooDeep {
                line: MAX_DEPTH + 1,
                column: 2 * MAX_DEPTH + 1
            })
        );
    }

    #[test]
    fn yaml_of_any_depth_is_checked_without_recursion() {
        let depth = 100_000;
        let block = format!("a:\n{}1\n", "- ".repeat(depth));
        let at = yaml_too_deep(&block, MAX_DEPTH).unwrap();
        assert_eq!((at.line, at.column), (2, 2 * (MAX_DEPTH - 1) + 1));
        let flow = format!("a: {}{}\n", "[".repeat(depth), "]".repeat(depth));
        assert_eq!(yaml_too_deep(&flow, MAX_DEPTH).unwrap().line, 1);
    }

    #[test]
    fn json_depth_skips_brackets_in_strings() {
        let text = format!(
            "{{\"a\": \"[[[{{\\\"\",\n \"b\": {}{}}}",
            "[".repeat(99),
            "]".repeat(99)
        );
        assert_eq!(json_too_deep(&text, MAX_DEPTH), None);
        let text = format!("{{\n \"b\": {}{}}}", "[".repeat(100), "]".repeat(100));
        assert_eq!(
            json_too_deep(&text, MAX_DEPTH),
            Some(TooDeep {
                line: 2,
                column: 6 + 100
            })
        );
    }
}
