//! A real SMTP server for email tests: `tests/support/smtp_sink.py` (Python's aiosmtpd) on a
//! loopback port, storing every message it accepts as a file the test reads back.

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Once;
use std::time::Duration;

use super::{real_timeout, within};

static AIOSMTPD: Once = Once::new();

/// Installs aiosmtpd from PyPI when missing (idempotent; `.ci/run` does it too).
fn ensure_aiosmtpd() {
    AIOSMTPD.call_once(|| {
        let have = Command::new("python3")
            .args(["-c", "import aiosmtpd"])
            .status()
            .is_ok_and(|s| s.success());
        if !have {
            let ok = Command::new("python3")
                .args(["-m", "pip", "install", "--quiet", "aiosmtpd"])
                .status()
                .is_ok_and(|s| s.success());
            assert!(
                ok,
                "cannot install aiosmtpd (python3 -m pip install aiosmtpd)"
            );
        }
    });
}

pub struct SmtpSink {
    pub port: u16,
    dir: tempfile::TempDir,
    child: Child,
    seen: usize,
}

impl SmtpSink {
    pub fn start(tls: Option<(&PathBuf, &PathBuf)>) -> Self {
        Self::start_with(tls.map(|(c, k)| ("--tls", c, k)), None)
    }

    /// `tls`: ("--tls" or "--implicit-tls", cert, key); `login`: "user:password" required.
    pub fn start_with(tls: Option<(&str, &PathBuf, &PathBuf)>, login: Option<&str>) -> Self {
        ensure_aiosmtpd();
        let dir = tempfile::tempdir().unwrap();
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/support/smtp_sink.py");
        let mut cmd = Command::new("python3");
        cmd.arg(script).arg(dir.path());
        if let Some((mode, cert, key)) = tls {
            cmd.arg(mode).arg(cert).arg(key);
        }
        if let Some(login) = login {
            cmd.arg("--auth").arg(login);
        }
        let mut child = cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("python3 runs");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let port = line
            .trim()
            .strip_prefix("PORT ")
            .unwrap_or_else(|| panic!("SMTP sink did not start: {line:?}"))
            .parse()
            .unwrap();
        Self {
            port,
            dir,
            child,
            seen: 0,
        }
    }

    /// The next stored message, parsed (waits in real time).
    pub async fn next_mail(&mut self) -> Mail {
        self.seen += 1;
        let path = self.dir.path().join(format!("{}.eml", self.seen));
        within("a mail at the SMTP server", async {
            loop {
                if let Ok(raw) = std::fs::read(&path) {
                    return Mail::parse(&raw);
                }
                real_timeout(Duration::from_millis(50), std::future::pending::<()>()).await;
            }
        })
        .await
    }

    pub fn count(&self) -> usize {
        std::fs::read_dir(self.dir.path())
            .unwrap()
            .filter(|e| {
                e.as_ref()
                    .unwrap()
                    .path()
                    .extension()
                    .is_some_and(|x| x == "eml")
            })
            .count()
    }
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        drop(self.child.stdin.take());
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub struct Mail {
    pub headers: HashMap<String, String>,
    pub text: String,
    pub html: String,
    /// Parts with `Content-Disposition: attachment`, in order.
    pub attachments: Vec<MailFile>,
}

/// An attached file: its name, MIME type (with charset), and decoded text.
#[derive(Debug, Clone)]
pub struct MailFile {
    pub filename: String,
    pub content_type: String,
    pub body: String,
}

impl Mail {
    pub fn parse(raw: &[u8]) -> Self {
        let m = mailparse::parse_mail(raw).expect("a valid mail");
        let headers = m
            .headers
            .iter()
            .map(|h| (h.get_key().to_ascii_lowercase(), h.get_value()))
            .collect();
        let mut mail = Self {
            headers,
            text: String::new(),
            html: String::new(),
            attachments: Vec::new(),
        };
        mail.walk(&m);
        mail
    }

    /// Every leaf part, however deeply nested (an attachment puts the text and HTML
    /// alternatives one level down).
    fn walk(&mut self, part: &mailparse::ParsedMail<'_>) {
        if !part.subparts.is_empty() {
            for sub in &part.subparts {
                self.walk(sub);
            }
            return;
        }
        let disposition = part.get_content_disposition();
        if disposition.disposition == mailparse::DispositionType::Attachment {
            self.attachments.push(MailFile {
                filename: (disposition.params.get("filename").cloned()).unwrap_or_default(),
                content_type: format!("{}; charset={}", part.ctype.mimetype, part.ctype.charset),
                body: part.get_body().unwrap(),
            });
            return;
        }
        match part.ctype.mimetype.as_str() {
            "text/plain" => self.text = part.get_body().unwrap(),
            "text/html" => self.html = part.get_body().unwrap(),
            _ => {}
        }
    }

    /// The URL after "Acknowledge: " / "Resolve: " in the text part.
    pub fn link(&self, label: &str) -> String {
        self.text
            .lines()
            .find_map(|l| l.strip_prefix(&format!("{label}: ")))
            .unwrap_or_else(|| panic!("no {label} link in\n{}", self.text))
            .trim()
            .to_string()
    }
}
