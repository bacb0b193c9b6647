//! `envs/consistent-env`: the envs of one directory of `envs/` share one `global.env`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::sources::At;
use super::{CrossTargetRule, Scope, TargetCx, TargetFact, finding, rule};
use crate::config::Config;
use crate::findings::{Diagnostic, Severity};
use crate::target::TargetKind;

pub const RULES: &[super::Rule] = &[rule(
    "envs/consistent-env",
    Severity::Error,
    Scope::CrossTarget,
    "the envs of one directory share one global.env",
)];

/// A target's merged `global.env` and the layer line that set it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct EnvFact {
    value: String,
    at: Option<At>,
}

/// Within one directory of `envs/`, every target's merged `global.env` is the same; a target
/// that differs from the directory's most common value is reported at the line that set its
/// value.
pub struct ConsistentEnv;

impl CrossTargetRule for ConsistentEnv {
    fn id(&self) -> &'static str {
        "envs/consistent-env"
    }

    fn collect(&self, cx: &TargetCx<'_>) -> Option<Value> {
        if cx.target.kind != TargetKind::Env {
            return None;
        }
        let value = cx.merged.get("/global/env")?;
        let fact = EnvFact {
            value: value
                .as_str()
                .map(str::to_string)
                .unwrap_or_else(|| value.to_string()),
            at: cx
                .merged
                .provenance
                .locate("/global/env")
                .map(|o| (o.file.to_string(), o.line, o.column)),
        };
        serde_json::to_value(fact).ok()
    }

    fn compare(&self, facts: &[TargetFact<'_>], _config: &Config) -> Vec<Diagnostic> {
        let mut by_dir: BTreeMap<String, Vec<(&str, EnvFact)>> = BTreeMap::new();
        for f in facts {
            let Some(fact) = super::decode_fact::<EnvFact>(self, f) else {
                continue;
            };
            let name = f.target.name.as_str();
            let dir = name
                .rsplit_once('/')
                .map(|(d, _)| d.to_string())
                .unwrap_or_default();
            by_dir.entry(dir).or_default().push((name, fact));
        }
        let mut out = Vec::new();
        for (dir, members) in by_dir {
            let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
            for (_, fact) in &members {
                *counts.entry(fact.value.as_str()).or_default() += 1;
            }
            if counts.len() < 2 {
                continue;
            }
            let (common, _) = counts.iter().max_by_key(|(_, n)| **n).expect("non-empty");
            for (target, fact) in &members {
                let env = &fact.value;
                if env == common {
                    continue;
                }
                let d = finding(
                    "envs/consistent-env",
                    format!(
                        "{target} sets global.env {env:?}, but the other envs of {dir}/ use {common:?}"
                    ),
                )
                .with_hint(format!(
                    "use global.env: {common} (set it once in {dir}/default.yaml)"
                ))
                .with_target(target.to_string())
                .with_path("/global/env");
                out.push(match &fact.at {
                    Some((file, line, column)) => d.at(file.clone(), *line, *column),
                    None => d,
                });
            }
        }
        out
    }
}
