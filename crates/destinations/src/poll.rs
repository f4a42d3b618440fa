//! Waiting for a vendor's asynchronous job (Constant Contact activities, ActiveCampaign bulk
//! imports, Mailchimp batches): poll with a growing interval until it is done or a deadline.

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

// Tokio's clock: real time in use, and paused time in tests.
use tokio::time::Instant;

use crate::error::{DestinationError, ErrorKind, Vendor};

/// How to poll.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PollPolicy {
    /// Wait before the first status read.
    pub first: Duration,
    /// The interval grows by half each time up to this.
    pub max_interval: Duration,
    /// Give up after this long; the job goes on at the vendor.
    pub max_wait: Duration,
}

impl Default for PollPolicy {
    fn default() -> Self {
        PollPolicy {
            first: Duration::from_millis(250),
            max_interval: Duration::from_secs(5),
            max_wait: crate::destination::DEFAULT_JOB_WAIT,
        }
    }
}

/// One status read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JobState<T> {
    Done(T),
    Running,
}

/// How long a connector's jobs of about each size took, so that the first status read comes
/// when a job like it is likely done (status reads cost requests from the same rate limit as
/// writes). Sizes are bucketed by powers of two; each bucket keeps a moving average.
#[derive(Debug, Default)]
pub struct JobTimer {
    buckets: [AtomicU64; 18],
}

impl JobTimer {
    fn bucket(items: usize) -> usize {
        (usize::BITS - items.max(1).leading_zeros()) as usize % 18
    }

    /// The usual time to completion of a job of `items`, once one was seen.
    pub fn expected(&self, items: usize) -> Option<Duration> {
        match self.buckets[Self::bucket(items)].load(Ordering::Relaxed) {
            0 => None,
            ms => Some(Duration::from_millis(ms)),
        }
    }

    /// A job of `items` was seen done `took` after it started. (It finished at most then: the
    /// average settles just above the real time, so the first read rarely comes too early.)
    pub fn record(&self, items: usize, took: Duration) {
        let took = u64::try_from(took.as_millis()).unwrap_or(u64::MAX).max(1);
        let slot = &self.buckets[Self::bucket(items)];
        let old = slot.load(Ordering::Relaxed);
        let new = if old == 0 { took } else { (3 * old + took) / 4 };
        slot.store(new, Ordering::Relaxed);
    }
}

/// Calls `check` until it reports [`JobState::Done`], an error, or `policy.max_wait` passes
/// (then a transient error with code `job_pending`: the items may be retried, the writes are
/// idempotent). With `timing` (the connector's timer and the job's size) the first read waits
/// for the usual completion time of such jobs, and the time taken is learnt.
pub async fn wait_for<T, F, Fut>(
    vendor: Vendor,
    job: &str,
    policy: &PollPolicy,
    timing: Option<(&JobTimer, usize)>,
    mut check: F,
) -> Result<T, DestinationError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<JobState<T>, DestinationError>>,
{
    let start = Instant::now();
    let mut interval = timing
        .and_then(|(timer, items)| timer.expected(items))
        .map_or(policy.first, |d| d.clamp(policy.first, policy.max_interval));
    loop {
        tokio::time::sleep(interval).await;
        if let JobState::Done(t) = check().await? {
            if let Some((timer, items)) = timing {
                timer.record(items, start.elapsed());
            }
            return Ok(t);
        }
        if start.elapsed() >= policy.max_wait {
            let mut e = DestinationError::new(
                vendor,
                ErrorKind::Transient,
                format!("job {job} still running after {:?}", policy.max_wait),
            );
            e.code = Some("job_pending".to_owned());
            return Err(e);
        }
        interval = (interval + interval / 2).min(policy.max_interval);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn polls_until_done() {
        let mut n = 0;
        let policy = PollPolicy::default();
        let r = wait_for(Vendor::Mailchimp, "b1", &policy, None, || {
            n += 1;
            let done = n >= 3;
            async move {
                Ok(if done {
                    JobState::Done(n)
                } else {
                    JobState::Running
                })
            }
        })
        .await
        .unwrap();
        assert_eq!(r, 3);
    }

    /// Reads taken by a job of 300 items that takes 2 s.
    async fn reads_for_a_two_second_job(timer: &JobTimer) -> u32 {
        let start = tokio::time::Instant::now();
        let mut reads = 0;
        let policy = PollPolicy::default();
        wait_for(Vendor::Mailchimp, "b", &policy, Some((timer, 300)), || {
            reads += 1;
            let done = start.elapsed() >= Duration::from_secs(2);
            async move {
                Ok(if done {
                    JobState::Done(())
                } else {
                    JobState::Running
                })
            }
        })
        .await
        .unwrap();
        reads
    }

    #[tokio::test(start_paused = true)]
    async fn learns_how_long_jobs_take() {
        let timer = JobTimer::default();
        assert_eq!(timer.expected(300), None);
        // Polled at 250, 625, 1187 and 2031 ms the first time…
        assert_eq!(reads_for_a_two_second_job(&timer).await, 4);
        // …then the first read waits for the usual time.
        assert_eq!(reads_for_a_two_second_job(&timer).await, 1);
        assert!(timer.expected(257).is_some(), "same size bucket");
        assert_eq!(timer.expected(3), None, "another size");
    }

    #[tokio::test(start_paused = true)]
    async fn gives_up_transiently() {
        let policy = PollPolicy {
            first: Duration::from_millis(10),
            max_interval: Duration::from_millis(100),
            max_wait: Duration::from_secs(1),
        };
        let e = wait_for(Vendor::ConstantContact, "a1", &policy, None, || async {
            Ok::<JobState<()>, _>(JobState::Running)
        })
        .await
        .unwrap_err();
        assert!(e.is_transient());
        assert_eq!(e.code.as_deref(), Some("job_pending"));
    }
}
