//! The `Mailer` port over SMTP (lettre's async tokio transport) or, when no SMTP server is
//! configured, as `.eml` files under a directory (the embedded default).
//!
//! Logs name the recipient's domain only, never the address or the body.

mod account;
mod template;

use std::path::PathBuf;

use async_trait::async_trait;
use domain::notifications::{DeliveryError, Mailer, OutgoingEmail};
use lettre::message::{header, Mailbox, MultiPart};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

pub use markup::Links;
pub use template::{render, Rendered};

/// Where emails go.
pub enum Backend {
    /// An SMTP relay.
    Smtp(AsyncSmtpTransport<Tokio1Executor>),
    /// `.eml` files in a directory.
    Files(PathBuf),
}

/// The mailer.
pub struct LettreMailer {
    backend: Backend,
    from: Mailbox,
    links: Links,
}

impl LettreMailer {
    /// An SMTP mailer. `url` is `smtp://host:port` (no TLS), `smtp://host?tls=required`
    /// (STARTTLS) or `smtps://host` (TLS from the start), with optional `user:pass@`.
    pub fn smtp(url: &str, from: &str, links: Links) -> anyhow::Result<Self> {
        let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(url)
            .map_err(|_| anyhow::anyhow!("OSTS_SMTP_URL is not a valid SMTP URL"))?
            .build();
        Self::new(Backend::Smtp(transport), from, links)
    }

    /// Whether mail can go out: for SMTP, a connection to the relay that greets, upgrades to
    /// TLS and signs in as the URL asks, then quits (no message is sent); for files, the
    /// directory can be created. For `osts check-config`; errors never show the URL.
    pub async fn check(&self) -> anyhow::Result<()> {
        match &self.backend {
            Backend::Smtp(transport) => match transport.test_connection().await {
                Ok(true) => Ok(()),
                Ok(false) => anyhow::bail!("the SMTP relay did not answer a NOOP"),
                Err(e) => anyhow::bail!("the SMTP relay is not usable: {e}"),
            },
            Backend::Files(dir) => {
                std::fs::create_dir_all(dir).map_err(|e| anyhow::anyhow!("cannot create {}: {e}", dir.display()))
            }
        }
    }

    /// A mailer that writes `.eml` files into `dir`.
    pub fn files(dir: PathBuf, from: &str, links: Links) -> anyhow::Result<Self> {
        Self::new(Backend::Files(dir), from, links)
    }

    fn new(backend: Backend, from: &str, links: Links) -> anyhow::Result<Self> {
        let from = from.parse().map_err(|e| anyhow::anyhow!("invalid from address: {e}"))?;
        Ok(Self { backend, from, links })
    }

    /// The message for `email`, as it will be sent.
    pub fn message(&self, email: &OutgoingEmail) -> Result<Message, DeliveryError> {
        let content = render(email, &self.links);
        let to = Mailbox::new(
            Some(email.to_name.clone()),
            email
                .to
                .as_str()
                .parse()
                .map_err(|_| DeliveryError::Never("the recipient's address is not valid for SMTP".into()))?,
        );
        let host = self.from.email.domain().to_owned();
        let mut message = Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(content.subject)
            // The job's idempotency key as Message-ID, so a relay that deduplicates can.
            .message_id(Some(format!("<{}@{host}>", email.idempotency_key.replace(':', "."))));
        if let Some(url) = &content.unsubscribe_url {
            // RFC 2369 and RFC 8058: mail clients offer "unsubscribe" and POST to the link.
            message = message.header(ListUnsubscribe(format!("<{url}>"))).header(ListUnsubscribePost);
        }
        message
            .multipart(MultiPart::alternative_plain_html(content.text, content.html))
            .map_err(|e| DeliveryError::Never(format!("cannot build the message: {e}")))
    }
}

/// The `List-Unsubscribe` header.
#[derive(Debug, Clone)]
struct ListUnsubscribe(String);

impl header::Header for ListUnsubscribe {
    fn name() -> header::HeaderName {
        header::HeaderName::new_from_ascii_str("List-Unsubscribe")
    }
    fn parse(s: &str) -> Result<Self, Box<dyn std::error::Error + Send + Sync>> {
        Ok(Self(s.to_owned()))
    }
    fn display(&self) -> header::HeaderValue {
        header::HeaderValue::new(Self::name(), self.0.clone())
    }
}

/// The `List-Unsubscribe-Post` header (RFC 8058): the link unsubscribes on a POST alone.
#[derive(Debug, Clone)]
struct ListUnsubscribePost;

impl header::Header for ListUnsubscribePost {
    fn name() -> header::HeaderName {
        header::HeaderName::new_from_ascii_str("List-Unsubscribe-Post")
    }
    fn parse(_: &str) -> Result<Self, Box<dyn std::error::Error + Send + Sync>> {
        Ok(Self)
    }
    fn display(&self) -> header::HeaderValue {
        header::HeaderValue::new(Self::name(), "List-Unsubscribe=One-Click".to_owned())
    }
}

#[async_trait]
impl Mailer for LettreMailer {
    async fn send(&self, email: &OutgoingEmail) -> Result<(), DeliveryError> {
        let message = self.message(email)?;
        let domain = email.to.domain().to_owned();
        match &self.backend {
            Backend::Smtp(transport) => match transport.send(message).await {
                Ok(_) => {
                    tracing::info!(to_domain = %domain, kind = email.kind.as_str(), "email sent");
                    Ok(())
                }
                // 5xx: the relay refused for good.
                Err(e) if e.is_permanent() => Err(DeliveryError::Never(describe(&e))),
                // 4xx, refused connections, TLS and I/O failures: try again later.
                Err(e) => Err(DeliveryError::later(describe(&e))),
            },
            Backend::Files(dir) => {
                let path = dir.join(format!("{}.eml", email.idempotency_key.replace(':', "-")));
                let write = async {
                    tokio::fs::create_dir_all(dir).await?;
                    tokio::fs::write(&path, message.formatted()).await
                };
                write.await.map_err(|e| DeliveryError::later(format!("cannot write the .eml file: {e}")))?;
                tracing::info!(to_domain = %domain, kind = email.kind.as_str(), file = %path.display(), "email written");
                Ok(())
            }
        }
    }
}

/// An SMTP error without addresses: lettre's messages quote the server's reply, which may
/// echo the recipient, so only the kind and status code are kept.
fn describe(e: &lettre::transport::smtp::Error) -> String {
    let kind = if e.is_permanent() {
        "permanent SMTP error"
    } else if e.is_transient() {
        "transient SMTP error"
    } else if e.is_timeout() {
        "SMTP timeout"
    } else if e.is_tls() {
        "TLS error"
    } else {
        "SMTP connection or protocol error"
    };
    match e.status() {
        Some(code) => format!("{kind} {code}"),
        None => kind.to_owned(),
    }
}
