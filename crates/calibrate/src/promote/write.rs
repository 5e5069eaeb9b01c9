//! Writing a promotion: the promoted configuration and its expectation, both or neither.
//!
//! [`check_files`] refuses, before anything is loaded or written, a target that is a folder,
//! the two targets naming one file, and a target naming an input of the promotion (the
//! calibration, the review, or — for the expectation — the configuration; the promoted
//! configuration may replace the configuration in force). [`write_promotion`] writes both
//! files whole beside their targets ([`Replacing`]), then renames the expectation into place
//! and then the configuration; when the configuration's rename fails, the expectation in force
//! before is put back, so a failure leaves the configuration and expectation as they were.

use super::Promotion;
use crate::error::{CalibrateError, Result};
use std::io::Write;
use std::path::{Path, PathBuf};
use titlesim_log::{same_file, Replacing};

/// The files of a promotion: what it reads and what it writes.
#[derive(Debug, Clone, Copy)]
pub struct PromotionFiles<'a> {
    /// The configuration in force (`--config`).
    pub config: &'a Path,
    /// The calibration document (`--calibration`).
    pub calibration: &'a Path,
    /// The review file, when one is given (`--review`).
    pub review: Option<&'a Path>,
    /// Where the promoted configuration goes (`--out`; may be `config`).
    pub out: &'a Path,
    /// Where the expectation goes (`--expectation`).
    pub expectation: &'a Path,
}

/// The configuration in force, read with its file's write lock held: two promotions of one
/// configuration at once would both read it, and the second rename would drop the first
/// promotion without a word. Keep it until the promotion is written ([`write_promotion`]).
#[derive(Debug)]
pub struct LockedConfig {
    /// The file's text.
    pub text: String,
    /// The open file, whose lock is held while this lives.
    _file: std::fs::File,
}

/// Reads the configuration at `path` for a promotion, holding its lock ([`LockedConfig`]).
/// Another promotion of the same file in progress is an error
/// ([`titlesim_core::Error::Locked`], as [`CalibrateError::Log`]); a promotion that
/// renamed a new file into place between the open and the lock is seen, and the new file is
/// read (its checks then judge the configuration as it is now).
///
/// On Unix only: elsewhere the lock would be mandatory (a reader of the configuration would
/// fail during the minutes of model loading), so the file is read without one. The file is
/// opened for writing where it can be (an exclusive lock over NFS needs it) and for reading
/// otherwise; a file system that cannot lock it is promoted without the lock.
pub fn read_config_locked(path: &Path) -> Result<LockedConfig> {
    use std::io::Read;
    for _ in 0..16 {
        let opened = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(path)
            .or_else(|_| std::fs::File::open(path));
        let mut file = opened.map_err(|e| CalibrateError::io(path, e))?;
        if !file.metadata().is_ok_and(|m| m.is_file()) {
            return Err(CalibrateError::input(
                path,
                "not a regular file: a configuration is a TOML file",
            ));
        }
        let locked = if cfg!(unix) {
            titlesim_log::try_lock_writer(&file)
        } else {
            Ok(true)
        };
        match locked {
            Ok(true) | Err(_) => {}
            Ok(false) => {
                return Err(titlesim_core::Error::Locked {
                    path: path.to_path_buf(),
                    message: "another `titlesim promote` is promoting this configuration: wait for it to finish (its promotion is then the configuration in force), and promote again only if that is still wanted"
                        .into(),
                }
                .into())
            }
        }
        // A promotion renamed a new file over this one between the open and the lock.
        if !titlesim_log::still_names(path, &file).unwrap_or(false) {
            continue;
        }
        let mut text = String::new();
        file.read_to_string(&mut text)
            .map_err(|e| CalibrateError::io(path, e))?;
        return Ok(LockedConfig { text, _file: file });
    }
    Err(CalibrateError::io(
        path,
        std::io::Error::other("the file was replaced again each time it was opened"),
    ))
}

/// `p` as it will be written: its folder resolved when it exists (so `./a` and `a`, or a
/// folder reached through a link, name one file before either exists).
fn resolved(p: &Path) -> PathBuf {
    let abs = std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf());
    match (abs.parent(), abs.file_name()) {
        (Some(dir), Some(name)) => match std::fs::canonicalize(dir) {
            Ok(d) => d.join(name),
            Err(_) => abs.components().collect(),
        },
        _ => abs.components().collect(),
    }
}

/// Whether `a` and `b` name one file: the same file when it exists (through links), or the
/// same path when it does not exist yet.
fn same(a: &Path, b: &Path) -> bool {
    same_file(a, b) || resolved(a) == resolved(b)
}

/// Refuses targets that cannot or must not be written; see the module's documentation. Cheap:
/// call it before loading anything.
pub fn check_files(f: &PromotionFiles<'_>) -> Result<()> {
    let refuse = |m: String| {
        Err(CalibrateError::invalid(format!(
            "{m} (nothing was written)"
        )))
    };
    for (flag, what, p) in [
        ("--out", "the promoted configuration", f.out),
        ("--expectation", "the expectation", f.expectation),
    ] {
        if p.is_dir() {
            return refuse(format!(
                "cannot write {what} to {} ({flag}): it is a folder; name a file",
                p.display()
            ));
        }
    }
    if same(f.out, f.expectation) {
        return refuse(format!(
            "--out and --expectation both name {}: the expectation would replace the promoted \
             configuration; give --expectation another file",
            f.expectation.display()
        ));
    }
    let mut inputs = vec![
        ("--config", "the configuration in force", f.config),
        ("--calibration", "the calibration", f.calibration),
    ];
    if let Some(r) = f.review {
        inputs.push(("--review", "the review", r));
    }
    for (flag, what, p) in [
        ("--out", "the promoted configuration", f.out),
        ("--expectation", "the expectation", f.expectation),
    ] {
        for &(in_flag, in_what, input) in &inputs {
            // The promoted configuration may replace the one in force: that is a promotion
            // in place, and the file is read before anything is written.
            if flag == "--out" && in_flag == "--config" {
                continue;
            }
            if same(p, input) {
                return refuse(format!(
                    "{flag} {} is the {in_flag} file: writing {what} there would overwrite \
                     {in_what}; name another file",
                    p.display()
                ));
            }
        }
    }
    Ok(())
}

/// Writes the promoted configuration to `f.out` and its expectation to `f.expectation`, both
/// or neither (after [`check_files`]); see the module's documentation. A symlinked target is
/// written where it points, and keeps its permissions.
pub fn write_promotion(p: &Promotion, f: &PromotionFiles<'_>) -> Result<()> {
    check_files(f)?;
    let unchanged = "the configuration and expectation in force were left as they were";
    let err = |path: &Path, e: std::io::Error| {
        CalibrateError::io(
            path,
            std::io::Error::new(e.kind(), format!("{e}; {unchanged}")),
        )
    };
    let start = |path: &Path, body: &str| -> Result<Replacing> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| err(dir, e))?;
        }
        let mut r = Replacing::create(path).map_err(|e| err(path, e))?;
        // written out now, so that a full disk fails before either file is renamed
        r.write_all(body.as_bytes())
            .and_then(|()| r.flush())
            .map_err(|e| err(path, e))?;
        Ok(r)
    };
    let exp = start(f.expectation, &p.expectation.to_json_string())?;
    let cfg = start(f.out, &p.config)?;
    commit_both(exp, cfg, f)
}

/// The temporary file a [`Replacing`] of `target` writes (`.NAME.PID.tmp`), which a failed
/// [`Replacing::commit`] leaves behind.
fn replacing_tmp(target: &Path) -> Option<PathBuf> {
    let name = target.file_name()?.to_string_lossy();
    Some(target.with_file_name(format!(".{name}.{}.tmp", std::process::id())))
}

/// Renames the expectation, then the configuration, into place; when the configuration's
/// rename fails, puts the expectation in force before back.
fn commit_both(exp: Replacing, cfg: Replacing, f: &PromotionFiles<'_>) -> Result<()> {
    // A Ctrl-C waits for both files (or neither) to be in.
    let _committing = titlesim_log::unfinished::committing();
    let exp_target = exp.target().to_path_buf();
    let cfg_target = cfg.target().to_path_buf();
    // The expectation in force, kept (a hard link, or a copy) to put back.
    let kept = match std::fs::symlink_metadata(&exp_target) {
        Ok(_) => {
            let name = exp_target
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            let k = exp_target.with_file_name(format!(".{name}.{}.old", std::process::id()));
            let _ = std::fs::remove_file(&k);
            std::fs::hard_link(&exp_target, &k)
                .or_else(|_| std::fs::copy(&exp_target, &k).map(drop))
                .map_err(|e| {
                    CalibrateError::io(
                        &exp_target,
                        std::io::Error::new(
                            e.kind(),
                            format!(
                                "cannot keep a copy of the expectation in force to put back on \
                                 a failure ({e}); the configuration and expectation in force \
                                 were left as they were"
                            ),
                        ),
                    )
                })?;
            Some(k)
        }
        Err(_) => None,
    };
    let drop_kept = || {
        if let Some(k) = &kept {
            let _ = std::fs::remove_file(k);
        }
    };
    if let Err(e) = exp.commit() {
        drop_kept();
        if let Some(t) = replacing_tmp(&exp_target) {
            let _ = std::fs::remove_file(t);
        }
        return Err(CalibrateError::io(
            f.expectation,
            std::io::Error::new(
                e.kind(),
                format!("{e}; the configuration and expectation in force were left as they were"),
            ),
        ));
    }
    if let Err(e) = cfg.commit() {
        if let Some(t) = replacing_tmp(&cfg_target) {
            let _ = std::fs::remove_file(t);
        }
        let put_back = match &kept {
            Some(k) => std::fs::rename(k, &exp_target),
            None => std::fs::remove_file(&exp_target),
        };
        let left = match put_back {
            Ok(()) => format!(
                "{} the configuration and expectation in force are as they were",
                if kept.is_some() {
                    "the expectation in force was put back:"
                } else {
                    "the new expectation was removed again:"
                }
            ),
            Err(e2) => format!(
                "and the expectation in force could not be put back ({e2}): {} holds the new \
                 promotion's expectation while {} is unchanged{}",
                f.expectation.display(),
                f.out.display(),
                kept.as_ref()
                    .map(|k| format!("; the expectation in force is in {}", k.display()))
                    .unwrap_or_default()
            ),
        };
        return Err(CalibrateError::io(
            f.out,
            std::io::Error::new(e.kind(), format!("{e}; {left}")),
        ));
    }
    drop_kept();
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn files(names: &[PathBuf; 5]) -> PromotionFiles<'_> {
        PromotionFiles {
            config: &names[0],
            calibration: &names[1],
            review: Some(&names[2]),
            out: &names[3],
            expectation: &names[4],
        }
    }

    fn paths(d: &Path, names: [&str; 5]) -> [PathBuf; 5] {
        names.map(|n| d.join(n))
    }

    #[test]
    fn targets_that_are_folders_each_other_or_an_input_are_refused() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path();
        for n in ["c.toml", "cal.json", "r.csv"] {
            std::fs::write(p.join(n), n).unwrap();
        }
        std::fs::create_dir(p.join("dir")).unwrap();
        let check = |out: &str, exp: &str| {
            let names = paths(p, ["c.toml", "cal.json", "r.csv", out, exp]);
            check_files(&files(&names)).map_err(|e| e.to_string())
        };
        assert!(check("p.toml", "p.expectation.json").is_ok());
        // promoting in place is documented
        assert!(check("c.toml", "c.expectation.json").is_ok());
        // a path spelt another way, a file not there yet
        let e = check("x.json", "./x.json").unwrap_err();
        assert!(e.contains("--out and --expectation both name"), "{e}");
        let e = check("dir", "e.json").unwrap_err();
        assert!(
            e.contains("cannot write the promoted configuration to")
                && e.contains("it is a folder"),
            "{e}"
        );
        let e = check("p.toml", "dir").unwrap_err();
        assert!(e.contains("cannot write the expectation to"), "{e}");
        for (out, exp, want) in [
            ("p.toml", "c.toml", "--expectation"),
            ("p.toml", "cal.json", "--expectation"),
            ("cal.json", "e.json", "--out"),
            ("r.csv", "e.json", "--out"),
            ("p.toml", "r.csv", "--expectation"),
        ] {
            let e = check(out, exp).unwrap_err();
            assert!(e.starts_with(want) && e.contains("would overwrite"), "{e}");
            assert!(e.ends_with("(nothing was written)"), "{e}");
        }
        // through a symlink to an input
        #[cfg(unix)]
        {
            std::os::unix::fs::symlink(p.join("cal.json"), p.join("link.json")).unwrap();
            let e = check("p.toml", "link.json").unwrap_err();
            assert!(e.contains("is the --calibration file"), "{e}");
        }
    }

    #[test]
    fn a_configuration_that_cannot_be_renamed_puts_the_expectation_in_force_back() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path();
        let names = paths(
            p,
            [
                "c.toml",
                "cal.json",
                "r.csv",
                "p.toml",
                "p.expectation.json",
            ],
        );
        let f = files(&names);
        std::fs::write(f.expectation, "the expectation in force").unwrap();
        std::fs::write(f.out, "the configuration in force").unwrap();
        let mut exp = Replacing::create(f.expectation).unwrap();
        exp.write_all(b"new expectation").unwrap();
        let mut cfg = Replacing::create(f.out).unwrap();
        cfg.write_all(b"new configuration").unwrap();
        // the configuration's rename fails: a folder took its place
        std::fs::remove_file(f.out).unwrap();
        std::fs::create_dir(f.out).unwrap();
        std::fs::write(f.out.join("x"), "").unwrap();
        let e = commit_both(exp, cfg, &f).unwrap_err().to_string();
        assert!(
            e.contains("p.toml: Is a directory")
                && e.contains("the expectation in force was put back: the configuration and expectation in force are as they were"),
            "{e}"
        );
        assert_eq!(
            std::fs::read_to_string(f.expectation).unwrap(),
            "the expectation in force"
        );
        let mut left: Vec<String> = std::fs::read_dir(p)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        left.sort();
        assert_eq!(left, ["p.expectation.json", "p.toml"]);

        // without an expectation in force, the new one is removed again
        std::fs::remove_file(f.expectation).unwrap();
        let exp = Replacing::create(f.expectation).unwrap();
        let out = f.out.join("x");
        let cfg = Replacing::create(&out).unwrap();
        std::fs::remove_file(&out).unwrap();
        std::fs::create_dir(&out).unwrap();
        std::fs::write(out.join("y"), "").unwrap();
        let f2 = PromotionFiles { out: &out, ..f };
        let e = commit_both(exp, cfg, &f2).unwrap_err().to_string();
        assert!(e.contains("the new expectation was removed again"), "{e}");
        assert!(!f.expectation.exists());
    }
}
