//! `switchboard decode`, `encode` and `translate`: a platform's webhook to
//! canonical envelopes and back to another platform's send-API requests, with
//! the translator components, from files or stdin.
//!
//! A platform's translator is, in this order: a plugin given with
//! `--translator PATH.wasm` (repeatable; its platform is the one it
//! describes), the translator the Spin manifest's gateways use for it
//! (`spin.toml` in the current directory, or `--manifest`), as `up` finds
//! them, or the built-in one. `decode` and `encode` with a single
//! `--translator` need no `--platform`; `translate` names both ends with
//! `--from` and `--to`, the plugins' platforms included.

use crate::io::{self, print_json};
use anyhow::{Result, anyhow, bail};
use std::path::{Path, PathBuf};
use switchboard_pipeline::builtin;
use switchboard_pipeline::plugins::translator::{self, Translator, types};
use switchboard_pipeline::stages::ComponentTranslators;
use switchboard_runtime::engine::Runtime;
use switchboard_runtime::manifest::Manifest;

/// Decode a platform's webhook body into canonical envelopes (JSON).
#[derive(clap::Args)]
pub struct DecodeArgs {
    /// The platform whose webhook it is (not needed with one `--translator`).
    #[arg(long, required_unless_present = "translators")]
    platform: Option<String>,
    #[command(flatten)]
    sources: Sources,
    /// The webhook body; `-` for stdin.
    file: PathBuf,
}

/// Encode canonical envelopes (JSON, as `decode` prints) as a platform's
/// send-API requests.
#[derive(clap::Args)]
pub struct EncodeArgs {
    /// The platform to send on (not needed with one `--translator`).
    #[arg(long, required_unless_present = "translators")]
    platform: Option<String>,
    #[command(flatten)]
    sources: Sources,
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
    sources: Sources,
    #[command(flatten)]
    accounts: Accounts,
    /// The webhook body; `-` for stdin.
    file: PathBuf,
}

/// Where translators come from besides the built-in ones.
#[derive(clap::Args)]
pub struct Sources {
    /// A translator plugin (a component file) to use for the platform it
    /// describes; repeat for several.
    #[arg(long = "translator", value_name = "PATH.wasm")]
    translators: Vec<PathBuf>,
    /// The Spin manifest whose gateways' translators serve their platforms
    /// [default: spin.toml, when the current directory has one].
    #[arg(long, value_name = "spin.toml")]
    manifest: Option<PathBuf>,
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
    let mut translators = Translators::new(runtime, &args.sources)?;
    let translator = translators.find(args.platform.as_deref())?;
    print_json(&decode(translators.get(translator), &args.file)?)
}

/// `switchboard encode`.
pub fn encode_command(runtime: &Runtime, args: EncodeArgs) -> Result<()> {
    let mut translators = Translators::new(runtime, &args.sources)?;
    let translator = translators.find(args.platform.as_deref())?;
    let bytes = io::read_capped(&args.file, 64 << 20)?;
    let envelopes: Vec<types::Envelope> = io::parse_envelopes(&bytes)?;
    print_json(&encode(
        translators.get(translator),
        &envelopes,
        &args.accounts,
    )?)
}

/// `switchboard translate`.
pub fn translate_command(runtime: &Runtime, args: TranslateArgs) -> Result<()> {
    let mut translators = Translators::new(runtime, &args.sources)?;
    let source = translators.find(Some(&args.from))?;
    let target = translators.find(Some(&args.to))?;
    let envelopes = decode(translators.get(source), &args.file)?;
    print_json(&encode(
        translators.get(target),
        &envelopes,
        &args.accounts,
    )?)
}

/// The translators a command can use: the plugins it was given, then the
/// manifest's, then the built-in ones, loaded as they are asked for.
struct Translators<'r> {
    runtime: &'r Runtime,
    /// Every translator loaded so far; the plugins first.
    loaded: Vec<Translator>,
    plugins: usize,
    /// The manifest, with the path it was read from.
    manifest: Option<(PathBuf, Manifest)>,
}

impl<'r> Translators<'r> {
    /// Loads the plugins and reads the manifest (a `spin.toml` found in the
    /// current directory is skipped with a warning if it does not parse; one
    /// named with `--manifest` must).
    fn new(runtime: &'r Runtime, sources: &Sources) -> Result<Translators<'r>> {
        let mut loaded = Vec::new();
        for path in &sources.translators {
            let wasm = std::fs::read(path)
                .map_err(|error| anyhow!("cannot read {}: {error}", path.display()))?;
            let name = path.file_stem().unwrap_or_default().to_string_lossy();
            loaded.push(Translator::load(runtime, &name, &wasm)?);
        }
        let manifest = match &sources.manifest {
            Some(path) => Some((path.clone(), Manifest::load(path)?)),
            None => {
                let path = Path::new("spin.toml");
                if path.is_file() {
                    Manifest::load(path)
                        .inspect_err(|error| {
                            tracing::warn!("ignoring ./spin.toml: {error:#}");
                        })
                        .ok()
                        .map(|manifest| (path.to_path_buf(), manifest))
                } else {
                    None
                }
            }
        };
        Ok(Translators {
            runtime,
            plugins: loaded.len(),
            loaded,
            manifest,
        })
    }

    fn get(&self, index: usize) -> &Translator {
        &self.loaded[index]
    }

    /// The translator for `platform` (the only plugin when `None`), as an
    /// index into `loaded`.
    fn find(&mut self, platform: Option<&str>) -> Result<usize> {
        let Some(platform) = platform else {
            return match self.plugins {
                1 => Ok(0),
                0 => bail!("say which platform: --platform NAME, or --translator PATH.wasm"),
                _ => bail!(
                    "--platform is needed to choose among the plugins given ({})",
                    self.platforms(0..self.plugins).join(", ")
                ),
            };
        };
        if let Some(index) = self
            .loaded
            .iter()
            .position(|translator| translator.platform() == platform)
        {
            return Ok(index);
        }
        let mut from_manifest = None;
        if let Some((_, manifest)) = &self.manifest {
            let lookup = ComponentTranslators::lookup(self.runtime, manifest, platform);
            if let Some(translator) = lookup.translator {
                self.loaded.push(translator);
                return Ok(self.loaded.len() - 1);
            }
            from_manifest = Some(lookup);
        }
        if let Some(component) = builtin::translator(platform) {
            self.loaded.push(Translator::load(
                self.runtime,
                component.name,
                component.wasm,
            )?);
            return Ok(self.loaded.len() - 1);
        }
        let mut available = Vec::new();
        if self.plugins > 0 {
            available.push(format!(
                "plugins given: {}",
                self.platforms(0..self.plugins).join(", ")
            ));
        }
        if let (Some((path, _)), Some(lookup)) = (&self.manifest, &from_manifest) {
            let mut found = format!(
                "in {}: {}",
                path.display(),
                if lookup.platforms.is_empty() {
                    "none".to_string()
                } else {
                    lookup.platforms.join(", ")
                }
            );
            if !lookup.unusable.is_empty() {
                found.push_str(&format!(" (not loaded: {})", lookup.unusable.join("; ")));
            }
            available.push(found);
        }
        available.push(format!(
            "built in: {}",
            builtin::translator_names().join(", ")
        ));
        bail!(
            "no translator for platform `{platform}` ({})",
            available.join("; ")
        )
    }

    fn platforms(&self, range: std::ops::Range<usize>) -> Vec<String> {
        self.loaded[range]
            .iter()
            .map(|translator| translator.platform().to_string())
            .collect()
    }
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
                // Without a directory, an opaque handle of the original
                // sender stands for the recipient, as a conversation's would.
                id: accounts.recipient.clone().unwrap_or_else(|| {
                    let address = &envelope.sender.address;
                    directory_schema::handle_for(
                        &format!("translate:{platform}"),
                        &directory_schema::Account {
                            platform: address.platform.clone(),
                            id: address.id.clone(),
                        },
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
