//! One module per subcommand: each has `Args` (clap) and `run(Args) -> anyhow::Result<()>`.
//!
//! [`ModelArgs`] are the options that name a model on the command line (`embed`, `inspect`).

use std::path::PathBuf;

use anyhow::Result;

/// `print!` to standard output that returns an error naming it (`?` it) instead of panicking
/// when it cannot be written (a full disk, `> /dev/full`); a closed pipe stays an error
/// `main` recognises.
macro_rules! out {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let mut o = std::io::stdout().lock();
        write!(o, $($arg)*)
            .and_then(|()| o.flush())
            .map_err(|e| anyhow::Error::new(e).context("cannot write to standard output"))
    }};
}

/// [`out!`] with a newline.
macro_rules! outln {
    () => {
        out!("\n")
    };
    ($($arg:tt)*) => {
        out!("{}\n", format_args!($($arg)*))
    };
}
use titlesim::{BackendKind, Dtype, ModelConfig, PaddingSide, Pooling};

pub mod burn_in;
pub mod calibrate;
pub mod embed;
pub mod inspect;
pub mod precompute;
pub mod promote;
pub mod replay;
pub mod review;
pub mod score;
pub mod serve;
pub mod shadow;
mod shared;
pub mod sql;

/// `--version` text: the crate version and the backends compiled in.
pub fn version_string() -> String {
    let backends: Vec<&str> = titlesim::compiled_backends()
        .iter()
        .map(|b| b.as_str())
        .collect();
    format!(
        "{} (backends: {})",
        env!("CARGO_PKG_VERSION"),
        if backends.is_empty() {
            "none".to_string()
        } else {
            backends.join(", ")
        }
    )
}

fn parse_backend(s: &str) -> Result<BackendKind, String> {
    s.parse()
}

fn parse_pooling(s: &str) -> Result<Pooling, String> {
    s.parse()
}

fn parse_side(s: &str) -> Result<PaddingSide, String> {
    match s.to_ascii_lowercase().as_str() {
        "left" => Ok(PaddingSide::Left),
        "right" => Ok(PaddingSide::Right),
        other => Err(format!(
            "unknown padding side `{other}` (expected left or right)"
        )),
    }
}

/// The options that name a model and how to run it.
#[derive(Debug, Clone, clap::Args)]
pub struct ModelArgs {
    /// The model: a sentence-transformers folder, a Hugging Face cache entry or a hub id
    /// (ORG/NAME; downloaded only in builds with the `hf-hub` feature).
    #[arg(long, short = 'm', value_name = "MODEL")]
    pub model: String,

    /// Hub revision (branch, tag or commit) of a cache entry or download [default: main].
    #[arg(long, value_name = "REV")]
    pub revision: Option<String>,

    /// The backend that runs the model: candle (safetensors weights), ort (ONNX Runtime)
    /// or tract (pure-Rust ONNX).
    #[arg(long, short = 'b', value_name = "BACKEND", default_value = "candle", value_parser = parse_backend)]
    pub backend: BackendKind,

    /// ONNX file to run with ort or tract [default: the folder's onnx/model.onnx or
    /// model.onnx].
    #[arg(long, value_name = "FILE")]
    pub onnx: Option<PathBuf>,

    /// Name of the ONNX output holding token states (or a pooled vector) [default: the
    /// backend picks last_hidden_state, token_embeddings or the first output].
    #[arg(long, value_name = "NAME")]
    pub onnx_output: Option<String>,

    /// ONNX Runtime shared library for the ort backend [default: $ORT_DYLIB_PATH].
    #[arg(long, value_name = "FILE")]
    pub ort_library: Option<PathBuf>,

    /// Compute threads [default: all cores].
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=titlesim::core::config::MAX_THREADS as i64))]
    pub threads: Option<u32>,

    /// Texts per backend call; texts are sorted by length first so batches pad little.
    #[arg(long, value_name = "N", default_value_t = 32, value_parser = clap::value_parser!(u32).range(1..))]
    pub batch_size: u32,

    /// Pooling instead of the folder's 1_Pooling: cls, mean, max or last-token
    /// [default: the folder's, else mean].
    #[arg(long, value_name = "MODE", value_parser = parse_pooling)]
    pub pooling: Option<Pooling>,

    /// L2-normalise vectors (true) or not (false) [default: true when the folder has a
    /// Normalize module].
    #[arg(long, value_name = "BOOL")]
    pub normalize: Option<bool>,

    /// Truncation length in tokens, special tokens included [default: the folder's
    /// max_seq_length].
    #[arg(long, value_name = "N")]
    pub max_length: Option<usize>,

    /// Padding side, left or right [default: tokenizer_config.json's, else right].
    #[arg(long, value_name = "SIDE", value_parser = parse_side)]
    pub padding_side: Option<PaddingSide>,

    /// Last-token models whose tokenizer appends no end-of-sequence token: true appends
    /// config.json's eos_token_id, false pools the last word as sentence-transformers does
    /// [default: such a folder is refused with an error].
    #[arg(long, value_name = "BOOL")]
    pub append_eos: Option<bool>,

    /// Compute precision: f32, or int8 or bf16 on the candle backend (ort and tract refuse
    /// them; bf16 is fastest on CPUs with AMX, see the README)
    /// [default: f32].
    #[arg(long, value_name = "DTYPE")]
    pub dtype: Option<Dtype>,

    /// Let idle compute threads spin (poll for work) through a small batch's pass (true) or
    /// sleep between its steps (false): spinning lowers one title's latency on cores titlesim
    /// has to itself and takes CPU from other work where cores are shared. candle, ort and
    /// tract (a single text's pass) [default: true; candle sleeps when
    /// TITLESIM_CANDLE_SPIN=0].
    #[arg(long, value_name = "BOOL")]
    pub spin: Option<bool>,
}

impl ModelArgs {
    /// The model configuration these options describe (threshold 0: unused here).
    pub fn to_config(&self) -> Result<ModelConfig> {
        let mut c = ModelConfig::new(self.model.clone(), self.backend, 0.0);
        c.revision = self.revision.clone();
        c.onnx = self.onnx.clone();
        c.onnx_output = self.onnx_output.clone();
        c.ort_library = self.ort_library.clone();
        c.threads = self.threads.map(|t| t as usize);
        c.batch_size = Some(self.batch_size as usize);
        c.pooling = self.pooling;
        c.normalize = self.normalize;
        c.max_length = self.max_length;
        c.padding_side = self.padding_side;
        c.append_eos = self.append_eos;
        c.dtype = self.dtype;
        c.spin = self.spin;
        c.validate("command line")?;
        Ok(c)
    }
}
