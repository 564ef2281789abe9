//! `switchboard load`: the whole pipeline under load, measured end to end.
//!
//! A load generator and a counting sink in one process. It starts `switchboard
//! up` (or points at a running one with `--target`), puts sample accounts in
//! direct conversations through the admin API (WhatsApp senders, each with
//! its own Messenger account, both consenting), then posts signed WhatsApp Cloud API text
//! webhooks — each with its own `wamid` and a sequence number in the text —
//! over `--concurrency` keep-alive connections, as fast as the answers come
//! (closed loop) or at `--rate` webhooks a second (open loop). The sink plays
//! the Messenger Send API on loopback, answers as the Graph API does, and
//! matches every delivery to its webhook by the sequence number.
//!
//! It prints throughput (deliveries a second), the latency from posting a
//! webhook to the sink receiving its delivery (p50/p90/p99/max), the ingress'
//! answer latency, errors, dropped and duplicated deliveries, the host's CPU
//! time and peak memory (`VmHWM`), and the host's own delivery-latency
//! histogram over the run. It fails when a webhook the ingress accepted was
//! not delivered, or was delivered twice under different idempotency keys.
//!
//! ```sh
//! cargo run --release -p switchboard -- load --messages 3000 --concurrency 32
//! # against a host that is already running with the sample switchboard.toml
//! # (every api_base at 127.0.0.1:3001, where the sink listens by default then):
//! SPIN_VARIABLE_ADMIN_TOKEN=t SPIN_VARIABLE_RATE_PER_MINUTE=1000000000 \
//!   switchboard up &
//! switchboard load --target http://127.0.0.1:3000 --admin-token t --host-pid $!
//! ```

use anyhow::{Context, Result, bail};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::server::conn::http1;
use std::collections::{BTreeMap, HashMap};
use std::hash::{Hash, Hasher};
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::net::{TcpListener, TcpStream};
use wasmtime_wasi_http::io::TokioIo;
use webhook_signature::hub_signature;

/// The business phone-number id the webhooks are addressed to (the sample
/// apps' WhatsApp account, as in the fixtures and `switchboard.toml`).
pub(crate) const PHONE_NUMBER_ID: &str = "106540352242922";
/// Largest request body the sink reads.
const MAX_SINK_BODY: usize = 1 << 20;
/// Per-minute rate given to a host this command starts: the run measures the
/// pipeline, not the rate limiter (which still counts every message).
pub(crate) const UNLIMITED_RATE: &str = "1000000000";

/// Which host a load or soak runs against: a running one (`--target`) or
/// one the command starts, and how it reaches it.
#[derive(clap::Args, Debug)]
pub struct HostArgs {
    /// Base URL of a running `switchboard up`. Its switchboard.toml must
    /// point the Messenger and WhatsApp `api_base` at the sink
    /// (`--sink-listen`), and its rate limit must allow the run
    /// (SPIN_VARIABLE_RATE_PER_MINUTE). Without it, a host is started with a
    /// generated config and a fresh store.
    #[arg(long)]
    pub target: Option<String>,
    /// The Spin manifest of the host to start.
    #[arg(long, default_value = "spin.toml")]
    pub manifest: PathBuf,
    /// Where the counting sink listens (default: a free port when this
    /// command starts the host, 127.0.0.1:3001 with `--target`, where the
    /// sample switchboard.toml sends).
    #[arg(long)]
    pub sink_listen: Option<SocketAddr>,
    /// The WhatsApp app secret the webhooks are signed with.
    #[arg(long, default_value = "sample-whatsapp-app-secret")]
    pub app_secret: String,
    /// The target's admin token, to put the sample accounts in
    /// conversations; without it, `--target` must have them in some already.
    #[arg(long)]
    pub admin_token: Option<String>,
    /// Process id of the `--target` host, for its CPU time and peak memory.
    #[arg(long)]
    pub host_pid: Option<u32>,
    /// Concurrent senders of the host this command starts
    /// (`[delivery] workers`).
    #[arg(long, default_value_t = 8)]
    pub workers: usize,
    /// State directory of the host this command starts (default: a fresh
    /// temporary one, removed afterwards).
    #[arg(long)]
    pub state_dir: Option<PathBuf>,
}

/// Options of `switchboard load`.
#[derive(clap::Args, Debug)]
pub struct LoadArgs {
    /// The host under load, or the one this command starts.
    #[command(flatten)]
    pub host: HostArgs,
    /// Webhooks measured (one text message each).
    #[arg(long, default_value_t = 3_000)]
    pub messages: u64,
    /// Webhooks posted and delivered before the measured run (not counted).
    #[arg(long, default_value_t = 500)]
    pub warmup: u64,
    /// Connections posting webhooks; each waits for an answer before posting
    /// again.
    #[arg(long, default_value_t = 32)]
    pub concurrency: usize,
    /// Webhooks a second over all connections (open loop); without it, as
    /// fast as the ingress answers (closed loop).
    #[arg(long)]
    pub rate: Option<f64>,
    /// Distinct WhatsApp senders, each in a direct conversation with its own
    /// Messenger account.
    #[arg(long, default_value_t = 16)]
    pub senders: usize,
    /// Seconds to wait for deliveries once every webhook is answered.
    #[arg(long, default_value_t = 60)]
    pub drain_secs: u64,
}

/// Runs the load and prints the figures; an error when a message was lost.
pub fn run(args: LoadArgs) -> Result<()> {
    if args.concurrency == 0 || args.senders == 0 || args.messages == 0 {
        bail!("--messages, --concurrency and --senders must be at least 1");
    }
    if args.rate.is_some_and(|rate| rate.is_nan() || rate <= 0.0) {
        bail!("--rate must be a positive number of webhooks a second");
    }
    let sink_listen = args.host.sink_listen.unwrap_or_else(|| {
        let port = if args.host.target.is_some() { 3001 } else { 0 };
        SocketAddr::from(([127, 0, 0, 1], port))
    });
    let sink_listener = std::net::TcpListener::bind(sink_listen)
        .with_context(|| format!("the sink cannot listen on {sink_listen}"))?;
    let sink_addr = sink_listener.local_addr()?;
    sink_listener.set_nonblocking(true)?;

    let started;
    let (base, admin_token, pid) = match &args.host.target {
        Some(target) => (
            target.trim_end_matches('/').to_string(),
            args.host.admin_token.clone(),
            args.host.host_pid,
        ),
        None => {
            let token = format!("load-{:016x}", rand::random::<u64>());
            let options = HostOptions {
                manifest: &args.host.manifest,
                state_dir: args.host.state_dir.as_deref(),
                app_secret: &args.host.app_secret,
                workers: args.host.workers,
                extra_config: String::new(),
                name: "load",
            };
            let host = StartedHost::start(&options, sink_addr, &token)?;
            let (base, pid) = (host.base.clone(), host.child.id());
            started = host;
            eprintln!(
                "host {} started (pid {pid}, state in {}, log in {})",
                base,
                started.dir.display(),
                started.dir.join("host.log").display()
            );
            (base, Some(token), Some(pid))
        }
    };
    let accounts = Accounts::new(args.senders);
    match &admin_token {
        Some(token) => accounts.converse(&base, token)?,
        None => eprintln!(
            "no --admin-token: expecting the {} sample accounts to be in conversations already",
            args.senders * 2
        ),
    }
    let tokio = tokio::runtime::Runtime::new().context("cannot start the async runtime")?;
    let report = tokio.block_on(drive(&args, &base, sink_listener, accounts, pid))?;
    report.print(&args, sink_addr);
    report.verdict()
}

/// How to start a host: the manifest, where its state goes, the secret its
/// webhooks are signed with, its delivery workers and any more
/// switchboard.toml text (`[http]` limits…).
pub(crate) struct HostOptions<'a> {
    pub(crate) manifest: &'a Path,
    pub(crate) state_dir: Option<&'a Path>,
    pub(crate) app_secret: &'a str,
    pub(crate) workers: usize,
    pub(crate) extra_config: String,
    /// Names the temporary state directory (`switchboard-<name>-<pid>`).
    pub(crate) name: &'a str,
}

/// A `switchboard up` this command started, stopped when dropped.
pub(crate) struct StartedHost {
    pub(crate) child: Child,
    pub(crate) base: String,
    pub(crate) dir: PathBuf,
    remove_dir: bool,
    /// Kept open: the host's stdout is a pipe that must not break.
    _stdout: BufReader<ChildStdout>,
}

impl StartedHost {
    /// Starts `switchboard up` with a fresh store in the state directory and a
    /// generated switchboard.toml sending every platform to `sink`.
    pub(crate) fn start(
        options: &HostOptions<'_>,
        sink: SocketAddr,
        admin_token: &str,
    ) -> Result<StartedHost> {
        let (dir, remove_dir) = match options.state_dir {
            Some(dir) => (dir.to_path_buf(), false),
            None => (
                std::env::temp_dir().join(format!(
                    "switchboard-{}-{}",
                    options.name,
                    std::process::id()
                )),
                true,
            ),
        };
        if remove_dir {
            let _ = std::fs::remove_dir_all(&dir);
        }
        std::fs::create_dir_all(&dir)
            .with_context(|| format!("cannot create {}", dir.display()))?;
        let runtime_config = dir.join("runtime-config.toml");
        std::fs::write(
            &runtime_config,
            format!(
                "[key_value_store.default]\ntype = \"spin\"\npath = \"{}\"\n",
                dir.join("kv.redb").display()
            ),
        )
        .context("cannot write the runtime config")?;
        let config = dir.join("switchboard.toml");
        let mut text = String::new();
        // The generated people never wrote to the relay first: the apps'
        // reply windows are off, or every message would wait for them.
        for platform in ["whatsapp", "messenger", "instagram"] {
            text.push_str(&format!(
                "[platforms.{platform}]\napi_base = \"http://{sink}\"\nreply_window_ms = 0\n"
            ));
        }
        text.push_str(&format!("[delivery]\nworkers = {}\n", options.workers));
        text.push_str(&options.extra_config);
        std::fs::write(&config, text).context("cannot write switchboard.toml")?;
        let log = std::fs::File::create(dir.join("host.log")).context("cannot create host.log")?;
        let exe = std::env::current_exe().context("cannot find the switchboard binary")?;
        let mut child = Command::new(exe)
            .args(["up", "--listen", "127.0.0.1:0", "--manifest"])
            .arg(options.manifest)
            .arg("--runtime-config-file")
            .arg(&runtime_config)
            .arg("--config")
            .arg(&config)
            .env("SPIN_VARIABLE_WHATSAPP_APP_SECRET", options.app_secret)
            .env("SPIN_VARIABLE_ADMIN_TOKEN", admin_token)
            .env("SPIN_VARIABLE_RATE_PER_MINUTE", UNLIMITED_RATE)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(log)
            .spawn()
            .context("cannot start `switchboard up`")?;
        let mut stdout = BufReader::new(child.stdout.take().context("no stdout")?);
        let mut line = String::new();
        let read = stdout.read_line(&mut line);
        let base = line
            .trim()
            .strip_prefix("switchboard listening on ")
            .map(str::to_string);
        let mut host = StartedHost {
            child,
            base: String::new(),
            dir,
            remove_dir,
            _stdout: stdout,
        };
        match (read, base) {
            (Ok(_), Some(base)) => {
                host.base = base;
                Ok(host)
            }
            _ => {
                // Keep the log for the reader.
                host.remove_dir = false;
                bail!(
                    "`switchboard up` did not start; see {}",
                    host.dir.join("host.log").display()
                )
            }
        }
    }
}

impl StartedHost {
    /// The host's key-value store: the redb file in its state directory.
    pub(crate) fn store_path(&self) -> PathBuf {
        self.dir.join("kv.redb")
    }
}

impl Drop for StartedHost {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if self.remove_dir {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

/// The sample accounts: WhatsApp sender `i` talks with Messenger account
/// `i` in a direct conversation, and both consent to cross-app messaging.
pub(crate) struct Accounts {
    pub(crate) whatsapp: Vec<String>,
    pub(crate) messenger: Vec<String>,
}

impl Accounts {
    pub(crate) fn new(senders: usize) -> Accounts {
        Accounts {
            whatsapp: (0..senders).map(|i| format!("1555010{i:05}")).collect(),
            messenger: (0..senders).map(|i| format!("7000000{i:07}")).collect(),
        }
    }

    /// Has every pair consent and puts it in a direct conversation through
    /// the admin API (against a `--target` used before, each run adds one
    /// more conversation per pair, the newest becoming current).
    pub(crate) fn converse(&self, base: &str, token: &str) -> Result<()> {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(30)))
            .build()
            .into();
        let call = |path: &str, body: serde_json::Value| -> Result<()> {
            let mut response = agent
                .post(format!("{base}/admin/{path}"))
                .header("authorization", format!("Bearer {token}"))
                .header("content-type", "application/json")
                .send(body.to_string())
                .with_context(|| format!("the admin API at {base} did not answer"))?;
            let status = response.status().as_u16();
            if !matches!(status, 200 | 201) {
                let text = response.body_mut().read_to_string().unwrap_or_default();
                bail!("POST /admin/{path} {body} was answered {status}: {text}");
            }
            Ok(())
        };
        for (wa, psid) in self.whatsapp.iter().zip(&self.messenger) {
            let members = [("whatsapp", wa), ("messenger", psid)]
                .map(|(platform, id)| serde_json::json!({ "platform": platform, "id": id }));
            for account in &members {
                call(
                    "consents",
                    serde_json::json!({ "account": account, "scope": "cross-app-messaging", "granted": true }),
                )?;
            }
            call(
                "conversations",
                serde_json::json!({ "kind": "direct", "members": members }),
            )?;
        }
        Ok(())
    }
}

/// Webhook `seq` of run `run`: a WhatsApp Cloud API text message from
/// `from`, with its own message id and the sequence number in the text.
pub(crate) fn webhook(run: &str, seq: u64, from: &str, timestamp: u64) -> String {
    format!(
        r#"{{"object":"whatsapp_business_account","entry":[{{"id":"102290129340398","changes":[{{"value":{{"messaging_product":"whatsapp","metadata":{{"display_phone_number":"15550783881","phone_number_id":"{PHONE_NUMBER_ID}"}},"contacts":[{{"profile":{{"name":"Load Sender"}},"wa_id":"{from}"}}],"messages":[{{"from":"{from}","id":"wamid.LOAD{run}{seq:010}","timestamp":"{timestamp}","type":"text","text":{{"body":"switchboard load {run} seq {seq}"}}}}]}},"field":"messages"}}]}}]}}"#
    )
}

/// What the generator and the sink record, per sequence number and in total.
/// Times are nanoseconds since `start`, plus one (zero means "not yet").
pub(crate) struct Ledger {
    pub(crate) run: String,
    start: Instant,
    pub(crate) posted: Vec<AtomicU64>,
    pub(crate) answered: Vec<AtomicU64>,
    /// 200 with the message accepted.
    pub(crate) acked: Vec<AtomicU64>,
    pub(crate) delivered: Vec<AtomicU64>,
    /// A hash of the idempotency key of the first delivery.
    key_hash: Vec<AtomicU64>,
    pub(crate) counts: Counts,
    pub(crate) first_error: Mutex<Option<String>>,
    /// Refusal notices by recipient (the WhatsApp `to`).
    pub(crate) notified: Mutex<HashMap<String, u64>>,
}

/// Running totals.
#[derive(Default)]
pub(crate) struct Counts {
    pub(crate) posted: AtomicU64,
    pub(crate) acked: AtomicU64,
    /// Answered 200 but stored as a duplicate (a wamid seen before).
    pub(crate) ingress_duplicates: AtomicU64,
    /// Answered otherwise, or not answered.
    pub(crate) errors: AtomicU64,
    pub(crate) delivered: AtomicU64,
    /// A second delivery of a message with the idempotency key of the first:
    /// a resend the platform deduplicates.
    pub(crate) resent_same_key: AtomicU64,
    /// A second delivery under another key: the platform would show it twice.
    pub(crate) resent_new_key: AtomicU64,
    /// Sends to the WhatsApp sender: refusal notices.
    pub(crate) notices: AtomicU64,
    /// Sink requests that match no message of this run.
    pub(crate) unmatched: AtomicU64,
}

impl Ledger {
    pub(crate) fn new(total: u64) -> Ledger {
        let slots = || (0..total).map(|_| AtomicU64::new(0)).collect::<Vec<_>>();
        Ledger {
            run: format!("{:08x}", rand::random::<u32>()),
            start: Instant::now(),
            posted: slots(),
            answered: slots(),
            acked: slots(),
            delivered: slots(),
            key_hash: slots(),
            counts: Counts::default(),
            first_error: Mutex::new(None),
            notified: Mutex::new(HashMap::new()),
        }
    }

    pub(crate) fn now(&self) -> u64 {
        self.start.elapsed().as_nanos() as u64 + 1
    }

    pub(crate) fn error(&self, error: String) {
        self.counts.errors.fetch_add(1, Ordering::Relaxed);
        if let Ok(mut first) = self.first_error.lock()
            && first.is_none()
        {
            *first = Some(error);
        }
    }

    /// Records a send the sink received, matched to its webhook by the
    /// sequence number in its text.
    fn receive(&self, body: &serde_json::Value, idempotency_key: Option<&str>) {
        let now = self.now();
        if body["messaging_product"] == "whatsapp" {
            self.counts.notices.fetch_add(1, Ordering::Relaxed);
            if let (Some(to), Ok(mut notified)) = (body["to"].as_str(), self.notified.lock()) {
                *notified.entry(to.to_string()).or_default() += 1;
            }
            return;
        }
        let marker = format!("switchboard load {} seq ", self.run);
        let seq = body["message"]["text"]
            .as_str()
            .and_then(|text| text.split_once(&marker))
            .and_then(|(_, rest)| {
                let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
                digits.parse::<usize>().ok()
            })
            .filter(|seq| *seq < self.delivered.len());
        let Some(seq) = seq else {
            self.counts.unmatched.fetch_add(1, Ordering::Relaxed);
            return;
        };
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        idempotency_key.hash(&mut hasher);
        let key = hasher.finish() | 1;
        match self.delivered[seq].compare_exchange(0, now, Ordering::SeqCst, Ordering::SeqCst) {
            Ok(_) => {
                self.key_hash[seq].store(key, Ordering::SeqCst);
                self.counts.delivered.fetch_add(1, Ordering::Relaxed);
            }
            Err(_) if self.key_hash[seq].load(Ordering::SeqCst) == key => {
                self.counts.resent_same_key.fetch_add(1, Ordering::Relaxed);
            }
            Err(_) => {
                self.counts.resent_new_key.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    /// Acknowledged messages in `range` not delivered yet.
    pub(crate) fn outstanding(&self, range: std::ops::Range<u64>) -> u64 {
        range
            .filter(|&seq| {
                let seq = seq as usize;
                self.acked[seq].load(Ordering::Relaxed) != 0
                    && self.delivered[seq].load(Ordering::Relaxed) == 0
            })
            .count() as u64
    }
}

/// Serves the sink until the process ends: every request is a send, matched
/// to its webhook, and answered as the Graph API answers.
pub(crate) async fn sink(listener: TcpListener, ledger: Arc<Ledger>) {
    let replies = Arc::new(AtomicU64::new(0));
    loop {
        let Ok((client, _)) = listener.accept().await else {
            continue;
        };
        let _ = client.set_nodelay(true);
        let (ledger, replies) = (ledger.clone(), replies.clone());
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |request| {
                let (ledger, replies) = (ledger.clone(), replies.clone());
                async move {
                    Ok::<_, std::convert::Infallible>(sink_answer(request, &ledger, &replies).await)
                }
            });
            let _ = http1::Builder::new()
                .serve_connection(TokioIo::new(client), service)
                .await;
        });
    }
}

async fn sink_answer(
    request: hyper::Request<hyper::body::Incoming>,
    ledger: &Ledger,
    replies: &AtomicU64,
) -> hyper::Response<Full<Bytes>> {
    let key = request
        .headers()
        .get("idempotency-key")
        .and_then(|value| value.to_str().ok())
        .map(str::to_string);
    let body = match http_body_util::Limited::new(request.into_body(), MAX_SINK_BODY)
        .collect()
        .await
    {
        Ok(collected) => collected.to_bytes(),
        Err(_) => Bytes::new(),
    };
    let json: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
    ledger.receive(&json, key.as_deref());
    let number = replies.fetch_add(1, Ordering::Relaxed);
    let reply = if json["messaging_product"] == "whatsapp" {
        serde_json::json!({
            "messaging_product": "whatsapp",
            "contacts": [{ "input": json["to"], "wa_id": json["to"] }],
            "messages": [{ "id": format!("wamid.loadsink{number}") }],
        })
    } else {
        serde_json::json!({
            "recipient_id": json["recipient"]["id"],
            "message_id": format!("m_loadsink{number}"),
        })
    };
    let mut response = hyper::Response::new(Full::new(Bytes::from(reply.to_string())));
    response.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("application/json"),
    );
    response
}

/// Where to post, and how.
pub(crate) struct Target {
    pub(crate) addr: SocketAddr,
    pub(crate) authority: String,
    pub(crate) secret: String,
}

impl Target {
    pub(crate) async fn resolve(base: &str, secret: &str) -> Result<Target> {
        let authority = base
            .strip_prefix("http://")
            .with_context(|| format!("{base}: only http:// targets are supported"))?
            .split('/')
            .next()
            .unwrap_or_default()
            .to_string();
        let addr = tokio::net::lookup_host(&authority)
            .await
            .with_context(|| format!("cannot resolve {authority}"))?
            .next()
            .with_context(|| format!("{authority} has no address"))?;
        Ok(Target {
            addr,
            authority,
            secret: secret.to_string(),
        })
    }

    pub(crate) async fn connect(
        &self,
    ) -> Result<hyper::client::conn::http1::SendRequest<Full<Bytes>>> {
        let stream = TcpStream::connect(self.addr)
            .await
            .with_context(|| format!("cannot connect to {}", self.addr))?;
        stream.set_nodelay(true)?;
        let (sender, connection) =
            hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
        tokio::spawn(connection);
        Ok(sender)
    }
}

/// One phase of posting: webhooks `range`, over the connections.
async fn post_all(
    target: Arc<Target>,
    ledger: Arc<Ledger>,
    accounts: Arc<Accounts>,
    range: std::ops::Range<u64>,
    concurrency: usize,
    rate: Option<f64>,
) {
    let next = Arc::new(AtomicU64::new(range.start));
    let begun = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..concurrency {
        let (target, ledger, accounts, next) = (
            target.clone(),
            ledger.clone(),
            accounts.clone(),
            next.clone(),
        );
        let range = range.clone();
        tasks.push(tokio::spawn(async move {
            let mut connection = None;
            while let Some(seq) = take_due(&next, &range, begun, rate).await {
                let sender = match &mut connection {
                    Some(sender) => sender,
                    None => match target.connect().await {
                        Ok(sender) => connection.insert(sender),
                        Err(error) => {
                            ledger.error(format!("{error:#}"));
                            tokio::time::sleep(Duration::from_millis(100)).await;
                            continue;
                        }
                    },
                };
                if post_one(&target, &ledger, &accounts, sender, seq)
                    .await
                    .is_none()
                {
                    connection = None;
                }
            }
        }));
    }
    for task in tasks {
        let _ = task.await;
    }
}

/// The next sequence number of `range` to post, once it is due: at once in
/// a closed loop, at its own time (`begun` plus its place over `rate` a
/// second) in an open one. `None` when the range is used up.
pub(crate) async fn take_due(
    next: &AtomicU64,
    range: &std::ops::Range<u64>,
    begun: Instant,
    rate: Option<f64>,
) -> Option<u64> {
    let seq = next.fetch_add(1, Ordering::Relaxed);
    if seq >= range.end {
        return None;
    }
    if let Some(rate) = rate {
        let due = begun + Duration::from_secs_f64((seq - range.start) as f64 / rate);
        tokio::time::sleep_until(due.into()).await;
    }
    Some(seq)
}

/// Posts webhook `seq`: the status it was answered, `None` when the
/// connection is no longer usable (the error is on the ledger).
pub(crate) async fn post_one(
    target: &Target,
    ledger: &Ledger,
    accounts: &Accounts,
    sender: &mut hyper::client::conn::http1::SendRequest<Full<Bytes>>,
    seq: u64,
) -> Option<u16> {
    let from = &accounts.whatsapp[seq as usize % accounts.whatsapp.len()];
    let timestamp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|elapsed| elapsed.as_secs())
        .unwrap_or_default();
    let body = webhook(&ledger.run, seq, from, timestamp);
    let signature = hub_signature(&target.secret, body.as_bytes());
    let request = hyper::Request::post("/ingress/whatsapp")
        .header(hyper::header::HOST, &target.authority)
        .header(hyper::header::CONTENT_TYPE, "application/json")
        .header("x-hub-signature-256", signature)
        .body(Full::new(Bytes::from(body)));
    let Ok(request) = request else {
        ledger.error("cannot build the request".into());
        return Some(0);
    };
    if sender.ready().await.is_err() {
        ledger.error("the connection closed".into());
        return None;
    }
    let index = seq as usize;
    // The first post (a webhook sent again after a 503 keeps its time).
    let _ =
        ledger.posted[index].compare_exchange(0, ledger.now(), Ordering::SeqCst, Ordering::SeqCst);
    ledger.counts.posted.fetch_add(1, Ordering::Relaxed);
    let response = match sender.send_request(request).await {
        Ok(response) => response,
        Err(error) => {
            ledger.error(format!("webhook {seq}: {error}"));
            return None;
        }
    };
    let status = response.status().as_u16();
    let body = response
        .into_body()
        .collect()
        .await
        .map(|collected| collected.to_bytes())
        .unwrap_or_default();
    let now = ledger.now();
    ledger.answered[index].store(now, Ordering::SeqCst);
    let reply: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
    match (status, reply["accepted"].as_u64()) {
        (200, Some(1)) => {
            ledger.acked[index].store(now, Ordering::SeqCst);
            ledger.counts.acked.fetch_add(1, Ordering::Relaxed);
        }
        (200, _) => {
            ledger
                .counts
                .ingress_duplicates
                .fetch_add(1, Ordering::Relaxed);
        }
        _ => ledger.error(format!(
            "webhook {seq} answered {status}: {}",
            String::from_utf8_lossy(&body).trim()
        )),
    }
    Some(status)
}

/// Waits until every acknowledged message in `range` is delivered, or no
/// delivery came for `patience`. Prints a progress line a second.
pub(crate) async fn drain(ledger: &Ledger, range: std::ops::Range<u64>, patience: Duration) -> u64 {
    let mut last_progress = Instant::now();
    let mut last_delivered = ledger.counts.delivered.load(Ordering::Relaxed);
    loop {
        let outstanding = ledger.outstanding(range.clone());
        if outstanding == 0 {
            return 0;
        }
        let delivered = ledger.counts.delivered.load(Ordering::Relaxed);
        if delivered != last_delivered {
            last_delivered = delivered;
            last_progress = Instant::now();
        } else if last_progress.elapsed() > patience {
            return outstanding;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Prints a progress line every second until `stop` is set.
async fn progress(ledger: Arc<Ledger>, pid: Option<u32>, stop: Arc<tokio::sync::Notify>) {
    let began = Instant::now();
    let mut last = ledger.counts.delivered.load(Ordering::Relaxed);
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.tick().await;
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = stop.notified() => return,
        }
        let counts = &ledger.counts;
        let delivered = counts.delivered.load(Ordering::Relaxed);
        let rss = pid
            .and_then(|pid| proc_status_kib(pid, "VmRSS"))
            .map(|kib| format!(", host RSS {} MiB", kib / 1024))
            .unwrap_or_default();
        eprintln!(
            "{:>5.1} s  posted {}  accepted {}  delivered {}  ({}/s)  errors {}{rss}",
            began.elapsed().as_secs_f64(),
            counts.posted.load(Ordering::Relaxed),
            counts.acked.load(Ordering::Relaxed),
            delivered,
            delivered - last,
            counts.errors.load(Ordering::Relaxed),
        );
        last = delivered;
    }
}

/// What a run measured.
struct Report {
    measured: std::ops::Range<u64>,
    posted: u64,
    acked: u64,
    ingress_duplicates: u64,
    errors: u64,
    first_error: Option<String>,
    delivered: u64,
    dropped: u64,
    resent_same_key: u64,
    resent_new_key: u64,
    notices: u64,
    unmatched: u64,
    /// Seconds from the first post to the last delivery / the last answer.
    delivery_window: f64,
    answer_window: f64,
    end_to_end: Percentiles,
    answer: Percentiles,
    host_cpu_seconds: Option<f64>,
    own_cpu_seconds: Option<f64>,
    host_peak_kib: Option<u64>,
    host_metrics: Option<MetricsDelta>,
}

/// Latency percentiles, in seconds.
#[derive(Default)]
pub(crate) struct Percentiles {
    pub(crate) p50: f64,
    pub(crate) p90: f64,
    pub(crate) p99: f64,
    pub(crate) max: f64,
}

impl Percentiles {
    pub(crate) fn of(mut samples: Vec<u64>) -> Percentiles {
        if samples.is_empty() {
            return Percentiles::default();
        }
        samples.sort_unstable();
        let at = |q: f64| {
            let rank = ((q * samples.len() as f64).ceil() as usize).clamp(1, samples.len());
            samples[rank - 1] as f64 / 1e9
        };
        Percentiles {
            p50: at(0.50),
            p90: at(0.90),
            p99: at(0.99),
            max: at(1.0),
        }
    }

    pub(crate) fn line(&self) -> String {
        format!(
            "p50 {}  p90 {}  p99 {}  max {}",
            ms(self.p50),
            ms(self.p90),
            ms(self.p99),
            ms(self.max)
        )
    }
}

fn ms(seconds: f64) -> String {
    format!("{:.2} ms", seconds * 1000.0)
}

async fn drive(
    args: &LoadArgs,
    base: &str,
    sink_listener: std::net::TcpListener,
    accounts: Accounts,
    pid: Option<u32>,
) -> Result<Report> {
    let target = Arc::new(Target::resolve(base, &args.host.app_secret).await?);
    let ledger = Arc::new(Ledger::new(args.warmup + args.messages));
    let listener = TcpListener::from_std(sink_listener)?;
    let sink_task = tokio::spawn(sink(listener, ledger.clone()));
    let accounts = Arc::new(accounts);
    let patience = Duration::from_secs(args.drain_secs);

    if args.warmup > 0 {
        eprintln!("warming up with {} webhooks", args.warmup);
        post_all(
            target.clone(),
            ledger.clone(),
            accounts.clone(),
            0..args.warmup,
            args.concurrency,
            None,
        )
        .await;
        let left = drain(&ledger, 0..args.warmup, patience).await;
        if left > 0 {
            bail!("{left} warm-up messages were not delivered: is the host's api_base the sink?");
        }
    }
    let measured = args.warmup..args.warmup + args.messages;
    let metrics_before = fetch_metrics(base).await;
    let host_cpu_before = pid.and_then(cpu_seconds);
    let own_cpu_before = cpu_seconds(std::process::id());
    eprintln!(
        "posting {} webhooks over {} connections{}",
        args.messages,
        args.concurrency,
        args.rate
            .map(|rate| format!(" at {rate}/s"))
            .unwrap_or_else(|| ", closed loop".into())
    );
    let stop = Arc::new(tokio::sync::Notify::new());
    let reporter = tokio::spawn(progress(ledger.clone(), pid, stop.clone()));
    post_all(
        target.clone(),
        ledger.clone(),
        accounts.clone(),
        measured.clone(),
        args.concurrency,
        args.rate,
    )
    .await;
    let dropped = drain(&ledger, measured.clone(), patience).await;
    stop.notify_one();
    let _ = reporter.await;
    let host_cpu = host_cpu_before.and_then(|before| Some(pid.and_then(cpu_seconds)? - before));
    let own_cpu = own_cpu_before.and_then(|before| Some(cpu_seconds(std::process::id())? - before));
    let metrics_after = fetch_metrics(base).await;
    sink_task.abort();

    let (mut end_to_end, mut answer) = (Vec::new(), Vec::new());
    let (mut first_post, mut last_delivery, mut last_answer) = (u64::MAX, 0, 0);
    let mut posted = 0;
    for seq in measured.clone() {
        let seq = seq as usize;
        let post = ledger.posted[seq].load(Ordering::SeqCst);
        if post == 0 {
            continue;
        }
        posted += 1;
        first_post = first_post.min(post);
        let answered = ledger.answered[seq].load(Ordering::SeqCst);
        if answered != 0 {
            answer.push(answered - post);
            last_answer = last_answer.max(answered);
        }
        let delivered = ledger.delivered[seq].load(Ordering::SeqCst);
        if delivered != 0 {
            end_to_end.push(delivered.saturating_sub(post));
            last_delivery = last_delivery.max(delivered);
        }
    }
    let counts = &ledger.counts;
    let measured_count = |slots: &[AtomicU64]| {
        measured
            .clone()
            .filter(|&seq| slots[seq as usize].load(Ordering::SeqCst) != 0)
            .count() as u64
    };
    Ok(Report {
        measured: measured.clone(),
        posted,
        acked: measured_count(&ledger.acked),
        ingress_duplicates: counts.ingress_duplicates.load(Ordering::SeqCst),
        errors: counts.errors.load(Ordering::SeqCst),
        first_error: ledger.first_error.lock().ok().and_then(|e| e.clone()),
        delivered: end_to_end.len() as u64,
        dropped,
        resent_same_key: counts.resent_same_key.load(Ordering::SeqCst),
        resent_new_key: counts.resent_new_key.load(Ordering::SeqCst),
        notices: counts.notices.load(Ordering::SeqCst),
        unmatched: counts.unmatched.load(Ordering::SeqCst),
        delivery_window: last_delivery.saturating_sub(first_post) as f64 / 1e9,
        answer_window: last_answer.saturating_sub(first_post) as f64 / 1e9,
        end_to_end: Percentiles::of(end_to_end),
        answer: Percentiles::of(answer),
        host_cpu_seconds: host_cpu,
        own_cpu_seconds: own_cpu,
        host_peak_kib: pid.and_then(|pid| proc_status_kib(pid, "VmHWM")),
        host_metrics: match (metrics_before, metrics_after) {
            (Some(before), Some(after)) => Some(MetricsDelta::between(&before, &after)),
            _ => None,
        },
    })
}

impl Report {
    fn print(&self, args: &LoadArgs, sink: SocketAddr) {
        let rate = |count: u64, seconds: f64| {
            if seconds > 0.0 {
                count as f64 / seconds
            } else {
                0.0
            }
        };
        println!(
            "load: {} webhooks ({} warm-up before), {} connections, {}, {} senders, sink at {sink}",
            self.measured.end - self.measured.start,
            self.measured.start,
            args.concurrency,
            args.rate
                .map(|rate| format!("open loop at {rate}/s"))
                .unwrap_or_else(|| "closed loop".into()),
            args.senders,
        );
        println!(
            "ingress:    {} posted, {} accepted, {} duplicates, {} errors; {:.0} webhooks/s",
            self.posted,
            self.acked,
            self.ingress_duplicates,
            self.errors,
            rate(self.acked, self.answer_window),
        );
        if let Some(error) = &self.first_error {
            println!("            first error: {error}");
        }
        println!("  answer    {}", self.answer.line());
        println!(
            "delivered:  {} of {} accepted ({} dropped); resent with the same key {}, \
             delivered twice under another key {}; notices {}, unmatched {}",
            self.delivered,
            self.acked,
            self.dropped,
            self.resent_same_key,
            self.resent_new_key,
            self.notices,
            self.unmatched,
        );
        println!(
            "  throughput {:.0} deliveries/s ({} in {:.2} s, first post to last delivery)",
            rate(self.delivered, self.delivery_window),
            self.delivered,
            self.delivery_window,
        );
        println!("  webhook → delivery  {}", self.end_to_end.line());
        let cores = |seconds: f64| {
            if self.delivery_window > 0.0 {
                seconds / self.delivery_window
            } else {
                0.0
            }
        };
        if let Some(seconds) = self.host_cpu_seconds {
            println!(
                "host:       {seconds:.2} s CPU ({:.2} cores), {:.0} µs CPU per message",
                cores(seconds),
                seconds * 1e6 / self.delivered.max(1) as f64
            );
        }
        if let Some(seconds) = self.own_cpu_seconds {
            println!(
                "generator + sink: {seconds:.2} s CPU ({:.2} cores)",
                cores(seconds)
            );
        }
        if let Some(kib) = self.host_peak_kib {
            println!("host peak RSS (VmHWM): {:.1} MiB", kib as f64 / 1024.0);
        }
        if let Some(metrics) = &self.host_metrics {
            metrics.print();
        }
    }

    fn verdict(&self) -> Result<()> {
        if self.dropped > 0 {
            bail!(
                "{} webhooks the ingress accepted were not delivered",
                self.dropped
            );
        }
        if self.resent_new_key > 0 {
            bail!(
                "{} messages were delivered twice under different idempotency keys",
                self.resent_new_key
            );
        }
        Ok(())
    }
}

/// The host's metrics over the measured run: counters' increase and the
/// delivery-latency histogram's buckets.
pub(crate) struct MetricsDelta {
    pub(crate) counters: BTreeMap<String, f64>,
    /// Upper bound (seconds) → observations in the run at or under it.
    latency: Vec<(f64, f64)>,
}

/// The host's `/metrics` text, parsed: every sample by its full name.
pub(crate) type Samples = BTreeMap<String, f64>;

pub(crate) async fn fetch_metrics(base: &str) -> Option<Samples> {
    let url = format!("{base}/metrics");
    let text = tokio::task::spawn_blocking(move || {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .timeout_global(Some(Duration::from_secs(10)))
            .build()
            .into();
        agent
            .get(&url)
            .call()
            .ok()?
            .body_mut()
            .read_to_string()
            .ok()
    })
    .await
    .ok()??;
    Some(
        text.lines()
            .filter(|line| !line.starts_with('#'))
            .filter_map(|line| {
                let (name, value) = line.rsplit_once(' ')?;
                Some((name.to_string(), value.parse().ok()?))
            })
            .collect(),
    )
}

impl MetricsDelta {
    pub(crate) fn between(before: &Samples, after: &Samples) -> MetricsDelta {
        let delta = |name: &str| {
            after.get(name).copied().unwrap_or(0.0) - before.get(name).copied().unwrap_or(0.0)
        };
        let counters = after
            .keys()
            .filter(|name| name.contains("_total"))
            .map(|name| (name.clone(), delta(name)))
            .filter(|(_, value)| *value != 0.0)
            .collect();
        let mut latency: Vec<(f64, f64)> = after
            .keys()
            .filter_map(|name| {
                let bound = name
                    .strip_prefix("switchboard_delivery_latency_seconds_bucket{le=\"")?
                    .strip_suffix("\"}")?;
                let bound = if bound == "+Inf" {
                    f64::INFINITY
                } else {
                    bound.parse().ok()?
                };
                Some((bound, delta(name)))
            })
            .collect();
        latency.sort_by(|a, b| a.0.total_cmp(&b.0));
        MetricsDelta { counters, latency }
    }

    /// The smallest bucket bound holding quantile `q` of the run's
    /// observations.
    fn quantile(&self, q: f64) -> Option<f64> {
        let total = self.latency.last()?.1;
        if total <= 0.0 {
            return None;
        }
        self.latency
            .iter()
            .find(|(_, count)| *count >= q * total)
            .map(|(bound, _)| *bound)
    }

    pub(crate) fn print(&self) {
        let counters: Vec<String> = self
            .counters
            .iter()
            .map(|(name, value)| format!("{name} +{value}"))
            .collect();
        println!("host metrics over the run: {}", counters.join(", "));
        if let (Some(p50), Some(p99)) = (self.quantile(0.5), self.quantile(0.99)) {
            println!(
                "  host delivery latency (routed → send accepted, histogram bucket bounds): p50 ≤ {}  p99 ≤ {}",
                ms(p50),
                ms(p99)
            );
        }
    }
}

/// A `kB` field of `/proc/<pid>/status` (`VmHWM`: peak resident memory).
pub(crate) fn proc_status_kib(pid: u32, field: &str) -> Option<u64> {
    read_proc(pid, "status")?.lines().find_map(|line| {
        let rest = line.strip_prefix(field)?.strip_prefix(':')?;
        rest.trim().trim_end_matches("kB").trim().parse().ok()
    })
}

/// User plus system CPU time of a process, from `/proc/<pid>/stat`.
pub(crate) fn cpu_seconds(pid: u32) -> Option<f64> {
    let stat = read_proc(pid, "stat")?;
    // The command name may hold spaces: fields are counted after its `)`.
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    // Linux reports these in USER_HZ, 100 on every architecture it runs on.
    Some((utime + stime) / 100.0)
}

fn read_proc(pid: u32, file: &str) -> Option<String> {
    std::fs::read_to_string(Path::new("/proc").join(pid.to_string()).join(file)).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn webhooks_are_valid_json_with_their_sequence_number() {
        let body = webhook("abc", 42, "155501000003", 1_749_416_383);
        let value: serde_json::Value = serde_json::from_str(&body).unwrap();
        let message = &value["entry"][0]["changes"][0]["value"]["messages"][0];
        assert_eq!(message["id"], "wamid.LOADabc0000000042");
        assert_eq!(message["from"], "155501000003");
        assert_eq!(message["text"]["body"], "switchboard load abc seq 42");
    }

    #[test]
    fn the_sink_tells_resends_from_second_deliveries() {
        let ledger = Ledger::new(3);
        let send = |seq: u64| {
            serde_json::json!({ "recipient": { "id": "1" },
                "message": { "text": format!("switchboard load {} seq {seq}", ledger.run) } })
        };
        ledger.receive(&send(1), Some("k1"));
        ledger.receive(&send(1), Some("k1"));
        ledger.receive(&send(1), Some("k2"));
        ledger.receive(&send(7), Some("k7"));
        ledger.receive(
            &serde_json::json!({ "messaging_product": "whatsapp" }),
            None,
        );
        let counts = &ledger.counts;
        assert_eq!(counts.delivered.load(Ordering::SeqCst), 1);
        assert_eq!(counts.resent_same_key.load(Ordering::SeqCst), 1);
        assert_eq!(counts.resent_new_key.load(Ordering::SeqCst), 1);
        assert_eq!(counts.unmatched.load(Ordering::SeqCst), 1);
        assert_eq!(counts.notices.load(Ordering::SeqCst), 1);
    }

    #[test]
    fn percentiles_are_nearest_rank() {
        let p = Percentiles::of((1..=100).map(|ms| ms * 1_000_000).collect());
        assert_eq!(p.p50, 0.050);
        assert_eq!(p.p99, 0.099);
        assert_eq!(p.max, 0.100);
    }

    #[test]
    fn signatures_match_the_gateways() {
        // HMAC-SHA256("key", "The quick brown fox jumps over the lazy dog").
        assert_eq!(
            hub_signature("key", b"The quick brown fox jumps over the lazy dog"),
            "sha256=f7bc83f430538424b13298e6aa6fb143ef4d59a14946175997479dbc2d1a3cd8"
        );
    }
}
