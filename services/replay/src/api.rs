//! A client of the services' HTTP APIs, as a ministry's own systems use
//! them ([`homeward_ministry::api_client`]), and predicates over the cases
//! it reads.

use serde_json::Value;

pub use homeward_ministry::api_client::{ApiClient as Api, STEP_TIMEOUT};

use crate::world::World;

/// A client of every service of a [`World`], with each one's token.
pub fn of_world(world: &World) -> anyhow::Result<Api> {
    Api::new(world.endpoints()?)
}

/// Whether a case's stage is `stage`.
pub fn stage_is(stage: &'static str) -> impl Fn(&Value) -> bool {
    move |c| c.get("stage").and_then(Value::as_str) == Some(stage)
}

/// Whether every person in a case satisfies `f`.
pub fn all_persons(case: &Value, f: impl Fn(&Value) -> bool) -> bool {
    case.get("persons")
        .and_then(Value::as_object)
        .is_some_and(|ps| !ps.is_empty() && ps.values().all(f))
}
