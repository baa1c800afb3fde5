//! Awaiting glommio file I/O with a timer armed beside it, so that a
//! completion whose wake-up never reaches the sleeping executor is still
//! picked up.
//!
//! Contract: [`rechecked`] resolves to exactly what its future resolves to;
//! while that future is pending, a glommio timer of [`RECHECK`] is armed,
//! so the executor never sleeps longer than that without looking at its
//! rings again; the future is polled again at each tick. Nothing else
//! changes: no request is re-issued, none cancelled.
//!
//! Why: on this workplace's Linux 6.18 VMs, a buffered read that io_uring
//! hands to one of its io-wq workers can finish without the executor
//! thread, asleep in `io_uring_enter` waiting for a completion, ever being
//! woken: the read's completion is run as work on that thread and never
//! posted until something interrupts the wait. Seen as a test that hung
//! for minutes (once in ~1,500 runs of the file reader's line-split test
//! beside the whole suite in a loop, once in ~550 of its earlier form, and
//! once in CI), with the ring showing the read in flight, the io-wq worker
//! idle and the thread in `io_cqring_wait`; attaching a debugger (a signal)
//! let it finish at once. An armed timer makes glommio's sleep end at its
//! deadline, which runs that pending work: a lost wake-up then costs one
//! tick, not the run. A read of a file not in the page cache goes to io-wq
//! far more often than the tests' freshly written files do.

use std::future::Future;
use std::pin::pin;
use std::time::Duration;

/// The longest an executor sleeps on a pending file operation before
/// looking at its rings again.
pub(crate) const RECHECK: Duration = Duration::from_millis(20);

/// `io` awaited with a [`RECHECK`] timer armed beside it (see the module
/// docs). Must run on a glommio executor.
pub(crate) async fn rechecked<T>(io: impl Future<Output = T>) -> T {
    let mut io = pin!(io);
    loop {
        let done = async { Some(io.as_mut().await) };
        let tick = async {
            glommio::timer::sleep(RECHECK).await;
            None
        };
        if let Some(v) = futures_lite::future::or(done, tick).await {
            return v;
        }
    }
}

/// Runs `test` to completion on a fresh glommio executor with a small
/// registered I/O buffer (the runtime's unit tests).
#[cfg(test)]
pub(crate) fn on_executor<T>(test: impl Future<Output = T>) -> T {
    glommio::LocalExecutorBuilder::default()
        .io_memory(64 << 10)
        .make()
        .unwrap()
        .run(test)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;
    use std::rc::Rc;
    use std::time::Instant;

    /// A future pending until `ready` is set (without waking anyone when it
    /// is: only a re-poll sees it), counting its polls.
    struct Flag {
        ready: Rc<Cell<bool>>,
        polls: Rc<Cell<u32>>,
    }

    impl Future for Flag {
        type Output = u32;
        fn poll(
            self: std::pin::Pin<&mut Self>,
            _: &mut std::task::Context<'_>,
        ) -> std::task::Poll<u32> {
            self.polls.set(self.polls.get() + 1);
            if self.ready.get() {
                std::task::Poll::Ready(7)
            } else {
                std::task::Poll::Pending
            }
        }
    }

    /// A future whose readiness nobody announces is still seen within a
    /// few ticks (awaited bare, it would never be polled again), and its
    /// value comes through.
    #[test]
    fn a_completion_nobody_wakes_for_is_seen_at_the_next_tick() {
        on_executor(async {
            let (ready, polls) = (Rc::new(Cell::new(false)), Rc::new(Cell::new(0)));
            let flag = Flag {
                ready: ready.clone(),
                polls: polls.clone(),
            };
            // Set readiness from a task that wakes no one.
            let setter = ready.clone();
            glommio::spawn_local(async move {
                glommio::timer::sleep(RECHECK * 3).await;
                setter.set(true);
            })
            .detach();
            let t = Instant::now();
            assert_eq!(rechecked(flag).await, 7);
            assert!(t.elapsed() >= RECHECK * 3, "not ready before it was set");
            assert!(t.elapsed() < Duration::from_secs(5), "{:?}", t.elapsed());
            assert!(
                polls.get() >= 3,
                "polled again at each tick: {}",
                polls.get()
            );
        });
    }
}
