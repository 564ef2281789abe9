//! `switchboard deadletters list | redrive`: the dead letters of a running
//! host, through its admin API (`/admin/deadletters`), so an operator can
//! see what was given up on and send it again once the platform is back.

use anyhow::{Context, Result, bail};
use serde_json::{Value, json};

/// Dead letters of a running host.
#[derive(clap::Subcommand)]
pub enum DeadLettersCommand {
    /// Print the dead letters (oldest first) as JSON.
    List {
        #[command(flatten)]
        host: AdminTarget,
        #[command(flatten)]
        filter: Filter,
    },
    /// Put the dead letters back in the outbox, their tries reset.
    Redrive {
        #[command(flatten)]
        host: AdminTarget,
        #[command(flatten)]
        filter: Filter,
    },
}

/// The host and the admin token to use.
#[derive(clap::Args)]
pub struct AdminTarget {
    /// The running host.
    #[arg(long, default_value = "http://127.0.0.1:3000")]
    target: String,
    /// The admin API's token.
    #[arg(long, env = "SPIN_VARIABLE_ADMIN_TOKEN", hide_env_values = true)]
    admin_token: String,
}

/// Which dead letters.
#[derive(clap::Args)]
pub struct Filter {
    /// Only those for this platform.
    #[arg(long)]
    platform: Option<String>,
    /// Only those given up on at or after this time (ms since the epoch).
    #[arg(long)]
    since_ms: Option<u64>,
}

/// Runs a dead-letter command.
pub fn run(command: DeadLettersCommand) -> Result<()> {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    match command {
        DeadLettersCommand::List { host, filter } => {
            let mut all = Vec::new();
            let mut after: Option<String> = None;
            loop {
                let mut query = vec![("limit".to_string(), "1000".to_string())];
                if let Some(platform) = &filter.platform {
                    query.push(("platform".into(), platform.clone()));
                }
                if let Some(since) = filter.since_ms {
                    query.push(("since_ms".into(), since.to_string()));
                }
                if let Some(after) = &after {
                    query.push(("after".into(), after.clone()));
                }
                let mut request = agent
                    .get(format!(
                        "{}/admin/deadletters",
                        host.target.trim_end_matches('/')
                    ))
                    .header("authorization", format!("Bearer {}", host.admin_token));
                for (name, value) in &query {
                    request = request.query(name, value);
                }
                let page = answer(request.call())?;
                all.extend(page["dead_letters"].as_array().cloned().unwrap_or_default());
                match page["next"].as_str() {
                    Some(next) => after = Some(next.to_string()),
                    None => break,
                }
            }
            crate::io::print_json(&all)
        }
        DeadLettersCommand::Redrive { host, filter } => {
            let body = json!({ "platform": filter.platform, "since_ms": filter.since_ms });
            let reply = answer(
                agent
                    .post(format!(
                        "{}/admin/deadletters/redrive",
                        host.target.trim_end_matches('/')
                    ))
                    .header("authorization", format!("Bearer {}", host.admin_token))
                    .header("content-type", "application/json")
                    .send(body.to_string()),
            )?;
            println!("{} redriven", reply["redriven"].as_u64().unwrap_or(0));
            Ok(())
        }
    }
}

/// The JSON of a 200, or the admin API's error as one line.
fn answer(outcome: Result<ureq::http::Response<ureq::Body>, ureq::Error>) -> Result<Value> {
    let mut response = outcome.context("the host did not answer")?;
    let status = response.status().as_u16();
    let text = response
        .body_mut()
        .read_to_string()
        .context("cannot read the host's answer")?;
    let value: Value = serde_json::from_str(&text).unwrap_or(Value::String(text));
    if status != 200 {
        let error = value["error"]
            .as_str()
            .map_or(value.to_string(), str::to_string);
        bail!("the host answered {status}: {error}");
    }
    Ok(value)
}
