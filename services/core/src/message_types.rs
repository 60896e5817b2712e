//! The message types, as constants: one per published schema in
//! `schemas/messages/`.
//!
//! Services name a type through these constants rather than string
//! literals, so a misspelt type does not compile. The test at the end checks
//! the list against the schema registry both ways: every constant names a
//! published type, and every published type has a constant.

/// Declares each constant and [`ALL`], so the list cannot miss one.
macro_rules! message_types {
    ($($(#[$doc:meta])* $name:ident = $value:literal;)*) => {
        $( $(#[$doc])* pub const $name: &str = $value; )*
        /// Every message type, in the order above.
        pub const ALL: &[&str] = &[$($name),*];
    };
}

message_types! {
    /// The camp administration → the claimed nationality's `mfa` and `security`.
    CAMP_RESIDENT_LOCATED = "camp.resident.located";
    /// `mfa` → `security`.
    IDENTITY_VERIFICATION_REQUESTED = "identity.verification.requested";
    /// `security` → `mfa`.
    IDENTITY_VERIFICATION_COMPLETED = "identity.verification.completed";
    /// `mfa` → the camp administration.
    REPATRIATION_REQUESTED = "repatriation.requested";
    /// The camp administration → `mfa`.
    REPATRIATION_DECIDED = "repatriation.decided";
    /// `mfa` → camp, `security`, `interior`, `rehab`.
    OPERATION_SCHEDULED = "operation.scheduled";
    /// One state's `mfa` → the carrying state's `mfa`.
    TRANSIT_REQUESTED = "transit.requested";
    /// The carrying state's `mfa` → the requesting state's `mfa`.
    TRANSIT_DECIDED = "transit.decided";
    /// The camp administration → `mfa`, `security`.
    HANDOVER_COMPLETED = "handover.completed";
    /// `mfa` → the camp administration.
    HANDOVER_ACKNOWLEDGED = "handover.acknowledged";
    /// `interior` → `rehab`, `security`, `mfa`.
    ARRIVAL_RECORDED = "arrival.recorded";
    /// `rehab` → `security`, `interior`, `mfa`.
    REHABILITATION_ADMITTED = "rehabilitation.admitted";
    /// `rehab` → `security`, `interior`, `mfa`.
    REHABILITATION_DISCHARGED = "rehabilitation.discharged";
    /// `security` → `rehab`, `interior`, `mfa`.
    SECURITY_SCREENING_COMPLETED = "security.screening.completed";
    /// `interior` → `mfa`, `rehab`.
    CUSTODY_ASSIGNED = "custody.assigned";
    /// `interior` → `mfa`.
    DOCUMENTS_ISSUED = "documents.issued";
    /// `interior` → `mfa`.
    REINTEGRATION_REGISTERED = "reintegration.registered";
    /// Any member → the sender of a message that breaks the case flow.
    CASE_REFUSED = "case.refused";
    /// A recipient → the sender: a signed processing receipt.
    MESSAGE_PROCESSED = "message.processed";
    /// The gateway → the sender.
    GATEWAY_RECEIPT = "gateway.receipt";
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use crate::SchemaRegistry;

    #[test]
    fn every_constant_is_a_published_type_and_every_type_has_a_constant() {
        let registry = SchemaRegistry::embedded().expect("the embedded schemas load");
        let published: BTreeSet<String> = registry.message_types().into_keys().collect();
        let constants: BTreeSet<String> = super::ALL.iter().map(|t| (*t).to_owned()).collect();
        assert_eq!(constants.len(), super::ALL.len(), "a type is listed twice");
        let unpublished: Vec<&String> = constants.difference(&published).collect();
        assert!(unpublished.is_empty(), "no schema for {unpublished:?}");
        let missing: Vec<&String> = published.difference(&constants).collect();
        assert!(missing.is_empty(), "no constant for {missing:?}");
    }
}
