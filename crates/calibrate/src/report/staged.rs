//! A report folder written whole or not at all (`calibrate --report`, `burn-in --report`).
//!
//! The new files are written into a hidden folder inside the report folder
//! (`.titlesim-report.PID.tmp`: the same file system, so the files can be renamed into place).
//! Only when every one of them is written does [`Staged::commit`] move them in, over the earlier
//! report's; an earlier report's file the new run does not write (a `roc` figure of a run with
//! gold labels) is removed then. A failure before the commit — a full disk, a file size limit, a
//! plot that cannot be rendered — leaves the folder as it was, and a [`Staged`] dropped without
//! a commit removes its hidden folder (and the report folder itself when it made it). The
//! hidden folder is [listed](titlesim_log::unfinished) for the binary's signal handler, which
//! removes it when Ctrl-C or `kill` ends the run (no destructor runs then).

use crate::error::{CalibrateError, Result};
use std::io::Write;
use std::path::{Path, PathBuf};

/// A report being written; see the module's documentation.
pub(crate) struct Staged {
    dir: PathBuf,
    stage: PathBuf,
    /// Every file a report of this kind may hold (an earlier run's are replaced or removed).
    known: &'static [&'static str],
    /// The file that says what the report is (`calibration.json`, `burn_in.json`): it leaves
    /// first and arrives last, so no moment of the commit shows an old one beside new figures.
    document: &'static str,
    written: Vec<&'static str>,
    /// The report folder did not exist before: removed again when nothing is committed.
    made_dir: bool,
    done: bool,
    /// The staging folder, listed for the binary's signal handler while it exists.
    listed: Option<titlesim_log::unfinished::Unfinished>,
}

impl Staged {
    /// Starts a report in `dir` (created if needed).
    pub(crate) fn begin(
        dir: &Path,
        known: &'static [&'static str],
        document: &'static str,
    ) -> Result<Self> {
        debug_assert!(known.contains(&document));
        let made_dir = !dir.exists();
        std::fs::create_dir_all(dir).map_err(|e| CalibrateError::io(dir, e))?;
        let mut staged = Staged {
            dir: dir.to_path_buf(),
            stage: dir.join(format!(".titlesim-report.{}.tmp", std::process::id())),
            known,
            document,
            written: Vec::new(),
            made_dir,
            done: false,
            listed: None,
        };
        // A folder where a report file goes would make the commit fail half way: say so now.
        for name in known {
            let p = dir.join(name);
            if std::fs::symlink_metadata(&p).is_ok_and(|m| m.is_dir()) {
                return Err(CalibrateError::input(
                    p,
                    "is a folder, where the report writes a file: move it away or choose another \
                     report folder (nothing was written)",
                ));
            }
        }
        // A folder of this process id can only be left by a run killed mid-report.
        let _ = std::fs::remove_dir_all(&staged.stage);
        staged.listed = Some(titlesim_log::unfinished::register(&staged.stage));
        std::fs::create_dir(&staged.stage).map_err(|e| CalibrateError::io(&staged.stage, e))?;
        Ok(staged)
    }

    /// Writes `name` (one of the known files) into the staging folder; an error names the file
    /// as it would be in the report folder.
    pub(crate) fn write(&mut self, name: &str, bytes: &[u8]) -> Result<()> {
        let name = *self
            .known
            .iter()
            .find(|k| **k == name)
            .unwrap_or_else(|| panic!("{name} is not a report file"));
        let write = || -> std::io::Result<()> {
            let mut f = std::fs::File::create(self.stage.join(name))?;
            f.write_all(bytes)?;
            // renamed into place later: its bytes must be on disk before its name is
            f.sync_all()
        };
        write().map_err(|e| CalibrateError::io(self.dir.join(name), e))?;
        self.written.push(name);
        Ok(())
    }

    /// Moves the written files into the report folder and removes the earlier report's files
    /// this one does not have; returns the files, relative to the folder. A failure here puts
    /// the earlier report back.
    pub(crate) fn commit(mut self) -> Result<Vec<PathBuf>> {
        // A Ctrl-C waits for the files to be all in (or the earlier ones back).
        let _committing = titlesim_log::unfinished::committing();
        let backup = self
            .dir
            .join(format!(".titlesim-report.{}.old", std::process::id()));
        let _ = std::fs::remove_dir_all(&backup);
        std::fs::create_dir(&backup).map_err(|e| CalibrateError::io(&backup, e))?;
        // Keep the earlier report's files, to put back if a rename fails.
        let mut kept = Vec::new();
        for &name in self.known {
            let p = self.dir.join(name);
            if std::fs::symlink_metadata(&p).is_err() {
                continue;
            }
            let b = backup.join(name);
            let step = std::fs::hard_link(&p, &b).or_else(|_| std::fs::copy(&p, &b).map(drop));
            if let Err(e) = step {
                let _ = std::fs::remove_dir_all(&backup);
                return Err(CalibrateError::io(p, e));
            }
            kept.push(name);
        }
        // The document first out, last in; the figures replace theirs one rename each.
        let mut order: Vec<&'static str> = self
            .written
            .iter()
            .copied()
            .filter(|n| *n != self.document)
            .collect();
        order.extend(self.written.iter().copied().filter(|n| *n == self.document));
        let mut moved = Vec::new();
        let mut failed = None;
        let doc = self.dir.join(self.document);
        match std::fs::remove_file(&doc) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => failed = Some((doc, e)),
            _ => {}
        }
        if failed.is_none() {
            for name in order {
                let to = self.dir.join(name);
                if let Err(e) = std::fs::rename(self.stage.join(name), &to) {
                    failed = Some((to, e));
                    break;
                }
                moved.push(name);
            }
        }
        if failed.is_none() {
            for &name in self.known {
                if self.written.contains(&name) {
                    continue;
                }
                let p = self.dir.join(name);
                match std::fs::remove_file(&p) {
                    Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                        failed = Some((p, e));
                        break;
                    }
                    _ => {}
                }
            }
        }
        if let Some((path, e)) = failed {
            // Put the earlier report back as it was.
            let mut lost = Vec::new();
            for &name in self.known {
                let p = self.dir.join(name);
                let restored = if kept.contains(&name) {
                    std::fs::rename(backup.join(name), &p)
                } else if moved.contains(&name) {
                    std::fs::remove_file(&p)
                } else {
                    Ok(())
                };
                if restored.is_err() {
                    lost.push(name);
                }
            }
            let left = if lost.is_empty() {
                let _ = std::fs::remove_dir_all(&backup);
                "the earlier report was put back as it was".to_string()
            } else {
                format!(
                    "{} could not be put back: the earlier report's files are in {}",
                    lost.join(", "),
                    backup.display()
                )
            };
            return Err(CalibrateError::io(
                path,
                std::io::Error::new(e.kind(), format!("{e} (moving the new report in; {left})")),
            ));
        }
        let _ = std::fs::remove_dir_all(&backup);
        let _ = std::fs::remove_dir_all(&self.stage);
        self.done = true;
        Ok(self.written.iter().map(PathBuf::from).collect())
    }
}

/// `e`, which stopped a report before its commit, saying that `dir` was left as it was.
pub(crate) fn not_written(dir: &Path, e: CalibrateError) -> CalibrateError {
    CalibrateError::ReportNotWritten {
        dir: dir.to_path_buf(),
        source: Box::new(e),
    }
}

impl Drop for Staged {
    fn drop(&mut self) {
        if self.done {
            return;
        }
        let _ = std::fs::remove_dir_all(&self.stage);
        if self.made_dir {
            // only when empty: nothing of anyone else's goes
            let _ = std::fs::remove_dir(&self.dir);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    const KNOWN: [&str; 4] = ["a.svg", "a.png", "b.svg", "doc.json"];

    /// Every entry of `dir` (hidden ones too) with its contents.
    fn contents(dir: &Path) -> BTreeMap<String, String> {
        std::fs::read_dir(dir)
            .unwrap()
            .map(|e| {
                let e = e.unwrap();
                let text = std::fs::read_to_string(e.path()).unwrap_or_else(|_| "<folder>".into());
                (e.file_name().to_string_lossy().into_owned(), text)
            })
            .collect()
    }

    fn earlier(dir: &Path) -> BTreeMap<String, String> {
        for (name, text) in [
            ("a.svg", "old a"),
            ("b.svg", "old b"),
            ("doc.json", "old doc"),
            ("notes.txt", "the user's"),
        ] {
            std::fs::write(dir.join(name), text).unwrap();
        }
        contents(dir)
    }

    #[test]
    fn a_report_not_committed_leaves_the_earlier_one_as_it_was() {
        let d = tempfile::tempdir().unwrap();
        let before = earlier(d.path());
        let mut s = Staged::begin(d.path(), &KNOWN, "doc.json").unwrap();
        s.write("a.svg", b"new a").unwrap();
        drop(s); // an error half way
        assert_eq!(contents(d.path()), before);
        // a folder it made is removed again
        let fresh = d.path().join("fresh");
        let mut s = Staged::begin(&fresh, &KNOWN, "doc.json").unwrap();
        s.write("a.svg", b"new a").unwrap();
        drop(s);
        assert!(!fresh.exists());
    }

    #[test]
    fn a_commit_replaces_the_report_and_removes_its_stale_files() {
        let d = tempfile::tempdir().unwrap();
        earlier(d.path());
        let mut s = Staged::begin(d.path(), &KNOWN, "doc.json").unwrap();
        for (name, text) in [
            ("a.svg", "new a"),
            ("a.png", "new png"),
            ("doc.json", "new doc"),
        ] {
            s.write(name, text.as_bytes()).unwrap();
        }
        let files = s.commit().unwrap();
        assert_eq!(files.len(), 3);
        let after = contents(d.path());
        let want: BTreeMap<String, String> = [
            ("a.svg", "new a"),
            ("a.png", "new png"),
            ("doc.json", "new doc"),
            ("notes.txt", "the user's"),
        ]
        .into_iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect();
        assert_eq!(after, want);
    }

    #[test]
    fn a_commit_that_fails_puts_the_earlier_report_back() {
        let d = tempfile::tempdir().unwrap();
        let before = earlier(d.path());
        let mut s = Staged::begin(d.path(), &KNOWN, "doc.json").unwrap();
        for name in ["a.svg", "a.png", "b.svg", "doc.json"] {
            s.write(name, b"new").unwrap();
        }
        // the second rename fails (its staged file is gone)
        std::fs::remove_file(s.stage.join("a.png")).unwrap();
        let e = s.commit().unwrap_err().to_string();
        assert!(
            e.contains("a.png") && e.contains("the earlier report was put back as it was"),
            "{e}"
        );
        assert_eq!(contents(d.path()), before);
    }

    #[test]
    fn a_folder_where_a_report_file_goes_is_refused_up_front() {
        let d = tempfile::tempdir().unwrap();
        std::fs::create_dir(d.path().join("a.png")).unwrap();
        std::fs::write(d.path().join("a.png/keep"), "x").unwrap();
        let e = Staged::begin(d.path(), &KNOWN, "doc.json")
            .err()
            .unwrap()
            .to_string();
        assert!(
            e.contains("a.png: is a folder, where the report writes a file"),
            "{e}"
        );
        assert_eq!(contents(d.path()).len(), 1);
    }
}
