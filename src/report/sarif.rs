//! SARIF 2.1.0, the format GitHub code scanning ingests: one run of the `stackctl` tool,
//! one rule per rule ID used, one result per diagnostic.
//!
//! GitHub needs a location on every result. A diagnostic without a file is placed on the
//! most specific file that stands for it: its target's last layer (the target's own env
//! file), else its target when that names a YAML file, else [`FALLBACK_FILE`]. A result
//! whose line is unknown points at line 1, GitHub's way of showing a file-level alert.

use std::collections::BTreeMap;
use std::io::{self, Write};

use serde_json::{Value, json};
use serde_sarif::sarif::{
    ArtifactLocation, Invocation, Location, Message, MultiformatMessageString, Notification,
    PhysicalLocation, PropertyBag, Region, ReportingConfiguration, ReportingDescriptor,
    Result as SarifResult, ResultLevel, Run, Sarif, Tool, ToolComponent,
};
use sha2::{Digest, Sha256};

use super::{Diagnostic, RenderOptions, Report, Severity, flat_message};

/// The `$schema` written into every log: the SARIF 2.1.0 schema as SchemaStore serves it.
pub const SCHEMA_URI: &str = "https://json.schemastore.org/sarif-2.1.0.json";

/// Where a finding with neither a file nor a file-like target is reported: the repository's
/// stackctl configuration, which decides what is checked.
pub const FALLBACK_FILE: &str = "stackctl.toml";

/// The base every artifact URI is relative to; GitHub resolves it to the checkout.
const SRCROOT: &str = "%SRCROOT%";

pub(super) fn render(
    report: &Report,
    options: &RenderOptions,
    out: &mut dyn Write,
) -> io::Result<()> {
    serde_json::to_writer_pretty(&mut *out, &log(report, options))?;
    writeln!(out)
}

fn log(report: &Report, options: &RenderOptions) -> Sarif {
    // Each rule's level is the worst severity it reported in this run.
    let mut rules: BTreeMap<&str, Severity> = BTreeMap::new();
    for d in &report.diagnostics {
        let level = rules.entry(d.rule.as_str()).or_insert(d.severity);
        *level = (*level).max(d.severity);
    }
    let index: BTreeMap<&str, usize> = rules.keys().enumerate().map(|(i, r)| (*r, i)).collect();
    let descriptors = rules
        .iter()
        .map(|(id, severity)| {
            let text = options
                .rule_descriptions
                .get(*id)
                .cloned()
                .unwrap_or_else(|| format!("stackctl rule {id}"));
            ReportingDescriptor::builder()
                .id(*id)
                .short_description(MultiformatMessageString::from(&text))
                .default_configuration(
                    ReportingConfiguration::builder()
                        .level(json!(severity.as_str()))
                        .build(),
                )
                .build()
        })
        .collect::<Vec<_>>();
    let results = report
        .sorted_diagnostics()
        .into_iter()
        .map(|d| result(d, report, index[d.rule.as_str()]))
        .collect::<Vec<_>>();

    let driver = ToolComponent::builder()
        .name("stackctl")
        .version(env!("CARGO_PKG_VERSION"))
        .semantic_version(env!("CARGO_PKG_VERSION"))
        .rules(descriptors)
        .build();
    let mut run = Run::builder()
        .tool(Tool::from(driver))
        .results(results)
        // Diagnostics count columns in characters, as SARIF's default (UTF-16) would not.
        .column_kind(json!("unicodeCodePoints"))
        .build();
    // An error that ended the run is SARIF's failed invocation, with the error as its
    // notification: the results above are then not the whole picture.
    if let Some(stopped) = &report.stopped {
        let notification = Notification::builder()
            .message(Message::from(&stopped.one_line()))
            .level(json!("error"))
            .build();
        run.invocations = Some(vec![
            Invocation::builder()
                .execution_successful(false)
                .tool_execution_notifications(vec![notification])
                .build(),
        ]);
    }
    Sarif::builder()
        .schema(SCHEMA_URI)
        .version("2.1.0")
        .runs(vec![run])
        .build()
}

fn result(d: &Diagnostic, report: &Report, rule_index: usize) -> SarifResult {
    let level = match d.severity {
        Severity::Error => ResultLevel::Error,
        Severity::Warning => ResultLevel::Warning,
    };
    let mut result = SarifResult::builder()
        .rule_id(d.rule.as_str())
        .rule_index(rule_index as i64)
        .level(level)
        .message(Message::from(&flat_message(d)))
        .locations(vec![location(d, report)])
        .partial_fingerprints(BTreeMap::from([("stackctl/v1".to_owned(), fingerprint(d))]))
        .build();
    let mut properties = BTreeMap::new();
    if let Some(target) = &d.target {
        properties.insert("target".to_owned(), Value::from(target.as_str()));
    }
    if let Some(path) = &d.path {
        properties.insert("jsonPointer".to_owned(), Value::from(path.as_str()));
    }
    if !properties.is_empty() {
        result.properties = Some(PropertyBag {
            tags: None,
            additional_properties: properties,
        });
    }
    result
}

fn location(d: &Diagnostic, report: &Report) -> Location {
    let file = d.file.clone().unwrap_or_else(|| fallback_file(d, report));
    let region = Region {
        // Line and column only when the diagnostic has them; line 1 means "the file".
        // SARIF lines and columns start at 1; a 0 from a buggy check must not void the log.
        start_line: Some(d.line.filter(|_| d.file.is_some()).unwrap_or(1).max(1) as i64),
        start_column: d
            .column
            .filter(|&c| c > 0 && d.file.is_some() && d.line.is_some())
            .map(|c| c as i64),
        ..Region::default()
    };
    Location {
        physical_location: Some(PhysicalLocation {
            artifact_location: Some(ArtifactLocation {
                uri: Some(uri(&file)),
                uri_base_id: Some(SRCROOT.to_owned()),
                ..ArtifactLocation::default()
            }),
            region: Some(region),
            ..PhysicalLocation::default()
        }),
        ..Location::default()
    }
}

fn fallback_file(d: &Diagnostic, report: &Report) -> String {
    let Some(target) = d.target.as_deref() else {
        return FALLBACK_FILE.to_owned();
    };
    if let Some(layer) = report.target(target).and_then(|t| t.layers.last()) {
        return layer.clone();
    }
    if target.ends_with(".yaml") || target.ends_with(".yml") {
        return target.to_owned();
    }
    FALLBACK_FILE.to_owned()
}

/// A repository-relative path as a relative URI reference: every byte outside RFC 3986's
/// unreserved set (and `/`) percent-encoded, so spaces or `#` in a name cannot break it.
fn uri(path: &str) -> String {
    let mut uri = String::with_capacity(path.len());
    for byte in path.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' | b'/' => {
                uri.push(byte as char)
            }
            _ => uri.push_str(&format!("%{byte:02X}")),
        }
    }
    uri
}

/// Identifies a finding across runs without its line, so an alert survives edits that only
/// move it: the rule, where (target, file, values path) and what (message).
fn fingerprint(d: &Diagnostic) -> String {
    let mut hash = Sha256::new();
    for part in [
        Some(d.rule.as_str()),
        d.target.as_deref(),
        d.file.as_deref(),
        d.path.as_deref(),
        Some(d.message.as_str()),
    ] {
        hash.update(part.unwrap_or("").as_bytes());
        hash.update([0]);
    }
    hex::encode(hash.finalize())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::Format;
    use crate::report::sample;

    fn sarif(report: &Report) -> Value {
        let mut options = RenderOptions::new(Format::Sarif, "/nonexistent");
        options.rule_descriptions.insert(
            "values/schema".to_owned(),
            "Values match the charts' schemas".to_owned(),
        );
        let mut out = Vec::new();
        render(report, &options, &mut out).unwrap();
        serde_json::from_slice(&out).unwrap()
    }

    /// The official SARIF 2.1.0 schema (see tests/fixtures/README.md), compiled as draft-07.
    fn validator() -> jsonschema::Validator {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/sarif-schema-2.1.0.json"
        );
        let text = std::fs::read_to_string(path).unwrap();
        // The schema's patterns for `language` end in a lone `]`: a literal in ECMA-262 (Annex
        // B), but jsonschema's check of the schema against draft-07, which cannot be turned
        // off, rejects it. Escaping it (`\]`) means the same; the file stays unchanged.
        let text = text.replace("[a-zA-Z]{2}]?$", "[a-zA-Z]{2}\\\\]?$");
        let schema: Value = serde_json::from_str(&text).unwrap();
        jsonschema::draft7::new(&schema).expect("the SARIF schema compiles")
    }

    fn schema_errors(validator: &jsonschema::Validator, log: &Value) -> Vec<String> {
        validator
            .iter_errors(log)
            .map(|e| format!("{} at {}", e, e.instance_path()))
            .collect()
    }

    #[test]
    fn output_validates_against_the_sarif_schema() {
        let validator = validator();
        for report in [sample::failing(), sample::clean(), Report::default()] {
            let log = sarif(&report);
            assert_eq!(
                schema_errors(&validator, &log),
                Vec::<String>::new(),
                "{log:#}"
            );
        }
    }

    #[test]
    fn the_schema_check_is_not_vacuous() {
        let validator = validator();
        let mut log = sarif(&sample::failing());
        log["runs"][0]["results"][0]["level"] = json!("fatal");
        log["runs"][0]["results"][1]["locations"][0]["physicalLocation"]["region"]["startLine"] =
            json!(0);
        assert_eq!(schema_errors(&validator, &log).len(), 2, "{log:#}");
    }

    #[test]
    fn an_error_that_stopped_the_run_is_a_failed_invocation() {
        let log = sarif(&sample::stopped());
        assert_eq!(schema_errors(&validator(), &log), Vec::<String>::new());
        let invocations = &log["runs"][0]["invocations"];
        assert_eq!(invocations[0]["executionSuccessful"], false);
        let notification = &invocations[0]["toolExecutionNotifications"][0];
        assert_eq!(notification["level"], "error");
        assert_eq!(
            notification["message"]["text"],
            "charts/jetscale/Chart.yaml:14: cannot build the dependencies (hint: run `stackctl deps update`)"
        );
        assert_eq!(log["runs"][0]["results"][0]["ruleId"], "deps/lock");
        // A run that was not stopped says nothing about its invocation.
        assert!(
            sarif(&sample::failing())["runs"][0]
                .get("invocations")
                .is_none()
        );
    }

    #[test]
    fn driver_and_rules() {
        let log = sarif(&sample::failing());
        assert_eq!(log["$schema"], json!(SCHEMA_URI));
        assert_eq!(log["version"], json!("2.1.0"));
        assert_eq!(log["runs"].as_array().unwrap().len(), 1);
        let driver = &log["runs"][0]["tool"]["driver"];
        assert_eq!(driver["name"], json!("stackctl"));
        assert_eq!(driver["version"], json!(env!("CARGO_PKG_VERSION")));
        let rules = driver["rules"].as_array().unwrap();
        let ids: Vec<&str> = rules.iter().map(|r| r["id"].as_str().unwrap()).collect();
        assert_eq!(ids, ["envs/parity", "helm/template", "values/schema"]);
        assert_eq!(rules[0]["defaultConfiguration"]["level"], json!("warning"));
        assert_eq!(
            rules[0]["shortDescription"]["text"],
            json!("stackctl rule envs/parity")
        );
        assert_eq!(
            rules[2]["shortDescription"]["text"],
            json!("Values match the charts' schemas")
        );
    }

    #[test]
    fn results_carry_rule_level_message_and_location() {
        let log = sarif(&sample::failing());
        let results = log["runs"][0]["results"].as_array().unwrap();
        assert_eq!(results.len(), 3);
        let schema = &results[0];
        assert_eq!(schema["ruleId"], json!("values/schema"));
        assert_eq!(schema["ruleIndex"], json!(2));
        assert_eq!(schema["level"], json!("error"));
        assert_eq!(
            schema["message"]["text"],
            json!(
                "\"three\" is not of type \"integer\"\nat /console/replicas\n\
                 hint: replicas takes a whole number, e.g. 3"
            )
        );
        assert_eq!(
            schema["locations"],
            json!([{"physicalLocation": {
                "artifactLocation": {"uri": "envs/prod/console.yaml", "uriBaseId": "%SRCROOT%"},
                "region": {"startLine": 3, "startColumn": 13},
            }}])
        );
        assert_eq!(
            schema["properties"],
            json!({"target": "envs/prod/console.yaml", "jsonPointer": "/console/replicas"})
        );
        let fingerprint = schema["partialFingerprints"]["stackctl/v1"]
            .as_str()
            .unwrap();
        assert_eq!(fingerprint.len(), 64);
    }

    #[test]
    fn fileless_results_fall_back_to_the_target_then_the_configuration() {
        let log = sarif(&sample::failing());
        let results = log["runs"][0]["results"].as_array().unwrap();
        let place = |r: &Value| {
            let physical = &r["locations"][0]["physicalLocation"];
            (
                physical["artifactLocation"]["uri"].clone(),
                physical["region"].clone(),
            )
        };
        // The helm failure of a target: its last layer, the target's own env file.
        assert_eq!(
            place(&results[1]),
            (json!("envs/prod/console.yaml"), json!({"startLine": 1}))
        );
        assert_eq!(results[1]["level"], json!("error"));
        // Tied to nothing: the repository's configuration.
        assert_eq!(
            place(&results[2]),
            (json!("stackctl.toml"), json!({"startLine": 1}))
        );
        assert_eq!(results[2]["level"], json!("warning"));

        let unknown = Diagnostic::error("helm/template", "boom").with_target("variants/minimal");
        assert_eq!(fallback_file(&unknown, &Report::default()), FALLBACK_FILE);
        let env = Diagnostic::error("helm/template", "boom").with_target("envs/dev.yml");
        assert_eq!(fallback_file(&env, &Report::default()), "envs/dev.yml");
    }

    #[test]
    fn zero_lines_and_columns_still_make_a_valid_log() {
        let report = Report {
            diagnostics: vec![Diagnostic::error("x/y", "zero").at("a.yaml", 0, 0)],
            ..Report::default()
        };
        let log = sarif(&report);
        assert_eq!(schema_errors(&validator(), &log), Vec::<String>::new());
        let region = &log["runs"][0]["results"][0]["locations"][0]["physicalLocation"]["region"];
        assert_eq!(region, &json!({"startLine": 1}));
    }

    #[test]
    fn uris_are_percent_encoded() {
        assert_eq!(uri("envs/prod/console.yaml"), "envs/prod/console.yaml");
        assert_eq!(uri("envs/my env#1/é.yaml"), "envs/my%20env%231/%C3%A9.yaml");
    }

    #[test]
    fn fingerprints_ignore_the_line() {
        let a = Diagnostic::error("values/schema", "bad")
            .at("a.yaml", 3, 1)
            .with_path("/x");
        let moved = Diagnostic::error("values/schema", "bad")
            .at("a.yaml", 9, 4)
            .with_path("/x");
        let other = Diagnostic::error("values/schema", "bad")
            .at("a.yaml", 3, 1)
            .with_path("/y");
        assert_eq!(fingerprint(&a), fingerprint(&moved));
        assert_ne!(fingerprint(&a), fingerprint(&other));
    }
}
