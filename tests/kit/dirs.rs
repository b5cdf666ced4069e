//! The files a test daemon keeps across restarts: policy files and the data directory, in
//! one temporary directory.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use pagerd::config::Settings;

/// `ROOT/schedules/` (the policy files) and `ROOT/data/` (the database, the link secret),
/// and where the store is when it is not SQLite in `ROOT/data/`.
pub struct AppDirs {
    pub root: tempfile::TempDir,
    /// `store.url` of every daemon started on these directories (`None`: SQLite in
    /// `data/`), so a restart finds the same store.
    pub store_url: Option<String>,
}

impl AppDirs {
    /// A fresh temporary directory with `policies` as `schedules/policies.toml`.
    pub fn new(policies: &str) -> Self {
        Self::with_root(tempfile::tempdir().unwrap(), policies)
    }

    /// Like [`AppDirs::new`], with the store on `backend` (a fresh PostgreSQL database).
    pub fn on(backend: super::Backend, policies: &str) -> Self {
        let mut dirs = Self::new(policies);
        dirs.store_url = backend.fresh_store_url();
        dirs
    }

    /// `root` with `policies` as `schedules/policies.toml`.
    pub fn with_root(root: tempfile::TempDir, policies: &str) -> Self {
        let dirs = Self {
            root,
            store_url: None,
        };
        std::fs::create_dir_all(dirs.schedules()).unwrap();
        std::fs::write(dirs.schedules().join("policies.toml"), policies).unwrap();
        dirs
    }

    /// A fresh temporary directory with a copy of every `*.toml` of `schedules` (so a test
    /// can break its copy and reload it).
    pub fn copy_of(schedules: &Path) -> Self {
        let dirs = Self {
            root: tempfile::tempdir().unwrap(),
            store_url: None,
        };
        std::fs::create_dir_all(dirs.schedules()).unwrap();
        for entry in std::fs::read_dir(schedules).expect("schedules dir") {
            let path = entry.expect("schedules entry").path();
            if path.extension().is_some_and(|x| x == "toml") {
                let copy = dirs.schedules().join(path.file_name().expect("file name"));
                std::fs::copy(&path, copy).expect("copy a policy file");
            }
        }
        dirs
    }

    pub fn schedules(&self) -> PathBuf {
        self.root.path().join("schedules")
    }

    pub fn data(&self) -> PathBuf {
        self.root.path().join("data")
    }

    /// The default settings pointed at these directories (and store).
    pub fn settings(&self) -> Settings {
        let mut settings = Settings {
            data_dir: self.data(),
            schedules_dir: self.schedules(),
            ..Settings::default()
        };
        settings.store.url = self.store_url.clone();
        settings
    }
}

/// Replaces the test policy file the way editors and config management do: written beside
/// and renamed, so a reload never sees half a file.
pub fn write_policies(dirs: &AppDirs, text: &str) {
    let tmp = dirs.schedules().join(".policies.toml.tmp");
    std::fs::write(&tmp, text).unwrap();
    std::fs::rename(&tmp, dirs.schedules().join("policies.toml")).unwrap();
}

pub fn path_str(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// A loopback address with a port nobody listens on right now (bound, then released for a
/// child process to take).
pub fn free_port() -> SocketAddr {
    std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("local addr")
}
