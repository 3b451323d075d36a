//! One SMTP connection, opened by us so that its socket has TCP_NODELAY.
//!
//! lettre 0.11's transport leaves Nagle's algorithm on. The end of every email (`\r\n.\r\n`)
//! is a small write after another small unacknowledged one, so the kernel holds it until the
//! server's delayed ACK: about 40 ms per email on Linux (issue 12 measured 50.5 ms per email,
//! 6.1 ms with the option set; fixed upstream in lettre PR 1159, not in a 0.11 release). lettre
//! accepts a stream we open ourselves (`connect_with_transport`), so the socket is ours to set.
//!
//! Sending is split at DATA ([`Connection::envelope`], then [`Connection::data`]) so the sender
//! can record "sending" in between: a crash before DATA can never have delivered anything.

use crate::net::TlsMode;
use lettre::address::Envelope;
use lettre::transport::smtp::authentication::{Credentials, Mechanism};
// Deprecated as "not meant to be public", yet the only way to reach lettre's TLS setup with a
// socket of our own.
#[allow(deprecated)]
use lettre::transport::smtp::client::AsyncNetworkStream;
use lettre::transport::smtp::client::{AsyncSmtpConnection, AsyncTokioStream, TlsParameters};
use lettre::transport::smtp::commands::{Data, Mail, Rcpt};
use lettre::transport::smtp::extension::{ClientId, Extension, MailBodyParameter, MailParameter};
use lettre::transport::smtp::response::Response;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

/// A failure with the server's reply code, when there was one.
#[derive(Debug, Clone)]
pub struct SmtpError {
    pub code: Option<u16>,
    pub message: String,
}

impl std::fmt::Display for SmtpError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl From<lettre::transport::smtp::Error> for SmtpError {
    fn from(err: lettre::transport::smtp::Error) -> SmtpError {
        SmtpError {
            code: err.status().and_then(|c| c.to_string().parse().ok()),
            message: err.to_string(),
        }
    }
}

impl SmtpError {
    /// Refused by us before the server was asked: as permanent as a 5xx.
    fn refused(message: &str) -> SmtpError {
        SmtpError {
            code: Some(554),
            message: message.to_string(),
        }
    }

    fn timeout(what: &str, after: Duration) -> SmtpError {
        SmtpError {
            code: None,
            message: format!("{what}: no reply within {} s", after.as_secs()),
        }
    }
}

/// Where and how to connect; cheap to clone.
#[derive(Clone)]
pub struct Connector {
    pub host: String,
    pub port: u16,
    pub tls: TlsMode,
    pub tls_parameters: Option<TlsParameters>,
    /// Bounds each step (connect, greeting, every command, the message): lettre's async
    /// connection has no read timeout of its own.
    pub timeout: Duration,
    pub hello: ClientId,
}

/// An open, authenticated session.
pub struct Connection {
    inner: AsyncSmtpConnection,
    timeout: Duration,
}

async fn bounded<T>(
    what: &str,
    after: Duration,
    f: impl std::future::Future<Output = Result<T, lettre::transport::smtp::Error>>,
) -> Result<T, SmtpError> {
    match tokio::time::timeout(after, f).await {
        Ok(r) => r.map_err(SmtpError::from),
        Err(_) => Err(SmtpError::timeout(what, after)),
    }
}

impl Connector {
    /// Connects, secures the session as configured, and authenticates when `credentials` is set.
    pub async fn open(&self, credentials: Option<&Credentials>) -> Result<Connection, SmtpError> {
        let t = self.timeout;
        let tcp = match tokio::time::timeout(t, TcpStream::connect((self.host.as_str(), self.port)))
            .await
        {
            Ok(Ok(s)) => s,
            Ok(Err(e)) => {
                return Err(SmtpError {
                    code: None,
                    message: format!("connection to {}:{} failed: {e}", self.host, self.port),
                });
            }
            Err(_) => return Err(SmtpError::timeout("connect", t)),
        };
        tcp.set_nodelay(true).map_err(|e| SmtpError {
            code: None,
            message: format!("TCP_NODELAY: {e}"),
        })?;
        let stream: Box<dyn AsyncTokioStream> = match (&self.tls, &self.tls_parameters) {
            (TlsMode::Implicit, Some(params)) => {
                // lettre's own TLS setup (its roots, `smtp.ca_file`), on our socket.
                #[allow(deprecated)]
                let mut s = AsyncNetworkStream::use_existing_tokio1(Box::new(tcp));
                bounded("TLS", t, s.upgrade_tls(params.clone())).await?;
                Box::new(Secured(s))
            }
            _ => Box::new(tcp),
        };
        let mut inner = bounded(
            "greeting",
            t,
            AsyncSmtpConnection::connect_with_transport(stream, &self.hello),
        )
        .await?;
        if let (TlsMode::StartTls, Some(params)) = (&self.tls, &self.tls_parameters) {
            bounded("STARTTLS", t, inner.starttls(params.clone(), &self.hello)).await?;
        }
        if let Some(c) = credentials {
            bounded(
                "AUTH",
                t,
                inner.auth(&[Mechanism::Plain, Mechanism::Login], c),
            )
            .await?;
        }
        Ok(Connection { inner, timeout: t })
    }
}

impl Connection {
    /// MAIL FROM and RCPT TO for every recipient, then DATA: after this the server is waiting
    /// for the message.
    /// The MAIL parameters are lettre's own choice (`send`): SMTPUTF8 for non-ASCII addresses,
    /// BODY=8BITMIME for a message that is not pure ASCII.
    pub async fn envelope(&mut self, envelope: &Envelope, message: &[u8]) -> Result<(), SmtpError> {
        let t = self.timeout;
        let info = self.inner.server_info();
        let mut options = Vec::new();
        let non_ascii = envelope
            .from()
            .into_iter()
            .chain(envelope.to())
            .any(|a| !<lettre::Address as AsRef<str>>::as_ref(a).is_ascii());
        if non_ascii {
            if !info.supports_feature(Extension::SmtpUtfEight) {
                return Err(SmtpError::refused(
                    "the server does not accept non-ASCII addresses (no SMTPUTF8)",
                ));
            }
            options.push(MailParameter::SmtpUtfEight);
        }
        if !message.is_ascii() {
            if !info.supports_feature(Extension::EightBitMime) {
                return Err(SmtpError::refused(
                    "the server does not accept 8-bit messages (no 8BITMIME)",
                ));
            }
            options.push(MailParameter::Body(MailBodyParameter::EightBitMime));
        }
        bounded(
            "MAIL FROM",
            t,
            self.inner
                .command(Mail::new(envelope.from().cloned(), options)),
        )
        .await?;
        for to in envelope.to() {
            bounded(
                "RCPT TO",
                t,
                self.inner.command(Rcpt::new(to.clone(), Vec::new())),
            )
            .await?;
        }
        bounded("DATA", t, self.inner.command(Data)).await?;
        Ok(())
    }

    /// The message itself; the server's reply once it has taken it.
    pub async fn data(&mut self, message: &[u8]) -> Result<Response, SmtpError> {
        // The server may take a while to scan a large message after the final dot.
        let t = self.timeout * 2;
        bounded("message", t, self.inner.message(message)).await
    }

    /// Whether the session still answers (NOOP), before it is reused after a pause.
    pub async fn alive(&mut self) -> bool {
        !self.inner.has_broken()
            && tokio::time::timeout(self.timeout, self.inner.test_connected())
                .await
                .unwrap_or(false)
    }

    pub fn broken(&self) -> bool {
        self.inner.has_broken()
    }

    pub async fn quit(mut self) {
        let _ = tokio::time::timeout(self.timeout, self.inner.quit()).await;
    }
}

/// A TLS stream made by lettre, handed back to it as a plain transport: lettre reads and writes
/// it through tokio's traits.
#[allow(deprecated)]
struct Secured(AsyncNetworkStream);

impl std::fmt::Debug for Secured {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secured")
    }
}

impl AsyncRead for Secured {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let unfilled = buf.initialize_unfilled();
        match futures_io::AsyncRead::poll_read(Pin::new(&mut self.0), cx, unfilled) {
            Poll::Ready(Ok(n)) => {
                buf.advance(n);
                Poll::Ready(Ok(()))
            }
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Pending => Poll::Pending,
        }
    }
}

impl AsyncWrite for Secured {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        futures_io::AsyncWrite::poll_write(Pin::new(&mut self.0), cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        futures_io::AsyncWrite::poll_flush(Pin::new(&mut self.0), cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        futures_io::AsyncWrite::poll_close(Pin::new(&mut self.0), cx)
    }
}

impl AsyncTokioStream for Secured {
    fn peer_addr(&self) -> std::io::Result<std::net::SocketAddr> {
        self.0.peer_addr()
    }
}
