//! `stackctl test local|ci|dev|live`.

use super::{Session, deps_source};
use crate::cli::{KindLoopArgs, TestCommand};
use crate::error::{ExitCode, Result};
use crate::ops::test::{self, KindLoop, KindRequest};

pub async fn run(session: &Session, command: TestCommand) -> Result<ExitCode> {
    let cx = session.context()?;
    let report = match command {
        TestCommand::Local { no_build, args } => {
            test::kind(&cx, &kind_request(KindLoop::Local, no_build, args)).await?
        }
        TestCommand::Ci { args } => {
            test::kind(&cx, &kind_request(KindLoop::Ci, false, args)).await?
        }
        TestCommand::Dev => test::dev(&cx).await?,
        TestCommand::Live { host } => test::live(&cx, host.as_deref()).await?,
    };
    session.printer.test_report(&report, &cx.repo.root)
}

fn kind_request(kind_loop: KindLoop, no_build: bool, args: KindLoopArgs) -> KindRequest {
    KindRequest {
        kind_loop,
        source: deps_source(args.deps.offline, &args.deps.registry),
        no_build,
        timeout: args.timeout,
        context: args.context,
        diagnostics_dir: args.diagnostics_dir,
    }
}
