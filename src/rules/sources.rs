//! Where findings about rendered objects point: the umbrella template that produced an
//! object, and the line in it that writes a field.

use std::path::Path;

use crate::findings::Diagnostic;
use crate::fsutil::display_join;
use crate::helm::RenderedObject;

/// A file, line and column a finding can point at.
pub type At = (String, usize, usize);

/// Where a finding about a rendered object points: the umbrella template that produced it
/// (`jetscale/templates/ingress.yaml` → `charts/jetscale/templates/ingress.yaml`) when it is a
/// file of this repository.
pub struct Sources<'a> {
    /// The umbrella chart's name, as helm prefixes sources.
    pub chart_name: &'a str,
    /// The umbrella chart's directory, repository-relative.
    pub chart_dir: &'a str,
    /// The repository root, to find a field's line in a template; `None` leaves findings at
    /// the template without a line.
    pub root: Option<&'a Path>,
}

impl Sources<'_> {
    /// At the template that produced `object`, on the `kind:` line of the object there.
    pub(crate) fn locate(&self, diagnostic: Diagnostic, object: &RenderedObject) -> Diagnostic {
        self.locate_field(diagnostic, object, &["kind"])
    }

    /// At the line of the template that writes the field at `keys` (`["metadata", "name"]`):
    /// the line a reader has to look at; when the template does not spell the keys out (a
    /// field written by an include), at the object's `kind:` line, still a line. Without a
    /// root the finding stays at the template file.
    pub(crate) fn locate_field(
        &self,
        diagnostic: Diagnostic,
        object: &RenderedObject,
        keys: &[&str],
    ) -> Diagnostic {
        let Some(file) = self.template_file(object) else {
            return diagnostic;
        };
        let found = self
            .root
            .and_then(|root| crate::fsutil::read_text(&root.join(&file)).ok())
            .and_then(|text| {
                object_line(&text, object.kind(), object.name(), keys)
                    .or_else(|| object_line(&text, object.kind(), object.name(), &["kind"]))
            });
        match found {
            Some((line, column)) => diagnostic.at(file, line, column),
            None => diagnostic.in_file(file),
        }
    }

    /// The repository-relative template that produced `object`, when it is a template of the
    /// umbrella chart (not of a dependency).
    pub(crate) fn template_file(&self, object: &RenderedObject) -> Option<String> {
        object
            .source
            .strip_prefix(&format!("{}/templates/", self.chart_name))
            .map(|rest| display_join(self.chart_dir, &format!("templates/{rest}")))
    }

    /// The values key of the dependency whose template produced `object`
    /// (`jetscale/charts/backend-api/templates/x.yaml` → `backend-api`); `None` for the
    /// umbrella chart's own templates.
    pub(crate) fn dependency_key<'o>(&self, object: &'o RenderedObject) -> Option<&'o str> {
        let rest = object
            .source
            .strip_prefix(self.chart_name)?
            .strip_prefix("/charts/")?;
        rest.split('/').next()
    }
}

/// [`template_line`] within the document of a multi-document template (`---` separated) that
/// writes the object of kind `kind` named `name`; the whole text when no document says so.
/// Lines are those of the whole text.
pub(crate) fn object_line(
    text: &str,
    kind: &str,
    name: &str,
    keys: &[&str],
) -> Option<(usize, usize)> {
    let lines: Vec<&str> = text.lines().collect();
    // Documents as ranges of lines, split at `---` lines (with trailing blanks or a comment).
    let mut documents = Vec::new();
    let mut start = 0;
    for (i, line) in lines.iter().enumerate() {
        let rest = line.strip_prefix("---").map(str::trim_start);
        if rest.is_some_and(|rest| rest.is_empty() || rest.starts_with('#')) {
            documents.push(start..i);
            start = i + 1;
        }
    }
    documents.push(start..lines.len());
    let candidates: Vec<_> = documents
        .into_iter()
        .filter(|range| {
            lines[range.clone()].iter().any(|line| {
                let line = line.split(" #").next().unwrap_or(line).trim_end();
                line.strip_prefix("kind:")
                    .is_some_and(|v| v.trim().trim_matches(['"', '\'']) == kind)
            })
        })
        .collect();
    let document = match candidates.len() {
        0 => return template_line(text, keys),
        1 => candidates[0].clone(),
        _ => {
            // The literal parts of the document's `metadata.name` line must all be in the
            // name; the longest such match wins, the first document on a tie.
            let score = |range: &std::ops::Range<usize>| {
                let document = lines[range.clone()].join("\n");
                let Some((line, column)) = template_line(&document, &["metadata", "name"]) else {
                    return 0;
                };
                let written = &lines[range.start + line - 1][column - 1..];
                let written = written.split_once(':').map_or("", |(_, v)| v);
                let mut literal = String::new();
                let mut rest = written;
                while let Some((before, after)) = rest.split_once("{{") {
                    literal.push_str(before);
                    literal.push('\n');
                    rest = after.split_once("}}").map_or("", |(_, after)| after);
                }
                literal.push_str(rest);
                let parts: Vec<&str> = literal
                    .split('\n')
                    .map(|p| p.trim().trim_matches(|c| c == '"' || c == '\''))
                    .filter(|p| !p.is_empty())
                    .collect();
                if parts.iter().all(|p| name.contains(p)) {
                    1 + parts.iter().map(|p| p.len()).sum::<usize>()
                } else {
                    0
                }
            };
            candidates
                .iter()
                .enumerate()
                .max_by(|(i, a), (j, b)| score(a).cmp(&score(b)).then(j.cmp(i)))
                .map(|(_, range)| range.clone())?
        }
    };
    let within = lines[document.clone()].join("\n");
    template_line(&within, keys).map(|(line, column)| (line + document.start, column))
}

/// The line and column of the template key that writes the field at `keys`. Templates are
/// not YAML until rendered, so the keys are looked for in order in the text (`spec:`, then
/// `template:` below it, …), which finds the right one of several `name:` lines; when a key
/// comes from an include, the last key alone is looked for. `None` when the template does not
/// spell the key out.
pub(crate) fn template_line(text: &str, keys: &[&str]) -> Option<(usize, usize)> {
    let lines: Vec<&str> = text.lines().collect();
    let find = |key: &str, from: usize| {
        (from..lines.len()).find_map(|i| {
            let line = lines[i];
            let rest = line.trim_start();
            let rest = rest.strip_prefix("- ").unwrap_or(rest).trim_start();
            let after = rest.strip_prefix(key)?;
            after
                .trim_start()
                .starts_with(':')
                .then(|| (i, line.len() - rest.len() + 1))
        })
    };
    let mut from = 0;
    let mut at = None;
    for key in keys {
        match find(key, from) {
            Some((i, column)) => {
                at = Some((i + 1, column));
                from = i + 1;
            }
            None => {
                at = None;
                break;
            }
        }
    }
    at.or_else(|| find(keys.last()?, 0).map(|(i, column)| (i + 1, column)))
}

pub(crate) fn describe(object: &RenderedObject) -> String {
    format!("{} {}", object.kind(), object.name())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_are_found_in_the_document_that_writes_the_object() {
        let text = "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: {{ .Release.Name }}-api\nspec:\n  replicas: 1\n--- # worker\napiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: \"{{ .Release.Name }}-worker\"\nspec:\n  replicas: \"2\"\n---  \napiVersion: extensions/v1beta1\nkind: Ingress\nmetadata:\n  name: {{ .Release.Name }}\n";
        let line = |kind, name, keys: &[&str]| object_line(text, kind, name, keys);
        assert_eq!(
            line("Deployment", "r-worker", &["spec", "replicas"]),
            Some((13, 3))
        );
        assert_eq!(
            line("Deployment", "r-api", &["spec", "replicas"]),
            Some((6, 3))
        );
        assert_eq!(line("Ingress", "r", &["apiVersion"]), Some((15, 1)));
        // No document of the kind: the whole text.
        assert_eq!(line("Service", "r", &["apiVersion"]), Some((1, 1)));
    }
}
