//! `[connections]`: what a client may hold open and for how long, on both listeners.
//!
//! Each listener admits at most `max_connections` at once; the sum of both, plus a reserve
//! for the store, outbound deliveries and answering refused connections, must fit under
//! the process's open-file limit (`app::conn::fds` lowers the limits to fit, with a warning),
//! so `accept` never fails with "Too many open files" and the daemon never goes deaf.

use std::time::Duration;

use anyhow::bail;
use serde::Deserialize;

use super::settings::de_duration;

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ConnectionSettings {
    pub http: HttpConnSettings,
    pub grpc: GrpcConnSettings,
    /// File descriptors kept free for everything but the two listeners' connections.
    pub fd_reserve: u64,
}

impl Default for ConnectionSettings {
    fn default() -> Self {
        Self {
            http: HttpConnSettings::default(),
            grpc: GrpcConnSettings::default(),
            fd_reserve: 256,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HttpConnSettings {
    /// Connections served at once; more are answered 503 and closed.
    pub max_connections: usize,
    /// A request's head must arrive within this (slowloris); HTTP/1 keep-alive connections
    /// waiting for their next request are closed after it too.
    #[serde(deserialize_with = "de_duration")]
    pub header_timeout: Duration,
    /// A connection on which nothing is read or written this long is closed.
    #[serde(deserialize_with = "de_duration")]
    pub idle_timeout: Duration,
    /// With TLS on: a client has this long to finish its handshake (both listeners).
    #[serde(deserialize_with = "de_duration")]
    pub tls_handshake_timeout: Duration,
}

impl Default for HttpConnSettings {
    fn default() -> Self {
        Self {
            max_connections: 4096,
            header_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(60),
            tls_handshake_timeout: Duration::from_secs(10),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GrpcConnSettings {
    /// Connections served at once; calls on more are answered UNAVAILABLE, then closed.
    pub max_connections: usize,
    /// A connection on which nothing is read or written this long is closed; keepalive
    /// pings count, so a client that answers them (a quiet `Watch`) stays.
    #[serde(deserialize_with = "de_duration")]
    pub idle_timeout: Duration,
    /// HTTP/2 PING to every connection this often...
    #[serde(deserialize_with = "de_duration")]
    pub keepalive_interval: Duration,
    /// ...and close it when the answer takes longer than this.
    #[serde(deserialize_with = "de_duration")]
    pub keepalive_timeout: Duration,
    /// A call that has not answered within this is cancelled with DEADLINE_EXCEEDED (a
    /// streaming call's stream is not limited, only its start).
    #[serde(deserialize_with = "de_duration")]
    pub request_timeout: Duration,
    /// HTTP/2 streams (calls) open at once on one connection.
    pub max_concurrent_streams: u32,
    /// Calls handled at once per connection; more wait.
    pub concurrency_per_connection: usize,
    /// `Watch` streams open at once, over all connections; more get RESOURCE_EXHAUSTED.
    pub max_watch_streams: usize,
}

impl Default for GrpcConnSettings {
    fn default() -> Self {
        Self {
            max_connections: 4096,
            idle_timeout: Duration::from_secs(300),
            keepalive_interval: Duration::from_secs(60),
            keepalive_timeout: Duration::from_secs(20),
            request_timeout: Duration::from_secs(60),
            max_concurrent_streams: 256,
            concurrency_per_connection: 256,
            max_watch_streams: 1024,
        }
    }
}

impl ConnectionSettings {
    pub(crate) fn validate(&self) -> anyhow::Result<()> {
        let (h, g) = (&self.http, &self.grpc);
        let positive: [(&str, usize); 5] = [
            ("connections.http.max_connections", h.max_connections),
            ("connections.grpc.max_connections", g.max_connections),
            (
                "connections.grpc.max_concurrent_streams",
                g.max_concurrent_streams as usize,
            ),
            (
                "connections.grpc.concurrency_per_connection",
                g.concurrency_per_connection,
            ),
            ("connections.grpc.max_watch_streams", g.max_watch_streams),
        ];
        for (key, n) in positive {
            if n == 0 {
                bail!("{key}: must be at least 1");
            }
        }
        let durations = [
            ("connections.http.header_timeout", h.header_timeout),
            ("connections.http.idle_timeout", h.idle_timeout),
            (
                "connections.http.tls_handshake_timeout",
                h.tls_handshake_timeout,
            ),
            ("connections.grpc.idle_timeout", g.idle_timeout),
            ("connections.grpc.keepalive_interval", g.keepalive_interval),
            ("connections.grpc.keepalive_timeout", g.keepalive_timeout),
            ("connections.grpc.request_timeout", g.request_timeout),
        ];
        for (key, d) in durations {
            if d.is_zero() {
                bail!("{key}: must be longer than 0");
            }
        }
        // Otherwise a quiet Watch client that answers every ping would still be cut.
        if g.keepalive_interval >= g.idle_timeout {
            bail!(
                "connections.grpc.keepalive_interval: {} must be shorter than \
                 connections.grpc.idle_timeout ({})",
                humantime::format_duration(g.keepalive_interval),
                humantime::format_duration(g.idle_timeout)
            );
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_bad_values_name_their_key() {
        ConnectionSettings::default().validate().unwrap();
        type Edit = fn(&mut ConnectionSettings);
        let cases: [(Edit, &str); 4] = [
            (
                |s| s.http.max_connections = 0,
                "connections.http.max_connections",
            ),
            (
                |s| s.grpc.max_watch_streams = 0,
                "connections.grpc.max_watch_streams",
            ),
            (
                |s| s.http.header_timeout = Duration::ZERO,
                "connections.http.header_timeout",
            ),
            (
                |s| s.grpc.keepalive_interval = s.grpc.idle_timeout,
                "connections.grpc.keepalive_interval",
            ),
        ];
        for (edit, key) in cases {
            let mut s = ConnectionSettings::default();
            edit(&mut s);
            let err = s.validate().unwrap_err().to_string();
            assert!(err.starts_with(key), "{key}: {err}");
        }
    }
}
