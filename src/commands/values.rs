//! `stackctl values <target> [--path a.b.c]`.

use super::Session;
use crate::error::{ExitCode, Result};
use crate::ops::values::{self, ValuesRequest};

pub async fn run(
    session: &Session,
    target: String,
    path: Option<String>,
    cloud: Option<String>,
) -> Result<ExitCode> {
    let cx = session.context()?;
    let request = ValuesRequest {
        target,
        path,
        cloud,
    };
    session
        .printer
        .values(&values::values(&cx, &request).await?)?;
    Ok(ExitCode::Ok)
}
