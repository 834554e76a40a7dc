//! A real SMTP server on loopback that keeps what it receives, for tests:
//! Confer's lettre client speaks the whole protocol to it (EHLO, MAIL, RCPT,
//! DATA, QUIT). It can be paused, to show that a web response never waits
//! for mail delivery.

use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;
use tokio::sync::{Mutex, Notify, watch};

/// One received message.
#[derive(Clone, Debug)]
pub struct Received {
    pub to: Vec<String>,
    pub data: String,
}

#[derive(Clone)]
pub struct SmtpSink {
    pub port: u16,
    messages: Arc<Mutex<Vec<Received>>>,
    arrived: Arc<Notify>,
    paused: watch::Sender<bool>,
}

impl SmtpSink {
    pub async fn start() -> SmtpSink {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let (paused, _) = watch::channel(false);
        let sink = SmtpSink {
            port,
            messages: Arc::default(),
            arrived: Arc::default(),
            paused,
        };
        let s = sink.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let s = s.clone();
                tokio::spawn(async move {
                    let _ = s.session(stream).await;
                });
            }
        });
        sink
    }

    /// Hold every session before its greeting until `resume`.
    pub fn pause(&self) {
        self.paused.send_replace(true);
    }
    pub fn resume(&self) {
        self.paused.send_replace(false);
    }

    async fn session(&self, stream: tokio::net::TcpStream) -> std::io::Result<()> {
        let mut gate = self.paused.subscribe();
        while *gate.borrow() {
            if gate.changed().await.is_err() {
                break;
            }
        }
        let (read, mut write) = stream.into_split();
        let mut lines = BufReader::new(read).lines();
        write.write_all(b"220 sink.test ESMTP\r\n").await?;
        let mut to = Vec::new();
        while let Some(line) = lines.next_line().await? {
            let upper = line.to_ascii_uppercase();
            if upper.starts_with("EHLO") || upper.starts_with("HELO") {
                write
                    .write_all(b"250-sink.test\r\n250 8BITMIME\r\n")
                    .await?;
            } else if upper.starts_with("MAIL FROM") {
                to.clear();
                write.write_all(b"250 OK\r\n").await?;
            } else if upper.starts_with("RCPT TO") {
                to.push(
                    line[8..]
                        .trim()
                        .trim_start_matches(':')
                        .trim()
                        .trim_matches(['<', '>'])
                        .to_string(),
                );
                write.write_all(b"250 OK\r\n").await?;
            } else if upper == "DATA" {
                write.write_all(b"354 go ahead\r\n").await?;
                let mut data = String::new();
                while let Some(l) = lines.next_line().await? {
                    if l == "." {
                        break;
                    }
                    data.push_str(l.strip_prefix('.').unwrap_or(&l));
                    data.push('\n');
                }
                self.messages.lock().await.push(Received {
                    to: to.clone(),
                    data,
                });
                self.arrived.notify_waiters();
                write.write_all(b"250 queued\r\n").await?;
            } else if upper == "QUIT" {
                write.write_all(b"221 bye\r\n").await?;
                break;
            } else if upper == "RSET" || upper == "NOOP" {
                write.write_all(b"250 OK\r\n").await?;
            } else {
                write.write_all(b"502 not implemented\r\n").await?;
            }
        }
        Ok(())
    }

    pub async fn count(&self) -> usize {
        self.messages.lock().await.len()
    }

    /// Wait (up to 10 s) until at least `n` messages have arrived; returns them all.
    pub async fn wait_for(&self, n: usize) -> Vec<Received> {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            let notified = self.arrived.notified();
            {
                let m = self.messages.lock().await;
                if m.len() >= n {
                    return m.clone();
                }
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                panic!("expected {n} messages, got {}", self.count().await);
            }
        }
    }
}

impl SmtpSink {
    /// Wait for `n` messages in all, then long enough for two more passes of
    /// a scheduler running every second, and check that nothing more came
    /// (a reminder or escalation goes once). Returns them all.
    pub async fn exactly(&self, n: usize) -> Vec<Received> {
        self.wait_for(n).await;
        tokio::time::sleep(Duration::from_millis(2500)).await;
        let all = self.messages.lock().await.clone();
        let summary: Vec<(Vec<String>, String)> = all
            .iter()
            .map(|m| {
                (
                    m.to.clone(),
                    m.body().lines().next().unwrap_or("").to_string(),
                )
            })
            .collect();
        assert_eq!(all.len(), n, "expected exactly {n} messages: {summary:#?}");
        all
    }
}

impl Received {
    /// The 6-digit code from a sign-in message ("... code is 123 456").
    pub fn code(&self) -> String {
        let text = self.body();
        let at = text.find("code is ").expect("message has a code") + "code is ".len();
        text[at..at + 7].replace(' ', "")
    }

    /// The sign-in link's token.
    pub fn link_token(&self) -> String {
        let text = self.body();
        let at = text.find("token=").expect("message has a link") + "token=".len();
        text[at..at + 64].to_string()
    }

    /// The decoded text body (lettre may use quoted-printable).
    pub fn body(&self) -> String {
        let body = self
            .data
            .split_once("\n\n")
            .map_or(self.data.as_str(), |(_, b)| b);
        body.replace("=\n", "").replace("=3D", "=")
    }
}
