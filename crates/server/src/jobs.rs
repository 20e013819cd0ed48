//! The background jobs of `osts serve`, registered in one place.
//!
//! Each job is a [`Job`] (one run: a delivery round, an auto-close pass, an embedding sweep)
//! with a [`Schedule`] (an interval, and optionally a signal that starts a run at once).
//! The [`Registry`] runs every job on its own task, records its last successful run and
//! last error ([`JobHealth`], which readiness can read through [`JobsHealth`]), and on
//! shutdown tells every job to stop: a job finishes the work it started and gives back
//! what it had not started (the delivery worker releases the deliveries it claimed); a job
//! still running at the deadline is cancelled and then [`Job::give_back`] settles what it
//! held, so a stop leaves no delivery leased.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use domain::stop::{Stop, StopSignal};
use tokio::sync::Notify;
use tokio::task::{AbortHandle, JoinHandle};

/// One kind of background work.
#[async_trait]
pub trait Job: Send + Sync + 'static {
    /// One run. A long run checks `stop` between units of work and returns early once it
    /// is sent, giving back what it had not started.
    async fn run(&self, stop: &Stop) -> anyhow::Result<()>;

    /// Settles what a run cancelled at the shutdown deadline still holds. Most jobs hold
    /// nothing between statements.
    async fn give_back(&self) -> anyhow::Result<()> {
        Ok(())
    }
}

/// When a job runs: at start, then every `every`, and at once when `wake` is signalled (a
/// signal during a run starts the next run as soon as it ends).
#[derive(Clone)]
pub struct Schedule {
    /// The interval.
    pub every: Duration,
    /// The signal, if the job has one.
    pub wake: Option<Arc<Notify>>,
}

impl Schedule {
    /// Every `every`, with no signal.
    pub fn every(every: Duration) -> Self {
        Self { every, wake: None }
    }

    /// Every `every`, and when `wake` is signalled.
    pub fn woken(every: Duration, wake: Arc<Notify>) -> Self {
        Self { every, wake: Some(wake) }
    }
}

/// How a job has been doing.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct JobHealth {
    /// When its last successful run ended.
    pub last_success: Option<DateTime<Utc>>,
    /// When its last failed run ended, and why.
    pub last_error: Option<(DateTime<Utc>, String)>,
    /// Runs so far, successful or not.
    pub runs: u64,
    /// When the run in progress started, if one is.
    pub running_since: Option<DateTime<Utc>>,
}

impl JobHealth {
    /// Whether the latest run failed.
    pub fn failing(&self) -> bool {
        match (&self.last_error, self.last_success) {
            (Some((failed, _)), Some(succeeded)) => *failed > succeeded,
            (Some(_), None) => true,
            (None, _) => false,
        }
    }

    /// When the last run ended, successful or not.
    pub fn last_run(&self) -> Option<DateTime<Utc>> {
        let failed = self.last_error.as_ref().map(|(at, _)| *at);
        self.last_success.max(failed)
    }
}

/// The longest one run may take before its job counts as stuck. Generous: the first
/// embedding sweep of a large database runs for minutes.
pub const LONGEST_RUN: Duration = Duration::from_secs(60 * 60);

/// How long a job may go without ending a run before it counts as overdue: three of its
/// intervals and a minute (a run that ends, even in failure, shows its loop is alive; failures
/// are reported apart, since they usually mean a dependency is away).
pub fn overdue_after(every: Duration) -> Duration {
    every.saturating_mul(3) + Duration::from_secs(60)
}

/// Whether a job's loop is doing its work, for readiness.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobState {
    /// Its loop runs and its last run ended (or the current one started) recently enough.
    Ok,
    /// Its loop ended (it panicked): it will not run again until a restart.
    Stopped,
    /// No run ended within [`overdue_after`] its interval, or the current one has been going
    /// for longer than [`LONGEST_RUN`].
    Overdue,
}

/// One job as readiness and the metrics see it.
#[derive(Debug, Clone)]
pub struct JobCheck {
    /// The job's registered name.
    pub name: &'static str,
    /// Its interval.
    pub every: Duration,
    /// Whether it is doing its work.
    pub state: JobState,
    /// Its runs so far.
    pub health: JobHealth,
}

/// One registered job: its name, interval, health as its loop updates it, and its task.
struct Tracked {
    name: &'static str,
    every: Duration,
    since: DateTime<Utc>,
    health: Arc<Mutex<JobHealth>>,
    task: AbortHandle,
}

/// The health of every registered job, readable while they run.
#[derive(Clone, Default)]
pub struct JobsHealth(Arc<Mutex<Vec<Tracked>>>);

impl JobsHealth {
    /// Each job's name and health, in registration order.
    pub fn snapshot(&self) -> Vec<(&'static str, JobHealth)> {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .map(|t| (t.name, t.health.lock().unwrap_or_else(PoisonError::into_inner).clone()))
            .collect()
    }

    /// Each job's state at `now`, in registration order.
    pub fn checks(&self, now: DateTime<Utc>) -> Vec<JobCheck> {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .map(|t| {
                let health = t.health.lock().unwrap_or_else(PoisonError::into_inner).clone();
                let state = job_state(&health, t.every, t.since, t.task.is_finished(), now);
                JobCheck { name: t.name, every: t.every, state, health }
            })
            .collect()
    }
}

/// The rule behind [`JobsHealth::checks`].
fn job_state(
    health: &JobHealth,
    every: Duration,
    since: DateTime<Utc>,
    finished: bool,
    now: DateTime<Utc>,
) -> JobState {
    let older_than = |at: DateTime<Utc>, limit: Duration| (now - at).to_std().is_ok_and(|age| age > limit);
    if finished {
        JobState::Stopped
    } else if let Some(started) = health.running_since {
        if older_than(started, LONGEST_RUN) {
            JobState::Overdue
        } else {
            JobState::Ok
        }
    } else if older_than(health.last_run().unwrap_or(since), overdue_after(every)) {
        JobState::Overdue
    } else {
        JobState::Ok
    }
}

struct Entry {
    name: &'static str,
    job: Arc<dyn Job>,
    task: JoinHandle<()>,
}

/// The running jobs.
pub struct Registry {
    signal: StopSignal,
    entries: Vec<Entry>,
    health: JobsHealth,
}

impl Default for Registry {
    fn default() -> Self {
        Self::new()
    }
}

/// What a shutdown did.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Shutdown {
    /// Jobs that stopped by themselves before the deadline.
    pub stopped: Vec<&'static str>,
    /// Jobs cancelled at the deadline (what they held was then given back).
    pub cancelled: Vec<&'static str>,
}

impl Registry {
    /// No jobs yet.
    pub fn new() -> Self {
        let (signal, _) = StopSignal::new();
        Self { signal, entries: Vec::new(), health: JobsHealth::default() }
    }

    /// Starts `job` under `name` on its schedule.
    pub fn spawn(&mut self, name: &'static str, job: Arc<dyn Job>, schedule: Schedule) {
        let health = Arc::new(Mutex::new(JobHealth::default()));
        let every = schedule.every;
        let task = tokio::spawn(run(name, job.clone(), schedule, self.signal.subscribe(), health.clone()));
        let tracked = Tracked { name, every, since: Utc::now(), health, task: task.abort_handle() };
        self.health.0.lock().unwrap_or_else(PoisonError::into_inner).push(tracked);
        self.entries.push(Entry { name, job, task });
    }

    /// A receiver of the stop this registry sends at shutdown.
    pub fn stopping(&self) -> Stop {
        self.signal.subscribe()
    }

    /// The jobs' health, readable while they run.
    pub fn health(&self) -> JobsHealth {
        self.health.clone()
    }

    /// Tells every job to stop and waits up to `grace` in all for them; a job still running
    /// then is cancelled. Every job then gives back what it holds.
    pub async fn shutdown(self, grace: Duration) -> Shutdown {
        self.signal.stop();
        let deadline = tokio::time::Instant::now() + grace;
        let mut report = Shutdown::default();
        for Entry { name, job, mut task } in self.entries {
            if tokio::time::timeout_at(deadline, &mut task).await.is_ok() {
                report.stopped.push(name);
            } else {
                tracing::warn!(job = name, "job did not stop in time; cancelling it");
                task.abort();
                let _ = task.await;
                report.cancelled.push(name);
            }
            if let Err(e) = job.give_back().await {
                tracing::error!(job = name, error = format!("{e:#}"), "job could not give back what it held");
            }
        }
        report
    }
}

/// A job's loop: a run at start, then one per tick or signal, until the stop.
async fn run(name: &'static str, job: Arc<dyn Job>, schedule: Schedule, mut stop: Stop, health: Arc<Mutex<JobHealth>>) {
    let mut tick = tokio::time::interval(schedule.every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let wake = schedule.wake;
    loop {
        tokio::select! {
            biased;
            () = stop.stopped() => break,
            _ = tick.tick() => {}
            () = async {
                match &wake {
                    Some(wake) => wake.notified().await,
                    None => std::future::pending().await,
                }
            } => {}
        }
        health.lock().unwrap_or_else(PoisonError::into_inner).running_since = Some(Utc::now());
        let result = job.run(&stop).await;
        let at = Utc::now();
        let mut h = health.lock().unwrap_or_else(PoisonError::into_inner);
        h.runs += 1;
        h.running_since = None;
        match result {
            Ok(()) => h.last_success = Some(at),
            Err(e) => {
                let error = format!("{e:#}");
                tracing::warn!(job = name, error = %error, "job run failed; retrying at its next run");
                h.last_error = Some((at, error));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    /// Counts its runs (reporting each) and fails the first.
    struct Counter {
        runs: AtomicUsize,
        ran: tokio::sync::mpsc::UnboundedSender<usize>,
    }

    #[async_trait]
    impl Job for Counter {
        async fn run(&self, _: &Stop) -> anyhow::Result<()> {
            let n = self.runs.fetch_add(1, Ordering::SeqCst) + 1;
            self.ran.send(n).ok();
            anyhow::ensure!(n > 1, "the first run fails");
            Ok(())
        }
    }

    #[tokio::test]
    async fn a_job_runs_at_start_and_when_woken_and_reports_its_health() {
        let (tx, mut ran) = tokio::sync::mpsc::unbounded_channel();
        let wake = Arc::new(Notify::new());
        let mut jobs = Registry::new();
        // The interval is an hour: only the signal can explain a prompt second run.
        jobs.spawn(
            "counter",
            Arc::new(Counter { runs: AtomicUsize::new(0), ran: tx }),
            Schedule::woken(Duration::from_secs(3600), wake.clone()),
        );
        assert_eq!(ran.recv().await, Some(1), "a run at start");
        wake.notify_one();
        assert_eq!(ran.recv().await, Some(2), "a run when woken");
        let health = jobs.health();
        let report = jobs.shutdown(Duration::from_secs(30)).await;
        assert_eq!(report, Shutdown { stopped: vec!["counter"], cancelled: vec![] });
        let snapshot = health.snapshot();
        let (name, h) = &snapshot[0];
        assert_eq!((*name, h.runs), ("counter", 2));
        assert!(h.last_error.as_ref().is_some_and(|(_, e)| e == "the first run fails"), "{h:?}");
        assert!(h.last_success.is_some() && !h.failing());
    }

    #[test]
    fn a_job_is_overdue_when_no_run_ended_for_three_intervals_and_a_minute_and_stopped_when_its_loop_ended() {
        let t0 = Utc::now();
        let every = Duration::from_secs(10);
        let secs = chrono::Duration::seconds;
        let never_ran = JobHealth::default();
        assert_eq!(job_state(&never_ran, every, t0, false, t0 + secs(90)), JobState::Ok);
        assert_eq!(job_state(&never_ran, every, t0, false, t0 + secs(91)), JobState::Overdue);
        let failed = JobHealth { last_error: Some((t0 + secs(80), "db away".into())), runs: 3, ..JobHealth::default() };
        assert_eq!(job_state(&failed, every, t0, false, t0 + secs(170)), JobState::Ok, "a failed run is a run");
        assert_eq!(job_state(&failed, every, t0, false, t0 + secs(171)), JobState::Overdue);
        let running = JobHealth { running_since: Some(t0 + secs(10)), ..failed.clone() };
        assert_eq!(job_state(&running, every, t0, false, t0 + secs(3000)), JobState::Ok, "a long first sweep");
        assert_eq!(job_state(&running, every, t0, false, t0 + secs(3611)), JobState::Overdue, "stuck");
        assert_eq!(job_state(&failed, every, t0, true, t0 + secs(81)), JobState::Stopped);
    }

    /// A run that never ends by itself, and what it held.
    struct Stuck {
        started: tokio::sync::mpsc::UnboundedSender<()>,
        given_back: Arc<AtomicUsize>,
    }

    #[async_trait]
    impl Job for Stuck {
        async fn run(&self, _: &Stop) -> anyhow::Result<()> {
            self.started.send(()).ok();
            std::future::pending().await
        }

        async fn give_back(&self) -> anyhow::Result<()> {
            self.given_back.fetch_add(1, Ordering::SeqCst);
            Ok(())
        }
    }

    #[tokio::test]
    async fn a_job_that_does_not_stop_in_time_is_cancelled_and_gives_back_what_it_held() {
        let (tx, mut started) = tokio::sync::mpsc::unbounded_channel();
        let given_back = Arc::new(AtomicUsize::new(0));
        let mut jobs = Registry::new();
        jobs.spawn(
            "stuck",
            Arc::new(Stuck { started: tx, given_back: given_back.clone() }),
            Schedule::every(Duration::from_secs(3600)),
        );
        started.recv().await.expect("the run started");
        let report = jobs.shutdown(Duration::ZERO).await;
        assert_eq!(report, Shutdown { stopped: vec![], cancelled: vec!["stuck"] });
        assert_eq!(given_back.load(Ordering::SeqCst), 1);
    }
}
