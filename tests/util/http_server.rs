//! A fault-injecting HTTP/1.1 server for tests, on 127.0.0.1 and a free port, plain `std::net`,
//! one thread per connection (so requests really overlap).
//!
//! Each request takes the next [`Reply`] scripted for its path ([`TestServer::route`]), else the
//! next one scripted for any path ([`TestServer::push`]), else the default reply (`200` with
//! `{}`). A reply can answer with a status, headers and a body after a delay, stall without
//! answering (longer than a client's timeout) or drop the connection without a word.
//! [`TestServer::serve_pages`] makes it a paging API (`Link: <…>; rel="next"`). Every request
//! received is recorded (method, target, headers, body, when) for assertions.
//!
//! One copy serves the library's unit tests (`#[path]` from `src/deliver/`) and the integration
//! tests in `tests/`.

#![allow(dead_code, reason = "each test binary uses a part of the server")]
#![allow(
    clippy::unwrap_used,
    reason = "test code: a poisoned lock is a failed test"
)]

use std::collections::{HashMap, VecDeque};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

/// What the server does with one request.
#[derive(Clone, Debug)]
pub enum Reply {
    /// Answer after `delay`.
    Respond {
        status: u16,
        headers: Vec<(String, String)>,
        body: Vec<u8>,
        delay: Duration,
    },
    /// Read the request, then say nothing for this long, then close the connection.
    Stall(Duration),
    /// Read the request, then close the connection without answering.
    Drop,
}

impl Reply {
    /// A response with this status and an empty body.
    pub fn status(status: u16) -> Reply {
        Reply::Respond {
            status,
            headers: Vec::new(),
            body: Vec::new(),
            delay: Duration::ZERO,
        }
    }

    /// A `200` with this JSON text as its body.
    pub fn json(body: &str) -> Reply {
        Reply::status(200)
            .header("Content-Type", "application/json")
            .body(body)
    }

    /// The same reply with one more header.
    pub fn header(mut self, name: &str, value: &str) -> Reply {
        if let Reply::Respond { headers, .. } = &mut self {
            headers.push((name.to_owned(), value.to_owned()));
        }
        self
    }

    /// The same reply with this body.
    pub fn body(mut self, text: impl AsRef<[u8]>) -> Reply {
        if let Reply::Respond { body, .. } = &mut self {
            *body = text.as_ref().to_vec();
        }
        self
    }

    /// The same reply, sent after this delay.
    pub fn delay(mut self, wait: Duration) -> Reply {
        if let Reply::Respond { delay, .. } = &mut self {
            *delay = wait;
        }
        self
    }
}

/// One request as the server received it.
#[derive(Clone, Debug)]
pub struct Recorded {
    pub method: String,
    /// The request target as sent: a path and query (or an absolute URL, through a proxy).
    pub target: String,
    /// Header names lower-cased, values as sent, in order.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// When the whole request had been read.
    pub at: Instant,
}

impl Recorded {
    /// The first value of a header (name in any case).
    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.as_str())
    }

    /// The target's path, without the query.
    pub fn path(&self) -> &str {
        self.target.split('?').next().unwrap_or("")
    }
}

#[derive(Default)]
struct State {
    queue: VecDeque<Reply>,
    routes: HashMap<String, VecDeque<Reply>>,
    /// A reply a route keeps giving once its queue is down to it.
    route_defaults: HashMap<String, Reply>,
    default: Option<Reply>,
    requests: Vec<Recorded>,
}

/// A running test server; stopped when dropped.
pub struct TestServer {
    port: u16,
    state: Arc<Mutex<State>>,
    stop: Arc<AtomicBool>,
    accept: Option<JoinHandle<()>>,
}

impl TestServer {
    /// A server answering `200 {}` to everything until told otherwise.
    pub fn start() -> TestServer {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let state = Arc::new(Mutex::new(State::default()));
        let stop = Arc::new(AtomicBool::new(false));
        let accept = {
            let state = Arc::clone(&state);
            let stop = Arc::clone(&stop);
            thread::spawn(move || {
                for stream in listener.incoming() {
                    if stop.load(Ordering::SeqCst) {
                        break;
                    }
                    let Ok(stream) = stream else { continue };
                    let state = Arc::clone(&state);
                    thread::spawn(move || serve(stream, &state));
                }
            })
        };
        TestServer {
            port,
            state,
            stop,
            accept: Some(accept),
        }
    }

    /// A server giving these replies, in order, to the requests it receives (any path).
    pub fn with_script(replies: impl IntoIterator<Item = Reply>) -> TestServer {
        let server = TestServer::start();
        for reply in replies {
            server.push(reply);
        }
        server
    }

    /// `http://127.0.0.1:PORT` followed by `path` (which starts with `/`).
    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The next reply to a request for any path that has no script of its own.
    pub fn push(&self, reply: Reply) {
        self.state.lock().unwrap().queue.push_back(reply);
    }

    /// The reply once every script is used up.
    pub fn set_default(&self, reply: Reply) {
        self.state.lock().unwrap().default = Some(reply);
    }

    /// Replies, in order, to requests whose target (path and query) is exactly `target`; the
    /// last one keeps being given.
    pub fn route(&self, target: &str, replies: impl IntoIterator<Item = Reply>) {
        let mut replies: VecDeque<Reply> = replies.into_iter().collect();
        let mut state = self.state.lock().unwrap();
        if let Some(last) = replies.pop_back() {
            state.route_defaults.insert(target.to_owned(), last);
        }
        state.routes.insert(target.to_owned(), replies);
    }

    /// A paging API: `/pages/1` … `/pages/N` answer these JSON bodies, each but the last with
    /// a `Link` header to the next page (absolute when `absolute`, else a path). Returns the
    /// first page's URL.
    pub fn serve_pages(&self, pages: &[&str], absolute: bool) -> String {
        for (i, page) in pages.iter().enumerate() {
            let mut reply = Reply::json(page);
            if i + 1 < pages.len() {
                let next = format!("/pages/{}", i + 2);
                let next = if absolute { self.url(&next) } else { next };
                reply = reply.header(
                    "Link",
                    &format!(
                        "<{}?x=1>; rel=\"prev\", <{next}>; rel=\"next\"",
                        self.url("/")
                    ),
                );
            }
            self.route(&format!("/pages/{}", i + 1), [reply]);
        }
        self.url("/pages/1")
    }

    /// Every request received so far, in the order they were read.
    pub fn requests(&self) -> Vec<Recorded> {
        self.state.lock().unwrap().requests.clone()
    }

    fn next_reply(state: &Mutex<State>, target: &str) -> Reply {
        let mut state = state.lock().unwrap();
        if let Some(queue) = state.routes.get_mut(target) {
            if let Some(reply) = queue.pop_front() {
                return reply;
            }
            if let Some(reply) = state.route_defaults.get(target) {
                return reply.clone();
            }
        }
        if let Some(reply) = state.queue.pop_front() {
            return reply;
        }
        state.default.clone().unwrap_or_else(|| Reply::json("{}"))
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the accept loop; connection threads end with their clients.
        let _ = TcpStream::connect(("127.0.0.1", self.port));
        if let Some(accept) = self.accept.take() {
            let _ = accept.join();
        }
    }
}

/// One connection: requests in turn (keep-alive) until the client closes or a reply ends it.
fn serve(stream: TcpStream, state: &Mutex<State>) {
    let Ok(mut writer) = stream.try_clone() else {
        return;
    };
    let mut reader = BufReader::new(stream);
    loop {
        let Some(request) = read_request(&mut reader, &mut writer) else {
            return;
        };
        let target = request.target.clone();
        state.lock().unwrap().requests.push(request);
        match TestServer::next_reply(state, &target) {
            Reply::Drop => {
                let _ = writer.shutdown(Shutdown::Both);
                return;
            }
            Reply::Stall(wait) => {
                thread::sleep(wait);
                let _ = writer.shutdown(Shutdown::Both);
                return;
            }
            Reply::Respond {
                status,
                headers,
                body,
                delay,
            } => {
                thread::sleep(delay);
                let mut head = format!("HTTP/1.1 {status} {}\r\n", reason(status));
                for (name, value) in &headers {
                    head.push_str(&format!("{name}: {value}\r\n"));
                }
                head.push_str(&format!("Content-Length: {}\r\n\r\n", body.len()));
                if writer.write_all(head.as_bytes()).is_err() || writer.write_all(&body).is_err() {
                    return;
                }
                let _ = writer.flush();
            }
        }
    }
}

/// Reads one request; `None` when the client closed the connection or sent nonsense.
fn read_request(reader: &mut BufReader<TcpStream>, writer: &mut TcpStream) -> Option<Recorded> {
    let mut line = String::new();
    if reader.read_line(&mut line).ok()? == 0 {
        return None;
    }
    let mut parts = line.split_whitespace();
    let method = parts.next()?.to_owned();
    let target = parts.next()?.to_owned();
    let mut headers = Vec::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).ok()? == 0 {
            return None;
        }
        let line = line.trim_end_matches(['\r', '\n']);
        if line.is_empty() {
            break;
        }
        let (name, value) = line.split_once(':')?;
        headers.push((name.trim().to_ascii_lowercase(), value.trim().to_owned()));
    }
    let find = |name: &str| {
        headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.clone())
    };
    if find("expect").is_some_and(|v| v.eq_ignore_ascii_case("100-continue")) {
        writer.write_all(b"HTTP/1.1 100 Continue\r\n\r\n").ok()?;
    }
    let mut body = Vec::new();
    if let Some(length) = find("content-length") {
        let length: usize = length.parse().ok()?;
        body.resize(length, 0);
        reader.read_exact(&mut body).ok()?;
    } else if find("transfer-encoding").is_some_and(|v| v.eq_ignore_ascii_case("chunked")) {
        loop {
            let mut size = String::new();
            reader.read_line(&mut size).ok()?;
            let size = usize::from_str_radix(size.trim().split(';').next()?, 16).ok()?;
            let mut chunk = vec![0; size + 2];
            reader.read_exact(&mut chunk).ok()?;
            if size == 0 {
                break;
            }
            body.extend_from_slice(&chunk[..size]);
        }
    }
    Some(Recorded {
        method,
        target,
        headers,
        body,
        at: Instant::now(),
    })
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        201 => "Created",
        202 => "Accepted",
        204 => "No Content",
        301 => "Moved Permanently",
        400 => "Bad Request",
        401 => "Unauthorized",
        404 => "Not Found",
        408 => "Request Timeout",
        422 => "Unprocessable Entity",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        _ => "Status",
    }
}
