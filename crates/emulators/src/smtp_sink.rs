//! A minimal SMTP server on loopback that keeps every message it is given: the mailbox of tests
//! and of the demo. It speaks enough of RFC 5321 for lettre (EHLO/HELO, MAIL, RCPT, DATA with
//! dot-unstuffing, RSET, NOOP, QUIT) and offers no STARTTLS, so clients send in the clear.

use std::sync::{Arc, Mutex};

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;

/// A running sink.
#[derive(Clone)]
pub struct SmtpSink {
    pub port: u16,
    messages: Arc<Mutex<Vec<String>>>,
}

impl SmtpSink {
    /// Every message received so far, raw (headers and body, `\n` line ends).
    pub fn messages(&self) -> Vec<String> {
        self.messages
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    pub fn url(&self) -> String {
        format!("smtp://127.0.0.1:{}", self.port)
    }
}

/// Starts a sink on a free loopback port, on the current Tokio runtime.
pub async fn serve_smtp_sink() -> std::io::Result<SmtpSink> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let port = listener.local_addr()?.port();
    let messages = Arc::new(Mutex::new(Vec::new()));
    let kept = messages.clone();
    tokio::spawn(async move {
        while let Ok((socket, _)) = listener.accept().await {
            tokio::spawn(session(socket, kept.clone()));
        }
    });
    Ok(SmtpSink { port, messages })
}

async fn session(socket: tokio::net::TcpStream, kept: Arc<Mutex<Vec<String>>>) {
    let (read, mut write) = socket.into_split();
    let mut lines = BufReader::new(read).lines();
    if write.write_all(b"220 sink ESMTP\r\n").await.is_err() {
        return;
    }
    let mut data: Option<String> = None;
    while let Ok(Some(line)) = lines.next_line().await {
        if let Some(body) = data.as_mut() {
            if line == "." {
                let message = data.take().unwrap_or_default();
                kept.lock().unwrap_or_else(|e| e.into_inner()).push(message);
                let _ = write.write_all(b"250 queued\r\n").await;
            } else {
                // Dot-stuffing: a leading dot was doubled by the client.
                body.push_str(line.strip_prefix('.').unwrap_or(&line));
                body.push('\n');
            }
            continue;
        }
        let verb = line.get(..4).unwrap_or("").to_ascii_uppercase();
        let reply: &[u8] = match verb.as_str() {
            "EHLO" => b"250-sink\r\n250 8BITMIME\r\n",
            "HELO" | "MAIL" | "RCPT" | "RSET" | "NOOP" => b"250 ok\r\n",
            "DATA" => {
                data = Some(String::new());
                b"354 go ahead\r\n"
            }
            "QUIT" => {
                let _ = write.write_all(b"221 bye\r\n").await;
                return;
            }
            _ => b"502 unknown\r\n",
        };
        if write.write_all(reply).await.is_err() {
            return;
        }
    }
}

/// The text of a message's body, quoted-printable decoded when it says so.
pub fn body_text(message: &str) -> String {
    let message = message.replace("\r\n", "\n");
    let (headers, body) = message.split_once("\n\n").unwrap_or(("", &message));
    if !headers
        .to_ascii_lowercase()
        .contains("content-transfer-encoding: quoted-printable")
    {
        return body.to_owned();
    }
    let joined = body.replace("=\n", "");
    let bytes = joined.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        if bytes[i] == b'='
            && let (Some(Some(h)), Some(Some(l))) = (
                bytes.get(i + 1).map(|b| hex(*b)),
                bytes.get(i + 2).map(|b| hex(*b)),
            )
        {
            out.push((h * 16 + l) as u8);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoted_printable_bodies_decode() {
        let m =
            "Subject: x\nContent-Transfer-Encoding: quoted-printable\n\nhttp://a/b?t=3Dabc=\ndef\n";
        assert_eq!(body_text(m), "http://a/b?t=abcdef\n");
        assert_eq!(body_text("Subject: y\n\nplain\n"), "plain\n");
    }
}
