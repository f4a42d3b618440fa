//! Constant Contact bulk activities: JSON imports, list-membership removal and tag activities,
//! all asynchronous (`GET /activities/{id}`: initialized → processing → completed | cancelled |
//! failed | timed_out), each with its own limits (API-FACTS "Constant Contact v3").

use std::collections::{BTreeSet, HashMap};
use std::time::Instant;

use reqwest::Method;
use serde_json::{Map, Value};

use super::ConstantContact;
use super::VENDOR;
use super::wire::*;
use crate::batching::{BatchLimits, split};
use crate::error::{DestinationError, ErrorKind};

/// `contacts_json_import`: ≤ 40,000 contacts and ≤ 4 MB per request; beyond either the excess
/// is silently dropped, so requests are split below both.
pub const IMPORT_MAX_CONTACTS: usize = 40_000;
pub const IMPORT_MAX_BYTES: usize = 4 * 1024 * 1024;
/// Lists per import, per sign-up, per removal (`list_ids` ≤ 50).
pub const MAX_LISTS: usize = 50;
/// Contacts per removal or tagging activity (`source.contact_ids` ≤ 500).
pub const MAX_ACTIVITY_CONTACTS: usize = 500;
/// Activities per page of `GET /activities` (`limit` ≤ 500).
pub const ACTIVITY_PAGE_MAX: usize = 500;
/// Tags per tagging activity (`tag_ids` ≤ 50).
pub const MAX_ACTIVITY_TAGS: usize = 50;
/// Custom fields per imported contact (≤ 25).
pub const MAX_IMPORT_CUSTOM_FIELDS: usize = 25;

/// An activity's id and end, or why it could not run.
pub type ActivityResult = Result<(String, ActivityEnd), DestinationError>;

/// How an activity ended, for the items it carried.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ActivityEnd {
    /// Completed; the counts of contacts it could not import or add to a list.
    Completed {
        errors: u64,
        cannot_add_to_list: u64,
    },
    /// Failed, cancelled or timed out at the vendor.
    Failed(String),
}

impl ConstantContact {
    /// Starts every activity, then waits for them together: while several are running, one
    /// `GET /activities` (newest first) reads all their states, so a round of imports costs a
    /// few status reads instead of a few per import. Results in the order of `activities`.
    pub(super) async fn run_activities(
        &self,
        activities: Vec<(String, Value)>,
    ) -> Vec<ActivityResult> {
        let mut started: Vec<Result<String, DestinationError>> =
            Vec::with_capacity(activities.len());
        for (path, body) in &activities {
            let answer = match self.http.send_json(Method::POST, path, body).await {
                Ok(response) => response.json::<Activity>(VENDOR, "activity"),
                Err(e) => Err(e),
            };
            started.push(answer.map(|a| a.activity_id));
        }
        let ids: Vec<String> = started
            .iter()
            .filter_map(|s| s.as_ref().ok().cloned())
            .collect();
        let mut ended = self.wait_for_activities(ids).await;
        started
            .into_iter()
            .map(|s| {
                let id = s?;
                let done = ended.remove(&id).unwrap_or_else(|| {
                    Err(DestinationError::transient(
                        VENDOR,
                        format!("activity {id}: no state"),
                    ))
                })?;
                Ok((id, Self::end_of(&done)))
            })
            .collect()
    }

    fn end_of(done: &Activity) -> ActivityEnd {
        if done.state == "completed" {
            ActivityEnd::Completed {
                errors: done.status.error_count,
                cannot_add_to_list: done.status.cannot_add_to_list_count,
            }
        } else {
            ActivityEnd::Failed(format!(
                "activity {} {}: {}",
                done.activity_id,
                done.state,
                done.activity_errors.join("; ")
            ))
        }
    }

    /// Polls until each activity has finished, failed to be read, or the poll policy's deadline
    /// passed (then a transient `job_pending` error: the writes are idempotent and retried).
    async fn wait_for_activities(
        &self,
        ids: Vec<String>,
    ) -> HashMap<String, Result<Activity, DestinationError>> {
        let mut pending: BTreeSet<String> = ids.into_iter().collect();
        let mut ended = HashMap::new();
        let start = Instant::now();
        let mut interval = self.poll.first;
        while !pending.is_empty() {
            tokio::time::sleep(interval).await;
            match self.activity_states(&pending).await {
                Ok(states) => {
                    for a in states.into_iter().filter(Activity::finished) {
                        pending.remove(&a.activity_id);
                        ended.insert(a.activity_id.clone(), Ok(a));
                    }
                }
                Err(e) => {
                    for id in std::mem::take(&mut pending) {
                        ended.insert(id, Err(e.clone()));
                    }
                }
            }
            if start.elapsed() >= self.poll.max_wait {
                for id in std::mem::take(&mut pending) {
                    ended.insert(id.clone(), Err(job_pending(&id, self.poll.max_wait)));
                }
            }
            interval = (interval + interval / 2).min(self.poll.max_interval);
        }
        ended
    }

    /// The current state of these activities: one by one when there is one, else from the
    /// newest page of `GET /activities`, reading singly those that fell off it.
    async fn activity_states(
        &self,
        ids: &BTreeSet<String>,
    ) -> Result<Vec<Activity>, DestinationError> {
        let mut single: Vec<&String> = ids.iter().collect();
        let mut states = Vec::new();
        if ids.len() > 1 {
            // Ours are among the newest; a margin for other clients' activities in between.
            let limit = (ids.len() + 50).min(ACTIVITY_PAGE_MAX);
            let page: ActivityPage = self
                .http
                .get_json("activities", &[("limit", limit.to_string())])
                .await?;
            states = page
                .activities
                .into_iter()
                .filter(|a| ids.contains(&a.activity_id))
                .collect();
            single.retain(|id| !states.iter().any(|a| &a.activity_id == *id));
        }
        for id in single {
            states.push(self.http.get_json(&format!("activities/{id}"), &[]).await?);
        }
        Ok(states)
    }

    /// Imports `rows` (JSON import rows) into `lists`, split by the import limits. Per chunk:
    /// its row indices and how it ended (or the error that stopped it).
    pub(super) async fn import_rows(
        &self,
        groups: &[(Vec<String>, Vec<usize>)],
        rows: &[Map<String, Value>],
    ) -> ImportReport {
        let sizes: Vec<usize> = rows
            .iter()
            .map(|r| serde_json::to_vec(r).map_or(usize::MAX / 2, |b| b.len()))
            .collect();
        let mut oversized = Vec::new();
        let mut chunks = Vec::new();
        let mut bodies = Vec::new();
        for (lists, indices) in groups {
            // `{"import_data":[` … `],"list_ids":[…]}`
            let envelope = 30 + serde_json::to_vec(lists).map_or(0, |b| b.len());
            let plan = split(
                indices,
                |i| sizes[i],
                envelope,
                BatchLimits {
                    max_items: self.import_limits.max_items,
                    max_bytes: self.import_limits.max_bytes,
                },
            );
            oversized.extend(plan.oversized);
            for chunk in plan.chunks {
                let body = JsonImport {
                    import_data: chunk.iter().map(|&i| &rows[i]).collect(),
                    list_ids: lists,
                };
                bodies.push((
                    "activities/contacts_json_import".to_owned(),
                    serde_json::to_value(&body).unwrap_or(Value::Null),
                ));
                chunks.push((lists.clone(), chunk));
            }
        }
        let results = self.run_activities(bodies).await;
        ImportReport {
            oversized,
            chunks: chunks
                .into_iter()
                .zip(results)
                .map(|((lists, chunk), r)| (lists, chunk, r))
                .collect(),
        }
    }

    /// Runs a contact-id activity (`remove_list_memberships`, `contacts_taggings_add|remove`)
    /// over `contact_ids` in chunks of 500, all started before any is waited for. Per chunk:
    /// the positions in `contact_ids` and the result.
    pub(super) async fn contact_activity(
        &self,
        path: &str,
        contact_ids: &[String],
        build: impl Fn(&[String]) -> Value,
    ) -> Vec<(std::ops::Range<usize>, ActivityResult)> {
        let ranges: Vec<std::ops::Range<usize>> = (0..contact_ids.len())
            .step_by(MAX_ACTIVITY_CONTACTS)
            .map(|start| start..(start + MAX_ACTIVITY_CONTACTS).min(contact_ids.len()))
            .collect();
        let bodies = ranges
            .iter()
            .map(|r| (path.to_owned(), build(&contact_ids[r.clone()])))
            .collect();
        ranges
            .into_iter()
            .zip(self.run_activities(bodies).await)
            .collect()
    }
}

fn job_pending(id: &str, waited: std::time::Duration) -> DestinationError {
    let mut e = DestinationError::new(
        VENDOR,
        ErrorKind::Transient,
        format!("activity {id} still running after {waited:?}"),
    );
    e.code = Some("job_pending".to_owned());
    e
}

/// What an import did.
#[derive(Debug)]
pub struct ImportReport {
    /// Rows too large for a request on their own.
    pub oversized: Vec<usize>,
    /// Per request: its lists, its row indices, how it ended.
    pub chunks: Vec<(Vec<String>, Vec<usize>, ActivityResult)>,
}

/// The body of a tagging activity.
pub fn tag_activity_body(contact_ids: &[String], tag_ids: &[String]) -> Value {
    serde_json::to_value(TagActivity {
        source: ContactIdsSource { contact_ids },
        tag_ids,
    })
    .unwrap_or(Value::Null)
}

/// The body of a list-membership removal.
pub fn remove_lists_body(contact_ids: &[String], list_ids: &[String]) -> Value {
    serde_json::to_value(RemoveListMemberships {
        source: ContactIdsSource { contact_ids },
        list_ids,
    })
    .unwrap_or(Value::Null)
}

/// Tag ids in chunks of 50 (one activity per chunk).
pub fn tag_chunks(ids: &BTreeSet<String>) -> Vec<Vec<String>> {
    let ids: Vec<String> = ids.iter().cloned().collect();
    ids.chunks(MAX_ACTIVITY_TAGS)
        .map(<[String]>::to_vec)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies() {
        let ids = vec!["c1".to_owned(), "c2".to_owned()];
        let tags = vec!["t1".to_owned()];
        assert_eq!(
            tag_activity_body(&ids, &tags).to_string(),
            r#"{"source":{"contact_ids":["c1","c2"]},"tag_ids":["t1"]}"#
        );
        assert_eq!(
            remove_lists_body(&ids, &tags).to_string(),
            r#"{"list_ids":["t1"],"source":{"contact_ids":["c1","c2"]}}"#
        );
        let many: BTreeSet<String> = (0..120).map(|i| format!("t{i:03}")).collect();
        assert_eq!(
            tag_chunks(&many).iter().map(Vec::len).collect::<Vec<_>>(),
            vec![50, 50, 20]
        );
    }
}
