//! Human review of the disagreements: export them to CSV, then tally people's verdicts.
//!
//! **Export** lists every pair where the two models disagree at the chosen thresholds
//! (`(canonical >= T) != (shadow >= t)`), with both cosines, both verdicts, the titles and an
//! empty `verdict` column. An optional sample of N rows is stratified by phase and by
//! direction of disagreement: N is shared out in proportion to stratum sizes (largest
//! remainder), every stratum gets at least one row when N allows, and rows are drawn with a
//! seeded SplitMix64 generator ([`crate::rng`]), so a seed always gives the same sample.
//!
//! **Tally** reads the file back. The `verdict` column says who was right: `canonical`,
//! `shadow`, `both` or `neither` (case-insensitive; `canon`, and a `right` suffix as in
//! `shadow right`/`shadow-right`/`shadow_right`, are accepted too). An **empty** verdict means
//! *not yet reviewed*: such rows are counted and reported, not tallied (or are an error with
//! [`TallyOptions::require_complete`]). Anything else is an error naming the file and line.
//! Canonical-right against shadow-right is tested with an exact two-sided sign test (binomial,
//! p = 1/2); every share gets a 95% Wilson interval; the conclusion is a sentence.
//!
//! One job per file:
//!
//! | file | job |
//! |---|---|
//! | `export.rs` | [`export`] / [`export_logs`]: the disagreements at (T, t), by stratum |
//! | `sample.rs` | [`Sample`], [`allocate`]: the stratified, seeded sample |
//! | `csv.rs` | [`write_csv`]: the review file, columns [`COLUMNS`], written whole or not at all |
//! | `verdict.rs` | [`Verdict`]: parsing a reviewer's verdict |
//! | `tally.rs` | [`tally`]: reading the verdicts back into [`Counts`] |
//! | `sign_test.rs` | the sign test and the [`Tally::conclusion`] sentence at [`ALPHA`] |
//! | `render.rs` | [`Tally::render_text`]: tables for a terminal |
//! | `json.rs` | [`Tally::to_json`]: the `--json` document |

mod csv;
mod export;
mod json;
mod render;
mod sample;
mod sign_test;
mod tally;
mod verdict;

pub(crate) use self::csv::from_text;
pub use self::csv::{refuse_log_as_out, write_csv, COLUMNS};
pub use export::{export, export_logs, Direction, Export, ExportOptions, ReviewRow, Stratum};
pub use sample::{allocate, Sample};
pub use sign_test::ALPHA;
pub use tally::{tally, Counts, Tally, TallyOptions};
pub use verdict::Verdict;
