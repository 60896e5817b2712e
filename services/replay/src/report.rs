//! `homeward report`: where every family stands, per country, operation
//! and round, computed from what the services recorded — each state's
//! foreign ministry keeps a case per family and records every step its
//! partners report — never from the scenario's own numbers.

use std::collections::BTreeMap;

use async_nats::jetstream;
use homeward_core::policy::Role as PolicyRole;
use homeward_core::{MemberId, streams, subjects};
use homeward_gateway::local::Local;
use homeward_ministry::Case;
use serde::Serialize;

/// Screening outcomes, by sex.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BySex {
    pub female: u32,
    pub male: u32,
}

/// The figures of one operation round of one country.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Figures {
    pub families: u32,
    pub located: u32,
    pub located_children: u32,
    pub verified: u32,
    pub requested: u32,
    pub accepted: u32,
    pub refused: u32,
    pub handed_over_adults: u32,
    pub handed_over_children: u32,
    pub arrived: u32,
    pub cleared: BySex,
    pub under_investigation: BySex,
    pub detained: BySex,
    pub charged: BySex,
    pub children_with_guardian: u32,
    pub documents_issued: u32,
    pub reintegrated: u32,
    pub open_discrepancies: u32,
    pub cases_closed: u32,
}

impl Figures {
    fn add(&mut self, other: &Figures) {
        macro_rules! sum {
            ($($f:ident),*) => { $( self.$f += other.$f; )* };
        }
        sum!(
            families,
            located,
            located_children,
            verified,
            requested,
            accepted,
            refused,
            handed_over_adults,
            handed_over_children,
            arrived,
            children_with_guardian,
            documents_issued,
            reintegrated,
            open_discrepancies,
            cases_closed
        );
        for (a, b) in [
            (&mut self.cleared, &other.cleared),
            (&mut self.under_investigation, &other.under_investigation),
            (&mut self.detained, &other.detained),
            (&mut self.charged, &other.charged),
        ] {
            a.female += b.female;
            a.male += b.male;
        }
    }
}

/// One row: a country's operation round.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Row {
    pub country: String,
    pub operation: String,
    pub round: u32,
    #[serde(flatten)]
    pub figures: Figures,
}

/// The whole report.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Report {
    pub rows: Vec<Row>,
}

impl Report {
    /// Adds up one case.
    fn count(f: &mut Figures, case: &Case) {
        f.families += 1;
        if case.closed {
            f.cases_closed += 1;
        }
        f.open_discrepancies += case.discrepancies.len() as u32;
        for p in case.persons.values() {
            let child = p.child == Some(true);
            f.located += 1;
            f.located_children += u32::from(child);
            f.verified += u32::from(p.verification.as_deref() == Some("confirmed"));
            f.requested += u32::from(p.requested);
            f.accepted += u32::from(p.decision.as_deref() == Some("accepted"));
            f.refused += u32::from(p.decision.as_deref() == Some("refused"));
            if p.handed_over {
                if child {
                    f.handed_over_children += 1;
                } else {
                    f.handed_over_adults += 1;
                }
            }
            f.arrived += u32::from(p.arrived);
            let by_sex = match p.screening.as_deref() {
                Some("cleared") => Some(&mut f.cleared),
                Some("under-investigation") => Some(&mut f.under_investigation),
                Some("detained") => Some(&mut f.detained),
                Some("charged") => Some(&mut f.charged),
                _ => None,
            };
            if let Some(b) = by_sex {
                match p.sex.as_deref() {
                    Some("female") => b.female += 1,
                    _ => b.male += 1,
                }
            }
            if child && matches!(p.custody.as_deref(), Some("relative-guardian" | "mother")) {
                f.children_with_guardian += 1;
            }
            f.documents_issued += u32::from(!p.documents.is_empty());
            f.reintegrated += u32::from(p.reintegrated);
        }
    }

    /// Builds the report from foreign ministries' cases, each read by that
    /// ministry from its own bucket: no identity can read another's.
    /// Each ministry comes with the JetStream of its own account.
    pub async fn compute(ministries: &[(MemberId, jetstream::Context)]) -> anyhow::Result<Self> {
        let mut groups: BTreeMap<(String, String, u32), Figures> = BTreeMap::new();
        for (member, js) in ministries {
            let kv = js.get_key_value(subjects::case_bucket(member)).await?;
            let country = member.party().to_ascii_uppercase();
            for key in streams::bucket_keys(&kv).await? {
                let Some(bytes) = kv.get(&key).await? else {
                    continue;
                };
                let case: Case = serde_json::from_slice(&bytes)?;
                // A case this ministry holds only as the carrying state of
                // another state's citizens is counted by their state.
                if case.nationality.as_deref() != Some(country.as_str()) {
                    continue;
                }
                let (operation, round) = case
                    .operation
                    .as_ref()
                    .map_or(("(none)".to_owned(), 0), |o| {
                        (o.operation_id.clone(), o.round)
                    });
                Self::count(
                    groups
                        .entry((country.clone(), operation, round))
                        .or_default(),
                    &case,
                );
            }
        }
        Ok(Self {
            rows: groups
                .into_iter()
                .map(|((country, operation, round), figures)| Row {
                    country,
                    operation,
                    round,
                    figures,
                })
                .collect(),
        })
    }

    /// The report of every foreign ministry of a local deployment, each
    /// connected as itself.
    pub async fn compute_local(local: &Local) -> anyhow::Result<Self> {
        let mut ministries = Vec::new();
        for member in local.policy.members_with_role(PolicyRole::Mfa) {
            let client = local.member(member.id.as_str()).await?;
            ministries.push((member.id.clone(), client.jetstream().clone()));
        }
        Self::compute(&ministries).await
    }

    /// The total of the rows that match.
    pub fn total(&self, keep: impl Fn(&Row) -> bool) -> Figures {
        let mut f = Figures::default();
        for r in self.rows.iter().filter(|r| keep(r)) {
            f.add(&r.figures);
        }
        f
    }

    /// The report as a table for people.
    pub fn render(&self) -> String {
        let mut out = String::new();
        out.push_str(&format!(
            "{:<3} {:<18} {:>2} {:>5} {:>5} {:>5} {:>5} {:>5} {:>5} {:>11} {:>5} {:>13} {:>13} {:>9} {:>6} {:>6} {:>6} {:>5}\n",
            "", "operation", "rd", "found", "verif", "reqd", "accep", "refus", "arrvd", "handed a/c", "clear", "detained f/m", "charged f/m", "guardian", "docs", "reint", "discr", "closd"
        ));
        let mut countries: Vec<&str> = self.rows.iter().map(|r| r.country.as_str()).collect();
        countries.dedup();
        for row in &self.rows {
            let f = &row.figures;
            out.push_str(&format!(
                "{:<3} {:<18} {:>2} {:>5} {:>5} {:>5} {:>5} {:>5} {:>5} {:>11} {:>5} {:>13} {:>13} {:>9} {:>6} {:>6} {:>6} {:>5}\n",
                row.country,
                row.operation,
                row.round,
                f.located,
                f.verified,
                f.requested,
                f.accepted,
                f.refused,
                f.arrived,
                format!("{}/{}", f.handed_over_adults, f.handed_over_children),
                f.cleared.female + f.cleared.male,
                format!("{}/{}", f.detained.female, f.detained.male),
                format!("{}/{}", f.charged.female, f.charged.male),
                f.children_with_guardian,
                f.documents_issued,
                f.reintegrated,
                f.open_discrepancies,
                f.cases_closed,
            ));
        }
        out
    }
}
