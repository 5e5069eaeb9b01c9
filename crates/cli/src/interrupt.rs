//! What a batch command does when Ctrl-C or `kill` ends it: remove the files it had not
//! finished (the temporary file of an `--out` being replaced, a report's staging folder; see
//! `titlesim_log::unfinished`), say so and how to go on, then end by the signal itself, as
//! it would have without this (the shell sees SIGINT, so a script's loop stops, and reports
//! 130). Without this the process ended silently and left `.NAME.PID.tmp` files behind.
//!
//! A signal the caller set to be ignored (`nohup`, a script's background job) stays ignored.
//! `serve` handles its own signals (a graceful drain), so it does not use this.

/// What to tell the user after an interruption, beyond what was removed.
pub fn install(hint: Option<&'static str>) {
    #[cfg(unix)]
    unix::install(hint);
    #[cfg(not(unix))]
    let _ = hint;
}

#[cfg(unix)]
mod unix {
    use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
    use signal_hook::iterator::Signals;
    use std::io::Write;

    /// Whether `signal` is set to be ignored now (inherited from the parent).
    fn ignored(signal: i32) -> bool {
        // SAFETY: sigaction with a null new action only reads the current one into `old`.
        unsafe {
            let mut old: libc::sigaction = std::mem::zeroed();
            libc::sigaction(signal, std::ptr::null(), &mut old) == 0
                && old.sa_sigaction == libc::SIG_IGN
        }
    }

    pub fn install(hint: Option<&'static str>) {
        let caught: Vec<i32> = [SIGINT, SIGTERM, SIGHUP]
            .into_iter()
            .filter(|&s| !ignored(s))
            .collect();
        // Without the handler the signal still ends the process as it did: nothing to add.
        let Ok(mut signals) = Signals::new(&caught) else {
            return;
        };
        let spawned = std::thread::Builder::new()
            .name("titlesim-signals".into())
            .spawn(move || {
                let Some(signal) = signals.forever().next() else {
                    return;
                };
                // Waits for a commit in progress (a report's files, promote's two files) to
                // end, so nothing is left half-replaced.
                let removed = titlesim_log::unfinished::remove_all();
                let name = match signal {
                    SIGINT => "SIGINT (Ctrl-C)",
                    SIGTERM => "SIGTERM",
                    _ => "SIGHUP",
                };
                let mut msg = format!("titlesim: interrupted by {name}");
                if !removed.is_empty() {
                    let list: Vec<String> =
                        removed.iter().map(|p| p.display().to_string()).collect();
                    msg += &format!(
                        "; removed the unfinished {} (what it was to replace is as it was)",
                        list.join(", ")
                    );
                }
                if let Some(h) = hint {
                    msg += "; ";
                    msg += h;
                }
                // stderr may be closed or full: end all the same
                let _ = writeln!(std::io::stderr(), "{msg}");
                // End by the signal, as without a handler (no exit handlers run while model
                // threads work); exit with the shell's code should that fail.
                let _ = signal_hook::low_level::emulate_default_handler(signal);
                std::process::exit(128 + signal);
            });
        drop(spawned);
    }
}
