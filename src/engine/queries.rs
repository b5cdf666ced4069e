//! Reads the API edges answer from, so `api` talks to the engine only and never to the store.

use super::{Engine, EngineResult};

impl Engine {
    /// Incidents not yet resolved; also the health check's proof that the database answers.
    pub async fn open_incident_count(&self) -> EngineResult<u64> {
        Ok(self.inner.store.read(|r| r.open_incident_count()).await?)
    }

    /// The incident a page with reply `code` was sent to `person` about (SMS replies).
    pub async fn incident_for_reply_code(
        &self,
        person: &str,
        code: &str,
    ) -> EngineResult<Option<i64>> {
        let (person, code) = (person.to_string(), code.to_string());
        let now = self.clock().now();
        Ok(self
            .inner
            .store
            .read(move |r| r.incident_for_reply_code(&person, &code, now))
            .await?)
    }
}
