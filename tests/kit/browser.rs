//! A real browser for tests: headless Chromium driven over WebDriver (Debian's `chromium` and
//! `chromium-driver`, installed by `.ci/install-chromium`).
//!
//! One `chromedriver` per test process, started on first use on a free loopback port; each
//! [`Browser`] is a new session with a fresh profile directory, closed by [`Browser::close`]
//! or, when a test fails before that, by its `Drop` (a plain synchronous `DELETE`, which
//! works while the test's runtime is unwinding). The driver is this process's child with a
//! parent-death signal, started from a thread that lives as long as the process (the signal
//! follows the thread that forked), so it never outlives the tests, even killed ones.
//!
//! Waits poll with a bounded real-time timeout ([`Browser::wait_for`], [`Browser::wait_until`])
//! and work under a paused or frozen tokio clock too. [`Browser::screenshot`] writes PNGs to
//! `target/ui-screenshots/` for review.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use fantoccini::elements::Element;
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{Value, json};

use super::real_timeout;

/// Chromium's flags for every session. Without the background-networking ones the browser
/// keeps calling out (updates, sync, field trials), which a closed network refuses slowly.
const FLAGS: &[&str] = &[
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    // Phones draw scrollbars over the page: screenshots at phone size look like one.
    "--hide-scrollbars",
];

/// The usual waits: long enough for a loaded machine running the whole suite, short enough
/// that a broken page fails the test quickly.
pub const BROWSER_WAIT: Duration = Duration::from_secs(10);

/// One WebDriver session: a headless Chromium with a profile of its own.
pub struct Browser {
    client: Client,
    session: String,
    driver_port: u16,
    closed: bool,
    /// The test's name (libtest names its thread so), for the failure screenshot.
    test: String,
    // Dropped after the session (fields drop after `Drop::drop`): Chromium has quit by then.
    _profile: tempfile::TempDir,
}

impl Browser {
    /// A new headless session (starting the process's `chromedriver` on first use), with a
    /// 1280×800 viewport.
    pub async fn start() -> Self {
        let port = driver_port();
        let profile = tempfile::Builder::new()
            .prefix("pagerd-chromium-")
            .tempdir()
            .expect("a profile directory");
        let mut args: Vec<String> = FLAGS.iter().map(|f| f.to_string()).collect();
        args.push(format!("--user-data-dir={}", profile.path().display()));
        args.push("--window-size=1280,800".into());
        let caps = json!({
            "browserName": "chrome",
            "pageLoadStrategy": "normal",
            "goog:chromeOptions": { "args": args },
        });
        let Value::Object(caps) = caps else {
            unreachable!()
        };
        let connector = hyper_util::client::legacy::connect::HttpConnector::new();
        let mut builder = ClientBuilder::new(connector);
        builder.capabilities(caps);
        let url = format!("http://127.0.0.1:{port}");
        let connecting = builder.connect(&url);
        let client = real_timeout(Duration::from_secs(60), connecting)
            .await
            .expect("chromedriver opens a session within 60 s")
            .unwrap_or_else(|e| panic!("chromedriver refused a new Chromium session: {e}"));
        let session = client
            .session_id()
            .await
            .expect("the session's id")
            .expect("a session id");
        let browser = Self {
            client,
            session,
            driver_port: port,
            closed: false,
            // `#[tokio::test]` polls the test's body on the test's own thread.
            test: std::thread::current()
                .name()
                .unwrap_or("unnamed")
                .replace("::", "."),
            _profile: profile,
        };
        browser.set_size(1280, 800).await;
        browser
    }

    /// The WebDriver client, for what the helpers here do not cover.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// Ends the session (Chromium quits). Call it at the end of a test; a failing test's
    /// session is ended by `Drop`.
    pub async fn close(mut self) {
        self.closed = true;
        let closing = self.client.clone().close();
        match real_timeout(Duration::from_secs(20), closing).await {
            Some(Ok(())) => {}
            Some(Err(e)) => panic!("closing the browser session: {e}"),
            None => panic!("closing the browser session took over 20 s"),
        }
    }

    /// Loads `url` and waits for the load to finish (WebDriver's normal page-load strategy).
    pub async fn goto(&self, url: &str) {
        self.client
            .goto(url)
            .await
            .unwrap_or_else(|e| panic!("the browser cannot load {url}: {e}"));
    }

    pub async fn url(&self) -> String {
        self.client.current_url().await.expect("current url").into()
    }

    pub async fn title(&self) -> String {
        self.client.title().await.expect("page title")
    }

    /// Sets the *viewport* (not the outer window) to `width`×`height` CSS pixels, e.g.
    /// 360×740 for a phone or 1280×800 for a desktop.
    pub async fn set_size(&self, width: u32, height: u32) {
        let mut outer = (width, height);
        // The outer window may be larger than the viewport: correct by what is measured.
        for _ in 0..5 {
            self.client
                .set_window_size(outer.0, outer.1)
                .await
                .unwrap_or_else(|e| panic!("setting the window to {outer:?}: {e}"));
            let (w, h) = self.settled_viewport().await;
            if (w, h) == (width, height) {
                return;
            }
            let fix =
                |o: u32, want: u32, got: u32| (o as i64 + want as i64 - got as i64).max(1) as u32;
            outer = (fix(outer.0, width, w), fix(outer.1, height, h));
        }
        let got = self.viewport().await;
        panic!("the viewport is {got:?}, not {width}×{height}");
    }

    /// The viewport once a resize has taken effect: Chromium applies a new window size
    /// asynchronously, and correcting by a size read too early overshoots (a CI run saw
    /// 1280×939 for 1280×800). Two equal reads 25 ms apart, for at most about a second.
    async fn settled_viewport(&self) -> (u32, u32) {
        let mut last = self.viewport().await;
        for _ in 0..40 {
            tokio::time::sleep(std::time::Duration::from_millis(25)).await;
            let now = self.viewport().await;
            if now == last {
                return now;
            }
            last = now;
        }
        last
    }

    /// The viewport's size in CSS pixels.
    pub async fn viewport(&self) -> (u32, u32) {
        let v = self
            .js("return [window.innerWidth, window.innerHeight];", vec![])
            .await;
        let n = |i: usize| v[i].as_u64().expect("a viewport dimension") as u32;
        (n(0), n(1))
    }

    /// Runs `script` (a function body: `return …` gives a value; `arguments[i]` are `args`).
    pub async fn js(&self, script: &str, args: Vec<Value>) -> Value {
        self.client
            .execute(script, args)
            .await
            .unwrap_or_else(|e| panic!("running script {script:?}: {e}"))
    }

    /// The first element matching `css`, if there is one now.
    pub async fn find(&self, css: &str) -> Option<Element> {
        match self.client.find(Locator::Css(css)).await {
            Ok(e) => Some(e),
            Err(e) if e.is_no_such_element() => None,
            Err(e) => panic!("looking for {css:?}: {e}"),
        }
    }

    /// Every element matching `css` now.
    pub async fn find_all(&self, css: &str) -> Vec<Element> {
        self.client
            .find_all(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("looking for {css:?}: {e}"))
    }

    /// Waits up to `timeout` for an element matching `css`; fails the test (saying where the
    /// browser is and what the page says) when none appears.
    pub async fn wait_for(&self, css: &str, timeout: Duration) -> Element {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(e) = self.find(css).await {
                return e;
            }
            if Instant::now() >= deadline {
                self.fail(&format!("no {css:?} within {timeout:?}")).await;
            }
            pause().await;
        }
    }

    /// Waits up to `timeout` for the JavaScript expression `expr` to be truthy.
    pub async fn wait_until(&self, what: &str, expr: &str, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        let script = format!("return !!({expr});");
        loop {
            if self.js(&script, vec![]).await == Value::Bool(true) {
                return;
            }
            if Instant::now() >= deadline {
                self.fail(&format!("{what}: `{expr}` not true within {timeout:?}"))
                    .await;
            }
            pause().await;
        }
    }

    /// The visible text of the first element matching `css` (waiting for it).
    pub async fn text(&self, css: &str) -> String {
        let e = self.wait_for(css, BROWSER_WAIT).await;
        e.text()
            .await
            .unwrap_or_else(|err| panic!("text of {css:?}: {err}"))
    }

    /// Clicks the first element matching `css` (waiting for it).
    pub async fn click(&self, css: &str) {
        let e = self.wait_for(css, BROWSER_WAIT).await;
        e.click()
            .await
            .unwrap_or_else(|err| panic!("clicking {css:?}: {err}"));
    }

    /// Types `text` into the (cleared) field matching `css`.
    pub async fn fill(&self, css: &str, text: &str) {
        let e = self.wait_for(css, BROWSER_WAIT).await;
        e.clear()
            .await
            .unwrap_or_else(|err| panic!("clearing {css:?}: {err}"));
        e.send_keys(text)
            .await
            .unwrap_or_else(|err| panic!("typing into {css:?}: {err}"));
    }

    /// Saves the viewport as `target/ui-screenshots/NAME.png`; returns the path.
    pub async fn screenshot(&self, name: &str) -> PathBuf {
        let png = self
            .client
            .screenshot()
            .await
            .unwrap_or_else(|e| panic!("taking screenshot {name}: {e}"));
        let dir = screenshot_dir();
        std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("creating {dir:?}: {e}"));
        let safe: String = name
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '-' || c == '.' {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        let path = dir.join(format!("{safe}.png"));
        std::fs::write(&path, png).unwrap_or_else(|e| panic!("writing {path:?}: {e}"));
        path
    }

    /// Fails the test with where the browser is, the start of the page's text, and a
    /// screenshot of it.
    async fn fail(&self, why: &str) -> ! {
        let url = self.client.current_url().await.map(String::from);
        let body = self
            .client
            .execute(
                "return document.body ? document.body.innerText : '';",
                vec![],
            )
            .await
            .ok()
            .and_then(|v| v.as_str().map(|s| s.chars().take(600).collect::<String>()));
        let shot = self.screenshot(&format!("failure-{}", self.test)).await;
        panic!(
            "{why}\n  at: {url:?}\n  page text: {body:?}\n  screenshot: {}",
            shot.display()
        );
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        if self.closed {
            return;
        }
        // A failed test: end the session now, without the runtime (it may be unwinding).
        let path = format!("/session/{}", self.session);
        let _ = raw_http(self.driver_port, "DELETE", &path, Duration::from_secs(20));
    }
}

/// `target/ui-screenshots/` ($CARGO_TARGET_DIR when set, else the workspace's `target/`).
pub fn screenshot_dir() -> PathBuf {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .or_else(|| option_env!("CARGO_TARGET_DIR").map(PathBuf::from))
        .map(|t| manifest.join(t)) // `join` keeps an absolute path as it is.
        .unwrap_or_else(|| manifest.join("target"));
    target.join("ui-screenshots")
}

/// The width and height a PNG file says it has (its IHDR chunk).
pub fn png_size(png: &[u8]) -> (u32, u32) {
    assert!(
        png.len() > 24 && png.starts_with(b"\x89PNG\r\n\x1a\n") && &png[12..16] == b"IHDR",
        "not a PNG file"
    );
    let be = |at: usize| u32::from_be_bytes(png[at..at + 4].try_into().unwrap());
    (be(16), be(20))
}

/// A short real-time pause between polls (the tokio clock may be paused or frozen).
async fn pause() {
    real_timeout(Duration::from_millis(50), std::future::pending::<()>()).await;
}

// ---- the process's chromedriver -------------------------------------------------------------

static DRIVER: OnceLock<Result<u16, String>> = OnceLock::new();

/// The port of this process's `chromedriver`, started on first use.
fn driver_port() -> u16 {
    match DRIVER.get_or_init(start_driver) {
        Ok(port) => *port,
        Err(e) => panic!("{e}"),
    }
}

fn start_driver() -> Result<u16, String> {
    let binary = ["/usr/bin/chromedriver", "/usr/lib/chromium/chromedriver"]
        .into_iter()
        .find(|p| Path::new(p).is_file())
        .unwrap_or("chromedriver");
    let port = super::free_port().port();
    let mut cmd = Command::new(binary);
    cmd.arg(format!("--port={port}"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    // Set PAGERD_CHROMEDRIVER_LOG=FILE to see what the driver and browser did.
    if let Some(log) = std::env::var_os("PAGERD_CHROMEDRIVER_LOG") {
        cmd.arg(format!("--log-path={}", Path::new(&log).display()))
            .arg("--verbose");
    }
    die_with_parent(&mut cmd);
    let (tx, rx) = std::sync::mpsc::channel();
    // The keeper thread never ends: the parent-death signal fires when the process does.
    std::thread::Builder::new()
        .name("chromedriver".into())
        .spawn(move || match cmd.spawn() {
            Ok(mut child) => {
                let _ = tx.send(Ok(()));
                let status = child.wait();
                eprintln!("chromedriver exited: {status:?}");
            }
            Err(e) => {
                let _ = tx.send(Err(e));
            }
        })
        .map_err(|e| format!("starting the chromedriver thread: {e}"))?;
    match rx.recv() {
        Ok(Ok(())) => {}
        Ok(Err(e)) => {
            return Err(format!(
                "cannot run {binary}: {e} (install Debian's chromium and chromium-driver: \
                 .ci/install-chromium)"
            ));
        }
        Err(_) => return Err("the chromedriver thread died".into()),
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        match raw_http(port, "GET", "/status", Duration::from_secs(2)) {
            Ok(body) if body.contains("\"ready\":true") => return Ok(port),
            _ if Instant::now() >= deadline => {
                return Err(format!(
                    "{binary} did not answer GET /status on port {port} within 30 s"
                ));
            }
            _ => std::thread::sleep(Duration::from_millis(20)),
        }
    }
}

/// Makes the command's process get `SIGKILL` when the thread that started it ends.
fn die_with_parent(cmd: &mut Command) {
    // SAFETY: only an async-signal-safe call between fork and exec.
    unsafe {
        cmd.pre_exec(|| {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
}

/// One HTTP/1.1 request without a body to the driver; the response as text. Blocking: for
/// start-up and for `Drop`, where no runtime may be at hand.
fn raw_http(port: u16, method: &str, path: &str, timeout: Duration) -> std::io::Result<String> {
    let mut s = TcpStream::connect(("127.0.0.1", port))?;
    s.set_read_timeout(Some(timeout))?;
    s.set_write_timeout(Some(timeout))?;
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Length: 0\r\n\
         Connection: close\r\n\r\n"
    )?;
    // chromedriver keeps the connection open despite `Connection: close`: read by length.
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let n = s.read(&mut buf)?;
        out.extend_from_slice(&buf[..n]);
        let text = String::from_utf8_lossy(&out);
        if n == 0 || response_complete(&text) {
            return Ok(text.into_owned());
        }
    }
}

/// Whether `text` holds a whole response: its headers and `Content-Length` bytes of body.
fn response_complete(text: &str) -> bool {
    let Some((head, body)) = text.split_once("\r\n\r\n") else {
        return false;
    };
    let length = head.lines().find_map(|l| {
        let (name, value) = l.split_once(':')?;
        name.eq_ignore_ascii_case("content-length")
            .then(|| value.trim().parse::<usize>().ok())?
    });
    length.is_some_and(|n| body.len() >= n)
}
