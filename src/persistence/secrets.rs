//! `DATA_DIR/secrets`: the generated JWT key and admin token, kept out of the database so
//! that a copy of the database (a backup, a bug report) carries no credential.
//!
//! The file is a small JSON object, written whole: to a temporary file created 0600, synced,
//! then renamed over the old one, so a crash leaves either the old or the new secrets.

use super::data_dir::DataDirError;
use serde::{Deserialize, Serialize};
use std::{
    fs::{self, OpenOptions},
    io::{self, Write},
    os::unix::fs::OpenOptionsExt,
    path::Path,
};

/// The secrets of one data dir. A value absent here is generated on the server's next start,
/// unless the configuration supplies it (then it is never written here).
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Secrets {
    /// The bearer token with the `admin` role.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub admin_token: Option<String>,
    /// The HMAC key of access tokens.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jwt_secret: Option<String>,
}

impl Secrets {
    /// Reads `path`; a missing file is empty secrets.
    pub fn load(path: &Path) -> Result<Self, DataDirError> {
        match fs::read(path) {
            Ok(raw) => serde_json::from_slice(&raw).map_err(|e| {
                DataDirError(format!(
                    "the secrets file {} is malformed: {e}",
                    path.display()
                ))
            }),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(Self::default()),
            Err(e) => Err(DataDirError(format!(
                "cannot read the secrets file {}: {e}",
                path.display()
            ))),
        }
    }

    /// Replaces `path` atomically with these secrets (mode 0600, synced with its directory).
    pub fn save(&self, path: &Path) -> Result<(), DataDirError> {
        let fail = |e: io::Error| {
            DataDirError(format!(
                "cannot write the secrets file {}: {e}",
                path.display()
            ))
        };
        let tmp = path.with_extension("tmp");
        let _ = fs::remove_file(&tmp);
        let mut json =
            serde_json::to_vec_pretty(self).map_err(|e| fail(io::Error::other(e.to_string())))?;
        json.push(b'\n');
        let mut file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&tmp)
            .map_err(fail)?;
        file.write_all(&json).map_err(fail)?;
        file.sync_all().map_err(fail)?;
        drop(file);
        fs::rename(&tmp, path).map_err(fail)?;
        if let Some(dir) = path.parent() {
            super::data_dir::sync_dir(dir).map_err(|e| DataDirError(e.to_string()))?;
        }
        Ok(())
    }
}

impl Secrets {
    /// A fresh admin token: `adm_` and 30 random lowercase alphanumerics (~155 bits).
    pub fn new_admin_token() -> String {
        format!(
            "adm_{}",
            random_chars(b"abcdefghijklmnopqrstuvwxyz0123456789", 30)
        )
    }

    /// A fresh JWT key: 64 random alphanumerics (~381 bits).
    pub fn new_jwt_secret() -> String {
        random_chars(
            b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789",
            64,
        )
    }
}

fn random_chars(alphabet: &[u8], len: usize) -> String {
    use rand::Rng;
    let mut rng = rand::rng();
    (0..len)
        .map(|_| alphabet[rng.random_range(0..alphabet.len())] as char)
        .collect()
}
