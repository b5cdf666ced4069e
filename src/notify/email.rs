//! Email over SMTP (lettre's async transport): STARTTLS, implicit TLS, or plain for a local
//! relay; optional authentication. Each mail has a text and an HTML part with signed
//! acknowledge/resolve links (and, for a notice that carries one, a post-mortem draft as a
//! Markdown attachment), and a Message-ID made from the page's idempotency key so a
//! resend after a crash is recognisable as the same mail.

use anyhow::Context;
use lettre::message::header::ContentType;
use lettre::message::{Attachment, Mailbox, MultiPart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

use super::links::{LinkAction, LinkSigner};
use super::render::{self, ActionLinks};
use super::{Contact, ContactChannel, Delivered, SendError};
use crate::clock::Clock;
use crate::config::channels::resolve_secret;
use crate::config::settings::{EmailSettings, SmtpTls};
use crate::domain::contact::Method;
use crate::domain::postmortem::notice::split_attachment;
use crate::domain::{IncidentState, Page, PageKind};

pub struct EmailChannel {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
    links: LinkSigner,
    contact: Contact,
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
            contact: Contact {
                method: Method::Email,
                deadline: s.deadline,
                rate_limit: None,
            },
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
}

#[async_trait::async_trait]
impl ContactChannel for EmailChannel {
    fn contact(&self) -> &Contact {
        &self.contact
    }

    async fn deliver(&self, pages: &[Page], to: &str) -> Result<Delivered, SendError> {
        let first = &pages[0];
        let to: Mailbox = to
            .parse()
            .map_err(|e| SendError::Permanent(format!("bad email address {to:?}: {e}")))?;
        let links = |p: &Page| self.action_links(p);
        // A notice that carries a file (a post-mortem draft) shows its text, names the file,
        // and the file goes along as an attachment.
        let mut files = Vec::new();
        let shown: Vec<Page> = (pages.iter())
            .map(|p| {
                let mut p = p.clone();
                if let Some(n) = &mut p.notice {
                    let (text, file) = split_attachment(&n.body);
                    if let Some(file) = file {
                        files.push((file.filename.to_string(), file.content.to_string()));
                        n.body = format!("{text}\nAttached: {}\n", file.filename);
                    }
                }
                p
            })
            .collect();
        let text = render::email_text(&shown, &links);
        let html = render::email_html(&shown, &links);
        let mut body = MultiPart::alternative_plain_html(text, html);
        if !files.is_empty() {
            let markdown = ContentType::parse("text/markdown; charset=utf-8")
                .map_err(|e| SendError::Permanent(format!("building the mail: {e}")))?;
            let mut mixed = MultiPart::mixed().multipart(body);
            for (name, content) in files {
                mixed = mixed.singlepart(Attachment::new(name).body(content, markdown.clone()));
            }
            body = mixed;
        }
        let message = Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(render::subject(pages))
            .message_id(Some(format!("<{}@pagerd>", first.idempotency_key)))
            .multipart(body)
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
