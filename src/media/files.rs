//! Content-addressed image files: `<data_dir>/media/<first two hex digits>/<sha256>.<ext>`,
//! and resized copies beside them as `<sha256>.w<width>.<ext>`. A file is written to a
//! temporary name, synced, renamed into place and its directory synced, so a file that
//! exists under its final name is complete and survives a crash; an image record is only
//! committed after that (see `Media::add`).

use std::{
    fs::{self, DirBuilder, File, OpenOptions},
    io::{self, Write},
    os::unix::fs::{DirBuilderExt, OpenOptionsExt},
    path::{Path, PathBuf},
};

/// The widths `?w=` may ask for.
pub const WIDTHS: [u32; 3] = [200, 400, 800];

/// The image files of one data dir.
#[derive(Clone, Debug)]
pub struct Files {
    root: PathBuf,
}

/// A `/media/` file name, checked: 64 lowercase hex digits, a dot and a known extension.
/// Anything else (dots, slashes, upper case, other extensions) names no file, so a request
/// can never reach outside the media directory.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileName {
    /// The SHA-256, lowercase hex.
    pub sha256: String,
    /// `png`, `jpg`, `webp` or `gif`.
    pub ext: String,
}

impl FileName {
    /// Parses `<sha256>.<ext>`.
    pub fn parse(name: &str) -> Option<Self> {
        let (hash, ext) = name.split_once('.')?;
        let hex = hash.len() == 64 && hash.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
        (hex && super::picture::Kind::from_ext(ext).is_some()).then(|| Self {
            sha256: hash.to_owned(),
            ext: ext.to_owned(),
        })
    }
}

impl Files {
    /// The media files under `data_dir`.
    pub fn new(data_dir: &Path) -> Self {
        Self {
            root: data_dir.join("media"),
        }
    }

    fn shard(&self, sha256: &str) -> PathBuf {
        self.root.join(&sha256[..2])
    }

    /// Where the original of `name` lives.
    pub fn original(&self, name: &FileName) -> PathBuf {
        self.shard(&name.sha256)
            .join(format!("{}.{}", name.sha256, name.ext))
    }

    /// Where the copy of `name` resized to `width` lives.
    pub fn resized(&self, name: &FileName, width: u32) -> PathBuf {
        self.shard(&name.sha256)
            .join(format!("{}.w{width}.{}", name.sha256, name.ext))
    }

    /// Writes `bytes` durably to `path` (a path from [`Files::original`] or
    /// [`Files::resized`]) unless a file is already there: same name, same content. Blocking.
    pub fn put(&self, path: &Path, bytes: &[u8]) -> io::Result<()> {
        if path.exists() {
            return Ok(());
        }
        let dir = path
            .parent()
            .ok_or_else(|| io::Error::other("a media path has a directory"))?;
        self.ensure_dir(&self.root)?;
        self.ensure_dir(dir)?;
        let tmp = dir.join(format!(
            ".tmp-{}-{}",
            std::process::id(),
            rand::random::<u64>()
        ));
        let written = (|| {
            let mut file = OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(&tmp)?;
            file.write_all(bytes)?;
            file.sync_all()?;
            drop(file);
            fs::rename(&tmp, path)?;
            sync_dir(dir)
        })();
        if written.is_err() {
            let _ = fs::remove_file(&tmp);
        }
        written
    }

    /// Creates `dir` (0700) when missing, durably: its parent is synced after.
    fn ensure_dir(&self, dir: &Path) -> io::Result<()> {
        if dir.is_dir() {
            return Ok(());
        }
        match DirBuilder::new().mode(0o700).create(dir) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => return Ok(()),
            Err(e) => return Err(e),
        }
        match dir.parent() {
            Some(parent) => sync_dir(parent),
            None => Ok(()),
        }
    }

    /// Deletes the original of `name` and its resized copies (missing ones are fine). Blocking.
    pub fn remove(&self, name: &FileName) -> io::Result<()> {
        let paths = std::iter::once(self.original(name))
            .chain(WIDTHS.iter().map(|w| self.resized(name, *w)));
        for path in paths {
            match fs::remove_file(&path) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(e),
            }
        }
        sync_dir(&self.shard(&name.sha256)).or_else(|e| match e.kind() {
            io::ErrorKind::NotFound => Ok(()),
            _ => Err(e),
        })
    }
}

fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_strict_names_parse() {
        let hash = "0f".repeat(32);
        assert!(FileName::parse(&format!("{hash}.png")).is_some());
        assert!(FileName::parse(&format!("{hash}.jpg")).is_some());
        assert!(FileName::parse(&format!("{hash}.jpeg")).is_none());
        assert!(FileName::parse(&format!("{}.png", hash.to_uppercase())).is_none());
        assert!(FileName::parse(&format!("{hash}.w200.png")).is_none());
        assert!(FileName::parse("../../secrets").is_none());
        assert!(FileName::parse(&format!("{}.png", &hash[..63])).is_none());
    }
}
