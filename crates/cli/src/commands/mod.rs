//! One module per subcommand: each has `Args` (clap) and `run(Args) -> anyhow::Result<()>`.

pub mod calibrate;
pub mod embed;
pub mod inspect;
pub mod precompute;
pub mod review;
pub mod score;
pub mod shadow;

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
