//! Prometheus metrics: the counters and histograms the engine, the outbox and the store's
//! writer bump on their paths (atomics, no lock once a label set exists), and the rendering
//! of `GET /metrics`, which adds the gauges read at scrape time ([`Scraped`]).
//!
//! Labels are bounded: services, severities and channels come from the policy files and the
//! settings; no incident id, person or free text is ever a label value.

use std::sync::atomic::AtomicU64;
use std::sync::{Arc, LazyLock};

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

use crate::domain::Severity;

/// Which exposition format a scraper gets: OpenMetrics when its `Accept` header asks for it
/// (Prometheus does), else the classic text format (curl, `promtool check metrics`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    OpenMetrics,
    Text,
}

impl Format {
    pub fn from_accept(accept: Option<&str>) -> Self {
        match accept {
            Some(a) if a.contains("application/openmetrics-text") => Self::OpenMetrics,
            _ => Self::Text,
        }
    }

    pub fn content_type(self) -> &'static str {
        match self {
            Self::OpenMetrics => "application/openmetrics-text; version=1.0.0; charset=utf-8",
            Self::Text => "text/plain; version=0.0.4; charset=utf-8",
        }
    }
}

/// The classic text format of an OpenMetrics exposition as `prometheus_client` writes it
/// (counters, gauges and histograms; no exemplars or `_created`): no `# EOF` or `# UNIT`
/// lines, and a counter's family named as its samples are (`…_total`).
fn to_classic(open_metrics: &str) -> String {
    let counters: std::collections::HashSet<&str> = open_metrics
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .filter_map(|rest| rest.strip_suffix(" counter"))
        .collect();
    let mut out = String::with_capacity(open_metrics.len());
    for line in open_metrics.lines() {
        if line == "# EOF" || line.starts_with("# UNIT ") {
            continue;
        }
        let meta = ["# HELP ", "# TYPE "]
            .into_iter()
            .find_map(|p| line.strip_prefix(p).map(|rest| (p, rest)));
        match meta.and_then(|(p, rest)| rest.split_once(' ').map(|(n, t)| (p, n, t))) {
            Some((p, name, tail)) if counters.contains(name) => {
                out.push_str(&format!("{p}{name}_total {tail}"));
            }
            _ => out.push_str(line),
        }
        out.push('\n');
    }
    out
}

/// Whether the hot-path recording calls record: always, except in the B runs of the
/// benchmark that measures what they cost (`BENCH_PAGERD_METRICS_OFF=1`, read once per
/// process; BENCHMARKS.md "The metrics' hot-path cost"), so A and B are the same binary.
fn recording() -> bool {
    static ON: LazyLock<bool> =
        LazyLock::new(|| std::env::var_os("BENCH_PAGERD_METRICS_OFF").is_none());
    *ON
}

/// Seconds, for latencies measured in the daemon's own clock (delivery, lateness).
const SECONDS: [f64; 14] = [
    0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0,
];
/// Seconds, for one store commit (fsync included).
const COMMIT_SECONDS: [f64; 12] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
];
/// Writes per committed batch.
const BATCH_SIZES: [f64; 10] = [1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 512.0];

fn seconds() -> Histogram {
    Histogram::new(SECONDS)
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ServiceSeverity {
    service: String,
    severity: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ChannelOutcome {
    channel: String,
    outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ChannelLabel {
    channel: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabel {
    outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StateLabel {
    state: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct BuildLabels {
    version: &'static str,
}

/// An incident change counted once its write committed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transition {
    Opened,
    Acknowledged,
    Resolved,
}

/// What one page attempt came to, as `pagerd_pages_total{outcome}` names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PageOutcome {
    /// Accepted by the provider.
    Sent,
    /// Failed for good (after its retries, or refused outright).
    Failed,
    /// Failed; tried again later.
    Retried,
    /// Held back by a rate limit, to go out together later.
    Held,
}

impl PageOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Sent => "sent",
            Self::Failed => "failed",
            Self::Retried => "retried",
            Self::Held => "held",
        }
    }
}

/// What a write observed, applied to the metrics only after it committed (a rolled-back
/// write counts nothing).
#[derive(Debug, Default)]
pub struct Observations {
    transitions: Vec<(Transition, String, Severity)>,
    /// Seconds each due action ran after its due time.
    lateness: Vec<f64>,
}

impl Observations {
    pub fn transition(&mut self, t: Transition, service: &str, severity: Severity) {
        if !recording() {
            return;
        }
        self.transitions.push((t, service.to_string(), severity));
    }

    pub fn late(&mut self, seconds: f64) {
        if !recording() {
            return;
        }
        self.lateness.push(seconds.max(0.0));
    }
}

/// The store writer's figures: commit latency and batch size.
#[derive(Clone)]
pub struct WriteStats {
    commit_seconds: Histogram,
    batch_size: Histogram,
}

impl Default for WriteStats {
    fn default() -> Self {
        Self {
            commit_seconds: Histogram::new(COMMIT_SECONDS),
            batch_size: Histogram::new(BATCH_SIZES),
        }
    }
}

impl WriteStats {
    /// One committed batch of `jobs` writes that took `seconds` from BEGIN to COMMIT.
    pub fn batch(&self, jobs: usize, seconds: f64) {
        if !recording() {
            return;
        }
        self.batch_size.observe(jobs as f64);
        self.commit_seconds.observe(seconds);
    }
}

/// The gauges read at scrape time: cheap, bounded store reads and in-memory state.
#[derive(Debug, Default, Clone)]
pub struct Scraped {
    /// Open incidents per state (`triggered`, `acknowledged`).
    pub open_by_state: Vec<(&'static str, u64)>,
    pub outbox_pending: u64,
    /// Seconds since the earliest pending page became due; 0 when none is due.
    pub outbox_oldest_due_seconds: f64,
    /// Seconds since the serving policy set was installed.
    pub policy_set_age_seconds: f64,
    /// Whether the last reload attempt was refused (its set kept serving the old one).
    pub last_reload_refused: bool,
    pub watch_streams: u64,
    /// Whether this node holds the cluster lease (runs the timer and outbox); a single node
    /// always does.
    pub leader: bool,
    /// The fencing token of this node's current lease (0 for a single node or a follower).
    pub lease_token: i64,
}

/// Every counter and histogram the daemon keeps; cheap to clone (shared state).
#[derive(Clone)]
pub struct Metrics {
    opened: Family<ServiceSeverity, Counter>,
    acknowledged: Family<ServiceSeverity, Counter>,
    resolved: Family<ServiceSeverity, Counter>,
    pages: Family<ChannelOutcome, Counter>,
    delivery_seconds: Family<ChannelLabel, Histogram, fn() -> Histogram>,
    due_lateness_seconds: Histogram,
    reloads: Family<OutcomeLabel, Counter>,
    write: Arc<std::sync::OnceLock<WriteStats>>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self {
            opened: Family::default(),
            acknowledged: Family::default(),
            resolved: Family::default(),
            pages: Family::default(),
            delivery_seconds: Family::new_with_constructor(seconds),
            due_lateness_seconds: seconds(),
            reloads: Family::default(),
            write: Arc::default(),
        }
    }
}

impl Metrics {
    /// Applies what a committed write observed.
    pub fn observe(&self, obs: Observations) {
        for (t, service, severity) in obs.transitions {
            let family = match t {
                Transition::Opened => &self.opened,
                Transition::Acknowledged => &self.acknowledged,
                Transition::Resolved => &self.resolved,
            };
            family
                .get_or_create(&ServiceSeverity {
                    service,
                    severity: severity.as_str(),
                })
                .inc();
        }
        for s in obs.lateness {
            self.due_lateness_seconds.observe(s);
        }
    }

    /// `n` page attempts on `channel` came to `outcome`.
    pub fn pages(&self, channel: &str, outcome: PageOutcome, n: u64) {
        if !recording() {
            return;
        }
        self.pages
            .get_or_create(&ChannelOutcome {
                channel: channel.to_string(),
                outcome: outcome.as_str(),
            })
            .inc_by(n);
    }

    /// A page accepted by `channel`'s provider `seconds` after it was due.
    pub fn delivered(&self, channel: &str, seconds: f64) {
        if !recording() {
            return;
        }
        self.delivery_seconds
            .get_or_create(&ChannelLabel {
                channel: channel.to_string(),
            })
            .observe(seconds.max(0.0));
    }

    /// A reload attempt ended: applied or refused.
    pub fn reload(&self, applied: bool) {
        let outcome = if applied { "applied" } else { "refused" };
        self.reloads.get_or_create(&OutcomeLabel { outcome }).inc();
    }

    /// The store writer's figures, rendered with the rest (set once, at start-up).
    pub fn set_write_stats(&self, stats: WriteStats) {
        let _ = self.write.set(stats);
    }

    /// The exposition text in `format`: every metric kept here, plus `scraped`.
    pub fn render(&self, scraped: &Scraped, format: Format) -> String {
        let text = self.render_open_metrics(scraped);
        match format {
            Format::OpenMetrics => text,
            Format::Text => to_classic(&text),
        }
    }

    fn render_open_metrics(&self, scraped: &Scraped) -> String {
        let mut r = Registry::default();
        let build = Family::<BuildLabels, Gauge>::default();
        build
            .get_or_create(&BuildLabels {
                version: env!("CARGO_PKG_VERSION"),
            })
            .set(1);
        r.register(
            "pagerd_build_info",
            "Always 1; the label says which pagerd version runs",
            build,
        );
        r.register(
            "pagerd_incidents_opened",
            "Incidents opened, by service and severity",
            self.opened.clone(),
        );
        r.register(
            "pagerd_incidents_acknowledged",
            "Incidents acknowledged, by service and severity",
            self.acknowledged.clone(),
        );
        r.register(
            "pagerd_incidents_resolved",
            "Incidents resolved, by service and severity",
            self.resolved.clone(),
        );
        let open = Family::<StateLabel, Gauge>::default();
        for (state, n) in &scraped.open_by_state {
            open.get_or_create(&StateLabel { state }).set(*n as i64);
        }
        r.register(
            "pagerd_incidents_open",
            "Incidents not resolved, by state",
            open,
        );
        r.register(
            "pagerd_pages",
            "Page attempts by channel and outcome (sent, failed, retried, held)",
            self.pages.clone(),
        );
        r.register(
            "pagerd_page_delivery_seconds",
            "From when a page was due to when the channel's provider accepted it",
            self.delivery_seconds.clone(),
        );
        r.register(
            "pagerd_due_lateness_seconds",
            "How late each due action (escalation, ack timeout, handoff) ran",
            self.due_lateness_seconds.clone(),
        );
        r.register(
            "pagerd_outbox_pending_pages",
            "Pages waiting in the outbox (due now, held or waiting for a retry)",
            int_gauge(scraped.outbox_pending),
        );
        r.register(
            "pagerd_outbox_oldest_due_seconds",
            "Seconds since the earliest pending page became due (0: none is due)",
            float_gauge(scraped.outbox_oldest_due_seconds),
        );
        if let Some(w) = self.write.get() {
            r.register(
                "pagerd_store_commit_seconds",
                "Time from BEGIN to COMMIT (with its fsync) of one write batch",
                w.commit_seconds.clone(),
            );
            r.register(
                "pagerd_store_batch_size",
                "Writes committed together in one batch",
                w.batch_size.clone(),
            );
        }
        r.register(
            "pagerd_reloads",
            "Policy set reload attempts by outcome (applied, refused)",
            self.reloads.clone(),
        );
        r.register(
            "pagerd_reload_last_refused",
            "1 when the last reload attempt was refused (the previous set keeps serving)",
            int_gauge(u64::from(scraped.last_reload_refused)),
        );
        r.register(
            "pagerd_policy_set_age_seconds",
            "Seconds since the serving policy set was installed",
            float_gauge(scraped.policy_set_age_seconds),
        );
        r.register(
            "pagerd_watch_streams",
            "Watch streams open now",
            int_gauge(scraped.watch_streams),
        );
        r.register(
            "pagerd_cluster_leader",
            "1 while this node holds the cluster lease and runs the timer and outbox (a single \
             node always does); across nodes the sum must be 1",
            int_gauge(u64::from(scraped.leader)),
        );
        r.register(
            "pagerd_cluster_lease_token",
            "Fencing token of this node's lease; it grows on every change of leader",
            int_gauge(scraped.lease_token.max(0) as u64),
        );
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &r)
            .expect("writing to a String cannot fail");
        out
    }
}

fn int_gauge(v: u64) -> Gauge {
    let g = Gauge::default();
    g.set(i64::try_from(v).unwrap_or(i64::MAX));
    g
}

fn float_gauge(v: f64) -> Gauge<f64, AtomicU64> {
    let g = Gauge::<f64, AtomicU64>::default();
    g.set(v);
    g
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample<'a>(text: &'a str, prefix: &str) -> Option<&'a str> {
        text.lines()
            .find(|l| l.starts_with(prefix))
            .and_then(|l| l.rsplit(' ').next())
    }

    #[test]
    fn counters_count_only_what_was_observed_and_labels_stay_bounded() {
        let m = Metrics::default();
        let mut obs = Observations::default();
        obs.transition(Transition::Opened, "db", Severity::Critical);
        obs.transition(Transition::Opened, "db", Severity::Critical);
        obs.transition(Transition::Resolved, "db", Severity::Low);
        obs.late(-1.0);
        m.observe(obs);
        m.pages("webhook", PageOutcome::Sent, 2);
        m.delivered("webhook", 0.3);
        m.reload(false);
        let scraped = Scraped {
            open_by_state: vec![("triggered", 2), ("acknowledged", 0)],
            watch_streams: 3,
            leader: true,
            lease_token: 7,
            ..Default::default()
        };
        let text = m.render(&scraped, Format::OpenMetrics);
        let get = |p: &str| sample(&text, p).unwrap_or_else(|| panic!("{p} missing:\n{text}"));
        assert_eq!(
            get(r#"pagerd_incidents_opened_total{service="db",severity="critical"}"#),
            "2"
        );
        assert_eq!(
            get(r#"pagerd_incidents_resolved_total{service="db",severity="low"}"#),
            "1"
        );
        assert_eq!(
            get(r#"pagerd_pages_total{channel="webhook",outcome="sent"}"#),
            "2"
        );
        assert_eq!(
            get(r#"pagerd_page_delivery_seconds_bucket{le="0.5",channel="webhook"}"#),
            "1"
        );
        // Negative lateness (clock skew) is counted as on time.
        assert_eq!(get(r#"pagerd_due_lateness_seconds_bucket{le="0.01"}"#), "1");
        assert_eq!(get(r#"pagerd_reloads_total{outcome="refused"}"#), "1");
        assert_eq!(get(r#"pagerd_incidents_open{state="triggered"}"#), "2");
        assert_eq!(get("pagerd_watch_streams "), "3");
        assert_eq!(get("pagerd_cluster_leader "), "1");
        assert_eq!(get("pagerd_cluster_lease_token "), "7");
        assert!(get("pagerd_build_info{").starts_with('1'));
        assert!(text.ends_with("# EOF\n"), "{text}");
        // No store stats until the writer's are attached.
        assert!(!text.contains("pagerd_store_commit_seconds"));
        m.set_write_stats(WriteStats::default());
        assert!(
            m.render(&Scraped::default(), Format::OpenMetrics)
                .contains("pagerd_store_commit_seconds")
        );
        let classic = m.render(&scraped, Format::Text);
        assert!(
            classic.contains("# TYPE pagerd_pages_total counter\n"),
            "{classic}"
        );
        assert!(classic.contains("# HELP pagerd_pages_total Page attempts"));
        assert!(classic.contains("# TYPE pagerd_watch_streams gauge\n"));
        assert!(!classic.contains("# EOF") && !classic.contains("# UNIT"));
    }

    #[test]
    fn the_accept_header_picks_the_format() {
        let om = "application/openmetrics-text;version=1.0.0,application/openmetrics-text;\
                  version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";
        assert_eq!(Format::from_accept(Some(om)), Format::OpenMetrics);
        for other in [None, Some("*/*"), Some("text/plain")] {
            assert_eq!(Format::from_accept(other), Format::Text, "{other:?}");
        }
    }
}
