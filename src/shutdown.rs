//! Shutdown as a value (as in tokio's mini-redis): `main` keeps the trigger, every long-running
//! task gets a `Shutdown` and returns when it fires; nobody sleeps and hopes.

use tokio::sync::watch;

/// The sending half of a shutdown signal (kept by whoever handles SIGTERM/SIGINT).
#[derive(Debug)]
pub struct ShutdownTrigger(watch::Sender<bool>);

impl ShutdownTrigger {
    pub fn fire(&self) {
        let _ = self.0.send(true);
    }
}

/// The receiving half, passed into every long-running task; cheap to clone.
#[derive(Debug, Clone)]
pub struct Shutdown(watch::Receiver<bool>);

impl Shutdown {
    pub fn new() -> (ShutdownTrigger, Shutdown) {
        let (tx, rx) = watch::channel(false);
        (ShutdownTrigger(tx), Shutdown(rx))
    }

    pub fn is_fired(&self) -> bool {
        *self.0.borrow()
    }

    /// Completes when the trigger fires. A trigger dropped without firing means nobody can ask
    /// for shutdown any more, so this then never completes.
    pub async fn fired(&mut self) {
        if self.0.wait_for(|v| *v).await.is_err() {
            std::future::pending::<()>().await;
        }
    }
}
