//! How a pipeline run is told to stop, from another thread: a cancellation token with two
//! strengths.
//!
//! - **Graceful** ([`StopToken::stop`]): the run finishes the window it is mining, takes a final
//!   checkpoint (prepare, commit, rename) and returns. What Ctrl-C and SIGTERM ask for.
//! - **Abort** ([`StopToken::abort`]): the run stops at once, with no prepare, no commit and no
//!   rename; a source call in progress is interrupted through the source's
//!   [`Interrupt`](redoflow_miner::source::Interrupt). What a cluster node that loses
//!   leadership needs: another node owns the output from now on. The in-progress files left
//!   behind are removed by the next leader's (or the next run's) recovery.
//!
//! The token is cheap to clone; every clone sees the same state. Stopping is one-way: a
//! graceful stop can be upgraded to an abort, never undone.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Condvar, Mutex};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use redoflow_miner::source::Interrupt;

#[derive(Clone, Debug, Default)]
pub struct StopToken {
    inner: Arc<(Mutex<State>, Condvar)>,
}

#[derive(Default)]
struct State {
    level: Level,
    wakers: Vec<Waker>,
    /// Called on abort (a source's way to break a running query), by registration id.
    interrupts: Vec<(u64, Interrupt)>,
    next_id: u64,
}

impl std::fmt::Debug for State {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("State")
            .field("level", &self.level)
            .field("interrupts", &self.interrupts.len())
            .finish()
    }
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord)]
enum Level {
    #[default]
    Running,
    Graceful,
    Abort,
}

/// Keeps an interrupt registered on a [`StopToken`] until dropped.
#[derive(Debug)]
#[must_use = "the interrupt is unregistered when this is dropped"]
pub struct InterruptGuard {
    token: StopToken,
    id: u64,
}

impl Drop for InterruptGuard {
    fn drop(&mut self) {
        let mut state = self.token.lock();
        state.interrupts.retain(|(id, _)| *id != self.id);
    }
}

impl StopToken {
    pub fn new() -> StopToken {
        StopToken::default()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.inner.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn raise(&self, level: Level) {
        let (wakers, interrupts) = {
            let mut state = self.lock();
            if state.level >= level {
                return;
            }
            state.level = level;
            let interrupts: Vec<Interrupt> = if level == Level::Abort {
                state.interrupts.iter().map(|(_, f)| f.clone()).collect()
            } else {
                Vec::new()
            };
            (std::mem::take(&mut state.wakers), interrupts)
        };
        self.inner.1.notify_all();
        wakers.into_iter().for_each(Waker::wake);
        // Outside the lock: an interrupt may block briefly (a network round trip to the
        // database), and it must not hold up anyone asking `is_stopping`.
        for interrupt in interrupts {
            interrupt();
        }
    }

    /// Asks for a graceful stop: finish with a final checkpoint.
    pub fn stop(&self) {
        self.raise(Level::Graceful);
    }

    /// Asks for an immediate stop: no further checkpoint is prepared, committed or finished,
    /// and a source call in progress is interrupted.
    pub fn abort(&self) {
        self.raise(Level::Abort);
    }

    /// True once either stop was asked for.
    pub fn is_stopping(&self) -> bool {
        self.lock().level >= Level::Graceful
    }

    /// True once an abort was asked for.
    pub fn is_aborted(&self) -> bool {
        self.lock().level == Level::Abort
    }

    /// Sleeps up to `timeout`; returns true (at once) if a stop was asked for.
    pub fn wait_timeout(&self, timeout: Duration) -> bool {
        let (lock, cvar) = &*self.inner;
        let guard = lock.lock().unwrap_or_else(|p| p.into_inner());
        let (guard, _) = cvar
            .wait_timeout_while(guard, timeout, |state| state.level == Level::Running)
            .unwrap_or_else(|p| p.into_inner());
        guard.level >= Level::Graceful
    }

    /// Blocks until an abort is asked for (a graceful stop does not end the wait).
    pub fn wait_aborted(&self) {
        let (lock, cvar) = &*self.inner;
        let guard = lock.lock().unwrap_or_else(|p| p.into_inner());
        let _guard = cvar
            .wait_while(guard, |state| state.level != Level::Abort)
            .unwrap_or_else(|p| p.into_inner());
    }

    /// A future that completes once a stop (either kind) was asked for.
    pub fn stopped(&self) -> Stopped {
        Stopped(self.clone())
    }

    /// Registers `interrupt` to be called when the token aborts (at once if it already has),
    /// until the guard is dropped.
    pub fn on_abort(&self, interrupt: Interrupt) -> InterruptGuard {
        let (id, aborted) = {
            let mut state = self.lock();
            let id = state.next_id;
            state.next_id += 1;
            state.interrupts.push((id, interrupt.clone()));
            (id, state.level == Level::Abort)
        };
        if aborted {
            interrupt();
        }
        InterruptGuard {
            token: self.clone(),
            id,
        }
    }
}

/// Future returned by [`StopToken::stopped`].
#[derive(Debug)]
pub struct Stopped(StopToken);

impl Future for Stopped {
    type Output = ();
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let mut state = self.0.lock();
        if state.level >= Level::Graceful {
            return Poll::Ready(());
        }
        if !state.wakers.iter().any(|w| w.will_wake(cx.waker())) {
            state.wakers.push(cx.waker().clone());
        }
        Poll::Pending
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Instant;

    #[test]
    fn graceful_then_abort_is_one_way() {
        let t = StopToken::new();
        assert!(!t.is_stopping());
        t.stop();
        assert!(t.is_stopping() && !t.is_aborted());
        t.abort();
        assert!(t.is_aborted());
        t.stop();
        assert!(t.is_aborted(), "a graceful stop never downgrades an abort");
    }

    #[test]
    fn wait_returns_at_once_on_stop_and_times_out_otherwise() {
        let t = StopToken::new();
        let started = Instant::now();
        assert!(!t.wait_timeout(Duration::from_millis(20)));
        assert!(started.elapsed() >= Duration::from_millis(20));
        let other = t.clone();
        let waiter = std::thread::spawn(move || other.wait_timeout(Duration::from_secs(60)));
        t.stop();
        assert!(waiter.join().unwrap());
    }

    #[test]
    fn interrupts_run_on_abort_only_while_registered() {
        let t = StopToken::new();
        let calls = Arc::new(AtomicUsize::new(0));
        let counter = calls.clone();
        let guard = t.on_abort(Arc::new(move || {
            counter.fetch_add(1, Ordering::SeqCst);
        }));
        t.stop();
        assert_eq!(
            calls.load(Ordering::SeqCst),
            0,
            "a graceful stop interrupts nothing"
        );
        drop(guard);
        t.abort();
        assert_eq!(
            calls.load(Ordering::SeqCst),
            0,
            "unregistered before the abort"
        );
        let counter = calls.clone();
        let _late = t.on_abort(Arc::new(move || {
            counter.fetch_add(1, Ordering::SeqCst);
        }));
        assert_eq!(
            calls.load(Ordering::SeqCst),
            1,
            "registered after the abort: called at once"
        );
    }

    #[test]
    fn the_future_completes_on_stop() {
        let t = StopToken::new();
        let fut = t.stopped();
        let other = t.clone();
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(10));
            other.stop();
        });
        // A minimal executor: poll, park until woken.
        let waker = Waker::from(Arc::new(Unpark(std::thread::current())));
        let mut cx = Context::from_waker(&waker);
        let mut fut = Box::pin(fut);
        while fut.as_mut().poll(&mut cx).is_pending() {
            std::thread::park_timeout(Duration::from_secs(5));
        }
        assert!(t.is_stopping());
    }

    struct Unpark(std::thread::Thread);
    impl std::task::Wake for Unpark {
        fn wake(self: Arc<Self>) {
            self.0.unpark();
        }
    }
}
