//! The key and sealing commands: `switchboard keys generate`, `seal`, `open` and
//! `hpke seal|open`, over the [`sealing`] crate.
//!
//! The suite is RFC 9180 HPKE in base mode with DHKEM(X25519, HKDF-SHA256),
//! HKDF-SHA256 and AES-256-GCM (the default) or AES-128-GCM (`--aead`).
//!
//! Text formats (hex is printed in lower case and read in either case):
//!
//! * `keys generate` prints JSON `{"public_key": HEX, "secret_key": HEX}`, each
//!   key 32 bytes (64 hex digits).
//! * `seal` prints two lines: `enc` (the 32-byte encapsulated key), then the
//!   ciphertext (as long as the plaintext, plus the 16-byte tag). `open` reads
//!   exactly that (surrounding whitespace and blank lines are ignored) and writes
//!   the plaintext bytes, unchanged, to stdout.
//! * `hpke seal` prints the same two lines, computed with the given ephemeral
//!   secret key: deterministic, the first message (sequence number 0) of the
//!   context, as in the RFC's test vectors. `hpke open` prints the plaintext as
//!   one line of hex. These two are for test vectors and interoperability
//!   checks; never reuse an ephemeral secret for real messages.
//!
//! `--info` and `--aad` are hex and empty by default; opening needs the same
//! `--aead`, `--info` and `--aad` as sealing.
//!
//! Every failure is an error that names the argument and the problem: bad hex, a
//! key of the wrong length, a low-order public key or `enc` (all-zero shared
//! secret), or a failed authentication. `main` prints it as one line on stderr
//! and exits non-zero, as for every other command.

use anyhow::{Context, Result, anyhow, bail};
use clap::{Args, Subcommand, ValueEnum};
use sealing::SealingError;
use sealing::aead::{AeadAlgorithm, TAG_LEN};
use sealing::hex::to_hex;
use sealing::hpke::{self, Mode};
use sealing::keys::{self, KEY_LEN};
use std::io::Write;
use std::path::{Path, PathBuf};

/// The largest plaintext `seal` reads: 64 MiB.
pub const MAX_PLAINTEXT_BYTES: u64 = 64 << 20;

/// The key and sealing commands, flattened into the top-level command list.
#[derive(Subcommand)]
pub enum CryptoCommand {
    /// X25519 key pairs for `seal` and `open`.
    Keys {
        /// What to do.
        #[command(subcommand)]
        command: KeysCommand,
    },
    /// Seal a file to a recipient's public key (HPKE base mode): prints `enc`,
    /// then the ciphertext, as two lines of hex.
    Seal(SealArgs),
    /// Open what `seal` printed with the recipient's secret key: writes the
    /// plaintext bytes to stdout.
    Open(OpenArgs),
    /// RFC 9180 HPKE with every input in hex, for test vectors and interop checks.
    Hpke {
        /// What to do.
        #[command(subcommand)]
        command: HpkeCommand,
    },
}

/// `switchboard keys …`.
#[derive(Subcommand)]
pub enum KeysCommand {
    /// Print a new X25519 key pair as JSON: `{"public_key": HEX, "secret_key": HEX}`.
    Generate,
}

/// `switchboard hpke …`.
#[derive(Subcommand)]
pub enum HpkeCommand {
    /// Seal with a given ephemeral secret (deterministic, sequence number 0):
    /// prints `enc`, then the ciphertext, as two lines of hex.
    Seal(HpkeSealArgs),
    /// Open the first message (sequence number 0) of a context: prints the
    /// plaintext in hex.
    Open(HpkeOpenArgs),
}

/// The AEAD of the HPKE suite.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Aead {
    /// AES-256-GCM (RFC 9180 AEAD id 0x0002), the pipeline's choice.
    #[value(name = "aes-256-gcm")]
    Aes256Gcm,
    /// AES-128-GCM (RFC 9180 AEAD id 0x0001).
    #[value(name = "aes-128-gcm")]
    Aes128Gcm,
}

impl Aead {
    /// The `sealing` crate's name for this AEAD.
    pub fn algorithm(self) -> AeadAlgorithm {
        match self {
            Self::Aes256Gcm => AeadAlgorithm::Aes256Gcm,
            Self::Aes128Gcm => AeadAlgorithm::Aes128Gcm,
        }
    }
}

/// The parameters `seal` and `open` must agree on.
#[derive(Args)]
pub struct SuiteArgs {
    /// Associated data, in hex: authenticated but not encrypted (default: empty).
    #[arg(long, value_name = "HEX")]
    pub aad: Option<String>,
    /// The AEAD of the HPKE suite.
    #[arg(long, value_enum, default_value_t = Aead::Aes256Gcm)]
    pub aead: Aead,
    /// HPKE `info`, in hex: the application context the keys are bound to
    /// (default: empty).
    #[arg(long, value_name = "HEX")]
    pub info: Option<String>,
}

/// `switchboard seal`.
#[derive(Args)]
pub struct SealArgs {
    /// The recipient's X25519 public key (32 bytes, hex).
    #[arg(long, value_name = "PUBKEY_HEX")]
    pub to: String,
    /// The HPKE parameters.
    #[command(flatten)]
    pub suite: SuiteArgs,
    /// The bytes to seal; `-` for stdin.
    pub file: PathBuf,
}

/// `switchboard open`.
#[derive(Args)]
pub struct OpenArgs {
    /// The recipient's X25519 secret key (32 bytes, hex).
    #[arg(long, value_name = "SECRET_HEX")]
    pub key: String,
    /// The HPKE parameters, as given to `seal`.
    #[command(flatten)]
    pub suite: SuiteArgs,
    /// What `seal` printed; `-` for stdin.
    pub file: PathBuf,
}

/// `switchboard hpke seal`.
#[derive(Args)]
pub struct HpkeSealArgs {
    /// The recipient's public key `pkR` (32 bytes, hex).
    #[arg(long, value_name = "HEX")]
    pub pk_r: String,
    /// The ephemeral secret key `skE` (32 bytes, hex).
    #[arg(long, value_name = "HEX")]
    pub sk_e: String,
    /// The AEAD, `info` and associated data.
    #[command(flatten)]
    pub suite: SuiteArgs,
    /// The plaintext, in hex.
    #[arg(long, value_name = "HEX")]
    pub pt: String,
}

/// `switchboard hpke open`.
#[derive(Args)]
pub struct HpkeOpenArgs {
    /// The recipient's secret key `skR` (32 bytes, hex).
    #[arg(long, value_name = "HEX")]
    pub sk_r: String,
    /// The encapsulated key `enc` (32 bytes, hex).
    #[arg(long, value_name = "HEX")]
    pub enc: String,
    /// The AEAD, `info` and associated data.
    #[command(flatten)]
    pub suite: SuiteArgs,
    /// The ciphertext, tag included, in hex.
    #[arg(long, value_name = "HEX")]
    pub ct: String,
}

/// Runs one of the key and sealing commands.
pub fn run(command: &CryptoCommand) -> Result<()> {
    match command {
        CryptoCommand::Keys {
            command: KeysCommand::Generate,
        } => run_keys_generate(),
        CryptoCommand::Seal(args) => run_seal(args),
        CryptoCommand::Open(args) => run_open(args),
        CryptoCommand::Hpke {
            command: HpkeCommand::Seal(args),
        } => run_hpke_seal(args),
        CryptoCommand::Hpke {
            command: HpkeCommand::Open(args),
        } => run_hpke_open(args),
    }
}

/// `switchboard keys generate`: prints a fresh key pair as JSON.
pub fn run_keys_generate() -> Result<()> {
    let pair = keys::generate_key_pair()?;
    let json = serde_json::json!({
        "public_key": to_hex(&pair.public_key),
        "secret_key": to_hex(&pair.secret_key),
    });
    let text = serde_json::to_string_pretty(&json).context("cannot render JSON")?;
    write_stdout(format!("{text}\n").as_bytes())
}

/// `switchboard seal`: seals a file to `--to` with a fresh ephemeral key.
pub fn run_seal(args: &SealArgs) -> Result<()> {
    let pk_r = key_arg("--to", &args.to)?;
    let (aad, info) = args.suite.aad_and_info()?;
    let plaintext = crate::io::read_capped(&args.file, MAX_PLAINTEXT_BYTES)?;
    let (enc, mut sender) =
        hpke::setup_sender(args.suite.aead.algorithm(), Mode::Base, &pk_r, &info)
            .map_err(name_key("--to"))?;
    let ciphertext = sender.seal(&aad, &plaintext)?;
    write_stdout(format!("{}\n{}\n", to_hex(&enc), to_hex(&ciphertext)).as_bytes())
}

/// `switchboard open`: opens what `seal` printed and writes the plaintext bytes.
pub fn run_open(args: &OpenArgs) -> Result<()> {
    let sk_r = key_arg("--key", &args.key)?;
    let (aad, info) = args.suite.aad_and_info()?;
    let name = shown(&args.file);
    // Two hex digits per byte, the tag, the enc line and some slack for whitespace.
    let max_text = 2 * (MAX_PLAINTEXT_BYTES + TAG_LEN as u64 + KEY_LEN as u64) + 4096;
    let text = crate::io::read_capped(&args.file, max_text)?;
    let (enc, ciphertext) = parse_sealed(&name, &text)?;
    let mut receiver =
        hpke::setup_receiver(args.suite.aead.algorithm(), Mode::Base, &enc, &sk_r, &info)
            .map_err(name_key(&format!("{name}: enc (first line)")))?;
    let plaintext = receiver.open(&aad, &ciphertext).map_err(|error| {
        describe_open_error(
            &format!("cannot open {name}"),
            "--key, --aead, --info or --aad, or the sealed text was altered",
            error,
        )
    })?;
    write_stdout(&plaintext)
}

/// `switchboard hpke seal`: deterministic seal of the first message of a context.
pub fn run_hpke_seal(args: &HpkeSealArgs) -> Result<()> {
    let pk_r = key_arg("--pk-r", &args.pk_r)?;
    let sk_e = key_arg("--sk-e", &args.sk_e)?;
    let (aad, info) = args.suite.aad_and_info()?;
    let plaintext = hex_arg("--pt", Some(&args.pt))?;
    let algorithm = args.suite.aead.algorithm();
    let (enc, mut sender) =
        hpke::setup_sender_with_ephemeral(algorithm, Mode::Base, &pk_r, &info, &sk_e)
            .map_err(name_key("--pk-r"))?;
    let ciphertext = sender.seal(&aad, &plaintext)?;
    write_stdout(format!("{}\n{}\n", to_hex(&enc), to_hex(&ciphertext)).as_bytes())
}

/// `switchboard hpke open`: opens the first message of a context, prints it in hex.
pub fn run_hpke_open(args: &HpkeOpenArgs) -> Result<()> {
    let sk_r = key_arg("--sk-r", &args.sk_r)?;
    let enc = key_arg("--enc", &args.enc)?;
    let (aad, info) = args.suite.aad_and_info()?;
    let ciphertext = hex_arg("--ct", Some(&args.ct))?;
    let mut receiver =
        hpke::setup_receiver(args.suite.aead.algorithm(), Mode::Base, &enc, &sk_r, &info)
            .map_err(name_key("--enc"))?;
    let plaintext = receiver.open(&aad, &ciphertext).map_err(|error| {
        describe_open_error(
            "cannot open --ct",
            "--sk-r, --enc, --aead, --info or --aad, or --ct was altered",
            error,
        )
    })?;
    write_stdout(format!("{}\n", to_hex(&plaintext)).as_bytes())
}

impl SuiteArgs {
    /// The decoded `--aad` and `--info`.
    fn aad_and_info(&self) -> Result<(Vec<u8>, Vec<u8>)> {
        Ok((
            hex_arg("--aad", self.aad.as_deref())?,
            hex_arg("--info", self.info.as_deref())?,
        ))
    }
}

/// Decodes an optional hex argument (absent means empty); the error names it.
fn hex_arg(arg: &str, text: Option<&str>) -> Result<Vec<u8>> {
    Ok(sealing::parse_hex(arg, text.unwrap_or(""), None)?)
}

/// Decodes a 32-byte key given in hex; the error names the argument.
fn key_arg(arg: &str, text: &str) -> Result<[u8; KEY_LEN]> {
    let bytes = sealing::parse_hex(arg, text, Some(KEY_LEN))?;
    Ok(keys::key_from_slice(arg, &bytes)?)
}

/// Puts the argument's name in a key error from the key agreement (a low-order
/// point), which cannot know where the key came from.
fn name_key(arg: &str) -> impl FnOnce(SealingError) -> anyhow::Error + '_ {
    move |error| match error {
        SealingError::InvalidKey(why) => anyhow!("invalid key: {arg}: {why}"),
        other => anyhow!(other),
    }
}

/// An open failure as one line: what failed and, for an authentication failure,
/// what may be wrong (the AEAD cannot tell which).
fn describe_open_error(what: &str, suspects: &str, error: SealingError) -> anyhow::Error {
    match error {
        SealingError::AuthenticationFailed => {
            anyhow!("{what}: authentication failed (wrong {suspects})")
        }
        other => anyhow!("{what}: {other}"),
    }
}

/// Parses what `seal` prints: `enc`, then the ciphertext, as two lines of hex.
fn parse_sealed(name: &str, bytes: &[u8]) -> Result<([u8; KEY_LEN], Vec<u8>)> {
    const EXPECTED: &str =
        "two lines of hex, enc then the ciphertext, as `switchboard seal` prints";
    let text =
        std::str::from_utf8(bytes).map_err(|_| anyhow!("{name}: not text; expected {EXPECTED}"))?;
    let lines: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty())
        .collect();
    let [enc, ciphertext] = lines.as_slice() else {
        bail!(
            "{name}: expected {EXPECTED}, found {} non-empty lines",
            lines.len()
        );
    };
    let enc = key_arg(&format!("{name}: enc (first line)"), enc)?;
    let ciphertext = sealing::parse_hex(
        &format!("{name}: ciphertext (second line)"),
        ciphertext,
        None,
    )?;
    Ok((enc, ciphertext))
}

/// A path as errors show it: `stdin` for `-`.
fn shown(path: &Path) -> String {
    if path == Path::new("-") {
        "stdin".into()
    } else {
        path.display().to_string()
    }
}

/// Writes to stdout and flushes; a closed pipe is an error, not a panic.
fn write_stdout(bytes: &[u8]) -> Result<()> {
    let mut out = std::io::stdout().lock();
    out.write_all(bytes)
        .and_then(|()| out.flush())
        .context("cannot write to stdout")
}
