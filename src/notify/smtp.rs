//! Talking to the submission server: building the MIME message with lettre, sending it over
//! implicit TLS or STARTTLS with AUTH, and sorting failures the way 163 reports them.

pub use super::connection::SmtpError;
use super::connection::{Connection, Connector};
use crate::config::Settings;
use crate::net::TlsMode;
use crate::secret::Secret;
use crate::store::OutboxRow;
use base64::Engine;
use lettre::message::header::{ContentTransferEncoding, HeaderName, HeaderValue};
use lettre::message::{Mailbox, MultiPart, SinglePart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, TlsParameters};
use lettre::transport::smtp::extension::ClientId;
use lettre::{Address, Message};

#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    #[error("smtp.ca_file {0}: {1}")]
    CaFile(String, String),
    #[error("smtp TLS setup: {0}")]
    Tls(#[from] lettre::transport::smtp::Error),
    #[error("campaign.mailbox {0:?} is not a valid address")]
    From(String),
}

/// How a failed send should be treated (163's codes, notes §1.5).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureClass {
    /// Try this email again later with backoff.
    Transient,
    /// No reply at all (connection refused, DNS, TLS, timeout): the server is not there, so
    /// the emails after this one would fail the same way. Retry later, and end the pass.
    Unreachable,
    /// `451 MI:SFQ`: the sender is over its 15-minute limit; pause all sending.
    SlowDown,
    /// `MI:STC`, `RP:TRC`: the day's quota is used; pause until tomorrow.
    DailyQuota,
    /// The server refused the username or authorisation code (535, 534, 163's `authentication
    /// failed`, `ERR.LOGIN`, AUTH not possible at all): every email would fail the same way,
    /// and none of them is at fault. Pause all sending, fail nothing, and try again with the
    /// code read afresh.
    Auth,
    /// Other 5xx, or an address that cannot be written to: give up on this email.
    Permanent,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SendFailure {
    pub class: FailureClass,
    pub message: String,
}

/// Sorts a failure by its reply code and text.
pub fn classify(code: Option<u16>, text: &str) -> FailureClass {
    let t = text.to_ascii_uppercase();
    if t.contains("MI:STC") || t.contains("RP:TRC") {
        return FailureClass::DailyQuota;
    }
    if t.contains("MI:SFQ") {
        return FailureClass::SlowDown;
    }
    if is_auth(code, &t) {
        return FailureClass::Auth;
    }
    match code {
        Some(c) if (500..600).contains(&c) => FailureClass::Permanent,
        Some(_) => FailureClass::Transient,
        None => FailureClass::Unreachable,
    }
}

/// Texts that mean the account's credentials, not the email, were refused. 163 answers a wrong
/// or revoked authorisation code with `535 Error: authentication failed`, an account whose
/// client access is off with `550 User has no permission`, and a session without AUTH with
/// `553 authentication is required`; `ERR.LOGIN…` is its login-error family; the last is
/// lettre's own when the server offers no AUTH mechanism it can use.
const AUTH_TEXTS: [&str; 5] = [
    "AUTHENTICATION FAILED",
    "AUTHENTICATION IS REQUIRED",
    "USER HAS NO PERMISSION",
    "ERR.LOGIN",
    "NO COMPATIBLE AUTHENTICATION MECHANISM",
];

/// `text` is upper-cased. 530 alone is also "STARTTLS first", so it needs the word AUTH.
fn is_auth(code: Option<u16>, t: &str) -> bool {
    matches!(code, Some(534 | 535))
        || (code == Some(530) && t.contains("AUTH"))
        || AUTH_TEXTS.iter().any(|m| t.contains(m))
}

/// `Auto-Submitted` (RFC 3834), which lettre has no type for.
#[derive(Clone)]
struct AutoSubmitted(String);

impl lettre::message::header::Header for AutoSubmitted {
    fn name() -> HeaderName {
        HeaderName::new_from_ascii_str("Auto-Submitted")
    }
    fn parse(s: &str) -> Result<Self, Box<dyn std::error::Error + Send + Sync>> {
        Ok(AutoSubmitted(s.to_string()))
    }
    fn display(&self) -> HeaderValue {
        HeaderValue::new(Self::name(), self.0.clone())
    }
}

/// Asks Exchange/Outlook not to answer with out-of-office replies.
#[derive(Clone)]
struct SuppressAutoResponse;

impl lettre::message::header::Header for SuppressAutoResponse {
    fn name() -> HeaderName {
        HeaderName::new_from_ascii_str("X-Auto-Response-Suppress")
    }
    fn parse(_: &str) -> Result<Self, Box<dyn std::error::Error + Send + Sync>> {
        Ok(SuppressAutoResponse)
    }
    fn display(&self) -> HeaderValue {
        HeaderValue::new(Self::name(), "All".to_string())
    }
}

/// A header whose value is written exactly as given (already encoded, folded with CRLF SP).
#[derive(Clone)]
struct PreEncoded<const N: usize>(String);

const CONTENT_TYPE: usize = 0;
const CONTENT_DISPOSITION: usize = 1;

impl<const N: usize> lettre::message::header::Header for PreEncoded<N> {
    fn name() -> HeaderName {
        HeaderName::new_from_ascii_str(match N {
            CONTENT_TYPE => "Content-Type",
            _ => "Content-Disposition",
        })
    }
    fn parse(s: &str) -> Result<Self, Box<dyn std::error::Error + Send + Sync>> {
        Ok(PreEncoded(s.to_string()))
    }
    fn display(&self) -> HeaderValue {
        HeaderValue::dangerous_new_pre_encoded(Self::name(), self.0.clone(), self.0.clone())
    }
}

/// `name` as RFC 2047 encoded words (each within the 75-character limit), for the `name=` and
/// `filename=` parameters that Outlook 2007–2013 and many phone clients read: given only the
/// RFC 2231 form they show `ATT00001.bin`.
fn rfc2047_words(name: &str) -> String {
    let mut words = Vec::new();
    let mut chunk = String::new();
    for c in name.chars() {
        if chunk.len() + c.len_utf8() > 36 {
            words.push(std::mem::take(&mut chunk));
        }
        chunk.push(c);
    }
    words.push(chunk);
    words
        .iter()
        .map(|w| {
            format!(
                "=?utf-8?B?{}?=",
                base64::engine::general_purpose::STANDARD.encode(w)
            )
        })
        .collect::<Vec<_>>()
        .join("\r\n ")
}

/// `filename*0*=utf-8''…; filename*1*=…` (RFC 2231), split so that no line runs long and no
/// character is cut in two: several readers (mail-parser among them) decode each piece alone.
fn rfc2231_params(param: &str, name: &str) -> String {
    let mut pieces = vec![String::new()];
    for c in name.chars() {
        let mut buf = [0u8; 4];
        let enc: String = c
            .encode_utf8(&mut buf)
            .bytes()
            .map(|b| {
                if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                    (b as char).to_string()
                } else {
                    format!("%{b:02X}")
                }
            })
            .collect();
        if pieces.last().is_some_and(|p| p.len() + enc.len() > 48) {
            pieces.push(String::new());
        }
        if let Some(p) = pieces.last_mut() {
            p.push_str(&enc);
        }
    }
    pieces
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let charset = if i == 0 { "utf-8''" } else { "" };
            format!("{param}*{i}*={charset}{p}")
        })
        .collect::<Vec<_>>()
        .join(";\r\n ")
}

/// An attachment part naming its file both ways: RFC 2231 for clients that follow the standard,
/// RFC 2047 inside quotes for those that only read that.
fn attachment_part(name: &str, content_type: &str, bytes: Vec<u8>) -> SinglePart {
    let essence = content_type.split(';').next().unwrap_or("").trim();
    let token = |t: &str| {
        !t.is_empty()
            && t.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"!#$&-^_.+".contains(&b))
    };
    let mime = match essence.split_once('/') {
        Some((a, b)) if token(a) && token(b) => essence,
        _ => "application/octet-stream",
    };
    let words = rfc2047_words(name);
    SinglePart::builder()
        .header(PreEncoded::<CONTENT_TYPE>(format!(
            "{mime};\r\n name=\"{words}\""
        )))
        .header(PreEncoded::<CONTENT_DISPOSITION>(format!(
            "attachment;\r\n {};\r\n filename=\"{words}\"",
            rfc2231_params("filename", name)
        )))
        .header(ContentTransferEncoding::Base64)
        .body(bytes)
}

pub struct Mailer {
    connector: Connector,
    username: Option<String>,
    password: std::sync::Mutex<Option<Secret>>,
    password_file: Option<std::path::PathBuf>,
    /// The last send was refused for its credentials: read the code again before the next.
    reload: std::sync::atomic::AtomicBool,
    /// The open session, reused for the emails of one pass; `None` between passes.
    session: tokio::sync::Mutex<Option<(Connection, std::time::Instant)>>,
    from: Mailbox,
    /// The authenticated mailbox: 163 refuses any other envelope sender.
    envelope_from: Address,
    domain: String,
    tz: chrono_tz::Tz,
}

/// A session idle longer than this is asked NOOP before it carries another email: servers drop
/// idle clients, and an email must not be half-sent into a dead socket.
const REUSE_WITHOUT_CHECK: std::time::Duration = std::time::Duration::from_secs(2);

impl Mailer {
    pub fn new(settings: &Settings) -> Result<Mailer, SetupError> {
        let s = &settings.smtp;
        let tls_parameters = match s.tls {
            TlsMode::None => None,
            TlsMode::Implicit | TlsMode::StartTls => {
                let mut params = TlsParameters::builder(s.host.clone());
                if let Some(ca) = &s.ca_file {
                    let pem = std::fs::read(ca)
                        .map_err(|e| SetupError::CaFile(ca.display().to_string(), e.to_string()))?;
                    let cert = Certificate::from_pem(&pem)
                        .map_err(|e| SetupError::CaFile(ca.display().to_string(), e.to_string()))?;
                    params = params.add_root_certificate(cert);
                }
                Some(params.build_rustls()?)
            }
        };
        // This machine's name, as lettre's transport said it.
        let hello = ClientId::default();
        let connector = Connector {
            host: s.host.clone(),
            port: s.port,
            tls: s.tls,
            tls_parameters,
            timeout: s.timeout,
            hello,
        };
        let mailbox = &settings.campaign.mailbox;
        let address: Address = mailbox
            .parse()
            .map_err(|_| SetupError::From(mailbox.clone()))?;
        let envelope_from = match &s.username {
            Some(u) if u.contains('@') => u.parse().unwrap_or_else(|_| address.clone()),
            _ => address.clone(),
        };
        let name = if s.from_name.is_empty() {
            None
        } else {
            Some(s.from_name.clone())
        };
        Ok(Mailer {
            connector,
            username: s.username.clone(),
            password: std::sync::Mutex::new(s.password.clone()),
            password_file: s.password_file.clone(),
            reload: std::sync::atomic::AtomicBool::new(false),
            session: tokio::sync::Mutex::new(None),
            from: Mailbox::new(name, address.clone()),
            envelope_from,
            domain: address.domain().to_string(),
            tz: settings.campaign.tz,
        })
    }

    /// Connects and authenticates (when credentials are configured) without sending anything:
    /// `reportbox check`.
    pub async fn verify(&self) -> Result<(), SmtpError> {
        let conn = self.connector.open(self.credentials().as_ref()).await?;
        conn.quit().await;
        Ok(())
    }

    fn credentials(&self) -> Option<Credentials> {
        let password = self.password.lock().unwrap_or_else(|p| p.into_inner());
        match (&self.username, &*password) {
            (Some(u), Some(p)) => Some(Credentials::new(u.clone(), p.expose().to_string())),
            _ => None,
        }
    }

    /// Read the code again before the next connection (SIGHUP, or the server refused it).
    pub fn reload_on_next_send(&self) {
        self.reload
            .store(true, std::sync::atomic::Ordering::Relaxed);
    }

    /// After a refused code: the code from `smtp.password_file` (or the credentials file) as
    /// it is now, so correcting the file is all it takes. A file that cannot be read keeps the
    /// code in use; the next refusal says so again.
    fn reload_credentials(&self) {
        if !self
            .reload
            .swap(false, std::sync::atomic::Ordering::Relaxed)
        {
            return;
        }
        let Some(f) = &self.password_file else {
            return;
        };
        match std::fs::read_to_string(f) {
            Ok(p) => {
                *self.password.lock().unwrap_or_else(|p| p.into_inner()) =
                    Some(Secret::new(p.trim()));
            }
            Err(e) => {
                tracing::warn!(file = %f.display(), error = %e, "smtp.password_file cannot be read; keeping the code in use");
            }
        }
    }

    /// Builds the MIME message of an outbox row. The Message-ID is derived from the row, so a
    /// retry after a crash carries the same one and clients can fold the two. `Date` is in the
    /// campaign's zone (+08:00): a unit reading the raw header, or a client that shows it as
    /// written, sees the local time.
    pub fn build(
        &self,
        row: &OutboxRow,
        attachments: Vec<(String, String, Vec<u8>)>,
    ) -> Result<Message, SendFailure> {
        let e = &row.email;
        let permanent = |m: String| SendFailure {
            class: FailureClass::Permanent,
            message: m,
        };
        let mut b = Message::builder()
            .from(self.from.clone())
            .subject(e.subject.clone())
            .message_id(Some(row.message_id(&self.domain)))
            .header(AutoSubmitted(e.auto_submitted.clone()))
            .header(SuppressAutoResponse);
        for r in &e.recipients {
            let to: Mailbox = r
                .parse()
                .map_err(|_| permanent(format!("收件地址无效：{r}")))?;
            b = b.to(to);
        }
        if let Some(id) = &e.in_reply_to {
            b = b.in_reply_to(id.clone());
        }
        if let Some(r) = &e.references {
            b = b.references(r.clone());
        }
        let alternative =
            MultiPart::alternative_plain_html(e.body_text.clone(), e.body_html.clone());
        let body = if attachments.is_empty() {
            alternative
        } else {
            let mut mixed = MultiPart::mixed().multipart(alternative);
            for (name, ct, bytes) in attachments {
                mixed = mixed.singlepart(attachment_part(&name, &ct, bytes));
            }
            mixed
        };
        let mut message = b
            .multipart(body)
            .map_err(|err| permanent(format!("邮件无法生成：{err}")))?;
        let date = chrono::Utc::now().with_timezone(&self.tz).to_rfc2822();
        message.headers_mut().insert_raw(HeaderValue::new(
            HeaderName::new_from_ascii_str("Date"),
            date,
        ));
        Ok(message)
    }

    /// Sends one row; the server's reply on success. `before_data` runs once the server has
    /// accepted the envelope, just before the message is transmitted: the sender records
    /// "sending" there. When it fails, nothing is transmitted and the session is dropped.
    pub async fn send<F, Fut, E>(
        &self,
        row: &OutboxRow,
        attachments: Vec<(String, String, Vec<u8>)>,
        before_data: F,
    ) -> Result<Result<String, SendFailure>, E>
    where
        F: FnOnce() -> Fut,
        Fut: std::future::Future<Output = Result<(), E>>,
    {
        let message = match self.build(row, attachments) {
            Ok(m) => m.formatted(),
            Err(f) => return Ok(Err(f)),
        };
        let to: Vec<Address> = row
            .email
            .recipients
            .iter()
            .filter_map(|r| r.parse().ok())
            .collect();
        let envelope = match lettre::address::Envelope::new(Some(self.envelope_from.clone()), to) {
            Ok(e) => e,
            Err(err) => {
                return Ok(Err(SendFailure {
                    class: FailureClass::Permanent,
                    message: err.to_string(),
                }));
            }
        };
        let mut session = self.session.lock().await;
        let mut conn = match self.take_live(&mut session).await {
            Ok(c) => c,
            Err(e) => return Ok(Err(self.failure(e))),
        };
        if let Err(e) = conn.envelope(&envelope, &message).await {
            // A refused recipient leaves the session usable, but a session in an unknown state
            // is not worth the risk for the next email.
            return Ok(Err(self.failure(e)));
        }
        before_data().await?;
        match conn.data(&message).await {
            Ok(resp) => {
                *session = Some((conn, std::time::Instant::now()));
                Ok(Ok(format!(
                    "{} {}",
                    resp.code(),
                    resp.message().collect::<Vec<_>>().join(" ")
                )))
            }
            Err(e) => Ok(Err(self.failure(e))),
        }
    }

    /// The pass is over: say goodbye rather than leave the server to time the session out.
    pub async fn close(&self) {
        if let Some((conn, _)) = self.session.lock().await.take() {
            conn.quit().await;
        }
    }

    async fn take_live(
        &self,
        session: &mut Option<(Connection, std::time::Instant)>,
    ) -> Result<Connection, SmtpError> {
        if let Some((mut conn, since)) = session.take() {
            if !conn.broken() && (since.elapsed() < REUSE_WITHOUT_CHECK || conn.alive().await) {
                return Ok(conn);
            }
        }
        self.reload_credentials();
        self.connector.open(self.credentials().as_ref()).await
    }

    fn failure(&self, e: SmtpError) -> SendFailure {
        let class = classify(e.code, &e.message);
        if class == FailureClass::Auth {
            self.reload_on_next_send();
        }
        SendFailure {
            class,
            message: e.message,
        }
    }
}

#[cfg(test)]
mod tests {

    #[test]
    fn attachment_names_are_written_both_ways_and_lines_stay_short() {
        let name = "2023年太原市科技活动周开展情况统计表（空白）.xlsx";
        let part = attachment_part(name, "application/vnd.ms-excel; x=1", vec![0, 1, 2]);
        let raw = String::from_utf8(part.formatted()).unwrap();
        assert!(raw.contains("Content-Type: application/vnd.ms-excel;\r\n name=\"=?utf-8?B?"));
        assert!(raw.contains("filename*0*=utf-8''2023%E5%B9%B4"), "{raw}");
        assert!(raw.contains("filename*1*="), "{raw}");
        assert!(raw.contains("filename=\"=?utf-8?B?"), "{raw}");
        assert!(raw.lines().all(|l| l.trim_end().len() <= 78), "{raw}");
        let whole = format!("Subject: x\r\n{raw}");
        let parsed = mail_parser::MessageParser::default()
            .parse(whole.as_bytes())
            .unwrap();
        use mail_parser::MimeHeaders;
        assert_eq!(parsed.attachment_name(), Some(name));
    }

    #[test]
    fn a_type_that_is_not_a_mime_type_is_sent_as_octet_stream() {
        let part = attachment_part("a.bin", "not a type", vec![]);
        let raw = String::from_utf8(part.formatted()).unwrap();
        assert!(
            raw.starts_with("Content-Type: application/octet-stream;"),
            "{raw}"
        );
    }

    use super::*;

    #[test]
    fn netease_replies_are_sorted_as_163_means_them() {
        assert_eq!(
            classify(Some(451), "451 MI:SFQ sender over limit"),
            FailureClass::SlowDown
        );
        assert_eq!(
            classify(Some(554), "554 5.5.0 MI:STC"),
            FailureClass::DailyQuota
        );
        assert_eq!(classify(Some(550), "550 RP:TRC"), FailureClass::DailyQuota);
        assert_eq!(
            classify(Some(451), "451 DT:SPM ,please try again"),
            FailureClass::Transient
        );
        assert_eq!(
            classify(Some(554), "554 DT:SPM 163 smtp"),
            FailureClass::Permanent
        );
        assert_eq!(
            classify(Some(550), "550 User not found"),
            FailureClass::Permanent
        );
        assert_eq!(
            classify(None, "connection refused"),
            FailureClass::Unreachable
        );
    }

    #[test]
    fn a_refused_authorisation_code_is_its_own_class_not_a_permanent_failure() {
        let auth = [
            (Some(535), "535 Error: authentication failed"),
            (Some(535), "535 Error: authentication failed, system busy"),
            (
                Some(535),
                "535 5.7.8 Error: authentication failed: (reason unavailable)",
            ),
            (
                Some(534),
                "534 5.7.9 Application-specific password required",
            ),
            (Some(530), "530 5.7.0 Authentication required"),
            (Some(553), "553 authentication is required,163 smtp9"),
            (Some(550), "550 User has no permission"),
            (Some(554), "554 ERR.LOGIN.PASSERR"),
            (
                None,
                "internal client error: No compatible authentication mechanism was found",
            ),
        ];
        for (code, text) in auth {
            assert_eq!(classify(code, text), FailureClass::Auth, "{code:?} {text}");
        }
        // 530 without the word is "STARTTLS first", not the code.
        assert_eq!(
            classify(Some(530), "530 5.7.0 Must issue a STARTTLS command first"),
            FailureClass::Permanent
        );
        // The quota still wins when both appear.
        assert_eq!(
            classify(Some(554), "554 MI:STC authentication failed"),
            FailureClass::DailyQuota
        );
    }
}
