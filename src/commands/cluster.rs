//! `stackctl cluster up|status|delete`.

use super::Session;
use crate::cli::ClusterCommand;
use crate::error::{ExitCode, Result};
use crate::ops::cluster::{self, UpRequest};

pub async fn run(session: &Session, command: ClusterCommand) -> Result<ExitCode> {
    let cx = session.context()?;
    let out = &session.printer;
    match command {
        ClusterCommand::Up { timeout } => {
            out.document(&cluster::up(&cx, &UpRequest { timeout }).await?)?
        }
        ClusterCommand::Status => out.document(&cluster::status(&cx).await?)?,
        ClusterCommand::Delete => out.document(&cluster::delete(&cx).await?)?,
    }
    Ok(ExitCode::Ok)
}
