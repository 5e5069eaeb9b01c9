//! A reviewer's verdict, as written in the review file's `verdict` column.

/// A reviewer's verdict on one disagreement.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Verdict {
    /// The canonical model was right.
    Canonical,
    /// The shadow model was right.
    Shadow,
    /// Both verdicts are defensible.
    Both,
    /// Neither was right.
    Neither,
}

impl Verdict {
    /// Parses a verdict: `canonical`/`canon`, `shadow`, `both`, `neither`, optionally followed
    /// by `right` (`shadow right`, `shadow-right`, `shadow_right`), case-insensitive.
    /// `Ok(None)` for an empty cell (not yet reviewed).
    pub fn parse(s: &str) -> std::result::Result<Option<Verdict>, String> {
        let norm: String = s
            .trim()
            .to_ascii_lowercase()
            .chars()
            .map(|c| if c == '-' || c == '_' { ' ' } else { c })
            .collect();
        let mut words: Vec<&str> = norm.split_whitespace().collect();
        if words.len() == 2 && words[1] == "right" {
            words.pop();
        }
        match words.as_slice() {
            [] => Ok(None),
            ["canonical"] | ["canon"] => Ok(Some(Verdict::Canonical)),
            ["shadow"] => Ok(Some(Verdict::Shadow)),
            ["both"] => Ok(Some(Verdict::Both)),
            ["neither"] => Ok(Some(Verdict::Neither)),
            _ => Err(format!(
                "verdict `{}` is not one of canonical, shadow, both, neither (or empty = not yet reviewed)",
                titlesim_core::shown(s.trim())
            )),
        }
    }
    /// `canonical`, `shadow`, `both` or `neither`.
    pub fn as_str(&self) -> &'static str {
        match self {
            Verdict::Canonical => "canonical",
            Verdict::Shadow => "shadow",
            Verdict::Both => "both",
            Verdict::Neither => "neither",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verdict_spellings() {
        for (s, v) in [
            ("canonical", Verdict::Canonical),
            ("Canonical Right", Verdict::Canonical),
            ("CANON", Verdict::Canonical),
            (" shadow-right ", Verdict::Shadow),
            ("shadow_right", Verdict::Shadow),
            ("Both", Verdict::Both),
            ("neither", Verdict::Neither),
        ] {
            assert_eq!(Verdict::parse(s), Ok(Some(v)), "{s}");
        }
        assert_eq!(Verdict::parse("  "), Ok(None));
        for bad in ["maybe", "c", "canonical wrong", "right", "shadow right now"] {
            let e = Verdict::parse(bad).unwrap_err();
            assert!(e.contains("is not one of"), "{e}");
        }
        // a reviewer's cell is quoted with its control characters escaped, so it cannot clear
        // or recolour the terminal that shows the error
        let e = Verdict::parse("sh\u{1b}[2Jadow").unwrap_err();
        assert!(
            e.starts_with("verdict `sh\\u{1b}[2Jadow` is not one of"),
            "{e}"
        );
    }
}
