//! The conformance kit: checks that a translator component is one the host can
//! run safely and that its answers are coherent, before anyone deploys it
//! (`switchboard plugin check`).
//!
//! The checks, in order, each one line of the [`Report`]:
//!
//! | check | what passes |
//! |---|---|
//! | `component` | the bytes are a WebAssembly component |
//! | `imports` | only [`ALLOWED_IMPORTS`]: no files, network, clock or randomness |
//! | `exports` | the `translator` interface ([`TRANSLATOR_EXPORT`]) |
//! | `describe` | answers; a semver `version` |
//! | `platform` | the name has the shape `[a-z][a-z0-9_-]{0,31}` |
//! | `limits` | text, caption and webhook limits above zero, webhooks within an instance's memory, buttons, lists and quick replies declared native only with a count |
//! | `webhook signature` | a scheme the ingress checks (all four are) |
//! | `api auth` | a placeholder, parameter or header name the host can fill in |
//! | `decode <file>` | every webhook fixture (`*.json`) decodes, to envelopes of the declared platform with spans inside their text |
//! | `encode <file>` | what it decodes re-encodes for the reply address on the same platform (the group, else the sender), or is refused as `unsupported` or for having no such address; requests carry no credential and say where the token goes |
//! | `text <file>` | the text (or caption) is in the request bodies, no piece over the declared limit, and spans are not dropped without a degradation |
//! | `text limit` | a text of several times `max-text-chars` is split into pieces within the limit, none of it lost |
//! | `sent-message-id <file>` | `responses/send*.json` give an id, `responses/error*.json` none |
//! | `mutations` | thousands of mutated inputs (bit flips, truncations, splices, deep nesting, huge numbers, wrong types, long strings, bad encodings) never trap in any export, within the host's memory and time limits |
//!
//! A trap, a deadline or memory past the sandbox's limit is a failure, never a
//! crash of the kit: each call runs in a fresh sandboxed instance, the one the
//! host would give it. Mutations are deterministic: input `#n` of seed `s` is
//! the same on every run, so a failure names what reproduces it.

use crate::bindings::types::{
    Address, Content, ConversationKind, EncodeError, Envelope, Event, FormattedText, Message,
    MessageCategory,
};
use crate::plugins::translator::{
    ALLOWED_IMPORTS, ApiAuth, CallError, Capabilities, ContentKind, Encoded, TRANSLATOR_EXPORT,
    Translator, TranslatorInstance, WebhookSignature, describe_decode_error, describe_encode_error,
};
use anyhow::{Context, Result};
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use switchboard_runtime::engine::Runtime;

/// How many mutated inputs `check` runs when not told.
pub const DEFAULT_MUTATIONS: u32 = 2_000;

/// The seed of the mutations when not told: fixed, so runs compare.
pub const DEFAULT_SEED: u64 = 0x5EED_0F5B_0A2D;

/// After this many failed mutated inputs the rest are skipped: each one may
/// cost a whole call deadline, and the first few say enough.
const MAX_MUTATION_FAILURES: usize = 5;

/// Envelopes of one mutated input that are also encoded.
const ENCODES_PER_MUTATION: usize = 4;

/// Largest mutated input, whatever the declared webhook limit: enough to reach
/// any sane limit's neighbourhood without making each call slow.
const MAX_MUTATED_BYTES: usize = 4 << 20;

/// The inputs mutated when there are no fixtures: small JSON documents.
const GENERIC_INPUTS: &[(&str, &[u8])] = &[
    ("{}", b"{}"),
    ("[]", b"[]"),
    (
        "nested document",
        br#"{"id":"1","items":[{"text":"hi","n":-1,"ok":true,"x":null}],"ts":1765000000}"#,
    ),
];

/// What to check a translator with.
#[derive(Debug, Clone)]
pub struct Options {
    /// Sample webhooks (`*.json`) and send-API answers (`responses/*.json`).
    pub fixtures: Option<PathBuf>,
    /// How many mutated inputs to try.
    pub mutations: u32,
    /// The seed the mutated inputs derive from.
    pub seed: u64,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            fixtures: None,
            mutations: DEFAULT_MUTATIONS,
            seed: DEFAULT_SEED,
        }
    }
}

/// How one check came out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// It holds.
    Pass,
    /// It holds, with something the author should know (no signature, no
    /// fixture to check against).
    Note,
    /// It does not hold: the plugin is not fit to load.
    Fail,
}

/// One line of the report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// Which check (`imports`, `decode photo.json`…).
    pub check: String,
    /// How it came out.
    pub outcome: Outcome,
    /// Why, for people.
    pub detail: String,
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let tag = match self.outcome {
            Outcome::Pass => "pass",
            Outcome::Note => "note",
            Outcome::Fail => "FAIL",
        };
        write!(f, "{tag}  {}: {}", self.check, self.detail)
    }
}

/// Everything `check` found, in the order checked.
#[derive(Debug, Clone, Default)]
pub struct Report {
    /// The platform the translator describes, once known.
    pub platform: Option<String>,
    /// The lines.
    pub findings: Vec<Finding>,
}

impl Report {
    /// Whether no check failed.
    pub fn passed(&self) -> bool {
        self.failures() == 0
    }

    /// How many checks failed.
    pub fn failures(&self) -> usize {
        self.findings
            .iter()
            .filter(|finding| finding.outcome == Outcome::Fail)
            .count()
    }

    fn push(&mut self, check: impl Into<String>, outcome: Outcome, detail: impl Into<String>) {
        self.findings.push(Finding {
            check: check.into(),
            outcome,
            detail: detail.into(),
        });
    }

    fn pass(&mut self, check: impl Into<String>, detail: impl Into<String>) {
        self.push(check, Outcome::Pass, detail);
    }

    fn note(&mut self, check: impl Into<String>, detail: impl Into<String>) {
        self.push(check, Outcome::Note, detail);
    }

    fn fail(&mut self, check: impl Into<String>, detail: impl Into<String>) {
        self.push(check, Outcome::Fail, detail);
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for finding in &self.findings {
            writeln!(f, "{finding}")?;
        }
        let failures = self.failures();
        let checks = self.findings.len();
        if failures == 0 {
            write!(f, "passed: {checks} checks, none failed")
        } else {
            write!(f, "failed: {failures} of {checks} checks")
        }
    }
}

/// Sample inputs read from a fixtures directory.
#[derive(Debug, Clone, Default)]
pub struct Fixtures {
    /// Webhook bodies (`DIR/*.json`), by file name.
    pub webhooks: Vec<(String, Vec<u8>)>,
    /// Send-API answers (`DIR/responses/*.json`), by `responses/<name>`.
    pub responses: Vec<(String, Vec<u8>)>,
}

impl Fixtures {
    /// Reads `dir/*.json` and `dir/responses/*.json`, in name order.
    pub fn read(dir: &Path) -> Result<Fixtures> {
        let webhooks = json_files(dir, "")
            .with_context(|| format!("cannot read fixtures in {}", dir.display()))?;
        let responses_dir = dir.join("responses");
        let responses = if responses_dir.is_dir() {
            json_files(&responses_dir, "responses/")
                .with_context(|| format!("cannot read {}", responses_dir.display()))?
        } else {
            Vec::new()
        };
        Ok(Fixtures {
            webhooks,
            responses,
        })
    }
}

fn json_files(dir: &Path, prefix: &str) -> Result<Vec<(String, Vec<u8>)>> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_file() && path.extension().is_some_and(|ext| ext == "json") {
            let name = path.file_name().unwrap_or_default().to_string_lossy();
            let bytes =
                std::fs::read(&path).with_context(|| format!("cannot read {}", path.display()))?;
            files.push((format!("{prefix}{name}"), bytes));
        }
    }
    files.sort();
    Ok(files)
}

/// Runs every check on the component `wasm` (called `name` in messages).
pub fn check(runtime: &Runtime, name: &str, wasm: &[u8], options: &Options) -> Report {
    let mut report = Report::default();
    let Some(translator) = load(runtime, name, wasm, &mut report) else {
        return report;
    };
    let capabilities = translator.capabilities().clone();
    report.platform = Some(capabilities.platform.clone());
    check_capabilities(&capabilities, &mut report);

    let fixtures = match &options.fixtures {
        Some(dir) => match Fixtures::read(dir) {
            Ok(fixtures) => {
                if fixtures.webhooks.is_empty() {
                    report.note(
                        "fixtures",
                        format!("no webhook (*.json) in {}", dir.display()),
                    );
                }
                fixtures
            }
            Err(error) => {
                report.fail("fixtures", format!("{error:#}"));
                Fixtures::default()
            }
        },
        None => {
            report.note(
                "fixtures",
                "none given: only the describe, import and mutation checks ran",
            );
            Fixtures::default()
        }
    };

    let mut decoded = Vec::new();
    for (file, body) in &fixtures.webhooks {
        if let Some(envelopes) = check_fixture(&translator, file, body, &mut report) {
            decoded.extend(envelopes);
        }
    }
    if !fixtures.webhooks.is_empty() {
        check_text_limit(&translator, &decoded, &mut report);
    }
    for (file, body) in &fixtures.responses {
        check_response(&translator, file, body, &mut report);
    }
    check_mutations(&translator, &fixtures, options, &mut report);
    report
}

/// The first checks: a component, its imports and exports, `describe`.
fn load(runtime: &Runtime, name: &str, wasm: &[u8], report: &mut Report) -> Option<Translator> {
    let component = match runtime.compile(name, wasm) {
        Ok(component) => component,
        Err(error) => {
            report.fail(
                "component",
                format!("not a WebAssembly component: {}", one_line(&error)),
            );
            return None;
        }
    };
    report.pass(
        "component",
        format!(
            "a WebAssembly component of {} KiB",
            wasm.len().div_ceil(1024)
        ),
    );
    let mut usable = true;
    match runtime.check_imports("translator", name, &component, ALLOWED_IMPORTS) {
        Ok(()) => report.pass(
            "imports",
            "only the canonical types and the wasi:io/wasi:cli the standard library needs",
        ),
        Err(error) => {
            usable = false;
            report.fail("imports", one_line(&error));
        }
    }
    let exports: Vec<String> = component
        .component_type()
        .exports(runtime.engine())
        .map(|(export, _)| export.to_string())
        .collect();
    if exports.iter().any(|export| export == TRANSLATOR_EXPORT) {
        report.pass("exports", format!("`{TRANSLATOR_EXPORT}`"));
    } else {
        usable = false;
        let found = if exports.is_empty() {
            "nothing".to_string()
        } else {
            exports.join(", ")
        };
        report.fail(
            "exports",
            format!(
                "not a translator: it does not export `{TRANSLATOR_EXPORT}` (it exports {found})"
            ),
        );
    }
    if !usable {
        return None;
    }
    match Translator::load(runtime, name, wasm) {
        Ok(translator) => Some(translator),
        Err(error) => {
            report.fail("describe", one_line(&error));
            None
        }
    }
}

fn one_line(error: &anyhow::Error) -> String {
    squash(&format!("{error:#}"))
}

/// A failed call as one line of the report.
fn call_failure(error: &CallError) -> String {
    squash(&error.to_string())
}

/// Text as one line: a wasm backtrace reduced to the message of its frames,
/// Rust's hint about `RUST_BACKTRACE` left out.
fn squash(text: &str) -> String {
    let text = text.replace(
        "\nnote: run with `RUST_BACKTRACE=1` environment variable to display a backtrace",
        "",
    );
    let mut parts: Vec<&str> = Vec::new();
    for line in text.lines().map(str::trim) {
        if let Some(head) = line.strip_suffix("error while executing at wasm backtrace:") {
            if !head.trim().is_empty() {
                parts.push(head.trim());
            }
            continue;
        }
        if line.is_empty() {
            continue;
        }
        // A frame: `7:  0x1046d - module!function: message`.
        let frame = line.split_once(':').is_some_and(|(number, rest)| {
            number.chars().all(|c| c.is_ascii_digit()) && rest.trim_start().starts_with("0x")
        });
        if frame {
            if let Some((_, message)) = line
                .split_once(" - ")
                .and_then(|(_, rest)| rest.rsplit_once(": "))
            {
                parts.push(message);
            }
            continue;
        }
        parts.push(line);
    }
    parts.join(" ")
}

/// Whether `name` has the shape of a platform name: `[a-z][a-z0-9_-]{0,31}`.
pub fn is_platform_name(name: &str) -> bool {
    name.len() <= 32
        && name.starts_with(|c: char| c.is_ascii_lowercase())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-')
}

fn is_semver(version: &str) -> bool {
    let core = version.split(['-', '+']).next().unwrap_or_default();
    let parts: Vec<&str> = core.split('.').collect();
    parts.len() == 3
        && parts
            .iter()
            .all(|part| !part.is_empty() && part.chars().all(|c| c.is_ascii_digit()))
}

/// `describe()`'s answer, field by field.
fn check_capabilities(capabilities: &Capabilities, report: &mut Report) {
    if is_semver(&capabilities.version) {
        report.pass(
            "describe",
            format!(
                "`{}` version {}",
                capabilities.platform, capabilities.version
            ),
        );
    } else {
        report.fail(
            "describe",
            format!(
                "version `{}` is not semver (MAJOR.MINOR.PATCH)",
                capabilities.version
            ),
        );
    }
    if is_platform_name(&capabilities.platform) {
        report.pass("platform", format!("`{}`", capabilities.platform));
    } else {
        report.fail(
            "platform",
            format!(
                "`{}` is not a platform name: [a-z][a-z0-9_-]{{0,31}} (it goes into routes, store keys and variable names)",
                capabilities.platform
            ),
        );
    }

    let limits = &capabilities.limits;
    let mut problems = Vec::new();
    for (field, value) in [
        ("max-text-chars", u64::from(limits.max_text_chars)),
        ("max-caption-chars", u64::from(limits.max_caption_chars)),
        ("max-webhook-bytes", limits.max_webhook_bytes),
    ] {
        if value == 0 {
            problems.push(format!("{field} is 0"));
        }
    }
    if limits.max_webhook_bytes > 64 << 20 {
        problems.push(format!(
            "max-webhook-bytes {} is more than an instance's 64 MiB of memory",
            limits.max_webhook_bytes
        ));
    }
    if limits.max_buttons > 0 && limits.max_button_title_chars == 0 {
        problems.push("buttons are allowed but max-button-title-chars is 0".to_string());
    }
    for (kind, field, count) in [
        (ContentKind::Buttons, "max-buttons", limits.max_buttons),
        (ContentKind::List, "max-list-rows", limits.max_list_rows),
        (
            ContentKind::QuickReplies,
            "max-quick-replies",
            limits.max_quick_replies,
        ),
    ] {
        if capabilities.native.contains(&kind) && count == 0 {
            problems.push(format!("{kind:?} is declared native but {field} is 0"));
        }
    }
    if problems.is_empty() {
        report.pass(
            "limits",
            format!(
                "text {} chars, captions {}, webhooks {} bytes",
                limits.max_text_chars, limits.max_caption_chars, limits.max_webhook_bytes
            ),
        );
    } else {
        report.fail("limits", problems.join("; "));
    }

    match capabilities.webhook_signature {
        WebhookSignature::HubSignatureSha256 => report.pass(
            "webhook signature",
            "X-Hub-Signature-256 (HMAC-SHA256 of the body), checked by the host",
        ),
        WebhookSignature::SecretTokenHeader => report.pass(
            "webhook signature",
            "a shared secret in a header, checked by the host",
        ),
        WebhookSignature::BearerToken => report.pass(
            "webhook signature",
            "Authorization: Bearer <token>, checked by the host",
        ),
        WebhookSignature::None => report.note(
            "webhook signature",
            "none: anyone who can reach the route can post webhooks (trusted networks and tests only)",
        ),
    }

    let is_token_char = |c: char| c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(c);
    match &capabilities.api_auth {
        ApiAuth::None => report.note("api auth", "none: the API takes no credential"),
        ApiAuth::BearerHeader => report.pass("api auth", "Authorization: Bearer <token>"),
        ApiAuth::PathToken(placeholder) => {
            if placeholder.is_empty()
                || placeholder
                    .chars()
                    .any(|c| c.is_whitespace() || "/?#".contains(c))
            {
                report.fail(
                    "api auth",
                    format!("path placeholder `{placeholder}` must be non-empty, without spaces, `/`, `?` or `#`"),
                );
            } else {
                report.pass(
                    "api auth",
                    format!("the token replaces `{placeholder}` in paths"),
                );
            }
        }
        ApiAuth::QueryParameter(parameter) => {
            if parameter.is_empty()
                || !parameter
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-._~".contains(c))
            {
                report.fail(
                    "api auth",
                    format!("query parameter `{parameter}` must be non-empty ASCII letters, digits, `-`, `.`, `_` or `~`"),
                );
            } else {
                report.pass("api auth", format!("the token goes in `?{parameter}=`"));
            }
        }
        ApiAuth::Header(header) => {
            let reserved = [
                "content-type",
                "content-length",
                "host",
                "transfer-encoding",
            ];
            if header.is_empty()
                || !header.chars().all(is_token_char)
                || reserved.contains(&header.to_ascii_lowercase().as_str())
            {
                report.fail(
                    "api auth",
                    format!("`{header}` cannot carry the token (an HTTP header name, not Content-Type, Content-Length, Host or Transfer-Encoding)"),
                );
            } else {
                report.pass("api auth", format!("the token is the `{header}` header"));
            }
        }
    }
}

/// Decodes one webhook fixture, re-encodes what it gives and checks its
/// text. The envelopes, when it decoded.
fn check_fixture(
    translator: &Translator,
    file: &str,
    body: &[u8],
    report: &mut Report,
) -> Option<Vec<Envelope>> {
    let capabilities = translator.capabilities();
    let platform = capabilities.platform.as_str();
    let check = format!("decode {file}");
    if body.len() as u64 > capabilities.limits.max_webhook_bytes {
        report.fail(
            check,
            format!(
                "{} bytes, over the declared max-webhook-bytes {}: the host refuses it unread",
                body.len(),
                capabilities.limits.max_webhook_bytes
            ),
        );
        return None;
    }
    let mut instance = match translator.instantiate() {
        Ok(instance) => instance,
        Err(error) => {
            report.fail(check, call_failure(&error));
            return None;
        }
    };
    let envelopes = match instance.decode(body) {
        Err(error) => {
            report.fail(check, call_failure(&error));
            return None;
        }
        Ok(Err(error)) => {
            report.fail(check, describe_decode_error(&error));
            return None;
        }
        Ok(Ok(envelopes)) => envelopes,
    };
    let problems: Vec<String> = envelopes
        .iter()
        .enumerate()
        .flat_map(|(index, envelope)| envelope_problems(platform, envelope, index))
        .collect();
    if problems.is_empty() {
        let kinds: Vec<String> = envelopes.iter().map(event_kind).collect();
        report.pass(
            check,
            if kinds.is_empty() {
                "no envelope (an event the model leaves out)".to_string()
            } else {
                format!("{} envelope(s): {}", kinds.len(), kinds.join(", "))
            },
        );
    } else {
        report.fail(check, problems.join("; "));
        return None;
    }

    let mut encode_problems = Vec::new();
    let mut requests = 0;
    let mut degradations = std::collections::BTreeSet::new();
    let mut refused = Vec::new();
    let mut texts = Vec::new();
    for (index, envelope) in envelopes.iter().enumerate() {
        match encode_reply(&mut instance, platform, envelope) {
            Err(error) => {
                encode_problems.push(format!("envelope {index}: {}", call_failure(&error)))
            }
            Ok((_, Err(EncodeError::Unsupported(why)))) => {
                refused.push(format!("envelope {index} unsupported ({why})"));
            }
            // The kit guessed the reply address (sender, conversation) and
            // the translator says neither is one: the event has nowhere to
            // be answered on its platform (a presence update, say).
            Ok((_, Err(EncodeError::InvalidEnvelope(field))))
                if field.path.starts_with("/recipient") =>
            {
                refused.push(format!(
                    "envelope {index} has no address to reply to ({})",
                    describe_encode_error(&EncodeError::InvalidEnvelope(field))
                ));
            }
            Ok((_, Err(error))) => encode_problems.push(format!(
                "envelope {index}: {}",
                describe_encode_error(&error)
            )),
            Ok((recipient, Ok(encoded))) => {
                requests += encoded.requests.len();
                encode_problems.extend(
                    request_problems(capabilities, &encoded)
                        .into_iter()
                        .map(|problem| format!("envelope {index}: {problem}")),
                );
                degradations.extend(encoded.degradations.iter().map(|d| d.rule.clone()));
                if let Some((text, limit)) = text_of(&envelope.event, capabilities) {
                    texts.push((index, envelope, recipient, text.clone(), limit, encoded));
                }
            }
        }
    }
    let check = format!("encode {file}");
    if !encode_problems.is_empty() {
        report.fail(check, encode_problems.join("; "));
    } else if !envelopes.is_empty() {
        let mut detail = format!("{} envelope(s) → {requests} request(s)", envelopes.len());
        if !degradations.is_empty() {
            let rules: Vec<String> = degradations.into_iter().collect();
            detail.push_str(&format!(", degraded by {}", rules.join(", ")));
        }
        if !refused.is_empty() {
            detail.push_str(&format!("; {}", refused.join("; ")));
        }
        report.pass(check, detail);
    }

    for (index, envelope, recipient, text, limit, encoded) in texts {
        let check = format!("text {file}");
        match text_problems(&mut instance, envelope, &recipient, &text, limit, &encoded) {
            Ok(()) => report.pass(
                check,
                format!(
                    "envelope {index}: {} chars and {} span(s) survive decode → encode",
                    text.body.chars().count(),
                    text.spans.len()
                ),
            ),
            Err(problem) => report.fail(check, format!("envelope {index}: {problem}")),
        }
    }
    Some(envelopes)
}

/// What is wrong with a decoded envelope, if anything.
fn envelope_problems(platform: &str, envelope: &Envelope, index: usize) -> Vec<String> {
    let mut problems = Vec::new();
    if envelope.id.is_empty() {
        problems.push(format!("envelope {index} has an empty id"));
    }
    if envelope.platform != platform {
        problems.push(format!(
            "envelope {index} is for platform `{}`, not `{platform}`",
            envelope.platform
        ));
    }
    if envelope.sender.address.platform != platform {
        problems.push(format!(
            "envelope {index}'s sender is on `{}`, not `{platform}`",
            envelope.sender.address.platform
        ));
    }
    let texts = match &envelope.event {
        Event::Message(message) => content_texts(&message.content),
        Event::Edit(edit) => content_texts(&edit.content),
        _ => Vec::new(),
    };
    for text in texts {
        let chars = text.body.chars().count() as u64;
        for span in &text.spans {
            if span.start >= span.end || u64::from(span.end) > chars {
                problems.push(format!(
                    "envelope {index} has a span [{}, {}) outside its {chars}-character text",
                    span.start, span.end
                ));
            }
        }
    }
    problems
}

fn content_texts(content: &Content) -> Vec<&FormattedText> {
    match content {
        Content::Text(text) => vec![text],
        Content::Media(media) => media.caption.iter().collect(),
        _ => Vec::new(),
    }
}

/// The text an event carries and the limit that applies to it.
fn text_of<'e>(event: &'e Event, capabilities: &Capabilities) -> Option<(&'e FormattedText, u32)> {
    let content = match event {
        Event::Message(message) => &message.content,
        Event::Edit(edit) => &edit.content,
        _ => return None,
    };
    match content {
        Content::Text(text) => Some((text, capabilities.limits.max_text_chars)),
        Content::Media(media) => media
            .caption
            .as_ref()
            .map(|caption| (caption, capabilities.limits.max_caption_chars)),
        _ => None,
    }
}

fn event_kind(envelope: &Envelope) -> String {
    match &envelope.event {
        Event::Message(message) => format!(
            "message/{}",
            match &message.content {
                Content::Text(_) => "text",
                Content::Media(_) => "media",
                Content::Location(_) => "location",
                Content::Contacts(_) => "contacts",
                Content::Interactive(_) => "interactive",
                Content::Choice(_) => "choice",
                Content::Template(_) => "template",
                Content::Sealed(_) => "sealed",
                Content::Unsupported(_) => "unsupported",
            }
        ),
        Event::Reaction(_) => "reaction".into(),
        Event::Edit(_) => "edit".into(),
        Event::Deletion(_) => "deletion".into(),
        Event::Receipt(_) => "receipt".into(),
        Event::Typing(_) => "typing".into(),
    }
}

/// The addresses a reply to `envelope` goes to on its own platform, best
/// first: the group for a group conversation, else the sender; and the other
/// one, when it differs.
fn reply_addresses(platform: &str, envelope: &Envelope) -> (Address, Option<Address>) {
    let sender = envelope.sender.address.id.clone();
    let conversation = envelope.conversation.id.clone();
    let (first, second) = match envelope.conversation.kind {
        ConversationKind::Group => (conversation, sender),
        ConversationKind::Direct => (sender, conversation),
    };
    let address = |id: String| Address {
        platform: platform.to_string(),
        id,
    };
    match (first.is_empty(), second.is_empty()) {
        (false, false) if first != second => (address(first), Some(address(second))),
        (false, _) => (address(first), None),
        (true, false) => (address(second), None),
        (true, true) => (address("conformance-recipient".into()), None),
    }
}

/// Encodes `envelope` as a reply on its own platform, from the endpoint it
/// arrived at. A translator that refuses the first address as a recipient
/// gets the other.
fn encode_reply(
    instance: &mut TranslatorInstance<'_>,
    platform: &str,
    envelope: &Envelope,
) -> Result<(Address, Result<Encoded, EncodeError>), CallError> {
    let sender = Address {
        platform: platform.to_string(),
        id: envelope.recipient.id.clone(),
    };
    let (first, second) = reply_addresses(platform, envelope);
    let result = instance.encode(envelope, &sender, &first)?;
    let refused_recipient = matches!(
        &result,
        Err(EncodeError::InvalidEnvelope(field)) if field.path.starts_with("/recipient")
    );
    match second {
        Some(second) if refused_recipient => {
            let result = instance.encode(envelope, &sender, &second)?;
            Ok((second, result))
        }
        _ => Ok((first, result)),
    }
}

/// What is wrong with a translator's requests, generically.
fn request_problems(capabilities: &Capabilities, encoded: &Encoded) -> Vec<String> {
    let mut problems = Vec::new();
    for (index, request) in encoded.requests.iter().enumerate() {
        let is_url = request.path.starts_with("https://") || request.path.starts_with("http://");
        if !request.path.starts_with('/') || is_url {
            problems.push(format!(
                "request {index}'s path `{}` is not a path below the API base URL (it must start with `/`)",
                request.path
            ));
        }
        if let ApiAuth::PathToken(placeholder) = &capabilities.api_auth
            && !request.path.contains(placeholder.as_str())
        {
            problems.push(format!(
                "request {index}'s path `{}` lacks the `{placeholder}` placeholder api-auth declares: the host could not authenticate it",
                request.path
            ));
        }
        for (name, _) in &request.headers {
            let carries_credential = name.eq_ignore_ascii_case("authorization")
                || matches!(&capabilities.api_auth, ApiAuth::Header(header) if header.eq_ignore_ascii_case(name));
            if carries_credential {
                problems.push(format!(
                    "request {index} sets `{name}` itself: credentials are the host's to add"
                ));
            }
        }
    }
    problems
}

/// Every string a request carries where text can go: its JSON body's
/// strings (or the body as text) and its path.
fn request_strings(encoded: &Encoded) -> Vec<String> {
    fn walk(value: &serde_json::Value, out: &mut Vec<String>) {
        match value {
            serde_json::Value::String(text) => out.push(text.clone()),
            serde_json::Value::Array(items) => items.iter().for_each(|item| walk(item, out)),
            serde_json::Value::Object(members) => {
                members.values().for_each(|member| walk(member, out))
            }
            _ => {}
        }
    }
    let mut strings = Vec::new();
    for request in &encoded.requests {
        match serde_json::from_slice::<serde_json::Value>(&request.body) {
            Ok(value) => walk(&value, &mut strings),
            Err(_) => strings.push(String::from_utf8_lossy(&request.body).into_owned()),
        }
        strings.push(request.path.clone());
    }
    strings
}

/// Text as compared across a round trip: markup characters that apps use for
/// formatting and all whitespace left out, so that `*bold*` and a line
/// wrapped differently still match.
fn normalise(text: &str) -> String {
    text.chars()
        .filter(|c| !c.is_whitespace() && !"*_~`".contains(*c))
        .collect()
}

/// Whether the text and its spans survived decode → encode.
fn text_problems(
    instance: &mut TranslatorInstance<'_>,
    envelope: &Envelope,
    recipient: &Address,
    text: &FormattedText,
    limit: u32,
    encoded: &Encoded,
) -> Result<(), String> {
    let strings = request_strings(encoded);
    let chars = text.body.chars().count();
    if chars <= limit as usize {
        let wanted = normalise(&text.body);
        if !strings.iter().any(|s| normalise(s).contains(&wanted)) {
            return Err(format!(
                "the text {:?} is in no request body",
                preview(text.body.as_bytes())
            ));
        }
    }
    if let Some(long) = strings
        .iter()
        .filter(|s| !s.is_empty() && text.body.contains(s.as_str()))
        .find(|s| s.chars().count() > limit as usize)
    {
        return Err(format!(
            "a request carries {} characters of the text, over the declared limit of {limit}",
            long.chars().count()
        ));
    }
    if text.spans.is_empty() || !encoded.degradations.is_empty() {
        return Ok(());
    }
    // Spans with no degradation recorded must change what is sent.
    let mut plain = envelope.clone();
    strip_spans(&mut plain.event);
    let sender = Address {
        platform: recipient.platform.clone(),
        id: envelope.recipient.id.clone(),
    };
    match instance.encode(&plain, &sender, recipient) {
        Err(error) => Err(call_failure(&error)),
        Ok(Ok(without)) if without.requests == encoded.requests => Err(format!(
            "its {} span(s) were dropped without a degradation: the requests are the same without them",
            text.spans.len()
        )),
        Ok(_) => Ok(()),
    }
}

fn strip_spans(event: &mut Event) {
    let content = match event {
        Event::Message(message) => &mut message.content,
        Event::Edit(edit) => &mut edit.content,
        _ => return,
    };
    match content {
        Content::Text(text) => text.spans.clear(),
        Content::Media(media) => {
            if let Some(caption) = &mut media.caption {
                caption.spans.clear();
            }
        }
        _ => {}
    }
}

/// A text several times the declared limit must come out in pieces within
/// it, none of it lost.
fn check_text_limit(translator: &Translator, decoded: &[Envelope], report: &mut Report) {
    let capabilities = translator.capabilities();
    let platform = capabilities.platform.as_str();
    let limit = capabilities.limits.max_text_chars as usize;
    let Some(template) = decoded
        .iter()
        .find(|envelope| {
            matches!(
                &envelope.event,
                Event::Message(Message {
                    content: Content::Text(_),
                    ..
                })
            )
        })
        .or_else(|| {
            decoded
                .iter()
                .find(|envelope| matches!(envelope.event, Event::Message(_)))
        })
    else {
        report.note(
            "text limit",
            "no message among the fixtures to send a long text as",
        );
        return;
    };
    let target = (limit.saturating_mul(5) / 2).clamp(64, 200_000);
    let body = long_text(target);
    let mut envelope = template.clone();
    envelope.event = Event::Message(Message {
        content: Content::Text(FormattedText {
            body: body.clone(),
            spans: Vec::new(),
        }),
        reply_to: None,
        forwarded: None,
        story: None,
        category: MessageCategory::Personal,
    });
    let result = translator
        .instantiate()
        .and_then(|mut instance| encode_reply(&mut instance, platform, &envelope));
    let encoded = match result {
        Err(error) => return report.fail("text limit", call_failure(&error)),
        Ok((_, Err(EncodeError::Unsupported(why)))) => {
            return report.note("text limit", format!("a long text is unsupported: {why}"));
        }
        Ok((_, Err(error))) => {
            return report.fail("text limit", describe_encode_error(&error));
        }
        Ok((_, Ok(encoded))) => encoded,
    };
    let pieces: Vec<String> = request_strings(&encoded)
        .into_iter()
        .filter(|s| s.chars().count() >= 8 && body.contains(s.as_str()))
        .collect();
    let chars = body.chars().count();
    if let Some(piece) = pieces.iter().find(|piece| piece.chars().count() > limit) {
        return report.fail(
            "text limit",
            format!(
                "a text of {chars} characters was sent with a piece of {}, over max-text-chars {limit}",
                piece.chars().count()
            ),
        );
    }
    let sent: String = pieces.iter().map(|piece| normalise(piece)).collect();
    if sent != normalise(&body) {
        return report.fail(
            "text limit",
            format!(
                "a text of {chars} characters came out as {} piece(s) that do not add up to it",
                pieces.len()
            ),
        );
    }
    report.pass(
        "text limit",
        format!(
            "a text of {chars} characters went out in {} piece(s) of at most {limit}",
            pieces.len()
        ),
    );
}

/// Words of mixed scripts (and an emoji, which is one character but two
/// UTF-16 units and four bytes), `chars` characters long.
fn long_text(chars: usize) -> String {
    const WORDS: &[&str] = &[
        "lorem",
        "ipsum",
        "dolor",
        "Ünïcödé",
        "ταχύ",
        "🎉",
        "switchboard",
    ];
    let mut text = String::new();
    let mut count = 0;
    let mut index = 0;
    while count < chars {
        if !text.is_empty() {
            text.push(' ');
            count += 1;
        }
        let word = WORDS[index % WORDS.len()];
        text.push_str(word);
        count += word.chars().count();
        index += 1;
    }
    text
}

/// `sent-message-id` on one sample answer.
fn check_response(translator: &Translator, file: &str, body: &[u8], report: &mut Report) {
    let check = format!("sent-message-id {file}");
    let stem = file.trim_start_matches("responses/").to_ascii_lowercase();
    let result = translator
        .instantiate()
        .and_then(|mut instance| instance.sent_message_id(body));
    match result {
        Err(error) => report.fail(check, call_failure(&error)),
        Ok(Some(id)) if stem.starts_with("error") => report.fail(
            check,
            format!("an error answer gave the id `{id}`: a failed send would look delivered"),
        ),
        Ok(None) if stem.starts_with("send") => {
            report.fail(check, "a send answer gave no message id")
        }
        Ok(Some(id)) if id.is_empty() => report.fail(check, "an empty message id"),
        Ok(Some(id)) => report.pass(check, format!("`{id}`")),
        Ok(None) => report.pass(check, "no id (not a send answer)"),
    }
}

// ------------------------------------------------------------------ mutations

/// SplitMix64: a tiny deterministic generator, the same on every platform
/// and version, so an input's index and seed reproduce it.
struct Rng(u64);

impl Rng {
    fn new(seed: u64, index: u64) -> Rng {
        Rng(seed ^ index.wrapping_mul(0x9E37_79B9_7F4A_7C15))
    }

    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `0..n` (0 when `n` is 0).
    fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next() % n as u64) as usize
        }
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

/// Numbers no translator should choke on.
const HUGE_NUMBERS: &[&str] = &[
    "18446744073709551616",
    "-9223372036854775809",
    "99999999999999999999999999999999999999999999",
    "1e999999",
    "-1e-999999",
    "1.7976931348623157e309",
    "9007199254740993",
    "-0",
    "0.0000000000000000000000000000001",
    "4294967296",
];

/// Values of the wrong type for wherever they land.
const WRONG_TYPES: &[&str] = &[
    "null",
    "[]",
    "{}",
    "0",
    "-1",
    "true",
    "\"\"",
    "{\"\":[]}",
    "[null]",
];

/// Byte sequences that are not valid UTF-8 or are awkward JSON escapes.
const BAD_ENCODINGS: &[&[u8]] = &[
    b"\xff",
    b"\xc3",
    b"\xed\xa0\x80",
    b"\x00",
    b"\\ud800",
    b"\\udfff\\ud800",
    b"\\u0000",
    b"\\",
];

/// Byte ranges of an input, as (start, end).
type Spans = Vec<(usize, usize)>;

/// The spans of string literals (quotes included) and of digit runs.
fn tokens(bytes: &[u8]) -> (Spans, Spans) {
    let mut strings = Vec::new();
    let mut numbers = Vec::new();
    let mut index = 0;
    while index < bytes.len() && strings.len() < 10_000 {
        match bytes[index] {
            b'"' => {
                let start = index;
                index += 1;
                while index < bytes.len() && bytes[index] != b'"' {
                    index += if bytes[index] == b'\\' { 2 } else { 1 };
                }
                let end = (index + 1).min(bytes.len());
                strings.push((start, end));
                index = end;
            }
            b'-' | b'0'..=b'9' => {
                let start = index;
                index += 1;
                while index < bytes.len()
                    && (bytes[index].is_ascii_digit() || b".eE+-".contains(&bytes[index]))
                {
                    index += 1;
                }
                numbers.push((start, index));
            }
            _ => index += 1,
        }
    }
    (strings, numbers)
}

fn replace(bytes: &[u8], (start, end): (usize, usize), with: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(bytes.len() + with.len());
    out.extend_from_slice(&bytes[..start]);
    out.extend_from_slice(with);
    out.extend_from_slice(&bytes[end..]);
    out
}

/// A non-empty range of `0..len` (empty only when `len` is 0).
fn range(rng: &mut Rng, len: usize) -> (usize, usize) {
    if len == 0 {
        return (0, 0);
    }
    let start = rng.below(len);
    (start, start + 1 + rng.below(len - start))
}

/// Mutated input `index` of `seed`, from `corpus`: a description and the bytes.
fn mutate(
    seed: u64,
    index: u64,
    corpus: &[(String, Vec<u8>)],
    max_bytes: usize,
) -> (String, Vec<u8>) {
    let mut rng = Rng::new(seed, index);
    let (name, base) = rng.pick(corpus);
    let len = base.len();
    let (description, mut bytes) = match rng.below(10) {
        0 => {
            let mut bytes = base.clone();
            let flips = 1 + rng.below(8);
            for _ in 0..flips {
                if !bytes.is_empty() {
                    let at = rng.below(bytes.len());
                    bytes[at] ^= 1 << rng.below(8);
                }
            }
            (format!("{flips} bit flip(s) in {name}"), bytes)
        }
        1 => {
            let at = rng.below(len);
            (format!("{name} cut at byte {at}"), base[..at].to_vec())
        }
        2 => {
            let (other_name, other) = rng.pick(corpus);
            let at = rng.below(len + 1);
            let from = rng.below(other.len() + 1);
            let mut bytes = base[..at].to_vec();
            bytes.extend_from_slice(&other[from..]);
            (
                format!("{name} up to byte {at} spliced with {other_name} from byte {from}"),
                bytes,
            )
        }
        3 => {
            let depth = *rng.pick(&[64usize, 512, 4_096, 100_000]);
            if rng.below(2) == 0 {
                let at = rng.below(len + 1);
                let nested = [vec![b'['; depth], vec![b']'; depth]].concat();
                (
                    format!("{depth} nested arrays inserted in {name} at byte {at}"),
                    replace(base, (at, at), &nested),
                )
            } else {
                let mut bytes = b"{\"a\":".repeat(depth);
                bytes.extend_from_slice(base);
                bytes.extend(std::iter::repeat_n(b'}', depth));
                (format!("{name} wrapped in {depth} objects"), bytes)
            }
        }
        4 => {
            let (_, numbers) = tokens(base);
            let number = *rng.pick(HUGE_NUMBERS);
            if numbers.is_empty() {
                let at = rng.below(len + 1);
                (
                    format!("{number} inserted in {name} at byte {at}"),
                    replace(base, (at, at), number.as_bytes()),
                )
            } else {
                let span = *rng.pick(&numbers);
                (
                    format!(
                        "the number at byte {} of {name} replaced by {number}",
                        span.0
                    ),
                    replace(base, span, number.as_bytes()),
                )
            }
        }
        5 => {
            let (strings, numbers) = tokens(base);
            let all: Vec<(usize, usize)> = strings.into_iter().chain(numbers).collect();
            let value = *rng.pick(WRONG_TYPES);
            if all.is_empty() {
                (
                    format!("{name} replaced by {value}"),
                    value.as_bytes().to_vec(),
                )
            } else {
                let span = *rng.pick(&all);
                (
                    format!("the value at byte {} of {name} replaced by {value}", span.0),
                    replace(base, span, value.as_bytes()),
                )
            }
        }
        6 => {
            let (strings, _) = tokens(base);
            let unit = *rng.pick(&["A", "é", "🎉", "\\u00e9", "\\ud83c\\udf89", " "]);
            let count = *rng.pick(&[1_000usize, 70_000, max_bytes]) / unit.len();
            let mut long = Vec::with_capacity(count * unit.len() + 2);
            long.push(b'"');
            for _ in 0..count {
                long.extend_from_slice(unit.as_bytes());
            }
            long.push(b'"');
            if strings.is_empty() {
                (format!("a string of {count} × {unit:?} for {name}"), long)
            } else {
                let span = *rng.pick(&strings);
                (
                    format!(
                        "the string at byte {} of {name} replaced by {count} × {unit:?}",
                        span.0
                    ),
                    replace(base, span, &long),
                )
            }
        }
        7 => {
            let at = rng.below(len + 1);
            let bad = *rng.pick(BAD_ENCODINGS);
            (
                format!("{} inserted in {name} at byte {at}", preview(bad)),
                replace(base, (at, at), bad),
            )
        }
        8 => {
            let (start, end) = range(&mut rng, len);
            let at = rng.below(len + 1);
            let times = 1 + rng.below(64);
            let copied = base[start..end].repeat(times);
            (
                format!("bytes {start}..{end} of {name} repeated {times} time(s) at byte {at}"),
                replace(base, (at, at), &copied),
            )
        }
        _ => {
            let (start, end) = range(&mut rng, len);
            (
                format!("bytes {start}..{end} of {name} removed"),
                replace(base, (start, end), b""),
            )
        }
    };
    bytes.truncate(max_bytes);
    (description, bytes)
}

/// The first bytes of an input, printable.
fn preview(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(&bytes[..bytes.len().min(60)]).into_owned();
    let mut shown: String = text.escape_debug().collect();
    if bytes.len() > 60 {
        shown.push('…');
    }
    shown
}

/// Runs one mutated input through every export, in a fresh instance. Returns
/// whether it decoded, and the slowest call's duration.
fn run_mutation(translator: &Translator, input: &[u8]) -> Result<(bool, Duration), CallError> {
    let platform = translator.platform().to_string();
    let mut instance = translator.instantiate()?;
    let started = Instant::now();
    let decoded = instance.decode(input)?;
    let mut slowest = started.elapsed();
    let ok = decoded.is_ok();
    if let Ok(envelopes) = decoded {
        for envelope in envelopes.iter().take(ENCODES_PER_MUTATION) {
            let started = Instant::now();
            // Its answer may be anything but a trap.
            let _ = encode_reply(&mut instance, &platform, envelope)?;
            slowest = slowest.max(started.elapsed());
        }
    }
    let started = Instant::now();
    instance.sent_message_id(input)?;
    let id = String::from_utf8_lossy(&input[..input.len().min(256)]).into_owned();
    let _ = instance.fetch_media(&id, None)?;
    let _ = instance.fetch_media("media-1", Some(input))?;
    Ok((ok, slowest.max(started.elapsed())))
}

/// Thousands of mutated inputs through every export: none may trap.
fn check_mutations(
    translator: &Translator,
    fixtures: &Fixtures,
    options: &Options,
    report: &mut Report,
) {
    if options.mutations == 0 {
        report.note("mutations", "none asked for (--mutations 0)");
        return;
    }
    let mut corpus: Vec<(String, Vec<u8>)> = fixtures
        .webhooks
        .iter()
        .chain(&fixtures.responses)
        .cloned()
        .collect();
    if corpus.is_empty() {
        corpus = GENERIC_INPUTS
            .iter()
            .map(|(name, bytes)| (name.to_string(), bytes.to_vec()))
            .collect();
    }
    let max_bytes = usize::try_from(translator.capabilities().limits.max_webhook_bytes)
        .unwrap_or(usize::MAX)
        .clamp(1, MAX_MUTATED_BYTES);
    let started = Instant::now();
    let mut failures = Vec::new();
    let mut decoded = 0u32;
    let mut ran = 0u32;
    let mut slowest = (Duration::ZERO, 0u64, String::new());
    for index in 0..u64::from(options.mutations) {
        let (description, input) = mutate(options.seed, index, &corpus, max_bytes);
        ran += 1;
        match run_mutation(translator, &input) {
            Ok((ok, took)) => {
                decoded += u32::from(ok);
                if took > slowest.0 {
                    slowest = (took, index, description);
                }
            }
            Err(error) => {
                failures.push(format!(
                    "#{index} ({description}; starts {:?}): {}",
                    preview(&input),
                    call_failure(&error)
                ));
                if failures.len() >= MAX_MUTATION_FAILURES {
                    break;
                }
            }
        }
    }
    let seed = options.seed;
    if failures.is_empty() {
        report.pass(
            "mutations",
            format!(
                "{ran} mutated inputs (seed {seed:#x}) through decode, encode, sent-message-id and fetch-media: none trapped; {decoded} decoded, {} refused with a typed error; slowest call {} ms (#{}: {}); {} s in all",
                ran - decoded,
                slowest.0.as_millis(),
                slowest.1,
                slowest.2,
                started.elapsed().as_secs()
            ),
        );
    } else {
        let stopped = if failures.len() >= MAX_MUTATION_FAILURES && ran < options.mutations {
            format!(", stopped after {ran} of {}", options.mutations)
        } else {
            String::new()
        };
        report.fail(
            "mutations",
            format!(
                "{} of {ran} mutated inputs (seed {seed:#x}) failed{stopped}",
                failures.len()
            ),
        );
        for failure in failures {
            report.fail("mutation", failure);
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;
    use crate::builtin;
    use switchboard_runtime::engine::RuntimeOptions;

    fn runtime() -> Runtime {
        Runtime::new(RuntimeOptions::default()).unwrap()
    }

    fn fixtures_of(platform: &str) -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../tests/fixtures")
            .join(platform)
    }

    #[test]
    fn platform_names_have_one_shape() {
        for good in ["telegram", "x", "my-app_2", &"a".repeat(32)] {
            assert!(is_platform_name(good), "{good}");
        }
        for bad in [
            "",
            "Telegram",
            "2chat",
            "a b",
            "ünï",
            &"a".repeat(33),
            "a/b",
        ] {
            assert!(!is_platform_name(bad), "{bad}");
        }
    }

    #[test]
    fn mutations_are_deterministic_and_capped() {
        let corpus = vec![(
            "sample".to_string(),
            br#"{"id":"1","n":12,"text":"hello"}"#.to_vec(),
        )];
        for index in 0..500 {
            let first = mutate(7, index, &corpus, 4096);
            assert_eq!(first, mutate(7, index, &corpus, 4096));
            assert!(first.1.len() <= 4096);
        }
        let differ = (0..50)
            .filter(|&index| mutate(7, index, &corpus, 4096) != mutate(8, index, &corpus, 4096));
        assert!(differ.count() > 40);
    }

    #[test]
    fn failures_read_as_one_line() {
        let trap = "translator `rogue` trapped in `decode`: error while executing at wasm backtrace:\n    0:  0x15284 - rogue.wasm!sbrk\n    1:  0x1046d - rogue.wasm!switchboard:messaging/translator@0.1.0#decode: forcing trap when growing memory to 67174400 bytes";
        assert_eq!(
            squash(trap),
            "translator `rogue` trapped in `decode`: forcing trap when growing memory to 67174400 bytes"
        );
        let panic = "trapped: unreachable (thread '<unnamed>' (1) panicked at src/lib.rs:45:21:\nrogue translator panicked on purpose\nnote: run with `RUST_BACKTRACE=1` environment variable to display a backtrace)";
        assert_eq!(
            squash(panic),
            "trapped: unreachable (thread '<unnamed>' (1) panicked at src/lib.rs:45:21: rogue translator panicked on purpose)"
        );
    }

    #[test]
    fn a_long_text_has_the_length_asked() {
        let text = long_text(1000);
        let chars = text.chars().count();
        assert!((1000..1020).contains(&chars), "{chars}");
        assert!(text.contains('🎉'));
    }

    #[test]
    fn the_built_in_whatsapp_translator_passes() {
        let runtime = runtime();
        let component = builtin::translator("whatsapp").unwrap();
        let options = Options {
            fixtures: Some(fixtures_of("whatsapp")),
            mutations: 300,
            seed: DEFAULT_SEED,
        };
        let report = check(&runtime, "whatsapp", component.wasm, &options);
        assert!(report.passed(), "{report}");
        assert_eq!(report.platform.as_deref(), Some("whatsapp"));
        let text = report.to_string();
        assert!(text.contains("pass  decode text.json"), "{text}");
        assert!(text.contains("pass  text limit"), "{text}");
        assert!(
            text.contains("pass  mutations: 300 mutated inputs"),
            "{text}"
        );
    }

    #[test]
    fn a_component_that_is_not_a_translator_fails_with_reasons() {
        let report = check(
            &runtime(),
            "sealing",
            builtin::SEALING.wasm,
            &Options::default(),
        );
        assert!(!report.passed());
        let text = report.to_string();
        assert!(text.contains("FAIL  imports: "), "{text}");
        assert!(text.contains("wasi:random"), "{text}");
        assert!(text.contains("FAIL  exports: not a translator"), "{text}");
    }

    #[test]
    fn bytes_that_are_not_wasm_fail_at_the_first_check() {
        let report = check(&runtime(), "notes", b"just text", &Options::default());
        assert_eq!(report.findings.len(), 1, "{report}");
        assert!(
            report
                .to_string()
                .starts_with("FAIL  component: not a WebAssembly component"),
            "{report}"
        );
    }
}
