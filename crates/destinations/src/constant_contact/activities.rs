//! Constant Contact bulk activities: JSON imports, list-membership removal and tag activities,
//! all asynchronous (`GET /activities/{id}`: initialized → processing → completed | cancelled |
//! failed | timed_out), each with its own limits (API-FACTS "Constant Contact v3").

use std::collections::BTreeSet;

use reqwest::Method;
use serde::Serialize;
use serde_json::{Map, Value};

use super::ConstantContact;
use super::VENDOR;
use super::wire::*;
use crate::batching::{BatchLimits, split};
use crate::error::DestinationError;
use crate::poll::{JobState, wait_for};

/// `contacts_json_import`: ≤ 40,000 contacts and ≤ 4 MB per request; beyond either the excess
/// is silently dropped, so requests are split below both.
pub const IMPORT_MAX_CONTACTS: usize = 40_000;
pub const IMPORT_MAX_BYTES: usize = 4 * 1024 * 1024;
/// Lists per import, per sign-up, per removal (`list_ids` ≤ 50).
pub const MAX_LISTS: usize = 50;
/// Contacts per removal or tagging activity (`source.contact_ids` ≤ 500).
pub const MAX_ACTIVITY_CONTACTS: usize = 500;
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
    /// Starts an activity and waits for it.
    pub(super) async fn run_activity<B: Serialize + ?Sized>(
        &self,
        path: &str,
        body: &B,
    ) -> ActivityResult {
        let started: Activity = self
            .http
            .send_json(Method::POST, path, body)
            .await?
            .json(VENDOR, "activity")?;
        let status_path = format!("activities/{}", started.activity_id);
        let done = wait_for(VENDOR, &started.activity_id, &self.poll, || async {
            let a: Activity = self.http.get_json(&status_path, &[]).await?;
            Ok(if a.finished() {
                JobState::Done(a)
            } else {
                JobState::Running
            })
        })
        .await?;
        let end = if done.state == "completed" {
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
        };
        Ok((done.activity_id, end))
    }

    /// Imports `rows` (JSON import rows) into `lists`, split by the import limits. Per chunk:
    /// its row indices and how it ended (or the error that stopped it).
    pub(super) async fn import_rows(
        &self,
        indices: &[usize],
        rows: &[Map<String, Value>],
        lists: &[String],
    ) -> ImportReport {
        let sizes: Vec<usize> = rows
            .iter()
            .map(|r| serde_json::to_vec(r).map_or(usize::MAX / 2, |b| b.len()))
            .collect();
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
        let mut report = ImportReport {
            oversized: plan.oversized,
            chunks: Vec::new(),
        };
        for chunk in plan.chunks {
            let body = JsonImport {
                import_data: chunk.iter().map(|&i| &rows[i]).collect(),
                list_ids: lists,
            };
            let result = self
                .run_activity("activities/contacts_json_import", &body)
                .await;
            report.chunks.push((chunk, result));
        }
        report
    }

    /// Runs a contact-id activity (`remove_list_memberships`, `contacts_taggings_add|remove`)
    /// over `contact_ids` in chunks of 500. Per chunk: the positions in `contact_ids` and the
    /// result.
    pub(super) async fn contact_activity(
        &self,
        path: &str,
        contact_ids: &[String],
        build: impl Fn(&[String]) -> Value,
    ) -> Vec<(std::ops::Range<usize>, ActivityResult)> {
        let mut out = Vec::new();
        let mut start = 0;
        while start < contact_ids.len() {
            let end = (start + MAX_ACTIVITY_CONTACTS).min(contact_ids.len());
            let body = build(&contact_ids[start..end]);
            out.push((start..end, self.run_activity(path, &body).await));
            start = end;
        }
        out
    }
}

/// What an import did.
#[derive(Debug)]
pub struct ImportReport {
    /// Rows too large for a request on their own.
    pub oversized: Vec<usize>,
    pub chunks: Vec<(Vec<usize>, ActivityResult)>,
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
