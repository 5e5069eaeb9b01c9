//! Spinning: a backend's idle pool threads polling for work through a short forward pass
//! instead of falling asleep between its many short parallel steps (each wake-up costs more
//! than such a step). This is what [`BackendOptions::spin`](crate::BackendOptions::spin)
//! turns on or off for the backends that run on their own rayon pool (candle, tract);
//! ONNX Runtime has its own setting.

use std::sync::atomic::{AtomicBool, Ordering};

/// Idle polls a spinning thread makes before it yields its core to the OS at every poll (so
/// a machine busy with other work is not slowed by spinning).
pub const SPIN_ROUNDS: u32 = 2000;

/// Runs `f` on the current thread while `helpers` tasks on the current rayon pool poll it for
/// work (`rayon::yield_now`) until `f` returns or panics; returns `f`'s result. Call it on a
/// pool thread (inside `ThreadPool::install`) with `helpers` = the pool's other threads: the
/// parallel steps `f` hands to the pool then start at once. With `helpers` = 0 it is `f()`.
pub fn run_spinning<R: Send>(helpers: usize, f: impl FnOnce() -> R + Send) -> R {
    if helpers == 0 {
        return f();
    }
    let done = AtomicBool::new(false);
    /// Sets `done` when dropped: also when `f` panics, so the helpers end.
    struct Done<'a>(&'a AtomicBool);
    impl Drop for Done<'_> {
        fn drop(&mut self) {
            self.0.store(true, Ordering::Release);
        }
    }
    rayon::scope(|s| {
        for _ in 0..helpers {
            s.spawn(|_| {
                let mut idle = 0u32;
                while !done.load(Ordering::Acquire) {
                    if rayon::yield_now() == Some(rayon::Yield::Executed) {
                        idle = 0;
                    } else if idle < SPIN_ROUNDS {
                        idle += 1;
                        std::hint::spin_loop();
                    } else {
                        // Long idle: let another process have the core.
                        std::thread::yield_now();
                    }
                }
            });
        }
        let _done = Done(&done);
        f()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pool(threads: usize) -> rayon::ThreadPool {
        rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap()
    }

    /// The result comes back, the parallel work `f` hands out is all done, and the helpers end
    /// (else the call would not return).
    #[test]
    fn returns_what_f_returns_with_its_parallel_work_done() {
        use rayon::prelude::*;
        for helpers in [0, 1, 3] {
            let sum = pool(helpers + 1)
                .install(|| run_spinning(helpers, || (1..=10_000u64).into_par_iter().sum::<u64>()));
            assert_eq!(sum, 50_005_000, "{helpers} helpers");
        }
    }

    /// A panic in `f` stops the helpers and reaches the caller (without the drop guard the
    /// scope would wait for the helpers forever).
    #[test]
    fn a_panic_stops_the_helpers_and_propagates() {
        let r = pool(2).install(|| {
            std::panic::catch_unwind(|| run_spinning(1, || -> u32 { panic!("forward failed") }))
        });
        let msg = r.unwrap_err();
        assert_eq!(msg.downcast_ref::<&str>(), Some(&"forward failed"));
    }
}
