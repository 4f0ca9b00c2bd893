//! Reading the configuration file: only a regular file, opened without blocking, read up to
//! [`MAX_FILE_BYTES`], and UTF-8. A FIFO, a directory or a device at the configuration path is
//! refused at once (a FIFO would block `check-config`, the start or a reload forever, a device
//! such as `/dev/zero` would never end).

use std::fs::{File, Metadata, OpenOptions};
use std::io::Read;
use std::path::Path;

use super::ConfigError;
use super::limits::MAX_FILE_BYTES;

/// The text of the configuration file at `path`.
pub fn read(path: &Path) -> Result<String, ConfigError> {
    let fail = |line: Option<usize>, why: String| ConfigError::single(path, line, why);
    // `metadata` follows symbolic links, as opening does.
    let meta = std::fs::metadata(path).map_err(|e| fail(None, cannot_read(&e)))?;
    not_regular(&meta).map_or(Ok(()), |why| Err(fail(None, why)))?;
    let file = open(path).map_err(|e| fail(None, cannot_read(&e)))?;
    // The path may have been replaced between the two looks: check what was opened.
    let meta = file.metadata().map_err(|e| fail(None, cannot_read(&e)))?;
    not_regular(&meta).map_or(Ok(()), |why| Err(fail(None, why)))?;
    let mut bytes =
        Vec::with_capacity(usize::try_from(meta.len()).unwrap_or(0).min(MAX_FILE_BYTES));
    let limit = u64::try_from(MAX_FILE_BYTES).unwrap_or(u64::MAX);
    file.take(limit + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| fail(None, cannot_read(&e)))?;
    if bytes.len() > MAX_FILE_BYTES {
        return Err(fail(None, too_large()));
    }
    String::from_utf8(bytes).map_err(|e| {
        let valid = &e.as_bytes()[..e.utf8_error().valid_up_to()];
        let line = valid.iter().filter(|b| **b == b'\n').count() + 1;
        fail(
            Some(line),
            "the file is not UTF-8 text (is it a configuration file?)".to_string(),
        )
    })
}

/// The message for a file larger than [`MAX_FILE_BYTES`].
pub fn too_large() -> String {
    format!(
        "the file is larger than {} MiB; no configuration needs that much, so it is not read",
        MAX_FILE_BYTES / (1024 * 1024)
    )
}

fn cannot_read(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::NotFound => "the configuration file does not exist".to_string(),
        std::io::ErrorKind::PermissionDenied => {
            "the configuration file cannot be read: permission denied".to_string()
        }
        _ => format!("the configuration file cannot be read: {e}"),
    }
}

/// Why `meta` is not a regular file, if it is not.
fn not_regular(meta: &Metadata) -> Option<String> {
    let t = meta.file_type();
    if t.is_file() {
        return None;
    }
    let what = if t.is_dir() {
        "a directory"
    } else {
        special_kind(&t)
    };
    Some(format!(
        "the configuration path is {what}, not a regular file; point --config.file at the file itself"
    ))
}

#[cfg(unix)]
fn special_kind(t: &std::fs::FileType) -> &'static str {
    use std::os::unix::fs::FileTypeExt;
    if t.is_fifo() {
        "a FIFO (named pipe)"
    } else if t.is_char_device() || t.is_block_device() {
        "a device"
    } else if t.is_socket() {
        "a socket"
    } else {
        "not a file"
    }
}

#[cfg(not(unix))]
fn special_kind(_: &std::fs::FileType) -> &'static str {
    "not a file"
}

/// Opens for reading without blocking (a FIFO swapped in after the first look does not hang
/// the open; the second look then refuses it).
#[cfg(unix)]
fn open(path: &Path) -> std::io::Result<File> {
    use std::os::unix::fs::OpenOptionsExt;
    let nonblock = rustix::fs::OFlags::NONBLOCK.bits();
    OpenOptions::new()
        .read(true)
        .custom_flags(i32::try_from(nonblock).unwrap_or(0))
        .open(path)
}

#[cfg(not(unix))]
fn open(path: &Path) -> std::io::Result<File> {
    OpenOptions::new().read(true).open(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_directory_is_refused_without_reading() {
        let dir = std::env::temp_dir();
        let e = read(&dir).expect_err("a directory");
        assert!(e.problems[0].message.contains("a directory"), "{e}");
    }

    #[cfg(unix)]
    #[test]
    fn a_device_is_refused_without_reading() {
        let e = read(Path::new("/dev/zero")).expect_err("a device");
        assert!(e.problems[0].message.contains("a device"), "{e}");
    }
}
