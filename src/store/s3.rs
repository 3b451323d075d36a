//! The S3 backend, with the `object_store` crate: the same keys as the local directory
//! (`objects/ab/cd/<sha256>`) in one bucket of any S3-compatible server.

use super::keys::{is_sha256, key_of};
use super::settings::S3Settings;
use super::{Durable, StoreError};
use futures_util::TryStreamExt;
use object_store::aws::{AmazonS3, AmazonS3Builder};
use object_store::path::Path;
use object_store::{ObjectStore as _, ObjectStoreExt as _, PutPayload, RetryConfig};
use std::collections::BTreeSet;
use std::time::Duration;

/// PUTs at once: a batch of 32 messages holds a few hundred files, and a loopback or LAN server
/// answers each in milliseconds, so more than this only queues at the server.
const PARALLEL: usize = 8;

#[derive(Debug)]
pub struct S3Objects {
    client: AmazonS3,
    bucket: String,
    endpoint: Option<String>,
}

impl S3Objects {
    pub fn new(s: &S3Settings) -> Result<Self, StoreError> {
        crate::net::install_tls_provider();
        let mut builder = AmazonS3Builder::new()
            .with_bucket_name(&s.bucket)
            .with_region(&s.region)
            .with_virtual_hosted_style_request(!s.path_style)
            // A few quick retries cover a dropped connection; beyond that the batch fails as
            // transient and the mailbox loop's own backoff takes over, without charging the
            // messages an attempt.
            .with_retry(RetryConfig {
                max_retries: 3,
                retry_timeout: Duration::from_secs(30),
                ..RetryConfig::default()
            });
        if let Some(endpoint) = &s.endpoint {
            builder = builder
                .with_endpoint(endpoint)
                .with_allow_http(endpoint.starts_with("http://"));
        }
        if let Some(c) = &s.credentials {
            builder = builder
                .with_access_key_id(c.access_key_id.expose())
                .with_secret_access_key(c.secret_access_key.expose());
        }
        let client = builder.build().map_err(|source| StoreError::S3 {
            op: "configure",
            key: s.bucket.clone(),
            source,
        })?;
        Ok(S3Objects {
            client,
            bucket: s.bucket.clone(),
            endpoint: s.endpoint.clone(),
        })
    }

    pub fn describe(&self) -> String {
        match &self.endpoint {
            Some(e) => format!("s3 {}/{}", e.trim_end_matches('/'), self.bucket),
            None => format!("s3 {}", self.bucket),
        }
    }

    pub async fn put_all(&self, items: &[(&str, &[u8])]) -> Result<Durable, StoreError> {
        let mut seen = BTreeSet::new();
        let unique: Vec<(&str, &[u8])> = items
            .iter()
            .copied()
            .filter(|(s, _)| seen.insert(*s))
            .collect();
        let mut files = 0;
        // In groups rather than a buffered stream: a stream of futures borrowing the items
        // makes the daemon's task future not `Send` (a higher-ranked lifetime rustc cannot
        // prove), and a group is as fast while the server keeps up.
        for group in unique.chunks(PARALLEL) {
            let puts: Vec<_> = group.iter().map(|(s, b)| self.put_one(s, b)).collect();
            let written = futures_util::future::try_join_all(puts).await?;
            files += written.into_iter().filter(|w| *w).count();
        }
        Ok(Durable { files, dirs: 0 })
    }

    /// PUTs the object unless a HEAD finds it: the content address makes an object that is
    /// there the right one, so it is never sent twice. Says whether it was written.
    async fn put_one(&self, sha256: &str, bytes: &[u8]) -> Result<bool, StoreError> {
        if self.exists(sha256).await? {
            return Ok(false);
        }
        let key = key_of(sha256);
        self.client
            .put(&Path::from(key.as_str()), PutPayload::from(bytes.to_vec()))
            .await
            .map_err(|source| StoreError::S3 {
                op: "PUT",
                key,
                source,
            })?;
        Ok(true)
    }

    pub async fn get(&self, sha256: &str) -> Result<Vec<u8>, StoreError> {
        let key = key_of(sha256);
        let fail = |source| match source {
            object_store::Error::NotFound { .. } => StoreError::NoSuchObject(sha256.to_string()),
            source => StoreError::S3 {
                op: "GET",
                key: key.clone(),
                source,
            },
        };
        let got = self
            .client
            .get(&Path::from(key.as_str()))
            .await
            .map_err(fail)?;
        Ok(got.bytes().await.map_err(fail)?.to_vec())
    }

    pub async fn exists(&self, sha256: &str) -> Result<bool, StoreError> {
        let key = key_of(sha256);
        match self.client.head(&Path::from(key.as_str())).await {
            Ok(_) => Ok(true),
            Err(object_store::Error::NotFound { .. }) => Ok(false),
            Err(source) => Err(StoreError::S3 {
                op: "HEAD",
                key,
                source,
            }),
        }
    }

    pub async fn list(&self) -> Result<Vec<String>, StoreError> {
        let metas: Vec<_> = self
            .client
            .list(Some(&Path::from("objects")))
            .try_collect()
            .await
            .map_err(|source| StoreError::S3 {
                op: "LIST",
                key: "objects/".into(),
                source,
            })?;
        Ok(metas
            .into_iter()
            .filter_map(|m| m.location.filename().map(str::to_string))
            .filter(|name| is_sha256(name))
            .collect())
    }
}
