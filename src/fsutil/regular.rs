//! Reading an input file: only a regular file is opened, no larger than `[files] max-size`,
//! and text must be UTF-8.
//!
//! A FIFO opened for reading blocks until a writer appears, a device can stream forever, a
//! directory cannot be read at all, and a file of gigabytes would be parsed whole: every input
//! of stackctl (values layers, `.env`, `stackctl.toml`, `Chart.yaml`, schemas, chart archives,
//! …) goes through [`read_regular`] (bytes) or [`read_text`], which look at what the path is
//! (following symlinks) and how big it is before opening it, open it non-blocking so a path
//! swapped for a FIFO in between cannot hang the run either, and read at most limit + 1 bytes
//! so a file that grows while read cannot pass the limit.

use std::fmt;
use std::io::Read;
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::error::Error;

/// Default of `[files] max-size`: far above any real values file, chart file or schema, and
/// small enough that parsing a file at the limit stays fast.
pub const DEFAULT_MAX_INPUT_SIZE: u64 = 4 * 1024 * 1024;

/// The limit every input read shares. It is process-wide because files are read from every
/// layer (configuration, charts, values, schemas): `Repo::open` sets it once from
/// `stackctl.toml`, which itself is read under the default.
static MAX_INPUT_SIZE: AtomicU64 = AtomicU64::new(DEFAULT_MAX_INPUT_SIZE);

/// Set the size limit of input files (`[files] max-size`).
pub fn set_max_input_size(bytes: u64) {
    MAX_INPUT_SIZE.store(bytes, Ordering::Relaxed);
}

pub fn max_input_size() -> u64 {
    MAX_INPUT_SIZE.load(Ordering::Relaxed)
}

/// The hint for an input file refused for its size.
pub const TOO_LARGE_HINT: &str = "make the file smaller, or raise the limit: [files] max-size = \"16 MiB\" in stackctl.toml (docs/configuration.md)";

/// Why an input file was refused for its size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TooLarge {
    /// The file's size, or a lower bound when it grew while read.
    pub size: u64,
    pub limit: u64,
}

impl fmt::Display for TooLarge {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "the file is {}, larger than the {} limit of input files (raise `max-size` under [files] in stackctl.toml)",
            super::format_size(self.size),
            super::format_size(self.limit)
        )
    }
}

/// Why an input file could not be read.
#[derive(Debug)]
pub enum ReadProblem {
    /// Nothing at that path (or a symlink to nothing).
    Missing(std::io::Error),
    /// Something other than a regular file: what it is (`a FIFO (named pipe)`).
    NotRegular(&'static str),
    /// A symlink that resolves to itself.
    SymlinkLoop,
    /// Larger than `[files] max-size`.
    TooLarge(TooLarge),
    /// Bytes that are not UTF-8 text.
    NotText(NotText),
    /// Any other failure (permissions, a disk error).
    Io(std::io::Error),
}

/// What a file that is not UTF-8 text looks like, and where it stops being text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotText {
    /// What it looks like: `looks like UTF-16`, `binary`, `not UTF-8 at byte offset 17`.
    pub what: String,
    /// The 1-based line of the first offending byte, when the rest of the file is text worth
    /// quoting (not for UTF-16 or binary content).
    pub line: Option<usize>,
    pub hint: &'static str,
}

impl ReadProblem {
    pub fn is_missing(&self) -> bool {
        matches!(self, ReadProblem::Missing(_))
    }

    /// The line the problem is at, when it is in the content.
    pub fn line(&self) -> Option<usize> {
        match self {
            ReadProblem::NotText(text) => text.line,
            _ => None,
        }
    }

    /// How to fix it.
    pub fn hint(&self) -> &'static str {
        match self {
            ReadProblem::Missing(_) => {
                "the file does not exist: check the path (a symlink must point to an existing file)"
            }
            ReadProblem::NotRegular(_) => {
                "replace it with a regular file: stackctl reads no FIFO, device, socket or directory"
            }
            ReadProblem::SymlinkLoop => "point the symlink at a regular file",
            ReadProblem::TooLarge(_) => TOO_LARGE_HINT,
            ReadProblem::NotText(text) => text.hint,
            ReadProblem::Io(_) => "check the file's permissions",
        }
    }

    /// An error naming `path`. What the file is, holds or weighs is an input error (exit 2); a file
    /// that cannot be read for another reason is the machine's (exit 3).
    pub fn into_error(self, path: &Path) -> Error {
        let line = self.line();
        // With a line the location already names the file.
        let message = match line {
            Some(_) => format!("cannot read the file: {self}"),
            None => format!("cannot read {}: {self}", path.display()),
        };
        let hint = self.hint();
        let error = match self {
            ReadProblem::NotRegular(_)
            | ReadProblem::SymlinkLoop
            | ReadProblem::TooLarge(_)
            | ReadProblem::NotText(_) => Error::config(message),
            ReadProblem::Missing(_) | ReadProblem::Io(_) => Error::environment(message),
        };
        error.at(path, line).with_hint(hint)
    }
}

impl fmt::Display for ReadProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ReadProblem::Missing(_) => f.write_str("it does not exist"),
            ReadProblem::NotRegular(what) => write!(f, "it is {what}, not a regular file"),
            ReadProblem::SymlinkLoop => f.write_str("it is a symlink loop"),
            ReadProblem::TooLarge(too_large) => write!(f, "{too_large}"),
            ReadProblem::NotText(text) => write!(f, "not UTF-8 text: {}", text.what),
            ReadProblem::Io(e) => write!(f, "{e}"),
        }
    }
}

fn classify(err: std::io::Error) -> ReadProblem {
    match err.kind() {
        std::io::ErrorKind::NotFound => ReadProblem::Missing(err),
        _ if err.raw_os_error() == Some(libc::ELOOP) => ReadProblem::SymlinkLoop,
        std::io::ErrorKind::IsADirectory => ReadProblem::NotRegular("a directory"),
        _ => ReadProblem::Io(err),
    }
}

/// What a file type is when it is not a regular file; `None` for a regular file.
pub fn special_kind(file_type: &std::fs::FileType) -> Option<&'static str> {
    if file_type.is_file() {
        None
    } else if file_type.is_dir() {
        Some("a directory")
    } else if file_type.is_fifo() {
        Some("a FIFO (named pipe)")
    } else if file_type.is_char_device() {
        Some("a character device")
    } else if file_type.is_block_device() {
        Some("a block device")
    } else if file_type.is_socket() {
        Some("a socket")
    } else if file_type.is_symlink() {
        Some("a symlink")
    } else {
        Some("not a file")
    }
}

/// The bytes of `path`, which must be (or link to) a regular file no larger than
/// [`max_input_size`]. What the path is and its size are checked before it is opened; at most
/// limit + 1 bytes are ever read, so a file growing past the limit while read is refused too.
pub fn read_regular(path: &Path) -> Result<Vec<u8>, ReadProblem> {
    read_regular_within(path, max_input_size())
}

/// [`read_regular`] under another limit than the input files' one: a chart archive is bounded
/// by the largest blob stackctl accepts from a registry (`[registries] max-blob-size`), not by
/// `[files] max-size`, since that is what it was when it arrived.
pub fn read_regular_within(path: &Path, limit: u64) -> Result<Vec<u8>, ReadProblem> {
    let too_large = |size: u64| ReadProblem::TooLarge(TooLarge { size, limit });
    let metadata = std::fs::metadata(path).map_err(classify)?;
    if let Some(what) = special_kind(&metadata.file_type()) {
        return Err(ReadProblem::NotRegular(what));
    }
    if metadata.len() > limit {
        return Err(too_large(metadata.len()));
    }
    // O_NONBLOCK: if the path became a FIFO since the stat, opening it still returns at once
    // (it changes nothing for a regular file).
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)
        .map_err(classify)?;
    let metadata = file.metadata().map_err(ReadProblem::Io)?;
    if let Some(what) = special_kind(&metadata.file_type()) {
        return Err(ReadProblem::NotRegular(what));
    }
    if metadata.len() > limit {
        return Err(too_large(metadata.len()));
    }
    let mut bytes = Vec::with_capacity(metadata.len() as usize);
    file.take(limit.saturating_add(1))
        .read_to_end(&mut bytes)
        .map_err(classify)?;
    if bytes.len() as u64 > limit {
        return Err(too_large(bytes.len() as u64));
    }
    Ok(bytes)
}

/// The text of `path`: a regular file within the size limit holding UTF-8 without NUL bytes.
pub fn read_text(path: &Path) -> Result<String, ReadProblem> {
    decode_text(read_regular(path)?).map_err(ReadProblem::NotText)
}

/// `bytes` as text, or what they look like instead.
pub fn decode_text(bytes: Vec<u8>) -> Result<String, NotText> {
    let line_at = |offset: usize| bytes[..offset].iter().filter(|&&b| b == b'\n').count() + 1;
    const UTF16_HINT: &str = "save it as UTF-8, e.g. `iconv -f UTF-16 -t UTF-8 FILE > FILE.new`";
    if bytes.starts_with(&[0xFF, 0xFE]) || bytes.starts_with(&[0xFE, 0xFF]) {
        return Err(NotText {
            what: "it looks like UTF-16 (it starts with a UTF-16 byte order mark)".to_string(),
            line: None,
            hint: UTF16_HINT,
        });
    }
    if let Some(offset) = bytes.iter().position(|&b| b == 0) {
        // UTF-16 without a byte order mark: ASCII text with a zero byte beside every character.
        let printable = |b: u8| b == b'\t' || b == b'\n' || b == b'\r' || (0x20..0x7f).contains(&b);
        let pairs: Vec<(u8, u8)> = bytes
            .chunks_exact(2)
            .take(64)
            .map(|pair| (pair[0], pair[1]))
            .collect();
        let little = pairs
            .iter()
            .filter(|(a, b)| *b == 0 && printable(*a))
            .count();
        let big = pairs
            .iter()
            .filter(|(a, b)| *a == 0 && printable(*b))
            .count();
        let utf16 = pairs.len() >= 2 && little.max(big) * 10 >= pairs.len() * 9;
        return Err(if utf16 {
            NotText {
                what: "it looks like UTF-16 (a zero byte beside every character)".to_string(),
                line: None,
                hint: UTF16_HINT,
            }
        } else {
            NotText {
                what: format!(
                    "it looks binary (a NUL byte at byte offset {offset}, line {})",
                    line_at(offset)
                ),
                line: None,
                hint: "a values or configuration file is text: restore the file (e.g. from version control)",
            }
        });
    }
    String::from_utf8(bytes).map_err(|e| {
        let offset = e.utf8_error().valid_up_to();
        let line = e.as_bytes()[..offset].iter().filter(|&&b| b == b'\n').count() + 1;
        NotText {
            what: format!(
                "byte offset {offset} (line {line}) is not UTF-8 (Latin-1 or another legacy encoding?)"
            ),
            line: Some(line),
            hint: "save it as UTF-8, e.g. `iconv -f LATIN1 -t UTF-8 FILE > FILE.new`",
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_regular_files_are_opened() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("fifo.yaml");
        let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
        // SAFETY: mkfifo(3) on a path of a fresh temporary directory.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o644) }, 0);
        let err = read_regular(&fifo).unwrap_err();
        assert_eq!(
            err.to_string(),
            "it is a FIFO (named pipe), not a regular file"
        );
        assert_eq!(
            read_regular(dir.path()).unwrap_err().to_string(),
            "it is a directory, not a regular file"
        );
        assert!(read_regular(Path::new("/dev/null")).is_err());
        assert!(
            read_regular(&dir.path().join("missing"))
                .unwrap_err()
                .is_missing()
        );
        let looped = dir.path().join("loop.yaml");
        std::os::unix::fs::symlink(&looped, &looped).unwrap();
        assert!(matches!(
            read_regular(&looped).unwrap_err(),
            ReadProblem::SymlinkLoop
        ));
        let file = dir.path().join("ok.yaml");
        std::fs::write(&file, "a: 1\n").unwrap();
        let link = dir.path().join("link.yaml");
        std::os::unix::fs::symlink(&file, &link).unwrap();
        assert_eq!(read_text(&link).unwrap(), "a: 1\n");
    }

    #[test]
    fn inputs_over_the_limit_are_refused_before_reading() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("big.yaml");
        std::fs::write(&path, vec![b'a'; (DEFAULT_MAX_INPUT_SIZE + 1) as usize]).unwrap();
        let err = read_text(&path).unwrap_err();
        assert!(matches!(err, ReadProblem::TooLarge(_)), "{err}");
        assert!(err.to_string().contains("4 MiB limit"), "{err}");
        let error = err.into_error(&path);
        assert_eq!(error.kind, crate::ErrorKind::Config);
        assert_eq!(error.hint.as_deref(), Some(TOO_LARGE_HINT));
        std::fs::write(&path, "a: 1\n").unwrap();
        assert_eq!(read_text(&path).unwrap(), "a: 1\n");
    }

    #[test]
    fn archives_are_read_under_their_own_limit() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("big-1.0.0.tgz");
        let size = DEFAULT_MAX_INPUT_SIZE + 1;
        std::fs::write(&path, vec![0u8; size as usize]).unwrap();
        assert!(matches!(read_regular(&path), Err(ReadProblem::TooLarge(_))));
        assert_eq!(read_regular_within(&path, size).unwrap().len() as u64, size);
        assert!(matches!(
            read_regular_within(&path, size - 1),
            Err(ReadProblem::TooLarge(TooLarge { limit, .. })) if limit == size - 1
        ));
    }

    #[test]
    fn text_that_is_not_utf8_says_what_it_looks_like() {
        let latin1 = decode_text(b"a: 1\nname: caf\xe9\n".to_vec()).unwrap_err();
        assert!(
            latin1.what.contains("byte offset 14 (line 2)"),
            "{latin1:?}"
        );
        assert_eq!(latin1.line, Some(2));
        let utf16: Vec<u8> = "a: 1\nb: 2\n"
            .encode_utf16()
            .flat_map(u16::to_le_bytes)
            .collect();
        assert!(
            decode_text(utf16.clone())
                .unwrap_err()
                .what
                .contains("UTF-16")
        );
        let with_bom = [&[0xFF, 0xFE][..], &utf16].concat();
        assert!(
            decode_text(with_bom)
                .unwrap_err()
                .what
                .contains("byte order mark")
        );
        let binary = decode_text(b"\x7fELF\x02\x01\x01\x00\x00\x00".to_vec()).unwrap_err();
        assert!(binary.what.contains("binary"), "{binary:?}");
        assert_eq!(decode_text(b"a: 1\n".to_vec()).unwrap(), "a: 1\n");
    }
}
