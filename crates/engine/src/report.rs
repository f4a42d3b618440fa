//! The contacts report (`paysync report`, the dashboard's contacts view and CSV): per person,
//! their Stripe payment facts, the lists and tags each sync gives them, and their consent state
//! at each destination (the cells come from `paysync_core::report`).

use std::collections::{BTreeMap, BTreeSet};

use paysync_core::config::{Config, StripeAccount};
use paysync_core::report::{ConsentState, header, row};
use paysync_store::{Store, StoreError};

use crate::reconcile::profile_of;

/// Person keys read per page.
const PAGE: usize = 500;

/// One account's table: its columns depend on its syncs.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct AccountReport {
    pub account: String,
    pub columns: Vec<String>,
    pub rows: Vec<Vec<String>>,
}

/// The report of `accounts`, one person per row (several customers sharing an email are one).
pub async fn contacts(
    store: &dyn Store,
    config: &Config,
    accounts: &[&StripeAccount],
    now_secs: i64,
) -> Result<Vec<AccountReport>, StoreError> {
    // The newest consent fact per person and destination (the ledger is in id order).
    let mut consent: BTreeMap<String, BTreeMap<String, ConsentState>> = BTreeMap::new();
    for e in store.consent_ledger(None).await? {
        consent
            .entry(e.person)
            .or_default()
            .entry(e.destination)
            .or_default()
            .state = Some(e.state);
    }
    let mut reports = Vec::new();
    for account in accounts {
        let syncs: Vec<_> = config.syncs_of(&account.name).cloned().collect();
        let mut report = AccountReport {
            account: account.name.clone(),
            columns: header(&syncs),
            rows: Vec::new(),
        };
        let mut seen = BTreeSet::new();
        let mut after = String::new();
        loop {
            let keys = store.person_keys(&account.name, &after, PAGE).await?;
            let Some(last) = keys.last() else { break };
            after = last.clone();
            for key in keys {
                let record = store.person(&account.name, &key).await?;
                let email = record.email.clone().unwrap_or_default();
                if !email.is_empty() && !seen.insert(email.clone()) {
                    continue;
                }
                let customers: Vec<String> = record
                    .objects
                    .iter()
                    .filter(|o| o.kind == "customer")
                    .map(|o| o.object_id.clone())
                    .collect();
                let mut states = consent.get(&email).cloned().unwrap_or_default();
                for s in store.suppressions(&email).await? {
                    states.entry(s.destination).or_default().suppressed = true;
                }
                let profile = profile_of(&record);
                report
                    .rows
                    .push(row(&email, &customers, &profile, &syncs, &states, now_secs));
            }
        }
        reports.push(report);
    }
    Ok(reports)
}

impl AccountReport {
    /// The table as CSV, with an `account` column first.
    pub fn csv(&self) -> String {
        let mut out = paysync_core::csv::row(
            &std::iter::once("account".to_owned())
                .chain(self.columns.iter().cloned())
                .collect::<Vec<_>>(),
        );
        for cells in &self.rows {
            out.push_str(&paysync_core::csv::row(
                &std::iter::once(self.account.clone())
                    .chain(cells.iter().cloned())
                    .collect::<Vec<_>>(),
            ));
        }
        out
    }

    /// One JSON object per person, keyed by column (with `account`).
    pub fn objects(&self) -> Vec<serde_json::Value> {
        self.rows
            .iter()
            .map(|cells| {
                let mut object = serde_json::Map::new();
                object.insert("account".into(), self.account.clone().into());
                for (column, cell) in self.columns.iter().zip(cells) {
                    object.insert(column.clone(), cell.clone().into());
                }
                serde_json::Value::Object(object)
            })
            .collect()
    }
}
