//! What a role records when another role reports a step it takes no part
//! in: the step on each person the message names, the case's stage left as
//! it is. Several roles note the same steps the same way, so each is
//! written once here.

use homeward_core::Envelope;

use crate::Case;
use crate::runtime::{Refusal, Transition, mark_persons, require_case};

/// `arrival.recorded`: each person named has arrived.
pub fn arrival(case: Option<Case>, m: &Envelope) -> Result<Option<Transition>, Refusal> {
    let case = mark_persons(case, m, "/persons", |p| p.arrived = true)?;
    Ok(Some(Transition::quiet(case)))
}

/// `rehabilitation.admitted`: each person named was admitted.
pub fn admission(case: Option<Case>, m: &Envelope) -> Result<Option<Transition>, Refusal> {
    let case = mark_persons(case, m, "/persons", |p| p.admitted = true)?;
    Ok(Some(Transition::quiet(case)))
}

/// `rehabilitation.discharged`: each person named was discharged.
pub fn discharge(case: Option<Case>, m: &Envelope) -> Result<Option<Transition>, Refusal> {
    let case = mark_persons(case, m, "/persons", |p| p.discharged = true)?;
    Ok(Some(Transition::quiet(case)))
}

/// `security.screening.completed`: each person's outcome.
pub fn screening(case: Option<Case>, m: &Envelope) -> Result<Option<Transition>, Refusal> {
    let mut case = require_case(case, m)?;
    case.record_screening(m.data())?;
    Ok(Some(Transition::quiet(case)))
}
