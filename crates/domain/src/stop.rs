//! Telling background jobs that the process is stopping, so each finishes what it started
//! and gives back what it has not.

use tokio::sync::watch;

/// Sends the stop (held by whoever runs the jobs).
#[derive(Debug)]
pub struct StopSignal(watch::Sender<bool>);

/// Hears the stop (held by each job).
#[derive(Debug, Clone)]
pub struct Stop(watch::Receiver<bool>);

impl StopSignal {
    /// A signal that has not been sent, and a receiver of it.
    pub fn new() -> (Self, Stop) {
        let (tx, rx) = watch::channel(false);
        (Self(tx), Stop(rx))
    }

    /// Another receiver.
    pub fn subscribe(&self) -> Stop {
        Stop(self.0.subscribe())
    }

    /// Tells every receiver to stop; they stay stopped.
    pub fn stop(&self) {
        self.0.send_replace(true);
    }
}

impl Stop {
    /// A stop that never comes (one-off calls, tests of a single round).
    pub fn never() -> Self {
        StopSignal::new().1
    }

    /// Whether the stop was sent.
    pub fn is_stopping(&self) -> bool {
        *self.0.borrow()
    }

    /// Waits for the stop; forever if it can no longer come.
    pub async fn stopped(&mut self) {
        if self.0.wait_for(|stopped| *stopped).await.is_err() {
            std::future::pending::<()>().await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_stop_reaches_every_receiver_and_stays() {
        let (signal, mut a) = StopSignal::new();
        let b = signal.subscribe();
        assert!(!a.is_stopping() && !b.is_stopping());
        signal.stop();
        a.stopped().await;
        assert!(a.is_stopping() && b.is_stopping());
        assert!(!Stop::never().is_stopping());
    }
}
