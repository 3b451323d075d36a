//! A bucket of its own on the loopback S3 server that deploy/testenv/up.sh starts
//! (`TESTENV_S3_*`): each test creates one, so tests never see each other's objects.

use reportbox::store::settings::{Backend, Credentials, S3Settings, StorageSettings};
use reportbox::store::ObjectStore;
use std::path::Path;

pub struct Bucket {
    pub name: String,
    pub endpoint: String,
    access_key: String,
    secret_key: String,
}

fn var(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| {
        panic!("{name} is not set: run the tests with deploy/test.sh (deploy/testenv/up.sh)")
    })
}

impl Bucket {
    /// Creates a fresh bucket named after `tag` (S3 names: lower case, digits, hyphens).
    pub async fn create(tag: &str) -> Bucket {
        reportbox::net::install_tls_provider();
        let unique: String = format!("rb-{tag}-{}", super::uniq())
            .to_lowercase()
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
            .take(63)
            .collect();
        let bucket = Bucket {
            name: unique.trim_end_matches('-').to_string(),
            endpoint: var("TESTENV_S3_ENDPOINT"),
            access_key: var("TESTENV_S3_ACCESS_KEY"),
            secret_key: var("TESTENV_S3_SECRET_KEY"),
        };
        // CreateBucket is not part of reportbox (a deployment's bucket is the operator's): a
        // plain PUT, which the loopback server accepts unsigned.
        let url = format!("{}/{}", bucket.endpoint, bucket.name);
        let response = reqwest::Client::new()
            .put(&url)
            .send()
            .await
            .unwrap_or_else(|e| panic!("create bucket {url}: {e}"));
        assert!(
            response.status().is_success(),
            "create bucket {url}: {}",
            response.status()
        );
        bucket
    }

    /// `[storage]` for this bucket; `dir` is the machine's own (unused by the S3 backend).
    pub fn settings(&self, dir: &Path) -> StorageSettings {
        StorageSettings {
            dir: dir.to_path_buf(),
            backend: Backend::S3(S3Settings {
                endpoint: Some(self.endpoint.clone()),
                bucket: self.name.clone(),
                region: "us-east-1".into(),
                path_style: true,
                credentials: Some(Credentials {
                    access_key_id: reportbox::secret::Secret::new(self.access_key.clone()),
                    secret_access_key: reportbox::secret::Secret::new(self.secret_key.clone()),
                }),
            }),
        }
    }

    pub fn objects(&self) -> ObjectStore {
        ObjectStore::open(&self.settings(Path::new("/nonexistent"))).unwrap()
    }

    /// The variables that point a `reportbox` process at this bucket, as an operator sets them.
    pub fn env(&self) -> Vec<(String, String)> {
        [
            ("REPORTBOX_STORAGE__BACKEND", "s3"),
            ("REPORTBOX_STORAGE__S3__ENDPOINT", self.endpoint.as_str()),
            ("REPORTBOX_STORAGE__S3__BUCKET", self.name.as_str()),
            ("REPORTBOX_STORAGE__S3__PATH_STYLE", "true"),
            ("AWS_ACCESS_KEY_ID", self.access_key.as_str()),
            ("AWS_SECRET_ACCESS_KEY", self.secret_key.as_str()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
    }
}
