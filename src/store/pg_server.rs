//! A real PostgreSQL server for tests and benchmarks, run from Debian's `postgresql` package.
//!
//! [`PgServer::start`] makes a cluster in a temporary directory (`initdb -A trust`) and starts
//! the postmaster on a free port of 127.0.0.1; [`PgServer::fresh_database`] hands each test a
//! database of its own. [`PgServer::shared`] is one server per test process, started on first
//! use. Nothing to set up by hand: `.ci/run` installs the package when it is missing.
//!
//! The server must never outlive the process that started it, even one killed with `SIGKILL`:
//! the postmaster is this process's own child with a parent-death signal, started from a
//! keeper thread that lives as long as the server (the signal follows the *thread* that
//! forked), and PostgreSQL's backends exit when their postmaster dies. A directory left by a
//! killed process is removed by the next start.
//!
//! `initdb` and `postgres` refuse to run as root: as root they run as the `postgres` OS user
//! (made by the Debian package). The sync `postgres` client used here to create databases runs
//! on a thread of its own, so every method may be called from async code too.

use std::fs::{self, File};
use std::os::unix::fs::{PermissionsExt, chown};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock, mpsc};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

/// How a server is set up.
#[derive(Debug, Clone)]
pub struct PgOptions {
    /// PostgreSQL's durable defaults (`fsync`, `synchronous_commit`, `full_page_writes` on).
    /// Off, a crash may lose or corrupt data: fine for a throwaway test server, and much
    /// faster on a shared disk. Benchmarks keep it on.
    pub durable: bool,
    /// `max_connections`: many tests, each with a daemon holding a pool, share one server.
    pub max_connections: u32,
    /// How long to wait for the server to accept connections.
    pub start_timeout: Duration,
}

impl PgOptions {
    /// A throwaway server for tests: durability off.
    pub fn testing() -> Self {
        Self {
            durable: false,
            max_connections: 300,
            start_timeout: Duration::from_secs(60),
        }
    }

    /// A server with PostgreSQL's durable defaults, for benchmarks.
    pub fn durable() -> Self {
        Self {
            durable: true,
            ..Self::testing()
        }
    }
}

/// A running PostgreSQL server on a temporary data directory; stopped and removed on drop.
pub struct PgServer {
    port: u16,
    dir: PathBuf,
    pid: u32,
    stop: Mutex<Option<(mpsc::Sender<()>, JoinHandle<()>)>>,
    databases: AtomicU64,
}

const SUPERUSER: &str = "postgres";

/// Numbers this process's server directories.
static SERVERS: AtomicU64 = AtomicU64::new(0);

impl PgServer {
    /// Starts a server (initdb, then the postmaster), waiting until it accepts connections.
    pub fn start(opts: PgOptions) -> anyhow::Result<Self> {
        let bindir = bindir()?;
        remove_stale_dirs();
        let dir = std::env::temp_dir().join(format!(
            "pagerd-pg-{}-{}",
            std::process::id(),
            SERVERS.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        fs::set_permissions(&dir, fs::Permissions::from_mode(0o700))?;
        let user = run_as()?;
        if let Some((uid, gid)) = user {
            chown(&dir, Some(uid), Some(gid))
                .with_context(|| format!("giving {} to the postgres user", dir.display()))?;
        }
        let started = initdb(&bindir, &dir, user, &opts).and_then(|()| {
            // A port picked free may be taken before the postmaster binds it: try again.
            let mut last = None;
            for _ in 0..3 {
                match Postmaster::start(&bindir, &dir, user, &opts) {
                    Ok(p) => return Ok(p),
                    Err(e) => last = Some(e),
                }
            }
            Err(last.expect("tried at least once"))
        });
        let postmaster = match started {
            Ok(p) => p,
            Err(e) => {
                let _ = fs::remove_dir_all(&dir);
                return Err(e);
            }
        };
        Ok(Self {
            port: postmaster.port,
            dir,
            pid: postmaster.pid,
            stop: Mutex::new(Some((postmaster.stop, postmaster.keeper))),
            databases: AtomicU64::new(0),
        })
    }

    /// The server of this process (fast test settings), started on first use.
    ///
    /// Panics when it cannot start: a test that needs PostgreSQL cannot run without it.
    pub fn shared() -> &'static PgServer {
        static SHARED: OnceLock<PgServer> = OnceLock::new();
        SHARED.get_or_init(|| {
            let server = PgServer::start(PgOptions::testing())
                .unwrap_or_else(|e| panic!("starting the test PostgreSQL server: {e:#}"));
            // Statics are never dropped: stop it and remove its directory at exit.
            SHARED_AT_EXIT
                .set((server.pid, server.dir.clone()))
                .expect("one shared server");
            // SAFETY: registers a plain `extern "C"` function without arguments.
            unsafe { libc::atexit(stop_shared_at_exit) };
            server
        })
    }

    /// The port it listens on (127.0.0.1).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The URL of its `postgres` database, as the superuser.
    pub fn url(&self) -> String {
        self.url_of("postgres")
    }

    /// Creates a database of a unique name and returns its URL.
    ///
    /// Panics when the server refuses: a test cannot go on without its database.
    pub fn fresh_database(&self) -> String {
        let name = format!(
            "pagerd_test_{}_{}",
            std::process::id(),
            self.databases.fetch_add(1, Ordering::Relaxed)
        );
        let url = self.url();
        // FILE_COPY copies the template's files instead of writing them all to the WAL.
        let create = format!("CREATE DATABASE {name} STRATEGY = FILE_COPY");
        off_runtime(move || -> anyhow::Result<()> {
            let mut client = postgres::Client::connect(&url, postgres::NoTls)?;
            client.batch_execute(&create)?;
            Ok(())
        })
        .unwrap_or_else(|e| panic!("creating database {name}: {e:#}"));
        self.url_of(&name)
    }

    fn url_of(&self, database: &str) -> String {
        format!("postgres://{SUPERUSER}@127.0.0.1:{}/{database}", self.port)
    }
}

impl Drop for PgServer {
    fn drop(&mut self) {
        if let Some((stop, keeper)) = self.stop.lock().ok().and_then(|mut s| s.take()) {
            let _ = stop.send(());
            let _ = keeper.join();
        }
        let _ = fs::remove_dir_all(&self.dir);
    }
}

/// The postmaster, owned by its keeper thread.
struct Postmaster {
    port: u16,
    pid: u32,
    stop: mpsc::Sender<()>,
    keeper: JoinHandle<()>,
}

impl Postmaster {
    fn start(
        bindir: &Path,
        dir: &Path,
        user: Option<(u32, u32)>,
        opts: &PgOptions,
    ) -> anyhow::Result<Self> {
        let port = free_port()?;
        let log_path = dir.join("postgres.log");
        let log = File::create(&log_path).context("creating the server log")?;
        if let Some((uid, gid)) = user {
            chown(&log_path, Some(uid), Some(gid))?;
        }
        let mut cmd = Command::new(bindir.join("postgres"));
        cmd.arg("-D")
            .arg(dir.join("data"))
            .args(["-p", &port.to_string(), "-k"])
            .arg(dir)
            .args(["-c", "listen_addresses=127.0.0.1"])
            .args(["-c", &format!("max_connections={}", opts.max_connections)])
            // Dynamic shared memory in files under the data directory, not /dev/shm: a
            // postmaster killed with its process cannot remove its segments, and /dev/shm is
            // memory; the directory goes with the next start's sweep.
            .args(["-c", "dynamic_shared_memory_type=mmap"]);
        if !opts.durable {
            for setting in [
                "fsync=off",
                "synchronous_commit=off",
                "full_page_writes=off",
                // Little WAL kept: a test process may make hundreds of databases.
                "max_wal_size=64MB",
                "min_wal_size=32MB",
            ] {
                cmd.args(["-c", setting]);
            }
        }
        cmd.current_dir(dir)
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log);
        if let Some((uid, gid)) = user {
            cmd.uid(uid).gid(gid);
        }
        die_with_parent(&mut cmd);

        let (ready_tx, ready_rx) = mpsc::channel();
        let (stop_tx, stop_rx) = mpsc::channel::<()>();
        let timeout = opts.start_timeout;
        let keeper = std::thread::Builder::new()
            .name("pg-server".into())
            .spawn(move || keep(cmd, port, timeout, ready_tx, stop_rx))
            .context("starting the PostgreSQL keeper thread")?;
        match ready_rx.recv() {
            Ok(Ok(pid)) => Ok(Self {
                port,
                pid,
                stop: stop_tx,
                keeper,
            }),
            Ok(Err(e)) => {
                let _ = keeper.join();
                let log = fs::read_to_string(&log_path).unwrap_or_default();
                let tail: Vec<&str> = log.lines().rev().take(15).collect();
                let tail: Vec<&str> = tail.into_iter().rev().collect();
                Err(e.context(format!("server log:\n{}", tail.join("\n"))))
            }
            Err(_) => bail!("the PostgreSQL keeper thread died"),
        }
    }
}

/// The keeper thread: starts the postmaster (so the death signal fires only when this thread
/// ends), reports when it accepts connections, then waits for the stop.
fn keep(
    mut cmd: Command,
    port: u16,
    timeout: Duration,
    ready: mpsc::Sender<anyhow::Result<u32>>,
    stop: mpsc::Receiver<()>,
) {
    let mut child = match cmd.spawn().context("starting postgres") {
        Ok(c) => c,
        Err(e) => {
            let _ = ready.send(Err(e));
            return;
        }
    };
    if let Err(e) = wait_ready(&mut child, port, timeout) {
        shut_down(&mut child);
        let _ = ready.send(Err(e));
        return;
    }
    let _ = ready.send(Ok(child.id()));
    // Until the server is dropped (or, for the shared one, forever).
    let _ = stop.recv();
    shut_down(&mut child);
}

fn wait_ready(child: &mut Child, port: u16, timeout: Duration) -> anyhow::Result<()> {
    let url = format!("postgres://{SUPERUSER}@127.0.0.1:{port}/postgres");
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(status) = child.try_wait()? {
            bail!("postgres exited at start ({status})");
        }
        let last = match postgres::Client::connect(&url, postgres::NoTls) {
            Ok(mut client) => match client.simple_query("SELECT 1") {
                Ok(_) => return Ok(()),
                Err(e) => e,
            },
            Err(e) => e,
        };
        if Instant::now() > deadline {
            bail!("postgres did not accept connections within {timeout:?}: {last}");
        }
        std::thread::sleep(Duration::from_millis(25));
    }
}

/// Immediate shutdown (SIGQUIT: no checkpoint, the data is thrown away anyway); the
/// postmaster stops its backends before it exits.
fn shut_down(child: &mut Child) {
    // SAFETY: signals our own child, which has not been reaped yet.
    unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGQUIT) };
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            return;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let _ = child.kill();
    let _ = child.wait();
}

static SHARED_AT_EXIT: OnceLock<(u32, PathBuf)> = OnceLock::new();

extern "C" fn stop_shared_at_exit() {
    let Some((pid, dir)) = SHARED_AT_EXIT.get() else {
        return;
    };
    let pid = *pid as libc::pid_t;
    // SAFETY: our own child; reaping it here is fine, nothing waits for it after exit.
    unsafe {
        libc::kill(pid, libc::SIGQUIT);
        let deadline = Instant::now() + Duration::from_secs(10);
        let mut status = 0;
        while Instant::now() < deadline && libc::waitpid(pid, &mut status, libc::WNOHANG) == 0 {
            std::thread::sleep(Duration::from_millis(10));
        }
    }
    let _ = fs::remove_dir_all(dir);
}

fn initdb(
    bindir: &Path,
    dir: &Path,
    user: Option<(u32, u32)>,
    opts: &PgOptions,
) -> anyhow::Result<()> {
    let mut cmd = Command::new(bindir.join("initdb"));
    cmd.arg("-D")
        .arg(dir.join("data"))
        .args(["-A", "trust", "-U", SUPERUSER, "-E", "UTF8", "--locale=C"])
        .current_dir(dir)
        .stdin(Stdio::null());
    if !opts.durable {
        cmd.arg("--no-sync");
    }
    if let Some((uid, gid)) = user {
        cmd.uid(uid).gid(gid);
    }
    die_with_parent(&mut cmd);
    let out = cmd
        .output()
        .with_context(|| format!("running {}", bindir.join("initdb").display()))?;
    if !out.status.success() {
        bail!(
            "initdb failed ({}): {}{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(())
}

/// The directory of `initdb` and `postgres`: `pg_config --bindir`, else the newest
/// `/usr/lib/postgresql/*/bin`.
fn bindir() -> anyhow::Result<PathBuf> {
    let has_server = |d: &Path| d.join("postgres").is_file() && d.join("initdb").is_file();
    if let Ok(out) = Command::new("pg_config").arg("--bindir").output()
        && out.status.success()
    {
        let dir = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
        if has_server(&dir) {
            return Ok(dir);
        }
    }
    let mut found: Vec<(u32, PathBuf)> = fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let version = e.file_name().to_str()?.parse::<u32>().ok()?;
            let bin = e.path().join("bin");
            has_server(&bin).then_some((version, bin))
        })
        .collect();
    found.sort();
    match found.pop() {
        Some((_, bin)) => Ok(bin),
        None => bail!(
            "no PostgreSQL server found (pg_config --bindir, /usr/lib/postgresql/*/bin): \
             install Debian's `postgresql` package (.ci/run does)"
        ),
    }
}

/// The `postgres` OS user's uid and gid when running as root (initdb and postgres refuse
/// root); `None` runs them as ourselves.
fn run_as() -> anyhow::Result<Option<(u32, u32)>> {
    // SAFETY: geteuid cannot fail.
    if unsafe { libc::geteuid() } != 0 {
        return Ok(None);
    }
    // SAFETY: getpwnam returns a pointer to static storage or null; read at once.
    let entry = unsafe { libc::getpwnam(c"postgres".as_ptr()) };
    if entry.is_null() {
        bail!(
            "running as root, and there is no `postgres` user to run PostgreSQL as \
             (Debian's `postgresql` package creates it)"
        );
    }
    // SAFETY: checked non-null above.
    let (uid, gid) = unsafe { ((*entry).pw_uid, (*entry).pw_gid) };
    Ok(Some((uid, gid)))
}

/// Makes the command's process get `SIGKILL` when the thread that started it ends (with its
/// process, however that ends).
fn die_with_parent(cmd: &mut Command) {
    // SAFETY: only an async-signal-safe call between fork and exec. The closure runs after
    // the uid change (which would clear the death signal), just before exec.
    unsafe {
        cmd.pre_exec(|| {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
}

fn free_port() -> anyhow::Result<u16> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").context("finding a free port")?;
    Ok(listener.local_addr()?.port())
}

/// Removes the directories of servers whose process is gone (killed before it could).
fn remove_stale_dirs() {
    let Ok(entries) = fs::read_dir(std::env::temp_dir()) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(rest) = name.to_str().and_then(|n| n.strip_prefix("pagerd-pg-")) else {
            continue;
        };
        let Some(pid) = rest.split('-').next().and_then(|p| p.parse::<u32>().ok()) else {
            continue;
        };
        if !Path::new(&format!("/proc/{pid}")).exists() {
            let _ = fs::remove_dir_all(entry.path());
        }
    }
}

/// Runs a sync `postgres` client call on a thread of its own: that client starts a runtime
/// of its own, which panics on a tokio thread.
fn off_runtime<T: Send + 'static>(
    f: impl FnOnce() -> anyhow::Result<T> + Send + 'static,
) -> anyhow::Result<T> {
    std::thread::spawn(f)
        .join()
        .unwrap_or_else(|_| bail!("the PostgreSQL client thread panicked"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn query_one_int(url: &str, sql: &'static str) -> i64 {
        let url = url.to_owned();
        off_runtime(move || {
            let mut client = postgres::Client::connect(&url, postgres::NoTls)?;
            Ok(client.query_one(sql, &[])?.get::<_, i64>(0))
        })
        .unwrap()
    }

    fn current_database(url: &str) -> String {
        let url = url.to_owned();
        off_runtime(move || {
            let mut client = postgres::Client::connect(&url, postgres::NoTls)?;
            Ok(client.query_one("SELECT current_database()", &[])?.get(0))
        })
        .unwrap()
    }

    #[test]
    fn a_started_server_gives_distinct_fresh_databases_that_answer_queries() {
        let server = PgServer::start(PgOptions::testing()).unwrap();
        let (a, b) = (server.fresh_database(), server.fresh_database());
        assert_ne!(a, b);
        assert_ne!(current_database(&a), current_database(&b));
        assert_eq!(query_one_int(&a, "SELECT 40::BIGINT + 2"), 42);
        let settings = current_database(&server.url());
        assert_eq!(settings, "postgres");

        // A table made in one database is not in the other.
        let url = a.clone();
        off_runtime(move || {
            let mut client = postgres::Client::connect(&url, postgres::NoTls)?;
            client.batch_execute("CREATE TABLE t (x BIGINT); INSERT INTO t VALUES (7)")?;
            Ok(())
        })
        .unwrap();
        assert_eq!(query_one_int(&a, "SELECT count(*) FROM t"), 1);
        assert_eq!(
            query_one_int(
                &b,
                "SELECT count(*) FROM information_schema.tables WHERE table_name = 't'"
            ),
            0
        );

        let (dir, pid) = (server.dir.clone(), server.pid);
        drop(server);
        assert!(!dir.exists(), "the data directory is removed on drop");
        assert!(
            !Path::new(&format!("/proc/{pid}")).exists(),
            "the postmaster is gone after drop"
        );
    }

    #[tokio::test]
    async fn the_shared_server_works_from_async_code_with_fast_settings() {
        let url = PgServer::shared().fresh_database();
        assert!(std::ptr::eq(PgServer::shared(), PgServer::shared()));
        let fsync = {
            let url = url.clone();
            tokio::task::spawn_blocking(move || {
                let mut client = postgres::Client::connect(&url, postgres::NoTls).unwrap();
                let row = client.query_one("SHOW fsync", &[]).unwrap();
                row.get::<_, String>(0)
            })
            .await
            .unwrap()
        };
        assert_eq!(fsync, "off");
        assert_eq!(
            query_one_int(
                &url,
                "SELECT setting::BIGINT FROM pg_settings WHERE name = 'max_connections'"
            ),
            300
        );
    }

    #[test]
    fn a_durable_server_keeps_postgresql_defaults() {
        let server = PgServer::start(PgOptions::durable()).unwrap();
        let url = server.url();
        let fsync = off_runtime(move || {
            let mut client = postgres::Client::connect(&url, postgres::NoTls)?;
            Ok(client.query_one("SHOW fsync", &[])?.get::<_, String>(0))
        })
        .unwrap();
        assert_eq!(fsync, "on");
    }

    /// What a killed server leaves behind is all in its directory: its dynamic shared memory
    /// too (PostgreSQL's default puts it in /dev/shm, where killed test servers left 80 MB).
    #[test]
    fn a_server_keeps_its_dynamic_shared_memory_in_its_directory() {
        let server = PgServer::start(PgOptions::testing()).unwrap();
        let segments = fs::read_dir(server.dir.join("data/pg_dynshmem"))
            .unwrap()
            .count();
        assert!(segments > 0, "no segment in the data directory");
    }

    /// Run by `a_killed_process_takes_its_server_with_it` in a child process: starts a
    /// server, says its postmaster's pid, then waits to be killed.
    #[test]
    #[ignore = "a helper run by another test in a child process"]
    fn child_holding_a_server() {
        if std::env::var_os("PAGERD_PG_SERVER_CHILD").is_none() {
            return;
        }
        let server = PgServer::start(PgOptions::testing()).unwrap();
        println!("POSTMASTER {}", server.pid);
        std::thread::sleep(Duration::from_secs(60));
    }

    #[test]
    fn a_killed_process_takes_its_server_with_it() {
        use std::io::{BufRead, BufReader};
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args([
                "--exact",
                "store::pg_server::tests::child_holding_a_server",
                "--ignored",
                "--nocapture",
            ])
            .env("PAGERD_PG_SERVER_CHILD", "1")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let out = BufReader::new(child.stdout.take().unwrap());
        let pid: u32 = out
            .lines()
            .map_while(|l| l.ok())
            .find_map(|l| l.strip_prefix("POSTMASTER ").map(|p| p.parse().unwrap()))
            .expect("the child started a server");
        assert!(running(pid), "the postmaster runs while its process lives");
        child.kill().unwrap(); // SIGKILL: no destructor, no atexit
        child.wait().unwrap();
        let deadline = Instant::now() + Duration::from_secs(20);
        while running(pid) {
            assert!(
                Instant::now() < deadline,
                "postmaster {pid} outlived its process"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Alive and not a zombie (an orphan's zombie may stay until init reaps it).
    fn running(pid: u32) -> bool {
        match fs::read_to_string(format!("/proc/{pid}/stat")) {
            // The state follows the parenthesised command name.
            Ok(stat) => stat
                .rsplit_once(") ")
                .is_some_and(|(_, rest)| !rest.starts_with('Z') && !rest.starts_with('X')),
            Err(_) => false,
        }
    }
}
