//! Writes pages to the daemon's log: useful on a laptop and as a last-resort trail.

use super::{Channel, SendError};
use crate::domain::{Page, Person};

#[derive(Debug, Default)]
pub struct LogChannel;

#[async_trait::async_trait]
impl Channel for LogChannel {
    fn name(&self) -> &str {
        "log"
    }

    async fn send(&self, page: &Page, _person: Option<&Person>) -> Result<(), SendError> {
        tracing::info!(
            target: "pagerd::page",
            incident = page.incident.id,
            service = %page.incident.service,
            severity = %page.incident.severity,
            person = %page.person,
            level = page.pos.level + 1,
            kind = page.kind.as_str(),
            key = %page.idempotency_key,
            "PAGE {}: {}",
            page.person,
            page.incident.summary
        );
        Ok(())
    }
}
