//! Bulk activities: asynchronous jobs that move `initialized` → `processing` → `completed`
//! (swagger `ActivityImport`, `ActivityTagging`, …) and are polled with
//! `GET /v3/activities/{id}`. A background task (see `emulator`) advances them on real time;
//! their effects are applied when they complete.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use serde_json::{Map, Value, json};

use super::config::ActivityTiming;
use super::state::{Profile, Selector, State, valid_email};
use super::time::fmt_ms;

/// At most this many `activity_errors` are kept per activity.
const MAX_ERRORS: usize = 100;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    JsonImport,
    RemoveListMemberships,
    ContactDelete,
    TagsAdd,
    TagsRemove,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::JsonImport => "contacts_json_import",
            Self::RemoveListMemberships => "remove_list_memberships",
            Self::ContactDelete => "contact_delete",
            Self::TagsAdd => "contacts_taggings_add",
            Self::TagsRemove => "contacts_taggings_remove",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    Initialized,
    Processing,
    Completed,
}

impl Phase {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Initialized => "initialized",
            Self::Processing => "processing",
            Self::Completed => "completed",
        }
    }
}

/// One row of `import_data`, parsed (lengths are checked when it is processed).
#[derive(Clone, Debug, Default)]
pub struct ImportRow {
    pub email: Option<String>,
    pub profile: Profile,
    /// `cf:<name>` properties, in order.
    pub custom_fields: Vec<(String, String)>,
    /// Properties over their documented maximum length.
    pub too_long: Vec<&'static str>,
}

#[derive(Clone, Debug)]
pub enum Job {
    Import {
        rows: Vec<ImportRow>,
        list_ids: Vec<String>,
    },
    RemoveLists {
        source: Selector,
        exclude: Vec<String>,
        list_ids: Vec<String>,
    },
    Delete {
        source: Selector,
    },
    Tags {
        add: bool,
        source: Selector,
        exclude: Vec<String>,
        tag_ids: Vec<String>,
    },
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counts {
    pub items_total: usize,
    pub items_completed: usize,
    pub person_count: usize,
    pub error_count: usize,
    pub correctable_count: usize,
    pub cannot_add_to_list_count: usize,
    pub list_count: usize,
}

#[derive(Clone, Debug)]
pub struct Activity {
    pub id: String,
    pub kind: Kind,
    pub phase: Phase,
    pub created_ms: i64,
    pub updated_ms: i64,
    pub started_ms: Option<i64>,
    pub completed_ms: Option<i64>,
    pub errors: Vec<String>,
    pub counts: Counts,
    /// Taken when the activity runs.
    pub job: Option<Job>,
    /// When it moves to its next phase.
    pub due: Instant,
    /// Import rows dropped for exceeding 40,000 contacts or 4 MB (admin view only).
    pub dropped: usize,
}

impl Activity {
    pub fn is_done(&self) -> bool {
        self.phase == Phase::Completed
    }

    fn error(&mut self, msg: String) {
        if self.errors.len() < MAX_ERRORS {
            self.errors.push(msg);
        }
    }

    pub fn to_json(&self) -> Value {
        let mut m = Map::new();
        m.insert("activity_id".into(), json!(self.id));
        m.insert("state".into(), json!(self.phase.as_str()));
        if let Some(t) = self.started_ms {
            m.insert("started_at".into(), json!(fmt_ms(t)));
        }
        if let Some(t) = self.completed_ms {
            m.insert("completed_at".into(), json!(fmt_ms(t)));
        }
        m.insert("created_at".into(), json!(fmt_ms(self.created_ms)));
        m.insert("updated_at".into(), json!(fmt_ms(self.updated_ms)));
        let pct = match self.phase {
            Phase::Initialized => 0,
            Phase::Processing => 50,
            Phase::Completed => 100,
        };
        m.insert("percent_done".into(), json!(pct));
        m.insert("activity_errors".into(), json!(self.errors));
        let c = &self.counts;
        let status = match self.kind {
            Kind::JsonImport => json!({
                "items_total_count": c.items_total,
                "items_completed_count": c.items_completed,
                "person_count": c.person_count,
                "error_count": c.error_count,
                "correctable_count": c.correctable_count,
                "cannot_add_to_list_count": c.cannot_add_to_list_count,
            }),
            Kind::RemoveListMemberships => json!({
                "items_total_count": c.items_total,
                "items_completed_count": c.items_completed,
                "list_count": c.list_count,
            }),
            Kind::ContactDelete | Kind::TagsAdd | Kind::TagsRemove => json!({
                "items_total_count": c.items_total,
                "items_completed_count": c.items_completed,
            }),
        };
        m.insert("status".into(), status);
        m.insert(
            "_links".into(),
            json!({"self": {"href": format!("/v3/activities/{}", self.id)}}),
        );
        Value::Object(m)
    }

    /// What `/_admin/state` shows: the API view plus the type and dropped rows.
    pub fn dump(&self) -> Value {
        let mut v = self.to_json();
        v["type"] = json!(self.kind.as_str());
        v["dropped_rows"] = json!(self.dropped);
        v
    }
}

impl State {
    /// Queues a new activity, due to start processing after `timing.initialized_ms`.
    pub fn enqueue(
        &mut self,
        kind: Kind,
        job: Job,
        items: usize,
        dropped: usize,
        timing: ActivityTiming,
        now: i64,
    ) -> &Activity {
        let id = self.new_id();
        let counts = Counts {
            items_total: items,
            list_count: match &job {
                Job::RemoveLists { list_ids, .. } => list_ids.len(),
                _ => 0,
            },
            ..Default::default()
        };
        self.activity_ix.insert(id.clone(), self.activities.len());
        self.activities.push(Activity {
            id,
            kind,
            phase: Phase::Initialized,
            created_ms: now,
            updated_ms: now,
            started_ms: None,
            completed_ms: None,
            errors: Vec::new(),
            counts,
            job: Some(job),
            due: Instant::now() + Duration::from_millis(timing.initialized_ms),
            dropped,
        });
        self.activities.last().expect("pushed")
    }

    /// Moves every activity whose time has come to its next phase (or, with `force`, all of
    /// them straight to completion). Returns when the next one is due.
    pub fn advance_activities(
        &mut self,
        at: Instant,
        now: i64,
        timing: ActivityTiming,
        force: bool,
    ) -> Option<Instant> {
        let mut next: Option<Instant> = None;
        for i in 0..self.activities.len() {
            loop {
                let a = &mut self.activities[i];
                if a.is_done() {
                    break;
                }
                if !force && a.due > at {
                    next = Some(next.map_or(a.due, |n| n.min(a.due)));
                    break;
                }
                match a.phase {
                    Phase::Initialized => {
                        a.phase = Phase::Processing;
                        a.started_ms = Some(now);
                        a.updated_ms = now;
                        let per_item = timing
                            .per_item_us
                            .saturating_mul(a.counts.items_total as u64);
                        a.due = at
                            + Duration::from_millis(timing.processing_ms)
                            + Duration::from_micros(per_item);
                    }
                    Phase::Processing => {
                        self.run(i, now);
                        let a = &mut self.activities[i];
                        a.phase = Phase::Completed;
                        a.completed_ms = Some(now);
                        a.updated_ms = now;
                    }
                    Phase::Completed => {}
                }
            }
        }
        next
    }

    /// Applies activity `i`'s job.
    fn run(&mut self, i: usize, now: i64) {
        let Some(job) = self.activities[i].job.take() else {
            return;
        };
        let mut errors = Vec::new();
        let mut counts = self.activities[i].counts;
        match job {
            Job::Import { rows, list_ids } => {
                let mut missing_fields: HashSet<String> = HashSet::new();
                for (n, row) in rows.iter().enumerate() {
                    counts.items_completed += 1;
                    let Some(email) = row
                        .email
                        .as_deref()
                        .map(str::trim)
                        .filter(|e| !e.is_empty())
                    else {
                        // "does not have minimal contact information": correctable.
                        counts.correctable_count += 1;
                        errors.push(format!("Row {}: no email address.", n + 1));
                        continue;
                    };
                    if !valid_email(email) || email.len() > 50 {
                        counts.correctable_count += 1;
                        errors.push(format!("Row {}: invalid email address {email}.", n + 1));
                        continue;
                    }
                    if !row.too_long.is_empty() {
                        counts.error_count += 1;
                        errors.push(format!(
                            "Row {}: {} exceed the maximum length.",
                            n + 1,
                            row.too_long.join(", ")
                        ));
                        continue;
                    }
                    let mut cfs = Vec::new();
                    for (name, value) in &row.custom_fields {
                        match self.field_by_name(name) {
                            Some(f) => cfs.push((f.id.clone(), value.clone())),
                            None => {
                                if missing_fields.insert(name.to_ascii_lowercase()) {
                                    errors.push(format!(
                                        "Custom field cf:{name} does not exist; its values were not imported."
                                    ));
                                }
                            }
                        }
                    }
                    if cfs.len() > 25 {
                        errors.push(format!(
                            "Row {}: more than 25 custom fields; only the first 25 were imported.",
                            n + 1
                        ));
                        cfs.truncate(25);
                    }
                    let refused =
                        self.import_one(email, &row.profile, &cfs, &list_ids, now, &mut errors);
                    if refused {
                        counts.cannot_add_to_list_count += 1;
                    }
                    counts.person_count += 1;
                }
            }
            Job::RemoveLists {
                source,
                exclude,
                list_ids,
            } => {
                let targets = self.select(&source, &exclude, &mut errors);
                counts.items_total = targets.len();
                for ix in targets {
                    let c = &mut self.contacts[ix];
                    let before = c.lists.len();
                    c.lists.retain(|l| !list_ids.contains(l));
                    if c.lists.len() != before {
                        c.updated_ms = now;
                        c.update_source = super::model::Source::Account;
                    }
                    counts.items_completed += 1;
                }
            }
            Job::Delete { source } => {
                let targets = self.select(&source, &[], &mut errors);
                counts.items_total = targets.len();
                for ix in targets {
                    self.delete_ix(ix, now);
                    counts.items_completed += 1;
                }
            }
            Job::Tags {
                add,
                source,
                exclude,
                tag_ids,
            } => {
                let targets = self.select(&source, &exclude, &mut errors);
                counts.items_total = targets.len();
                for ix in targets {
                    let c = &mut self.contacts[ix];
                    let before = c.tags.clone();
                    if add {
                        for t in &tag_ids {
                            if c.tags.contains(t) {
                                continue;
                            }
                            if c.tags.len() >= super::state::MAX_TAGS_PER_CONTACT {
                                errors.push(format!(
                                    "contact_id {}: a contact can have at most 50 tags.",
                                    c.id
                                ));
                                break;
                            }
                            c.tags.push(t.clone());
                        }
                    } else {
                        c.tags.retain(|t| !tag_ids.contains(t));
                    }
                    if c.tags != before {
                        c.updated_ms = now;
                        c.update_source = super::model::Source::Account;
                    }
                    counts.items_completed += 1;
                }
            }
        }
        let a = &mut self.activities[i];
        a.counts = counts;
        for e in errors {
            a.error(e);
        }
    }
}
