//! `titlesim sql`: an SQL query over files, with titlesim's scoring as SQL functions.

use std::path::PathBuf;

use anyhow::Result;

/// Run an SQL query over Parquet, CSV and JSON-lines files, with titlesim's scoring as SQL
/// functions.
///
/// With --config: `title_cosine(product, gt [, 'shadow'])` is the cosine `titlesim score`
/// gives the pair (of the canonical model, or the shadow), `title_pass(product, gt [,
/// 'shadow'])` its verdict at the model's threshold; `title_embedding(text [, 'shadow' [,
/// 'product']])` is a title's vector, a list of floats (the GT side's by default). Each call
/// embeds a batch's distinct titles in one model call.
///
/// Files are named as tables with --table NAME=PATH, or directly in the query
/// (`FROM 'pairs.csv'`), read the same way either way. Results go to standard output as CSV (or --format), or to --out
/// (.parquet, .csv, .jsonl).
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The query, in DataFusion's SQL.
    #[arg(value_name = "QUERY")]
    pub query: String,

    /// Configuration file (TOML) whose models the scoring functions use ([canonical], and
    /// [shadow] for 'shadow').
    #[arg(long, short = 'c', value_name = "FILE")]
    pub config: Option<PathBuf>,

    /// A file or folder to query as table NAME (repeatable): .parquet, .csv (every column
    /// read as text) or .jsonl.
    #[arg(long = "table", short = 't', value_name = "NAME=PATH")]
    pub tables: Vec<String>,

    /// Output format on standard output [default: csv]; not with --out, whose extension says.
    #[arg(long, short = 'f', value_enum)]
    pub format: Option<SqlFormat>,

    /// Write the result to FILE instead: its extension (.parquet, .csv, .jsonl) says how. The
    /// file is replaced only when the query has run to its end.
    #[arg(long, short = 'o', value_name = "FILE")]
    pub out: Option<PathBuf>,

    /// Thread budget: DataFusion's partitions and the models' compute threads (calls to a
    /// model take turns) [default: each model computes on its own `threads`; DataFusion's
    /// partitions are [canonical] `threads`, else all cores].
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=titlesim::core::config::MAX_THREADS as i64))]
    pub threads: Option<u32>,
}

/// How results are printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum SqlFormat {
    /// CSV with a header row.
    Csv,
    /// One JSON object per row.
    Jsonl,
    /// An aligned text table (the whole result is held in memory).
    Table,
}

/// Runs the command.
pub fn run(args: Args) -> Result<()> {
    #[cfg(feature = "replay")]
    return imp::run(args);
    #[cfg(not(feature = "replay"))]
    {
        let _ = args;
        Err(super::replay::not_built("sql"))
    }
}

#[cfg(feature = "replay")]
mod imp {
    use std::io::Write;
    use std::path::{Path, PathBuf};
    use std::sync::Arc;

    use anyhow::{bail, Context};
    use futures::StreamExt;
    use titlesim::Config;
    use titlesim_replay::datafusion::arrow::csv::WriterBuilder;
    use titlesim_replay::datafusion::arrow::json::writer::{
        LineDelimited, WriterBuilder as JsonWriterBuilder,
    };
    use titlesim_replay::datafusion::arrow::util::pretty::pretty_format_batches_with_schema;
    use titlesim_replay::datafusion::common::TableReference;
    use titlesim_replay::datafusion::dataframe::DataFrameWriteOptions;
    use titlesim_replay::datafusion::prelude::{DataFrame, SessionContext};
    use titlesim_replay::TitleModels;

    use super::super::replay::{cores, with_threads};
    use super::super::shared::{load_scorer, open_results};
    use super::*;
    use titlesim_log::Replacing;

    /// Where the result goes, and as what.
    enum Dest {
        Stdout(SqlFormat),
        /// A file written as `format` (CSV or JSON lines), or Parquet (`None`).
        File(PathBuf, Option<SqlFormat>),
    }

    /// The destination `--out` and `--format` ask for; both together is an error.
    fn dest(args: &Args) -> Result<Dest> {
        let Some(out) = &args.out else {
            return Ok(Dest::Stdout(args.format.unwrap_or(SqlFormat::Csv)));
        };
        if let Some(f) = args.format {
            bail!(
                "--format {} and --out {}: the file's extension says its format (.parquet, \
                 .csv, .jsonl); give one or the other",
                format!("{f:?}").to_ascii_lowercase(),
                out.display()
            );
        }
        let ext = out
            .extension()
            .and_then(|e| e.to_str())
            .unwrap_or("")
            .to_ascii_lowercase();
        let format = match ext.as_str() {
            "parquet" | "pq" => None,
            "csv" => Some(SqlFormat::Csv),
            "jsonl" | "ndjson" | "json" => Some(SqlFormat::Jsonl),
            _ => bail!(
                "--out {}: name it .parquet, .csv or .jsonl so the format is known",
                out.display()
            ),
        };
        Ok(Dest::File(out.clone(), format))
    }

    pub(super) fn run(args: Args) -> Result<()> {
        let dest = dest(&args)?;
        let config = args.config.as_deref().map(Config::from_file).transpose()?;
        let mentions_ours = {
            let q = args.query.to_ascii_lowercase();
            ["title_cosine", "title_pass", "title_embedding"]
                .iter()
                .any(|f| q.contains(f))
        };
        if config.is_none() && mentions_ours {
            bail!("the query calls title_cosine, title_pass or title_embedding: pass --config with the models");
        }
        let partitions = args
            .threads
            .map(|t| t as usize)
            .or(config.as_ref().and_then(|c| c.canonical.threads))
            .unwrap_or_else(cores);
        let ctx = titlesim_replay::session(partitions, 1024).enable_url_table();
        let rt = super::super::shared::runtime()?;
        rt.block_on(async {
            for t in &args.tables {
                let Some((name, path)) = t.split_once('=') else {
                    bail!("--table {t:?}: write NAME=PATH");
                };
                register_table(&ctx, name, Path::new(path)).await?;
            }
            register_quoted_files(&ctx, &args.query).await?;
            // The models load only for a query that calls them: a plain query over files
            // neither waits for them nor fails on a model it never uses.
            if let (Some(c), Some(path), true) = (&config, &args.config, mentions_ours) {
                let canonical = load_scorer(
                    &with_threads(c.canonical.clone(), args.threads),
                    "canonical",
                    path,
                )?;
                let shadow = match &c.shadow {
                    Some(s) => Some(load_scorer(
                        &with_threads(s.clone(), args.threads),
                        "shadow",
                        path,
                    )?),
                    None => None,
                };
                let mut models = TitleModels::new(canonical, shadow);
                if args.threads.is_some() {
                    // one budget for both models: they take turns, as in replay
                    models = models.one_turn();
                }
                titlesim_replay::register(&ctx, Arc::new(models));
            }
            let df = ctx
                .sql(&args.query)
                .await
                .with_context(|| format!("query {:?}", args.query))?;
            match dest {
                Dest::Stdout(format) => {
                    if format == SqlFormat::Csv {
                        csv_can_hold(&df, "CSV on standard output", "use -f jsonl or -f table")?;
                    }
                    let mut w = open_results(None)?;
                    print(df, format, &mut w).await?;
                    w.flush()?;
                    Ok(())
                }
                Dest::File(out, format) => {
                    if format == Some(SqlFormat::Csv) {
                        csv_can_hold(
                            &df,
                            &format!("--out {}", out.display()),
                            "name the file .parquet or .jsonl",
                        )?;
                    }
                    write_file(df, &out, format).await
                }
            }
        })
    }

    /// Registers the file or folder at `path` as table `name` (see
    /// [`titlesim_replay::history::register_table`]), with a note naming the files of a
    /// folder it does not read.
    async fn register_table(
        ctx: &SessionContext,
        name: impl Into<TableReference>,
        path: &Path,
    ) -> Result<()> {
        titlesim_replay::history::register_table(ctx, name, path).await?;
        if let Some(note) = titlesim_replay::history::left_out_note(path) {
            eprintln!("note: {note}");
        }
        Ok(())
    }

    /// Registers each file or folder the query reads by its path (`FROM 'pairs.csv'`) as
    /// `--table` would, before the query is planned: CSV columns as text (DataFusion's own
    /// reading of such a path infers types, so the title `0070` became the number 70 and
    /// scored 1.0 against `70`), `.jsonl` and `.ndjson` recognised, the same header checks.
    /// A name that is already a table, no file, or a file of another kind is left to
    /// DataFusion; a query that does not parse is left to `ctx.sql`, which says why.
    async fn register_quoted_files(ctx: &SessionContext, query: &str) -> Result<()> {
        let state = ctx.state();
        let dialect = state.config().options().sql_parser.dialect;
        let Ok(statement) = state.sql_to_statement(query, &dialect) else {
            return Ok(());
        };
        let Ok(references) = state.resolve_table_references(&statement) else {
            return Ok(());
        };
        for r in references {
            let TableReference::Bare { table } = &r else {
                continue;
            };
            let path = Path::new(table.as_ref());
            // Other kinds (`.arrow`, a name without an extension, a folder of mixed files) are
            // DataFusion's to read or refuse, as before.
            if !path.exists()
                || titlesim_replay::history::format_of(path).is_err()
                || ctx.table_exist(r.clone())?
            {
                continue;
            }
            register_table(ctx, r.clone(), path).await?;
        }
        Ok(())
    }

    /// Refuses a result with a nested column (a list such as `title_embedding`'s vectors, a
    /// struct) for CSV, before the query runs: the CSV writer fails on it after the header.
    fn csv_can_hold(df: &DataFrame, what: &str, instead: &str) -> Result<()> {
        if let Some(f) = df
            .schema()
            .fields()
            .iter()
            .find(|f| f.data_type().is_nested())
        {
            bail!(
                "{what}: column {:?} is {}, which CSV cannot hold; {instead}",
                f.name(),
                f.data_type()
            );
        }
        Ok(())
    }

    /// Writes the result to `out` (Parquet, or `format`) through a temporary file beside it
    /// ([`Replacing`]), renamed over `out` only when the query has run to its end: a query
    /// failing midway leaves the old file as it was, not a shorter one that reads as whole.
    async fn write_file(df: DataFrame, out: &Path, format: Option<SqlFormat>) -> Result<()> {
        if let Some(dir) = out.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("cannot create {}", dir.display()))?;
        }
        let mut file =
            Replacing::create(out).with_context(|| format!("cannot create {}", out.display()))?;
        let written = async {
            match format {
                None => {
                    let opts = DataFrameWriteOptions::new().with_single_file_output(true);
                    df.write_parquet(&file.path().to_string_lossy(), opts, None)
                        .await
                        .context("running the query")?;
                }
                Some(format) => print(df, format, &mut file).await?,
            }
            file.commit()
                .with_context(|| format!("writing {}", out.display()))
        }
        .await;
        written.with_context(|| {
            format!(
                "writing {} (an older file there is left as it was)",
                out.display()
            )
        })
    }

    /// Writes the result to `w` as `format`, batch by batch (but `table`). JSON lines name
    /// every column in every row, a NULL as `null`; a table or CSV of no rows still has its
    /// header.
    async fn print(df: DataFrame, format: SqlFormat, w: &mut dyn Write) -> Result<()> {
        let mut w = Watched {
            inner: w,
            failed: None,
        };
        let r = print_to(df, format, &mut w).await;
        match (r, w.failed) {
            // The arrow writers turn an I/O error into text: the error as it was, so that a
            // closed pipe (`sql ... | head`) is known as one and ends quietly.
            (Err(_), Some(e)) => Err(e.into()),
            (r, _) => r,
        }
    }

    /// A writer that keeps the kind of its first error.
    struct Watched<'a> {
        inner: &'a mut dyn Write,
        failed: Option<std::io::Error>,
    }

    impl Watched<'_> {
        fn keep<T>(&mut self, r: std::io::Result<T>) -> std::io::Result<T> {
            r.inspect_err(|e| {
                if self.failed.is_none() && e.kind() != std::io::ErrorKind::Interrupted {
                    self.failed = Some(std::io::Error::new(e.kind(), e.to_string()));
                }
            })
        }
    }

    impl Write for Watched<'_> {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            let r = self.inner.write(buf);
            self.keep(r)
        }
        fn flush(&mut self) -> std::io::Result<()> {
            let r = self.inner.flush();
            self.keep(r)
        }
    }

    async fn print_to(df: DataFrame, format: SqlFormat, w: &mut Watched<'_>) -> Result<()> {
        match format {
            SqlFormat::Table => {
                let schema = df.schema().inner().clone();
                let batches = df.collect().await.context("running the query")?;
                writeln!(
                    w,
                    "{}",
                    pretty_format_batches_with_schema(schema, &batches)?
                )?;
            }
            SqlFormat::Csv | SqlFormat::Jsonl => {
                let names: Vec<String> = df
                    .schema()
                    .fields()
                    .iter()
                    .map(|f| f.name().clone())
                    .collect();
                let mut stream = df.execute_stream().await.context("running the query")?;
                let mut first = true;
                while let Some(b) = stream.next().await {
                    let b = b.context("running the query")?;
                    if format == SqlFormat::Csv {
                        let mut c = WriterBuilder::new().with_header(first).build(&mut *w);
                        c.write(&b)?;
                    } else {
                        let mut j = JsonWriterBuilder::new()
                            .with_explicit_nulls(true)
                            .build::<_, LineDelimited>(&mut *w);
                        j.write(&b)?;
                        j.finish()?;
                    }
                    first = false;
                }
                if first && format == SqlFormat::Csv {
                    // No rows: still the header row.
                    let mut c = csv::Writer::from_writer(&mut *w);
                    c.write_record(&names)?;
                    c.flush()?;
                }
            }
        }
        Ok(())
    }
}
