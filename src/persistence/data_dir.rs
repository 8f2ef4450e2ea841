//! The data directory as a whole: who may read it, who holds it, where the secrets live.
//!
//! Layout (docs/API.md §1):
//!
//! - `lock`: held with `flock` by the one process that uses the directory (a server or an
//!   `emporium admin-token` command), so a second one stops with a sentence instead of
//!   sled's raw `WouldBlock`.
//! - `secrets`: the JWT key and the admin token ([`Secrets`]), mode 0600, never in sled.
//! - `sled/`: the database (state as of the last checkpoint, and derived indexes).
//! - `log/`: the event log's segments (see [`super::log`]).
//!
//! The directory is 0700 and everything in it 0600 (directories 0700); a looser mode found at
//! start is logged and tightened, because the database and the secrets must not be readable
//! by other local users.
//!
//! Data dirs written before this layout kept sled at the top and the secrets in its `meta`
//! tree. [`DataDir::open`] moves them: secrets into `secrets`, the database rewritten into
//! `sled/` without them (deleting the keys would leave their bytes in sled's log), then the
//! old files removed.

use super::{StorageError, legacy_layout as legacy, secrets::Secrets};
use std::{
    fs::{self, File, OpenOptions},
    io,
    os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt},
    path::{Path, PathBuf},
    sync::Arc,
};

/// Sub-directory of the sled database.
const DB_DIR: &str = "sled";
/// Where a legacy database is rewritten before it becomes [`DB_DIR`] with one rename.
const DB_REWRITE_DIR: &str = "sled.rewrite";
/// Sub-directory of the event log ([`super::log`]).
const LOG_DIR: &str = "log";
/// The lock file.
const LOCK_FILE: &str = "lock";
/// The secrets file.
pub const SECRETS_FILE: &str = "secrets";

/// Mode of the data dir and every directory in it.
const DIR_MODE: u32 = 0o700;
/// Mode of every file in the data dir.
const FILE_MODE: u32 = 0o600;

/// Why the data dir cannot be used, in one sentence naming it.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct DataDirError(pub String);

impl From<DataDirError> for StorageError {
    fn from(e: DataDirError) -> Self {
        Self::Other(e.0)
    }
}

/// An opened data dir: locked for this process as long as any clone lives (the storage keeps
/// one, so the lock goes away with the database, not before).
#[derive(Clone)]
pub struct DataDir {
    path: PathBuf,
    _lock: Arc<File>,
}

impl DataDir {
    /// Creates the directory if needed (0700), tightens loose modes, takes the lock, and moves
    /// a legacy layout to the current one. Blocking.
    pub fn open(path: &Path) -> Result<Self, DataDirError> {
        let shown = path.display();
        match fs::metadata(path) {
            Ok(meta) if !meta.is_dir() => {
                return Err(DataDirError(format!("data dir {shown} is not a directory")));
            }
            Ok(_) => {}
            // Missing (or unreadable: creating it then says why in the operator's terms).
            Err(_) => {
                fs::DirBuilder::new()
                    .recursive(true)
                    .mode(DIR_MODE)
                    .create(path)
                    .map_err(|e| DataDirError(format!("cannot create data dir {shown}: {e}")))?;
            }
        }
        tighten(path, true);
        let lock = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(FILE_MODE)
            .open(path.join(LOCK_FILE))
            .map_err(|e| DataDirError(format!("data dir {shown} is not writable: {e}")))?;
        lock_exclusive(&lock).map_err(|e| {
            if e.kind() == io::ErrorKind::WouldBlock {
                DataDirError(format!(
                    "data dir {shown} is in use by another emporium process"
                ))
            } else {
                DataDirError(format!("cannot lock data dir {shown}: {e}"))
            }
        })?;
        let dir = Self {
            path: path.to_path_buf(),
            _lock: Arc::new(lock),
        };
        tighten_tree(path, true);
        dir.migrate_legacy()
            .map_err(|e| DataDirError(format!("moving data dir {shown} to the new layout: {e}")))?;
        Ok(dir)
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Where sled keeps the database.
    pub fn db_path(&self) -> PathBuf {
        self.path.join(DB_DIR)
    }

    /// The event log's segments.
    pub fn log_path(&self) -> PathBuf {
        self.path.join(LOG_DIR)
    }

    /// The secrets file.
    pub fn secrets_path(&self) -> PathBuf {
        self.path.join(SECRETS_FILE)
    }

    /// The stored secrets (empty when the file does not exist yet).
    pub fn secrets(&self) -> Result<Secrets, DataDirError> {
        Secrets::load(&self.secrets_path())
    }

    /// Replaces the secrets file (atomically, 0600, synced).
    pub fn save_secrets(&self, secrets: &Secrets) -> Result<(), DataDirError> {
        secrets.save(&self.secrets_path())
    }

    /// Tightens, without a warning, whatever this process created with a looser mode (sled
    /// opens its files without a mode, so under a permissive umask they come out 0644).
    pub fn tighten_created(&self) {
        tighten_tree(&self.path, false);
    }

    /// Moves secrets out of a legacy top-level sled database and rewrites it into `sled/`.
    fn migrate_legacy(&self) -> Result<(), StorageError> {
        let db_path = self.db_path();
        if !db_path.exists() && legacy::is_legacy(&self.path) {
            let rewrite = self.path.join(DB_REWRITE_DIR);
            if rewrite.exists() {
                // A rewrite a crash interrupted; the legacy database is still complete.
                fs::remove_dir_all(&rewrite).map_err(StorageError::io("removing", &rewrite))?;
            }
            let old = legacy::open(&self.path)?;
            let found = legacy::secrets(&old)?;
            if found.admin_token.is_some() || found.jwt_secret.is_some() {
                // Durable before the database copy drops them; values already in the file win
                // (they were written by an earlier, interrupted migration).
                let mut secrets = self.secrets()?;
                secrets.admin_token = secrets.admin_token.or(found.admin_token);
                secrets.jwt_secret = secrets.jwt_secret.or(found.jwt_secret);
                self.save_secrets(&secrets)?;
            }
            legacy::rewrite(&old, &rewrite)?;
            drop(old);
            fs::rename(&rewrite, &db_path).map_err(|e| {
                StorageError::Other(format!(
                    "renaming {} to {}: {e}",
                    rewrite.display(),
                    db_path.display()
                ))
            })?;
            sync_dir(&self.path)?;
            tracing::info!(
                data_dir = %self.path.display(),
                "moved the secrets out of the database into the secrets file and the database into sled/"
            );
        }
        if db_path.exists() {
            legacy::remove_leftovers(&self.path)?;
        }
        Ok(())
    }
}

/// `flock(LOCK_EX | LOCK_NB)`: released when the file is closed, also when the process dies.
fn lock_exclusive(file: &File) -> io::Result<()> {
    use std::os::fd::AsRawFd;
    // SAFETY: flock only reads the descriptor, which `file` keeps open for the call.
    let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Syncs a directory, so a rename or a new file in it survives a crash.
pub(super) fn sync_dir(path: &Path) -> Result<(), StorageError> {
    File::open(path)
        .and_then(|dir| dir.sync_all())
        .map_err(StorageError::io("syncing", path))
}

/// Sets `path` to 0700 (directory) or 0600 (file) if it lets group or others in; with `warn`
/// says so in a WARN line naming the path.
fn tighten(path: &Path, warn: bool) {
    let Ok(meta) = fs::symlink_metadata(path) else {
        return;
    };
    if meta.file_type().is_symlink() {
        return;
    }
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o077 == 0 {
        return;
    }
    let wanted = if meta.is_dir() { DIR_MODE } else { FILE_MODE };
    match fs::set_permissions(path, fs::Permissions::from_mode(wanted)) {
        Ok(()) if warn => tracing::warn!(
            path = %path.display(),
            "{} had mode {mode:04o}, readable by other users; set it to {wanted:04o}",
            path.display()
        ),
        Ok(()) => {}
        Err(error) => tracing::warn!(
            path = %path.display(),
            %error,
            "{} has mode {mode:04o}, readable by other users, and cannot be tightened",
            path.display()
        ),
    }
}

/// [`tighten`] for everything below `dir` (not following symlinks).
fn tighten_tree(dir: &Path, warn: bool) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        tighten(&path, warn);
        if entry.file_type().is_ok_and(|t| t.is_dir()) {
            tighten_tree(&path, warn);
        }
    }
}

/// `emporium admin-token show`: the stored admin token of the (existing) data dir at `path`.
pub fn show_admin_token(path: &Path) -> Result<String, DataDirError> {
    let dir = open_existing(path)?;
    dir.secrets()?.admin_token.ok_or_else(|| {
        DataDirError(format!(
            "{} holds no admin token yet: the server generates one at its next start without admin_token in the configuration",
            dir.secrets_path().display()
        ))
    })
}

/// `emporium admin-token rotate`: stores a new admin token in the (existing) data dir at
/// `path` and returns it; the old one stops working (the server reads the token at start,
/// and none runs while this holds the lock).
pub fn rotate_admin_token(path: &Path) -> Result<String, DataDirError> {
    let dir = open_existing(path)?;
    let mut secrets = dir.secrets()?;
    let token = Secrets::new_admin_token();
    secrets.admin_token = Some(token.clone());
    dir.save_secrets(&secrets)?;
    Ok(token)
}

fn open_existing(path: &Path) -> Result<DataDir, DataDirError> {
    if !path.exists() {
        return Err(DataDirError(format!(
            "data dir {} does not exist",
            path.display()
        )));
    }
    DataDir::open(path)
}
