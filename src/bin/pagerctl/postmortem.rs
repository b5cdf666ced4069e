//! `note` and `postmortem`: a note on an incident's timeline, the post-mortem draft (Markdown
//! or JSON), and `--done URL` to record where the written post-mortem went.

use clap::{Args, ValueEnum};

use pagerd::proto as pb;

use crate::Global;
use crate::cli::{default_actor, incident_id};
use crate::render::incidents::{already_unless, emit_action};
use crate::render::{clean, emit};

#[derive(Args)]
pub(crate) struct NoteArgs {
    #[arg(value_name = "ID", value_parser = incident_id())]
    pub(crate) id: i64,
    /// The note (at most 4096 bytes); recorded with the token's person as its author.
    pub(crate) text: String,
    /// Who writes it (kept beside the authenticated author when it differs).
    #[arg(long, default_value_t = default_actor())]
    pub(crate) by: String,
}

#[derive(Args)]
pub(crate) struct PostmortemArgs {
    #[arg(value_name = "ID", value_parser = incident_id())]
    pub(crate) id: i64,
    /// markdown (default) or json (also --json).
    #[arg(long, value_enum, ignore_case = true, default_value = "markdown")]
    pub(crate) format: DraftFormat,
    /// Record where the written post-mortem is (an http(s) URL) instead of printing the
    /// draft; clears "post-mortem pending". Needs a responder token.
    #[arg(long, value_name = "URL")]
    pub(crate) done: Option<String>,
    /// Who records it (kept beside the authenticated caller when it differs).
    #[arg(long, default_value_t = default_actor())]
    pub(crate) by: String,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum DraftFormat {
    Markdown,
    Json,
}

pub(crate) async fn note(g: &Global, args: NoteArgs) -> anyhow::Result<()> {
    let request = pb::AddNoteRequest {
        id: args.id,
        text: args.text,
        by: args.by,
    };
    let pagerd = g.connect().await?;
    let r = pagerd.call(pagerd.incidents().add_note(request)).await?;
    emit_action(&r, g.json, |desc| format!("note added; {desc}"))
}

pub(crate) async fn postmortem(g: &Global, args: PostmortemArgs) -> anyhow::Result<()> {
    let pagerd = g.connect().await?;
    if let Some(url) = args.done {
        let request = pb::PostMortemDoneRequest {
            id: args.id,
            url: url.clone(),
            by: args.by,
        };
        let r = pagerd
            .call(pagerd.incidents().post_mortem_done(request))
            .await?;
        return emit_action(&r, g.json, |desc| {
            already_unless(
                r.changed,
                format!("post-mortem recorded at {}; {desc}", clean(&url)),
            )
        });
    }
    let request = pb::PostMortemRequest { id: args.id };
    let r = pagerd.call(pagerd.incidents().post_mortem(request)).await?;
    if g.json || args.format == DraftFormat::Json {
        emit(&r.json)
    } else {
        // The daemon escaped every outside text (and replaced control characters), so the
        // draft is safe to print as it is.
        emit(&r.markdown)
    }
}
