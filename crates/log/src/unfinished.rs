//! Files and folders a run is still writing, which an interrupted run should not leave behind.
//!
//! A [`Replacing`](crate::Replacing) removes its temporary file when it is dropped unfinished,
//! but a signal (Ctrl-C, `kill`) ends the process without running destructors. Writers
//! [`register`] what they create; a binary that handles signals calls [`remove_all`] before
//! it exits. Libraries never install signal handlers: the registry only lists.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, RwLock, RwLockReadGuard};

static NEXT: AtomicU64 = AtomicU64::new(0);
static UNFINISHED: Mutex<Vec<(u64, PathBuf)>> = Mutex::new(Vec::new());
/// Read by each commit of several steps, written by [`remove_all`]: an interrupt waits for a
/// commit in progress to end rather than leave it half done.
static COMMITS: RwLock<()> = RwLock::new(());

/// Held while a commit of several steps runs (a report's files moved in one by one, promote's
/// configuration and expectation): [`remove_all`] waits for it, so an interrupt never leaves
/// half the files new. Take it once, around the whole commit, never nested.
#[derive(Debug)]
pub struct Committing {
    _guard: RwLockReadGuard<'static, ()>,
}

/// Starts a commit of several steps; see [`Committing`].
pub fn committing() -> Committing {
    Committing {
        _guard: COMMITS.read().unwrap_or_else(|p| p.into_inner()),
    }
}

fn registry() -> std::sync::MutexGuard<'static, Vec<(u64, PathBuf)>> {
    UNFINISHED.lock().unwrap_or_else(|p| p.into_inner())
}

/// A registered path; dropping it (the file committed or removed) takes it off the list.
#[derive(Debug)]
pub struct Unfinished {
    id: u64,
}

/// Lists `path` (a file, or a folder removed with its contents) as unfinished until the
/// returned guard is dropped.
pub fn register(path: &Path) -> Unfinished {
    let id = NEXT.fetch_add(1, Ordering::Relaxed);
    registry().push((id, path.to_path_buf()));
    Unfinished { id }
}

impl Drop for Unfinished {
    fn drop(&mut self) {
        registry().retain(|(id, _)| *id != self.id);
    }
}

/// Waits for a commit in progress ([`committing`]) to end, then removes every listed path
/// that still exists and empties the list; returns the paths it removed. A listed file's
/// `NAME#N` siblings go too (the object store DataFusion writes Parquet with stages its bytes
/// in `PATH#1` before renaming them to `PATH`). For a signal handler's thread, just before the
/// process ends: no commit can start afterwards (they wait for ever).
pub fn remove_all() -> Vec<PathBuf> {
    std::mem::forget(COMMITS.write().unwrap_or_else(|p| p.into_inner()));
    remove_listed(|_| true)
}

/// Removes the listed paths `which` selects (with their staged siblings) and takes them off
/// the list; returns the paths it removed.
fn remove_listed(which: impl Fn(&Path) -> bool) -> Vec<PathBuf> {
    let listed: Vec<PathBuf> = {
        let mut r = registry();
        let (taken, kept) = r.drain(..).partition(|(_, p)| which(p));
        *r = kept;
        taken.into_iter().map(|(_, p)| p).collect()
    };
    let mut removed = Vec::new();
    for p in listed {
        let gone = match std::fs::symlink_metadata(&p) {
            Ok(m) if m.is_dir() => std::fs::remove_dir_all(&p).is_ok(),
            Ok(_) => std::fs::remove_file(&p).is_ok(),
            Err(_) => false,
        };
        if gone {
            removed.push(p.clone());
        }
        removed.extend(
            staged_siblings(&p)
                .into_iter()
                .filter(|s| std::fs::remove_file(s).is_ok()),
        );
    }
    removed
}

/// The files `NAME#N` (N digits) beside `path`.
fn staged_siblings(path: &Path) -> Vec<PathBuf> {
    let (Some(dir), Some(name)) = (path.parent(), path.file_name()) else {
        return Vec::new();
    };
    let prefix = format!("{}#", name.to_string_lossy());
    let dir = if dir.as_os_str().is_empty() {
        Path::new(".")
    } else {
        dir
    };
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter(|e| {
            let n = e.file_name();
            let n = n.to_string_lossy();
            n.strip_prefix(&prefix)
                .is_some_and(|rest| !rest.is_empty() && rest.bytes().all(|b| b.is_ascii_digit()))
        })
        .map(|e| path.with_file_name(e.file_name()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The paths listed now.
    fn listed() -> Vec<PathBuf> {
        registry().iter().map(|(_, p)| p.clone()).collect()
    }

    #[test]
    fn listed_until_dropped_and_removed_on_demand() {
        let d = tempfile::tempdir().unwrap();
        let kept = d.path().join("kept");
        let file = d.path().join("file.tmp");
        let dir = d.path().join("stage");
        std::fs::write(&kept, "k").unwrap();
        std::fs::write(&file, "x").unwrap();
        std::fs::write(d.path().join("file.tmp#1"), "staged").unwrap();
        std::fs::write(d.path().join("file.tmp#x"), "not ours").unwrap();
        std::fs::create_dir(&dir).unwrap();
        std::fs::write(dir.join("inside"), "y").unwrap();
        let done = register(&kept);
        let _f = register(&file);
        let _d = register(&dir);
        let _gone = register(&d.path().join("never-created"));
        drop(done);
        let before = listed();
        assert!(!before.contains(&kept) && before.contains(&file) && before.contains(&dir));
        // Only this test's: other tests of this process list their unfinished files too, and
        // `remove_all` would take them from under them (and stop every later commit).
        let removed = remove_listed(|p| p.starts_with(d.path()));
        assert!(
            removed.contains(&file) && removed.contains(&dir),
            "{removed:?}"
        );
        assert!(!removed.iter().any(|p| p.ends_with("never-created")));
        assert!(kept.exists() && !file.exists() && !dir.exists());
        assert!(!d.path().join("file.tmp#1").exists() && d.path().join("file.tmp#x").exists());
        assert!(!listed().contains(&file));
    }
}
