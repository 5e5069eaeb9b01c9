//! Thresholds as exact decimals, and the grid of shadow thresholds to try.
//!
//! A threshold written `0.70` is the `f32` nearest to 0.70 — what a config file holding
//! `threshold = 0.70` gives the scorer, which then judges `cosine >= threshold` in `f32`.
//! Grid points are built from integer steps (never by adding a float step repeatedly), so the
//! 21st point of `0.50:0.99:0.01` is exactly the threshold `0.70`.

use crate::error::CalibrateError;
use std::cmp::Ordering;
use std::fmt;

/// A cosine threshold: the `f32` the scorer compares against, and the decimal it was written
/// as.
#[derive(Debug, Clone, PartialEq)]
pub struct Threshold {
    /// The value compared with cosines (`cosine >= value`, both `f32`).
    pub value: f32,
    /// The decimal as written (`"0.70"`), or the shortest decimal of a logged `f32` (`"0.7"`).
    pub label: String,
}

impl Threshold {
    /// Parses a decimal threshold; it must be a finite number in -1..=1.
    pub fn parse(s: &str) -> Result<Self, CalibrateError> {
        let t = s.trim();
        let v: f64 = t
            .parse()
            .map_err(|_| CalibrateError::invalid(format!("threshold `{s}` is not a number")))?;
        if !v.is_finite() || !(-1.0..=1.0).contains(&v) {
            return Err(CalibrateError::invalid(format!(
                "threshold `{s}` is not a cosine (expected -1..=1)"
            )));
        }
        let value: f32 = t
            .parse()
            .map_err(|_| CalibrateError::invalid(format!("threshold `{s}` is not a number")))?;
        Ok(Threshold {
            value,
            label: t.to_string(),
        })
    }

    /// The threshold of a log record (an `f32`), labelled with its shortest decimal, padded
    /// to at least two decimals (`0.7` → `"0.70"`).
    pub fn from_f32(value: f32) -> Self {
        let mut label = format!("{value}");
        if !label.contains(['e', 'E']) {
            match label.find('.') {
                None => label.push_str(".00"),
                Some(i) => {
                    while label.len() - i - 1 < 2 {
                        label.push('0');
                    }
                }
            }
        }
        Threshold { value, label }
    }

    /// The decimal as an `f64` (`0.7`, not `0.699999988079071`), for JSON and plots.
    pub fn decimal(&self) -> f64 {
        self.label.parse().unwrap_or(self.value as f64)
    }

    /// `cosine >= threshold`, exactly as the scorer judges.
    pub fn passes(&self, cosine: f32) -> bool {
        cosine >= self.value
    }
}

impl fmt::Display for Threshold {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.label)
    }
}

impl PartialOrd for Threshold {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        self.value.partial_cmp(&other.value)
    }
}

/// The shadow thresholds to evaluate: `start:stop:step`, both ends included.
#[derive(Debug, Clone, PartialEq)]
pub struct Grid {
    spec: String,
    points: Vec<Threshold>,
}

/// The most points a grid may have.
pub const MAX_GRID_POINTS: usize = 20_001;

impl Grid {
    /// Parses `start:stop:step` (e.g. `0.50:0.99:0.01`). Up to 6 decimals; the points are
    /// `start + i * step` computed in integers, up to and including `stop`.
    pub fn parse(spec: &str) -> Result<Self, CalibrateError> {
        let bad = |why: &str| {
            CalibrateError::invalid(format!(
                "grid `{spec}`: {why} (expected start:stop:step, e.g. 0.50:0.99:0.01)"
            ))
        };
        let parts: Vec<&str> = spec.split(':').map(str::trim).collect();
        if parts.len() != 3 {
            return Err(bad("needs three numbers separated by `:`"));
        }
        let decimals = parts
            .iter()
            .map(|p| p.split_once('.').map(|(_, f)| f.len()).unwrap_or(0))
            .max()
            .unwrap_or(0);
        if decimals > 6 {
            return Err(bad("at most 6 decimals"));
        }
        let scale = 10i64.pow(decimals as u32);
        let mut ints = [0i64; 3];
        for (i, p) in parts.iter().enumerate() {
            ints[i] = scaled(p, decimals).ok_or_else(|| bad(&format!("`{p}` is not a decimal")))?;
        }
        let [start, stop, step] = ints;
        if step <= 0 {
            return Err(bad("step must be positive"));
        }
        if start > stop {
            return Err(bad("start is above stop"));
        }
        if start < -scale || stop > scale {
            return Err(bad("thresholds must lie in -1..=1"));
        }
        let count = ((stop - start) / step + 1) as usize;
        if count > MAX_GRID_POINTS {
            return Err(bad(&format!("{count} points, at most {MAX_GRID_POINTS}")));
        }
        let shown = decimals.max(2);
        let points = (0..count as i64)
            .map(|i| {
                let label = format_scaled(start + i * step, decimals, shown);
                Threshold {
                    value: label.parse().unwrap_or(0.0),
                    label,
                }
            })
            .collect();
        Ok(Grid {
            spec: spec.trim().to_string(),
            points,
        })
    }

    /// The grid as it was written.
    pub fn spec(&self) -> &str {
        &self.spec
    }

    /// The thresholds, ascending.
    pub fn points(&self) -> &[Threshold] {
        &self.points
    }
}

impl Default for Grid {
    /// `0.50:0.99:0.01`.
    fn default() -> Self {
        Grid::parse("0.50:0.99:0.01").unwrap_or(Grid {
            spec: String::new(),
            points: Vec::new(),
        })
    }
}

/// `"-0.25"` with 3 decimals -> -250.
fn scaled(s: &str, decimals: usize) -> Option<i64> {
    let (neg, body) = match s.strip_prefix('-') {
        Some(b) => (true, b),
        None => (false, s.strip_prefix('+').unwrap_or(s)),
    };
    let (int, frac) = body.split_once('.').unwrap_or((body, ""));
    if (int.is_empty() && frac.is_empty())
        || !int.bytes().all(|b| b.is_ascii_digit())
        || !frac.bytes().all(|b| b.is_ascii_digit())
        || int.len() > 6
    {
        return None;
    }
    let mut v: i64 = if int.is_empty() { 0 } else { int.parse().ok()? };
    let mut f = frac.to_string();
    while f.len() < decimals {
        f.push('0');
    }
    for b in f.bytes() {
        v = v * 10 + (b - b'0') as i64;
    }
    Some(if neg { -v } else { v })
}

/// -250 with 3 decimals shown as 3 -> "-0.250"; shown >= decimals pads with zeros.
fn format_scaled(v: i64, decimals: usize, shown: usize) -> String {
    let scale = 10i64.pow(decimals as u32);
    let sign = if v < 0 { "-" } else { "" };
    let a = v.abs();
    let mut frac = format!("{:0width$}", a % scale, width = decimals);
    while frac.len() < shown {
        frac.push('0');
    }
    if frac.is_empty() {
        format!("{sign}{}", a / scale)
    } else {
        format!("{sign}{}.{frac}", a / scale)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grid_points_are_exact_decimals() {
        let g = Grid::parse("0.50:0.99:0.01").unwrap();
        assert_eq!(g.points().len(), 50);
        assert_eq!(g.points()[20].label, "0.70");
        assert_eq!(g.points()[20].value, 0.70f32);
        assert_eq!(g.points()[20].decimal(), 0.7);
        assert_eq!(g.points()[49].label, "0.99");
        assert_eq!(Grid::parse("0.5:0.6:0.05").unwrap().points().len(), 3);
        let g = Grid::parse("-0.1:0.1:0.1").unwrap();
        let labels: Vec<&str> = g.points().iter().map(|t| t.label.as_str()).collect();
        assert_eq!(labels, ["-0.10", "0.00", "0.10"]);
        // stop off the step: last point below stop
        let g = Grid::parse("0.70:0.75:0.02").unwrap();
        assert_eq!(g.points().last().unwrap().label, "0.74");
        let g = Grid::parse("0.7:0.7005:0.0001").unwrap();
        assert_eq!(g.points()[3].label, "0.7003");
        assert_eq!(g.points()[3].value, 0.7003f32);
        assert_eq!(Grid::default().points().len(), 50);
    }

    #[test]
    fn bad_grids_are_errors() {
        for s in [
            "0.5:0.9",
            "a:b:c",
            "0.9:0.5:0.1",
            "0.5:0.9:0",
            "0.5:1.5:0.1",
            "0:1:0.0000001",
        ] {
            assert!(Grid::parse(s).is_err(), "{s}");
        }
        assert!(Threshold::parse("1.2").is_err());
        assert!(Threshold::parse("nan").is_err());
        assert!(Threshold::parse("x").is_err());
        assert_eq!(Threshold::parse("0.70").unwrap().value, 0.7f32);
        assert_eq!(Threshold::from_f32(0.7).label, "0.70");
        assert_eq!(Threshold::from_f32(0.7).decimal(), 0.7);
        assert_eq!(Threshold::from_f32(1.0).label, "1.00");
        assert_eq!(Threshold::from_f32(0.6995071).label, "0.6995071");
    }
}
