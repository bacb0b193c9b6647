//! The Tiltfile of the dev loop: Starlark that parses, and names the release, values file and
//! workloads the `local-dev` variant renders. (Tilt itself cannot run here; these checks keep
//! the file in step with the chart.)

use std::collections::BTreeSet;

use crate::support::{self, Sandbox, repo_root};

fn tiltfile() -> String {
    std::fs::read_to_string(repo_root().join("Tiltfile")).expect("Tiltfile")
}

#[test]
fn the_tiltfile_parses_as_starlark_does() {
    // Starlark's syntax is a subset of Python's: Python's parser rejects what Tilt would.
    let output = std::process::Command::new("python3")
        .args([
            "-c",
            "import ast, sys; ast.parse(sys.stdin.read(), 'Tiltfile')",
        ])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut child| {
            use std::io::Write;
            child
                .stdin
                .take()
                .unwrap()
                .write_all(tiltfile().as_bytes())?;
            child.wait_with_output()
        })
        .expect("python3 runs");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

#[test]
fn the_tiltfile_names_what_the_local_dev_variant_renders() {
    let text = tiltfile();
    let config = std::fs::read_to_string(repo_root().join("stackctl.toml")).unwrap();
    let variant = config
        .split("[variants.local-dev]")
        .nth(1)
        .expect("stackctl.toml has the local-dev variant");
    for (key, tilt) in [("release", "RELEASE"), ("namespace", "NAMESPACE")] {
        let value = variant
            .lines()
            .find_map(|l| l.strip_prefix(&format!("{key} = ")))
            .unwrap()
            .trim_matches('"');
        assert!(
            text.contains(&format!("{tilt} = \"{value}\"")),
            "the Tiltfile's {tilt} is not the variant's {key} {value}"
        );
    }
    assert!(text.contains("\"/values.local.dev.yaml\""));

    let sandbox = Sandbox::with_repo();
    let run = sandbox.stackctl_with_helm(
        &support::helm4(),
        ["--format", "json", "render", "local-dev", "--offline"],
    );
    run.success();
    let rendered: BTreeSet<String> = run.json()["objects"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|o| ["Deployment", "StatefulSet"].contains(&o["object"]["kind"].as_str().unwrap()))
        .map(|o| {
            o["object"]["metadata"]["name"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    let resource = regex::Regex::new(r#"k8s_resource\(RELEASE \+ "(-[a-z-]+)""#).unwrap();
    let named: Vec<String> = resource
        .captures_iter(&text)
        .map(|c| format!("jetscale-local{}", &c[1]))
        .collect();
    assert!(named.len() >= 5, "{named:?}");
    for name in &named {
        assert!(
            rendered.contains(name),
            "the Tiltfile forwards {name}, which is not rendered: {rendered:?}"
        );
    }
    let images = regex::Regex::new(r#"docker_build\(\s*"([^"]+)""#).unwrap();
    let built: Vec<String> = images
        .captures_iter(&text)
        .map(|c| c[1].to_string())
        .collect();
    let values =
        std::fs::read_to_string(repo_root().join("charts/jetscale/values.local.dev.yaml")).unwrap();
    for image in &built {
        assert!(
            values.contains(&format!("repository: {image}")),
            "{image} is not an image of values.local.dev.yaml"
        );
    }
}
