//! `switchboard decode`, `encode` and `translate`: a platform's webhook to
//! canonical envelopes and back to another platform's send-API requests, with
//! the translator components, from files or stdin.

use crate::io::{self, print_json};
use anyhow::{Result, anyhow};
use std::path::{Path, PathBuf};
use switchboard_pipeline::builtin;
use switchboard_pipeline::plugins::translator::{self, Translator, types};
use switchboard_runtime::engine::Runtime;

/// Decode a platform's webhook body into canonical envelopes (JSON).
#[derive(clap::Args)]
pub struct DecodeArgs {
    /// The platform whose webhook it is.
    #[arg(long)]
    platform: String,
    /// The webhook body; `-` for stdin.
    file: PathBuf,
}

/// Encode canonical envelopes (JSON, as `decode` prints) as a platform's
/// send-API requests.
#[derive(clap::Args)]
pub struct EncodeArgs {
    /// The platform to send on.
    #[arg(long)]
    platform: String,
    #[command(flatten)]
    accounts: Accounts,
    /// Canonical JSON: an envelope or a list of them; `-` for stdin.
    file: PathBuf,
}

/// Decode a webhook from one platform and encode it for another.
#[derive(clap::Args)]
pub struct TranslateArgs {
    /// The platform the webhook comes from.
    #[arg(long)]
    from: String,
    /// The platform to send on.
    #[arg(long)]
    to: String,
    #[command(flatten)]
    accounts: Accounts,
    /// The webhook body; `-` for stdin.
    file: PathBuf,
}

/// Who sends and receives on the target platform. Without a directory the
/// command cannot know real addresses, so by default it sends from `me` (the
/// Graph API's name for the token's own page or number) to a pseudonym derived
/// from the original sender: never the original id.
#[derive(clap::Args)]
pub struct Accounts {
    /// The sending account on the target platform (page id, phone number id).
    #[arg(long, default_value = "me")]
    sender: String,
    /// The recipient's id on the target platform.
    #[arg(long)]
    recipient: Option<String>,
}

/// `switchboard decode`.
pub fn decode_command(runtime: &Runtime, args: DecodeArgs) -> Result<()> {
    let translator = load_translator(runtime, &args.platform)?;
    print_json(&decode(&translator, &args.file)?)
}

/// `switchboard encode`.
pub fn encode_command(runtime: &Runtime, args: EncodeArgs) -> Result<()> {
    let translator = load_translator(runtime, &args.platform)?;
    let bytes = io::read_capped(&args.file, 64 << 20)?;
    let envelopes: Vec<types::Envelope> = io::parse_envelopes(&bytes)?;
    print_json(&encode(&translator, &envelopes, &args.accounts)?)
}

/// `switchboard translate`.
pub fn translate_command(runtime: &Runtime, args: TranslateArgs) -> Result<()> {
    let source = load_translator(runtime, &args.from)?;
    let target = load_translator(runtime, &args.to)?;
    let envelopes = decode(&source, &args.file)?;
    print_json(&encode(&target, &envelopes, &args.accounts)?)
}

fn load_translator(runtime: &Runtime, platform: &str) -> Result<Translator> {
    let component = builtin::translator(platform).ok_or_else(|| {
        anyhow!(
            "no translator for platform `{platform}` (built in: {})",
            builtin::translator_names().join(", ")
        )
    })?;
    Translator::load(runtime, component.name, component.wasm)
}

fn decode(translator: &Translator, file: &Path) -> Result<Vec<types::Envelope>> {
    let body = io::read_capped(file, translator.capabilities().limits.max_webhook_bytes)?;
    let platform = translator.platform();
    translator.instantiate()?.decode(&body)?.map_err(|error| {
        anyhow!(
            "cannot decode {} as a {platform} webhook: {}",
            file.display(),
            translator::describe_decode_error(&error)
        )
    })
}

fn encode(
    translator: &Translator,
    envelopes: &[types::Envelope],
    accounts: &Accounts,
) -> Result<Vec<serde_json::Value>> {
    let platform = translator.platform().to_string();
    let sender = types::Address {
        platform: platform.clone(),
        id: accounts.sender.clone(),
    };
    let mut instance = translator.instantiate()?;
    envelopes
        .iter()
        .map(|envelope| {
            let recipient = types::Address {
                platform: platform.clone(),
                // Without a directory the original sender stands in for the
                // link, so its handle is what the directory would give.
                id: accounts.recipient.clone().unwrap_or_else(|| {
                    let address = &envelope.sender.address;
                    directory_schema::handle_for(
                        &format!("{}:{}", address.platform, address.id),
                        &platform,
                    )
                }),
            };
            let encoded = instance
                .encode(envelope, &sender, &recipient)?
                .map_err(|error| {
                    anyhow!(
                        "cannot encode envelope `{}` for {platform}: {}",
                        envelope.id,
                        translator::describe_encode_error(&error)
                    )
                })?;
            Ok(io::encoded_json(&envelope.id, &platform, &encoded))
        })
        .collect()
}
