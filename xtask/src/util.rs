//! Small helpers shared by the xtask commands: paths, hashing, atomic writes, subprocesses.

use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus};
use std::time::Duration;

use anyhow::{bail, Context, Result};
use sha2::{Digest, Sha256};

/// The workspace root (the folder above `xtask/`). `cargo run` (and so `cargo xtask`) sets
/// `CARGO_MANIFEST_DIR` for the process it starts: that names the checkout being run. The path
/// compiled in is only the fallback, because with one target folder shared by two checkouts
/// cargo may reuse a binary built in the other (it was: a bench in one clone built the other).
pub fn workspace_root() -> PathBuf {
    let dir = std::env::var_os("CARGO_MANIFEST_DIR")
        .filter(|d| !d.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")));
    dir.parent()
        .expect("xtask lives one folder below the workspace root")
        .to_path_buf()
}

/// Cargo's target folder: `$CARGO_TARGET_DIR` (relative to the workspace root when relative),
/// else `<root>/target`.
pub fn target_dir() -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR").filter(|v| !v.is_empty()) {
        Some(d) => workspace_root().join(d),
        None => workspace_root().join("target"),
    }
}

/// The models folder: `--models-dir`, else `$TITLESIM_MODELS_DIR`, else `<root>/models`;
/// always absolute.
pub fn models_dir(flag: Option<&Path>) -> Result<PathBuf> {
    let p = match flag {
        Some(p) => p.to_path_buf(),
        None => match std::env::var_os("TITLESIM_MODELS_DIR") {
            Some(v) if !v.is_empty() => PathBuf::from(v),
            _ => workspace_root().join("models"),
        },
    };
    Ok(if p.is_absolute() {
        p
    } else {
        std::env::current_dir()
            .context("cannot read the current directory")?
            .join(p)
    })
}

/// Prints a progress message on stderr, prefixed with the command name.
#[macro_export]
macro_rules! say {
    ($($arg:tt)*) => {
        eprintln!("xtask: {}", format!($($arg)*))
    };
}

/// A writer that hashes what goes through it.
pub struct HashingWriter<W> {
    inner: W,
    hasher: Sha256,
    len: u64,
}

impl<W: Write> HashingWriter<W> {
    /// Wraps `inner`.
    pub fn new(inner: W) -> Self {
        HashingWriter {
            inner,
            hasher: Sha256::new(),
            len: 0,
        }
    }

    /// The hex sha256 and length of everything written, and the inner writer.
    pub fn finish(self) -> (String, u64, W) {
        (hex::encode(self.hasher.finalize()), self.len, self.inner)
    }
}

impl<W: Write> Write for HashingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.len += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// The hex sha256 of a file.
pub fn sha256_file(path: &Path) -> Result<String> {
    let mut f = File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = f
            .read(&mut buf)
            .with_context(|| format!("cannot read {}", path.display()))?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(hex::encode(h.finalize()))
}

/// The hex sha256 of bytes.
pub fn sha256_bytes(b: &[u8]) -> String {
    hex::encode(Sha256::digest(b))
}

/// The hex sha256 of a file, or `None` when it does not exist or cannot be read.
pub fn sha256_if_file(path: &Path) -> Option<String> {
    if path.is_file() {
        sha256_file(path).ok()
    } else {
        None
    }
}

/// The temporary name a file is written under before it is renamed into place.
pub fn partial_path(path: &Path) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(".partial");
    path.with_file_name(name)
}

/// Writes a file through `fill` under a temporary name, checks its sha256 against
/// `expected` (when given), and only then renames it into place: an interrupted or wrong
/// write never leaves a file under the final name.
pub fn write_atomically(
    path: &Path,
    expected: Option<&str>,
    fill: impl FnOnce(&mut dyn Write) -> Result<()>,
) -> Result<String> {
    if let Some(dir) = path.parent() {
        fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    let tmp = partial_path(path);
    let file = File::create(&tmp).with_context(|| format!("cannot create {}", tmp.display()))?;
    let mut w = HashingWriter::new(io::BufWriter::with_capacity(1 << 20, file));
    let res = fill(&mut w).and_then(|_| w.flush().map_err(Into::into));
    let (sha, _, inner) = w.finish();
    let done = res.and_then(|_| {
        let f = inner.into_inner().map_err(|e| e.into_error())?;
        f.sync_all()?;
        Ok(())
    });
    if let Err(e) = done {
        let _ = fs::remove_file(&tmp);
        return Err(e.context(format!("writing {}", path.display())));
    }
    if let Some(want) = expected {
        if sha != want {
            let _ = fs::remove_file(&tmp);
            bail!(
                "{}: sha256 {sha} does not match the expected {want}",
                path.display()
            );
        }
    }
    fs::rename(&tmp, path).with_context(|| format!("cannot move {} into place", tmp.display()))?;
    Ok(sha)
}

/// Runs a command with inherited stdio (stdout sent to our stderr when `stdout_to_stderr`).
pub fn run_status(cmd: &mut Command, stdout_to_stderr: bool) -> Result<ExitStatus> {
    if stdout_to_stderr {
        cmd.stdout(io::stderr());
    }
    cmd.status()
        .with_context(|| format!("cannot run {:?}", cmd.get_program()))
}

/// `1m23s` / `4.5s`.
pub fn fmt_duration(d: Duration) -> String {
    let s = d.as_secs_f64();
    if s >= 60.0 {
        format!("{}m{:02}s", (s / 60.0) as u64, (s % 60.0) as u64)
    } else {
        format!("{s:.1}s")
    }
}
