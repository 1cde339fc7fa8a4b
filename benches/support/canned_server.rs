//! The loopback server the benchmarks send to: canned answers on its own thread, so that the
//! client's thread measures only the client.

use std::net::SocketAddr;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};

/// Starts a server on its own thread; it reads each request body whole and answers `answer`
/// for PATCH and `team` for POST.
pub fn start_server(patch_answer: Bytes, team: Bytes) -> SocketAddr {
    let (sender, receiver) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("server runtime");
        runtime.block_on(async move {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
                .await
                .expect("bind");
            sender
                .send(listener.local_addr().expect("address"))
                .expect("send address");
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let (patch_answer, team) = (patch_answer.clone(), team.clone());
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(
                        move |request: hyper::Request<hyper::body::Incoming>| {
                            let (patch_answer, team) = (patch_answer.clone(), team.clone());
                            async move {
                                let is_patch = request.method() == hyper::Method::PATCH;
                                let _ = request.into_body().collect().await;
                                let mut response = hyper::Response::new(Full::new(if is_patch {
                                    patch_answer
                                } else {
                                    team
                                }));
                                response.headers_mut().insert(
                                    "content-type",
                                    hyper::header::HeaderValue::from_static("application/json"),
                                );
                                Ok::<_, std::convert::Infallible>(response)
                            }
                        },
                    );
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                        .await;
                });
            }
        });
    });
    receiver
        .recv()
        .expect("the server thread reports its address")
}
