//! The public listener's dispatch: one hot endpoint answered without the router, everything else
//! through it.
//!
//! Every POST /tsa went through axum's route lookup, a boxed and cloned route service, the
//! metrics middleware's boxed future and the extractors' copies of the state: about 7% of the
//! CPU of a P-256 time-stamping load, more than the writev that sends the token (see
//! docs/BENCHMARKS.md). A [`DirectRoute`] is matched on its exact method and path before the
//! router, and keeps what the router's layers give every request: the body limit (413), the
//! request timeout (503) and a DEBUG span.

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::http::header::CONTENT_LENGTH;
use axum::http::{HeaderMap, Method, Request, StatusCode};
use axum::response::{IntoResponse, Response};
use hyper::body::Incoming;
use tower::ServiceExt as _;
use tracing::Instrument as _;

/// What a [`DirectRoute`]'s handler gets: the request's headers, its whole body (within the
/// listener's limit) and the client's address.
#[derive(Debug)]
pub struct DirectRequest {
    pub headers: HeaderMap,
    pub body: Bytes,
    pub peer: SocketAddr,
}

type Handler =
    dyn Fn(DirectRequest) -> Pin<Box<dyn Future<Output = Response> + Send>> + Send + Sync;

/// An endpoint of the public listener answered before (and without) the router.
#[derive(Clone)]
pub struct DirectRoute {
    method: Method,
    path: &'static str,
    handler: Arc<Handler>,
}

impl std::fmt::Debug for DirectRoute {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DirectRoute")
            .field("method", &self.method)
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl DirectRoute {
    /// POST requests to exactly `path` (query ignored) go to `handler`; other methods on the
    /// path still go to the router (which answers 405 where it should).
    pub fn post<F, Fut>(path: &'static str, handler: F) -> Self
    where
        F: Fn(DirectRequest) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Response> + Send + 'static,
    {
        Self {
            method: Method::POST,
            path,
            handler: Arc::new(move |request| Box::pin(handler(request))),
        }
    }

    fn matches<B>(&self, request: &Request<B>) -> bool {
        request.method() == self.method && request.uri().path() == self.path
    }
}

/// A direct route with the listener's limits.
#[derive(Debug)]
pub(super) struct DirectEndpoint {
    pub(super) route: DirectRoute,
    pub(super) max_body: usize,
    pub(super) timeout: Duration,
}

/// What one connection answers with: the direct route, if any, then the router.
#[derive(Debug, Clone)]
pub(super) struct Dispatch {
    pub(super) router: Router,
    pub(super) direct: Option<Arc<DirectEndpoint>>,
}

impl Dispatch {
    pub(super) async fn answer(
        &self,
        mut request: Request<Incoming>,
        peer: SocketAddr,
    ) -> Response {
        if let Some(endpoint) = self.direct.as_ref().filter(|e| e.route.matches(&request)) {
            return endpoint.answer(request, peer).await;
        }
        // Handlers that record the client (the TSA) read its address from the request.
        request
            .extensions_mut()
            .insert(axum::extract::ConnectInfo(peer));
        match self.router.clone().oneshot(request).await {
            Ok(response) => response,
            Err(infallible) => match infallible {},
        }
    }
}

impl DirectEndpoint {
    async fn answer(&self, request: Request<Incoming>, peer: SocketAddr) -> Response {
        let span = tracing::debug_span!(
            "request",
            method = %request.method(),
            uri = %request.uri(),
            version = ?request.version(),
        );
        let started = Instant::now();
        let response = match tokio::time::timeout(self.timeout, self.read_and_handle(request, peer))
            .instrument(span.clone())
            .await
        {
            Ok(response) => response,
            Err(_elapsed) => {
                // The router's trace layer reports its 5xx answers likewise.
                span.in_scope(|| {
                    tracing::error!(
                        timeout_ms = u64::try_from(self.timeout.as_millis()).unwrap_or(u64::MAX),
                        "request timed out; answered 503"
                    );
                });
                StatusCode::SERVICE_UNAVAILABLE.into_response()
            }
        };
        span.in_scope(|| {
            tracing::debug!(
                status = response.status().as_u16(),
                latency_us = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX),
                "finished processing request"
            );
        });
        response
    }

    async fn read_and_handle(&self, request: Request<Incoming>, peer: SocketAddr) -> Response {
        let (parts, body) = request.into_parts();
        // Refused from its announced length without reading it, as the router's limit layer does.
        let announced = parts
            .headers
            .get(CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        if announced.is_some_and(|len| len > self.max_body as u64) {
            return too_large();
        }
        let body = match read_body(body, self.max_body).await {
            Ok(body) => body,
            Err(BodyError::TooLarge) => return too_large(),
            Err(BodyError::Read(error)) => {
                // The client went away mid-body, or sent a broken chunked encoding.
                tracing::debug!(%error, "request body not read");
                return (StatusCode::BAD_REQUEST, "Failed to buffer the request body")
                    .into_response();
            }
        };
        (self.route.handler)(DirectRequest {
            headers: parts.headers,
            body,
            peer,
        })
        .await
    }
}

fn too_large() -> Response {
    (StatusCode::PAYLOAD_TOO_LARGE, "length limit exceeded").into_response()
}

enum BodyError {
    TooLarge,
    Read(hyper::Error),
}

/// The whole body, at most `max` bytes. A body that arrives in one frame (the usual case: a
/// request of a few hundred bytes) is returned as that frame, without a copy.
async fn read_body(mut body: Incoming, max: usize) -> Result<Bytes, BodyError> {
    use hyper::body::Body as _;
    let mut first: Option<Bytes> = None;
    let mut joined: Option<Vec<u8>> = None;
    while let Some(frame) = std::future::poll_fn(|cx| Pin::new(&mut body).poll_frame(cx)).await {
        let Ok(data) = frame.map_err(BodyError::Read)?.into_data() else {
            continue; // trailers
        };
        let so_far = joined
            .as_ref()
            .map_or_else(|| first.as_ref().map_or(0, Bytes::len), Vec::len);
        if so_far + data.len() > max {
            return Err(BodyError::TooLarge);
        }
        match (&mut joined, first.take()) {
            (Some(buffer), _) => buffer.extend_from_slice(&data),
            (None, None) => first = Some(data),
            (None, Some(previous)) => {
                let mut buffer = Vec::with_capacity(previous.len() + data.len());
                buffer.extend_from_slice(&previous);
                buffer.extend_from_slice(&data);
                joined = Some(buffer);
            }
        }
    }
    Ok(joined.map_or_else(|| first.unwrap_or_default(), Bytes::from))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use super::*;
    use axum::routing::get;
    use hyper_util::rt::TokioIo;
    use std::io::{Read, Write};

    /// A dispatch whose direct route (POST /direct) answers with the body's length and the
    /// client's port; the router answers GET /direct and GET /peer.
    fn dispatch(max_body: usize, timeout: Duration) -> Dispatch {
        let route = DirectRoute::post("/direct", |request: DirectRequest| async move {
            if request.body.as_ref() == b"slow" {
                tokio::time::sleep(Duration::from_secs(30)).await;
            }
            format!("direct {} {}", request.body.len(), request.peer.port()).into_response()
        });
        let router =
            Router::new()
                .route("/direct", get(|| async { "router" }))
                .route(
                    "/peer",
                    get(
                        |axum::extract::ConnectInfo(peer): axum::extract::ConnectInfo<
                            SocketAddr,
                        >| async move { format!("router {}", peer.port()) },
                    ),
                );
        Dispatch {
            router,
            direct: Some(Arc::new(DirectEndpoint {
                route,
                max_body,
                timeout,
            })),
        }
    }

    /// Serves one connection with `dispatch` and sends `raw` on it; returns everything the server
    /// wrote until it closed (the requests say `Connection: close`).
    async fn exchange(dispatch: Dispatch, raw: Vec<u8>) -> String {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = tokio::spawn(async move {
            let (stream, peer) = listener.accept().await.unwrap();
            let service = hyper::service::service_fn(move |request| {
                let dispatch = dispatch.clone();
                async move { Ok::<_, std::convert::Infallible>(dispatch.answer(request, peer).await) }
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
        let client = tokio::task::spawn_blocking(move || {
            let mut socket = std::net::TcpStream::connect(addr).unwrap();
            socket
                .set_read_timeout(Some(Duration::from_secs(20)))
                .unwrap();
            let port = socket.local_addr().unwrap().port();
            socket.write_all(&raw).unwrap();
            let mut answer = String::new();
            let _ = socket.read_to_string(&mut answer);
            answer.replace(&port.to_string(), "PORT")
        });
        let answer = client.await.unwrap();
        server.abort();
        answer
    }

    fn post(path: &str, extra_headers: &str, body: &[u8]) -> Vec<u8> {
        let mut raw = format!(
            "POST {path} HTTP/1.1\r\nHost: qtsp\r\nConnection: close\r\n{extra_headers}\r\n"
        )
        .into_bytes();
        raw.extend_from_slice(body);
        raw
    }

    #[tokio::test]
    async fn the_direct_route_gets_the_body_and_the_client_address() {
        let answer = exchange(
            dispatch(1024, Duration::from_secs(10)),
            post("/direct?ignored=1", "Content-Length: 5\r\n", b"hello"),
        )
        .await;
        assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
        assert!(answer.ends_with("direct 5 PORT"), "{answer}");
    }

    #[tokio::test]
    async fn a_chunked_body_is_joined_and_held_to_the_limit() {
        let chunked = b"3\r\nabc\r\n4\r\ndefg\r\n0\r\n\r\n";
        let answer = exchange(
            dispatch(7, Duration::from_secs(10)),
            post("/direct", "Transfer-Encoding: chunked\r\n", chunked),
        )
        .await;
        assert!(answer.ends_with("direct 7 PORT"), "{answer}");
        // One byte over, discovered while reading.
        let answer = exchange(
            dispatch(6, Duration::from_secs(10)),
            post("/direct", "Transfer-Encoding: chunked\r\n", chunked),
        )
        .await;
        assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    }

    #[tokio::test]
    async fn an_announced_length_over_the_limit_is_refused_unread() {
        let answer = exchange(
            dispatch(16, Duration::from_secs(10)),
            post("/direct", "Content-Length: 17\r\n", b""),
        )
        .await;
        assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    }

    #[tokio::test]
    async fn a_body_cut_short_is_a_bad_request() {
        // The client announces chunks and then sends garbage instead of a chunk size.
        let answer = exchange(
            dispatch(1024, Duration::from_secs(10)),
            post("/direct", "Transfer-Encoding: chunked\r\n", b"zz\r\n"),
        )
        .await;
        assert!(answer.starts_with("HTTP/1.1 400"), "{answer}");
    }

    #[tokio::test]
    async fn a_request_over_the_timeout_is_a_503() {
        let answer = exchange(
            dispatch(1024, Duration::from_millis(100)),
            post("/direct", "Content-Length: 4\r\n", b"slow"),
        )
        .await;
        assert!(answer.starts_with("HTTP/1.1 503"), "{answer}");
    }

    #[tokio::test]
    async fn other_methods_and_paths_go_to_the_router_with_the_client_address() {
        let get = |path: &str| {
            format!("GET {path} HTTP/1.1\r\nHost: qtsp\r\nConnection: close\r\n\r\n").into_bytes()
        };
        let answer = exchange(dispatch(1024, Duration::from_secs(10)), get("/direct")).await;
        assert!(answer.ends_with("\r\n\r\nrouter"), "{answer}");
        let answer = exchange(dispatch(1024, Duration::from_secs(10)), get("/peer")).await;
        assert!(answer.ends_with("router PORT"), "{answer}");
        // A path that only starts like the direct one is not it.
        let answer = exchange(
            dispatch(1024, Duration::from_secs(10)),
            post("/direct/more", "Content-Length: 0\r\n", b""),
        )
        .await;
        assert!(answer.starts_with("HTTP/1.1 404"), "{answer}");
    }
}
