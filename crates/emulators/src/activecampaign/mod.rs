//! An in-memory ActiveCampaign API v3 (base `/api/3`) that behaves like ActiveCampaign for what
//! paysync uses (API-FACTS "ActiveCampaign v3"; `specs/activecampaign/…reconstructed.json`,
//! which is reconstructed from the docs — facts taken only from it are marked unconfirmed
//! where they are used).
//!
//! - Contacts: `POST /contact/sync` (create or update by address), `GET /contacts` (`email`,
//!   `listid`, `tagid`, `status`, `filters[updated_after]`…, `limit`/`offset`),
//!   `GET /contacts/{id}` and its `contactLists`, `contactTags`, `fieldValues`.
//! - Lists and memberships: `GET/POST /lists`, `GET /lists/{id}`, `POST /contactLists` (1
//!   subscribed, 2 unsubscribed — re-subscribing IS possible, as in the real API; counted).
//! - Tags: `POST/GET /tags` (`search`, `filters[search][op]`), `POST /contactTags`,
//!   `DELETE /contactTags/{id}`.
//! - Custom fields: `GET/POST /fields`, `POST /fieldRels`, `POST /fieldValues` (multi-select
//!   `||a||b||`).
//! - Bulk import: `POST /import/bulk_import` (≤ 250 contacts, < 400,000 bytes, 100
//!   multi-contact requests a minute), applied asynchronously; `GET /import/info?batchId=`.
//! - Deep Data: `/connections`, `/ecomCustomers`, `/ecomOrders` with the documented required
//!   fields.
//! - `Api-Token` auth (403), 5 requests a second per account (429), ActiveCampaign's error
//!   bodies, fault injection, and `/_admin/*` to inspect and drive it.
//!
//! Start one with [`serve_activecampaign`].

mod admin;
mod config;
mod emulator;
mod error;
mod import;
mod model;
mod ops;
mod server;

pub use config::{
    ACCOUNT_RATE, ActiveCampaignConfig, IMPORT_MAX_BYTES, IMPORT_MAX_CONTACTS,
    IMPORT_MULTI_PER_MINUTE, IMPORT_SINGLE_PER_MINUTE,
};
pub use emulator::{ActiveCampaignEmulator, AdminError, serve_activecampaign};
pub use error::AcError;
