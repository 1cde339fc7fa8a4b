//! A TCP server on 127.0.0.1 that answers every request with exactly the bytes it is given,
//! for responses no well-behaved HTTP server would send.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// One canned answer: raw bytes, optionally followed by a stall before the connection closes.
#[derive(Clone, Debug, Default)]
pub struct RawAnswer {
    pub bytes: Vec<u8>,
    pub stall_after: Option<Duration>,
}

impl RawAnswer {
    /// A well-formed HTTP/1.1 response with `Content-Length`.
    pub fn http(status_line: &str, headers: &[(&str, &str)], body: impl Into<Vec<u8>>) -> Self {
        let body = body.into();
        let mut head = format!(
            "HTTP/1.1 {status_line}\r\ncontent-length: {}\r\nconnection: close\r\n",
            body.len()
        );
        for (name, value) in headers {
            head.push_str(&format!("{name}: {value}\r\n"));
        }
        head.push_str("\r\n");
        let mut bytes = head.into_bytes();
        bytes.extend_from_slice(&body);
        Self {
            bytes,
            stall_after: None,
        }
    }

    pub fn json(status_line: &str, body: impl Into<Vec<u8>>) -> Self {
        Self::http(status_line, &[("content-type", "application/json")], body)
    }

    pub fn raw(bytes: impl Into<Vec<u8>>) -> Self {
        Self {
            bytes: bytes.into(),
            stall_after: None,
        }
    }

    /// Sends the bytes, then holds the connection open this long before closing it.
    pub fn stalling(mut self, stall: Duration) -> Self {
        self.stall_after = Some(stall);
        self
    }
}

pub struct RawServer {
    pub base_url: String,
    answer: Arc<Mutex<RawAnswer>>,
    task: tokio::task::JoinHandle<()>,
}

impl RawServer {
    pub async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base_url = format!("http://{}", listener.local_addr().unwrap());
        let answer = Arc::new(Mutex::new(RawAnswer::default()));
        let shared = Arc::clone(&answer);
        let task = tokio::spawn(async move {
            loop {
                let Ok((mut stream, _)) = listener.accept().await else {
                    continue;
                };
                let answer = shared.lock().unwrap().clone();
                tokio::spawn(async move {
                    read_request(&mut stream).await;
                    let _ = stream.write_all(&answer.bytes).await;
                    let _ = stream.flush().await;
                    if let Some(stall) = answer.stall_after {
                        tokio::time::sleep(stall).await;
                    }
                    let _ = stream.shutdown().await;
                });
            }
        });
        Self {
            base_url,
            answer,
            task,
        }
    }

    pub fn answer_with(&self, answer: RawAnswer) {
        *self.answer.lock().unwrap() = answer;
    }
}

impl Drop for RawServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Reads one request: the head, then `Content-Length` bytes of body.
async fn read_request(stream: &mut tokio::net::TcpStream) {
    let mut buffer = Vec::new();
    let mut chunk = [0u8; 8192];
    loop {
        let Ok(read) = stream.read(&mut chunk).await else {
            return;
        };
        if read == 0 {
            return;
        }
        buffer.extend_from_slice(&chunk[..read]);
        if let Some(end) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buffer[..end]).to_ascii_lowercase();
            let length: usize = head
                .lines()
                .find_map(|line| line.strip_prefix("content-length:"))
                .and_then(|v| v.trim().parse().ok())
                .unwrap_or(0);
            while buffer.len() < end + 4 + length {
                let Ok(read) = stream.read(&mut chunk).await else {
                    return;
                };
                if read == 0 {
                    return;
                }
                buffer.extend_from_slice(&chunk[..read]);
            }
            return;
        }
    }
}
