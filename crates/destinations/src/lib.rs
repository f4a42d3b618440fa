//! paysync's destinations: email-marketing platforms behind one [`Destination`] trait.
//!
//! - [`contact`]: the desired contact and the state read back, keyed by a normalised [`Email`].
//! - [`consent`]: the one rule every connector applies — an opted-out contact is never made
//!   subscribed again, whatever the caller asks; refusals are outcomes, not silence.
//! - [`op`]: operations and per-item outcomes (ok / consent-refused / invalid / failed with a
//!   transient, permanent or auth-revoked error).
//! - [`error`]: one error type and the one classification of vendor answers.
//! - Shared behaviour, once: [`http`] (rate limit, connection limit, retries with backoff and
//!   vendor hints, re-authorisation), [`batching`] (split by item and byte limits), [`poll`]
//!   (asynchronous jobs), [`catalog`] (name ↔ id caches).
//! - Connectors: [`constant_contact`], [`activecampaign`], [`mailchimp`]. They know nothing of
//!   each other.

pub mod activecampaign;
pub mod batching;
pub mod catalog;
pub mod consent;
pub mod constant_contact;
pub mod contact;
pub mod destination;
pub mod error;
pub mod http;
pub mod mailchimp;
pub mod metrics;
pub mod op;
pub mod poll;
pub mod timefmt;
pub mod webhooks;

pub use consent::{ConsentDecision, Refusal};
pub use contact::{
    Address, Consent, DesiredContact, Email, InvalidEmail, ListId, OptOutBy, RemoteConsent,
    RemoteContact,
};
pub use destination::{
    Capabilities, Change, ChangeCursor, ChangePage, Destination, FieldInfo, FieldSpec, ListInfo,
    TagInfo,
};
pub use error::{DestinationError, ErrorKind, Vendor};
pub use op::{
    Ack, FieldChange, ItemOutcome, MembershipChange, Op, OutcomeKind, Purchase, PurchaseItem,
    Removal, RemovalKind, TagChange,
};
