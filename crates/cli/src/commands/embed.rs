//! `titlesim embed`: texts in, one JSON line per text out.

use std::io::{BufWriter, Write};
use std::path::PathBuf;

use anyhow::{Context, Result};
use titlesim::io::TextReader;

use super::shared::ChunkArgs;
use super::ModelArgs;

/// Embed texts and print one JSON line per text, in input order:
/// `{"text": "...", "embedding": [...]}`.
///
/// Input: one text per line (a final newline does not add a text; an empty line in the
/// middle is an empty text), or JSON lines with a `text` field when the file name ends in
/// `.jsonl`, `.ndjson` or `.json`. Floats are printed as the shortest decimals that parse back to the same f32.
/// Texts are read and embedded in chunks, so inputs of any size stream.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub model: ModelArgs,

    /// Input file; `-` reads standard input [default: standard input].
    #[arg(long, short = 'i', value_name = "FILE")]
    pub input: Option<PathBuf>,

    /// Name of a prompt from config_sentence_transformers.json to prepend to every text
    /// (e.g. `query` for Qwen3-Embedding) [default: none]. The output's `text` is the text
    /// without the prompt.
    #[arg(long, value_name = "NAME")]
    pub prompt: Option<String>,

    #[command(flatten)]
    pub chunk: ChunkArgs,
}

#[derive(serde::Serialize)]
struct Line<'a> {
    text: &'a str,
    embedding: &'a [f32],
}

/// Runs the command.
pub fn run(args: Args) -> Result<()> {
    let cfg = args.model.to_config()?;
    // Open the input first: a bad path fails before the model loads.
    let mut reader = TextReader::open(args.input.as_deref())?;
    let embedder = titlesim::load_embedder(&cfg)?;
    for w in &embedder.spec().warnings {
        eprintln!("warning: {w}");
    }
    let prompt = match &args.prompt {
        Some(name) => Some(embedder.spec().prompt(name)?.to_string()),
        None => None,
    };
    let stdout = std::io::stdout();
    let mut out = BufWriter::with_capacity(1 << 16, stdout.lock());
    loop {
        let texts = reader.next_chunk(args.chunk.chunk_size as usize)?;
        if texts.is_empty() {
            break;
        }
        let vectors = match &prompt {
            Some(p) => {
                let prompted: Vec<String> = texts
                    .iter()
                    .map(|t| titlesim::apply_prompt(Some(p), t).into_owned())
                    .collect();
                embedder.embed_blocking(&prompted)?
            }
            None => embedder.embed_blocking(&texts)?,
        };
        anyhow::ensure!(
            vectors.len() == texts.len(),
            "the embedder returned {} vectors for {} texts",
            vectors.len(),
            texts.len()
        );
        for (text, embedding) in texts.iter().zip(&vectors) {
            titlesim_log::write_json_line(&mut out, &Line { text, embedding })
                .context("writing to standard output")?;
            out.write_all(b"\n").context("writing to standard output")?;
        }
        out.flush().context("writing to standard output")?;
    }
    Ok(())
}
