//! The write-ahead log: one ordered, append-only sequence of records under every acknowledged
//! change, in segment files of the data dir's `log/` folder.
//!
//! A record is framed as
//!
//! ```text
//! | len: u32 LE | crc: u32 LE | lsn: u64 LE | body: len bytes |
//! ```
//!
//! where `crc` is the CRC-32C of `len`, `lsn` and `body` (so a flipped length is caught as
//! surely as a flipped body), and `lsn` (log sequence number) rises by exactly one per record
//! across every segment. A segment is named after its first record's LSN
//! (`00000000000000000001.seg`), so the files sort in log order and the segment holding an LSN
//! is found from the names alone.
//!
//! The [`LogWriter`] appends a whole group of records with one `write` and one `fdatasync`
//! (and an fsync of the directory when it starts a segment); nothing is acknowledged before
//! that returns. [`open`] reads the log back at start-up: a partial last record (what a crash in
//! the middle of a write leaves) is cut off at the last whole record; a bad record anywhere
//! else stops start-up, naming the segment and the offset, because skipping it would silently
//! lose acknowledged writes. [`LogReader`] reads the durable part of the log in order for the
//! consumers.
//!
//! No well-kept crate does this (okaywal warns against production use; commitlog does not
//! fsync), hence this small module.

use std::{
    fs::{self, File, OpenOptions},
    io::{self, Read, Write},
    path::{Path, PathBuf},
    sync::Arc,
};

/// Position of a record in the log (1-based; 0 means "before the first record").
pub type Lsn = u64;

/// Bytes in front of every body.
pub const HEADER: usize = 16;

/// Largest body a record may have. A corrupted length beyond it is a bad record, not a
/// request to read gigabytes.
pub const MAX_BODY: usize = 256 * 1024 * 1024;

const SEGMENT_SUFFIX: &str = ".seg";

/// The log could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum LogError {
    /// An IO call failed.
    #[error("{action} {}: {source}", path.display())]
    Io {
        /// What was being done ("writing", "syncing", …).
        action: &'static str,
        /// The file or folder.
        path: PathBuf,
        /// The cause.
        #[source]
        source: io::Error,
    },
    /// A record that is not the torn tail of the last segment is damaged.
    #[error(
        "the event log is damaged: segment {} has a bad record at offset {offset} ({reason}); \
         restore the data dir from a backup",
        segment.display()
    )]
    Corrupt {
        /// The segment file.
        segment: PathBuf,
        /// Byte offset of the bad record in it.
        offset: u64,
        /// What is wrong with it.
        reason: &'static str,
    },
}

fn io_error<'a>(action: &'static str, path: &'a Path) -> impl FnOnce(io::Error) -> LogError + 'a {
    move |source| LogError::Io {
        action,
        path: path.to_path_buf(),
        source,
    }
}

/// Appends one framed record to `out`.
fn frame(out: &mut Vec<u8>, lsn: Lsn, body: &[u8]) {
    let len = (body.len() as u32).to_le_bytes();
    let lsn = lsn.to_le_bytes();
    let crc = crc32c::crc32c_append(crc32c::crc32c_append(crc32c::crc32c(&len), &lsn), body);
    out.extend_from_slice(&len);
    out.extend_from_slice(&crc.to_le_bytes());
    out.extend_from_slice(&lsn);
    out.extend_from_slice(body);
}

/// A whole record found in a segment's bytes.
struct Frame<'a> {
    lsn: Lsn,
    body: &'a [u8],
    /// Offset just past the record.
    end: usize,
}

/// Why the bytes at an offset are not a whole record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum BadFrame {
    /// Fewer bytes than the header or the length announce: a write cut short.
    Short,
    /// The checksum does not match.
    Checksum,
    /// The length exceeds [`MAX_BODY`].
    Length,
}

impl BadFrame {
    fn reason(self) -> &'static str {
        match self {
            Self::Short => "record cut short",
            Self::Checksum => "checksum mismatch",
            Self::Length => "impossible length",
        }
    }
}

/// Parses the record at `offset` of `bytes`.
fn parse_frame(bytes: &[u8], offset: usize) -> Result<Frame<'_>, BadFrame> {
    let rest = &bytes[offset..];
    if rest.len() < HEADER {
        return Err(BadFrame::Short);
    }
    let word = |at: usize| u32::from_le_bytes([rest[at], rest[at + 1], rest[at + 2], rest[at + 3]]);
    let len = word(0) as usize;
    if len > MAX_BODY {
        return Err(BadFrame::Length);
    }
    if rest.len() < HEADER + len {
        return Err(BadFrame::Short);
    }
    let stored_crc = word(4);
    let crc = crc32c::crc32c_append(crc32c::crc32c(&rest[0..4]), &rest[8..HEADER + len]);
    if crc != stored_crc {
        return Err(BadFrame::Checksum);
    }
    let mut lsn = [0u8; 8];
    lsn.copy_from_slice(&rest[8..16]);
    Ok(Frame {
        lsn: u64::from_le_bytes(lsn),
        body: &rest[HEADER..HEADER + len],
        end: offset + HEADER + len,
    })
}

/// File name of the segment whose first record is `first`.
fn segment_name(first: Lsn) -> String {
    format!("{first:020}{SEGMENT_SUFFIX}")
}

/// Every segment in `dir` as `(first lsn, path)`, in log order.
pub fn segments(dir: &Path) -> Result<Vec<(Lsn, PathBuf)>, LogError> {
    let mut found = Vec::new();
    let entries = match fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(found),
        Err(error) => return Err(io_error("listing", dir)(error)),
    };
    for entry in entries {
        let entry = entry.map_err(io_error("listing", dir))?;
        let name = entry.file_name();
        let Some(first) = name
            .to_str()
            .and_then(|n| n.strip_suffix(SEGMENT_SUFFIX))
            .and_then(|n| n.parse::<Lsn>().ok())
        else {
            continue;
        };
        found.push((first, entry.path()));
    }
    found.sort_unstable_by_key(|(first, _)| *first);
    Ok(found)
}

fn sync_dir(dir: &Path) -> Result<(), LogError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io_error("syncing", dir))
}

/// A group written to a segment but not yet synced.
pub struct Written {
    file: Arc<File>,
    path: PathBuf,
    /// The LSN of the group's last record.
    pub last: Lsn,
}

impl Written {
    /// `fdatasync`s the segment: on return every record written to it before this call is
    /// durable (so, with groups synced concurrently, a later group's sync covers the earlier
    /// ones too). Returns the LSN of the group's last record.
    pub fn sync(self) -> Result<Lsn, LogError> {
        if crate::fault::flush_fails() {
            return Err(LogError::Io {
                action: "syncing",
                path: self.path,
                source: io::Error::other("injected fault: flush failed"),
            });
        }
        self.file
            .sync_data()
            .map_err(io_error("syncing", &self.path))?;
        Ok(self.last)
    }
}

/// Appends groups of records; owned by the committer's writer thread.
pub struct LogWriter {
    dir: PathBuf,
    file: Arc<File>,
    path: PathBuf,
    size: u64,
    next: Lsn,
    segment_bytes: u64,
    buf: Vec<u8>,
}

impl LogWriter {
    /// The LSN the next record gets.
    pub fn next_lsn(&self) -> Lsn {
        self.next
    }

    /// Appends `bodies` as consecutive records with one `write` and one `fdatasync`; returns
    /// the LSN of the last. A segment past its size limit is closed first, so one group never
    /// spans two segments.
    pub fn append<'a>(
        &mut self,
        bodies: impl IntoIterator<Item = &'a [u8]>,
    ) -> Result<Lsn, LogError> {
        match self.write(bodies)? {
            Some(written) => written.sync(),
            None => Ok(self.next - 1),
        }
    }

    /// Writes `bodies` as consecutive records with one `write`, without syncing: the caller
    /// syncs the returned [`Written`] (possibly on another thread, while the next group is
    /// written) and acknowledges nothing before that returns. `None` when there was nothing
    /// to write.
    pub fn write<'a>(
        &mut self,
        bodies: impl IntoIterator<Item = &'a [u8]>,
    ) -> Result<Option<Written>, LogError> {
        self.buf.clear();
        let mut lsn = self.next;
        for body in bodies {
            frame(&mut self.buf, lsn, body);
            lsn += 1;
        }
        if lsn == self.next {
            return Ok(None);
        }
        if self.size >= self.segment_bytes {
            self.roll()?;
        }
        if crate::fault::flush_fails() {
            return Err(LogError::Io {
                action: "writing",
                path: self.path.clone(),
                source: io::Error::other("injected fault: flush failed"),
            });
        }
        (&*self.file)
            .write_all(&self.buf)
            .map_err(io_error("writing", &self.path))?;
        self.size += self.buf.len() as u64;
        self.next = lsn;
        if self.buf.capacity() > 8 * 1024 * 1024 {
            self.buf = Vec::new();
        }
        Ok(Some(Written {
            file: Arc::clone(&self.file),
            path: self.path.clone(),
            last: lsn - 1,
        }))
    }

    /// Starts a new segment at the next LSN (and makes its name durable).
    fn roll(&mut self) -> Result<(), LogError> {
        let (file, path) = create_segment(&self.dir, self.next)?;
        self.file = Arc::new(file);
        self.path = path;
        self.size = 0;
        Ok(())
    }
}

fn create_segment(dir: &Path, first: Lsn) -> Result<(File, PathBuf), LogError> {
    let path = dir.join(segment_name(first));
    let file = OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .map_err(io_error("creating", &path))?;
    file.sync_all().map_err(io_error("syncing", &path))?;
    sync_dir(dir)?;
    Ok((file, path))
}

/// What [`open`] found.
pub struct Opened {
    /// The writer, positioned after the last whole record.
    pub writer: LogWriter,
    /// The LSN of the last whole record (or the checkpoint, when the log ends before it).
    pub last: Lsn,
    /// A torn tail that was cut off: the segment and how many bytes went.
    pub truncated: Option<(PathBuf, u64)>,
}

/// Opens the log in `dir` (creating it), checks every record and hands each one after
/// `checkpoint` to `replay`, in order. Cuts a torn tail off the last segment; any other bad
/// record is a [`LogError::Corrupt`].
pub fn open<E: From<LogError>>(
    dir: &Path,
    checkpoint: Lsn,
    segment_bytes: u64,
    mut replay: impl FnMut(Lsn, &[u8]) -> Result<(), E>,
) -> Result<Opened, E> {
    fs::create_dir_all(dir).map_err(io_error("creating", dir))?;
    let segments = segments(dir)?;
    let mut last: Option<Lsn> = None;
    let mut truncated = None;
    let mut tail: Option<(PathBuf, u64)> = None;
    for (index, (first, path)) in segments.iter().enumerate() {
        let is_last = index + 1 == segments.len();
        let mut bytes = Vec::new();
        File::open(path)
            .and_then(|mut f| f.read_to_end(&mut bytes))
            .map_err(io_error("reading", path))?;
        let corrupt = |offset: usize, reason: &'static str| LogError::Corrupt {
            segment: path.clone(),
            offset: offset as u64,
            reason,
        };
        if let Some(previous) = last
            && previous + 1 != *first
        {
            return Err(corrupt(0, "segment does not continue the previous one").into());
        }
        let mut offset = 0;
        let mut expected = *first;
        while offset < bytes.len() {
            match parse_frame(&bytes, offset) {
                Ok(frame) if frame.lsn == expected => {
                    if frame.lsn > checkpoint {
                        replay(frame.lsn, frame.body)?;
                    }
                    last = Some(frame.lsn);
                    expected += 1;
                    offset = frame.end;
                }
                Ok(_) => return Err(corrupt(offset, "records out of order").into()),
                Err(bad) => {
                    // Only the end of the last segment may be a write cut short by a crash;
                    // a whole record after the bad one proves the damage is not at the end.
                    if !is_last || whole_record_after(&bytes, offset + 1, expected) {
                        return Err(corrupt(offset, bad.reason()).into());
                    }
                    let file = OpenOptions::new()
                        .write(true)
                        .open(path)
                        .map_err(io_error("opening", path))?;
                    file.set_len(offset as u64)
                        .and_then(|()| file.sync_all())
                        .map_err(io_error("truncating", path))?;
                    truncated = Some((path.clone(), (bytes.len() - offset) as u64));
                    bytes.truncate(offset);
                    break;
                }
            }
        }
        if is_last {
            tail = Some((path.clone(), bytes.len() as u64));
        }
        if last.is_none() {
            // An empty first segment: the log continues at its name.
            last = Some(first - 1);
        }
    }
    let log_last = last;
    let last = log_last.unwrap_or(checkpoint).max(checkpoint);
    let next = last + 1;
    let (file, path, size) = match tail {
        // Append to the last segment only when its records end right before `next`; when a
        // checkpoint is ahead of every record (the log was lost or emptied), a fresh segment
        // named `next` keeps the numbering consecutive within each file.
        Some((path, size)) if log_last == Some(last) => {
            let file = OpenOptions::new()
                .append(true)
                .open(&path)
                .map_err(io_error("opening", &path))?;
            (file, path, size)
        }
        _ => {
            let (file, path) = create_segment(dir, next)?;
            (file, path, 0)
        }
    };
    Ok(Opened {
        writer: LogWriter {
            dir: dir.to_path_buf(),
            file: Arc::new(file),
            path,
            size,
            next,
            segment_bytes: segment_bytes.max(HEADER as u64),
            buf: Vec::new(),
        },
        last,
        truncated,
    })
}

/// Whether a whole record numbered `expected` or later starts anywhere at or after `from`.
fn whole_record_after(bytes: &[u8], from: usize, expected: Lsn) -> bool {
    (from..bytes.len().saturating_sub(HEADER - 1))
        .any(|at| parse_frame(bytes, at).is_ok_and(|frame| frame.lsn >= expected))
}

/// Removes the segments whose every record is at or below `upto` (never the newest segment).
/// Returns how many went.
pub fn remove_through(dir: &Path, upto: Lsn) -> Result<usize, LogError> {
    remove_listed(dir, &segments(dir)?, upto)
}

/// [`remove_through`] over a listing of `dir` the caller already made.
pub fn remove_listed(
    dir: &Path,
    segments: &[(Lsn, PathBuf)],
    upto: Lsn,
) -> Result<usize, LogError> {
    let mut removed = 0;
    for pair in segments.windows(2) {
        let (_, path) = &pair[0];
        let (next_first, _) = &pair[1];
        if next_first - 1 > upto {
            break;
        }
        fs::remove_file(path).map_err(io_error("removing", path))?;
        removed += 1;
    }
    if removed > 0 {
        sync_dir(dir)?;
    }
    Ok(removed)
}

/// Reads durable records in log order, for consumers. It never reads past the LSN it is
/// given as durable, so it never sees a record being written.
pub struct LogReader {
    dir: PathBuf,
    /// The last record handed out.
    position: Lsn,
    /// The open segment and the LSN of the next record in it.
    current: Option<(io::BufReader<File>, Lsn)>,
}

impl LogReader {
    /// A reader that hands out records after `position`.
    pub fn new(dir: &Path, position: Lsn) -> Self {
        Self {
            dir: dir.to_path_buf(),
            position,
            current: None,
        }
    }

    /// The last LSN handed out.
    pub fn position(&self) -> Lsn {
        self.position
    }

    /// Up to `max` records after the position and at or below `durable`, in order.
    pub fn read(&mut self, durable: Lsn, max: usize) -> Result<Vec<(Lsn, Vec<u8>)>, LogError> {
        let mut out = Vec::new();
        while self.position < durable && out.len() < max {
            let wanted = self.position + 1;
            if self.current.is_none() {
                self.current = Some(self.open_segment_for(wanted)?);
            }
            let Some((reader, next)) = self.current.as_mut() else {
                break;
            };
            match read_record(reader)? {
                Some((lsn, body)) => {
                    *next = lsn + 1;
                    if lsn < wanted {
                        continue; // skipping to the position inside the segment
                    }
                    if lsn != wanted {
                        return Err(self.corrupt("records out of order"));
                    }
                    self.position = lsn;
                    out.push((lsn, body));
                }
                // The segment ended below `durable`: the next one continues the log.
                None => {
                    let next = *next;
                    self.current = Some(self.open_segment_starting(next)?);
                }
            }
        }
        Ok(out)
    }

    fn corrupt(&self, reason: &'static str) -> LogError {
        LogError::Corrupt {
            segment: self.dir.clone(),
            offset: 0,
            reason,
        }
    }

    /// The segment holding `lsn` (the last one starting at or before it).
    fn open_segment_for(&self, lsn: Lsn) -> Result<(io::BufReader<File>, Lsn), LogError> {
        let segments = segments(&self.dir)?;
        let Some((first, path)) = segments.iter().rev().find(|(first, _)| *first <= lsn) else {
            return Err(self.corrupt("the consumer's position was removed from the log"));
        };
        let file = File::open(path).map_err(io_error("opening", path))?;
        Ok((io::BufReader::with_capacity(256 * 1024, file), *first))
    }

    fn open_segment_starting(&self, first: Lsn) -> Result<(io::BufReader<File>, Lsn), LogError> {
        let path = self.dir.join(segment_name(first));
        let file = File::open(&path).map_err(io_error("opening", &path))?;
        Ok((io::BufReader::with_capacity(256 * 1024, file), first))
    }
}

/// Reads one record; `None` at a clean end of the file.
fn read_record(reader: &mut impl Read) -> Result<Option<(Lsn, Vec<u8>)>, LogError> {
    let mut header = [0u8; HEADER];
    let mut filled = 0;
    while filled < HEADER {
        let n = reader
            .read(&mut header[filled..])
            .map_err(io_error("reading", Path::new("log segment")))?;
        if n == 0 {
            return if filled == 0 {
                Ok(None)
            } else {
                Err(LogError::Corrupt {
                    segment: PathBuf::from("log segment"),
                    offset: 0,
                    reason: "record cut short",
                })
            };
        }
        filled += n;
    }
    let len = u32::from_le_bytes([header[0], header[1], header[2], header[3]]) as usize;
    if len > MAX_BODY {
        return Err(LogError::Corrupt {
            segment: PathBuf::from("log segment"),
            offset: 0,
            reason: "impossible length",
        });
    }
    let mut record = header.to_vec();
    record.resize(HEADER + len, 0);
    reader
        .read_exact(&mut record[HEADER..])
        .map_err(io_error("reading", Path::new("log segment")))?;
    let frame = parse_frame(&record, 0).map_err(|bad| LogError::Corrupt {
        segment: PathBuf::from("log segment"),
        offset: 0,
        reason: bad.reason(),
    })?;
    Ok(Some((frame.lsn, frame.body.to_vec())))
}

#[cfg(test)]
mod tests {
    use super::*;

    type Records = Vec<(Lsn, Vec<u8>)>;

    fn open_collect(dir: &Path, checkpoint: Lsn) -> Result<(Opened, Records), LogError> {
        let mut seen = Vec::new();
        let opened = open::<LogError>(dir, checkpoint, 1 << 20, |lsn, body| {
            seen.push((lsn, body.to_vec()));
            Ok(())
        })?;
        Ok((opened, seen))
    }

    fn write_records(dir: &Path, segment_bytes: u64, groups: &[&[&[u8]]]) -> Lsn {
        let mut opened = open::<LogError>(dir, 0, segment_bytes, |_, _| Ok(())).expect("open");
        let mut last = 0;
        for group in groups {
            last = opened.writer.append(group.iter().copied()).expect("append");
        }
        last
    }

    #[test]
    fn records_come_back_in_order_across_segments_and_reopens() {
        let dir = tempfile::tempdir().expect("tempdir");
        let last = write_records(dir.path(), 10, &[&[b"a", b"bb"], &[b"ccc"], &[b"dddd"]]);
        assert_eq!(last, 4);
        assert_eq!(
            segments(dir.path()).expect("list").len(),
            3,
            "a new segment once one holds 10 bytes"
        );
        let (mut opened, seen) = open_collect(dir.path(), 0).expect("reopen");
        let bodies: Vec<&[u8]> = seen.iter().map(|(_, b)| b.as_slice()).collect();
        assert_eq!(bodies, [&b"a"[..], b"bb", b"ccc", b"dddd"]);
        assert_eq!(
            seen.iter().map(|(l, _)| *l).collect::<Vec<_>>(),
            [1, 2, 3, 4]
        );
        assert_eq!(opened.writer.append([&b"e"[..]]).expect("append"), 5);
        let (_, after_checkpoint) = open_collect(dir.path(), 3).expect("reopen");
        assert_eq!(
            after_checkpoint.iter().map(|(l, _)| *l).collect::<Vec<_>>(),
            [4, 5]
        );

        let mut reader = LogReader::new(dir.path(), 1);
        let got = reader.read(5, 2).expect("read");
        assert_eq!(got.iter().map(|(l, _)| *l).collect::<Vec<_>>(), [2, 3]);
        let got = reader.read(4, 10).expect("read");
        assert_eq!(
            got.iter().map(|(l, _)| *l).collect::<Vec<_>>(),
            [4],
            "stops at durable"
        );
        let got = reader.read(5, 10).expect("read");
        assert_eq!(got, [(5, b"e".to_vec())]);
    }

    #[test]
    fn every_torn_tail_is_cut_at_the_last_whole_record() {
        let dir = tempfile::tempdir().expect("tempdir");
        write_records(dir.path(), 1 << 20, &[&[b"first", b"second"]]);
        let (_, path) = segments(dir.path()).expect("list").pop().expect("segment");
        let whole = fs::read(&path).expect("read");
        let mut record = Vec::new();
        frame(&mut record, 3, b"the third record");
        let mut tails: Vec<Vec<u8>> = (1..record.len()).map(|n| record[..n].to_vec()).collect();
        tails.push(vec![0; 100]);
        tails.push((0..=255u8).collect());
        tails.push(vec![0xff; 7]);
        for tail in tails {
            fs::write(&path, [whole.as_slice(), &tail].concat()).expect("write");
            let (mut opened, seen) =
                open_collect(dir.path(), 0).expect("a torn tail is not corruption");
            assert_eq!(seen.len(), 2, "tail of {} bytes", tail.len());
            assert_eq!(
                opened.truncated.as_ref().map(|(_, n)| *n),
                Some(tail.len() as u64)
            );
            assert_eq!(
                fs::read(&path).expect("read"),
                whole,
                "cut at the last whole record"
            );
            assert_eq!(opened.writer.append([&b"again"[..]]).expect("append"), 3);
            fs::write(&path, &whole).expect("restore");
        }
    }

    #[test]
    fn a_damaged_older_record_stops_opening_with_the_segment_and_offset() {
        let dir = tempfile::tempdir().expect("tempdir");
        write_records(dir.path(), 1 << 20, &[&[b"first", b"second"], &[b"third"]]);
        let (_, path) = segments(dir.path()).expect("list").pop().expect("segment");
        let whole = fs::read(&path).expect("read");
        let second_offset = HEADER + b"first".len();
        for at in [0, 5, 9, HEADER + 1, second_offset + HEADER + 2] {
            let mut bytes = whole.clone();
            bytes[at] ^= 0x40;
            fs::write(&path, &bytes).expect("write");
            let error = open_collect(dir.path(), 0).err().expect("refused");
            let expected_offset = if at < second_offset {
                0
            } else {
                second_offset as u64
            };
            match &error {
                LogError::Corrupt {
                    segment, offset, ..
                } => {
                    assert_eq!(segment, &path);
                    assert_eq!(*offset, expected_offset, "byte {at} flipped");
                }
                other => panic!("unexpected {other}"),
            }
            assert!(error.to_string().contains(&path.display().to_string()));
        }
    }

    #[test]
    fn removing_keeps_every_segment_with_a_record_above_the_mark_and_the_newest() {
        let dir = tempfile::tempdir().expect("tempdir");
        write_records(dir.path(), 1, &[&[b"a"], &[b"b"], &[b"c"], &[b"d"]]);
        assert_eq!(segments(dir.path()).expect("list").len(), 4);
        assert_eq!(remove_through(dir.path(), 2).expect("remove"), 2);
        let left: Vec<Lsn> = segments(dir.path())
            .expect("list")
            .iter()
            .map(|(f, _)| *f)
            .collect();
        assert_eq!(left, [3, 4]);
        assert_eq!(
            remove_through(dir.path(), 100).expect("remove"),
            1,
            "the newest stays"
        );
        let (opened, seen) = open_collect(dir.path(), 3).expect("reopen");
        assert_eq!(seen.iter().map(|(l, _)| *l).collect::<Vec<_>>(), [4]);
        assert_eq!(opened.writer.next_lsn(), 5);
    }

    #[test]
    fn a_checkpoint_ahead_of_the_log_continues_numbering_after_it() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (mut opened, seen) = open_collect(dir.path(), 41).expect("open");
        assert!(seen.is_empty());
        assert_eq!(opened.writer.append([&b"x"[..]]).expect("append"), 42);
        let (opened, seen) = open_collect(dir.path(), 41).expect("reopen");
        assert_eq!(seen, [(42, b"x".to_vec())]);
        assert_eq!(opened.last, 42);
    }
}
