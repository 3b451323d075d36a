//! A TCP relay to the shared PostgreSQL that a test can cut, as a database restart or a network
//! fault cuts a client: every open connection dropped at once, and new ones refused until the
//! "server" is back. The shared PostgreSQL itself is never stopped (other tests run against it).
//! Dropping the relay's side of a connection makes the server end that backend, so whatever it
//! held (a session advisory lock, an open transaction) goes with it, as in a restart.

use super::testenv;
use sqlx::PgPool;
use tokio::sync::watch;

#[derive(Clone, Copy, PartialEq, Eq)]
struct State {
    /// Bumped by every cut: connections opened under an older one are dropped.
    generation: u64,
    /// While down, new connections are closed as soon as they are accepted.
    down: bool,
}

pub struct Relay {
    pub port: u16,
    state: watch::Sender<State>,
}

impl Relay {
    pub async fn start() -> Relay {
        Relay::start_to(format!(
            "{}:{}",
            testenv("TESTENV_PG_HOST"),
            testenv("TESTENV_PG_PORT")
        ))
        .await
    }

    /// A relay to another server of the stack (`127.0.0.1:10900`, the S3 server).
    pub async fn start_to(upstream: String) -> Relay {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let (state, watch) = watch::channel(State {
            generation: 0,
            down: false,
        });
        tokio::spawn(async move {
            let mut closed = watch.clone();
            loop {
                let (mut client, _) = tokio::select! {
                    a = listener.accept() => match a {
                        Ok(a) => a,
                        Err(_) => continue,
                    },
                    // The Relay was dropped: stop listening.
                    r = closed.changed() => {
                        if r.is_err() {
                            return;
                        }
                        continue;
                    }
                };
                let born = *watch.borrow();
                if born.down {
                    drop(client);
                    continue;
                }
                let upstream = upstream.clone();
                let mut watch = watch.clone();
                tokio::spawn(async move {
                    let Ok(mut server) = tokio::net::TcpStream::connect(&upstream).await else {
                        return;
                    };
                    let cut = async {
                        loop {
                            if watch.changed().await.is_err() {
                                return;
                            }
                            if watch.borrow().generation != born.generation {
                                return;
                            }
                        }
                    };
                    tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut client, &mut server) => {}
                        _ = cut => {}
                    }
                });
            }
        });
        Relay { port, state }
    }

    /// The server goes away: every open connection is dropped, new ones are refused.
    pub fn cut(&self) {
        self.state.send_modify(|s| {
            s.generation += 1;
            s.down = true;
        });
    }

    /// The server is back: new connections are relayed again.
    pub fn restore(&self) {
        self.state.send_modify(|s| s.down = false);
    }

    /// Every open connection is killed (`pg_terminate_backend`, a restart that is over at once);
    /// new ones are accepted straight away.
    pub fn kill_connections(&self) {
        self.state.send_modify(|s| {
            s.generation += 1;
            s.down = false;
        });
    }

    /// The URL of `pool`'s database through this relay, with `params` (`application_name=a`)
    /// when not empty.
    pub fn url(&self, pool: &PgPool, params: &str) -> String {
        let name = pool.connect_options().get_database().unwrap().to_string();
        let base = std::env::var("DATABASE_URL").expect("DATABASE_URL (deploy/testenv/up.sh)");
        let (server, _) = base.rsplit_once('@').unwrap();
        let query = if params.is_empty() {
            String::new()
        } else {
            format!("?{params}")
        };
        format!("{server}@127.0.0.1:{}/{name}{query}", self.port)
    }
}
