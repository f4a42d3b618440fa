//! Waiting for a vendor's asynchronous job (Constant Contact activities, ActiveCampaign bulk
//! imports, Mailchimp batches): poll with a growing interval until it is done or a deadline.

use std::future::Future;
use std::time::{Duration, Instant};

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

/// Calls `check` until it reports [`JobState::Done`], an error, or `policy.max_wait` passes
/// (then a transient error with code `job_pending`: the items may be retried, the writes are
/// idempotent).
pub async fn wait_for<T, F, Fut>(
    vendor: Vendor,
    job: &str,
    policy: &PollPolicy,
    mut check: F,
) -> Result<T, DestinationError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<JobState<T>, DestinationError>>,
{
    let start = Instant::now();
    let mut interval = policy.first;
    loop {
        tokio::time::sleep(interval).await;
        if let JobState::Done(t) = check().await? {
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
        let r = wait_for(Vendor::Mailchimp, "b1", &policy, || {
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

    #[tokio::test(start_paused = true)]
    async fn gives_up_transiently() {
        let policy = PollPolicy {
            first: Duration::from_millis(10),
            max_interval: Duration::from_millis(100),
            max_wait: Duration::from_secs(1),
        };
        let e = wait_for(Vendor::ConstantContact, "a1", &policy, || async {
            Ok::<JobState<()>, _>(JobState::Running)
        })
        .await
        .unwrap_err();
        assert!(e.is_transient());
        assert_eq!(e.code.as_deref(), Some("job_pending"));
    }
}
