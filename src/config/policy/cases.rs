//! The fixture cases in `tests/policy_cases/` (the format is in its README.md): each valid
//! case loads (with exactly the warnings its `# warn:` lines name), and each invalid case is refused with exactly the errors its `# expect:` lines
//! name, in order. Adding a case is adding a file.

use std::path::{MAIN_SEPARATOR, Path, PathBuf};

use super::{limit_warnings, load_dir};
use crate::domain::PolicySet;

fn cases_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/policy_cases")
}

/// The `*.toml` files directly in `dir`, in name order.
fn toml_files(dir: &Path) -> Vec<PathBuf> {
    let entries = std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    let mut files: Vec<PathBuf> = entries
        .map(|entry| entry.expect("directory entry").path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "toml"))
        .collect();
    files.sort();
    files
}

fn file_name(path: &Path) -> &str {
    path.file_name()
        .and_then(|name| name.to_str())
        .expect("a UTF-8 file name")
}

/// What a case's leading comment lines say.
#[derive(Default)]
struct Header {
    /// `# with: people.toml`: only these base files (default: all of them).
    with: Option<Vec<String>>,
    /// `# expect: file:line: message`, one line per error.
    expect: Vec<String>,
    /// `# warn: message` (valid cases), one line per warning `pagerd check` prints about
    /// burnout limits, with the clock at [`CASES_NOW`].
    warn: Vec<String>,
}

/// The instant valid cases' warnings are computed at: the coming quarters are 2026's.
const CASES_NOW: &str = "2026-01-01T00:00:00Z";

impl Header {
    fn of(text: &str) -> Self {
        let mut header = Header::default();
        for line in text.lines().take_while(|line| line.starts_with('#')) {
            if let Some(names) = line.strip_prefix("# with:") {
                header.with = Some(names.split_whitespace().map(String::from).collect());
            } else if let Some(error) = line.strip_prefix("# expect:") {
                header.expect.push(error.trim().to_owned());
            } else if let Some(warning) = line.strip_prefix("# warn:") {
                header.warn.push(warning.trim().to_owned());
            }
        }
        header
    }
}

/// Loads `case` together with the base files, in a directory of their own, as pagerd would
/// load a schedules directory. The errors read `file:line: message` without the directory.
fn load_case(case: &Path, with: Option<&[String]>) -> Result<PolicySet, Vec<String>> {
    let dir = tempfile::tempdir().expect("temp dir");
    let base = toml_files(&cases_dir().join("base"));
    if let Some(with) = with {
        for name in with {
            assert!(
                base.iter().any(|b| file_name(b) == name),
                "{}: `# with: {name}` is not a file in base/",
                case.display()
            );
        }
    }
    for file in &base {
        let name = file_name(file);
        if with.is_none_or(|with| with.iter().any(|w| w == name)) {
            std::fs::copy(file, dir.path().join(name)).expect("copy base file");
        }
    }
    let name = file_name(case);
    assert!(
        !dir.path().join(name).exists(),
        "{}: a case may not share a base file's name",
        case.display()
    );
    std::fs::copy(case, dir.path().join(name)).expect("copy case");
    let prefix = format!("{}{MAIN_SEPARATOR}", dir.path().display());
    load_dir(dir.path()).map_err(|errors| {
        errors
            .0
            .iter()
            .map(|e| e.to_string().replace(&prefix, ""))
            .collect()
    })
}

#[test]
fn every_valid_case_loads() {
    let cases = toml_files(&cases_dir().join("valid"));
    assert!(!cases.is_empty(), "no valid cases");
    let mut failures = Vec::new();
    for case in &cases {
        let text = std::fs::read_to_string(case).expect("read case");
        let header = Header::of(&text);
        assert!(
            header.expect.is_empty(),
            "{}: a valid case expects no errors",
            case.display()
        );
        match load_case(case, header.with.as_deref()) {
            Err(errors) => failures.push(format!("{}:\n  {}", case.display(), errors.join("\n  "))),
            Ok(set) => {
                let warnings = limit_warnings(&set, CASES_NOW.parse().expect("an instant"));
                if warnings != header.warn {
                    failures.push(format!(
                        "{}:\n expected warnings\n  {}\n got\n  {}",
                        case.display(),
                        header.warn.join("\n  "),
                        warnings.join("\n  ")
                    ));
                }
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn every_invalid_case_is_refused_with_the_errors_it_expects() {
    let cases = toml_files(&cases_dir().join("invalid"));
    assert!(!cases.is_empty(), "no invalid cases");
    let mut failures = Vec::new();
    for case in &cases {
        let text = std::fs::read_to_string(case).expect("read case");
        let header = Header::of(&text);
        assert!(
            !header.expect.is_empty(),
            "{}: an invalid case needs `# expect: file:line: message` lines",
            case.display()
        );
        match load_case(case, header.with.as_deref()) {
            Ok(_) => failures.push(format!("{}: loaded without errors", case.display())),
            Err(errors) if errors != header.expect => failures.push(format!(
                "{}:\n expected\n  {}\n got\n  {}",
                case.display(),
                header.expect.join("\n  "),
                errors.join("\n  ")
            )),
            Err(_) => {}
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
