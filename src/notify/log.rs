//! Writes pages to the daemon's log: useful on a laptop and as a last-resort trail.

use super::render::one_line;
use super::{Channel, Delivered, SendError};
use crate::domain::{Page, Person};

#[derive(Debug, Default)]
pub struct LogChannel;

#[async_trait::async_trait]
impl Channel for LogChannel {
    fn name(&self) -> &str {
        "log"
    }

    async fn send(&self, page: &Page, _person: Option<&Person>) -> Result<Delivered, SendError> {
        let Some(incident) = &page.incident else {
            let notice = page.notice.as_ref();
            tracing::info!(
                target: "pagerd::page",
                person = %page.person,
                kind = page.kind.as_str(),
                key = %page.idempotency_key,
                "NOTICE {}: {}\n{}",
                page.person,
                notice.map_or(String::new(), |n| one_line(&n.subject)),
                notice.map_or("", |n| n.body.as_str()),
            );
            return Ok(Delivered::default());
        };
        // Alert text on one line: a newline in a summary cannot forge a log line.
        tracing::info!(
            target: "pagerd::page",
            incident = incident.id,
            service = %one_line(&incident.service),
            severity = %incident.severity,
            person = %page.person,
            level = page.pos.level + 1,
            kind = page.kind.as_str(),
            key = %page.idempotency_key,
            "PAGE {}: {}",
            page.person,
            one_line(&incident.summary)
        );
        Ok(Delivered::default())
    }
}
