//! `pagerctl token create|list|revoke`: API tokens through the daemon's admin RPCs (the same
//! operations `pagerd token …` runs on the database).

use serde_json::{Value, json};

use pagerd::proto as pb;

use crate::Global;
use crate::cli::TokenCommand;
use crate::render::json::timestamp_json;
use crate::render::time::local_time_of;
use crate::render::{emit, emit_json, finish_table, plain_table};

pub(crate) async fn token(g: &Global, cmd: TokenCommand) -> anyhow::Result<()> {
    let expires_at = match &cmd {
        TokenCommand::Create { expires, .. } => g.time_opt("--expires", expires.as_ref())?,
        _ => None,
    };
    let pagerd = g.connect().await?;
    match cmd {
        TokenCommand::Create {
            name,
            role,
            person,
            expires: _,
        } => {
            let r = pagerd
                .call(pagerd.daemon().create_token(pb::CreateTokenRequest {
                    name,
                    role,
                    person: person.unwrap_or_default(),
                    expires_at: expires_at.map(pagerd::api::convert::timestamp),
                }))
                .await?;
            let t = r.token.unwrap_or_default();
            if g.json {
                return emit_json(&json!({ "secret": r.secret, "token": token_json(&t) }));
            }
            eprintln!(
                "created token `{}` (role {}); it is shown only now — store it safely:",
                t.name, t.role
            );
            emit(&r.secret)
        }
        TokenCommand::List => {
            let r = pagerd
                .call(pagerd.daemon().list_tokens(pb::ListTokensRequest {}))
                .await?;
            if g.json {
                let tokens: Vec<Value> = r.tokens.iter().map(token_json).collect();
                return emit_json(&json!({ "tokens": tokens }));
            }
            let mut table = plain_table();
            table.set_header(vec![
                "NAME", "ROLE", "PERSON", "CREATED", "EXPIRES", "STATE",
            ]);
            for t in &r.tokens {
                table.add_row(vec![
                    t.name.clone(),
                    t.role.clone(),
                    if t.person.is_empty() {
                        "-".to_string()
                    } else {
                        t.person.clone()
                    },
                    local_time_of(t.created_at.as_ref()),
                    t.expires_at
                        .as_ref()
                        .map_or("never".to_string(), |e| local_time_of(Some(e))),
                    t.state.clone(),
                ]);
            }
            emit(&finish_table(table))
        }
        TokenCommand::Revoke { name } => {
            pagerd
                .call(
                    pagerd
                        .daemon()
                        .revoke_token(pb::RevokeTokenRequest { name: name.clone() }),
                )
                .await?;
            eprintln!("revoked token `{}`", name.trim());
            Ok(())
        }
    }
}

fn token_json(t: &pb::ApiToken) -> Value {
    json!({"name": t.name, "role": t.role, "person": t.person,
           "created_at": timestamp_json(t.created_at.as_ref()),
           "expires_at": timestamp_json(t.expires_at.as_ref()),
           "revoked_at": timestamp_json(t.revoked_at.as_ref()), "state": t.state})
}
