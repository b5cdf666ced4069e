//! What the loadgen reads about the daemon process: memory, disk use and CPU time.

use super::*;

#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Memory {
    pub(crate) rss_kb: u64,
    pub(crate) hwm_kb: u64,
}

impl std::fmt::Display for Memory {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "VmRSS {:.1} MB, VmHWM {:.1} MB",
            self.rss_kb as f64 / 1024.0,
            self.hwm_kb as f64 / 1024.0
        )
    }
}

/// Sizes of the files in the data directory (database, WAL), for context.
pub(crate) fn disk_usage(dir: &Path) -> String {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return format!("{} unreadable", dir.display());
    };
    let mut files: Vec<(String, u64)> = entries
        .flatten()
        .filter_map(|e| {
            Some((
                e.file_name().to_string_lossy().into_owned(),
                e.metadata().ok()?.len(),
            ))
        })
        .collect();
    files.sort();
    files
        .iter()
        .map(|(name, len)| format!("{name} {:.1} MB", *len as f64 / 1e6))
        .collect::<Vec<_>>()
        .join(", ")
}

pub(crate) fn proc_memory(pid: u32) -> anyhow::Result<Memory> {
    let path = format!("/proc/{pid}/status");
    let status = std::fs::read_to_string(&path).with_context(|| format!("reading {path}"))?;
    let field = |name: &str| -> anyhow::Result<u64> {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|kb| kb.parse().ok())
            .with_context(|| format!("{name} missing from {path}"))
    };
    Ok(Memory {
        rss_kb: field("VmRSS:")?,
        hwm_kb: field("VmHWM:")?,
    })
}

/// CPU time (user + system) of the daemon, of this process and of the whole machine, from
/// `/proc`: what each side used during a phase, and how much other processes took.
pub(crate) struct CpuClock {
    pub(crate) ticks_per_sec: f64,
}

pub(crate) struct CpuMark {
    pub(crate) at: Instant,
    pub(crate) daemon: f64,
    pub(crate) loadgen: f64,
    pub(crate) machine: f64,
}

/// Cores kept busy during a phase.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct CpuUse {
    pub(crate) daemon: f64,
    pub(crate) loadgen: f64,
    /// Everything else on the machine (other tenants, the kernel's own threads).
    pub(crate) others: f64,
}

impl std::fmt::Display for CpuUse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "daemon {:.2}, loadgen {:.2}, other processes {:.2} cores",
            self.daemon, self.loadgen, self.others
        )
    }
}

impl CpuClock {
    pub(crate) fn new() -> Self {
        let ticks = std::process::Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .ok()
            .and_then(|o| String::from_utf8(o.stdout).ok())
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(100.0);
        Self {
            ticks_per_sec: ticks,
        }
    }

    /// CPU seconds of one process (`self` for this one); 0 if it is gone.
    pub(crate) fn process_seconds(&self, pid: &str) -> f64 {
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            return 0.0;
        };
        // Fields after the parenthesised command name; utime and stime are fields 14 and 15.
        let Some((_, rest)) = stat.rsplit_once(')') else {
            return 0.0;
        };
        let fields: Vec<&str> = rest.split_whitespace().collect();
        let ticks = |i: usize| {
            fields
                .get(i)
                .and_then(|v| v.parse::<f64>().ok())
                .unwrap_or(0.0)
        };
        (ticks(11) + ticks(12)) / self.ticks_per_sec
    }

    /// Busy CPU seconds of the whole machine: every `cpu` column but idle and iowait.
    pub(crate) fn machine_seconds(&self) -> f64 {
        let Ok(stat) = std::fs::read_to_string("/proc/stat") else {
            return 0.0;
        };
        let Some(total) = stat.lines().next().and_then(|l| l.strip_prefix("cpu ")) else {
            return 0.0;
        };
        let busy: f64 = total
            .split_whitespace()
            .take(8) // user nice system idle iowait irq softirq steal
            .enumerate()
            .filter(|(i, _)| *i != 3 && *i != 4)
            .filter_map(|(_, v)| v.parse::<f64>().ok())
            .sum();
        busy / self.ticks_per_sec
    }

    pub(crate) fn mark(&self, daemon: u32) -> CpuMark {
        CpuMark {
            at: Instant::now(),
            daemon: self.process_seconds(&daemon.to_string()),
            loadgen: self.process_seconds("self"),
            machine: self.machine_seconds(),
        }
    }

    pub(crate) fn since(&self, mark: &CpuMark, daemon: u32) -> CpuUse {
        let wall = mark.at.elapsed().as_secs_f64().max(1e-9);
        let daemon = (self.process_seconds(&daemon.to_string()) - mark.daemon) / wall;
        let loadgen = (self.process_seconds("self") - mark.loadgen) / wall;
        let machine = (self.machine_seconds() - mark.machine) / wall;
        CpuUse {
            daemon,
            loadgen,
            others: (machine - daemon - loadgen).max(0.0),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Load
// ---------------------------------------------------------------------------------------------
