//! The authenticated call as the service handlers see it: the simulator's shared state, the
//! scenario the request started with, the caller, the region of its credential scope (or of its
//! API key), the kind of API key it sent, and the request id of the answer.

use std::sync::Arc;

use super::auth::Principal;
use super::scenario::Scenario;
use super::state::SimState;

/// The authenticated call.
pub(crate) struct Ctx {
    pub state: Arc<SimState>,
    pub scenario: Arc<Scenario>,
    pub principal: Principal,
    pub region: String,
    pub request_id: String,
    /// The kind of API key the caller authenticated with (none: SigV4).
    pub bearer: Option<super::bearer::TokenType>,
}
