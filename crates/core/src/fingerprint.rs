//! Stable identities of models, for cache keys and logs.
//!
//! A fingerprint hashes what determines a model's vectors: the bytes of its config, tokenizer
//! and weight files, and the pooling, normalisation and maximum length in force. The same
//! folder copied elsewhere has the same fingerprint; a changed weight file, pooling mode or
//! truncation length does not.

use std::fs::File;
use std::io::Read;
use std::path::Path;

use sha2::{Digest, Sha256};

use crate::error::{Error, Result};

/// SHA-256 of a file, hex encoded.
///
/// Files in a Hugging Face cache snapshot are links to `blobs/<sha256>`; their name is their
/// hash and is used as is, so large cached weights are not read again.
pub fn file_sha256(path: &Path) -> Result<String> {
    if let Ok(target) = std::fs::read_link(path) {
        if let Some(name) = target.file_name().and_then(|n| n.to_str()) {
            if name.len() == 64 && name.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Ok(name.to_ascii_lowercase());
            }
        }
    }
    let mut f = File::open(path).map_err(|e| Error::io(path, e))?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = f.read(&mut buf).map_err(|e| Error::io(path, e))?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(hex::encode(h.finalize()))
}

/// Builds a fingerprint from named parts; order matters.
#[derive(Debug, Default, Clone)]
pub struct FingerprintBuilder {
    h: Sha256,
}

impl FingerprintBuilder {
    /// An empty builder.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a named value.
    pub fn field(mut self, name: &str, value: impl std::fmt::Display) -> Self {
        self.h.update(name.as_bytes());
        self.h.update([0]);
        self.h.update(value.to_string().as_bytes());
        self.h.update([0xff]);
        self
    }

    /// Adds a file's content hash under its file name (not its path, so copies match).
    pub fn file(self, path: &Path) -> Result<Self> {
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let digest = file_sha256(path)?;
        Ok(self.field(&format!("file:{name}"), digest))
    }

    /// The fingerprint: `ts1-` and the first 16 bytes of the hash in hex.
    pub fn finish(self) -> String {
        let d = self.h.finalize();
        format!("ts1-{}", hex::encode(&d[..16]))
    }
}

/// The fingerprint of the vectors of a side that prepends `prompt` to its texts.
pub fn with_prompt(fingerprint: &str, prompt: Option<&str>) -> String {
    match prompt {
        None | Some("") => fingerprint.to_string(),
        Some(p) => FingerprintBuilder::new()
            .field("base", fingerprint)
            .field("prompt", p)
            .finish(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_hash_and_fields() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("a.bin");
        std::fs::write(&p, b"abc").unwrap();
        assert_eq!(
            file_sha256(&p).unwrap(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        let a = FingerprintBuilder::new()
            .file(&p)
            .unwrap()
            .field("pooling", "mean")
            .finish();
        let b = FingerprintBuilder::new()
            .file(&p)
            .unwrap()
            .field("pooling", "cls")
            .finish();
        assert_ne!(a, b);
        assert!(a.starts_with("ts1-") && a.len() == 36);
        std::fs::write(&p, b"abd").unwrap();
        let c = FingerprintBuilder::new()
            .file(&p)
            .unwrap()
            .field("pooling", "mean")
            .finish();
        assert_ne!(a, c);
        assert_eq!(with_prompt(&a, None), a);
        assert_ne!(with_prompt(&a, Some("q: ")), a);
    }
}
