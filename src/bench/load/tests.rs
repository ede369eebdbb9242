//! Tests of the load generator against in-process servers (axum, and raw sockets for the
//! behaviours axum does not show: HTTP/1.0 one at a time, chunked bodies in pieces).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
use super::*;
use axum::Router;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::routing::{get, post};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// A server on a raw socket: every accepted connection (Nagle off) is handed to `serve` in its own
/// task, for behaviours axum does not show.
async fn raw_server<F, Fut>(serve: F) -> SocketAddr
where
    F: Fn(tokio::net::TcpStream) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            stream.set_nodelay(true).unwrap();
            tokio::spawn(serve(stream));
        }
    });
    addr
}

/// Reads one request head, up to its blank line: the bytes read, and whether the head is whole
/// (false when the peer closed or failed first; the bytes are empty if it sent nothing).
async fn read_request_head(stream: &mut tokio::net::TcpStream) -> (Vec<u8>, bool) {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 1024];
    while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
        match stream.read(&mut chunk).await {
            Ok(0) | Err(_) => return (buf, false),
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
    (buf, true)
}

async fn slow() -> &'static str {
    tokio::time::sleep(Duration::from_millis(50)).await;
    "slow"
}

/// An in-process server: POST /echo returns the body, GET /hello a greeting, GET /close a
/// greeting with `Connection: close`, GET /slow answers after 50 ms.
async fn server() -> SocketAddr {
    let app = Router::new()
        .route("/echo", post(|body: Bytes| async move { body }))
        .route("/hello", get(|| async { "hello" }))
        .route(
            "/close",
            get(|| async {
                let mut headers = HeaderMap::new();
                headers.insert(header::CONNECTION, HeaderValue::from_static("close"));
                (StatusCode::OK, headers, "bye")
            }),
        )
        .route("/slow", get(slow));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    addr
}

/// POSTs `req-<seq>` to /echo and accepts a reply that starts with `req-` (or, with
/// `accept == false`, rejects every reply).
#[derive(Debug)]
struct Echo {
    accept: bool,
}

impl RequestFactory for Echo {
    fn request(&self, seq: u64) -> LoadRequest {
        LoadRequest::post("/echo", "text/plain", format!("req-{seq}"))
    }
    fn check(&self, status: u16, body: &[u8]) -> bool {
        self.accept && status == 200 && body.starts_with(b"req-")
    }
}

/// GETs a fixed path and accepts any 2xx reply.
#[derive(Debug)]
struct Get(&'static str);

impl RequestFactory for Get {
    fn request(&self, _seq: u64) -> LoadRequest {
        LoadRequest::get(self.0)
    }
    fn check(&self, _status: u16, _body: &[u8]) -> bool {
        true
    }
}

fn config(addr: SocketAddr, mode: LoadMode, connections: usize, millis: u64) -> LoadConfig {
    let mut config = LoadConfig::new(addr, mode);
    config.connections = connections;
    config.warmup = Duration::from_millis(50);
    config.duration = Duration::from_millis(millis);
    config.request_timeout = Duration::from_secs(2);
    config
}

fn assert_ordered(report: &LoadReport) {
    assert!(report.p50 <= report.p90, "{report:?}");
    assert!(report.p90 <= report.p99, "{report:?}");
    assert!(report.p99 <= report.max, "{report:?}");
    assert_eq!(report.samples() as u64, report.requests_ok);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn closed_loop_counts_echoes() {
    let addr = server().await;
    let cfg = config(addr, LoadMode::ClosedLoop, 4, 300);
    let report = run(&cfg, Arc::new(Echo { accept: true })).await.unwrap();
    assert!(report.requests_ok > 0, "{report:?}");
    assert_eq!(report.failed, 0, "{report:?}");
    assert_eq!(report.transport_errors, 0, "{report:?}");
    assert_eq!(report.elapsed, Duration::from_millis(300));
    assert!(report.rate_per_second > 0.0);
    assert!(report.max > Duration::ZERO);
    assert_ordered(&report);
}

/// A keep-alive server that answers every request with `hello world`, chunked, in two
/// writes 1 ms apart (so that the client reads the body in pieces).
async fn chunked_server() -> SocketAddr {
    raw_server(|mut stream| async move {
        loop {
            if !read_request_head(&mut stream).await.1 {
                return;
            }
            let head = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhel";
            if stream.write_all(head).await.is_err() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
            let tail = b"lo\r\n6\r\n world\r\n0\r\n\r\n";
            if stream.write_all(tail).await.is_err() {
                return;
            }
        }
    })
    .await
}

/// GETs `/` and accepts exactly `hello world`.
#[derive(Debug)]
struct HelloWorld;

impl RequestFactory for HelloWorld {
    fn request(&self, _seq: u64) -> LoadRequest {
        LoadRequest::get("/")
    }
    fn check(&self, status: u16, body: &[u8]) -> bool {
        status == 200 && body == b"hello world"
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chunked_replies_read_in_pieces_are_whole() {
    let addr = chunked_server().await;
    let report = run(
        &config(addr, LoadMode::ClosedLoop, 2, 200),
        Arc::new(HelloWorld),
    )
    .await
    .unwrap();
    assert!(report.requests_ok > 0, "{report:?}");
    assert_eq!(report.failed + report.transport_errors, 0, "{report:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn new_connection_per_request_counts_gets() {
    let addr = server().await;
    let cfg = config(addr, LoadMode::NewConnectionPerRequest, 2, 300);
    let report = run(&cfg, Arc::new(Get("/hello"))).await.unwrap();
    assert!(report.requests_ok > 0, "{report:?}");
    assert_eq!(report.failed, 0, "{report:?}");
    assert_eq!(report.transport_errors, 0, "{report:?}");
    assert_ordered(&report);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rejected_replies_and_error_statuses_are_failures() {
    let addr = server().await;
    let cfg = config(addr, LoadMode::ClosedLoop, 2, 200);
    let report = run(&cfg, Arc::new(Echo { accept: false })).await.unwrap();
    assert_eq!(report.requests_ok, 0, "{report:?}");
    assert!(report.failed > 0, "{report:?}");
    assert_eq!(report.p50, Duration::ZERO);

    let report = run(&cfg, Arc::new(Get("/missing"))).await.unwrap();
    assert_eq!(report.requests_ok, 0, "{report:?}");
    assert!(report.failed > 0, "{report:?}");
    assert_eq!(report.transport_errors, 0, "{report:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keep_alive_closed_by_the_server_is_not_an_error() {
    let addr = server().await;
    let cfg = config(addr, LoadMode::ClosedLoop, 2, 200);
    let report = run(&cfg, Arc::new(Get("/close"))).await.unwrap();
    assert!(report.requests_ok > 0, "{report:?}");
    assert_eq!(report.failed, 0, "{report:?}");
    assert_eq!(report.transport_errors, 0, "{report:?}");
}

/// A keep-alive server that answers one request per connection (`200`, empty body, no
/// `Connection: close`) and then resets the connection (SO_LINGER 0) while it is idle.
async fn reset_after_one_server() -> SocketAddr {
    raw_server(|mut stream| async move {
        if !read_request_head(&mut stream).await.1 {
            return;
        }
        let reply = b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";
        if stream.write_all(reply).await.is_err() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
        stream.set_zero_linger().unwrap();
        drop(stream);
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keep_alive_reset_by_the_server_while_idle_is_not_an_error() {
    let addr = reset_after_one_server().await;
    // One request every 20 ms per connection: each connection is reset between two requests.
    let report = run(
        &config(addr, LoadMode::FixedRate { per_second: 100.0 }, 2, 300),
        Arc::new(Get("/")),
    )
    .await
    .unwrap();
    assert!(report.requests_ok >= 10, "{report:?}");
    assert_eq!(report.failed + report.transport_errors, 0, "{report:?}");
    // Closed loop: the next request is already sent when the reset arrives; it is retried on a
    // new connection, as for a FIN.
    let report = run(
        &config(addr, LoadMode::ClosedLoop, 2, 300),
        Arc::new(Get("/")),
    )
    .await
    .unwrap();
    assert!(report.requests_ok >= 10, "{report:?}");
    assert_eq!(report.failed + report.transport_errors, 0, "{report:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fixed_rate_sends_about_the_rate() {
    let addr = server().await;
    let cfg = config(addr, LoadMode::FixedRate { per_second: 200.0 }, 4, 1000);
    let report = run(&cfg, Arc::new(Echo { accept: true })).await.unwrap();
    assert!(
        (120..=260).contains(&report.requests_ok),
        "expected about 200: {report:?}"
    );
    assert_eq!(report.failed, 0, "{report:?}");
    assert_eq!(report.transport_errors, 0, "{report:?}");
    assert_ordered(&report);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fixed_rate_latency_counts_from_the_due_time() {
    // One connection, 100/s due, 50 ms per reply: at most 20/s go out, so requests queue up and
    // their latency must grow far beyond the 50 ms the server spends on each.
    let addr = server().await;
    let cfg = config(addr, LoadMode::FixedRate { per_second: 100.0 }, 1, 500);
    let report = run(&cfg, Arc::new(Get("/slow"))).await.unwrap();
    assert!(report.requests_ok > 0, "{report:?}");
    assert!(report.unsent > 0, "{report:?}");
    assert!(report.max >= Duration::from_millis(200), "{report:?}");
    assert_ordered(&report);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropped_connections_are_counted_and_replaced() {
    // Every other connection is closed without a reply; the others get a minimal answer.
    let accepted = Arc::new(AtomicU64::new(0));
    let addr = raw_server(move |mut stream| {
        let n = accepted.fetch_add(1, Ordering::Relaxed) + 1;
        async move {
            if n.is_multiple_of(2) || !read_request_head(&mut stream).await.1 {
                return;
            }
            let reply = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok";
            let _ = stream.write_all(reply).await;
        }
    })
    .await;
    let cfg = config(addr, LoadMode::NewConnectionPerRequest, 2, 300);
    let report = run(&cfg, Arc::new(Get("/"))).await.unwrap();
    assert!(report.requests_ok > 0, "{report:?}");
    assert!(report.transport_errors > 0, "{report:?}");
    assert_eq!(report.failed, 0, "{report:?}");
}

/// A server shaped like openssl's OCSP responder: one connection at a time, an HTTP/1.0
/// answer with Content-Length, then close. Counts connections closed before a request.
async fn one_at_a_time_server() -> (SocketAddr, Arc<AtomicU64>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let unused = Arc::new(AtomicU64::new(0));
    let counter = unused.clone();
    tokio::spawn(async move {
        loop {
            let Ok((mut stream, _)) = listener.accept().await else {
                return;
            };
            // No other connection is accepted until this one is done.
            let (buf, _) = read_request_head(&mut stream).await;
            if buf.is_empty() {
                counter.fetch_add(1, Ordering::Relaxed);
                continue;
            }
            let reply =
                b"HTTP/1.0 200 OK\r\nContent-type: text/plain\r\nContent-Length: 2\r\n\r\nok";
            let _ = stream.write_all(reply).await;
        }
    });
    (addr, unused)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_one_at_a_time_http_1_0_server_gets_no_unused_connection() {
    let (addr, unused) = one_at_a_time_server().await;
    let cfg = config(addr, LoadMode::NewConnectionPerRequest, 4, 300);
    let report = run(&cfg, Arc::new(Get("/ocsp"))).await.unwrap();
    assert!(report.requests_ok > 0, "{report:?}");
    assert_eq!(report.failed, 0, "{report:?}");
    assert_eq!(report.transport_errors, 0, "{report:?}");
    // Not even the probe connection that checks the server is there.
    assert_eq!(unused.load(Ordering::Relaxed), 0);
}

#[tokio::test]
async fn unreachable_server_is_an_error_at_start() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let cfg = config(addr, LoadMode::ClosedLoop, 2, 100);
    let err = run(&cfg, Arc::new(Get("/"))).await.unwrap_err();
    assert!(matches!(err, LoadError::Connect { .. }), "{err:?}");
    assert!(err.to_string().starts_with("BENCH002 "), "{err}");
}

#[tokio::test]
async fn invalid_configurations_are_rejected() {
    let addr: SocketAddr = "127.0.0.1:9".parse().unwrap();
    let mut cfg = config(addr, LoadMode::ClosedLoop, 0, 100);
    let err = run(&cfg, Arc::new(Get("/"))).await.unwrap_err();
    assert!(err.to_string().starts_with("BENCH001 "), "{err}");
    cfg.connections = 1;
    cfg.mode = LoadMode::FixedRate { per_second: 0.0 };
    assert!(matches!(
        run(&cfg, Arc::new(Get("/"))).await,
        Err(LoadError::InvalidConfig { .. })
    ));
    cfg.mode = LoadMode::ClosedLoop;
    cfg.host = "bad\nhost".to_owned();
    assert!(matches!(
        run(&cfg, Arc::new(Get("/"))).await,
        Err(LoadError::InvalidConfig { .. })
    ));
}

#[tokio::test]
async fn a_target_without_slash_is_an_error() {
    let addr = server().await;
    let cfg = config(addr, LoadMode::ClosedLoop, 1, 100);
    let err = run(&cfg, Arc::new(Get("hello"))).await.unwrap_err();
    assert!(
        matches!(err, LoadError::InvalidRequest { seq: 0, .. }),
        "{err:?}"
    );
}

/// HEAD: its response would announce a body that never comes.
#[derive(Debug)]
struct Head;

impl RequestFactory for Head {
    fn request(&self, _seq: u64) -> LoadRequest {
        let mut request = LoadRequest::get("/hello");
        request.method = Method::HEAD;
        request
    }
    fn check(&self, _status: u16, _body: &[u8]) -> bool {
        true
    }
}

#[tokio::test]
async fn a_head_request_is_an_error_not_a_hang() {
    let addr = server().await;
    let cfg = config(addr, LoadMode::ClosedLoop, 1, 100);
    let err = run(&cfg, Arc::new(Head)).await.unwrap_err();
    assert!(
        matches!(&err, LoadError::InvalidRequest { problem, .. } if problem.contains("HEAD")),
        "{err:?}"
    );
}

#[test]
fn the_run_future_can_be_spawned() {
    fn assert_send<T: Send>(_: &T) {}
    let cfg = LoadConfig::new("127.0.0.1:9".parse().unwrap(), LoadMode::ClosedLoop);
    let future = run(&cfg, Arc::new(Get("/")));
    assert_send(&future);
}

#[test]
fn latency_at_is_nearest_rank() {
    let stats = WorkerStats {
        ok: 10,
        failed: 0,
        transport_errors: 0,
        unsent: 0,
        samples: vec![10, 9, 8, 7, 6, 5, 4, 3, 2, 1],
    };
    let report = LoadReport::new(stats, Duration::from_secs(2));
    assert_eq!(report.rate_per_second, 5.0);
    assert_eq!(report.latency_at(0.0), Duration::from_micros(1));
    assert_eq!(report.p50, Duration::from_micros(5));
    assert_eq!(report.p90, Duration::from_micros(9));
    assert_eq!(report.p99, Duration::from_micros(10));
    assert_eq!(report.max, Duration::from_micros(10));
    assert_eq!(report.latency_at(f64::NAN), Duration::from_micros(1));
    assert_eq!(report.latency_at(7.0), Duration::from_micros(10));
    let empty = LoadReport::new(WorkerStats::with_capacity(0), Duration::from_secs(1));
    assert_eq!(empty.latency_at(0.5), Duration::ZERO);
    assert_eq!(empty.rate_per_second, 0.0);
}
