//! `[consent]`: how paysync learns and honours unsubscribes made at the destinations.
//!
//! ```toml
//! [consent]
//! poll_unsubscribes_secs = 300    # how often each destination's change feed is read; by
//!                                 # default 15 minutes for Constant Contact (each read counts
//!                                 # against its 10,000 requests a day), 5 for the others
//!                                 # (their webhooks are faster; polling is the fallback)
//! carry_unsubscribes = false      # true: an unsubscribe at one destination suppresses the
//!                                 # person at every destination
//! ```

use serde::{Deserialize, Serialize};

use super::DestinationKind;

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ConsentConfig {
    /// `None`: each vendor's default ([`ConsentConfig::poll_secs`]).
    pub poll_unsubscribes_secs: Option<u64>,
    pub carry_unsubscribes: bool,
}

impl ConsentConfig {
    /// How often a destination's unsubscribes are read.
    pub fn poll_secs(&self, kind: &DestinationKind) -> u64 {
        self.poll_unsubscribes_secs.unwrap_or(match kind {
            DestinationKind::ConstantContact { .. } => 900,
            DestinationKind::ActiveCampaign { .. } | DestinationKind::Mailchimp { .. } => 300,
        })
    }
}
