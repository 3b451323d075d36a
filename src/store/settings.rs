//! `[storage]`: where the originals live. `config.rs` only hands over the raw section and the
//! configuration file's directory; this module checks it, so that adding a backend touches
//! nothing outside `store/`.

use crate::secret::Secret;
use serde::Deserialize;
use std::fmt;
use std::path::{Path, PathBuf};

/// The `[storage]` section as written (`backend`, `dir`, `[storage.s3]`).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawStorage {
    pub backend: Option<String>,
    pub dir: Option<String>,
    pub s3: Option<RawS3>,
}

/// `[storage.s3]`. The keys are meant for `REPORTBOX_STORAGE__S3__ACCESS_KEY_ID` and
/// `…__SECRET_ACCESS_KEY`, never the file; `AWS_ACCESS_KEY_ID`/`AWS_SECRET_ACCESS_KEY` or a
/// `credentials_file` work too.
#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawS3 {
    pub endpoint: Option<String>,
    pub bucket: Option<String>,
    pub region: Option<String>,
    pub path_style: Option<bool>,
    pub credentials_file: Option<String>,
    pub access_key_id: Option<String>,
    pub secret_access_key: Option<String>,
}

impl fmt::Debug for RawS3 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RawS3")
            .field("endpoint", &self.endpoint)
            .field("bucket", &self.bucket)
            .field("region", &self.region)
            .field("path_style", &self.path_style)
            .field("credentials_file", &self.credentials_file)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, Clone)]
pub struct StorageSettings {
    /// The local directory: the fs backend's objects; with S3, only what `storage migrate`
    /// copies from.
    pub dir: PathBuf,
    pub backend: Backend,
}

#[derive(Debug, Clone)]
pub enum Backend {
    /// Objects under `dir`; `s3` is the bucket `storage migrate --to s3` fills, when given.
    Fs {
        s3: Option<S3Settings>,
    },
    S3(S3Settings),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct S3Settings {
    /// `http(s)://host:port` of an S3-compatible server; none for AWS itself.
    pub endpoint: Option<String>,
    pub bucket: String,
    pub region: String,
    /// `https://endpoint/bucket/key` (MinIO, Garage, most self-hosted servers) rather than
    /// `https://bucket.endpoint/key`.
    pub path_style: bool,
    pub credentials: Option<Credentials>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Credentials {
    /// Not secret by itself, but it names the account: kept out of logs with the key.
    pub access_key_id: Secret,
    pub secret_access_key: Secret,
}

impl StorageSettings {
    /// A local directory only (tests, and every deployment before S3).
    pub fn fs(dir: impl Into<PathBuf>) -> StorageSettings {
        StorageSettings {
            dir: dir.into(),
            backend: Backend::Fs { s3: None },
        }
    }

    /// Checks `raw`, pushing each problem with its key; `base` is the configuration file's
    /// directory (relative paths are relative to it). `env` supplies `AWS_ACCESS_KEY_ID` and
    /// `AWS_SECRET_ACCESS_KEY` when the section names no credentials.
    pub fn from_raw(
        raw: RawStorage,
        base: &Path,
        env: &dyn Fn(&str) -> Option<String>,
        problems: &mut Vec<String>,
    ) -> StorageSettings {
        let dir = match raw.dir.filter(|d| !d.trim().is_empty()) {
            Some(d) => base.join(d),
            None => {
                problems.push("storage.dir: required".into());
                PathBuf::new()
            }
        };
        let backend = match raw.backend.as_deref().map(str::trim).unwrap_or("fs") {
            "fs" => Backend::Fs {
                s3: raw.s3.and_then(|s3| s3_from_raw(s3, base, env, problems)),
            },
            "s3" => match s3_from_raw(raw.s3.unwrap_or_default(), base, env, problems) {
                Some(s3) => Backend::S3(s3),
                None => Backend::Fs { s3: None },
            },
            other => {
                problems.push(format!(
                    "storage.backend: \"{other}\" is neither \"fs\" nor \"s3\""
                ));
                Backend::Fs { s3: None }
            }
        };
        StorageSettings { dir, backend }
    }

    /// The bucket configured under `[storage.s3]`, whichever backend is in use.
    pub fn s3(&self) -> Option<&S3Settings> {
        match &self.backend {
            Backend::Fs { s3 } => s3.as_ref(),
            Backend::S3(s3) => Some(s3),
        }
    }
}

fn s3_from_raw(
    raw: RawS3,
    base: &Path,
    env: &dyn Fn(&str) -> Option<String>,
    problems: &mut Vec<String>,
) -> Option<S3Settings> {
    let start = problems.len();
    let bucket = raw.bucket.filter(|b| !b.trim().is_empty());
    if bucket.is_none() {
        problems.push("storage.s3.bucket: required".into());
    }
    let endpoint = raw.endpoint.filter(|e| !e.trim().is_empty());
    if let Some(e) = &endpoint {
        if !e.starts_with("http://") && !e.starts_with("https://") {
            problems.push(format!(
                "storage.s3.endpoint: \"{e}\" must start with http:// or https://"
            ));
        }
    }
    let credentials = credentials(raw.access_key_id, raw.secret_access_key, problems)
        .or_else(|| {
            let file = raw.credentials_file.filter(|f| !f.trim().is_empty())?;
            let path = base.join(&file);
            match std::fs::read_to_string(&path) {
                Ok(text) => {
                    let found = parse_credentials_file(&text);
                    if found.is_none() {
                        problems.push(format!(
                            "storage.s3.credentials_file ({}): no aws_access_key_id and \
                             aws_secret_access_key in it",
                            path.display()
                        ));
                    }
                    found
                }
                Err(e) => {
                    problems.push(format!(
                        "storage.s3.credentials_file ({}): {e}",
                        path.display()
                    ));
                    None
                }
            }
        })
        .or_else(|| {
            credentials(
                env("AWS_ACCESS_KEY_ID"),
                env("AWS_SECRET_ACCESS_KEY"),
                problems,
            )
        });
    if problems.len() > start {
        return None;
    }
    // A self-hosted server is usually reached by path; AWS itself prefers the bucket's host name.
    let path_style = raw.path_style.unwrap_or(endpoint.is_some());
    Some(S3Settings {
        endpoint,
        bucket: bucket?,
        region: raw
            .region
            .filter(|r| !r.trim().is_empty())
            .unwrap_or_else(|| "us-east-1".into()),
        path_style,
        credentials,
    })
}

/// Both keys or neither: one alone is a mistake worth naming, not a reason to sign anonymously.
fn credentials(
    id: Option<String>,
    secret: Option<String>,
    problems: &mut Vec<String>,
) -> Option<Credentials> {
    match (
        id.filter(|s| !s.is_empty()),
        secret.filter(|s| !s.is_empty()),
    ) {
        (Some(access_key_id), Some(secret_access_key)) => Some(Credentials {
            access_key_id: Secret::new(access_key_id),
            secret_access_key: Secret::new(secret_access_key),
        }),
        (None, None) => None,
        _ => {
            problems.push(
                "storage.s3: access_key_id and secret_access_key go together (one is missing)"
                    .into(),
            );
            None
        }
    }
}

/// The first `aws_access_key_id` and `aws_secret_access_key` of an AWS-style credentials file
/// (`key = value` lines; `[profile]` headers and `#` comments are skipped).
fn parse_credentials_file(text: &str) -> Option<Credentials> {
    let mut id = None;
    let mut secret = None;
    for line in text.lines() {
        let Some((key, value)) = line.split_once('=') else {
            continue;
        };
        let value = value.trim().to_string();
        match key.trim() {
            "aws_access_key_id" if id.is_none() => id = Some(value),
            "aws_secret_access_key" if secret.is_none() => secret = Some(value),
            _ => {}
        }
    }
    Some(Credentials {
        access_key_id: Secret::new(id.filter(|s| !s.is_empty())?),
        secret_access_key: Secret::new(secret.filter(|s| !s.is_empty())?),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn no_env(_: &str) -> Option<String> {
        None
    }

    #[test]
    fn s3_settings_are_checked_and_their_secrets_never_printed() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("creds"),
            "[default]\naws_access_key_id = AKIDFILE\naws_secret_access_key = s3cr3t-file\n",
        )
        .unwrap();
        let raw = RawStorage {
            backend: Some("s3".into()),
            dir: Some("storage".into()),
            s3: Some(RawS3 {
                endpoint: Some("http://127.0.0.1:9000".into()),
                bucket: Some("originals".into()),
                credentials_file: Some("creds".into()),
                ..RawS3::default()
            }),
        };
        let mut problems = Vec::new();
        let s = StorageSettings::from_raw(raw, dir.path(), &no_env, &mut problems);
        assert!(problems.is_empty(), "{problems:?}");
        let Backend::S3(s3) = &s.backend else {
            panic!("s3 expected")
        };
        assert_eq!(
            s3.credentials.as_ref().unwrap().access_key_id.expose(),
            "AKIDFILE"
        );
        assert!(s3.path_style);
        let shown = format!("{s:?}");
        assert!(
            !shown.contains("s3cr3t") && !shown.contains("AKIDFILE"),
            "{shown}"
        );
    }

    #[test]
    fn a_bad_backend_and_a_missing_bucket_are_named_with_their_keys() {
        let mut problems = Vec::new();
        let raw = RawStorage {
            backend: Some("ftp".into()),
            dir: Some("x".into()),
            s3: None,
        };
        StorageSettings::from_raw(raw, Path::new("."), &no_env, &mut problems);
        let raw = RawStorage {
            backend: Some("s3".into()),
            dir: Some("x".into()),
            s3: Some(RawS3 {
                access_key_id: Some("only-the-id".into()),
                ..RawS3::default()
            }),
        };
        StorageSettings::from_raw(raw, Path::new("."), &no_env, &mut problems);
        let all = problems.join("\n");
        assert!(all.contains("storage.backend"), "{all}");
        assert!(all.contains("storage.s3.bucket"), "{all}");
        assert!(all.contains("go together"), "{all}");
        assert!(!all.contains("only-the-id"), "{all}");
    }

    #[test]
    fn the_environment_chooses_s3_and_carries_its_keys() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("config/reportbox.toml");
        let env = [
            ("REPORTBOX_STORAGE__BACKEND", "s3"),
            ("REPORTBOX_STORAGE__S3__ENDPOINT", "http://127.0.0.1:9000"),
            ("REPORTBOX_STORAGE__S3__BUCKET", "originals"),
            ("REPORTBOX_STORAGE__S3__ACCESS_KEY_ID", "AKIDENV"),
            ("REPORTBOX_STORAGE__S3__SECRET_ACCESS_KEY", "s3cr3t-env"),
        ]
        .map(|(k, v)| (k.to_string(), v.to_string()));
        let s = crate::config::Settings::load(&path, env).unwrap();
        let Backend::S3(s3) = &s.storage.backend else {
            panic!("s3 expected: {:?}", s.storage)
        };
        assert_eq!(s3.bucket, "originals");
        assert!(s3.path_style, "an endpoint of our own is reached by path");
        assert_eq!(
            s3.credentials.as_ref().unwrap().secret_access_key.expose(),
            "s3cr3t-env"
        );
        assert!(!format!("{s:?}").contains("s3cr3t-env"));

        let aws = [
            ("REPORTBOX_STORAGE__S3__BUCKET", "originals"),
            ("AWS_ACCESS_KEY_ID", "AKIDAWS"),
            ("AWS_SECRET_ACCESS_KEY", "from-aws-env"),
        ]
        .map(|(k, v)| (k.to_string(), v.to_string()));
        let s = crate::config::Settings::load(&path, aws).unwrap();
        let Backend::Fs { s3: Some(s3) } = &s.storage.backend else {
            panic!("fs, with the bucket for migrate: {:?}", s.storage)
        };
        assert_eq!(
            s3.credentials.as_ref().unwrap().access_key_id.expose(),
            "AKIDAWS"
        );
        assert!(!s3.path_style, "AWS itself: virtual-hosted");
    }
}
