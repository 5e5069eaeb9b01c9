//! What a batch command does when Ctrl-C or `kill` ends it: remove the files it had not
//! finished (the temporary file of an `--out` being replaced, a report's staging folder; see
//! `titlesim_log::unfinished`), say so and how to go on, and exit with 128 + the signal's
//! number, as the shell reports a process the signal ended. Without this the process ended
//! silently and left `.NAME.PID.tmp` files behind.
//!
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

    pub fn install(hint: Option<&'static str>) {
        // Without the handler the signal still ends the process as it did: nothing to add.
        let Ok(mut signals) = Signals::new([SIGINT, SIGTERM, SIGHUP]) else {
            return;
        };
        let spawned = std::thread::Builder::new()
            .name("titlesim-signals".into())
            .spawn(move || {
                let Some(signal) = signals.forever().next() else {
                    return;
                };
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
                // stderr may be closed or full: exit all the same
                let _ = writeln!(std::io::stderr(), "{msg}");
                std::process::exit(128 + signal);
            });
        drop(spawned);
    }
}
