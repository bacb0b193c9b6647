//! The images `test local` deploys: built from the sibling repositories (`../backend`,
//! `../frontend`) with `docker build`, tagged from each repository's `git describe` (never
//! `latest`, so the cluster never runs a stale image it cached), pushed to the local registry,
//! and handed to the chart as one more values layer.
//!
//! The build metadata follows what the platform's images expect: the backend gets
//! `GIT_REF_NAME`, `GIT_DESCRIBE`, `GIT_REF`, `GIT_SHA` and `BUILD_TIME` as build arguments and
//! `JETSCALE_{VERSION,GIT_SHA,GIT_REF,BRANCH,BUILD_TIME}` in its environment; the frontend
//! `REACT_APP_{VERSION,GIT_SHA,BRANCH,BUILD_TIME}` as build arguments.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::config::{ImageConfig, ImageFlavour};
use crate::error::{Error, ErrorKind, Result};
use crate::process::{Cancel, Command};

/// How long one `docker build` may take.
const BUILD_TIMEOUT: Duration = Duration::from_secs(30 * 60);
/// How long one `docker push` to the local registry may take.
const PUSH_TIMEOUT: Duration = Duration::from_secs(10 * 60);
/// How long one `git` question may take.
const GIT_TIMEOUT: Duration = Duration::from_secs(10);

/// What a repository's git says about the commit an image is built from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GitMeta {
    /// `git rev-parse --abbrev-ref HEAD`.
    pub branch: String,
    /// `git describe --tags --always --dirty`.
    pub describe: String,
    /// `git rev-parse --short HEAD`.
    pub sha: String,
}

impl GitMeta {
    /// `refs/heads/<branch>`.
    pub fn git_ref(&self) -> String {
        format!("refs/heads/{}", self.branch)
    }
}

/// One image built and pushed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BuiltImage {
    /// The image's name in `[test.local.images]` (`backend`).
    pub name: String,
    pub repository: String,
    pub tag: String,
    pub source: PathBuf,
    pub git: GitMeta,
    pub build_time: String,
    /// The values maps (`backend-api.image`) the image is set in.
    pub values: Vec<String>,
    pub flavour: ImageFlavour,
}

impl BuiltImage {
    pub fn reference(&self) -> String {
        format!("{}:{}", self.repository, self.tag)
    }
}

/// The sibling repository of an image: `context` as written, else its last component in
/// lower, Title and UPPER case (`../backend`, `../Backend`, `../BACKEND`), relative to `root`.
pub fn find_source(root: &Path, context: &Path) -> Option<PathBuf> {
    let written = root.join(context);
    if written.is_dir() {
        return Some(written);
    }
    let name = context.file_name()?.to_string_lossy().into_owned();
    let parent = written.parent()?;
    let title = {
        let mut chars = name.chars();
        chars
            .next()
            .map(|first| {
                first
                    .to_uppercase()
                    .chain(chars.flat_map(char::to_lowercase))
                    .collect()
            })
            .unwrap_or_default()
    };
    [name.to_lowercase(), title, name.to_uppercase()]
        .into_iter()
        .map(|candidate| parent.join(candidate))
        .find(|dir| dir.is_dir())
}

/// Ask git about the commit checked out in `repo`.
pub async fn git_meta(repo: &Path, cancel: &Cancel) -> Result<GitMeta> {
    let ask = |args: &[&str]| {
        Command::new("git")
            .args(args)
            .current_dir(repo)
            .timeout(GIT_TIMEOUT)
            .label(format!("git {}", args.join(" ")))
    };
    let mut answers = Vec::new();
    for args in [
        &["rev-parse", "--abbrev-ref", "HEAD"][..],
        &["describe", "--tags", "--always", "--dirty"][..],
        &["rev-parse", "--short", "HEAD"][..],
    ] {
        let output = ask(args).run(cancel).await?;
        if !output.success() {
            return Err(Error::environment(format!(
                "git {} failed in {}: {}",
                args.join(" "),
                repo.display(),
                output.stderr.trim()
            ))
            .with_hint("images are built from a git checkout: clone the repository there"));
        }
        answers.push(String::from_utf8_lossy(&output.stdout).trim().to_string());
    }
    Ok(GitMeta {
        sha: answers.pop().unwrap_or_default(),
        describe: answers.pop().unwrap_or_default(),
        branch: answers.pop().unwrap_or_default(),
    })
}

/// A tag made of `git describe` (`v4.6.12-3-gabc1234-dirty`), in the characters a docker tag
/// allows.
pub fn tag_of(git: &GitMeta) -> String {
    let tag: String = git
        .describe
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
                c
            } else {
                '-'
            }
        })
        .collect();
    let tag = tag.trim_start_matches(['.', '-']).to_string();
    match tag.is_empty() {
        true => git.sha.clone(),
        false => tag.chars().take(128).collect(),
    }
}

/// The `--build-arg`s of an image.
pub fn build_args(flavour: ImageFlavour, git: &GitMeta, build_time: &str) -> Vec<(String, String)> {
    let pairs: Vec<(&str, String)> = match flavour {
        ImageFlavour::Backend => vec![
            ("GIT_REF_NAME", git.branch.clone()),
            ("GIT_DESCRIBE", git.describe.clone()),
            ("GIT_REF", git.git_ref()),
            ("GIT_SHA", git.sha.clone()),
            ("BUILD_TIME", build_time.to_string()),
        ],
        ImageFlavour::Frontend => vec![
            ("REACT_APP_VERSION", git.describe.clone()),
            ("REACT_APP_GIT_SHA", git.sha.clone()),
            ("REACT_APP_BRANCH", git.branch.clone()),
            ("REACT_APP_BUILD_TIME", build_time.to_string()),
        ],
    };
    pairs.into_iter().map(|(k, v)| (k.to_string(), v)).collect()
}

/// Build and push one image with the real `docker`.
pub async fn build_and_push(
    root: &Path,
    name: &str,
    image: &ImageConfig,
    build_time: &str,
    cancel: &Cancel,
) -> Result<BuiltImage> {
    let Some(source) = find_source(root, &image.context) else {
        return Err(Error::new(
            ErrorKind::NotFound,
            format!(
                "the {name} image is built from {}, which does not exist",
                root.join(&image.context).display()
            ),
        )
        .with_hint(format!(
            "clone the {name} repository next to this one, set [test.local.images.{name}] context in stackctl.toml, or reuse the last build with --no-build"
        )));
    };
    let git = git_meta(&source, cancel).await?;
    let built = BuiltImage {
        name: name.to_string(),
        repository: image.repository.clone(),
        tag: tag_of(&git),
        source: source.clone(),
        build_time: build_time.to_string(),
        values: image.values.clone(),
        flavour: image.flavour,
        git,
    };
    let mut build = Command::new("docker")
        .arg("build")
        .arg("--target")
        .arg(&image.target)
        .arg("--tag")
        .arg(built.reference())
        .timeout(BUILD_TIMEOUT)
        .label(format!("docker build of {name}"));
    for (key, value) in build_args(image.flavour, &built.git, build_time) {
        build = build.arg("--build-arg").arg(format!("{key}={value}"));
    }
    run_docker(build.arg(&source), cancel).await?;
    let push = Command::new("docker")
        .arg("push")
        .arg(built.reference())
        .timeout(PUSH_TIMEOUT)
        .label(format!("docker push of {name}"));
    run_docker(push, cancel).await?;
    Ok(built)
}

async fn run_docker(command: Command, cancel: &Cancel) -> Result<()> {
    let output = command.run(cancel).await.map_err(|e| {
        let error = Error::from(e);
        if error.kind == ErrorKind::ToolMissing {
            error.with_hint(
                "install Docker (the docker CLI and an engine) to build images for test local",
            )
        } else {
            error
        }
    })?;
    if !output.success() {
        let tail: Vec<&str> = output.stderr.lines().rev().take(20).collect();
        let tail: Vec<&str> = tail.into_iter().rev().collect();
        return Err(Error::environment(format!(
            "{} failed ({}):\n{}",
            command.get_label(),
            output.status,
            tail.join("\n")
        )));
    }
    Ok(())
}

/// The values layer that sets every built image (and the backend's build metadata) in the
/// chart: YAML text.
pub fn values_layer(images: &[BuiltImage]) -> String {
    let mut root = serde_json::Map::new();
    for image in images {
        for path in &image.values {
            let keys: Vec<&str> = path.split('.').collect();
            let image_map = serde_json::json!({
                "repository": image.repository,
                "tag": image.tag,
                "pullPolicy": "IfNotPresent",
            });
            insert(&mut root, &keys, image_map);
            if image.flavour == ImageFlavour::Backend
                && let Some((component, _)) = path.split_once('.')
            {
                let env = serde_json::json!({
                    "JETSCALE_VERSION": image.git.describe,
                    "JETSCALE_GIT_SHA": image.git.sha,
                    "JETSCALE_GIT_REF": image.git.git_ref(),
                    "JETSCALE_BRANCH": image.git.branch,
                    "JETSCALE_BUILD_TIME": image.build_time,
                });
                insert(&mut root, &[component, "env"], env);
            }
        }
    }
    let mut text = String::from(
        "# Written by `stackctl test local`: the images it built and pushed. Regenerated on every build.\n",
    );
    text.push_str(&serde_json::to_string_pretty(&root).expect("serialisable"));
    text.push('\n');
    text
}

/// Merge `value` at `keys` into `map`, creating maps on the way.
fn insert(
    map: &mut serde_json::Map<String, serde_json::Value>,
    keys: &[&str],
    value: serde_json::Value,
) {
    let Some((last, parents)) = keys.split_last() else {
        return;
    };
    let mut current = map;
    for key in parents {
        current = current
            .entry(key.to_string())
            .or_insert_with(|| serde_json::json!({}))
            .as_object_mut()
            .expect("values maps");
    }
    match (current.get_mut(*last), value) {
        (Some(serde_json::Value::Object(existing)), serde_json::Value::Object(new)) => {
            existing.extend(new);
        }
        (_, value) => {
            current.insert(last.to_string(), value);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn git() -> GitMeta {
        GitMeta {
            branch: "main".into(),
            describe: "v4.6.12-3-gabc1234-dirty".into(),
            sha: "abc1234".into(),
        }
    }

    #[test]
    fn tags_come_from_git_describe_in_docker_tag_characters() {
        assert_eq!(tag_of(&git()), "v4.6.12-3-gabc1234-dirty");
        let odd = GitMeta {
            describe: "feature/x+y".into(),
            ..git()
        };
        assert_eq!(tag_of(&odd), "feature-x-y");
        let none = GitMeta {
            describe: String::new(),
            ..git()
        };
        assert_eq!(tag_of(&none), "abc1234");
    }

    #[test]
    fn build_arguments_carry_the_git_metadata() {
        let args = build_args(ImageFlavour::Backend, &git(), "2026-01-01T00:00:00Z");
        assert!(args.contains(&("GIT_REF".to_string(), "refs/heads/main".to_string())));
        assert!(args.contains(&(
            "GIT_DESCRIBE".to_string(),
            "v4.6.12-3-gabc1234-dirty".to_string()
        )));
        let args = build_args(ImageFlavour::Frontend, &git(), "t");
        assert!(args.contains(&("REACT_APP_GIT_SHA".to_string(), "abc1234".to_string())));
    }

    #[test]
    fn sources_are_found_in_any_case() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("stack");
        std::fs::create_dir_all(&root).unwrap();
        std::fs::create_dir_all(dir.path().join("Backend")).unwrap();
        assert_eq!(
            find_source(&root, Path::new("../backend")),
            Some(root.join("../Backend"))
        );
        assert_eq!(find_source(&root, Path::new("../frontend")), None);
    }

    #[test]
    fn the_values_layer_sets_each_image_and_the_backend_metadata() {
        let image = BuiltImage {
            name: "backend".into(),
            repository: "localhost:5000/jetscale-backend".into(),
            tag: "v1".into(),
            source: PathBuf::from("../backend"),
            git: git(),
            build_time: "t".into(),
            values: vec!["backend-api.image".into(), "backend-ws.image".into()],
            flavour: ImageFlavour::Backend,
        };
        let text = values_layer(&[image]);
        let value: serde_json::Value = serde_saphyr::from_str(&text).expect("the layer is YAML");
        assert_eq!(value["backend-api"]["image"]["tag"], "v1");
        assert_eq!(
            value["backend-ws"]["image"]["repository"],
            "localhost:5000/jetscale-backend"
        );
        assert_eq!(
            value["backend-api"]["env"]["JETSCALE_GIT_REF"],
            "refs/heads/main"
        );
    }
}
