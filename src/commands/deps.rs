//! `stackctl deps check|build|update|bump|link|unlink|status`.

use super::{Session, deps_source};
use crate::cli::DepsCommand;
use crate::error::{ExitCode, Result};
use crate::ops::deps::{self, BumpRequest, UpdateResult};
use crate::report::{DependencyStatuses, Linked, Unlinked};

pub async fn run(session: &Session, command: DepsCommand) -> Result<ExitCode> {
    let cx = session.context()?;
    let out = &session.printer;
    match command {
        DepsCommand::Check { registry } => out.findings(
            &deps::check(&cx, &deps_source(true, &registry))?,
            &cx.repo.root,
            "deps check",
        ),
        DepsCommand::Build { offline, registry } => {
            out.document(&deps::build(&cx, &deps_source(offline, &registry)).await?)?;
            Ok(ExitCode::Ok)
        }
        DepsCommand::Update { offline, registry } => {
            match deps::update(&cx, &deps_source(offline, &registry)).await? {
                UpdateResult::Blocked(report) => {
                    out.findings(&report, &cx.repo.root, "deps update")
                }
                UpdateResult::Updated(build) => {
                    out.document(&build)?;
                    Ok(ExitCode::Ok)
                }
            }
        }
        DepsCommand::Bump {
            chart,
            version,
            dry_run,
            offline,
            registry,
        } => {
            let request = BumpRequest {
                chart,
                version,
                dry_run,
                source: deps_source(offline, &registry),
            };
            out.document(&deps::bump(&cx, &request).await?)?;
            Ok(ExitCode::Ok)
        }
        DepsCommand::Link { chart, dir } => {
            out.document(&Linked::from(&deps::link(&cx, &chart, &dir)?))?;
            Ok(ExitCode::Ok)
        }
        DepsCommand::Unlink { chart } => {
            deps::unlink(&cx, &chart)?;
            out.document(&Unlinked { chart: &chart })?;
            Ok(ExitCode::Ok)
        }
        DepsCommand::Status => {
            let dependencies = deps::status(&cx)?;
            out.document(&DependencyStatuses {
                dependencies: &dependencies,
            })?;
            Ok(ExitCode::Ok)
        }
    }
}
