//! The real `reportbox` binary, run as a coordinator or ops would run it.

use sqlx::PgPool;
use std::time::{Duration, Instant};

/// What a run printed and how it ended.
pub struct Out {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
    pub took: Duration,
}

impl Out {
    pub fn all(&self) -> String {
        format!("{}\n{}", self.stdout, self.stderr)
    }

    /// The stdout lines that start with `tag`.
    pub fn lines(&self, tag: &str) -> Vec<&str> {
        self.stdout.lines().filter(|l| l.starts_with(tag)).collect()
    }
}

impl std::fmt::Display for Out {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "exit {} after {:?}\n--- stdout\n{}--- stderr\n{}",
            self.code, self.took, self.stdout, self.stderr
        )
    }
}

/// The URL of the database behind a `#[sqlx::test]` pool, for a child process.
pub fn url_of(pool: &PgPool) -> String {
    let db = pool
        .connect_options()
        .get_database()
        .expect("test database name")
        .to_string();
    let base = std::env::var("DATABASE_URL").expect("DATABASE_URL (deploy/testenv/up.sh)");
    let (server, _) = base.rsplit_once('/').expect("DATABASE_URL has a database");
    format!("{server}/{db}")
}

/// `reportbox --config config/reportbox.toml ARGS…` from the repository, stdin closed, killed
/// with the test. The tests' own REPORTBOX_… variables are not this run's configuration: none
/// is inherited.
pub fn command(args: &[&str]) -> tokio::process::Command {
    let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_reportbox"));
    for (k, _) in std::env::vars() {
        if k.starts_with("REPORTBOX_") {
            cmd.env_remove(k);
        }
    }
    cmd.current_dir(super::repo())
        .args(["--config", "config/reportbox.toml"])
        .args(args)
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true);
    cmd
}

/// Runs `cmd` to its end; a run past `limit` is a hang and fails the test.
pub async fn output(mut cmd: tokio::process::Command, limit: Duration) -> Out {
    let started = Instant::now();
    let output = tokio::time::timeout(limit, cmd.output())
        .await
        .unwrap_or_else(|_| panic!("{cmd:?} did not finish within {limit:?}"))
        .expect("reportbox runs");
    Out {
        code: output.status.code().expect("exited, not killed"),
        stdout: String::from_utf8(output.stdout).expect("stdout is UTF-8"),
        stderr: String::from_utf8(output.stderr).expect("stderr is UTF-8"),
        took: started.elapsed(),
    }
}
