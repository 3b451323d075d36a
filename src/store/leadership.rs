//! One active instance per job, whatever runs: PostgreSQL advisory locks.

use sqlx::{Connection, PgConnection, Row};

/// The leadership of one job (watching a mailbox, sending mail): a session-level advisory lock held on a connection of its own,
/// so that PostgreSQL releases it the moment the holder's connection drops (crash, kill -9).
pub struct Leadership {
    conn: PgConnection,
    key: String,
    held: bool,
}

/// What a leader's writes carry to prove they are still the leader's: the lock's key and the
/// epoch it got when it took the lock (`leader_epochs`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fence {
    pub key: String,
    pub epoch: i64,
}

impl Leadership {
    /// A connection of its own for the lock named `key`.
    pub async fn connect(url: &str, key: String) -> Result<Leadership, sqlx::Error> {
        Ok(Leadership {
            conn: PgConnection::connect(url).await?,
            key,
            held: false,
        })
    }

    /// Takes the lock if it is free; `false` while another instance holds it. The new leader
    /// then takes an epoch ([`crate::store::Store::take_epoch`]) to fence off earlier ones.
    pub async fn try_lock(&mut self) -> Result<bool, sqlx::Error> {
        if !self.held {
            self.held = sqlx::query("SELECT pg_try_advisory_lock(hashtextextended($1, 0)) AS got")
                .bind(&self.key)
                .fetch_one(&mut self.conn)
                .await?
                .get("got");
        }
        Ok(self.held)
    }

    pub fn key(&self) -> &str {
        &self.key
    }

    /// Whether the connection holding the lock is still there (if it is not, PostgreSQL has
    /// already released the lock and a standby may be leading).
    pub async fn still_held(&mut self) -> bool {
        self.held && self.conn.ping().await.is_ok()
    }

    pub async fn release(self) {
        let _ = self.conn.close().await;
    }
}
