//! Files and folders a run is still writing, which an interrupted run should not leave behind.
//!
//! A [`Replacing`](crate::Replacing) removes its temporary file when it is dropped unfinished,
//! but a signal (Ctrl-C, `kill`) ends the process without running destructors. Writers
//! [`register`] what they create; a binary that handles signals calls [`remove_all`] before
//! it exits. Libraries never install signal handlers: the registry only lists.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

static NEXT: AtomicU64 = AtomicU64::new(0);
static UNFINISHED: Mutex<Vec<(u64, PathBuf)>> = Mutex::new(Vec::new());

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

/// The paths listed now.
pub fn listed() -> Vec<PathBuf> {
    registry().iter().map(|(_, p)| p.clone()).collect()
}

/// Removes every listed path that still exists and empties the list; returns the paths it
/// removed. For a signal handler's thread, just before the process exits.
pub fn remove_all() -> Vec<PathBuf> {
    let listed: Vec<PathBuf> = registry().drain(..).map(|(_, p)| p).collect();
    listed
        .into_iter()
        .filter(|p| match std::fs::symlink_metadata(p) {
            Ok(m) if m.is_dir() => std::fs::remove_dir_all(p).is_ok(),
            Ok(_) => std::fs::remove_file(p).is_ok(),
            Err(_) => false,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listed_until_dropped_and_removed_on_demand() {
        let d = tempfile::tempdir().unwrap();
        let kept = d.path().join("kept");
        let file = d.path().join("file.tmp");
        let dir = d.path().join("stage");
        std::fs::write(&kept, "k").unwrap();
        std::fs::write(&file, "x").unwrap();
        std::fs::create_dir(&dir).unwrap();
        std::fs::write(dir.join("inside"), "y").unwrap();
        let done = register(&kept);
        let _f = register(&file);
        let _d = register(&dir);
        let _gone = register(&d.path().join("never-created"));
        drop(done);
        let listed = listed();
        assert!(!listed.contains(&kept) && listed.contains(&file) && listed.contains(&dir));
        let removed = remove_all();
        // Other tests of this process may register too: only ours are checked.
        assert!(
            removed.contains(&file) && removed.contains(&dir),
            "{removed:?}"
        );
        assert!(!removed.iter().any(|p| p.ends_with("never-created")));
        assert!(kept.exists() && !file.exists() && !dir.exists());
        assert!(!listed_contains(&file));
    }

    fn listed_contains(p: &Path) -> bool {
        listed().iter().any(|x| x == p)
    }
}
