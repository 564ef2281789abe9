//! `switchboard sink`: a stand-in for the platforms' send APIs, for trying the
//! pipeline on one machine. It prints each request it receives as one JSON
//! line (method, path, idempotency key, body) and answers as the Graph API
//! answers a send, with a fresh message id, so the pipeline's message-id map
//! works as in production. Story publishing steps get the ids the Graph API
//! gives (containers, photos, videos, posts), so stories publish too.

use anyhow::{Context, Result};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::server::conn::http1;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use tokio::net::TcpListener;
use wasmtime_wasi_http::io::TokioIo;

/// Largest request body the sink reads.
const MAX_BODY_BYTES: usize = 4 << 20;

/// Stand in for the platforms' send APIs.
#[derive(clap::Args)]
pub struct SinkArgs {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:3001")]
    listen: SocketAddr,
}

/// Serves until the process is stopped.
pub fn run(args: SinkArgs) -> Result<()> {
    tokio::runtime::Runtime::new()
        .context("cannot start the async runtime")?
        .block_on(serve(args.listen))
}

async fn serve(listen: SocketAddr) -> Result<()> {
    let listener = TcpListener::bind(listen)
        .await
        .with_context(|| format!("cannot listen on {listen}"))?;
    eprintln!("sink listening on http://{}", listener.local_addr()?);
    let counter = Arc::new(AtomicU64::new(0));
    loop {
        let (client, _) = listener.accept().await.context("accept failed")?;
        let counter = counter.clone();
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |request| {
                let counter = counter.clone();
                async move { Ok::<_, std::convert::Infallible>(answer(request, &counter).await) }
            });
            let _ = http1::Builder::new()
                .serve_connection(TokioIo::new(client), service)
                .await;
        });
    }
}

async fn answer(
    request: hyper::Request<hyper::body::Incoming>,
    counter: &AtomicU64,
) -> hyper::Response<Full<Bytes>> {
    let method = request.method().to_string();
    let path = request.uri().to_string();
    let host = request
        .headers()
        .get(hyper::header::HOST)
        .and_then(|value| value.to_str().ok())
        .unwrap_or("127.0.0.1:3001")
        .to_string();
    let idempotency_key = request
        .headers()
        .get("idempotency-key")
        .and_then(|value| value.to_str().ok())
        .map(str::to_string);
    let body = match request.into_body().collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(_) => Bytes::new(),
    };
    let body = body.slice(..body.len().min(MAX_BODY_BYTES));
    let json: serde_json::Value = serde_json::from_slice(&body)
        .unwrap_or_else(|_| serde_json::Value::String(String::from_utf8_lossy(&body).into()));
    let number = counter.fetch_add(1, Ordering::Relaxed);
    println!(
        "{}",
        serde_json::json!({
            "method": method,
            "path": path,
            "idempotency_key": idempotency_key,
            "body": json,
        })
    );
    let reply = if let Some(reply) = story_reply(&method, &path, &json, &host, number) {
        reply
    } else if json["messaging_product"] == "whatsapp" {
        serde_json::json!({
            "messaging_product": "whatsapp",
            "contacts": [{ "input": json["to"], "wa_id": json["to"] }],
            "messages": [{ "id": format!("wamid.sink{number}") }],
        })
    } else {
        serde_json::json!({
            "recipient_id": json["recipient"]["id"],
            "message_id": format!("m_sink{number}"),
        })
    };
    let mut response = hyper::Response::new(Full::new(Bytes::from(reply.to_string())));
    response.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("application/json"),
    );
    response
}

/// The Graph API's answer to a story publishing or deletion step, as the
/// story cross-poster expects it (ids to go on with), or `None` for a send.
fn story_reply(
    method: &str,
    path: &str,
    body: &serde_json::Value,
    host: &str,
    number: u64,
) -> Option<serde_json::Value> {
    let path = path.split('?').next().unwrap_or_default();
    let id = format!("1790000{number:08}");
    Some(
        if method == "DELETE" || path.starts_with("/video-upload/") {
            serde_json::json!({ "success": true })
        } else if method == "GET" {
            serde_json::json!({ "id": path.rsplit('/').next(), "status_code": "FINISHED" })
        } else if path.ends_with("/media")
            || path.ends_with("/media_publish")
            || path.ends_with("/photos")
        {
            serde_json::json!({ "id": id })
        } else if body["upload_phase"] == "start" {
            serde_json::json!({ "video_id": id, "upload_url": format!("http://{host}/video-upload/v21.0/{id}") })
        } else if path.ends_with("/photo_stories") || body["upload_phase"] == "finish" {
            serde_json::json!({ "success": true, "post_id": id })
        } else {
            return None;
        },
    )
}
