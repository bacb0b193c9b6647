//! Files that are not what they seem: FIFOs, devices, directories and symlinks where values
//! files belong, text that is not UTF-8, empty layers, and targets outside the repository.
//! Every run is bounded: a FIFO opened for reading would block forever, so each command runs
//! with a limit and the test fails (killing it) if it has not returned by then.

use std::ffi::OsStr;
use std::path::Path;
use std::time::Duration;

use serde_json::Value;

use super::stderr_says;
use crate::support::{self, Run, Sandbox};

/// Far beyond what any of these runs takes (well under a few seconds): reaching it means a hang.
const LIMIT: Duration = Duration::from_secs(120);

/// Run `stackctl --helm <helm 4> ARGS` in the sandbox, bounded by [`LIMIT`], and check that it
/// did nothing [`super::assert_no_crash`] forbids.
fn run(sandbox: &Sandbox, args: &[&str]) -> Run {
    let helm = support::helm4();
    let args = [OsStr::new("--helm"), helm.as_os_str()]
        .into_iter()
        .chain(args.iter().map(OsStr::new));
    let (run, took) = sandbox.spawn_stackctl(args).finish(LIMIT);
    println!("stackctl returned after {took:?} with exit {}", run.code);
    super::assert_no_crash(&run);
    run
}

fn validate(sandbox: &Sandbox) -> Run {
    run(sandbox, &["validate", "envs", "aws", "--offline"])
}

fn validate_json(sandbox: &Sandbox) -> (Run, Value) {
    let run = run(
        sandbox,
        &["--format", "json", "validate", "envs", "aws", "--offline"],
    );
    let doc = run.json();
    (run, doc)
}

/// `mkfifo PATH` in the sandbox.
fn mkfifo(path: &Path) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let c = std::ffi::CString::new(path.to_str().unwrap()).unwrap();
    // SAFETY: mkfifo(3) on a path of the test's own temporary directory.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o644) }, 0, "mkfifo");
}

fn symlink(target: impl AsRef<Path>, link: &Path) {
    std::fs::create_dir_all(link.parent().unwrap()).unwrap();
    std::os::unix::fs::symlink(target, link).unwrap();
}

/// The diagnostics of a JSON report about `file`.
fn diagnostics_in<'a>(doc: &'a Value, file: &str) -> Vec<&'a Value> {
    doc["diagnostics"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| d["file"] == file)
        .collect()
}

#[test]
fn fifo_dotenv_is_an_error_naming_it_instead_of_blocking_every_command() {
    let sandbox = Sandbox::with_repo();
    mkfifo(&sandbox.path(".env"));
    let run = run(&sandbox, &["deps", "check"]);
    run.expect(2);
    stderr_says(
        &run,
        &[
            ".env",
            "is a FIFO (named pipe), not a regular file",
            "hint:",
        ],
    );
}

#[test]
fn fifo_env_file_is_an_error_naming_it() {
    let sandbox = Sandbox::with_repo();
    mkfifo(&sandbox.path("envs/prod/pipe.yaml"));
    let run = validate(&sandbox);
    run.expect(2);
    stderr_says(
        &run,
        &[
            "envs/prod/pipe.yaml is a FIFO (named pipe), not a regular file",
            "hint:",
        ],
    );
}

#[test]
fn device_dotenv_is_an_error_naming_it_without_reading_it() {
    // /dev/zero never ends: reading it would grow memory until the machine kills the run.
    let sandbox = Sandbox::with_repo();
    symlink("/dev/zero", &sandbox.path(".env"));
    let run = run(&sandbox, &["deps", "check"]);
    run.expect(2);
    stderr_says(&run, &[".env", "is a character device, not a regular file"]);
}

#[test]
fn device_stackctl_toml_is_an_error_naming_it() {
    let sandbox = Sandbox::with_repo();
    std::fs::remove_file(sandbox.path("stackctl.toml")).unwrap();
    symlink("/dev/zero", &sandbox.path("stackctl.toml"));
    let run = run(&sandbox, &["deps", "check"]);
    run.expect(2);
    stderr_says(
        &run,
        &["stackctl.toml", "is a character device, not a regular file"],
    );
}

#[test]
fn directory_env_file_is_an_error_naming_it() {
    let sandbox = Sandbox::with_repo();
    std::fs::create_dir_all(sandbox.path("envs/prod/folder.yaml")).unwrap();
    let run = validate(&sandbox);
    run.expect(2);
    stderr_says(
        &run,
        &["envs/prod/folder.yaml is a directory, not a regular file"],
    );
}

#[test]
fn default_yaml_directory_is_an_error_not_a_dropped_layer() {
    let sandbox = Sandbox::with_repo();
    std::fs::remove_file(sandbox.path("envs/prod/default.yaml")).unwrap();
    std::fs::create_dir_all(sandbox.path("envs/prod/default.yaml")).unwrap();
    let run = validate(&sandbox);
    run.expect(2);
    stderr_says(
        &run,
        &["envs/prod/default.yaml is a directory, not a regular file"],
    );
}

#[test]
fn symlinked_env_file_inside_the_repository_is_validated_like_any_other() {
    let sandbox = Sandbox::with_repo();
    // Its own host: a second env on demo's host is an ingress/host-unique finding.
    sandbox.write(
        "shared/demo.yaml",
        &sandbox
            .read("envs/prod/demo.yaml")
            .replace("demo.jetscale.ai", "linked.jetscale.ai"),
    );
    symlink(
        "../../shared/demo.yaml",
        &sandbox.path("envs/prod/linked.yaml"),
    );
    let config = sandbox.read("stackctl.toml")
        + "\n[targets.\"envs/prod/linked.yaml\"]\nrelease = \"jetscale-demo\"\nnamespace = \"jetscale-demo\"\nexternal-refs = [\"{release}-aws-client-secret\", \"ghcr-registry-secret\"]\n";
    sandbox.write("stackctl.toml", &config);
    let (run, doc) = validate_json(&sandbox);
    run.success();
    let linked: Vec<&Value> = doc["targets"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| t["target"] == "envs/prod/linked.yaml")
        .collect();
    assert_eq!(linked.len(), 1, "{doc:#}");
    assert_eq!(linked[0]["status"], "passed");
    assert_eq!(
        linked[0]["layers"],
        serde_json::json!([
            "envs/aws.yaml",
            "envs/prod/default.yaml",
            "envs/prod/linked.yaml"
        ])
    );
}

#[test]
fn symlinked_env_file_that_is_broken_is_reported_at_its_line() {
    // Followed links are read like files: a finding in the linked content points at the link.
    let sandbox = Sandbox::with_repo();
    sandbox.write("shared/broken.yaml", "global:\n  env: [unclosed\n");
    symlink(
        "../../shared/broken.yaml",
        &sandbox.path("envs/prod/linked.yaml"),
    );
    let (run, doc) = validate_json(&sandbox);
    run.expect(1);
    let found = diagnostics_in(&doc, "envs/prod/linked.yaml");
    assert!(
        found
            .iter()
            .any(|d| d["rule"] == "values/syntax" && d["line"].is_u64()),
        "{doc:#}"
    );
}

#[test]
fn symlink_leaving_the_repository_is_an_error_naming_the_link_and_its_target() {
    let sandbox = Sandbox::with_repo();
    let outside = sandbox.outside_repo("elsewhere/values.yaml");
    std::fs::create_dir_all(outside.parent().unwrap()).unwrap();
    std::fs::write(&outside, "global:\n  env: prod\n").unwrap();
    symlink(&outside, &sandbox.path("envs/prod/outside.yaml"));
    let run = validate(&sandbox);
    run.expect(2);
    stderr_says(
        &run,
        &[
            &format!(
                "envs/prod/outside.yaml is a symlink to {}",
                outside.display()
            ),
            "outside the repository",
            "hint:",
        ],
    );
}

#[test]
fn symlink_loop_is_an_error_naming_the_link() {
    let sandbox = Sandbox::with_repo();
    symlink("loop.yaml", &sandbox.path("envs/prod/loop.yaml"));
    let run = validate(&sandbox);
    run.expect(2);
    stderr_says(
        &run,
        &[
            "envs/prod/loop.yaml is a symlink to loop.yaml",
            "symlink loop",
        ],
    );
}

#[test]
fn directory_symlink_loop_is_an_error_naming_the_link() {
    let sandbox = Sandbox::with_repo();
    symlink("..", &sandbox.path("envs/prod/up"));
    let run = validate(&sandbox);
    run.expect(2);
    stderr_says(&run, &["envs/prod/up is a symlink loop"]);
}

#[test]
fn dangling_symlink_env_file_is_an_error_naming_where_it_points() {
    let sandbox = Sandbox::with_repo();
    symlink("gone.yaml", &sandbox.path("envs/prod/dangling.yaml"));
    let run = validate(&sandbox);
    run.expect(2);
    stderr_says(
        &run,
        &["envs/prod/dangling.yaml is a symlink to gone.yaml, which does not exist"],
    );
}

/// Write raw bytes as an env file.
fn write_bytes(sandbox: &Sandbox, relative: &str, bytes: &[u8]) {
    std::fs::write(sandbox.path(relative), bytes).unwrap();
}

/// The one `values/syntax` finding of a layer that is not text.
fn not_text_finding(sandbox: &Sandbox, file: &str) -> Value {
    let (run, doc) = validate_json(sandbox);
    run.expect(1);
    let found = diagnostics_in(&doc, file);
    assert_eq!(found.len(), 1, "{doc:#}");
    let finding = found[0].clone();
    assert_eq!(finding["rule"], "values/syntax");
    assert_eq!(finding["severity"], "error");
    assert!(
        !finding["message"]
            .as_str()
            .unwrap()
            .contains("does not exist"),
        "{finding:#}"
    );
    finding
}

#[test]
fn latin1_env_file_is_not_utf8_at_its_byte_offset_and_line() {
    let sandbox = Sandbox::with_repo();
    write_bytes(
        &sandbox,
        "envs/prod/latin1.yaml",
        b"global:\n  env: caf\xe9\n",
    );
    let finding = not_text_finding(&sandbox, "envs/prod/latin1.yaml");
    let message = finding["message"].as_str().unwrap();
    assert!(
        message.contains("byte offset 18 (line 2) is not UTF-8"),
        "{message}"
    );
    assert_eq!(finding["line"], 2);
    assert!(
        finding["hint"]
            .as_str()
            .unwrap()
            .contains("iconv -f LATIN1 -t UTF-8")
    );
}

#[test]
fn utf16_env_file_is_reported_as_utf16() {
    let sandbox = Sandbox::with_repo();
    for (name, bom) in [("bom.yaml", &[0xFF, 0xFE][..]), ("plain.yaml", &[][..])] {
        let text: Vec<u8> = "global:\n  env: prod\n"
            .encode_utf16()
            .flat_map(u16::to_le_bytes)
            .collect();
        write_bytes(
            &sandbox,
            &format!("envs/prod/{name}"),
            &[bom, &text].concat(),
        );
    }
    for name in ["bom.yaml", "plain.yaml"] {
        let finding = not_text_finding(&sandbox, &format!("envs/prod/{name}"));
        assert!(
            finding["message"]
                .as_str()
                .unwrap()
                .contains("looks like UTF-16"),
            "{finding:#}"
        );
        assert!(
            finding["hint"]
                .as_str()
                .unwrap()
                .contains("iconv -f UTF-16")
        );
    }
}

#[test]
fn binary_env_file_is_reported_as_binary() {
    let sandbox = Sandbox::with_repo();
    let binary = std::fs::read(env!("CARGO_BIN_EXE_stackctl")).unwrap();
    write_bytes(&sandbox, "envs/prod/binary.yaml", &binary[..4096]);
    let finding = not_text_finding(&sandbox, "envs/prod/binary.yaml");
    assert!(
        finding["message"]
            .as_str()
            .unwrap()
            .contains("looks binary (a NUL byte at byte offset"),
        "{finding:#}"
    );
}

#[test]
fn empty_env_file_is_reported_as_an_empty_layer_warning() {
    let sandbox = Sandbox::with_repo();
    sandbox.write("envs/prod/empty.yaml", "");
    sandbox.write("envs/prod/comments.yaml", "# nothing here yet\n");
    let (run, doc) = validate_json(&sandbox);
    // The chart's own requirements still fail these targets; the warning says why.
    run.expect(1);
    for file in ["envs/prod/empty.yaml", "envs/prod/comments.yaml"] {
        let empty: Vec<&Value> = diagnostics_in(&doc, file)
            .into_iter()
            .filter(|d| d["rule"] == "values/empty-layer")
            .collect();
        assert_eq!(empty.len(), 1, "{file}: {doc:#}");
        assert_eq!(empty[0]["severity"], "warning");
        assert_eq!(empty[0]["line"], 1);
        assert!(empty[0]["hint"].as_str().unwrap().contains("`{}`"));
    }
}

#[test]
fn binary_chart_yaml_is_a_configuration_error_naming_it() {
    let sandbox = Sandbox::with_repo();
    write_bytes(
        &sandbox,
        "charts/jetscale/Chart.yaml",
        b"apiVersion: v2\n\x00\x01\x02\xff",
    );
    let run = validate(&sandbox);
    run.expect(2);
    stderr_says(
        &run,
        &[
            "charts/jetscale/Chart.yaml",
            "looks binary (a NUL byte at byte offset 15, line 2)",
            "hint:",
        ],
    );
}

#[test]
fn latin1_stackctl_toml_is_a_configuration_error_at_its_line() {
    let sandbox = Sandbox::with_repo();
    let config = sandbox.read("stackctl.toml");
    write_bytes(
        &sandbox,
        "stackctl.toml",
        &[config.as_bytes(), b"# caf\xe9\n"].concat(),
    );
    let run = validate(&sandbox);
    run.expect(2);
    let line = config.lines().count() + 1;
    stderr_says(
        &run,
        &[&format!("stackctl.toml:{line}: "), "is not UTF-8", "iconv"],
    );
}

#[test]
fn binary_stackctl_toml_is_a_configuration_error_naming_it() {
    let sandbox = Sandbox::with_repo();
    write_bytes(
        &sandbox,
        "stackctl.toml",
        b"\x7fELF\x02\x01\x01\x00\x00\x00\x00",
    );
    let run = validate(&sandbox);
    run.expect(2);
    stderr_says(&run, &["stackctl.toml", "looks binary"]);
}

#[test]
fn render_of_a_file_outside_the_repository_is_a_usage_error_naming_what_is_accepted() {
    let sandbox = Sandbox::with_repo();
    let run = run(&sandbox, &["render", "/etc/passwd", "--offline"]);
    run.expect(2);
    stderr_says(
        &run,
        &[
            "/etc/passwd is outside the repository",
            "a target is an env file under envs/<dir>/",
            "a values file of charts/jetscale/",
            "or a variant: ",
        ],
    );
    assert!(!run.stdout.contains("root:"), "{}", run.stdout);
}

#[test]
fn render_of_a_repository_file_that_is_no_values_file_is_a_usage_error() {
    let sandbox = Sandbox::with_repo();
    for spec in ["kind/kind-config.yaml", "envs/README.md"] {
        let run = run(&sandbox, &["render", spec, "--offline"]);
        run.expect(2);
        stderr_says(&run, &[spec, "a target is an env file under envs/<dir>/"]);
    }
}

#[test]
fn render_of_a_fifo_env_file_is_an_error_not_a_hang() {
    let sandbox = Sandbox::with_repo();
    mkfifo(&sandbox.path("envs/prod/pipe.yaml"));
    let run = run(&sandbox, &["render", "envs/prod/pipe.yaml", "--offline"]);
    run.expect(2);
    stderr_says(
        &run,
        &["envs/prod/pipe.yaml is a FIFO (named pipe), not a regular file"],
    );
}

#[test]
fn syntax_error_on_a_line_holding_a_password_never_shows_the_password_in_any_format() {
    // The file does not parse, so its literals are never scanned for secrets: the line the
    // error quotes must hide the value by itself.
    let password = "Zq8-sentinel-Pw-4471";
    for line in [
        format!("    DB_PASSWORD: \"{password}\" ]"),
        format!("    DB_PASSWORD: {{value: \"{password}\""),
    ] {
        let sandbox = Sandbox::with_repo();
        sandbox.write(
            "envs/staging/leak.yaml",
            &format!("backend-api:\n  env:\n{line}\n"),
        );
        for format in ["human", "json", "sarif", "junit", "github"] {
            let run = run(
                &sandbox,
                &["--format", format, "validate", "envs", "aws", "--offline"],
            );
            run.expect(1);
            assert!(
                !run.all().contains(password),
                "{format} leaked it:\n{}",
                run.all()
            );
            assert!(run.all().contains("leak.yaml"), "{format}:\n{}", run.all());
        }
        let report = validate(&sandbox).stdout;
        for part in [
            "error[values/syntax]",
            "envs/staging/leak.yaml:3:",
            "DB_PASSWORD: [REDACTED]",
        ] {
            assert!(report.contains(part), "lacks {part:?}:\n{report}");
        }
    }
}
