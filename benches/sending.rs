//! Sending figures, against the loopback Postfix of deploy/testenv:
//!
//!     eval "$(deploy/testenv/up.sh)"; cargo bench --bench sending            # 300 emails
//!     cargo bench --bench sending -- --emails 100 --rounds 5
//!
//! The same outbox rows (an acknowledgement-sized email each) sent two ways, alternating:
//! lettre 0.11's pooled `AsyncSmtpTransport` (its own socket, Nagle's algorithm on) and
//! reportbox's sender (`notify::send_due`: our socket with TCP_NODELAY, the "sending" mark
//! committed before each DATA, the outcome committed after). The figure is milliseconds per
//! email, median over the rounds.
//!
//! Uses its own database `reportbox_bench_sending`, recreated each run.

#[path = "../tests/common/mod.rs"]
mod common;

#[path = "support/mod.rs"]
mod support;

use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};
use reportbox::campaign::EmailState;
use reportbox::notify::{self, smtp::Mailer};
use reportbox::store::{NewOutbox, Store};
use std::time::Instant;
use support::{arg, fresh_db};

fn email(key: String, to: &str) -> NewOutbox {
    // About the size of a real acknowledgement: a few hundred Chinese characters twice.
    let line = "贵单位报送的材料已收到：统计表合格，总结报告合格，影像资料时长超过3分钟，请更正后重新报送。\n";
    NewOutbox {
        dedupe_key: key.clone(),
        kind: "ack".into(),
        unit_id: Some("x".into()),
        message_id: None,
        recipients: vec![to.to_string()],
        subject: format!("回执：影像资料需更正（{key}）"),
        body_text: line.repeat(12),
        body_html: format!("<p>{}</p>", line.repeat(12)),
        in_reply_to: None,
        references: None,
        auto_submitted: "auto-replied".into(),
        attachments: Vec::new(),
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

#[tokio::main]
async fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        println!("sending benchmark: run it with `cargo bench --bench sending`");
        return;
    }
    let n = arg("--emails", 300);
    let rounds = arg("--rounds", 3);
    let pool = fresh_db("reportbox_bench_sending").await;
    let dir = tempfile::tempdir().unwrap();
    let to = common::test_address("bench-sending");
    let roster = common::write_roster(dir.path(), &[("x", "市公安局", "", &to)]);
    let pairs: Vec<(String, String)> = common::smtp_env();
    let pairs: Vec<(&str, &str)> = pairs
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let settings = common::settings_with(&roster, &dir.path().join("objects"), &pairs);
    let store = Store::from_pool(pool, dir.path().join("objects"));
    store.migrate().await.unwrap();
    store.sync_units(&settings.roster).await.unwrap();
    let mailer = Mailer::new(&settings).unwrap();

    let (mut ours, mut theirs) = (Vec::new(), Vec::new());
    for round in 0..rounds {
        // lettre's transport, the messages built exactly as the sender builds them.
        let rows: Vec<NewOutbox> = (0..n)
            .map(|i| email(format!("l{round}-{i}"), &to))
            .collect();
        store.enqueue(&rows).await.unwrap();
        let queued = store.outbox(Some("ack")).await.unwrap();
        let fresh: Vec<_> = queued
            .into_iter()
            .filter(|r| r.state == EmailState::Pending)
            .collect();
        let built: Vec<_> = fresh
            .iter()
            .map(|r| mailer.build(r, Vec::new()).unwrap())
            .collect();
        // A fresh pool each round: a pooled session left idle while the other side runs is
        // closed by the server, and lettre reports that as a failed send.
        let lettre_transport =
            AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&settings.smtp.host)
                .port(settings.smtp.port)
                .build();
        let t = Instant::now();
        for m in &built {
            lettre_transport.send(m.clone()).await.unwrap();
        }
        theirs.push(t.elapsed().as_secs_f64() * 1000.0 / n as f64);
        sqlx::query("UPDATE outbox SET state = 'sent' WHERE state = 'pending'")
            .execute(&store.pool)
            .await
            .unwrap();

        // reportbox's sender, the whole loop: claim, mark, DATA, commit.
        let rows: Vec<NewOutbox> = (0..n)
            .map(|i| email(format!("r{round}-{i}"), &to))
            .collect();
        store.enqueue(&rows).await.unwrap();
        let t = Instant::now();
        let r = notify::send_due(&settings, &store, &mailer, chrono::Utc::now(), usize::MAX)
            .await
            .unwrap();
        assert_eq!(r.sent, n, "{r:?}");
        ours.push(t.elapsed().as_secs_f64() * 1000.0 / n as f64);
        println!(
            "round {round}: lettre transport {:.2} ms/email, reportbox sender {:.2} ms/email",
            theirs[round], ours[round]
        );
    }
    println!(
        "median of {rounds} rounds of {n} emails: lettre transport (Nagle on) {:.2} ms/email; \
         reportbox sender (TCP_NODELAY, with its two commits per email) {:.2} ms/email",
        median(theirs),
        median(ours)
    );
}
