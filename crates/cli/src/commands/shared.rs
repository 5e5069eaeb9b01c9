//! The plumbing every command shares: the chunk and batch flags, opening outputs (with their
//! folders), the async runtime, loading a configured model (with its GT store), progress bars,
//! and the verdict rows that `score` and `shadow` both print.

use std::io::{BufWriter, IsTerminal, Write};
use std::path::Path;

use anyhow::{Context, Result};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use titlesim::{Config, CosineScorer, ModelConfig, PairScore};
use titlesim_log::{same_file, Replacing};

/// Default texts (or pairs) read and processed per chunk, in every command.
pub const CHUNK: u32 = 256;

/// How much input is read at a time.
#[derive(Debug, Clone, clap::Args)]
pub struct ChunkArgs {
    /// Texts (or pairs) processed at a time; results are written and the progress bar moves
    /// after each chunk, and in `shadow` each chunk's records are written together (`score`
    /// and `shadow` check the whole pairs file first; `embed` reads its texts chunk by chunk).
    #[arg(long, value_name = "N", default_value_t = CHUNK, alias = "batch", value_parser = clap::value_parser!(u32).range(1..))]
    pub chunk_size: u32,
}

/// How many texts go to the backend in one call.
#[derive(Debug, Clone, clap::Args)]
pub struct BatchArgs {
    /// Texts per backend call (texts are sorted by length first so batches pad little)
    /// [default: each model's `batch_size`, else 32].
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub batch_size: Option<u32>,
}

impl BatchArgs {
    /// `cfg` with the batch size of the command line, when given.
    pub fn apply(&self, cfg: &ModelConfig) -> ModelConfig {
        let mut cfg = cfg.clone();
        if let Some(b) = self.batch_size {
            cfg.batch_size = Some(b as usize);
        }
        cfg
    }
}

/// Where a command's results go: standard output as they come, or a file written whole or not
/// at all ([`Replacing`]: until [`Output::finish`], an older file there is left as it was).
pub(crate) trait Output: Write {
    /// Everything is written: the file replaces the old one.
    fn finish(self: Box<Self>) -> std::io::Result<()>;
}

impl Output for Named<std::io::Stdout> {
    fn finish(mut self: Box<Self>) -> std::io::Result<()> {
        self.flush()
    }
}

impl Output for Named<Replacing> {
    fn finish(self: Box<Self>) -> std::io::Result<()> {
        let name = self.name.clone();
        let wrap = |e: std::io::Error| {
            std::io::Error::new(e.kind(), format!("cannot write to {name}: {e}"))
        };
        self.inner.commit().map_err(wrap)
    }
}

/// Opens the results' destination: `path` (its missing parent folders created) through a
/// temporary file beside it, or standard output.
pub(crate) fn open_results(path: Option<&Path>) -> Result<Box<dyn Output>> {
    let Some(p) = path else {
        return Ok(Box::new(Named {
            name: "standard output".into(),
            inner: std::io::stdout(),
        }));
    };
    if let Some(dir) = p.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    let f = Replacing::create(p).with_context(|| format!("cannot create {}", p.display()))?;
    Ok(Box::new(Named {
        name: p.display().to_string(),
        inner: f,
    }))
}

/// The note an error gets when the results were going to `out`: nothing was written there.
pub(crate) fn left_as_it_was(out: Option<&Path>) -> String {
    match out {
        Some(p) => format!(
            "{} was left as it was (results are written whole or not at all)",
            p.display()
        ),
        None => "the results printed so far are incomplete".into(),
    }
}

/// The files a configuration brings that no output may overwrite: the file itself and the
/// models' GT stores, each with what it is.
pub(crate) fn config_inputs<'a>(
    path: &'a Path,
    config: &'a Config,
) -> Vec<(&'a Path, &'static str)> {
    let mut inputs = vec![(path, "the configuration")];
    let stores = [
        (
            config.canonical.gt_store.as_deref(),
            "the [canonical] GT store",
        ),
        (
            config.shadow.as_ref().and_then(|s| s.gt_store.as_deref()),
            "the [shadow] GT store",
        ),
    ];
    inputs.extend(
        stores
            .into_iter()
            .filter_map(|(p, what)| p.map(|p| (p, what))),
    );
    inputs
}

/// Refuses an output `out` (the flag `flag`) that is one of the command's inputs (`(path,
/// what it is)`): the run would replace what it reads, or mix its results into it.
pub(crate) fn refuse_overwriting(flag: &str, out: &Path, inputs: &[(&Path, &str)]) -> Result<()> {
    for (input, what) in inputs {
        if same_file(out, input) {
            anyhow::bail!(
                "{flag} {} is {what} ({}): the run would overwrite what it reads; write to another \
                 file",
                out.display(),
                input.display()
            );
        }
    }
    Ok(())
}

/// A writer whose errors name what it writes to (a full disk says which file), keeping the
/// error's kind (a closed pipe stays one).
struct Named<W> {
    name: String,
    inner: W,
}

impl<W: Write> Named<W> {
    fn wrap(&self, e: std::io::Error) -> std::io::Error {
        std::io::Error::new(e.kind(), format!("cannot write to {}: {e}", self.name))
    }
}

impl<W: Write> Write for Named<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.inner.write(buf).map_err(|e| self.wrap(e))
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush().map_err(|e| self.wrap(e))
    }
}

/// The async runtime the commands drive the scorers with (two workers: the canonical and the
/// shadow model each run on their own blocking threads, these only wait on them).
pub(crate) fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("cannot start the async runtime")
}

/// What an error found while loading the `[table]` model of `config` says first: the file
/// and the table, as a configuration error found when the file is read says them (a
/// `max_length` the model's positions cannot take is found only here).
pub(crate) fn loading(config: &Path, table: &str, model: &str) -> String {
    format!(
        "config {}: loading the [{table}] model {model}",
        config.display()
    )
}

/// Loads the scorer of the `[table]` model of the configuration file `config` with its GT
/// store, printing the store's warnings.
pub(crate) fn load_scorer(cfg: &ModelConfig, table: &str, config: &Path) -> Result<CosineScorer> {
    let (scorer, warnings) =
        titlesim::load_scorer(cfg).with_context(|| loading(config, table, &cfg.model))?;
    for w in warnings {
        eprintln!("warning: [{table}] {w}");
    }
    Ok(scorer)
}

/// A progress bar over `len` items (`unit`: "pairs", "titles") on standard error, hidden
/// when it is not a terminal.
pub(crate) fn progress_bar(len: u64, unit: &str) -> ProgressBar {
    if !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let b = ProgressBar::with_draw_target(Some(len), ProgressDrawTarget::stderr());
    b.set_style(
        ProgressStyle::with_template(&format!(
            "{{spinner}} [{{elapsed_precise}}] {{wide_bar}} {{pos}}/{{len}} {unit} ({{per_sec}}, eta {{eta}})"
        ))
        .expect("the template is valid"),
    );
    b
}

/// `100 n / d`, 0 when `d` is 0.
pub(crate) fn pct(n: usize, d: usize) -> f64 {
    if d == 0 {
        0.0
    } else {
        100.0 * n as f64 / d as f64
    }
}

/// Output format of the verdicts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// `id,cosine,threshold,pass` with a header row.
    Csv,
    /// One `{"id", "cosine", "threshold", "pass"}` object per line.
    Jsonl,
}

/// The format of the verdicts: `-f` when given, else the one the `--out` file's name says
/// (`.jsonl`, `.ndjson`, `.json`: JSON lines; anything else, and standard output: CSV). A `-f`
/// that the name contradicts (`-f csv -o v.jsonl`) is refused: the file would read as
/// another format than it holds.
pub(crate) fn output_format(format: Option<Format>, out: Option<&Path>) -> Result<Format> {
    let named = out
        .and_then(|p| p.extension())
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase);
    let by_name = match named.as_deref() {
        Some("jsonl" | "ndjson" | "json") => Some(Format::Jsonl),
        Some("csv") => Some(Format::Csv),
        _ => None,
    };
    match (format, by_name) {
        (Some(f), Some(n)) if f != n => anyhow::bail!(
            "--format {} and --out {}: the file's name says {}; name it .{} or drop --format",
            f.name(),
            out.map(|p| p.display().to_string()).unwrap_or_default(),
            n.name(),
            f.name()
        ),
        (Some(f), _) => Ok(f),
        (None, n) => Ok(n.unwrap_or(Format::Csv)),
    }
}

impl Format {
    fn name(self) -> &'static str {
        match self {
            Format::Csv => "csv",
            Format::Jsonl => "jsonl",
        }
    }
}

/// Writes `id, cosine, threshold, pass` rows as CSV or JSON lines.
pub(crate) enum VerdictWriter {
    Csv(Box<csv::Writer<Box<dyn Output>>>),
    Jsonl(BufWriter<Box<dyn Output>>),
}

impl VerdictWriter {
    /// Starts the output (the CSV header row).
    pub(crate) fn new(format: Format, w: Box<dyn Output>) -> Result<Self> {
        Ok(match format {
            Format::Csv => {
                let mut c = csv::Writer::from_writer(w);
                c.write_record(["id", "cosine", "threshold", "pass"])?;
                VerdictWriter::Csv(Box::new(c))
            }
            Format::Jsonl => VerdictWriter::Jsonl(BufWriter::with_capacity(1 << 16, w)),
        })
    }

    /// One pair's row.
    pub(crate) fn row(&mut self, s: &PairScore) -> Result<()> {
        match self {
            // `{}` of an f32 is the shortest decimal that parses back to the same value.
            VerdictWriter::Csv(c) => c.write_record([
                s.id.as_str(),
                &s.cosine.to_string(),
                &s.threshold.to_string(),
                if s.pass { "true" } else { "false" },
            ])?,
            VerdictWriter::Jsonl(w) => {
                titlesim_log::write_json_line(&mut *w, s)?;
                w.write_all(b"\n")?;
            }
        }
        Ok(())
    }

    /// Flushes what was written so far.
    pub(crate) fn flush(&mut self) -> Result<()> {
        match self {
            VerdictWriter::Csv(c) => c.flush()?,
            VerdictWriter::Jsonl(w) => w.flush()?,
        }
        Ok(())
    }

    /// Every row is written: a results file replaces the old one.
    pub(crate) fn finish(self) -> Result<()> {
        let out = match self {
            VerdictWriter::Csv(c) => c.into_inner().map_err(|e| e.into_error())?,
            VerdictWriter::Jsonl(w) => w.into_inner().map_err(|e| e.into_error())?,
        };
        out.finish()?;
        Ok(())
    }
}
