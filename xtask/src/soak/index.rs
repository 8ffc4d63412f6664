//! A PEP 503 "simple" index over loopback HTTP, so that uv stores `.http` pointers without
//! the internet. Binds `127.0.0.1:0` only, serves `<dir>/simple/<name>/<file>`, and stops
//! when dropped.

use std::io::{BufRead, BufReader, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::{Component, Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use anyhow::{Context, Result};

pub struct Index {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Index {
    pub fn start(dir: &Path) -> Result<Index> {
        let listener =
            TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).context("binding 127.0.0.1:0")?;
        let addr = listener.local_addr().context("the index's address")?;
        let stop = Arc::new(AtomicBool::new(false));
        let root = dir.to_path_buf();
        let flag = Arc::clone(&stop);
        let thread = std::thread::spawn(move || {
            for stream in listener.incoming() {
                if flag.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(stream) = stream else { continue };
                let root = root.clone();
                // One thread per connection: uv keeps idle connections open.
                std::thread::spawn(move || {
                    let _ = serve(&root, stream);
                });
            }
        });
        Ok(Index {
            addr,
            stop,
            thread: Some(thread),
        })
    }

    /// `http://127.0.0.1:PORT/simple`, for `--index-url`.
    pub fn url(&self) -> String {
        format!("http://{}/simple", self.addr)
    }
}

impl Drop for Index {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(self.addr);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn serve(root: &Path, stream: TcpStream) -> std::io::Result<()> {
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut request = String::new();
    reader.read_line(&mut request)?;
    let mut header = String::new();
    while reader.read_line(&mut header)? > 2 {
        header.clear();
    }
    let mut parts = request.split_whitespace();
    let method = parts.next().unwrap_or_default();
    let url_path = parts
        .next()
        .unwrap_or_default()
        .split(['?', '#'])
        .next()
        .unwrap_or_default();
    let (status, body) = match local_path(root, url_path) {
        Some(path) if path.is_dir() => ("200 OK", listing(url_path, &path)),
        Some(path) if path.is_file() => ("200 OK", std::fs::read(&path)?),
        _ => ("404 Not Found", b"not found\n".to_vec()),
    };
    let kind = if url_path.ends_with(".whl") {
        "application/octet-stream"
    } else {
        "text/html"
    };
    let mut stream = stream;
    write!(
        stream,
        "HTTP/1.1 {status}\r\nContent-Type: {kind}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )?;
    if method != "HEAD" {
        stream.write_all(&body)?;
    }
    stream.flush()
}

fn local_path(root: &Path, url_path: &str) -> Option<PathBuf> {
    let relative = Path::new(url_path.trim_start_matches('/'));
    relative
        .components()
        .all(|c| matches!(c, Component::Normal(_)))
        .then(|| root.join(relative))
}

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
        html.push_str(&format!("<a href=\"{base}/{name}\">{name}</a><br/>\n"));
    }
    html.push_str("</body></html>\n");
    html.into_bytes()
}
