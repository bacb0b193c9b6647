//! File writes that never leave a half-written file behind, and the one way input files of
//! the repository are read ([`read_text`], [`read_regular`] for bytes): regular files only,
//! refused past a size limit before any of them is parsed, and text that must be UTF-8.

use std::io::Write;
use std::path::Path;

use crate::error::{Error, Result};

mod regular;
pub use regular::{
    DEFAULT_MAX_INPUT_SIZE, NotText, ReadProblem, TooLarge, decode_text, max_input_size,
    read_regular, read_regular_within, read_text, set_max_input_size, special_kind,
};

/// `rest` inside the repository directory `dir`, both as reports show them (`/`-separated,
/// relative to the root): `charts/app/values.yaml`, or `values.yaml` when `dir` is the root
/// (the empty string).
pub fn display_join(dir: &str, rest: &str) -> String {
    match dir.trim_end_matches('/') {
        "" => rest.to_string(),
        dir => format!("{dir}/{rest}"),
    }
}

/// Prefix of stackctl's temporary files, so leftovers of an interrupted run can be recognised
/// (helm skips files starting with a dot inside `charts/`).
pub const TEMP_PREFIX: &str = ".stackctl-";
pub const TEMP_SUFFIX: &str = ".tmp";

/// Write `bytes` to `path` atomically: a temporary file in the same directory, flushed to disk,
/// then renamed over the target. Readers see the old content or the new, never a mix; an
/// interrupted write leaves at most a temporary file. An existing file keeps its permissions.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let temp = written_temp(path, bytes)?;
    temp.persist(path)
        .map_err(|e| Error::io("replace", path, e.error))?;
    Ok(())
}

/// Write `bytes` to `path` atomically, as [`write_atomic`] does, unless something is already
/// there: `Ok(false)`, and nothing is written. The check and the rename are one step (a hard
/// link), so a file created meanwhile by another process is never replaced.
pub fn create_atomic(path: &Path, bytes: &[u8]) -> Result<bool> {
    let temp = written_temp(path, bytes)?;
    match temp.persist_noclobber(path) {
        Ok(_) => Ok(true),
        Err(e) if e.error.kind() == std::io::ErrorKind::AlreadyExists => Ok(false),
        Err(e) => Err(Error::io("create", path, e.error)),
    }
}

/// A temporary file beside `path` holding `bytes`, flushed to disk, with the permissions of the
/// file it is to replace (else 0644).
fn written_temp(path: &Path, bytes: &[u8]) -> Result<tempfile::NamedTempFile> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(|e| Error::io("create directory", dir, e))?;
    let mut temp = tempfile::Builder::new()
        .prefix(TEMP_PREFIX)
        .suffix(TEMP_SUFFIX)
        .tempfile_in(dir)
        .map_err(|e| Error::io("create a temporary file in", dir, e))?;
    temp.write_all(bytes)
        .and_then(|_| temp.as_file().sync_all())
        .map_err(|e| Error::io("write", temp.path().to_path_buf(), e))?;
    if let Ok(metadata) = std::fs::metadata(path) {
        let _ = std::fs::set_permissions(temp.path(), metadata.permissions());
    } else {
        // tempfile creates 0600 files; a chart archive or a lock should be as readable as any
        // file the user creates.
        use std::os::unix::fs::PermissionsExt;
        let _ = std::fs::set_permissions(temp.path(), std::fs::Permissions::from_mode(0o644));
    }
    Ok(temp)
}

/// A byte count as people read it: `512 bytes`, `64 KiB`, `4.5 MiB`.
pub fn format_size(bytes: u64) -> String {
    const UNITS: [(&str, u64); 3] = [("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)];
    for (unit, size) in UNITS {
        if bytes >= size {
            return if bytes.is_multiple_of(size) {
                format!("{} {unit}", bytes / size)
            } else {
                format!("{:.1} {unit}", bytes as f64 / size as f64)
            };
        }
    }
    format!("{bytes} bytes")
}

/// Parse a size as `stackctl.toml` writes it: `"4 MiB"`, `"512KiB"`, `"1 GB"`, `"2048"`
/// (bytes). Binary units are powers of 1024, decimal ones of 1000.
pub fn parse_size(text: &str) -> std::result::Result<u64, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let multiplier: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" | "bytes" => 1,
        "k" | "kb" => 1_000,
        "m" | "mb" => 1_000_000,
        "g" | "gb" => 1_000_000_000,
        "kib" => 1 << 10,
        "mib" => 1 << 20,
        "gib" => 1 << 30,
        _ => 0,
    };
    match number.parse::<f64>() {
        Ok(n) if multiplier > 0 && n.is_finite() && n > 0.0 => Ok((n * multiplier as f64) as u64),
        _ => Err(format!(
            "{text:?} is not a size like \"4 MiB\", \"512 KiB\" or a number of bytes"
        )),
    }
}

/// Whether a file name is a leftover temporary file of [`write_atomic`].
pub fn is_temp_leftover(file_name: &str) -> bool {
    file_name.starts_with(TEMP_PREFIX) && file_name.ends_with(TEMP_SUFFIX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_join_leaves_no_slash_in_front_of_a_file_of_the_root() {
        assert_eq!(display_join("", "values.yaml"), "values.yaml");
        assert_eq!(
            display_join("charts/app", "values.yaml"),
            "charts/app/values.yaml"
        );
        assert_eq!(display_join("envs/", "prod/a.yaml"), "envs/prod/a.yaml");
    }

    #[test]
    fn create_atomic_writes_a_new_file_and_never_replaces_one() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("stackctl.toml");
        assert!(create_atomic(&path, b"first\n").unwrap());
        assert_eq!(std::fs::read(&path).unwrap(), b"first\n");
        assert!(!create_atomic(&path, b"second\n").unwrap());
        assert_eq!(std::fs::read(&path).unwrap(), b"first\n");
        // A symlink to nothing is something there too.
        let link = dir.path().join("link.toml");
        std::os::unix::fs::symlink(dir.path().join("missing"), &link).unwrap();
        assert!(!create_atomic(&link, b"x").unwrap());
        assert!(!dir.path().join("missing").exists());
        // No temporary file is left behind.
        let names: Vec<String> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert!(
            names.iter().all(|n| !n.starts_with(TEMP_PREFIX)),
            "{names:?}"
        );
    }

    #[test]
    fn sizes_read_and_print_as_written() {
        for (text, bytes) in [
            ("4 MiB", 4 << 20),
            ("512KiB", 512 << 10),
            ("1.5 GiB", 3 << 29),
            ("2048", 2048),
            ("1 MB", 1_000_000),
        ] {
            assert_eq!(parse_size(text), Ok(bytes), "{text}");
        }
        for text in ["", "MiB", "0", "-1 MiB", "4 MX"] {
            assert!(parse_size(text).is_err(), "{text}");
        }
        assert_eq!(format_size(4 << 20), "4 MiB");
        assert_eq!(format_size(5_000_000), "4.8 MiB");
        assert_eq!(format_size(100), "100 bytes");
    }

    #[test]
    fn replaces_content_and_keeps_permissions() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/file.txt");
        write_atomic(&path, b"one").unwrap();
        assert_eq!(
            std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o644
        );
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        write_atomic(&path, b"two").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"two");
        assert_eq!(
            std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o600
        );
        let names: Vec<_> = std::fs::read_dir(path.parent().unwrap())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        assert_eq!(names, vec!["file.txt"]);
    }
}
