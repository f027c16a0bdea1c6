//! A fault-injecting HTTP proxy for tests: the i-th generation request gets the i-th fault of its plan
//! (connection reset, stall past the client timeout, garbage SSE, an HTTP error status, an
//! answer held and flushed in bursts), and
//! every request past the plan is forwarded to the real server. One request per connection.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

#[derive(Clone, Debug)]
pub enum Fault {
    /// Pass the request to the real server.
    Forward,
    /// Read the request, then close the connection without a response.
    Reset,
    /// Read the request, then say nothing for this long.
    Stall(Duration),
    /// Answer 200 with a stream that is not JSON.
    Garbage,
    /// Answer with this HTTP status and a JSON error.
    Status(u16),
    /// Pass the request on, but hold the server's answer and flush it once per interval:
    /// tokens arrive in bursts, as from a server whose streaming thread is starved.
    Bursts(Duration),
}

pub struct FaultProxy {
    pub url: String,
    stop: Arc<AtomicBool>,
    port: u16,
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        let _ = TcpStream::connect(("127.0.0.1", self.port)); // wake the accept loop
    }
}

/// Starts the proxy in front of `upstream_port`.
pub fn start(upstream_port: u16, plan: Vec<Fault>) -> FaultProxy {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let stop = Arc::new(AtomicBool::new(false));
    let counter = Arc::new(AtomicUsize::new(0));
    let plan = Arc::new(plan);
    let stop2 = stop.clone();
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            if stop2.load(Ordering::Relaxed) {
                break;
            }
            let Ok(conn) = conn else { continue };
            let (plan, counter) = (plan.clone(), counter.clone());
            std::thread::spawn(move || handle(conn, upstream_port, &plan, &counter));
        }
    });
    FaultProxy {
        url: format!("http://127.0.0.1:{port}"),
        stop,
        port,
    }
}

fn read_request(conn: &mut TcpStream) -> Option<Vec<u8>> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 8192];
    loop {
        let n = conn.read(&mut chunk).ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
            let len: usize = head
                .lines()
                .find_map(|l| {
                    l.strip_prefix("content-length:")
                        .map(|v| v.trim().parse().unwrap_or(0))
                })
                .unwrap_or(0);
            while buf.len() < end + 4 + len {
                let n = conn.read(&mut chunk).ok()?;
                if n == 0 {
                    return None;
                }
                buf.extend_from_slice(&chunk[..n]);
            }
            return Some(buf);
        }
    }
}

/// Sends `request` to the real server, asking it to close after its answer (so this
/// connection ends with it).
fn forward(upstream_port: u16, request: &[u8]) -> Option<TcpStream> {
    let mut up = TcpStream::connect(("127.0.0.1", upstream_port)).ok()?;
    let line_end = request.windows(2).position(|w| w == b"\r\n").unwrap_or(0) + 2;
    let mut fwd = request[..line_end].to_vec();
    fwd.extend_from_slice(b"Connection: close\r\n");
    fwd.extend_from_slice(&request[line_end..]);
    up.write_all(&fwd).ok()?;
    Some(up)
}

fn handle(mut conn: TcpStream, upstream_port: u16, plan: &[Fault], counter: &AtomicUsize) {
    let Some(request) = read_request(&mut conn) else {
        return;
    };
    // Only generation requests take a place in the plan; discovery calls pass through.
    let line = String::from_utf8_lossy(&request[..request.len().min(200)]).to_string();
    let generation = line.starts_with("POST") && line.contains("/completions");
    let fault = if generation {
        let i = counter.fetch_add(1, Ordering::Relaxed);
        plan.get(i).cloned().unwrap_or(Fault::Forward)
    } else {
        Fault::Forward
    };
    match fault {
        Fault::Forward => {
            let Some(mut up) = forward(upstream_port, &request) else {
                return;
            };
            let _ = std::io::copy(&mut up, &mut conn);
        }
        Fault::Bursts(every) => {
            let Some(mut up) = forward(upstream_port, &request) else {
                return;
            };
            let _ = up.set_read_timeout(Some(Duration::from_millis(2)));
            let (mut held, mut buf, mut last) = (Vec::new(), [0u8; 8192], Instant::now());
            loop {
                match up.read(&mut buf) {
                    Ok(0) => break,
                    Ok(n) => held.extend_from_slice(&buf[..n]),
                    Err(e)
                        if matches!(
                            e.kind(),
                            std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                        ) => {}
                    Err(_) => break,
                }
                if last.elapsed() >= every && !held.is_empty() {
                    if conn.write_all(&held).is_err() {
                        return;
                    }
                    held.clear();
                    last = Instant::now();
                }
            }
            let _ = conn.write_all(&held);
        }
        Fault::Reset => {}
        Fault::Stall(d) => std::thread::sleep(d),
        Fault::Garbage => {
            let _ = conn.write_all(
                b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nConnection: close\r\n\r\ndata: {this is not json\n\n",
            );
        }
        Fault::Status(code) => {
            let body = format!("{{\"error\":{{\"code\":{code},\"message\":\"injected\"}}}}");
            let _ = write!(
                conn,
                "HTTP/1.1 {code} Injected\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    }
    let _ = conn.shutdown(Shutdown::Both);
}
