//! `store.url`: which backend and where. Unset or `sqlite://PATH` is SQLite (a relative PATH
//! from the working directory; unset is `DATA_DIR/pagerd.db`), `postgres://…` or
//! `postgresql://…` is PostgreSQL. Pure functions, so the choice and the redaction are
//! tested with tables.

use std::path::{Path, PathBuf};

/// Where the store lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreUrl {
    Sqlite(PathBuf),
    /// The URL as given (the driver parses it; log it only through [`redacted`]).
    Postgres(String),
}

impl StoreUrl {
    /// For logs: the file, or the URL without its password.
    pub fn display(&self) -> String {
        match self {
            StoreUrl::Sqlite(path) => path.display().to_string(),
            StoreUrl::Postgres(url) => redacted(url),
        }
    }
}

/// Reads `store.url`; `default_db` is the SQLite file used when it is unset.
pub fn parse(url: Option<&str>, default_db: &Path) -> Result<StoreUrl, String> {
    let Some(url) = url else {
        return Ok(StoreUrl::Sqlite(default_db.to_path_buf()));
    };
    if let Some(path) = url.strip_prefix("sqlite://") {
        if path.is_empty() {
            return Err("store.url: `sqlite://` needs a file path, e.g. sqlite://pagerd.db".into());
        }
        return Ok(StoreUrl::Sqlite(PathBuf::from(path)));
    }
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        return Ok(StoreUrl::Postgres(url.to_string()));
    }
    let scheme = url.split_once("://").map_or("(none)", |(s, _)| s);
    Err(format!(
        "store.url {:?}: unknown scheme {scheme:?}; use sqlite://PATH or postgres://…",
        redacted(url)
    ))
}

/// `url` with any password replaced by `***`: the userinfo's `:secret@`, and a `password=`
/// query parameter. Safe to log.
pub fn redacted(url: &str) -> String {
    let (scheme, rest) = match url.split_once("://") {
        Some((s, r)) => (format!("{s}://"), r),
        None => (String::new(), url),
    };
    // The authority ends at the first '/', '?' or '#'; its userinfo at its last '@'.
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(end);
    let authority = match authority.rsplit_once('@') {
        Some((userinfo, host)) => match userinfo.split_once(':') {
            Some((user, _)) => format!("{user}:***@{host}"),
            None => format!("{userinfo}@{host}"),
        },
        None => authority.to_string(),
    };
    let tail = match tail.split_once('?') {
        Some((path, query)) => {
            let query: Vec<String> = query
                .split('&')
                .map(|kv| match kv.split_once('=') {
                    Some((k, _)) if k.eq_ignore_ascii_case("password") => format!("{k}=***"),
                    _ => kv.to_string(),
                })
                .collect();
            format!("{path}?{}", query.join("&"))
        }
        None => tail.to_string(),
    };
    format!("{scheme}{authority}{tail}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_never_show() {
        let table = [
            (
                "postgres://pagerd:s3cret@db:5432/pagerd",
                "postgres://pagerd:***@db:5432/pagerd",
            ),
            (
                "postgresql://u:p%40ss@h/d?sslmode=disable",
                "postgresql://u:***@h/d?sslmode=disable",
            ),
            ("postgres://u@h/d", "postgres://u@h/d"),
            ("postgres://h/d", "postgres://h/d"),
            ("postgres://u:a:b@h", "postgres://u:***@h"),
            ("postgres://u:x@y@h/d", "postgres://u:***@h/d"),
            (
                "postgres://h/d?user=u&password=pw&x=1",
                "postgres://h/d?user=u&password=***&x=1",
            ),
            ("postgres://h/d?PASSWORD=pw", "postgres://h/d?PASSWORD=***"),
            ("sqlite://./pagerd.db", "sqlite://./pagerd.db"),
            ("", ""),
        ];
        for (url, want) in table {
            assert_eq!(redacted(url), want, "{url}");
            assert!(!redacted(url).contains("s3cret") && !redacted(url).contains("pw&"));
        }
    }

    #[test]
    fn the_scheme_chooses_the_backend() {
        let default = Path::new("/data/pagerd.db");
        let table: [(Option<&str>, Result<StoreUrl, &str>); 7] = [
            (None, Ok(StoreUrl::Sqlite(default.into()))),
            (
                Some("sqlite://rel/p.db"),
                Ok(StoreUrl::Sqlite("rel/p.db".into())),
            ),
            (
                Some("sqlite:///abs/p.db"),
                Ok(StoreUrl::Sqlite("/abs/p.db".into())),
            ),
            (
                Some("postgres://h/d"),
                Ok(StoreUrl::Postgres("postgres://h/d".into())),
            ),
            (
                Some("postgresql://h/d"),
                Ok(StoreUrl::Postgres("postgresql://h/d".into())),
            ),
            (Some("sqlite://"), Err("needs a file path")),
            (
                Some("mysql://u:hunter2@h/d"),
                Err("unknown scheme \"mysql\""),
            ),
        ];
        for (url, want) in table {
            match (parse(url, default), want) {
                (Ok(got), Ok(want)) => assert_eq!(got, want, "{url:?}"),
                (Err(got), Err(want)) => {
                    assert!(got.contains("store.url") && got.contains(want), "{got}");
                    assert!(!got.contains("hunter2"), "{got}");
                }
                (got, want) => panic!("{url:?}: got {got:?}, want {want:?}"),
            }
        }
        let err = parse(Some("pagerd.db"), default).unwrap_err();
        assert!(err.contains("(none)"), "{err}");
    }
}
