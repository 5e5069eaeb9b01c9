//! The one error type of the core crate, shared by backends.

use std::path::PathBuf;

/// Shorthand for results whose error is [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong between a model name and a verdict.
///
/// Variants say *what* was wrong and *where* (file, line, field), so a caller can
/// either act on them (match the variant) or print them as they are. The enum is
/// `#[non_exhaustive]`: match the variants you act on and keep a catch-all arm.
///
/// | variant | when | what a caller can do |
/// |---|---|---|
/// | [`ModelNotFound`](Error::ModelNotFound) | [`crate::resolve_model`], [`crate::ModelSpec::from_folder`]: the name is not a folder, not in the Hugging Face cache, not downloadable | fetch the model, fix the name |
/// | [`ModelFile`](Error::ModelFile) | a file of the model folder is missing or malformed (`config.json`, `modules.json`, pooling config, tokenizer, weights index) | replace the folder |
/// | [`Unsupported`](Error::Unsupported) | the folder describes an architecture or module titlesim (or the chosen backend) does not run | choose another backend or model |
/// | [`BackendNotCompiled`](Error::BackendNotCompiled) | `titlesim::load_backend` asked for a backend whose cargo feature is off | rebuild with the named feature, or configure another backend |
/// | [`Backend`](Error::Backend) | a backend (or your own [`crate::Embedder`]) failed to load or run a model, or returned output of the wrong shape | retry, or report it with the message |
/// | [`Tokenizer`](Error::Tokenizer) | the tokenizer failed on a text or setting | check the text or the tokenizer file |
/// | [`MaxLengthBeyondPositions`](Error::MaxLengthBeyondPositions) | [`crate::ModelSpec::from_folder`] and friends: the configured `max_length` (or the folder's `max_seq_length`) is longer than the model's position table | lower `max_length` to the named limit |
/// | [`Config`](Error::Config) | `titlesim::Config::parse`, [`crate::ModelConfig::validate`] and friends: invalid TOML, an unknown key, a value out of range; an override the folder cannot honour (unknown prompt name, `append_eos` needed) | fix the named key |
/// | [`Input`](Error::Input) | a line of an input file (pairs, titles) is invalid | fix the named line and field |
/// | [`DimensionMismatch`](Error::DimensionMismatch) | vectors of different lengths met: a backend's output against the model's `hidden_size`, a stored vector against the model | rebuild the store, check the model |
/// | [`NonFinite`](Error::NonFinite) | an embedding holds NaN or infinity | check the model's weights and precision |
/// | [`Io`](Error::Io) | reading or writing a file failed (the path is in the error) | check the path and permissions |
/// | [`StoreMismatch`](Error::StoreMismatch) | a GT store ([`crate::GtVectors`]) was made by another model, prompt or dimension | rebuild it with `titlesim precompute`, or point `gt_store` elsewhere |
/// | [`StoreBackend`](Error::StoreBackend) | titles were to be added to a GT store of this model made on another backend, which would mix two backends' vectors in one store | precompute on the store's backend, or rebuild the store on this one |
/// | [`Locked`](Error::Locked) | another writer holds a file's write lock (a shadow log, an EMF file, a GT store: one writer per file) | wait for it to finish, or write to another file |
/// | [`StoreMissing`](Error::StoreMissing) | the configured GT store does not exist | build it with `titlesim precompute` |
/// | [`Task`](Error::Task) | a background task panicked or was cancelled, or an [`crate::Embedder`] returned the wrong number of vectors | report it; the input was not at fault |
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A model name resolved to nothing: not a folder, not in the Hugging Face cache, and
    /// (without the `hf-hub` feature, or offline) not downloadable.
    #[error("model `{model}` not found; looked in: {}{hint}", looked.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", "))]
    ModelNotFound {
        /// What the caller asked for.
        model: String,
        /// Every place that was looked at.
        looked: Vec<PathBuf>,
        /// Extra advice (starts with "; " when present).
        hint: String,
    },

    /// A file of a model folder is missing, unreadable or malformed.
    #[error("{}: {message}", path.display())]
    ModelFile {
        /// The file at fault.
        path: PathBuf,
        /// What is wrong with it.
        message: String,
    },

    /// The model folder describes something titlesim does not support (yet).
    #[error("unsupported model {}: {message}", path.display())]
    Unsupported {
        /// The model folder.
        path: PathBuf,
        /// What is unsupported.
        message: String,
    },

    /// A backend was asked for that this build does not contain.
    #[error(
        "backend `{backend}` is not compiled into this build; rebuild with `--features {feature}`"
    )]
    BackendNotCompiled {
        /// The backend asked for.
        backend: String,
        /// The cargo feature that compiles it in.
        feature: String,
    },

    /// A backend failed to load a model or to run it.
    #[error("{backend} backend: {message}")]
    Backend {
        /// Which backend (`candle`, `ort`, `tract`, or a third party's name).
        backend: String,
        /// What went wrong, in the backend's words.
        message: String,
    },

    /// Tokenisation failed.
    #[error("tokenizer: {0}")]
    Tokenizer(String),

    /// The maximum sequence length asked for is longer than the model's position-embedding
    /// table (`config.json`'s `max_position_embeddings`): a text that long would fail inside
    /// the engine (or, on some, read past the table), so the model is refused when it is
    /// resolved, whatever the backend.
    #[error(
        "model {}: max_length {max_length} ({origin}) exceeds the {limit} positions the model \
         has (config.json's max_position_embeddings{offset_note}); set max_length to {limit} or less",
        model.display(),
        offset_note = if *limit == *positions { String::new() } else { format!(" = {positions}, less the position offset of this model type") }
    )]
    MaxLengthBeyondPositions {
        /// The model folder.
        model: PathBuf,
        /// The maximum length in tokens that was asked for.
        max_length: usize,
        /// Where it came from: the configuration's `max_length`, or the folder's
        /// `sentence_bert_config.json`.
        origin: String,
        /// The longest sequence the model's positions allow.
        limit: usize,
        /// `config.json`'s `max_position_embeddings`.
        positions: usize,
    },

    /// A configuration file or value is invalid.
    #[error("{}{message}", path.as_ref().map(|p| format!("config {}: ", p.display())).unwrap_or_default())]
    Config {
        /// The configuration file, when there is one.
        path: Option<PathBuf>,
        /// What is wrong, naming the key.
        message: String,
    },

    /// Another writer holds the advisory write lock of a file titlesim writes one writer at a
    /// time (a shadow log, an EMF file, a GT store).
    #[error("{}: {message}", path.display())]
    Locked {
        /// The file.
        path: PathBuf,
        /// Who holds it and what to do.
        message: String,
    },

    /// A line or record of an input file is invalid.
    #[error("{}:{line}: {message}", path.display())]
    Input {
        /// The input file (`-` for stdin).
        path: PathBuf,
        /// 1-based line (or record) number.
        line: u64,
        /// What is wrong, naming the field.
        message: String,
    },

    /// Vectors of different lengths met (e.g. a stored 1024-d vector against a 384-d model).
    #[error("dimension mismatch in {context}: expected {expected}, got {got}")]
    DimensionMismatch {
        /// Where the vectors met.
        context: String,
        /// The dimension that was expected.
        expected: usize,
        /// The dimension that was found.
        got: usize,
    },

    /// A vector holds NaN or infinite values.
    #[error("non-finite value in vector ({context})")]
    NonFinite {
        /// Where the vector came from.
        context: String,
    },

    /// An I/O error, with the path it happened on.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file or folder.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },

    /// A GT store was written by another model (fingerprint with prompt) or holds vectors of
    /// another dimension.
    #[error(
        "GT store {} was written by another model: it holds {found_dim}-d vectors of fingerprint \
         {found_fingerprint} ({found_model}), but this model makes {expected_dim}-d vectors of \
         fingerprint {expected_fingerprint}; rebuild it with `titlesim precompute`, point \
         `gt_store` elsewhere, or set `gt_store_mismatch = \"recompute\"`",
        path.display()
    )]
    StoreMismatch {
        /// The store file.
        path: PathBuf,
        /// The fingerprint of the model asking (its GT side, prompt included).
        expected_fingerprint: String,
        /// The dimension of the model asking.
        expected_dim: usize,
        /// The fingerprint the store was written with.
        found_fingerprint: String,
        /// The dimension of the store's vectors.
        found_dim: usize,
        /// The model name the store records.
        found_model: String,
    },

    /// Titles were to be added to a GT store of this model made on another backend (ort and
    /// tract read one ONNX file, so the fingerprints match, but their vectors differ in the
    /// last bits): one store would hold both backends' vectors.
    #[error(
        "GT store {} was made on the {store_backend} backend and the model runs on {backend}: \
         adding {backend}'s vectors would mix two backends' vectors (they differ in the last \
         bits) in one store; precompute on {store_backend}, or remove the store (or set \
         `gt_store_mismatch = \"recompute\"`) to rebuild it on {backend}",
        path.display()
    )]
    StoreBackend {
        /// The store file.
        path: PathBuf,
        /// The backend the store's header names.
        store_backend: String,
        /// The backend the model runs on.
        backend: String,
    },

    /// The configured GT store does not exist.
    #[error(
        "GT store {} does not exist: build it with `titlesim precompute`, or set \
         `gt_store_mismatch = \"recompute\"` to encode reference titles without it",
        path.display()
    )]
    StoreMissing {
        /// The store file.
        path: PathBuf,
    },

    /// A background task was cancelled or panicked.
    #[error("background task failed: {0}")]
    Task(String),
}

impl Error {
    /// An [`Error::Io`] for `path`.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            source,
        }
    }

    /// An [`Error::Input`]: `line` of `path` (1-based; 0 for the file as a whole) was invalid.
    pub fn input(path: impl Into<PathBuf>, line: u64, message: impl Into<String>) -> Self {
        Error::Input {
            path: path.into(),
            line,
            message: message.into(),
        }
    }

    /// An [`Error::ModelFile`] for `path`.
    pub fn model_file(path: impl Into<PathBuf>, message: impl Into<String>) -> Self {
        Error::ModelFile {
            path: path.into(),
            message: message.into(),
        }
    }

    /// An [`Error::Backend`] for the backend called `backend`.
    pub fn backend(backend: impl Into<String>, message: impl std::fmt::Display) -> Self {
        Error::Backend {
            backend: backend.into(),
            message: message.to_string(),
        }
    }
}

/// The start of `text` (its first 60 characters) for an error message, quoted and escaped as
/// Rust's `{:?}` does, with `...` when there is more: a title or a time that can be found in
/// the input without printing all of it.
pub fn excerpt(text: &str) -> String {
    let start: String = text.chars().take(60).collect();
    if start.len() < text.len() {
        format!("{start:?}...")
    } else {
        format!("{start:?}")
    }
}

/// `text` from an input file as an error message quotes it: control characters (an escape
/// sequence that would clear or recolour the terminal, a line break that would forge a line of
/// output) written as `\u{1b}`-style escapes, everything else as it is.
pub fn shown(text: &str) -> std::borrow::Cow<'_, str> {
    if !text.chars().any(char::is_control) {
        return std::borrow::Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if c.is_control() {
            out.extend(c.escape_unicode());
        } else {
            out.push(c);
        }
    }
    std::borrow::Cow::Owned(out)
}

/// The message of a panic caught with `catch_unwind` (its payload is a `&str` or a `String`
/// for `panic!` with a message), or `unknown panic`.
pub fn panic_message(payload: &(dyn std::any::Any + Send)) -> &str {
    payload
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| payload.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("unknown panic")
}

#[cfg(test)]
mod tests {
    use super::shown;

    #[test]
    fn shown_escapes_control_characters_only() {
        assert_eq!(shown("shadow right"), "shadow right");
        assert_eq!(shown("sh\u{1b}[2Jadow\nx"), "sh\\u{1b}[2Jadow\\u{a}x");
        assert_eq!(shown("ünïcode it's"), "ünïcode it's");
    }
}
