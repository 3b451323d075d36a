//! What the benchmarks share: their command-line numbers and a database of their own.

use sqlx::{Connection, PgPool};

/// `--name N` from the command line, or `default`.
pub fn arg(name: &str, default: usize) -> usize {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// The database `name` on the server of `DATABASE_URL`, dropped and created afresh.
pub async fn fresh_db(name: &str) -> PgPool {
    let admin = std::env::var("DATABASE_URL").expect("DATABASE_URL (deploy/testenv/up.sh)");
    let mut conn = sqlx::PgConnection::connect(&admin).await.unwrap();
    for sql in [
        format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"),
        format!("CREATE DATABASE {name}"),
    ] {
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .execute(&mut conn)
            .await
            .unwrap();
    }
    let (server, _) = admin.rsplit_once('/').unwrap();
    PgPool::connect(&format!("{server}/{name}")).await.unwrap()
}
