//! `[consent]`: how paysync learns and honours unsubscribes made at the destinations.
//!
//! ```toml
//! [consent]
//! poll_unsubscribes_secs = 60     # how often each destination's change feed is read
//! carry_unsubscribes = false      # true: an unsubscribe at one destination suppresses the
//!                                 # person at every destination
//! ```

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ConsentConfig {
    pub poll_unsubscribes_secs: u64,
    pub carry_unsubscribes: bool,
}

impl Default for ConsentConfig {
    fn default() -> Self {
        ConsentConfig {
            poll_unsubscribes_secs: 60,
            carry_unsubscribes: false,
        }
    }
}
