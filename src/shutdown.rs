//! A shutdown signal the pipeline threads can poll and sleep on, fed by any future (the embedding
//! API takes a shutdown future, as a server library would).

use std::future::Future;
use std::pin::pin;
use std::sync::{Arc, Condvar, Mutex};
use std::task::{Context, Poll, Wake, Waker};
use std::thread;
use std::time::Duration;

#[derive(Clone, Debug, Default)]
pub struct Shutdown {
    inner: Arc<(Mutex<State>, Condvar)>,
}

#[derive(Debug, Default)]
struct State {
    triggered: bool,
    wakers: Vec<Waker>,
}

impl Shutdown {
    pub fn new() -> Shutdown {
        Shutdown::default()
    }

    /// A signal that triggers when `future` completes (polled on a small helper thread).
    pub fn from_future<F>(future: F) -> Shutdown
    where
        F: Future<Output = ()> + Send + 'static,
    {
        let s = Shutdown::new();
        let trigger = s.clone();
        thread::Builder::new()
            .name("redoflow-shutdown".into())
            .spawn(move || {
                block_on(future);
                trigger.trigger();
            })
            .map(drop)
            .unwrap_or_else(|e| tracing::error!(error = %e, "cannot start the shutdown watcher"));
        s
    }

    pub fn trigger(&self) {
        let (lock, cvar) = &*self.inner;
        let wakers = {
            let mut state = lock.lock().unwrap_or_else(|p| p.into_inner());
            state.triggered = true;
            std::mem::take(&mut state.wakers)
        };
        cvar.notify_all();
        wakers.into_iter().for_each(Waker::wake);
    }

    pub fn is_triggered(&self) -> bool {
        self.inner
            .0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .triggered
    }

    /// A future that completes when the signal triggers.
    pub fn wait(&self) -> Triggered {
        Triggered(self.clone())
    }

    /// Sleeps up to `timeout`; returns true if shutdown was triggered.
    pub fn wait_timeout(&self, timeout: Duration) -> bool {
        let (lock, cvar) = &*self.inner;
        let guard = lock.lock().unwrap_or_else(|p| p.into_inner());
        let (guard, _) = cvar
            .wait_timeout_while(guard, timeout, |state| !state.triggered)
            .unwrap_or_else(|p| p.into_inner());
        guard.triggered
    }
}

/// Future returned by [`Shutdown::wait`].
#[derive(Debug)]
pub struct Triggered(Shutdown);

impl Future for Triggered {
    type Output = ();
    fn poll(self: std::pin::Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let mut state = self.0.inner.0.lock().unwrap_or_else(|p| p.into_inner());
        if state.triggered {
            return Poll::Ready(());
        }
        if !state.wakers.iter().any(|w| w.will_wake(cx.waker())) {
            state.wakers.push(cx.waker().clone());
        }
        Poll::Pending
    }
}

struct ThreadWaker(thread::Thread);

impl Wake for ThreadWaker {
    fn wake(self: Arc<Self>) {
        self.0.unpark();
    }
}

/// Minimal executor for one future on the current thread.
fn block_on<F: Future>(future: F) -> F::Output {
    let mut future = pin!(future);
    let waker = Waker::from(Arc::new(ThreadWaker(thread::current())));
    let mut cx = Context::from_waker(&waker);
    loop {
        if let Poll::Ready(v) = future.as_mut().poll(&mut cx) {
            return v;
        }
        thread::park();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    #[test]
    fn future_completion_triggers() {
        let s = Shutdown::from_future(async {});
        assert!(s.wait_timeout(Duration::from_secs(5)));
        assert!(s.is_triggered());
    }

    #[test]
    fn wait_future_completes_on_trigger() {
        let a = Shutdown::new();
        let b = Shutdown::from_future(a.wait());
        assert!(!b.wait_timeout(Duration::from_millis(20)));
        a.trigger();
        assert!(b.wait_timeout(Duration::from_secs(5)));
    }

    #[test]
    fn wait_times_out_when_not_triggered() {
        let s = Shutdown::new();
        let t = Instant::now();
        assert!(!s.wait_timeout(Duration::from_millis(20)));
        assert!(t.elapsed() >= Duration::from_millis(20));
    }
}
