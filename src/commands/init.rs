//! `stackctl init`.

use super::{Session, deps_source};
use crate::cli::DepsArgs;
use crate::error::{ExitCode, Result};
use crate::ops::init::{self, InitRequest};

pub async fn run(session: &Session, print: bool, args: DepsArgs) -> Result<ExitCode> {
    let request = InitRequest {
        print,
        source: deps_source(args.offline, &args.registry),
    };
    let report = init::init(session.invocation.clone(), &request).await?;
    session.printer.init(&report)?;
    Ok(ExitCode::Ok)
}
