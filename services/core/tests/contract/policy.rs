//! The policy loads only when it is coherent; each problem is named with
//! where it is.

use homeward_core::policy::{KeyStatus, Policy, RouteError};
use homeward_core::{Error, MemberId, SchemaRegistry, SigningKey};
use serde_json::json;
use time::macros::datetime;

fn schemas() -> SchemaRegistry {
    SchemaRegistry::load_dir(&crate::schemas_dir()).expect("schemas")
}

const MEMBERS: &str = r#"
[[member]]
id = "kz.mfa"
name = "Kazakhstan MFA"
role = "mfa"

[[member]]
id = "kz.security"
name = "Kazakhstan security"
role = "security"

[[member]]
id = "uz.mfa"
name = "Uzbekistan MFA"
role = "mfa"

[[member]]
id = "uz.security"
name = "Uzbekistan security"
role = "security"

[[member]]
id = "aanes.camps"
name = "Camps"
role = "camp-authority"
"#;

const LOCATED: &str = r#"
[[route]]
type = "camp.resident.located"
senders = ["role:camp-authority"]
recipients = [
  { member = "{data.claimedNationality}.mfa", role = "mfa" },
  { member = "{data.claimedNationality}.security", role = "security" },
]
"#;

fn load(text: &str) -> Result<Policy, Error> {
    Policy::from_toml("test.toml", text, &[], &schemas())
}

fn problems(text: &str) -> Vec<String> {
    match load(text) {
        Err(Error::Policy { problems, .. }) => problems,
        Err(other) => panic!("not a policy error: {other}"),
        Ok(_) => panic!("policy loaded but should not have"),
    }
}

fn assert_problem(text: &str, needle: &str) {
    let p = problems(text);
    assert!(
        p.iter().any(|x| x.contains(needle)),
        "no problem mentions {needle:?}: {p:?}"
    );
}

#[test]
fn a_coherent_policy_loads_and_routes_by_nationality() {
    let policy = load(&format!("{MEMBERS}{LOCATED}")).expect("loads");
    let camps = MemberId::parse("aanes.camps").expect("id");
    let route = policy.route("camp.resident.located").expect("route");
    let uz = policy
        .recipients(route, &camps, &json!({"claimedNationality": "UZ"}))
        .expect("routes");
    assert_eq!(
        uz,
        vec![
            MemberId::parse("uz.mfa").expect("id"),
            MemberId::parse("uz.security").expect("id")
        ]
    );
    assert!(matches!(
        policy.recipients(route, &camps, &json!({"claimedNationality": "TM"})),
        Err(RouteError::NotAMember { .. })
    ));
    assert!(matches!(
        policy.recipients(route, &camps, &json!({})),
        Err(RouteError::MissingField { .. })
    ));
    assert!(policy.may_send(&camps, "camp.resident.located"));
    assert!(!policy.may_send(
        &MemberId::parse("kz.mfa").expect("id"),
        "camp.resident.located"
    ));
}

#[test]
fn a_route_that_reads_its_recipient_from_the_data_cannot_reach_the_gateway_or_operator() {
    // Neither has a delivery consumer: a message routed to them would be
    // accepted and then read by nobody.
    let text = format!(
        "{MEMBERS}
[[member]]
id = \"homeward.gateway\"
name = \"Gateway\"
role = \"gateway\"

[[member]]
id = \"homeward.operator\"
name = \"Operator\"
role = \"operator\"

[[route]]
type = \"message.processed\"
senders = [\"role:mfa\"]
recipients = [{{ member = \"{{data.originalSender}}\" }}]
"
    );
    let policy = load(&text).expect("loads");
    let route = policy.route("message.processed").expect("route");
    let kz_mfa = MemberId::parse("kz.mfa").expect("id");
    for identity in ["homeward.gateway", "homeward.operator"] {
        assert!(
            matches!(
                policy.recipients(route, &kz_mfa, &json!({"originalSender": identity})),
                Err(RouteError::NotAReceiver { .. })
            ),
            "{identity}"
        );
    }
    assert_eq!(
        policy
            .recipients(route, &kz_mfa, &json!({"originalSender": "aanes.camps"}))
            .expect("routes"),
        vec![MemberId::parse("aanes.camps").expect("id")]
    );
}

#[test]
fn the_demo_policy_is_coherent() {
    let path = crate::repo_root().join("deploy/policy/demo.toml");
    let members = Policy::member_ids(&path).expect("members");
    let dir = tempfile::tempdir().expect("tempdir");
    homeward_testkit::devkeys::generate(dir.path(), &members, false).expect("keys");
    let policy =
        Policy::load_replacing_keyrings(&path, &[dir.path().join("keyring.toml")], &schemas())
            .expect("demo policy loads");
    for kind in schemas().message_types().keys() {
        if kind != "gateway.receipt" {
            assert!(
                policy.route(kind).is_some(),
                "the demo policy has no route for {kind}"
            );
        }
    }
    for party in ["kz", "uz", "tj", "kg", "tm"] {
        for unit in ["mfa", "security", "interior", "rehab"] {
            let id = MemberId::parse(&format!("{party}.{unit}")).expect("id");
            assert!(
                policy.member(&id).is_some_and(|m| m.keys.len() == 1),
                "{id}"
            );
        }
    }
}

#[test]
fn an_unknown_member_in_a_route_is_named() {
    let text = format!(
        "{MEMBERS}\n[[route]]\ntype = \"repatriation.requested\"\nsenders = [\"kz.nobody\"]\nrecipients = [{{ member = \"aanes.camps\" }}]\n"
    );
    assert_problem(
        &text,
        "route 1 (\"repatriation.requested\"): sender \"kz.nobody\" is not a member",
    );
    let text = format!(
        "{MEMBERS}\n[[route]]\ntype = \"repatriation.requested\"\nsenders = [\"role:mfa\"]\nrecipients = [{{ member = \"sy.camps\" }}]\n"
    );
    assert_problem(&text, "recipient \"sy.camps\" is not a member");
}

#[test]
fn a_duplicate_key_is_named_with_both_places() {
    let key = SigningKey::generate();
    let text = format!(
        "[[member]]\nid = \"kz.mfa\"\nname = \"a\"\nrole = \"mfa\"\n[[member.key]]\npublic = \"{k}\"\nvalid_from = \"2026-01-01T00:00:00Z\"\n\
         [[member]]\nid = \"uz.mfa\"\nname = \"b\"\nrole = \"mfa\"\n[[member.key]]\npublic = \"{k}\"\nvalid_from = \"2026-01-01T00:00:00Z\"\n",
        k = key.public()
    );
    assert_problem(&text, "member 2 (\"uz.mfa\") key 1: duplicate key");
    assert_problem(&text, "already listed at member 1 (\"kz.mfa\") key 1");
}

#[test]
fn a_template_naming_a_field_the_schema_lacks_is_named() {
    let text = format!(
        "{MEMBERS}\n[[route]]\ntype = \"camp.resident.located\"\nsenders = [\"role:camp-authority\"]\nrecipients = [{{ member = \"{{data.nationality}}.mfa\" }}]\n"
    );
    assert_problem(
        &text,
        "reads data field \"nationality\", which the schema of \"camp.resident.located\" does not have",
    );
}

#[test]
fn a_type_without_a_schema_is_named() {
    let text = format!(
        "{MEMBERS}\n[[route]]\ntype = \"camp.resident.moved\"\nsenders = [\"role:camp-authority\"]\nrecipients = [{{ member = \"kz.mfa\" }}]\n"
    );
    assert_problem(
        &text,
        "route 1 (\"camp.resident.moved\"): no schema is published for type",
    );
}

#[test]
fn other_mistakes_are_named() {
    assert_problem(
        &format!("{MEMBERS}[[member]]\nid = \"kz.mfa\"\nname = \"x\"\nrole = \"mfa\"\n"),
        "duplicate member id",
    );
    assert_problem(
        "[[member]]\nid = \"kz.mfa\"\nname = \"x\"\nrole = \"minister\"\n",
        "unknown role \"minister\"",
    );
    assert_problem(
        "[[member]]\nid = \"KZ.MFA\"\nname = \"x\"\nrole = \"mfa\"\n",
        "invalid member id",
    );
    assert_problem(
        "[[member]]\nid = \"kz.mfa\"\nname = \"x\"\nrole = \"mfa\"\n[[member.key]]\npublic = \"Ubad\"\nvalid_from = \"2026-01-01T00:00:00Z\"\n",
        "must be an nkeys user key",
    );
    let key = SigningKey::generate();
    assert_problem(
        &format!(
            "[[member]]\nid = \"kz.mfa\"\nname = \"x\"\nrole = \"mfa\"\n[[member.key]]\npublic = \"{}\"\nvalid_from = \"2026-01-01T00:00:00Z\"\nvalid_until = \"2025-01-01T00:00:00Z\"\n",
            key.public()
        ),
        "valid_until \"2025-01-01T00:00:00Z\" is not after valid_from",
    );
    assert_problem(
        &format!(
            "{MEMBERS}\n[[route]]\ntype = \"camp.resident.located\"\nsenders = [\"role:camp-authority\"]\nrecipients = [{{ member = \"{{who}}.mfa\" }}]\n"
        ),
        "unknown placeholder {who}",
    );
    assert_problem(
        &format!("{MEMBERS}{LOCATED}{LOCATED}"),
        "a second route for the same type",
    );
    assert_problem(
        "[[member]]\nid = \"kz.mfa\"\nname = \"x\"\nrole = \"mfa\"\ncolour = \"blue\"\n",
        "unknown field `colour`",
    );
}

#[test]
fn a_quota_out_of_bounds_or_misspelt_is_named() {
    assert_problem(
        "[quota]\nburst = 0\n[[member]]\nid = \"kz.mfa\"\nname = \"x\"\nrole = \"mfa\"\n",
        "[quota]: quota burst is 0; it must be at least 1",
    );
    assert_problem(
        "[[member]]\nid = \"kz.mfa\"\nname = \"x\"\nrole = \"mfa\"\nquota = { payload = 1000 }\n",
        "member 1 (\"kz.mfa\"): quota payload is 1000; it must be at least 69632",
    );
    assert_problem(
        "[[member]]\nid = \"kz.mfa\"\nname = \"x\"\nrole = \"mfa\"\nquota = { per_second = 10 }\n",
        "unknown field `per_second`",
    );
}

#[test]
fn a_members_quota_overrides_the_policys_field_by_field() {
    let schemas = schemas();
    let policy = Policy::from_toml(
        "test",
        "[quota]\nsubmissions_per_second = 7\nburst = 70\n\
         [[member]]\nid = \"kz.mfa\"\nname = \"x\"\nrole = \"mfa\"\nquota = { burst = 9 }\n\
         [[member]]\nid = \"uz.mfa\"\nname = \"y\"\nrole = \"mfa\"\n",
        &[],
        &schemas,
    )
    .expect("loads");
    let quota = |m: &str| {
        policy
            .member(&MemberId::parse(m).expect("id"))
            .expect("member")
            .quota
    };
    assert_eq!(
        (
            quota("kz.mfa").submissions_per_second,
            quota("kz.mfa").burst
        ),
        (7, 9)
    );
    assert_eq!(
        (
            quota("uz.mfa").submissions_per_second,
            quota("uz.mfa").burst
        ),
        (7, 70)
    );
    assert_eq!(
        quota("uz.mfa").connections,
        homeward_core::quota::Quota::default().connections
    );
}

#[test]
fn keys_are_valid_only_inside_their_window() {
    let old = SigningKey::generate();
    let new = SigningKey::generate();
    let revoked = SigningKey::generate();
    let text = format!(
        "[[member]]\nid = \"kz.mfa\"\nname = \"x\"\nrole = \"mfa\"\n\
         [[member.key]]\npublic = \"{}\"\nvalid_from = \"2026-01-01T00:00:00Z\"\nvalid_until = \"2026-06-01T00:00:00Z\"\n\
         [[member.key]]\npublic = \"{}\"\nvalid_from = \"2026-05-01T00:00:00Z\"\n\
         [[member.key]]\npublic = \"{}\"\nvalid_from = \"2026-01-01T00:00:00Z\"\nrevoked = true\n",
        old.public(),
        new.public(),
        revoked.public()
    );
    let policy = load(&text).expect("loads");
    let m = MemberId::parse("kz.mfa").expect("id");
    let status = |k: &SigningKey, t| policy.key_status(&m, k.public().as_str(), t);
    assert_eq!(
        status(&old, datetime!(2026-05-15 00:00 UTC)),
        KeyStatus::Valid
    );
    assert_eq!(
        status(&new, datetime!(2026-05-15 00:00 UTC)),
        KeyStatus::Valid
    );
    assert_eq!(
        status(&old, datetime!(2026-06-01 00:00 UTC)),
        KeyStatus::Expired
    );
    assert_eq!(
        status(&new, datetime!(2026-04-30 00:00 UTC)),
        KeyStatus::Expired
    );
    assert_eq!(
        status(&revoked, datetime!(2026-05-15 00:00 UTC)),
        KeyStatus::Revoked
    );
    assert_eq!(
        status(&SigningKey::generate(), datetime!(2026-05-15 00:00 UTC)),
        KeyStatus::Unknown
    );
}

#[test]
fn a_member_reads_version_1_unless_the_policy_lists_its_versions() {
    let text = MEMBERS.replacen(
        "role = \"mfa\"\n",
        "role = \"mfa\"\nreads = { \"camp.resident.located\" = [2, 1, 2] }\n",
        1,
    ) + LOCATED;
    let policy = load(&text).expect("loads");
    let kz = MemberId::parse("kz.mfa").expect("id");
    let uz = MemberId::parse("uz.mfa").expect("id");
    assert_eq!(policy.reads(&kz, "camp.resident.located"), &[1, 2]);
    assert_eq!(policy.reads(&uz, "camp.resident.located"), &[1]);
    let both = [kz.clone(), uz.clone()];
    assert_eq!(
        policy.first_not_reading(&both, "camp.resident.located", 2),
        Some((&uz, &[1u32][..]))
    );
    assert_eq!(
        policy.first_not_reading(&both, "camp.resident.located", 1),
        None
    );
}

#[test]
fn reads_naming_an_unpublished_version_or_a_type_not_received_is_named() {
    let with = |reads: &str| {
        MEMBERS.replacen(
            "role = \"mfa\"\n",
            &format!("role = \"mfa\"\nreads = {reads}\n"),
            1,
        ) + LOCATED
    };
    assert_problem(
        &with("{ \"camp.resident.located\" = [1, 7] }"),
        "member 1 (\"kz.mfa\"): reads \"camp.resident.located\" in v7, which is not published (published: v1, v2)",
    );
    assert_problem(
        &with("{ \"camp.resident.located\" = [] }"),
        "reads no version of \"camp.resident.located\"",
    );
    assert_problem(
        &with("{ \"repatriation.requested\" = [1] }"),
        "reads \"repatriation.requested\", which no route delivers to it",
    );
    assert_problem(
        &with("{ \"no.such.type\" = [1] }"),
        "reads \"no.such.type\", for which no schema is published",
    );
}
