//! `suppress/*`: inline suppressions (`# stackctl:ignore <rule> <reason>`) silence a finding
//! on their line or the line below, give their reason, and match something.

use super::{Scope, finding, rule};
use crate::findings::{Diagnostic, Severity};
use crate::values::{Suppression, Suppressions};

pub const RULES: &[super::Rule] = &[
    rule(
        "suppress/unused",
        Severity::Warning,
        Scope::File,
        "an inline suppression suppresses something",
    ),
    rule(
        "suppress/missing-reason",
        Severity::Error,
        Scope::File,
        "an inline suppression gives its reason",
    ),
];

/// Drop the diagnostics a suppression covers; add `suppress/unused` for each suppression that
/// covered nothing and `suppress/missing-reason` for each malformed one. Each finding carries a
/// tag of the caller's, kept with it; the findings added carry `T::default()`.
pub fn apply<T: Default>(
    diagnostics: Vec<(T, Diagnostic)>,
    suppressions: &[Suppressions],
) -> Vec<(T, Diagnostic)> {
    let items: Vec<&Suppression> = suppressions.iter().flat_map(|s| &s.items).collect();
    let mut used = vec![false; items.len()];
    let mut out = Vec::with_capacity(diagnostics.len());
    for (tag, diagnostic) in diagnostics {
        let suppressed = items.iter().position(|s| {
            s.rule == diagnostic.rule
                && diagnostic.file.as_deref() == Some(s.file.as_str())
                && diagnostic.line == Some(s.line)
        });
        match suppressed {
            Some(index) => used[index] = true,
            None => out.push((tag, diagnostic)),
        }
    }
    for (suppression, used) in items.iter().zip(used) {
        if used {
            continue;
        }
        out.push((
            T::default(),
            finding(
                "suppress/unused",
                format!(
                    "suppression of {} matches no finding on line {}",
                    suppression.rule, suppression.line
                ),
            )
            .with_hint(
                "remove the comment, or move it onto (or directly above) the line it is meant for",
            )
            .at(suppression.file.clone(), suppression.comment_line, 1),
        ));
    }
    for problem in suppressions.iter().flat_map(|s| &s.problems) {
        out.push((
            T::default(),
            finding("suppress/missing-reason", problem.message.clone())
                .with_hint(
                    "write the rule and why it does not apply: # stackctl:ignore <rule> <reason>",
                )
                .at(problem.file.clone(), problem.line, problem.column),
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::values::scan_suppressions;

    #[test]
    fn suppressions_need_a_reason_and_a_match() {
        let text = "a: 1\n# stackctl:ignore values/unknown-key kept for the migration\nb: 2\nc: 3 # stackctl:ignore values/unknown-key\nd: 4\ne: 5 # stackctl:ignore values/schema stale\n";
        let suppressions = scan_suppressions("envs/a.yaml", text);
        let diag = |line| finding("values/unknown-key", "m").at("envs/a.yaml", line, 1);
        let out = apply(vec![((), diag(3)), ((), diag(4))], &[suppressions]);
        let summary: Vec<(&str, Option<usize>)> =
            out.iter().map(|(_, d)| (d.rule.as_str(), d.line)).collect();
        assert_eq!(
            summary,
            vec![
                ("values/unknown-key", Some(4)),
                ("suppress/unused", Some(6)),
                ("suppress/missing-reason", Some(4)),
            ]
        );
    }
}
