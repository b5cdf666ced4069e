//! Value parsers for the command line: addresses, timeouts, details and links; times are
//! in `when` (re-exported here).

use std::time::Duration;

use tonic::transport::Endpoint;

use pagerd::proto as pb;

#[cfg(test)]
pub(crate) use crate::when::parse_instant;
pub(crate) use crate::when::{End, When, parse_end, parse_future_time, parse_time};

/// `host:port` gets `http://`; `https://` is for a daemon serving TLS.
pub(crate) fn parse_addr(s: &str) -> Result<String, String> {
    let s = s.trim().trim_end_matches('/');
    let addr = if s.contains("://") {
        s.to_owned()
    } else {
        format!("http://{s}")
    };
    if !addr.starts_with("http://") && !addr.starts_with("https://") {
        return Err(format!(
            "`{s}`: use an http:// or https:// address (https:// when pagerd serves TLS)"
        ));
    }
    Endpoint::from_shared(addr.clone()).map_err(|e| format!("`{s}` is not an address: {e}"))?;
    Ok(addr)
}

pub(crate) fn parse_timeout(s: &str) -> Result<Duration, String> {
    let d = match s.trim().parse::<u64>() {
        Ok(secs) => Duration::from_secs(secs),
        Err(_) => {
            humantime::parse_duration(s).map_err(|e| format!("`{s}`: {e} (try 10s, 500ms, 1m)"))?
        }
    };
    if d.is_zero() {
        return Err("must be more than zero".into());
    }
    Ok(d)
}

pub(crate) fn parse_detail(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((k, v)) if !k.trim().is_empty() => Ok((k.trim().to_owned(), v.to_owned())),
        _ => Err(format!("`{s}`: expected KEY=VALUE")),
    }
}

/// `URL` or `URL=TEXT`. A URL holds no whitespace but its query string may hold `=`: with
/// whitespace, TEXT starts after the last `=` before it; without, after the first `=` that
/// comes before any `?` or `#`.
pub(crate) fn parse_link(s: &str) -> Result<pb::Link, String> {
    let split = match s.find(char::is_whitespace) {
        Some(ws) => s[..ws].rfind('='),
        None => s[..s.find(['?', '#']).unwrap_or(s.len())].find('='),
    };
    let (href, text) = match split {
        Some(i) => (&s[..i], &s[i + 1..]),
        None => (s, ""),
    };
    let href = href.trim();
    if href.is_empty() {
        return Err(format!("`{s}`: expected URL or URL=TEXT"));
    }
    Ok(pb::Link {
        href: href.to_owned(),
        text: text.trim().to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_without_a_scheme_get_http() {
        assert_eq!(
            parse_addr("127.0.0.1:50051").unwrap(),
            "http://127.0.0.1:50051"
        );
        assert_eq!(
            parse_addr("http://pagerd:50051/").unwrap(),
            "http://pagerd:50051"
        );
        assert_eq!(
            parse_addr("https://pagerd:50051").unwrap(),
            "https://pagerd:50051"
        );
        assert!(parse_addr("ftp://pagerd:50051").is_err());
    }

    #[test]
    fn links_split_text_from_urls_with_queries() {
        let link = |s| parse_link(s).map(|l| (l.href, l.text));
        let pair = |h: &str, t: &str| Ok((h.to_owned(), t.to_owned()));
        assert_eq!(link("https://x/runbook"), pair("https://x/runbook", ""));
        assert_eq!(
            link("https://x/runbook=Runbook"),
            pair("https://x/runbook", "Runbook")
        );
        assert_eq!(
            link("https://x/d?org=1&v=a"),
            pair("https://x/d?org=1&v=a", "")
        );
        assert_eq!(
            link("https://x/d?org=1=Checkout dashboard"),
            pair("https://x/d?org=1", "Checkout dashboard")
        );
        assert_eq!(
            link("https://x/r=Text with a=b"),
            pair("https://x/r", "Text with a=b")
        );
        assert!(parse_link("=text").is_err());
    }

    #[test]
    fn details_need_a_key() {
        assert_eq!(
            parse_detail("region=eu=west").unwrap(),
            ("region".into(), "eu=west".into())
        );
        assert_eq!(
            parse_detail("empty=").unwrap(),
            ("empty".into(), String::new())
        );
        assert!(parse_detail("=v").is_err());
        assert!(parse_detail("novalue").is_err());
    }

    #[test]
    fn timeouts_take_durations_or_seconds() {
        assert_eq!(parse_timeout("10s").unwrap(), Duration::from_secs(10));
        assert_eq!(parse_timeout("3").unwrap(), Duration::from_secs(3));
        assert_eq!(parse_timeout("250ms").unwrap(), Duration::from_millis(250));
        assert!(parse_timeout("0").is_err());
        assert!(parse_timeout("soon").is_err());
    }
}
