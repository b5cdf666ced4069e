//! Email over SMTP (lettre's async transport): STARTTLS, implicit TLS, or plain for a local
//! relay; optional authentication. Each mail has a text and an HTML part with signed
//! acknowledge/resolve links, and a Message-ID made from the page's idempotency key so a
//! resend after a crash is recognisable as the same mail.

use std::time::Duration;

use anyhow::Context;
use lettre::message::{Mailbox, MultiPart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

use super::links::{LinkAction, LinkSigner};
use super::render::{self, ActionLinks};
use super::{Channel, Delivered, SendError, address_of};
use crate::clock::Clock;
use crate::config::channels::resolve_secret;
use crate::config::settings::{EmailSettings, SmtpTls};
use crate::domain::contact::Method;
use crate::domain::{IncidentState, Page, PageKind, Person};

pub struct EmailChannel {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
    links: LinkSigner,
    deadline: Duration,
    clock: Clock,
}

impl EmailChannel {
    pub fn new(s: &EmailSettings, links: LinkSigner, clock: Clock) -> anyhow::Result<Self> {
        let host = s
            .smtp_host
            .clone()
            .context("notify.email.smtp_host is not set")?;
        let tls_params = || -> anyhow::Result<TlsParameters> {
            let mut b = TlsParameters::builder(host.clone());
            if let Some(ca) = &s.ca_file {
                let pem = std::fs::read(ca).with_context(|| {
                    format!("notify.email.ca_file: cannot read {}", ca.display())
                })?;
                b = b.add_root_certificate(
                    Certificate::from_pem(&pem)
                        .context("notify.email.ca_file: not a PEM certificate")?,
                );
            }
            b.build_rustls().context("notify.email: TLS setup")
        };
        let tls = match s.tls {
            SmtpTls::Starttls => Tls::Required(tls_params()?),
            SmtpTls::Tls => Tls::Wrapper(tls_params()?),
            SmtpTls::None => Tls::None,
        };
        let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(host)
            .port(s.smtp_port)
            .tls(tls)
            .timeout(Some(s.timeout));
        let password = resolve_secret(&s.password, &s.password_file, "notify.email.password")?;
        match (&s.username, password) {
            (Some(user), Some(pass)) => {
                builder =
                    builder.credentials(Credentials::new(user.clone(), pass.expose().to_string()));
            }
            (None, None) => {}
            _ => anyhow::bail!("notify.email: username and password go together"),
        }
        let from: Mailbox = s
            .from
            .parse()
            .with_context(|| format!("notify.email.from: {:?} is not an address", s.from))?;
        Ok(Self {
            transport: builder.build(),
            from,
            links,
            deadline: s.deadline,
            clock,
        })
    }

    fn action_links(&self, page: &Page) -> Option<ActionLinks> {
        let inc = page.incident.as_ref()?;
        if page.kind != PageKind::Page || inc.state == IncidentState::Resolved {
            return None;
        }
        let now = self.clock.now();
        Some(ActionLinks {
            acknowledge: self
                .links
                .url(inc.id, LinkAction::Acknowledge, &page.person, now),
            resolve: self
                .links
                .url(inc.id, LinkAction::Resolve, &page.person, now),
        })
    }

    async fn deliver(
        &self,
        pages: &[Page],
        person: Option<&Person>,
    ) -> Result<Delivered, SendError> {
        let first = &pages[0];
        let to = address_of(Method::Email, first, person)?;
        let to: Mailbox = to
            .parse()
            .map_err(|e| SendError::Permanent(format!("bad email address {to:?}: {e}")))?;
        let links = |p: &Page| self.action_links(p);
        let text = render::email_text(pages, &links);
        let html = render::email_html(pages, &links);
        let message = Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(render::subject(pages))
            .message_id(Some(format!("<{}@pagerd>", first.idempotency_key)))
            .multipart(MultiPart::alternative_plain_html(text, html))
            .map_err(|e| SendError::Permanent(format!("building the mail: {e}")))?;
        match self.transport.send(message).await {
            Ok(resp) => Ok(Delivered::with(format!(
                "{} {}",
                resp.code(),
                resp.first_line().unwrap_or_default()
            ))),
            Err(e) if e.is_permanent() => Err(SendError::Permanent(format!("SMTP: {e}"))),
            Err(e) => Err(SendError::Retryable(format!("SMTP: {e}"))),
        }
    }
}

#[async_trait::async_trait]
impl Channel for EmailChannel {
    fn name(&self) -> &str {
        "email"
    }

    fn method(&self) -> Option<Method> {
        Some(Method::Email)
    }

    fn deadline(&self) -> Option<Duration> {
        Some(self.deadline)
    }

    fn address(&self, person: Option<&Person>) -> Option<String> {
        person.and_then(|p| p.email.clone())
    }

    async fn send(&self, page: &Page, person: Option<&Person>) -> Result<Delivered, SendError> {
        self.deliver(std::slice::from_ref(page), person).await
    }

    async fn send_many(
        &self,
        pages: &[Page],
        person: Option<&Person>,
    ) -> Result<Delivered, SendError> {
        self.deliver(pages, person).await
    }
}
