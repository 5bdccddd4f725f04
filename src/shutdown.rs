//! Graceful shutdown: one trigger, any number of listeners, and the OS signals that pull it.
//!
//! A `watch` channel rather than `broadcast`: a task that subscribes after the trigger fired still
//! sees it (no lost wake-up), and checking is a cheap borrow.

use tokio::sync::watch;

/// Pulls the shutdown for every [`Shutdown`] made from it (also when dropped).
#[derive(Debug)]
pub struct Trigger(watch::Sender<bool>);

/// Resolves once shutdown was triggered. Clone freely; one per task.
#[derive(Debug, Clone)]
pub struct Shutdown(watch::Receiver<bool>);

pub fn channel() -> (Trigger, Shutdown) {
    let (tx, rx) = watch::channel(false);
    (Trigger(tx), Shutdown(rx))
}

impl Trigger {
    pub fn fire(&self) {
        self.0.send_replace(true);
    }

    pub fn subscribe(&self) -> Shutdown {
        Shutdown(self.0.subscribe())
    }
}

impl Shutdown {
    /// True once shutdown was triggered.
    pub fn is_triggered(&self) -> bool {
        *self.0.borrow()
    }

    /// Waits for the trigger. A dropped trigger counts as fired: nobody is left to keep us alive.
    pub async fn wait(&mut self) {
        let _ = self.0.wait_for(|v| *v).await;
    }
}

/// Resolves on Ctrl-C or SIGTERM (what systemd and `docker stop` send).
pub async fn os_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn late_subscribers_see_the_trigger() {
        let (trigger, mut early) = channel();
        trigger.fire();
        let mut late = trigger.subscribe();
        tokio::time::timeout(std::time::Duration::from_secs(1), async {
            early.wait().await;
            late.wait().await;
        })
        .await
        .expect("both listeners resolve");
        assert!(late.is_triggered());
    }

    #[tokio::test]
    async fn dropped_trigger_releases_waiters() {
        let (trigger, mut s) = channel();
        drop(trigger);
        tokio::time::timeout(std::time::Duration::from_secs(1), s.wait())
            .await
            .unwrap();
    }
}
