//! `stackctl test dev`: the smoke suite against a running dev loop, here the platform stub
//! (a stand-in of the platform's HTTP API, tests/fakekube) at the URL `[test.dev] url` names.

use fakekube::{PlatformStub, StubConfig};
use serde_json::Value;

use super::{RUN_LIMIT, assert_none_failed, check};
use crate::support::Sandbox;

/// This repository in a sandbox whose `[test.dev] url` is the stub's, signing in as `login`.
fn dev_sandbox(stub: &PlatformStub, login: &str, password: &str) -> Sandbox {
    let mut sandbox = Sandbox::with_repo();
    let config = sandbox.read("stackctl.toml");
    sandbox.write(
        "stackctl.toml",
        &format!("{config}\n[test.dev]\nurl = \"{}\"\n", stub.url()),
    );
    sandbox.set_env("E2E_ADMIN_EMAIL", login);
    sandbox.set_env("E2E_ADMIN_PASSWORD", password);
    sandbox
}

fn test_dev(sandbox: &Sandbox) -> (i32, Value, String) {
    let (run, took) = sandbox
        .spawn_stackctl(["test", "dev", "--format", "json"])
        .finish(RUN_LIMIT);
    eprintln!("test dev took {took:?}");
    let doc: Value = serde_json::from_str(&run.stdout)
        .unwrap_or_else(|e| panic!("stdout is not JSON ({e}):\n{}", run.all()));
    (run.code, doc, run.all())
}

#[test]
fn fakekube_stub_test_dev_runs_the_smoke_suite_against_the_configured_url_and_passes() {
    let config = StubConfig::default();
    let stub = PlatformStub::start(config.clone()).unwrap();
    let sandbox = dev_sandbox(&stub, &config.login, &config.password);
    let (code, doc, all) = test_dev(&sandbox);
    assert_eq!(code, 0, "{all}");
    assert_eq!(check(&doc, stackctl::smoke::SIGN_IN)["outcome"], "passed");
    assert_none_failed(&doc);
    assert!(
        !all.contains(&config.password),
        "the password leaked:\n{all}"
    );
}

#[test]
fn fakekube_stub_test_dev_with_a_wrong_password_fails_the_sign_in_and_exits_1() {
    let config = StubConfig::default();
    let stub = PlatformStub::start(config.clone()).unwrap();
    let sandbox = dev_sandbox(&stub, &config.login, "not-the-password-0000");
    let (code, doc, all) = test_dev(&sandbox);
    assert_eq!(code, 1, "{all}");
    assert_eq!(
        check(&doc, stackctl::smoke::SIGN_IN)["outcome"],
        "failed",
        "{doc:#}"
    );
    assert!(
        !all.contains("not-the-password-0000"),
        "the password leaked:\n{all}"
    );
}
