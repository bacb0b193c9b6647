//! `stackctl chart publish`.

use super::{Session, deps_source};
use crate::cli::ChartCommand;
use crate::error::{ExitCode, Result};
use crate::ops::publish::{self, PublishRequest};

pub async fn run(session: &Session, command: ChartCommand) -> Result<ExitCode> {
    match command {
        ChartCommand::Publish {
            chart_dir,
            to,
            version,
            write,
            registry,
        } => {
            let request = PublishRequest {
                chart_dir,
                to,
                version,
                write,
                source: deps_source(false, &registry),
            };
            let report = publish::publish(&session.invocation, &request).await?;
            session.printer.document(&report)?;
            Ok(ExitCode::Ok)
        }
    }
}
