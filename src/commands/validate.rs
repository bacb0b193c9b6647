//! `stackctl validate [envs <cloud> | chart]`.

use super::{Session, deps_source};
use crate::cli::{CheckArgs, ValidateScope};
use crate::error::{ExitCode, Result};
use crate::ops::validate::{self, Scope, ValidateRequest};

pub async fn run(
    session: &Session,
    scope: Option<ValidateScope>,
    args: CheckArgs,
    use_cache: bool,
) -> Result<ExitCode> {
    let cx = session.context()?;
    let request = ValidateRequest {
        scope: match scope {
            None => Scope::All,
            Some(ValidateScope::Envs { cloud }) => Scope::Envs { cloud },
            Some(ValidateScope::Chart) => Scope::Chart,
        },
        source: deps_source(args.deps.offline, &args.deps.registry),
        jobs: args.jobs,
        use_cache,
    };
    let report = validate::validate(&cx, &request).await?;
    session
        .printer
        .findings(&report, &cx.repo.root, &request.scope.command())
}
