//! Policy files (`schedules/*.toml`): people, services, escalation policies and on-call
//! schedules.
//!
//! Files are parsed into raw, span-carrying structs, then validated as one set so that every
//! problem is reported at once, each as `file:line: message`. Names are global across files.
//!
//! - `raw`: the file format (serde structs with spans);
//! - `check`: the cross-file checker that turns raw files into a `PolicySet`;
//! - `syntax`: the small languages inside values (names, shift lengths, windows, times);
//! - `gaps`: the gap report `pagerd check` prints;
//! - `limits`: warnings about burnout limits the members cannot keep (a quarter too long).

#[cfg(test)]
mod cases;
mod check;
mod gaps;
mod limits;
mod raw;
mod syntax;
#[cfg(test)]
mod tests;

use std::fmt;
use std::path::{Path, PathBuf};

use thiserror::Error;

use crate::domain::PolicySet;

use check::{Checker, SourceFile};
pub use gaps::{GAP_HORIZON_DAYS, gap_report};
pub use limits::{QUARTERS_AHEAD, limit_warnings};

/// One problem in the policy files.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("{}{}: {message}", .file.display(), .line.map(|l| format!(":{l}")).unwrap_or_default())]
pub struct PolicyError {
    pub file: PathBuf,
    /// 1-based; `None` when the problem is the file or directory as a whole.
    pub line: Option<usize>,
    pub message: String,
}

/// Every problem found, in file order; displayed one per line.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("{}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n"))]
pub struct PolicyErrors(pub Vec<PolicyError>);

/// What `pagerd check` prints for a valid directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckSummary {
    pub dir: PathBuf,
    pub people: usize,
    pub services: usize,
    pub policies: usize,
    pub schedules: usize,
}

impl fmt::Display for CheckSummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let plural =
            |n: usize, one: &'static str, many: &'static str| if n == 1 { one } else { many };
        write!(
            f,
            "{}: {} {}, {} {}, {} escalation {}, {} {} — OK",
            self.dir.display(),
            self.people,
            plural(self.people, "person", "people"),
            self.services,
            plural(self.services, "service", "services"),
            self.policies,
            plural(self.policies, "policy", "policies"),
            self.schedules,
            plural(self.schedules, "schedule", "schedules"),
        )
    }
}

impl CheckSummary {
    /// The counts of a loaded set from `dir`.
    pub fn of(dir: &Path, set: &PolicySet) -> Self {
        Self {
            dir: dir.to_path_buf(),
            people: set.people.len(),
            services: set.services.len(),
            policies: set.policies.len(),
            schedules: set.schedules.len(),
        }
    }
}

/// Loads and validates a directory of policy files; see [`load_dir`].
pub fn check_dir(dir: &Path) -> Result<CheckSummary, PolicyErrors> {
    let set = load_dir(dir)?;
    Ok(CheckSummary::of(dir, &set))
}

/// SHA-256 over each file's name and text, in name order: equal for the same files wherever
/// the directory is.
fn digest(files: &[SourceFile]) -> String {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    for f in files {
        let name = f
            .path
            .file_name()
            .map(|n| n.to_string_lossy())
            .unwrap_or_default();
        // Lengths first, so no two different sets hash the same bytes.
        h.update((name.len() as u64).to_le_bytes());
        h.update(name.as_bytes());
        h.update((f.text.len() as u64).to_le_bytes());
        h.update(f.text.as_bytes());
    }
    hex::encode(h.finalize())
}

/// Reads every `*.toml` file directly in `dir` (in name order) and validates them as one set.
pub fn load_dir(dir: &Path) -> Result<PolicySet, PolicyErrors> {
    let dir_error = |message: String| {
        PolicyErrors(vec![PolicyError {
            file: dir.to_path_buf(),
            line: None,
            message,
        }])
    };
    let entries =
        std::fs::read_dir(dir).map_err(|e| dir_error(format!("cannot read directory: {e}")))?;
    let mut paths = Vec::new();
    for entry in entries {
        let path = entry
            .map_err(|e| dir_error(format!("cannot read directory: {e}")))?
            .path();
        if path.extension().is_some_and(|ext| ext == "toml") && path.is_file() {
            paths.push(path);
        }
    }
    if paths.is_empty() {
        return Err(dir_error("no *.toml policy files".to_owned()));
    }
    paths.sort();

    let mut checker = Checker::default();
    let mut files = Vec::with_capacity(paths.len());
    for path in paths {
        match std::fs::read_to_string(&path) {
            Ok(text) => files.push(SourceFile { path, text }),
            Err(e) => checker.errors.push(PolicyError {
                file: path,
                line: None,
                message: format!("cannot read file: {e}"),
            }),
        }
    }
    let mut set = checker.check(&files);
    if checker.errors.is_empty() {
        set.digest = digest(&files);
        return Ok(set);
    }
    checker
        .errors
        .sort_by(|a, b| (&a.file, a.line).cmp(&(&b.file, b.line)));
    Err(PolicyErrors(checker.errors))
}
