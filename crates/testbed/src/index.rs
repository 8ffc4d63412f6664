//! A minimal PEP 503 "simple" index over loopback HTTP.
//!
//! uv stores wheels that came from an index with a `.http` pointer (msgpack plus an HTTP
//! cache policy), and from `--find-links` with a `.rev` pointer. The pruner must read both,
//! so the scenarios need a real index; this one serves a directory laid out as
//! `simple/<name>/<file>.whl`, answers directories with a page of links, binds
//! `127.0.0.1:0` only, and stops when dropped.

use std::io::{BufRead, BufReader, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::{Component, Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

/// A running index; `url()` is what `--index-url` wants.
pub struct IndexServer {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl IndexServer {
    /// Serves `dir` (which holds `simple/`) until the returned value is dropped; panics
    /// when it cannot listen (for the tests).
    pub fn start(dir: &Path) -> IndexServer {
        Self::try_start(dir).unwrap_or_else(|e| panic!("start the index server: {e}"))
    }

    /// Like [`IndexServer::start`], with the error instead of a panic (for the soak).
    pub fn try_start(dir: &Path) -> std::io::Result<IndexServer> {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?;
        let addr = listener.local_addr()?;
        let stop = Arc::new(AtomicBool::new(false));
        let root = dir.to_path_buf();
        let thread = {
            let stop = Arc::clone(&stop);
            std::thread::spawn(move || {
                for stream in listener.incoming() {
                    if stop.load(Ordering::SeqCst) {
                        break;
                    }
                    let Ok(stream) = stream else { continue };
                    let root = root.clone();
                    // One thread per connection: uv opens several at once and may keep one
                    // idle, which must not stall the others.
                    std::thread::spawn(move || {
                        let _ = serve(&root, stream);
                    });
                }
            })
        };
        Ok(IndexServer {
            addr,
            stop,
            thread: Some(thread),
        })
    }

    /// `http://127.0.0.1:PORT/simple`.
    pub fn url(&self) -> String {
        format!("http://{}/simple", self.addr)
    }
}

impl Drop for IndexServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the blocking accept so the loop sees the flag.
        let _ = TcpStream::connect(self.addr);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Answers one request (GET or HEAD) and closes the connection.
fn serve(root: &Path, stream: TcpStream) -> std::io::Result<()> {
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut request_line = String::new();
    reader.read_line(&mut request_line)?;
    // Drain the headers; nothing in them changes the answer.
    let mut header = String::new();
    while reader.read_line(&mut header)? > 2 {
        header.clear();
    }
    let mut parts = request_line.split_whitespace();
    let method = parts.next().unwrap_or_default();
    let target = parts.next().unwrap_or_default();
    let url_path = target.split(['?', '#']).next().unwrap_or_default();

    let (status, content_type, body) = match local_path(root, url_path) {
        Some(path) if path.is_dir() => ("200 OK", "text/html", listing(url_path, &path)),
        Some(path) if path.is_file() => {
            ("200 OK", "application/octet-stream", std::fs::read(&path)?)
        }
        _ => ("404 Not Found", "text/plain", b"not found\n".to_vec()),
    };
    let mut stream = stream;
    write!(
        stream,
        "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )?;
    if method != "HEAD" {
        stream.write_all(&body)?;
    }
    stream.flush()
}

/// The file under `root` a URL path names, refusing anything that climbs out of it.
fn local_path(root: &Path, url_path: &str) -> Option<PathBuf> {
    let relative = Path::new(url_path.trim_start_matches('/'));
    relative
        .components()
        .all(|c| matches!(c, Component::Normal(_)))
        .then(|| root.join(relative))
}

/// An HTML page linking every entry of `dir`. Links are absolute paths, so they resolve
/// the same whether or not the client asked with a trailing slash.
fn listing(url_path: &str, dir: &Path) -> Vec<u8> {
    let base = url_path.trim_end_matches('/');
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    let mut html = String::from("<!DOCTYPE html>\n<html><body>\n");
    for name in names {
        // A `<file>.sha256` sidecar (a test of `uv.lock` hashes writes one) publishes the file's digest the
        // way PyPI does, as a URL fragment, so that uv records it in `uv.lock`.
        let fragment = std::fs::read_to_string(dir.join(format!("{name}.sha256")))
            .map(|hex| format!("#sha256={}", hex.trim()))
            .unwrap_or_default();
        html.push_str(&format!(
            "<a href=\"{base}/{name}{fragment}\">{name}</a><br/>\n"
        ));
    }
    html.push_str("</body></html>\n");
    html.into_bytes()
}
