//! JSON Schema: compile a chart's `values.schema.json` once, validate merged values against it,
//! and report each violation at the JSON pointer of the offending value (so the caller can
//! locate it in the layer that set it).
//!
//! Schemas are draft-07 (Helm 3 and Helm 4 both accept it). No remote `$ref` is ever fetched.

mod refs;

use serde_json::Value;

use crate::error::{Error, Result};
use crate::nesting::{MAX_DEPTH, TOO_DEEP_HINT, json_too_deep, too_deep_message};

/// The deepest a schema may nest once its `$ref`s are followed (see [`refs`]). Schemas built
/// from Kubernetes' own definitions stay under 100; the limit keeps compiling and validating far
/// from the stack's end.
pub const MAX_RESOLVED_DEPTH: usize = 10 * MAX_DEPTH;

/// A compiled schema of one chart.
pub struct Schema {
    validator: jsonschema::Validator,
    /// The schema file, repository-relative, for messages.
    pub file: String,
}

impl std::fmt::Debug for Schema {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Schema").field("file", &self.file).finish()
    }
}

/// One way the values break the schema.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    /// JSON pointer of the offending value (for an unknown key: the key itself).
    pub pointer: String,
    /// The schema keyword that failed (`type`, `enum`, `additionalProperties`, …).
    pub keyword: String,
    pub message: String,
    /// Set for unknown keys: the key's name.
    pub unknown_key: Option<String>,
}

impl Schema {
    /// Compile a schema from its text. A broken schema is a configuration error.
    pub fn compile(text: &str, file: &str) -> Result<Schema> {
        if let Some(at) = json_too_deep(text, MAX_DEPTH) {
            return Err(Error::config(too_deep_message())
                .at(file, Some(at.line))
                .with_hint(TOO_DEEP_HINT));
        }
        let json: Value = serde_json::from_str(text).map_err(|e| {
            Error::config(format!("{file} is not valid JSON: {e}"))
                .at(file, Some(e.line()))
                .with_hint("fix the chart's values.schema.json")
        })?;
        let resolved = refs::resolved_depth(&json);
        if resolved.depth > MAX_RESOLVED_DEPTH {
            let first = resolved.first_ref.unwrap_or_default();
            return Err(Error::config(format!(
                "following its $refs from {first:?} ({} references in a chain), the schema nests \
                 deeper than {MAX_RESOLVED_DEPTH} levels, stackctl's limit for schemas",
                resolved.hops
            ))
            .at(file, ref_line(text, &first))
            .with_hint("point each $ref at the definition it needs instead of chaining definitions that only refer to the next"));
        }
        let validator = jsonschema::options()
            .with_draft(jsonschema::Draft::Draft7)
            .should_validate_formats(false)
            .build(&json)
            .map_err(|e| {
                Error::config(format!("{file} is not a valid JSON Schema: {e}"))
                    .at(file, None)
                    .with_hint("the schema must be draft-07 and self-contained (no remote $ref)")
            })?;
        Ok(Schema {
            validator,
            file: file.to_string(),
        })
    }

    /// Every violation of the schema by `values`, in a stable order.
    pub fn violations(&self, values: &Value) -> Vec<Violation> {
        let mut out = Vec::new();
        for error in self.validator.iter_errors(values) {
            collect(&error, &mut out);
        }
        out.sort_by(|a, b| a.pointer.cmp(&b.pointer).then(a.message.cmp(&b.message)));
        out.dedup();
        out
    }
}

/// One error as violations. An `anyOf`/`oneOf` that failed is reported through the branch
/// that came closest (the one whose errors lie deepest in the value, i.e. whose type
/// matched), so a wrong leaf inside an object is reported at the leaf, not at the object.
fn collect(error: &jsonschema::ValidationError<'_>, out: &mut Vec<Violation>) {
    use jsonschema::error::ValidationErrorKind as Kind;
    let pointer = error.instance_path().to_string();
    if let Kind::AnyOf { context } | Kind::OneOfNotValid { context } = error.kind() {
        let depth = |e: &jsonschema::ValidationError<'_>| e.instance_path().to_string().len();
        let closest = context
            .iter()
            .filter(|branch| !branch.is_empty() && branch.iter().all(|e| depth(e) > pointer.len()))
            .min_by_key(|branch| branch.len());
        if let Some(branch) = closest {
            for inner in branch {
                collect(inner, out);
            }
            return;
        }
    }
    let keyword = error.kind().keyword().to_string();
    match error.kind() {
        Kind::AdditionalProperties { unexpected } => {
            for key in unexpected {
                out.push(Violation {
                    pointer: format!("{pointer}/{}", escape_pointer_token(key)),
                    keyword: keyword.clone(),
                    message: format!("unknown key {key:?}: the chart does not define it"),
                    unknown_key: Some(key.clone()),
                });
            }
        }
        _ => out.push(Violation {
            pointer,
            keyword,
            message: describe(error),
            unknown_key: None,
        }),
    }
}

/// jsonschema's messages quote the whole offending value, which for a map can be long:
/// keep messages to one readable line.
fn describe(error: &jsonschema::ValidationError<'_>) -> String {
    let text = error.to_string();
    let line = text.lines().next().unwrap_or_default();
    if line.chars().count() > 200 {
        let cut: String = line.chars().take(197).collect();
        format!("{cut}...")
    } else {
        line.to_string()
    }
}

/// The line of the first `"$ref": "<reference>"` in `text`.
fn ref_line(text: &str, reference: &str) -> Option<usize> {
    let quoted = serde_json::to_string(reference).ok()?;
    text.match_indices("\"$ref\"").find_map(|(at, key)| {
        let rest = text[at + key.len()..].trim_start().strip_prefix(':')?;
        rest.trim_start()
            .starts_with(&quoted)
            .then(|| text[..at].matches('\n').count() + 1)
    })
}

/// Escape a key for use in a JSON pointer (RFC 6901).
pub fn escape_pointer_token(key: &str) -> String {
    key.replace('~', "~0").replace('/', "~1")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_schema_nested_past_the_limit_is_refused_at_its_line() {
        let deep = |depth: usize| {
            format!(
                "{{\n\"type\": \"object\",\n\"default\": {}{}}}",
                "[".repeat(depth),
                "]".repeat(depth)
            )
        };
        Schema::compile(&deep(MAX_DEPTH - 1), "s.json").unwrap();
        for depth in [MAX_DEPTH, 100_000] {
            let err = Schema::compile(&deep(depth), "s.json").unwrap_err();
            assert_eq!(err.kind, crate::ErrorKind::Config);
            assert_eq!(err.location, Some(("s.json".into(), Some(3))), "{err}");
            assert!(err.message.contains("deeper than 100 levels"), "{err}");
        }
    }

    #[test]
    fn a_long_ref_chain_is_refused_at_its_first_ref() {
        let chain = |length: usize| {
            let definitions: Vec<String> = (0..length)
                .map(|i| format!("\"a{i}\": {{\"$ref\": \"#/definitions/a{}\"}}", i + 1))
                .collect();
            format!(
                "{{\n\"definitions\": {{{},\n\"a{length}\": {{\"type\": \"object\"}}}},\n\"properties\": {{\n\"global\": {{\"$ref\": \"#/definitions/a0\"}}}}}}",
                definitions.join(",\n")
            )
        };
        Schema::compile(&chain(500), "s.json").unwrap();
        for length in [MAX_RESOLVED_DEPTH, 100_000] {
            let text = chain(length);
            let err = Schema::compile(&text, "s.json").unwrap_err();
            assert_eq!(err.kind, crate::ErrorKind::Config);
            let line = text.lines().count();
            assert_eq!(err.location, Some(("s.json".into(), Some(line))), "{err}");
            assert!(err.message.contains("\"#/definitions/a0\""), "{err}");
            assert!(err.message.contains("deeper than 1000 levels"), "{err}");
        }
    }

    fn schema() -> Schema {
        let text = json!({
            "$schema": "http://json-schema.org/draft-07/schema#",
            "type": "object",
            "additionalProperties": false,
            "properties": {
                "global": {"type": "object"},
                "externalSecret": {
                    "type": "object",
                    "properties": {
                        "redis": {"type": "object", "properties": {"db": {"type": "integer"}}}
                    }
                },
                "appConfigMap": {
                    "type": "object",
                    "properties": {"environment": {"enum": ["DEBUG", "RELEASE", "DEBUG_RELEASE"]}}
                },
                "ingress": {"type": "object", "properties": {"hosts": {"type": "object"}}}
            }
        })
        .to_string();
        Schema::compile(&text, "charts/jetscale/values.schema.json").unwrap()
    }

    #[test]
    fn reports_each_violation_at_its_pointer() {
        let values = json!({
            "backend": {"image": "x"},
            "a/b": 1,
            "externalSecret": {"redis": {"db": "one"}},
            "appConfigMap": {"environment": "PROD"},
            "ingress": {"hosts": ["a.example.com"]},
        });
        let found: Vec<(String, String)> = schema()
            .violations(&values)
            .into_iter()
            .map(|v| (v.pointer, v.keyword))
            .collect();
        assert_eq!(
            found,
            vec![
                ("/appConfigMap/environment".to_string(), "enum".to_string()),
                ("/a~1b".to_string(), "additionalProperties".to_string()),
                ("/backend".to_string(), "additionalProperties".to_string()),
                ("/externalSecret/redis/db".to_string(), "type".to_string()),
                ("/ingress/hosts".to_string(), "type".to_string()),
            ]
        );
    }

    #[test]
    fn valid_values_have_no_violations() {
        let values = json!({"global": {}, "externalSecret": {"redis": {"db": 0}}});
        assert!(schema().violations(&values).is_empty());
    }

    #[test]
    fn a_broken_schema_is_a_configuration_error() {
        let err = Schema::compile("{\"type\": 12}", "x/values.schema.json").unwrap_err();
        assert_eq!(err.kind, crate::ErrorKind::Config);
        let err = Schema::compile("{\n  \"type\": \n", "x/values.schema.json").unwrap_err();
        assert_eq!(err.location.unwrap().1, Some(3));
    }
}
