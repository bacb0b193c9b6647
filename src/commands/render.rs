//! `stackctl render <target>`.

use super::{Session, deps_source};
use crate::cli::DepsArgs;
use crate::error::{ExitCode, Result};
use crate::ops::render::{self, RenderRequest};

pub async fn run(
    session: &Session,
    target: String,
    cloud: Option<String>,
    args: DepsArgs,
) -> Result<ExitCode> {
    let cx = session.context()?;
    let request = RenderRequest {
        target,
        cloud,
        source: deps_source(args.offline, &args.registry),
    };
    let rendering = render::render(&cx, &request).await?;
    session.printer.rendering(&rendering, &cx.repo.root)
}
