//! What the integration tests share: settings pointing at a fresh database and storage, the
//! sample corpus, and a small builder for the messages units send.
#![allow(dead_code)]

use base64::Engine;
use reportbox::config::Settings;
use reportbox::pipeline::{self, Incoming, Outcome};
use reportbox::store::Store;
use sqlx::PgPool;
use std::path::{Path, PathBuf};

pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// `../shared/samples`, next to the repository (as on CI); fails loudly when it is not there.
pub fn samples_dir() -> PathBuf {
    let dir = repo().join("../shared/samples");
    assert!(
        dir.join("corpus").is_dir(),
        "the sample corpus is missing at {}",
        dir.display()
    );
    dir
}

/// The shipped configuration with the samples' roster and a private storage directory.
pub fn settings_with(roster: &Path, storage: &Path, extra: &[(&str, &str)]) -> Settings {
    let mut env = vec![
        (
            "REPORTBOX_CAMPAIGN__ROSTER".to_string(),
            roster.display().to_string(),
        ),
        (
            "REPORTBOX_STORAGE__DIR".to_string(),
            storage.display().to_string(),
        ),
    ];
    env.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    Settings::load(&repo().join("config/reportbox.toml"), env).expect("shipped config loads")
}

pub struct Env {
    pub settings: Settings,
    pub store: Store,
    pub _storage: tempfile::TempDir,
}

/// A store on the test's own database (from `#[sqlx::test]`) with the samples' roster.
pub async fn env(pool: PgPool) -> Env {
    env_with(pool, &[]).await
}

pub async fn env_with(pool: PgPool, extra: &[(&str, &str)]) -> Env {
    let storage = tempfile::tempdir().unwrap();
    let settings = settings_with(&samples_dir().join("roster.csv"), storage.path(), extra);
    let store = Store::from_pool(pool, storage.path());
    store.sync_units(&settings.roster).await.unwrap();
    Env {
        settings,
        store,
        _storage: storage,
    }
}

impl Env {
    pub async fn process(&self, raw: Vec<u8>, label: &str) -> Outcome {
        pipeline::process(
            &self.settings,
            &self.store,
            Incoming {
                raw,
                source: format!("test:{label}"),
                internal_date: None,
            },
        )
        .await
        .unwrap_or_else(|e| panic!("{label}: {e}"))
    }

    pub async fn status_json(&self) -> serde_json::Value {
        let s = self
            .store
            .status(&self.settings.campaign_view(), chrono::Utc::now())
            .await
            .unwrap();
        serde_json::to_value(s).unwrap()
    }

    pub async fn import_samples(&self) -> Vec<(String, Outcome)> {
        let mut out = Vec::new();
        for (name, raw) in sample_messages() {
            let o = self.process(raw, &name).await;
            out.push((name, o));
        }
        out
    }
}

/// The sample corpus, in file-name order (= arrival order).
pub fn sample_messages() -> Vec<(String, Vec<u8>)> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(samples_dir().join("corpus"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "eml"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no sample messages found");
    files
        .into_iter()
        .map(|p| {
            (
                p.file_name().unwrap().to_string_lossy().into_owned(),
                std::fs::read(&p).unwrap(),
            )
        })
        .collect()
}

/// A message as a unit's mail client would write it.
pub struct Mail {
    pub from: String,
    pub subject: String,
    pub message_id: Option<String>,
    pub date: String,
    pub headers: Vec<String>,
    pub body: String,
    pub attachments: Vec<(String, String, Vec<u8>)>,
}

impl Mail {
    pub fn new(from: &str, subject: &str) -> Mail {
        Mail {
            from: from.to_string(),
            subject: subject.to_string(),
            message_id: Some(format!("<{}@test.example>", uniq())),
            date: "Mon, 5 Jun 2023 10:00:00 +0800".to_string(),
            headers: Vec::new(),
            body: "您好，附件为报送材料。".to_string(),
            attachments: Vec::new(),
        }
    }

    pub fn attach(mut self, name: &str, content_type: &str, bytes: Vec<u8>) -> Mail {
        self.attachments
            .push((name.to_string(), content_type.to_string(), bytes));
        self
    }

    pub fn header(mut self, h: &str) -> Mail {
        self.headers.push(h.to_string());
        self
    }

    pub fn build(&self) -> Vec<u8> {
        let b64 = base64::engine::general_purpose::STANDARD;
        let enc = |s: &str| format!("=?UTF-8?B?{}?=", b64.encode(s.as_bytes()));
        let mut out = String::new();
        out.push_str(&format!(
            "Received: from client (unknown [10.0.0.1]) by mx.test; {}\r\n",
            self.date
        ));
        out.push_str(&format!("From: <{}>\r\n", self.from));
        out.push_str("To: w251342595@163.com\r\n");
        out.push_str(&format!("Subject: {}\r\n", enc(&self.subject)));
        out.push_str(&format!("Date: {}\r\n", self.date));
        if let Some(id) = &self.message_id {
            out.push_str(&format!("Message-ID: {id}\r\n"));
        }
        for h in &self.headers {
            out.push_str(h);
            out.push_str("\r\n");
        }
        out.push_str("MIME-Version: 1.0\r\n");
        let boundary = format!("----=_Part_{}", uniq());
        out.push_str(&format!(
            "Content-Type: multipart/mixed; boundary=\"{boundary}\"\r\n\r\n"
        ));
        out.push_str(&format!("--{boundary}\r\n"));
        out.push_str(
            "Content-Type: text/plain; charset=UTF-8\r\nContent-Transfer-Encoding: base64\r\n\r\n",
        );
        out.push_str(&wrap(&b64.encode(self.body.as_bytes())));
        for (name, ct, bytes) in &self.attachments {
            out.push_str(&format!("--{boundary}\r\n"));
            out.push_str(&format!(
                "Content-Type: {ct}; name=\"{}\"\r\nContent-Transfer-Encoding: base64\r\nContent-Disposition: attachment; filename=\"{}\"\r\n\r\n",
                enc(name),
                enc(name)
            ));
            out.push_str(&wrap(&b64.encode(bytes)));
        }
        out.push_str(&format!("--{boundary}--\r\n"));
        out.into_bytes()
    }
}

fn wrap(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + s.len() / 76 * 2 + 2);
    for chunk in s.as_bytes().chunks(76) {
        out.push_str(std::str::from_utf8(chunk).unwrap());
        out.push_str("\r\n");
    }
    out
}

pub fn uniq() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    format!(
        "{}.{}.{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed),
        chrono::Utc::now().timestamp_nanos_opt().unwrap_or_default()
    )
}
