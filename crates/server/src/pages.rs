//! The HTML pages: the login form and the dashboard shell (its data comes from the management
//! API, read by `assets/dashboard.js`). Served with a strict Content-Security-Policy: no inline
//! script, nothing from elsewhere.

use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};

const LOGIN: &str = include_str!("../assets/login.html");
const DASHBOARD: &str = include_str!("../assets/dashboard.html");
pub(crate) const SCRIPT: &str = include_str!("../assets/dashboard.js");
pub(crate) const STYLE: &str = include_str!("../assets/dashboard.css");
pub(crate) const ICON: &str = include_str!("../assets/icon.svg");

const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; \
                   connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

fn html(status: StatusCode, body: String) -> Response {
    (
        status,
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CONTENT_SECURITY_POLICY, CSP),
            (header::X_FRAME_OPTIONS, "DENY"),
            // Not `no-referrer`: with it browsers send `Origin: null` on form posts, which the
            // login's same-origin check must refuse.
            (header::REFERRER_POLICY, "same-origin"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        body,
    )
        .into_response()
}

/// Text for an HTML element's content or a quoted attribute.
pub(crate) fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

pub(crate) fn login(status: StatusCode, problem: Option<&str>) -> Response {
    let problem = problem
        .map(|p| format!(r#"<p class="problem" role="alert">{}</p>"#, escape(p)))
        .unwrap_or_default();
    html(status, LOGIN.replace("{{problem}}", &problem))
}

pub(crate) fn dashboard(username: &str, csrf: &str) -> Response {
    html(
        StatusCode::OK,
        DASHBOARD
            .replace("{{username}}", &escape(username))
            .replace("{{csrf}}", &escape(csrf)),
    )
}

/// A page with a title and a message (HTML, escaped by the caller).
pub(crate) fn message(status: StatusCode, title: &str, body: &str) -> Response {
    html(
        status,
        format!(
            "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" \
             content=\"width=device-width, initial-scale=1\"><title>{title}</title><link rel=\"icon\" href=\"/assets/icon.svg\"><link rel=\"stylesheet\" \
             href=\"/assets/dashboard.css\"></head><body class=\"message\"><main><h1>{title}</h1>{body}</main></body></html>",
            title = escape(title)
        ),
    )
}

/// A static asset of the dashboard.
pub(crate) fn asset(content_type: &'static str, body: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        body,
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    #[test]
    fn escapes_markup() {
        assert_eq!(
            super::escape(r#"<a href="x">'&'</a>"#),
            "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;"
        );
    }
}
