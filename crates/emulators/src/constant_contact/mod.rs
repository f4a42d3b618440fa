//! An in-memory Constant Contact (API v3) that behaves as the vendor documents for what paysync
//! uses (shared/specs/API-FACTS.md "Constant Contact v3", the vendor's swagger 3.0.172).
//!
//! - OAuth 2.0 authorization code with PKCE (S256) under `/oauth2/default/v1/{authorize,token}`,
//!   24-hour access tokens, rotating single-use refresh tokens.
//! - `/v3` needs `Authorization: Bearer <access token>` (401 `{"error_key":"unauthorized"}`),
//!   allows 4 requests a second and 10,000 a day per client (429 `throttled` /
//!   `quota_exceeded`); other errors are arrays of `{error_key, error_message}`.
//! - Contacts: `sign_up_form` create-or-update by email, `GET /contacts` with filters and
//!   cursor pages, `GET`/`PUT`/`DELETE /contacts/{id}`; consent states with
//!   `opt_out_source`, and no path re-subscribes a contact who unsubscribed themselves
//!   (every attempt is logged, see `consent` in the state dump).
//! - Lists, tags (unique names), custom fields (≤ 100).
//! - Bulk activities (JSON import, list-membership removal, delete, tag add/remove) that
//!   complete asynchronously, with the documented limits.
//! - Fault injection, a settable clock, request counts per endpoint and a state dump under
//!   `/_admin` (see `admin`).
//!
//! Start one with [`serve_constant_contact`].
//!
//! ## Where the vendor's documents are silent (choices made here)
//!
//! - `sign_up_form` on a contact who unsubscribed themselves: Constant Contact's guide says it
//!   "may" set them back to `explicit`. By default the emulator refuses (200 `updated`, profile
//!   fields applied, still `unsubscribed`, no list added, logged under `consent.refused`);
//!   [`ConstantContactConfig::sign_up_form_resubscribes`] gives the documented behaviour
//!   (logged under `consent.resubscribed`). An opt-out by the account is reversed by
//!   `sign_up_form`, as the swagger's `opt_out_source` text allows.
//! - `PUT` by `update_source: Account` cannot lift a contact's own opt-out (kept, logged as
//!   refused); by `Contact` it can (logged as resubscribed).
//! - Imports never change an existing contact's permission; an unsubscribed contact (either
//!   source) gets its profile fields but no list, counted in `cannot_add_to_list_count`.
//! - Unsubscribing and deleting remove every list membership (tags stay); a deleted contact
//!   is revived by `sign_up_form`, an import or `PUT`, keeping its permission.
//! - Emails match case-insensitively; list, tag and custom-field names are unique
//!   case-insensitively. `cf:<name>` matches the field's `name` (label with blanks as `_`),
//!   case-insensitively; an unknown one is reported in `activity_errors` and the row is
//!   imported without it; over 25 fields, the first 25 are kept (and reported).
//! - Import rows without a valid email count as `correctable_count`, rows with an over-long
//!   property as `error_count`; neither is imported.
//! - Activities apply their effects at once when they complete; how long they take is
//!   [`ActivityTiming`]. More than the queue limit answers 429 with an error array
//!   (`activities.api.queue.full`), distinct from `throttled`/`quota_exceeded`.
//! - Quota and rate are per OAuth client; the quota is checked first; 401s and 429s use none.
//! - `GET /contacts` lists in creation order; the cursor is base64url of the query and the
//!   position (so pages are stable while contacts are added); without `status`, deleted
//!   contacts are left out; `active` = neither deleted nor unsubscribed; `optout_*` match
//!   unsubscribed contacts only.
//! - A reused refresh token is `invalid_grant` at once (Okta's optional grace period is not
//!   emulated, nor is revoking the token family).
//! - Error keys other than `unauthorized`, `throttled` and `quota_exceeded` follow the shape of
//!   the guide's example (`contacts.api.not_found`); Constant Contact does not list them.
//! - 409 on simultaneous modification of one contact is not emulated (requests are
//!   serialized).

mod activities;
mod admin;
mod bulk;
mod config;
mod contacts;
mod emulator;
mod error;
mod ids;
mod model;
mod oauth;
mod params;
mod resources;
mod server;
mod state;
mod time;

pub use config::{
    ACCESS_TOKEN_TTL_SECS, ActivityTiming, ConstantContactConfig, DAILY_QUOTA, IMPORT_MAX_BYTES,
    IMPORT_MAX_CONTACTS, MAX_CUSTOM_FIELDS, MAX_QUEUED_ACTIVITIES, OAuthClient, REQUESTS_PER_SEC,
};
pub use emulator::{ConstantContactEmulator, serve_constant_contact};
pub use ids::pkce_s256;
pub use oauth::TokenPair;
