//! The data dir layout before `DATA_DIR/secrets` existed: sled directly in the data dir, the
//! generated secrets in its `meta` tree. Used only to move such a dir to the current layout
//! (see [`super::data_dir`]). Not to be confused with [`super::legacy`], the record shapes of format 1.

use super::{ORDER_NUMBER_BASE, StorageError, StorageResult, secrets::Secrets};
use std::{fs, path::Path};

/// The `meta` tree of the legacy layout, and its secret keys.
const META_TREE: &[u8] = b"meta";
const ADMIN_TOKEN_KEY: &[u8] = b"admin_token";
const JWT_SECRET_KEY: &[u8] = b"jwt_secret";
/// Records copied per batch while rewriting.
const BATCH: usize = 10_000;

/// Whether `dir` holds a sled database at its top (the legacy layout).
pub fn is_legacy(dir: &Path) -> bool {
    dir.join("conf").is_file() && dir.join("db").is_file()
}

/// Opens the legacy database.
pub fn open(dir: &Path) -> StorageResult<sled::Db> {
    Ok(sled::Config::new().path(dir).open()?)
}

/// The secrets a legacy database holds.
pub fn secrets(db: &sled::Db) -> StorageResult<Secrets> {
    let meta = db.open_tree(META_TREE)?;
    let read = |key: &[u8]| -> StorageResult<Option<String>> {
        Ok(meta
            .get(key)?
            .map(|v| String::from_utf8_lossy(&v).into_owned()))
    };
    Ok(Secrets {
        admin_token: read(ADMIN_TOKEN_KEY)?,
        jwt_secret: read(JWT_SECRET_KEY)?,
    })
}

/// Copies every tree of `old` into a new database at `dest`, without the secrets, and
/// records where order numbers continue (sled's id counter is not copied). Flushed on return.
pub fn rewrite(old: &sled::Db, dest: &Path) -> StorageResult<()> {
    let new = sled::Config::new().path(dest).open()?;
    for name in old.tree_names() {
        let from = old.open_tree(&name)?;
        let to = new.open_tree(&name)?;
        let is_meta = name.as_ref() == META_TREE;
        let mut batch = sled::Batch::default();
        let mut pending = 0;
        for entry in from.iter() {
            let (key, value) = entry?;
            if is_meta && (key.as_ref() == ADMIN_TOKEN_KEY || key.as_ref() == JWT_SECRET_KEY) {
                continue;
            }
            batch.insert(key, value);
            pending += 1;
            if pending == BATCH {
                to.apply_batch(std::mem::take(&mut batch))?;
                pending = 0;
            }
        }
        to.apply_batch(batch)?;
    }
    // Every order number handed out so far is below the old counter's next value.
    let next = old.generate_id()?;
    new.open_tree(META_TREE)?
        .insert(ORDER_NUMBER_BASE, next.to_be_bytes().to_vec())?;
    new.flush()?;
    Ok(())
}

/// Removes the legacy database's files once the rewritten one is in place.
pub fn remove_leftovers(dir: &Path) -> StorageResult<()> {
    let fail = |path: &Path, e: std::io::Error| StorageError::io("removing the old", path)(e);
    for name in ["conf", "db"] {
        let path = dir.join(name);
        if path.is_file() {
            fs::remove_file(&path).map_err(|e| fail(&path, e))?;
        }
    }
    let blobs = dir.join("blobs");
    if blobs.is_dir() {
        fs::remove_dir_all(&blobs).map_err(|e| fail(&blobs, e))?;
    }
    let entries = fs::read_dir(dir).map_err(|e| fail(dir, e))?;
    for entry in entries.flatten() {
        if entry.file_name().to_string_lossy().starts_with("snap.") {
            let path = entry.path();
            fs::remove_file(&path).map_err(|e| fail(&path, e))?;
        }
    }
    Ok(())
}
