//! SMTP transports (lettre, rustls with ring) for alerts and opt-in emails.

use std::time::Duration;

use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, Tokio1Executor};
use paysync_core::config::SmtpServer;
use secrecy::ExposeSecret;

/// A transport to `server`: implicit TLS for smtps://, otherwise STARTTLS whenever the server
/// offers it; credentials when both are configured.
pub fn transport(
    server: &SmtpServer,
) -> Result<AsyncSmtpTransport<Tokio1Executor>, lettre::transport::smtp::Error> {
    // lettre is built without a default TLS provider (ring, as everywhere).
    let _ = rustls::crypto::ring::default_provider().install_default();
    let tls = TlsParameters::new(server.host.clone())?;
    let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&server.host)
        .port(server.port)
        .timeout(Some(Duration::from_secs(20)))
        .tls(if server.implicit_tls {
            Tls::Wrapper(tls)
        } else {
            Tls::Opportunistic(tls)
        });
    if let (Some(user), Some(password)) = (&server.username, &server.password) {
        builder = builder.credentials(Credentials::new(
            user.clone(),
            password.expose_secret().to_owned(),
        ));
    }
    Ok(builder.build())
}
