//! `switchboard soak`: hostile traffic at the front door while conversations
//! flow, and what it cost them.
//!
//! For `--duration`, WhatsApp senders in direct conversations post signed
//! text webhooks at `--rate` a second (open loop, as `switchboard load`
//! posts them, a `503` sent again a second later, as a platform retries), and
//! a counting sink playing the Send APIs matches every delivery to its
//! webhook. At the same time, each on its own tasks and with its own
//! intensity, attackers go at the same host:
//!
//! - **slowloris**: `--slow-headers` connections dripping a request head a
//!   byte every `--drip-ms` and never ending it; `--slow-bodies` connections
//!   sending a whole head (`content-length: 1000`) and then dripping the
//!   body; `--idle` connections sending nothing. Each connection, once the
//!   host closes it, is opened again.
//! - **oversized**: `--oversized` bodies a second over the WhatsApp route's
//!   4 MiB, alternately announced (`content-length: 100000000`, nothing sent)
//!   and chunked (6 MiB sent in 64 KiB chunks); and `--huge` bodies a second
//!   that are under the limit but no instance can decode: a signed JSON array
//!   of 2^20 numbers (2.1 MB), a different one each time.
//! - **malformed**: `--malformed` bodies a second, in turn signed bad JSON,
//!   signed JSON of the wrong shape (numbers where strings go), a well-formed
//!   webhook with a wrong signature and one with none; each body different.
//! - **strangers**: `--strangers` signed, well-formed webhooks a second, each
//!   from a new WhatsApp sender in no conversation.
//!
//! The report: the legitimate webhooks posted, accepted, delivered and
//! **lost** (accepted, not delivered after `--drain-secs` without progress),
//! duplicated (resent with the same idempotency key / delivered twice under
//! another); for every kind of request, each answer the host gave (a status,
//! `closed` without an answer, `reset`, `cut` when the run ended first) next
//! to what the front door promises; `5xx` answers; the refusal notices the
//! sink received (they go to strangers, at most one per sender per
//! `notice_interval_ms`, and strangers are on record at most
//! `unknown_senders_per_minute`); the host's peak RSS (`VmHWM`), and its
//! store file's size before and after. Progress lines every
//! `--progress-secs`. It fails when a legitimate webhook was lost or
//! delivered twice under two keys, or when any answer was a 5xx other than
//! `503`. `--json FILE` writes the figures as JSON too.
//!
//! ```sh
//! cargo run --release -p switchboard -- soak --duration 120s --rate 50
//! # against a running host (see `switchboard load` for its settings):
//! switchboard soak --target http://127.0.0.1:3000 --admin-token t \
//!   --host-pid $PID --store state/kv.redb
//! ```

use super::load::{
    self, Accounts, HostArgs, HostOptions, Ledger, MetricsDelta, Percentiles, StartedHost, Target,
    UNLIMITED_RATE,
};
use anyhow::{Context, Result, bail};
use bytes::Bytes;
use std::collections::BTreeMap;
use std::future::Future;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use webhook_signature::hub_signature;

/// Requests of one rate-driven attack in flight at once; past it the attacker
/// skips (and counts) a request rather than pile up.
const ATTACK_IN_FLIGHT: usize = 64;
/// How long an attacker waits for an answer to a request it finished sending.
const ANSWER_WAIT: Duration = Duration::from_secs(60);

/// Options of `switchboard soak`.
#[derive(clap::Args, Debug)]
pub struct SoakArgs {
    /// The host under load, or the one this command starts.
    #[command(flatten)]
    pub host: HostArgs,
    /// How long the legitimate traffic and the attacks run (`90s`, `2m`,
    /// `500ms`; a bare number is seconds).
    #[arg(long, default_value = "60s", value_parser = parse_duration)]
    pub duration: Duration,
    /// Legitimate webhooks a second, from senders in conversations.
    #[arg(long, default_value_t = 50.0)]
    pub rate: f64,
    /// Keep-alive connections the legitimate webhooks are posted over.
    #[arg(long, default_value_t = 8)]
    pub concurrency: usize,
    /// Legitimate WhatsApp senders, each in a direct conversation with its
    /// own Messenger account.
    #[arg(long, default_value_t = 16)]
    pub senders: usize,
    /// Connections dripping a request head that never ends.
    #[arg(long, default_value_t = 64)]
    pub slow_headers: usize,
    /// Connections sending a whole head, then dripping a body that never
    /// ends.
    #[arg(long, default_value_t = 64)]
    pub slow_bodies: usize,
    /// Connections that send nothing.
    #[arg(long, default_value_t = 64)]
    pub idle: usize,
    /// Milliseconds between two bytes of a slow connection.
    #[arg(long, default_value_t = 1000)]
    pub drip_ms: u64,
    /// Bodies over the route's limit a second (announced and chunked in
    /// turn).
    #[arg(long, default_value_t = 2.0)]
    pub oversized: f64,
    /// Signed bodies under the limit that no instance can decode (2.1 MB JSON
    /// arrays) a second.
    #[arg(long, default_value_t = 0.2)]
    pub huge: f64,
    /// Malformed webhooks a second (bad JSON, wrong types, bad signature, no
    /// signature, in turn).
    #[arg(long, default_value_t = 20.0)]
    pub malformed: f64,
    /// Signed, well-formed webhooks a second from senders in no
    /// conversation, each a new one.
    #[arg(long, default_value_t = 50.0)]
    pub strangers: f64,
    /// The `--target` host's store file (its `kv.redb`), for its size.
    #[arg(long)]
    pub store: Option<PathBuf>,
    /// `[http] header_timeout_ms` of the host this command starts (default:
    /// the host's).
    #[arg(long)]
    pub header_timeout_ms: Option<u64>,
    /// `[http] body_timeout_ms` of the host this command starts.
    #[arg(long)]
    pub body_timeout_ms: Option<u64>,
    /// `[http] max_connections` of the host this command starts.
    #[arg(long)]
    pub max_connections: Option<usize>,
    /// Seconds to wait for deliveries once the run is over, from the last
    /// one that came.
    #[arg(long, default_value_t = 60)]
    pub drain_secs: u64,
    /// Seconds between two progress lines.
    #[arg(long, default_value_t = 5)]
    pub progress_secs: u64,
    /// Also write the figures to this file as JSON.
    #[arg(long)]
    pub json: Option<PathBuf>,
}

/// `90s`, `2m`, `1h`, `500ms` or a bare number of seconds.
fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let (number, unit) = match text.find(|c: char| !(c.is_ascii_digit() || c == '.')) {
        Some(at) => text.split_at(at),
        None => (text, "s"),
    };
    let number: f64 = number
        .parse()
        .map_err(|_| format!("{text}: not a duration (90s, 2m, 500ms)"))?;
    let seconds = match unit.trim() {
        "ms" => number / 1000.0,
        "s" => number,
        "m" => number * 60.0,
        "h" => number * 3600.0,
        other => return Err(format!("{text}: unknown unit {other:?} (ms, s, m, h)")),
    };
    Duration::try_from_secs_f64(seconds).map_err(|error| format!("{text}: {error}"))
}

/// What a request of the soak was: legitimate, or one attack.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Kind {
    Legitimate,
    SlowHeaders,
    SlowBody,
    Idle,
    OversizedAnnounced,
    OversizedChunked,
    HugeUnderLimit,
    BadJson,
    WrongTypes,
    BadSignature,
    Unsigned,
    Strangers,
}

impl Kind {
    const ALL: [Kind; 12] = [
        Kind::Legitimate,
        Kind::SlowHeaders,
        Kind::SlowBody,
        Kind::Idle,
        Kind::OversizedAnnounced,
        Kind::OversizedChunked,
        Kind::HugeUnderLimit,
        Kind::BadJson,
        Kind::WrongTypes,
        Kind::BadSignature,
        Kind::Unsigned,
        Kind::Strangers,
    ];

    /// Oversized request `n`: announced and chunked in turn.
    fn oversized(n: u64) -> Kind {
        if n.is_multiple_of(2) {
            Kind::OversizedAnnounced
        } else {
            Kind::OversizedChunked
        }
    }

    /// Malformed request `n`: the four kinds in turn.
    fn malformed(n: u64) -> Kind {
        match n % 4 {
            0 => Kind::BadJson,
            1 => Kind::WrongTypes,
            2 => Kind::BadSignature,
            _ => Kind::Unsigned,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Kind::Legitimate => "legitimate",
            Kind::SlowHeaders => "slow-headers",
            Kind::SlowBody => "slow-body",
            Kind::Idle => "idle",
            Kind::OversizedAnnounced => "oversized-announced",
            Kind::OversizedChunked => "oversized-chunked",
            Kind::HugeUnderLimit => "huge-under-limit",
            Kind::BadJson => "bad-json",
            Kind::WrongTypes => "wrong-types",
            Kind::BadSignature => "bad-signature",
            Kind::Unsigned => "unsigned",
            Kind::Strangers => "strangers",
        }
    }

    /// The answers the front door promises this kind of request
    /// (`host/runtime/src/http.rs`, `tests/all/runtime/front_door.rs`):
    /// `closed` is a connection closed with no answer, `cut` one still
    /// waiting when the run ended (a slow connection inside its deadline),
    /// `skipped` a request the attacker did not send (its own cap). A `503`
    /// is the promised answer to a full house for requests that reach an
    /// instance (those that pass the signature check).
    fn promised(self) -> &'static [&'static str] {
        match self {
            Kind::Legitimate => &["200", "503"],
            // hyper closes a connection whose head is late, with no answer;
            // when a dripped byte was on its way as it did, the kernel
            // closes with a reset instead.
            Kind::SlowHeaders => &["closed", "reset", "408", "cut"],
            Kind::Idle => &["closed", "408", "cut"],
            Kind::SlowBody => &["408", "cut"],
            Kind::OversizedAnnounced | Kind::OversizedChunked => &["413", "skipped"],
            // Kept and answered 4xx (422 when the instance ran out of memory
            // or time, 400 when the decoder refused it).
            Kind::HugeUnderLimit => &["400", "422", "503", "skipped"],
            Kind::BadJson | Kind::WrongTypes => &["400", "503", "skipped"],
            Kind::BadSignature | Kind::Unsigned => &["401", "skipped"],
            Kind::Strangers => &["200", "503", "skipped"],
        }
    }
}

/// Every answer, by kind of request.
#[derive(Default)]
struct Tally {
    answers: Mutex<BTreeMap<Kind, BTreeMap<String, u64>>>,
}

impl Tally {
    fn add(&self, kind: Kind, outcome: &str) {
        if let Ok(mut answers) = self.answers.lock() {
            *answers
                .entry(kind)
                .or_default()
                .entry(outcome.to_string())
                .or_default() += 1;
        }
    }

    fn snapshot(&self) -> BTreeMap<Kind, BTreeMap<String, u64>> {
        self.answers
            .lock()
            .map(|answers| answers.clone())
            .unwrap_or_default()
    }
}

fn is_5xx(outcome: &str) -> bool {
    outcome.len() == 3 && outcome.starts_with('5')
}

/// Runs the soak and prints the figures; an error when a legitimate message
/// was lost or duplicated, or an answer was a 5xx other than 503.
pub fn run(args: SoakArgs) -> Result<()> {
    if args.concurrency == 0 || args.senders == 0 {
        bail!("--concurrency and --senders must be at least 1");
    }
    if args.rate.is_nan() || args.rate <= 0.0 {
        bail!("--rate must be a positive number of webhooks a second");
    }
    for (name, rate) in [
        ("--oversized", args.oversized),
        ("--huge", args.huge),
        ("--malformed", args.malformed),
        ("--strangers", args.strangers),
    ] {
        if rate.is_nan() || rate < 0.0 {
            bail!("{name} must be zero or a positive number a second");
        }
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
    let (base, admin_token, pid, store) = match &args.host.target {
        Some(target) => (
            target.trim_end_matches('/').to_string(),
            args.host.admin_token.clone(),
            args.host.host_pid,
            args.store.clone(),
        ),
        None => {
            let token = format!("soak-{:016x}", rand::random::<u64>());
            let mut http = String::new();
            for (name, value) in [
                ("header_timeout_ms", args.header_timeout_ms),
                ("body_timeout_ms", args.body_timeout_ms),
                ("max_connections", args.max_connections.map(|v| v as u64)),
            ] {
                if let Some(value) = value {
                    http.push_str(&format!("{name} = {value}\n"));
                }
            }
            let options = HostOptions {
                manifest: &args.host.manifest,
                state_dir: args.host.state_dir.as_deref(),
                app_secret: &args.host.app_secret,
                workers: args.host.workers,
                extra_config: if http.is_empty() {
                    String::new()
                } else {
                    format!("[http]\n{http}")
                },
                name: "soak",
            };
            let host = StartedHost::start(&options, sink_addr, &token)?;
            let (base, pid, store) = (host.base.clone(), host.child.id(), host.store_path());
            started = host;
            eprintln!(
                "host {base} started (pid {pid}, state in {}, log in {}; \
                 SPIN_VARIABLE_RATE_PER_MINUTE={UNLIMITED_RATE})",
                started.dir.display(),
                started.dir.join("host.log").display()
            );
            (base, Some(token), Some(pid), Some(store))
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
    let report = tokio.block_on(soak(
        &args,
        &base,
        sink_listener,
        accounts,
        pid,
        store.as_deref(),
    ))?;
    report.print(&args);
    if let Some(path) = &args.json {
        std::fs::write(path, serde_json::to_string_pretty(&report.json(&args))?)
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    report.verdict()
}

/// Everything the attackers and the legitimate posters share.
struct Field {
    target: Arc<Target>,
    ledger: Arc<Ledger>,
    tally: Arc<Tally>,
    /// When the attacks stop.
    deadline: Instant,
    /// Stranger and malformed bodies are numbered apart from the ledger's.
    counter: AtomicU64,
}

impl Field {
    fn next(&self) -> u64 {
        self.counter.fetch_add(1, Ordering::Relaxed)
    }

    fn timestamp() -> u64 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|elapsed| elapsed.as_secs())
            .unwrap_or_default()
    }

    /// A whole POST to the WhatsApp ingress: head (with `signature` if any,
    /// `connection: close`) and body.
    fn request(&self, body: &[u8], signature: Option<&str>) -> Bytes {
        let mut head = format!(
            "POST /ingress/whatsapp HTTP/1.1\r\nhost: {}\r\ncontent-type: application/json\r\n\
             content-length: {}\r\nconnection: close\r\n",
            self.target.authority,
            body.len()
        );
        if let Some(signature) = signature {
            head.push_str(&format!("x-hub-signature-256: {signature}\r\n"));
        }
        head.push_str("\r\n");
        let mut request = head.into_bytes();
        request.extend_from_slice(body);
        Bytes::from(request)
    }

    fn signed(&self, body: &[u8]) -> Bytes {
        self.request(body, Some(&hub_signature(&self.target.secret, body)))
    }

    /// A well-formed webhook from stranger `n`, a sender in no conversation.
    fn stranger_webhook(&self, n: u64) -> String {
        load::webhook(
            &format!("{}x", self.ledger.run),
            n,
            &format!("1666{n:08}"),
            Field::timestamp(),
        )
    }
}

async fn soak(
    args: &SoakArgs,
    base: &str,
    sink_listener: std::net::TcpListener,
    accounts: Accounts,
    pid: Option<u32>,
    store: Option<&Path>,
) -> Result<Report> {
    let target = Arc::new(Target::resolve(base, &args.host.app_secret).await?);
    let legitimate = (args.rate * args.duration.as_secs_f64()).ceil().max(1.0) as u64;
    // Webhook 0 is the probe, sent and delivered before the run.
    let ledger = Arc::new(Ledger::new(legitimate + 1));
    let listener = TcpListener::from_std(sink_listener)?;
    let sink_task = tokio::spawn(load::sink(listener, ledger.clone()));
    let accounts = Arc::new(accounts);
    let patience = Duration::from_secs(args.drain_secs);

    let probe_tally = Arc::new(Tally::default());
    post_legitimate(
        target.clone(),
        ledger.clone(),
        accounts.clone(),
        probe_tally,
        0..1,
        1,
        None,
    )
    .await;
    if load::drain(&ledger, 0..1, patience).await > 0 || ledger.acked[0].load(Ordering::SeqCst) == 0
    {
        let error = ledger
            .first_error
            .lock()
            .ok()
            .and_then(|error| error.clone())
            .unwrap_or_default();
        bail!("the probe webhook was not delivered ({error}): is the host's api_base the sink?");
    }
    // Notices and deliveries of the probe are not the run's.
    let notices_before = ledger.counts.notices.load(Ordering::SeqCst);
    let store_size = |path: Option<&Path>| {
        path.and_then(|path| std::fs::metadata(path).ok())
            .map(|m| m.len())
    };
    let store_before = store_size(store);
    let rss_before = pid.and_then(|pid| load::proc_status_kib(pid, "VmRSS"));
    let cpu_before = pid.and_then(load::cpu_seconds);
    let metrics_before = load::fetch_metrics(base).await;

    let began = Instant::now();
    let field = Arc::new(Field {
        target: target.clone(),
        ledger: ledger.clone(),
        tally: Arc::new(Tally::default()),
        deadline: began + args.duration,
        counter: AtomicU64::new(0),
    });
    eprintln!(
        "soaking for {:.0} s: {} legitimate webhooks a second over {} connections; \
         {} slow-header, {} slow-body and {} idle connections; {}/s oversized, {}/s huge, \
         {}/s malformed, {}/s strangers",
        args.duration.as_secs_f64(),
        args.rate,
        args.concurrency,
        args.slow_headers,
        args.slow_bodies,
        args.idle,
        args.oversized,
        args.huge,
        args.malformed,
        args.strangers,
    );
    let stop = Arc::new(tokio::sync::Notify::new());
    let reporter = tokio::spawn(progress(
        field.clone(),
        pid,
        store.map(Path::to_path_buf),
        Duration::from_secs(args.progress_secs.max(1)),
        stop.clone(),
    ));
    let mut attackers = Vec::new();
    let drip = Duration::from_millis(args.drip_ms.max(1));
    for (kind, count) in [
        (Kind::SlowHeaders, args.slow_headers),
        (Kind::SlowBody, args.slow_bodies),
        (Kind::Idle, args.idle),
    ] {
        for _ in 0..count {
            attackers.push(tokio::spawn(slow_connection(field.clone(), kind, drip)));
        }
    }
    attackers.push(tokio::spawn(at_rate(
        field.clone(),
        args.oversized,
        Kind::oversized,
        oversized,
    )));
    attackers.push(tokio::spawn(at_rate(
        field.clone(),
        args.huge,
        |_| Kind::HugeUnderLimit,
        huge,
    )));
    attackers.push(tokio::spawn(at_rate(
        field.clone(),
        args.malformed,
        Kind::malformed,
        malformed,
    )));
    attackers.push(tokio::spawn(at_rate(
        field.clone(),
        args.strangers,
        |_| Kind::Strangers,
        stranger,
    )));
    let measured = 1..legitimate + 1;
    post_legitimate(
        target.clone(),
        ledger.clone(),
        accounts.clone(),
        field.tally.clone(),
        measured.clone(),
        args.concurrency,
        Some(args.rate),
    )
    .await;
    let posting_took = began.elapsed();
    for attacker in attackers {
        let _ = attacker.await;
    }
    eprintln!(
        "run over after {:.1} s; waiting for the deliveries",
        began.elapsed().as_secs_f64()
    );
    let lost = load::drain(&ledger, measured.clone(), patience).await;
    // Notices to strangers may still be on their way: until none came for 2 s.
    let mut notices = ledger.counts.notices.load(Ordering::SeqCst);
    loop {
        tokio::time::sleep(Duration::from_secs(2)).await;
        let now = ledger.counts.notices.load(Ordering::SeqCst);
        if now == notices {
            break;
        }
        notices = now;
    }
    stop.notify_one();
    let _ = reporter.await;
    let metrics_after = load::fetch_metrics(base).await;
    sink_task.abort();

    let mut end_to_end = Vec::new();
    let count = |slots: &[AtomicU64]| {
        measured
            .clone()
            .filter(|&seq| slots[seq as usize].load(Ordering::SeqCst) != 0)
            .count() as u64
    };
    for seq in measured.clone() {
        let (posted, delivered) = (
            ledger.posted[seq as usize].load(Ordering::SeqCst),
            ledger.delivered[seq as usize].load(Ordering::SeqCst),
        );
        if posted != 0 && delivered != 0 {
            end_to_end.push(delivered.saturating_sub(posted));
        }
    }
    let notified = ledger
        .notified
        .lock()
        .map(|notified| notified.clone())
        .unwrap_or_default();
    let legit_senders: std::collections::HashSet<&String> = accounts.whatsapp.iter().collect();
    let counts = &ledger.counts;
    Ok(Report {
        duration: args.duration,
        posting_took,
        webhooks: legitimate,
        posted: count(&ledger.posted),
        accepted: count(&ledger.acked),
        delivered: count(&ledger.delivered),
        lost,
        ingress_duplicates: counts.ingress_duplicates.load(Ordering::SeqCst),
        resent_same_key: counts.resent_same_key.load(Ordering::SeqCst),
        resent_new_key: counts.resent_new_key.load(Ordering::SeqCst),
        unmatched: counts.unmatched.load(Ordering::SeqCst),
        end_to_end: Percentiles::of(end_to_end),
        answers: field.tally.snapshot(),
        strangers_posted: field
            .tally
            .snapshot()
            .get(&Kind::Strangers)
            .map_or(0, |answers| {
                answers
                    .iter()
                    .filter(|(outcome, _)| outcome.as_str() != "skipped")
                    .map(|(_, count)| count)
                    .sum()
            }),
        notices: notices - notices_before,
        notices_to_legitimate: notified
            .iter()
            .filter(|(to, _)| legit_senders.contains(to))
            .map(|(_, count)| count)
            .sum(),
        strangers_notified: notified.keys().filter(|to| to.starts_with("1666")).count() as u64,
        most_notices_to_one: notified.values().copied().max().unwrap_or(0),
        rss_before_kib: rss_before,
        peak_rss_kib: pid.and_then(|pid| load::proc_status_kib(pid, "VmHWM")),
        host_cpu_seconds: cpu_before
            .and_then(|before| Some(pid.and_then(load::cpu_seconds)? - before)),
        store_before,
        store_after: store_size(store),
        host_metrics: match (metrics_before, metrics_after) {
            (Some(before), Some(after)) => Some(MetricsDelta::between(&before, &after)),
            _ => None,
        },
    })
}

/// Posts the legitimate webhooks `range` over `concurrency` keep-alive
/// connections, at `rate` a second (open loop) if given. A webhook answered
/// `503`, or whose connection broke before its answer, is sent again (after
/// a second for a 503), as Meta does, up to ten times.
async fn post_legitimate(
    target: Arc<Target>,
    ledger: Arc<Ledger>,
    accounts: Arc<Accounts>,
    tally: Arc<Tally>,
    range: std::ops::Range<u64>,
    concurrency: usize,
    rate: Option<f64>,
) {
    let next = Arc::new(AtomicU64::new(range.start));
    let begun = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..concurrency {
        let (target, ledger, accounts, tally, next) = (
            target.clone(),
            ledger.clone(),
            accounts.clone(),
            tally.clone(),
            next.clone(),
        );
        let range = range.clone();
        tasks.push(tokio::spawn(async move {
            let mut connection = None;
            while let Some(seq) = load::take_due(&next, &range, begun, rate).await {
                for _ in 0..10 {
                    let sender = match &mut connection {
                        Some(sender) => sender,
                        None => match target.connect().await {
                            Ok(sender) => connection.insert(sender),
                            Err(error) => {
                                tally.add(Kind::Legitimate, "connect-error");
                                ledger.error(format!("{error:#}"));
                                tokio::time::sleep(Duration::from_millis(200)).await;
                                continue;
                            }
                        },
                    };
                    let answer = tokio::time::timeout(
                        ANSWER_WAIT,
                        load::post_one(&target, &ledger, &accounts, sender, seq),
                    )
                    .await;
                    match answer {
                        Ok(Some(503)) => {
                            tally.add(Kind::Legitimate, "503");
                            tokio::time::sleep(Duration::from_secs(1)).await;
                        }
                        Ok(Some(status)) => {
                            tally.add(Kind::Legitimate, &status.to_string());
                            break;
                        }
                        // A keep-alive connection the host closed (idle past
                        // its header deadline) or one that broke: again on
                        // a new one.
                        Ok(None) => connection = None,
                        Err(_) => {
                            tally.add(Kind::Legitimate, "timeout");
                            connection = None;
                        }
                    }
                }
            }
        }));
    }
    for task in tasks {
        let _ = task.await;
    }
}

/// Reads until the status line of an answer, the end of the stream or
/// `until`: the status code (`"413"`), `closed` (ended with no answer),
/// `reset` (a connection error with no answer) or `timeout`.
async fn read_status(reader: &mut (impl AsyncRead + Unpin), until: Instant) -> String {
    let mut answer = Vec::with_capacity(128);
    let mut chunk = [0u8; 512];
    let status = |answer: &[u8]| -> Option<String> {
        let line = std::str::from_utf8(answer).ok()?.lines().next()?;
        let code = line.strip_prefix("HTTP/1.")?.get(2..5)?;
        Some(code.to_string())
    };
    loop {
        match tokio::time::timeout_at(until.into(), reader.read(&mut chunk)).await {
            Err(_) => return status(&answer).unwrap_or_else(|| "timeout".into()),
            Ok(Ok(0)) => return status(&answer).unwrap_or_else(|| "closed".into()),
            Ok(Ok(read)) => {
                answer.extend_from_slice(&chunk[..read]);
                if answer.windows(2).any(|pair| pair == b"\r\n") {
                    return status(&answer).unwrap_or_else(|| "garbled".into());
                }
            }
            Ok(Err(_)) => return status(&answer).unwrap_or_else(|| "reset".into()),
        }
    }
}

/// Sends `parts` on a new connection while reading the answer (which may
/// come before everything is sent, as a 413 does): the answer's outcome.
async fn exchange(addr: SocketAddr, parts: Vec<Bytes>, until: Instant) -> String {
    let stream = match tokio::time::timeout(Duration::from_secs(10), TcpStream::connect(addr)).await
    {
        Ok(Ok(stream)) => stream,
        _ => return "connect-error".into(),
    };
    let _ = stream.set_nodelay(true);
    let (mut reader, mut writer) = stream.into_split();
    let send = async move {
        for part in parts {
            if writer.write_all(&part).await.is_err() {
                break;
            }
        }
        // The answer decides; the writing half stays open until then.
        std::future::pending::<()>().await;
        writer
    };
    tokio::select! {
        outcome = read_status(&mut reader, until) => outcome,
        _ = send => unreachable!("pending never ends"),
    }
}

/// A slow connection: opened again each time the host closes it, until the
/// run ends. A slow head drips header lines, a slow body a body announced as
/// 1000 bytes, an idle one sends nothing.
async fn slow_connection(field: Arc<Field>, kind: Kind, drip: Duration) {
    let authority = field.target.authority.clone();
    while Instant::now() < field.deadline {
        let stream = match tokio::time::timeout(
            Duration::from_secs(10),
            TcpStream::connect(field.target.addr),
        )
        .await
        {
            Ok(Ok(stream)) => stream,
            _ => {
                field.tally.add(kind, "connect-error");
                tokio::time::sleep(Duration::from_millis(200)).await;
                continue;
            }
        };
        let (mut reader, mut writer) = stream.into_split();
        let (head, drip_bytes): (String, Box<dyn Iterator<Item = u8> + Send>) = match kind {
            Kind::SlowHeaders => (
                format!(
                    "POST /ingress/whatsapp HTTP/1.1\r\nhost: {authority}\r\ncontent-length: 1000\r\n"
                ),
                Box::new((0u64..).flat_map(|i| format!("x-slow-{i}: {i}\r\n").into_bytes())),
            ),
            Kind::SlowBody => (
                format!(
                    "POST /ingress/whatsapp HTTP/1.1\r\nhost: {authority}\r\ncontent-type: application/json\r\n\
                     x-hub-signature-256: sha256=00\r\ncontent-length: 1000\r\n\r\n"
                ),
                Box::new(std::iter::repeat_n(b' ', 999)),
            ),
            _ => (String::new(), Box::new(std::iter::empty())),
        };
        let send = async move {
            if writer.write_all(head.as_bytes()).await.is_ok() {
                for byte in drip_bytes {
                    tokio::time::sleep(drip).await;
                    if writer.write_all(&[byte]).await.is_err() {
                        break;
                    }
                }
            }
            std::future::pending::<()>().await;
            writer
        };
        let outcome = tokio::select! {
            outcome = read_status(&mut reader, field.deadline) => outcome,
            _ = send => unreachable!("pending never ends"),
        };
        let outcome = if outcome == "timeout" {
            "cut".to_string()
        } else {
            outcome
        };
        field.tally.add(kind, &outcome);
    }
}

/// Calls `attack(field, n)` `rate` times a second until the run ends, each
/// on its own task, at most [`ATTACK_IN_FLIGHT`] at once (past it a request
/// is counted `skipped` under `kind(n)`, the kind it would have been).
async fn at_rate<F, Fut>(field: Arc<Field>, rate: f64, kind: fn(u64) -> Kind, attack: F)
where
    F: Fn(Arc<Field>, u64) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    if rate <= 0.0 {
        return;
    }
    let in_flight = Arc::new(Semaphore::new(ATTACK_IN_FLIGHT));
    let begun = Instant::now();
    for n in 0u64.. {
        let due = begun + Duration::from_secs_f64(n as f64 / rate);
        if due >= field.deadline {
            break;
        }
        tokio::time::sleep_until(due.into()).await;
        match in_flight.clone().try_acquire_owned() {
            Ok(permit) => {
                let request = attack(field.clone(), n);
                tokio::spawn(async move {
                    request.await;
                    drop(permit);
                });
            }
            Err(_) => field.tally.add(kind(n), "skipped"),
        }
    }
    // Every request in flight answered (each has its own deadline).
    let _ = in_flight.acquire_many(ATTACK_IN_FLIGHT as u32).await;
}

/// An oversized body: announced (`content-length` of 100 MB, nothing sent)
/// or chunked (6 MiB in 64 KiB chunks, never announced), in turn.
async fn oversized(field: Arc<Field>, n: u64) {
    let until = Instant::now() + ANSWER_WAIT;
    let authority = &field.target.authority;
    let signature = format!("sha256={:064x}", n);
    let kind = Kind::oversized(n);
    let parts = if kind == Kind::OversizedAnnounced {
        let head = format!(
            "POST /ingress/whatsapp HTTP/1.1\r\nhost: {authority}\r\ncontent-type: application/json\r\n\
             x-hub-signature-256: {signature}\r\ncontent-length: 100000000\r\n\r\n"
        );
        vec![Bytes::from(head)]
    } else {
        let head = format!(
            "POST /ingress/whatsapp HTTP/1.1\r\nhost: {authority}\r\ncontent-type: application/json\r\n\
             x-hub-signature-256: {signature}\r\ntransfer-encoding: chunked\r\n\r\n"
        );
        let mut chunk = format!("{:x}\r\n", 64 << 10).into_bytes();
        chunk.extend(std::iter::repeat_n(b'1', 64 << 10));
        chunk.extend_from_slice(b"\r\n");
        let chunk = Bytes::from(chunk);
        let mut parts = vec![Bytes::from(head)];
        parts.extend(std::iter::repeat_n(chunk, 96));
        parts.push(Bytes::from_static(b"0\r\n\r\n"));
        parts
    };
    let outcome = exchange(field.target.addr, parts, until).await;
    field.tally.add(kind, &outcome);
}

/// A signed JSON array of 2^20 numbers, the first `n` (a different body each
/// time): 2.1 MB, under WhatsApp's 4 MiB, more than an instance decodes.
async fn huge(field: Arc<Field>, n: u64) {
    let mut body = String::with_capacity(2_200_000);
    body.push_str(&format!("[{n}"));
    for _ in 1..(1 << 20) {
        body.push_str(",1");
    }
    body.push(']');
    let request = field.signed(body.as_bytes());
    let outcome = exchange(
        field.target.addr,
        vec![request],
        Instant::now() + ANSWER_WAIT,
    )
    .await;
    field.tally.add(Kind::HugeUnderLimit, &outcome);
}

/// A malformed webhook, each different: signed bad JSON, signed JSON of the
/// wrong shape, a well-formed one signed with another secret, one unsigned.
async fn malformed(field: Arc<Field>, n: u64) {
    let unique = field.next();
    let kind = Kind::malformed(n);
    let request = match kind {
        Kind::BadJson => {
            let body = format!(
                r#"{{"object":"whatsapp_business_account","entry":[{{"id":"{unique}","changes":[{{"#
            );
            field.signed(body.as_bytes())
        }
        Kind::WrongTypes => {
            let body = format!(
                r#"{{"object":"whatsapp_business_account","entry":[{{"id":"{unique}","changes":[{{"field":"messages","value":{{"messaging_product":"whatsapp","metadata":{{"display_phone_number":15550783881,"phone_number_id":"{phone}"}},"messages":[{{"from":{unique},"id":{unique},"timestamp":true,"type":"text","text":{{"body":["not","a","string"]}}}}]}}}}]}}]}}"#,
                phone = load::PHONE_NUMBER_ID
            );
            field.signed(body.as_bytes())
        }
        Kind::BadSignature => {
            let body = field.stranger_webhook(unique);
            let wrong = hub_signature("not-the-app-secret", body.as_bytes());
            field.request(body.as_bytes(), Some(&wrong))
        }
        _ => {
            let body = field.stranger_webhook(unique);
            field.request(body.as_bytes(), None)
        }
    };
    let outcome = exchange(
        field.target.addr,
        vec![request],
        Instant::now() + ANSWER_WAIT,
    )
    .await;
    field.tally.add(kind, &outcome);
}

/// A signed, well-formed webhook from a new sender in no conversation.
async fn stranger(field: Arc<Field>, _n: u64) {
    let body = field.stranger_webhook(field.next());
    let request = field.signed(body.as_bytes());
    let outcome = exchange(
        field.target.addr,
        vec![request],
        Instant::now() + ANSWER_WAIT,
    )
    .await;
    field.tally.add(Kind::Strangers, &outcome);
}

/// A progress line every `every` until `stop`.
async fn progress(
    field: Arc<Field>,
    pid: Option<u32>,
    store: Option<PathBuf>,
    every: Duration,
    stop: Arc<tokio::sync::Notify>,
) {
    let began = Instant::now();
    let mut tick = tokio::time::interval(every);
    tick.tick().await;
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = stop.notified() => return,
        }
        let counts = &field.ledger.counts;
        let answers = field.tally.snapshot();
        let (mut attacks, mut five_xx) = (0, 0);
        for (kind, outcomes) in &answers {
            for (outcome, count) in outcomes {
                if *kind != Kind::Legitimate {
                    attacks += count;
                }
                if is_5xx(outcome) {
                    five_xx += count;
                }
            }
        }
        let rss = pid
            .and_then(|pid| load::proc_status_kib(pid, "VmRSS"))
            .map(|kib| format!("  host RSS {} MiB", kib / 1024))
            .unwrap_or_default();
        let store = store
            .as_deref()
            .and_then(|path| std::fs::metadata(path).ok())
            .map(|meta| format!("  store {:.1} MiB", meta.len() as f64 / (1 << 20) as f64))
            .unwrap_or_default();
        eprintln!(
            "{:>6.1} s  legitimate: posted {} accepted {} delivered {}  attacks answered {}  5xx {}  notices {}{rss}{store}",
            began.elapsed().as_secs_f64(),
            counts.posted.load(Ordering::Relaxed),
            counts.acked.load(Ordering::Relaxed),
            counts.delivered.load(Ordering::Relaxed),
            attacks,
            five_xx,
            counts.notices.load(Ordering::Relaxed),
        );
    }
}

/// What a soak measured.
struct Report {
    duration: Duration,
    posting_took: Duration,
    /// Legitimate webhooks of the run (the probe aside).
    webhooks: u64,
    posted: u64,
    accepted: u64,
    delivered: u64,
    lost: u64,
    ingress_duplicates: u64,
    resent_same_key: u64,
    resent_new_key: u64,
    unmatched: u64,
    end_to_end: Percentiles,
    answers: BTreeMap<Kind, BTreeMap<String, u64>>,
    strangers_posted: u64,
    notices: u64,
    notices_to_legitimate: u64,
    strangers_notified: u64,
    most_notices_to_one: u64,
    rss_before_kib: Option<u64>,
    peak_rss_kib: Option<u64>,
    host_cpu_seconds: Option<f64>,
    store_before: Option<u64>,
    store_after: Option<u64>,
    host_metrics: Option<MetricsDelta>,
}

impl Report {
    /// Answers of `kind` the front door does not promise.
    fn unexpected(&self, kind: Kind) -> u64 {
        self.answers.get(&kind).map_or(0, |outcomes| {
            outcomes
                .iter()
                .filter(|(outcome, _)| !kind.promised().contains(&outcome.as_str()))
                .map(|(_, count)| count)
                .sum()
        })
    }

    fn count(&self, kind: Kind, filter: impl Fn(&str) -> bool) -> u64 {
        self.answers.get(&kind).map_or(0, |outcomes| {
            outcomes
                .iter()
                .filter(|(outcome, _)| filter(outcome))
                .map(|(_, count)| count)
                .sum()
        })
    }

    /// 5xx answers other than `503` (which is the promised "busy").
    fn server_errors(&self) -> u64 {
        Kind::ALL
            .iter()
            .map(|kind| self.count(*kind, |outcome| is_5xx(outcome) && outcome != "503"))
            .sum()
    }

    fn print(&self, args: &SoakArgs) {
        let mib = |bytes: u64| bytes as f64 / (1 << 20) as f64;
        println!(
            "soak: {:.0} s, {} legitimate webhooks at {}/s over {} connections ({} senders); \
             posting took {:.1} s",
            self.duration.as_secs_f64(),
            self.webhooks,
            args.rate,
            args.concurrency,
            args.senders,
            self.posting_took.as_secs_f64(),
        );
        println!(
            "legitimate: {} posted, {} accepted, {} delivered, {} LOST; duplicates at the ingress \
             (resent after a lost answer) {}; resent with the same key {}, delivered twice under \
             another key {}; unmatched sends {}",
            self.posted,
            self.accepted,
            self.delivered,
            self.lost,
            self.ingress_duplicates,
            self.resent_same_key,
            self.resent_new_key,
            self.unmatched,
        );
        println!("  webhook → delivery  {}", self.end_to_end.line());
        println!(
            "{:<20} {:>8}  {:<44} {:>6} {:>10}",
            "kind", "requests", "answers", "5xx", "unexpected"
        );
        for kind in Kind::ALL {
            let Some(outcomes) = self.answers.get(&kind) else {
                continue;
            };
            let total: u64 = outcomes.values().sum();
            let answers: Vec<String> = outcomes
                .iter()
                .map(|(outcome, count)| format!("{outcome}×{count}"))
                .collect();
            println!(
                "{:<20} {:>8}  {:<44} {:>6} {:>10}",
                kind.name(),
                total,
                answers.join(" "),
                self.count(kind, is_5xx),
                self.unexpected(kind),
            );
        }
        println!(
            "5xx: {} in all ({} to legitimate webhooks), {} other than 503",
            Kind::ALL
                .iter()
                .map(|kind| self.count(*kind, is_5xx))
                .sum::<u64>(),
            self.count(Kind::Legitimate, is_5xx),
            self.server_errors(),
        );
        println!(
            "notices: {} sent (to {} strangers, the most to one recipient {}; {} to legitimate \
             senders) for {} stranger webhooks posted",
            self.notices,
            self.strangers_notified,
            self.most_notices_to_one,
            self.notices_to_legitimate,
            self.strangers_posted,
        );
        let kib = |value: Option<u64>| {
            value.map_or("-".to_string(), |kib| {
                format!("{:.1} MiB", kib as f64 / 1024.0)
            })
        };
        println!(
            "host: RSS {} before, peak (VmHWM) {}{}",
            kib(self.rss_before_kib),
            kib(self.peak_rss_kib),
            self.host_cpu_seconds
                .map(|seconds| format!(", {seconds:.1} s CPU over the run"))
                .unwrap_or_default(),
        );
        if let (Some(before), Some(after)) = (self.store_before, self.store_after) {
            println!(
                "store: {:.1} MiB before, {:.1} MiB after",
                mib(before),
                mib(after)
            );
        }
        if let Some(metrics) = &self.host_metrics {
            metrics.print();
        }
    }

    fn json(&self, args: &SoakArgs) -> serde_json::Value {
        let kinds: serde_json::Map<String, serde_json::Value> = self
            .answers
            .iter()
            .map(|(kind, outcomes)| {
                (
                    kind.name().to_string(),
                    serde_json::json!({
                        "answers": outcomes,
                        "promised": kind.promised(),
                        "unexpected": self.unexpected(*kind),
                        "5xx": self.count(*kind, is_5xx),
                    }),
                )
            })
            .collect();
        serde_json::json!({
            "duration_s": self.duration.as_secs_f64(),
            "rate": args.rate,
            "legitimate": {
                "webhooks": self.webhooks,
                "posted": self.posted,
                "accepted": self.accepted,
                "delivered": self.delivered,
                "lost": self.lost,
                "ingress_duplicates": self.ingress_duplicates,
                "resent_same_key": self.resent_same_key,
                "resent_new_key": self.resent_new_key,
                "unmatched": self.unmatched,
                "p50_ms": self.end_to_end.p50 * 1e3,
                "p99_ms": self.end_to_end.p99 * 1e3,
                "max_ms": self.end_to_end.max * 1e3,
            },
            "kinds": kinds,
            "server_errors": self.server_errors(),
            "notices": {
                "sent": self.notices,
                "strangers_notified": self.strangers_notified,
                "most_to_one": self.most_notices_to_one,
                "to_legitimate": self.notices_to_legitimate,
                "strangers_posted": self.strangers_posted,
            },
            "host": {
                "rss_before_kib": self.rss_before_kib,
                "peak_rss_kib": self.peak_rss_kib,
                "cpu_s": self.host_cpu_seconds,
                "store_before_bytes": self.store_before,
                "store_after_bytes": self.store_after,
                "counters": self.host_metrics.as_ref().map(|metrics| &metrics.counters),
            },
        })
    }

    fn verdict(&self) -> Result<()> {
        if self.lost > 0 {
            bail!(
                "{} legitimate webhooks the ingress accepted were not delivered",
                self.lost
            );
        }
        if self.resent_new_key > 0 {
            bail!(
                "{} legitimate messages were delivered twice under different idempotency keys",
                self.resent_new_key
            );
        }
        if self.server_errors() > 0 {
            bail!(
                "the host answered {} requests with a 5xx other than 503",
                self.server_errors()
            );
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_take_units() {
        assert_eq!(parse_duration("90s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("5"), Ok(Duration::from_secs(5)));
        assert!(parse_duration("5 parsecs").is_err());
    }

    #[tokio::test]
    async fn a_status_line_is_read_and_an_early_close_is_told_apart() {
        let until = Instant::now() + Duration::from_secs(1);
        let mut answer: &[u8] = b"HTTP/1.1 413 Payload Too Large\r\ncontent-length: 0\r\n\r\n";
        assert_eq!(read_status(&mut answer, until).await, "413");
        let mut nothing: &[u8] = b"";
        assert_eq!(read_status(&mut nothing, until).await, "closed");
        let mut garbage: &[u8] = b"SSH-2.0\r\n";
        assert_eq!(read_status(&mut garbage, until).await, "garbled");
    }
}
