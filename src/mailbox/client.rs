//! One IMAP connection as 163 needs it: TCP, TLS (implicit or STARTTLS) with rustls, LOGIN,
//! RFC 2971 ID before anything touches a folder, CAPABILITY; then SELECT of one folder at a time.

use super::settings::{MailboxSettings, Secret, TlsMode};
use super::MailboxError;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio_rustls::rustls;

/// Plain TCP or TLS, behind one type so the rest does not care.
pub trait Io: AsyncRead + AsyncWrite + Unpin + Send + fmt::Debug {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send + fmt::Debug> Io for T {}

pub type ImapSession = async_imap::Session<Box<dyn Io>>;

/// A logged-in session, identified to the server.
pub struct Connected {
    pub session: ImapSession,
    pub can_idle: bool,
    /// The folder selected now (as a person sees its name), if any.
    pub selected: Option<String>,
}

/// What SELECT of a configured folder found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Selected {
    Open {
        uidvalidity: u32,
    },
    /// The server said NO: the folder does not exist (or cannot be opened); its words.
    Missing(String),
}

/// How long one connection attempt (TCP, TLS, greeting, LOGIN, ID) may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);

pub async fn connect(cfg: &MailboxSettings) -> Result<Connected, MailboxError> {
    match tokio::time::timeout(CONNECT_TIMEOUT, connect_inner(cfg)).await {
        Ok(r) => r,
        Err(_) => Err(MailboxError::Timeout("connecting and logging in")),
    }
}

async fn connect_inner(cfg: &MailboxSettings) -> Result<Connected, MailboxError> {
    // The file as it is now: a corrected code is used at the next login. A file that cannot
    // be read keeps the code read at start.
    let fresh = cfg.password_file.as_deref().and_then(Secret::read);
    let password = fresh.as_ref().or(cfg.password.as_ref()).ok_or_else(|| {
        MailboxError::Config(
            "mailbox.password: required (set REPORTBOX_MAILBOX__PASSWORD or mailbox.password_file \
             to the 163 client authorisation code, 客户端授权码)"
                .into(),
        )
    })?;
    let tcp = TcpStream::connect((cfg.host.as_str(), cfg.port))
        .await
        .map_err(|e| MailboxError::Connect(format!("{}:{}: {e}", cfg.host, cfg.port)))?;
    let _ = tcp.set_nodelay(true);
    let stream: Box<dyn Io> = match cfg.tls {
        TlsMode::None => Box::new(tcp),
        TlsMode::Implicit => Box::new(tls_wrap(cfg, tcp).await?),
        TlsMode::StartTls => {
            let mut client = async_imap::Client::new(tcp);
            greeting(&mut client).await?;
            client
                .run_command_and_check_ok("STARTTLS", None)
                .await
                .map_err(|e| MailboxError::Connect(format!("STARTTLS refused: {e}")))?;
            Box::new(tls_wrap(cfg, client.into_inner()).await?)
        }
    };
    let mut client = async_imap::Client::new(stream);
    if cfg.tls != TlsMode::StartTls {
        greeting(&mut client).await?;
    }
    let mut session = match client.login(&cfg.username, password.expose()).await {
        Ok(s) => s,
        Err((async_imap::error::Error::No(text), _)) => {
            return Err(MailboxError::Login(format!(
                "the server refused LOGIN for {} ({}); check mailbox.username and the \
                 authorisation code in mailbox.password, and that IMAP is enabled for the account",
                cfg.username,
                text.trim()
            )))
        }
        Err((e, _)) => return Err(e.into()),
    };
    // 163 refuses SELECT ("Unsafe Login") unless the client has identified itself on this very
    // connection, after LOGIN.
    session
        .id([
            ("name", Some(cfg.id_name.as_str())),
            ("version", Some(cfg.id_version.as_str())),
            ("vendor", Some(cfg.id_vendor.as_str())),
        ])
        .await
        .map_err(classify_no)?;
    let caps = session.capabilities().await?;
    let can_idle = caps.has_str("IDLE");
    Ok(Connected {
        session,
        can_idle,
        selected: None,
    })
}

/// SELECTs `folder` (named as a person sees it; sent in modified UTF-7). A NO is the folder's
/// absence, not an error, unless it is 163's `Unsafe Login`.
pub async fn select(
    conn: &mut Connected,
    folder: &str,
    timeout: Duration,
) -> Result<Selected, MailboxError> {
    conn.selected = None;
    let wire = super::utf7::encode(folder);
    let r = match tokio::time::timeout(timeout, conn.session.select(&wire)).await {
        Ok(r) => r,
        Err(_) => return Err(MailboxError::Timeout("selecting a folder")),
    };
    let mailbox = match r {
        Ok(m) => m,
        Err(async_imap::error::Error::No(text)) if !is_unsafe_login(&text) => {
            return Ok(Selected::Missing(text.trim().to_string()))
        }
        Err(e) => return Err(classify_no(e)),
    };
    let uidvalidity = mailbox
        .uid_validity
        .ok_or_else(|| MailboxError::Protocol(format!("SELECT {wire} returned no UIDVALIDITY")))?;
    conn.selected = Some(folder.to_string());
    Ok(Selected::Open { uidvalidity })
}

async fn greeting<T: Io>(client: &mut async_imap::Client<T>) -> Result<(), MailboxError> {
    match client.read_response().await {
        Ok(Some(_)) => Ok(()),
        Ok(None) => Err(MailboxError::Connect(
            "the server closed the connection before its greeting".into(),
        )),
        Err(e) => Err(MailboxError::Connect(format!("reading the greeting: {e}"))),
    }
}

fn is_unsafe_login(text: &str) -> bool {
    text.to_lowercase().contains("unsafe login")
}

/// A `NO … Unsafe Login` is 163 saying it did not accept our ID: retrying will not help.
pub fn classify_no(e: async_imap::error::Error) -> MailboxError {
    match e {
        async_imap::error::Error::No(text) if is_unsafe_login(&text) => {
            MailboxError::Config(format!(
                "the server answered \"{}\": it wants the client to identify itself (IMAP ID) and \
                 refused this one. Check mailbox.id_name/id_version/id_vendor, and in 163 webmail \
                 (设置 → POP3/SMTP/IMAP) that IMAP is on and the authorisation code is current",
                text.trim()
            ))
        }
        other => other.into(),
    }
}

fn tls_config(cfg: &MailboxSettings) -> Result<rustls::ClientConfig, MailboxError> {
    let mut roots = rustls::RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    if let Some(path) = &cfg.ca_file {
        use rustls::pki_types::pem::PemObject;
        let certs = rustls::pki_types::CertificateDer::pem_file_iter(path)
            .and_then(|it| it.collect::<Result<Vec<_>, _>>())
            .map_err(|e| {
                MailboxError::Config(format!(
                    "mailbox.ca_file: cannot read {}: {e}",
                    path.display()
                ))
            })?;
        if certs.is_empty() {
            return Err(MailboxError::Config(format!(
                "mailbox.ca_file: no certificate in {}",
                path.display()
            )));
        }
        for c in certs {
            roots.add(c).map_err(|e| {
                MailboxError::Config(format!("mailbox.ca_file: {}: {e}", path.display()))
            })?;
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    Ok(rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| MailboxError::Config(format!("TLS setup: {e}")))?
        .with_root_certificates(roots)
        .with_no_client_auth())
}

async fn tls_wrap(
    cfg: &MailboxSettings,
    tcp: TcpStream,
) -> Result<tokio_rustls::client::TlsStream<TcpStream>, MailboxError> {
    let connector = tokio_rustls::TlsConnector::from(Arc::new(tls_config(cfg)?));
    let name = rustls::pki_types::ServerName::try_from(cfg.host.clone())
        .map_err(|e| MailboxError::Config(format!("mailbox.host: {:?}: {e}", cfg.host)))?;
    connector.connect(name, tcp).await.map_err(|e| {
        let cert_problem = e
            .get_ref()
            .and_then(|inner| inner.downcast_ref::<rustls::Error>())
            .is_some_and(|r| matches!(r, rustls::Error::InvalidCertificate(_)));
        if cert_problem {
            MailboxError::Certificate(format!(
                "{}:{} presented a certificate that is not trusted ({e}); if the server uses a \
                 private CA, name it in mailbox.ca_file",
                cfg.host, cfg.port
            ))
        } else {
            MailboxError::Connect(format!("TLS handshake with {}:{}: {e}", cfg.host, cfg.port))
        }
    })
}
