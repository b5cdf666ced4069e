//! The loadgen's report: every figure against its target, as printed.

use super::*;

#[derive(Default)]
pub(crate) struct Report {
    pub(crate) empty_startup: Duration,
    pub(crate) noop: LoadResult,
    pub(crate) noop_cpu: CpuUse,
    pub(crate) trigger: LoadResult,
    pub(crate) trigger_cpu: CpuUse,
    pub(crate) outbox_backlog: u64,
    pub(crate) outbox_drain: Duration,
    pub(crate) timer_triggers: LoadResult,
    pub(crate) timer_cpu: CpuUse,
    pub(crate) lateness: Vec<f64>,
    pub(crate) lateness_expected: u64,
    pub(crate) open_incidents: u64,
    pub(crate) memory_loaded: Memory,
    pub(crate) shutdown: Duration,
    pub(crate) startup: Duration,
    pub(crate) startup_logged_ms: Option<u64>,
    pub(crate) restart_open_incidents: u64,
    pub(crate) memory_restarted: Memory,
    pub(crate) sink_malformed: u64,
}

impl Report {
    pub(crate) fn print(&self, args: &Args) {
        let mut late = self.lateness.clone();
        late.sort_by(f64::total_cmp);
        let late_pct = |p: f64| percentile(&late, p).copied();
        let ratio = self.trigger.rate() / self.noop.rate().max(1e-9);
        let rss_mb = self.memory_loaded.hwm_kb as f64 / 1024.0;
        let all_late = late.len() as u64 >= self.lateness_expected && self.lateness_expected > 0;
        let p99 = late_pct(99.0);

        println!();
        println!("CPU use per phase (cores; the reference machine has 2):");
        println!("  health checks: {}", self.noop_cpu);
        println!("  triggers:      {}", self.trigger_cpu);
        println!("  timer phase:   {}", self.timer_cpu);
        let others = [self.noop_cpu, self.trigger_cpu, self.timer_cpu]
            .iter()
            .map(|c| c.others)
            .fold(0.0, f64::max);
        if others > NOISY_OTHERS_CORES {
            println!(
                "  WARNING: other processes took up to {others:.2} cores during a phase; \
                 these figures are disturbed, run again on a quiet machine"
            );
        }
        println!(
            "timer lateness (due -> page at the sink), {} of {} pages: p50 {} p90 {} p99 {} max {}",
            late.len(),
            self.lateness_expected,
            opt_ms(late_pct(50.0)),
            opt_ms(late_pct(90.0)),
            opt_ms(p99),
            opt_ms(late_pct(100.0)),
        );
        println!(
            "memory: loaded ({} open) {}; after restart ({} open) {}",
            self.open_incidents,
            self.memory_loaded,
            self.restart_open_incidents,
            self.memory_restarted
        );
        println!(
            "start-up: empty database {}; {} open incidents {} (daemon logged startup_ms={}); shutdown {}",
            ms(self.empty_startup),
            self.restart_open_incidents,
            ms(self.startup),
            self.startup_logged_ms.map_or("?".into(), |v| v.to_string()),
            ms(self.shutdown)
        );
        if self.sink_malformed > 0 {
            println!(
                "webhook sink: {} page bodies it could not read",
                self.sink_malformed
            );
        }

        let rows = [
            (
                format!("(a) durable triggers/s, {} clients", args.clients),
                format!(">= {TARGET_TRIGGERS_PER_SEC:.0}/s"),
                format!("{:.0}/s", self.trigger.rate()),
                self.trigger.rate() >= TARGET_TRIGGERS_PER_SEC && self.trigger.error_count() == 0,
            ),
            (
                "(a) no-op Health/Check/s (same clients)".to_string(),
                "-".to_string(),
                format!("{:.0}/s", self.noop.rate()),
                true,
            ),
            (
                "(a) triggers / no-op".to_string(),
                format!(">= {TARGET_NOOP_RATIO}x"),
                format!("{ratio:.2}x"),
                ratio >= TARGET_NOOP_RATIO,
            ),
            (
                format!("(b) timer lateness p99, {} pending", self.trigger.ok),
                format!("<= {TARGET_LATENESS_P99_MS:.0} ms"),
                opt_ms(p99),
                all_late && p99.is_some_and(|v| v <= TARGET_LATENESS_P99_MS),
            ),
            (
                format!("(c) peak RSS (VmHWM), {} open", self.open_incidents),
                format!("<= {TARGET_RSS_MB:.0} MB"),
                format!("{rss_mb:.1} MB"),
                rss_mb <= TARGET_RSS_MB,
            ),
            (
                format!("(d) start-up, {} open", self.restart_open_incidents),
                format!("<= {} ms", TARGET_STARTUP.as_millis()),
                ms(self.startup),
                self.startup <= TARGET_STARTUP && self.restart_open_incidents >= self.trigger.ok,
            ),
        ];
        println!();
        println!(
            "{:<44} {:>12} {:>12}  result",
            "figure", "target", "measured"
        );
        for (name, target, measured, pass) in rows {
            let verdict = if target == "-" {
                ""
            } else if pass {
                "PASS"
            } else {
                "MISS"
            };
            println!("{name:<44} {target:>12} {measured:>12}  {verdict}");
        }
    }
}

/// Nearest-rank percentile of sorted values (`p` = 100 is the maximum).
pub(crate) fn percentile<T>(sorted: &[T], p: f64) -> Option<&T> {
    if sorted.is_empty() {
        return None;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted.get(rank.clamp(1, sorted.len()) - 1)
}

pub(crate) fn ms(d: Duration) -> String {
    ms_f(d.as_secs_f64() * 1000.0)
}

pub(crate) fn ms_f(v: f64) -> String {
    if v < 10.0 {
        format!("{v:.2} ms")
    } else {
        format!("{v:.0} ms")
    }
}

pub(crate) fn opt_ms(v: Option<f64>) -> String {
    v.map_or("-".into(), ms_f)
}
