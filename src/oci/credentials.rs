//! The credential chain for one registry host, first match wins:
//!
//! 1. `GITHUB_TOKEN` or `GH_TOKEN` (with `GITHUB_USER`, else the login the GitHub API reports
//!    for the token), only for `ghcr.io` and hosts `stackctl.toml` marks as GitHub registries;
//! 2. helm's registry config (`helm registry login`);
//! 3. docker's `config.json` (`docker login`), including credential helpers that are installed;
//! 4. anonymous.
//!
//! Credentials are looked up for the host actually contacted (a mirror gets the mirror's), so
//! one host's secret is never sent to another. Every secret read is registered for redaction.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use base64::Engine as _;
use serde::Deserialize;
use tokio::sync::Mutex;

use crate::environment::Environment;
use crate::error::{Error, ErrorKind, Result};
use crate::process::{Cancel, Command};
use crate::redact;

/// Where a credential came from, for messages that tell the user what to fix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CredentialSource {
    /// `GITHUB_TOKEN` or `GH_TOKEN`, possibly read from `.env`.
    GitHubToken {
        variable: &'static str,
        from_dotenv: bool,
    },
    HelmRegistryConfig(PathBuf),
    DockerConfig(PathBuf),
    DockerCredentialHelper(String),
}

impl std::fmt::Display for CredentialSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CredentialSource::GitHubToken {
                variable,
                from_dotenv: true,
            } => write!(f, "{variable} from .env"),
            CredentialSource::GitHubToken { variable, .. } => write!(f, "{variable}"),
            CredentialSource::HelmRegistryConfig(path) => {
                write!(f, "helm's registry config {}", path.display())
            }
            CredentialSource::DockerConfig(path) => write!(f, "docker's config {}", path.display()),
            CredentialSource::DockerCredentialHelper(helper) => {
                write!(f, "docker credential helper docker-credential-{helper}")
            }
        }
    }
}

/// A username and password (or token) for one registry host.
#[derive(Clone, PartialEq, Eq)]
pub struct Credential {
    pub username: String,
    pub password: String,
    pub source: CredentialSource,
}

impl std::fmt::Debug for Credential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print the password, not even in debug output.
        f.debug_struct("Credential")
            .field("username", &self.username)
            .field("source", &self.source)
            .finish_non_exhaustive()
    }
}

/// Timeouts of the GitHub API lookup.
const GITHUB_CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
const GITHUB_REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// Credential helpers are local programs; one that hangs is reported, not waited on.
const HELPER_TIMEOUT: Duration = Duration::from_secs(10);

/// Looks up credentials per host, once per host per run.
pub struct CredentialChain {
    env: Environment,
    /// Credential helpers are programs: they are killed when the run is interrupted.
    cancel: Cancel,
    cache: Mutex<HashMap<String, Option<Credential>>>,
    github_login: Mutex<Option<String>>,
}

impl CredentialChain {
    pub fn new(env: Environment, cancel: Cancel) -> CredentialChain {
        CredentialChain {
            env,
            cancel,
            cache: Mutex::new(HashMap::new()),
            github_login: Mutex::new(None),
        }
    }

    /// The credential for `host`, or `None` for anonymous access. `github` says whether the
    /// host accepts a GitHub token.
    pub async fn lookup(&self, host: &str, github: bool) -> Result<Option<Credential>> {
        if let Some(found) = self.cache.lock().await.get(host) {
            return Ok(found.clone());
        }
        let found = self.find(host, github).await?;
        self.cache
            .lock()
            .await
            .insert(host.to_string(), found.clone());
        Ok(found)
    }

    async fn find(&self, host: &str, github: bool) -> Result<Option<Credential>> {
        if github && let Some(credential) = self.github_token().await? {
            return Ok(Some(credential));
        }
        let helm_config = helm_registry_config_path(&self.env);
        if let Some(credential) =
            read_auth_file(&helm_config, host, CredentialSource::HelmRegistryConfig)?
        {
            return Ok(Some(credential));
        }
        let docker_config = docker_config_path(&self.env);
        if let Some(credential) =
            read_auth_file(&docker_config, host, CredentialSource::DockerConfig)?
        {
            return Ok(Some(credential));
        }
        docker_helper(&docker_config, host, &self.cancel).await
    }

    /// The credential of `GITHUB_TOKEN` (else `GH_TOKEN`) alone, with its login (from
    /// `GITHUB_USER`, else the GitHub API): what `test ci` writes into the cluster's image pull
    /// secret. `None` when neither variable is set.
    pub async fn github_token(&self) -> Result<Option<Credential>> {
        let Some((variable, token)) = ["GITHUB_TOKEN", "GH_TOKEN"]
            .into_iter()
            .find_map(|name| self.env.get(name).map(|t| (name, t.to_string())))
        else {
            return Ok(None);
        };
        redact::register(&token);
        let username = match self.env.get("GITHUB_USER") {
            Some(user) => user.to_string(),
            None => {
                let mut cached = self.github_login.lock().await;
                if cached.is_none() {
                    *cached = Some(self.github_login(variable, &token).await?);
                }
                cached.clone().unwrap_or_default()
            }
        };
        Ok(Some(Credential {
            username,
            password: token,
            source: CredentialSource::GitHubToken {
                variable,
                from_dotenv: self.env.is_from_dotenv(variable),
            },
        }))
    }

    /// The login of the token's owner, from `GET {GITHUB_API_URL}/user`.
    async fn github_login(&self, variable: &str, token: &str) -> Result<String> {
        let api = self
            .env
            .get("GITHUB_API_URL")
            .unwrap_or("https://api.github.com")
            .trim_end_matches('/')
            .to_string();
        let url = format!("{api}/user");
        let hint = format!(
            "set GITHUB_USER to your GitHub login (in .env), or check that {variable} is a valid token"
        );
        let client = reqwest::Client::builder()
            .connect_timeout(GITHUB_CONNECT_TIMEOUT)
            .timeout(GITHUB_REQUEST_TIMEOUT)
            .user_agent(concat!("stackctl/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| Error::environment(format!("cannot create an HTTP client: {e}")))?;
        let response = client
            .get(&url)
            .header("Authorization", format!("token {token}"))
            .header("Accept", "application/vnd.github+json")
            .send()
            .await
            .map_err(|e| {
                Error::new(
                    ErrorKind::Unreachable,
                    format!(
                        "cannot look up the GitHub login for {variable}: {url} is unreachable ({})",
                        describe_reqwest(&e)
                    ),
                )
                .with_hint(hint.clone())
            })?;
        let status = response.status();
        let body = response.text().await.unwrap_or_default();
        if !status.is_success() {
            let body = redact::redact(body.trim()).into_owned();
            let body: String = body.chars().take(200).collect();
            let kind = match status.as_u16() {
                401 | 403 => ErrorKind::CredentialsRejected,
                _ => ErrorKind::Environment,
            };
            return Err(Error::new(
                kind,
                format!(
                    "cannot look up the GitHub login for {variable}: {url} answered {status}: {body}"
                ),
            )
            .with_hint(hint));
        }
        #[derive(Deserialize)]
        struct User {
            #[serde(default)]
            login: String,
        }
        let user: User = serde_json::from_str(&body).map_err(|e| {
            Error::environment(format!("{url} answered with unexpected JSON: {e}"))
                .with_hint(hint.clone())
        })?;
        if user.login.trim().is_empty() {
            return Err(Error::environment(format!(
                "{url} reported no login for the token in {variable}"
            ))
            .with_hint(hint));
        }
        Ok(user.login.trim().to_string())
    }
}

/// `HELM_REGISTRY_CONFIG`, else `$HELM_CONFIG_HOME/registry/config.json`, else helm's default
/// (`$XDG_CONFIG_HOME/helm/…`, `~/Library/Preferences/helm/…` on macOS, `~/.config/helm/…`).
pub fn helm_registry_config_path(env: &Environment) -> PathBuf {
    if let Some(path) = env.get("HELM_REGISTRY_CONFIG") {
        return PathBuf::from(path);
    }
    let config_home = match env.get("HELM_CONFIG_HOME") {
        Some(dir) => PathBuf::from(dir),
        None => match env.get("XDG_CONFIG_HOME") {
            Some(dir) => Path::new(dir).join("helm"),
            None if cfg!(target_os = "macos") => home(env).join("Library/Preferences/helm"),
            None => home(env).join(".config/helm"),
        },
    };
    config_home.join("registry/config.json")
}

/// `$DOCKER_CONFIG/config.json`, else `~/.docker/config.json`.
pub fn docker_config_path(env: &Environment) -> PathBuf {
    match env.get("DOCKER_CONFIG") {
        Some(dir) => Path::new(dir).join("config.json"),
        None => home(env).join(".docker/config.json"),
    }
}

fn home(env: &Environment) -> PathBuf {
    env.get("HOME")
        .map(PathBuf::from)
        .or_else(dirs::home_dir)
        .unwrap_or_else(|| PathBuf::from("/"))
}

/// The shape shared by docker's `config.json` and helm's registry config.
#[derive(Debug, Default, Deserialize)]
struct AuthFile {
    #[serde(default)]
    auths: HashMap<String, AuthEntry>,
    #[serde(default, rename = "credHelpers")]
    cred_helpers: HashMap<String, String>,
    #[serde(default, rename = "credsStore")]
    creds_store: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
struct AuthEntry {
    #[serde(default)]
    auth: Option<String>,
    #[serde(default)]
    username: Option<String>,
    #[serde(default)]
    password: Option<String>,
}

fn load_auth_file(path: &Path) -> Result<Option<AuthFile>> {
    let text = match crate::fsutil::read_text(path) {
        Ok(text) => text,
        Err(problem) if problem.is_missing() => return Ok(None),
        Err(problem) => return Err(problem.into_error(path)),
    };
    if text.trim().is_empty() {
        return Ok(None);
    }
    serde_json::from_str(&text).map(Some).map_err(|e| {
        // serde_json quotes no content in its messages, only positions: safe to show.
        Error::environment(format!("{} is not valid JSON: {e}", path.display()))
            .at(path, Some(e.line()))
    })
}

/// Registry keys in these files may carry a scheme or a path (`https://host/v1/`).
fn key_host(key: &str) -> &str {
    let key = key
        .trim_start_matches("https://")
        .trim_start_matches("http://");
    key.split('/').next().unwrap_or(key)
}

fn read_auth_file(
    path: &Path,
    host: &str,
    source: fn(PathBuf) -> CredentialSource,
) -> Result<Option<Credential>> {
    let Some(file) = load_auth_file(path)? else {
        return Ok(None);
    };
    let Some(entry) = file
        .auths
        .iter()
        .find(|(key, _)| key_host(key) == host)
        .map(|(_, entry)| entry)
    else {
        return Ok(None);
    };
    let (username, password) = if let Some(auth) = entry.auth.as_deref().filter(|a| !a.is_empty()) {
        redact::register(auth);
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(auth.trim())
            .ok()
            .and_then(|bytes| String::from_utf8(bytes).ok())
            .ok_or_else(|| {
                Error::environment(format!(
                    "{}: the auth entry for {host} is not base64 of user:password",
                    path.display()
                ))
                .with_hint(format!("log in again: `helm registry login {host}`"))
            })?;
        match decoded.split_once(':') {
            Some((user, pass)) => (user.to_string(), pass.to_string()),
            None => {
                return Err(Error::environment(format!(
                    "{}: the auth entry for {host} is not user:password",
                    path.display()
                )));
            }
        }
    } else {
        match (&entry.username, &entry.password) {
            (Some(user), Some(pass)) => (user.clone(), pass.clone()),
            // An entry without a secret: the credential lives in a helper (handled later).
            _ => return Ok(None),
        }
    };
    redact::register(&password);
    Ok(Some(Credential {
        username,
        password,
        source: source(path.to_path_buf()),
    }))
}

/// Ask docker's credential helper for `host` (`credHelpers`, else `credsStore`), when that
/// helper is installed. A helper that is not installed is skipped: it cannot be run.
async fn docker_helper(config: &Path, host: &str, cancel: &Cancel) -> Result<Option<Credential>> {
    let Some(file) = load_auth_file(config)? else {
        return Ok(None);
    };
    let helper = file
        .cred_helpers
        .iter()
        .find(|(key, _)| key_host(key) == host)
        .map(|(_, helper)| helper.clone())
        .or(file.creds_store.clone());
    let Some(helper) = helper.filter(|h| !h.is_empty()) else {
        return Ok(None);
    };
    let program = format!("docker-credential-{helper}");
    let Some(path) = crate::process::find_on_path(&program) else {
        tracing::debug!("{program} is not installed; skipping it for {host}");
        return Ok(None);
    };
    let output = Command::new(&path)
        .arg("get")
        .stdin(host.as_bytes())
        .timeout(HELPER_TIMEOUT)
        .label(program.clone())
        .run(cancel)
        .await
        .map_err(Error::from)?;
    if !output.status.success() {
        // "credentials not found in native keychain": no credential for this host.
        return Ok(None);
    }
    #[derive(Deserialize)]
    struct HelperAnswer {
        #[serde(rename = "Username", default)]
        username: String,
        #[serde(rename = "Secret", default)]
        secret: String,
    }
    let answer: HelperAnswer = match serde_json::from_slice(&output.stdout) {
        Ok(answer) => answer,
        Err(_) => return Ok(None),
    };
    if answer.secret.is_empty() {
        return Ok(None);
    }
    redact::register(&answer.secret);
    Ok(Some(Credential {
        username: answer.username,
        password: answer.secret,
        source: CredentialSource::DockerCredentialHelper(helper),
    }))
}

pub(crate) fn describe_reqwest(err: &reqwest::Error) -> String {
    if err.is_timeout() {
        return "timed out".to_string();
    }
    // The innermost cause says what happened ("Connection refused"); reqwest's own text
    // only says that the request failed.
    let mut cause: &dyn std::error::Error = err;
    while let Some(next) = cause.source() {
        cause = next;
    }
    let text = cause.to_string();
    redact::redact(&text).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(path: &Path, text: &str) {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }

    fn auth(user: &str, pass: &str) -> String {
        base64::engine::general_purpose::STANDARD.encode(format!("{user}:{pass}"))
    }

    #[tokio::test]
    async fn chain_order_and_host_isolation() {
        let dir = tempfile::tempdir().unwrap();
        let helm = dir.path().join("helm/registry/config.json");
        let docker = dir.path().join("docker/config.json");
        write(
            &helm,
            &format!(
                r#"{{"auths":{{"registry.example:5000":{{"auth":"{}"}}}}}}"#,
                auth("helm-user", "helm-pass-123456")
            ),
        );
        write(
            &docker,
            &format!(
                r#"{{"auths":{{"https://docker.example/v1/":{{"auth":"{}"}},"registry.example:5000":{{"auth":"{}"}}}}}}"#,
                auth("docker-user", "docker-pass-123456"),
                auth("shadowed", "shadowed-pass-1234")
            ),
        );
        let env = Environment::from_pairs([
            ("HELM_REGISTRY_CONFIG", helm.to_str().unwrap()),
            ("DOCKER_CONFIG", docker.parent().unwrap().to_str().unwrap()),
            ("GITHUB_TOKEN", "ghp_tokenForGithubOnly1"),
            ("GITHUB_USER", "octocat"),
            ("HOME", dir.path().to_str().unwrap()),
        ]);
        let chain = CredentialChain::new(env, Cancel::new());

        let github = chain.lookup("ghcr.io", true).await.unwrap().unwrap();
        assert_eq!(github.username, "octocat");
        assert_eq!(github.password, "ghp_tokenForGithubOnly1");

        // The GitHub token is never offered to a host that is not a GitHub registry.
        let helm_cred = chain
            .lookup("registry.example:5000", false)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(helm_cred.username, "helm-user");
        assert!(matches!(
            helm_cred.source,
            CredentialSource::HelmRegistryConfig(_)
        ));

        let docker_cred = chain
            .lookup("docker.example", false)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(docker_cred.username, "docker-user");

        assert_eq!(
            chain.lookup("elsewhere.example", false).await.unwrap(),
            None
        );
        assert_eq!(
            redact::redact("docker-pass-123456 helm-pass-123456"),
            "[REDACTED] [REDACTED]"
        );
        assert!(!format!("{helm_cred:?}").contains("helm-pass"));
    }

    #[test]
    fn default_paths_follow_helm_and_docker() {
        let env = Environment::from_pairs([("HOME", "/home/u")]);
        if !cfg!(target_os = "macos") {
            assert_eq!(
                helm_registry_config_path(&env),
                PathBuf::from("/home/u/.config/helm/registry/config.json")
            );
        }
        assert_eq!(
            docker_config_path(&env),
            PathBuf::from("/home/u/.docker/config.json")
        );
        let env = Environment::from_pairs([("HOME", "/home/u"), ("HELM_CONFIG_HOME", "/h")]);
        assert_eq!(
            helm_registry_config_path(&env),
            PathBuf::from("/h/registry/config.json")
        );
    }

    #[tokio::test]
    async fn uninstalled_credential_helpers_are_skipped() {
        let dir = tempfile::tempdir().unwrap();
        let docker = dir.path().join("config.json");
        write(
            &docker,
            r#"{"credsStore":"stackctl-test-missing-helper","auths":{}}"#,
        );
        let env = Environment::from_pairs([
            ("DOCKER_CONFIG", dir.path().to_str().unwrap()),
            ("HOME", dir.path().to_str().unwrap()),
        ]);
        let chain = CredentialChain::new(env, Cancel::new());
        assert_eq!(chain.lookup("ghcr.io", false).await.unwrap(), None);
    }
}
