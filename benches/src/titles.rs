//! The benchmark titles: reading them from a file and taking an evenly spread sample.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};

use crate::workspace_root;

/// The benchmark titles (`data/bench_titles.txt`).
pub fn default_titles_path() -> PathBuf {
    workspace_root().join("data").join("bench_titles.txt")
}

/// Reads up to `n` non-empty titles from `path`.
pub fn load_titles(path: &Path, n: usize) -> Result<Vec<String>> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read titles from {}", path.display()))?;
    let titles: Vec<String> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .take(n)
        .map(String::from)
        .collect();
    if titles.is_empty() {
        bail!("{} holds no titles", path.display());
    }
    Ok(titles)
}

/// `n` titles spread evenly over `titles` (every k-th), so a short sample keeps the length mix.
pub fn spread_sample(titles: &[String], n: usize) -> Vec<String> {
    if n >= titles.len() {
        return titles.to_vec();
    }
    (0..n)
        .map(|i| titles[i * titles.len() / n].clone())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spread_sample_keeps_the_ends_spread() {
        let t: Vec<String> = (0..10).map(|i| i.to_string()).collect();
        assert_eq!(spread_sample(&t, 5), ["0", "2", "4", "6", "8"]);
        assert_eq!(spread_sample(&t, 20).len(), 10);
    }

    #[test]
    fn load_titles_skips_blank_lines_and_stops_at_n() {
        let path =
            std::env::temp_dir().join(format!("titlesim-bench-titles-{}.txt", std::process::id()));
        std::fs::write(&path, "  a  \n\n b\n\t\nc\nd\n").unwrap();
        let got = load_titles(&path, 3);
        let empty = std::fs::write(&path, "\n  \n").map(|()| load_titles(&path, 3));
        std::fs::remove_file(&path).unwrap();
        assert_eq!(got.unwrap(), ["a", "b", "c"]);
        assert!(
            empty.unwrap().is_err(),
            "a file of blank lines holds no titles"
        );
    }
}
