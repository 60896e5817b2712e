//! The security service with the state's civil registry, on a real
//! nats-server: when the foreign ministry asks to verify a family, the
//! service ranks candidates from the registry for each person and shows
//! them with their reasons (`GET /cases/{caseRef}/candidates`); no
//! outcome leaves without an official's action, whatever the score; and
//! neither the candidates nor anything of the registry ever leaves the
//! site — not in what the service submits, in any stream, in its cases,
//! `/health` or its log.

mod candidates;
mod site;
mod support;
