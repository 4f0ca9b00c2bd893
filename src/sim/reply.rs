//! What the simulated models answer: one fixed reply, cut at the requested maximum of output
//! tokens and delivered piece by piece in a stream, rough token counts, a plausible latency;
//! and the records the runtime operations (`runtime`) hand to their wire formats (JSON
//! bodies there, event streams in `stream`).

use serde_json::Value;

/// A rough token count: one token per started four characters.
pub(crate) fn tokens_of(text: &str) -> u64 {
    (text.chars().count() as u64).div_ceil(4)
}

const REPLY: &[&str] = &[
    "Hi", " there", "!", " How", " can", " I", " help", " you", " today", "?",
];

/// The reply cut at `max` tokens; (text, tokens, truncated).
pub(crate) fn reply(max: u64) -> (String, u64, bool) {
    let pieces = reply_pieces(max);
    (
        pieces.concat(),
        pieces.len() as u64,
        pieces.len() < REPLY.len(),
    )
}

pub(crate) fn latency_ms() -> u64 {
    rand::random_range(120..480)
}

/// What an invocation answers: the reply text, its token counts and whether `max_tokens` cut it.
pub(crate) struct Reply {
    pub text: String,
    pub input: u64,
    pub output: u64,
    pub truncated: bool,
}

/// The reply pieces of `n` output tokens (how a stream delivers them).
pub(crate) fn reply_pieces(n: u64) -> &'static [&'static str] {
    let n = usize::try_from(n).unwrap_or(usize::MAX);
    &REPLY[..n.clamp(1, REPLY.len())]
}

/// What an InvokeModel (or InvokeModelWithResponseStream) call answers: the provider's body,
/// whether it is Anthropic's messages API (whose stream has its own events), and the reply.
pub(crate) struct InvokeReply {
    pub body: Value,
    pub anthropic: bool,
    pub reply: Reply,
}
