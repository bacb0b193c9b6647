//! The manifest `helm template` prints, split into objects.

use crate::nesting::{MAX_OUTPUT_DEPTH, yaml_too_deep};

/// A rendered manifest split into objects, with helm's warnings.
#[derive(Debug, Clone, Default)]
pub struct Rendered {
    pub objects: Vec<RenderedObject>,
    /// Lines helm printed on stderr while succeeding (coalesce warnings and the like).
    pub warnings: Vec<String>,
    /// The manifest text as helm printed it.
    pub manifest: String,
}

/// One Kubernetes object of a render.
#[derive(Debug, Clone, PartialEq)]
pub struct RenderedObject {
    /// The template that produced it, as helm's `# Source:` comment says
    /// (`jetscale/charts/backend-api/templates/deployment.yaml`).
    pub source: String,
    pub value: serde_json::Value,
}

impl RenderedObject {
    fn str_at(&self, pointer: &str) -> &str {
        self.value
            .pointer(pointer)
            .and_then(|v| v.as_str())
            .unwrap_or("")
    }
    pub fn api_version(&self) -> &str {
        self.str_at("/apiVersion")
    }
    pub fn kind(&self) -> &str {
        self.str_at("/kind")
    }
    pub fn name(&self) -> &str {
        self.str_at("/metadata/name")
    }
    /// The object's namespace, or `default_ns` when the template leaves it to the release.
    pub fn namespace<'a>(&'a self, default_ns: &'a str) -> &'a str {
        match self.str_at("/metadata/namespace") {
            "" => default_ns,
            ns => ns,
        }
    }
    /// The API group (`networking.k8s.io`), empty for the core group.
    pub fn group(&self) -> &str {
        match self.api_version().rsplit_once('/') {
            Some((group, _)) => group,
            None => "",
        }
    }
}

/// Split a `helm template` manifest into objects, keeping each one's `# Source:` template.
pub fn split_manifest(manifest: &str) -> Result<Vec<RenderedObject>, String> {
    let mut objects = Vec::new();
    let mut source = String::new();
    let mut current = String::new();
    let mut flush = |source: &str, text: &mut String| -> Result<(), String> {
        if !text.trim().is_empty() {
            if let Some(at) = yaml_too_deep(text, MAX_OUTPUT_DEPTH) {
                return Err(format!(
                    "helm output from {source} nests deeper than {MAX_OUTPUT_DEPTH} levels of maps and lists (line {} of that object), stackctl's limit for rendered objects",
                    at.line
                ));
            }
            let value: serde_json::Value =
                serde_saphyr::from_str_with_options(text, object_options(text.len()))
                    .map_err(|e| object_error(source, &e))?;
            if !value.is_null() {
                objects.push(RenderedObject {
                    source: source.to_string(),
                    value,
                });
            }
        }
        text.clear();
        Ok(())
    };
    for line in manifest.lines() {
        if line == "---" || line.starts_with("--- ") {
            flush(&source, &mut current)?;
            source.clear();
            continue;
        }
        if let Some(rest) = line.strip_prefix("# Source: ") {
            source = rest.trim().to_string();
            continue;
        }
        current.push_str(line);
        current.push('\n');
    }
    flush(&source, &mut current)?;
    Ok(objects)
}

/// How one rendered object is read. The manifest is already bounded (`[render]
/// max-output-size`), so the parser's size budgets grow with the object instead of refusing
/// a large but legitimate render (a ConfigMap of a few MB has more than the default 250 000
/// nodes); its other budgets (anchors, aliases, nesting) keep their defaults.
fn object_options(bytes: usize) -> serde_saphyr::Options {
    let mut budget = serde_saphyr::Budget::default();
    budget.max_depth = MAX_OUTPUT_DEPTH;
    // A node takes at least two bytes of text (`a\n`, `a,`), an event at most two per node.
    budget.max_nodes = budget.max_nodes.max(bytes / 2 + 1);
    budget.max_events = budget.max_events.max(bytes + 16);
    budget.max_total_scalar_bytes = budget.max_total_scalar_bytes.max(bytes);
    budget.max_reader_input_bytes = None;
    let mut options = serde_saphyr::Options::default();
    options.budget = Some(budget);
    // The snippet would quote the rendered object, values included, at length.
    options.with_snippet = false;
    options
}

/// Why an object helm printed cannot be read, at its line within that object.
fn object_error(source: &str, error: &serde_saphyr::Error) -> String {
    let line = error
        .location()
        .map(|l| format!(" (line {} of the object)", l.line()))
        .unwrap_or_default();
    match error.without_snippet() {
        serde_saphyr::Error::Budget { breach, .. } => format!(
            "helm output from {source} is too complex to check{line}: {breach:?} exceeds what stackctl reads from one object (aliases, anchors or nesting beyond any real manifest)"
        ),
        other => format!("helm output from {source} is not YAML{line}: {other}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_large_object_is_read_whole() {
        // 400 000 entries: past the parser's default budget of 250 000 nodes.
        let mut manifest =
            String::from("# Source: c/templates/cm.yaml\napiVersion: v1\nkind: ConfigMap\ndata:\n");
        for i in 0..200_000 {
            manifest.push_str(&format!("  K{i}: v\n"));
        }
        let objects = split_manifest(&manifest).unwrap();
        assert_eq!(objects[0].value["data"].as_object().unwrap().len(), 200_000);
        let err = split_manifest("# Source: c/templates/x.yaml\na: [\n").unwrap_err();
        assert!(
            err.starts_with("helm output from c/templates/x.yaml is not YAML"),
            "{err}"
        );
    }

    #[test]
    fn objects_up_to_the_output_limit_are_read_and_deeper_ones_are_refused() {
        let object = |depth: usize| {
            format!(
                "---\n# Source: c/templates/cm.yaml\nkind: ConfigMap\ndata:\n{}1\n",
                "- ".repeat(depth - 1)
            )
        };
        // The object's map is level 1, `data`'s list level 2. Read on a stack the size of
        // the process's main thread, the smallest stackctl reads helm's output on.
        let at_limit = std::thread::Builder::new()
            .stack_size(8 * 1024 * 1024)
            .spawn(move || split_manifest(&object(MAX_OUTPUT_DEPTH)).map(|o| o.len()))
            .unwrap()
            .join()
            .unwrap();
        assert_eq!(at_limit, Ok(1));
        for depth in [MAX_OUTPUT_DEPTH + 1, 100_000] {
            let err = split_manifest(&object(depth)).unwrap_err();
            assert!(
                err.contains("c/templates/cm.yaml nests deeper than 200"),
                "{err}"
            );
        }
    }

    #[test]
    fn splits_documents_and_keeps_their_sources() {
        let manifest = "---\n# Source: jetscale/templates/cm.yaml\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: r-config\ndata:\n  A: \"1\"\n---\n# Source: jetscale/charts/backend-api/templates/service.yaml\napiVersion: v1\nkind: Service\nmetadata:\n  name: r-backend-api\n  namespace: ns\n---\n# Source: jetscale/templates/empty.yaml\n";
        let objects = split_manifest(manifest).unwrap();
        assert_eq!(objects.len(), 2);
        assert_eq!(objects[0].source, "jetscale/templates/cm.yaml");
        assert_eq!(objects[0].kind(), "ConfigMap");
        assert_eq!(objects[0].namespace("dflt"), "dflt");
        assert_eq!(objects[1].name(), "r-backend-api");
        assert_eq!(objects[1].namespace("dflt"), "ns");
        assert_eq!(objects[1].group(), "");
    }
}
