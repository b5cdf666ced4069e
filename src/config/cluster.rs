//! `[cluster]`: several pagerd nodes on one PostgreSQL database (`store.url`). Only the
//! holder of the cluster lease runs the timer and the outbox; see README "Running several
//! nodes". Ignored on SQLite (one node).

use std::time::Duration;

use anyhow::bail;
use serde::Deserialize;

use super::settings::de_duration;

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ClusterSettings {
    /// How long the lease lasts without a renewal: when the leader dies, another node takes
    /// over within this time.
    #[serde(deserialize_with = "de_duration")]
    pub lease_ttl: Duration,
    /// This node's name in `pagerctl status` and the lease; default `HOSTNAME:GRPC_PORT`.
    /// Must differ between nodes.
    pub node_name: Option<String>,
}

impl Default for ClusterSettings {
    fn default() -> Self {
        Self {
            lease_ttl: Duration::from_secs(10),
            node_name: None,
        }
    }
}

impl ClusterSettings {
    pub fn validate(&self) -> anyhow::Result<()> {
        // Renewals go every fifth of the TTL; under 2 s a slow query would cost the lease.
        if self.lease_ttl < Duration::from_secs(2) {
            bail!("cluster.lease_ttl: must be at least 2s");
        }
        if self.lease_ttl > Duration::from_secs(600) {
            bail!("cluster.lease_ttl: at most 600s (a dead leader would silence paging that long)");
        }
        if let Some(name) = &self.node_name
            && (name.trim().is_empty() || name.len() > 200 || name.chars().any(char::is_control))
        {
            bail!("cluster.node_name: must be 1-200 printable characters");
        }
        Ok(())
    }

    /// This node's name: the setting, or `host:port` of its gRPC listener.
    pub fn node_name(&self, grpc_port: u16) -> String {
        match &self.node_name {
            Some(n) => n.trim().to_string(),
            None => {
                let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
                    .map(|h| h.trim().to_string())
                    .ok()
                    .filter(|h| !h.is_empty())
                    .unwrap_or_else(|| "localhost".into());
                format!("{host}:{grpc_port}")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_are_named_by_their_key() {
        let table = [
            (
                Duration::from_secs(1),
                None,
                Some("cluster.lease_ttl: must be at least 2s"),
            ),
            (
                Duration::from_secs(601),
                None,
                Some("cluster.lease_ttl: at most 600s"),
            ),
            (
                Duration::from_secs(10),
                Some(" "),
                Some("cluster.node_name"),
            ),
            (
                Duration::from_secs(10),
                Some("a\nb"),
                Some("cluster.node_name"),
            ),
            (Duration::from_secs(10), Some("node-a"), None),
        ];
        for (ttl, name, want) in table {
            let s = ClusterSettings {
                lease_ttl: ttl,
                node_name: name.map(String::from),
            };
            match (s.validate(), want) {
                (Ok(()), None) => {}
                (Err(e), Some(w)) => assert!(e.to_string().starts_with(w), "{e}"),
                (got, want) => panic!("{ttl:?} {name:?}: got {got:?}, want {want:?}"),
            }
        }
        let named = ClusterSettings {
            node_name: Some(" a ".into()),
            ..Default::default()
        };
        assert_eq!(named.node_name(1), "a");
        assert!(
            ClusterSettings::default()
                .node_name(7000)
                .ends_with(":7000")
        );
    }
}
