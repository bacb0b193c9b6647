//! `stackctl doctor`.

use super::Session;
use crate::error::{Error, ErrorKind, ExitCode, Result};
use crate::ops::doctor;

pub async fn run(session: &Session) -> Result<ExitCode> {
    let report = doctor::doctor(&session.invocation).await?;
    session.printer.document(&report)?;
    if !report.ok {
        return Err(Error::new(
            ErrorKind::ToolMissing,
            "helm is required for validation and is missing or unsupported",
        )
        .with_hint(
            "run scripts/toolchain.sh to install pinned helm binaries into .tools/, then pass --helm or set STACKCTL_HELM",
        ));
    }
    Ok(ExitCode::Ok)
}
