//! A state's report: where its families stand, per operation and round and
//! per operation in all, counted from the cases its foreign ministry keeps
//! — the ministry records every step its partners report — never from a
//! scenario's own numbers.
//!
//! The service offers it over its own cases only, as `GET /views/report`
//! (`homeward report --api URL` prints it). Nobody reads another state's
//! cases to make it: a report of several states is their reports
//! [merged](Report::merge).

use std::collections::BTreeMap;

use homeward_ministry::api_client::ApiClient;
use homeward_ministry::{Case, Custody, Decision, ScreeningOutcome, VerificationOutcome};
use serde::{Deserialize, Serialize};

/// Screening outcomes, by sex.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BySex {
    pub female: u32,
    pub male: u32,
}

/// The figures of a group of families: one operation round, or a whole
/// operation.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
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

    /// Adds up one case.
    fn count(&mut self, case: &Case) {
        self.families += 1;
        if case.closed {
            self.cases_closed += 1;
        }
        self.open_discrepancies += case.discrepancies.len() as u32;
        for p in case.persons.values() {
            let child = p.child == Some(true);
            self.located += 1;
            self.located_children += u32::from(child);
            self.verified += u32::from(p.verification == Some(VerificationOutcome::Confirmed));
            self.requested += u32::from(p.requested);
            self.accepted += u32::from(p.decision == Some(Decision::Accepted));
            self.refused += u32::from(p.decision == Some(Decision::Refused));
            if p.handed_over {
                if child {
                    self.handed_over_children += 1;
                } else {
                    self.handed_over_adults += 1;
                }
            }
            self.arrived += u32::from(p.arrived);
            let by_sex = match p.screening {
                Some(ScreeningOutcome::Cleared) => Some(&mut self.cleared),
                Some(ScreeningOutcome::UnderInvestigation) => Some(&mut self.under_investigation),
                Some(ScreeningOutcome::Detained) => Some(&mut self.detained),
                Some(ScreeningOutcome::Charged) => Some(&mut self.charged),
                None => None,
            };
            if let Some(b) = by_sex {
                match p.sex.as_deref() {
                    Some("female") => b.female += 1,
                    _ => b.male += 1,
                }
            }
            if child && matches!(p.custody, Some(Custody::RelativeGuardian | Custody::Mother)) {
                self.children_with_guardian += 1;
            }
            self.documents_issued += u32::from(!p.documents.is_empty());
            self.reintegrated += u32::from(p.reintegrated);
        }
    }
}

/// One row: a country's operation round.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Row {
    pub country: String,
    pub operation: String,
    pub round: u32,
    #[serde(flatten)]
    pub figures: Figures,
}

/// A country's operation, all its rounds together.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OperationTotal {
    pub country: String,
    pub operation: String,
    pub rounds: u32,
    #[serde(flatten)]
    pub figures: Figures,
}

/// The whole report: a row per operation round, and the total of each
/// operation.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Report {
    pub rows: Vec<Row>,
    pub operations: Vec<OperationTotal>,
}

/// The operation of a case that has none yet.
const NO_OPERATION: &str = "(none)";

impl Report {
    /// The report of `country`'s foreign ministry over the cases it holds.
    /// A case it holds only as the carrying state of another state's
    /// citizens is counted by their state, not here.
    pub fn of(country: &str, cases: &[Case]) -> Self {
        let mut groups: BTreeMap<(String, String, u32), Figures> = BTreeMap::new();
        for case in cases
            .iter()
            .filter(|c| c.nationality.as_deref() == Some(country))
        {
            let (operation, round) = case
                .operation
                .as_ref()
                .map_or((NO_OPERATION.to_owned(), 0), |o| {
                    (o.operation_id.clone(), o.round)
                });
            groups
                .entry((country.to_owned(), operation, round))
                .or_default()
                .count(case);
        }
        Self::from_groups(groups)
    }

    /// The report `member`'s service offers (`GET /views/report`).
    pub async fn fetch(api: &ApiClient, member: &str) -> anyhow::Result<Self> {
        Ok(serde_json::from_value(api.view(member, "report").await?)?)
    }

    /// Several states' reports as one.
    pub fn merge(reports: impl IntoIterator<Item = Report>) -> Self {
        let mut groups: BTreeMap<(String, String, u32), Figures> = BTreeMap::new();
        for row in reports.into_iter().flat_map(|r| r.rows) {
            groups
                .entry((row.country, row.operation, row.round))
                .or_default()
                .add(&row.figures);
        }
        Self::from_groups(groups)
    }

    /// The rows in order, and each operation's total.
    fn from_groups(groups: BTreeMap<(String, String, u32), Figures>) -> Self {
        let mut operations: Vec<OperationTotal> = Vec::new();
        let mut rows = Vec::with_capacity(groups.len());
        for ((country, operation, round), figures) in groups {
            match operations.last_mut() {
                Some(o) if o.country == country && o.operation == operation => {
                    o.rounds += 1;
                    o.figures.add(&figures);
                }
                _ => operations.push(OperationTotal {
                    country: country.clone(),
                    operation: operation.clone(),
                    rounds: 1,
                    figures: figures.clone(),
                }),
            }
            rows.push(Row {
                country,
                operation,
                round,
                figures,
            });
        }
        Self { rows, operations }
    }

    /// The total of the rows that match.
    pub fn total(&self, keep: impl Fn(&Row) -> bool) -> Figures {
        let mut f = Figures::default();
        for r in self.rows.iter().filter(|r| keep(r)) {
            f.add(&r.figures);
        }
        f
    }

    /// The total of one of `country`'s operations, all rounds.
    pub fn operation(&self, country: &str, operation: &str) -> Option<&OperationTotal> {
        self.operations
            .iter()
            .find(|o| o.country == country && o.operation == operation)
    }

    /// The report as a table for people: each operation's rounds, then the
    /// operation in all.
    pub fn render(&self) -> String {
        let line = |country: &str, operation: &str, round: &str, f: &Figures| {
            format!(
                "{:<3} {:<18} {:>3} {:>5} {:>5} {:>5} {:>5} {:>5} {:>5} {:>5} {:>11} {:>5} {:>13} {:>13} {:>9} {:>6} {:>6} {:>6} {:>5}\n",
                country,
                operation,
                round,
                f.located,
                f.located_children,
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
            )
        };
        let mut out = format!(
            "{:<3} {:<18} {:>3} {:>5} {:>5} {:>5} {:>5} {:>5} {:>5} {:>5} {:>11} {:>5} {:>13} {:>13} {:>9} {:>6} {:>6} {:>6} {:>5}\n",
            "",
            "operation",
            "rd",
            "found",
            "child",
            "verif",
            "reqd",
            "accep",
            "refus",
            "arrvd",
            "handed a/c",
            "clear",
            "detained f/m",
            "charged f/m",
            "guardian",
            "docs",
            "reint",
            "discr",
            "closd"
        );
        for o in &self.operations {
            for row in self
                .rows
                .iter()
                .filter(|r| r.country == o.country && r.operation == o.operation)
            {
                out.push_str(&line(
                    &row.country,
                    &row.operation,
                    &row.round.to_string(),
                    &row.figures,
                ));
            }
            out.push_str(&line(&o.country, &o.operation, "all", &o.figures));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use homeward_ministry::case::Operation;
    use homeward_ministry::test_support::{DAUGHTER, MOTHER, SON, located_case};
    use homeward_ministry::{Case, Decision, ScreeningOutcome, Stage};

    use super::*;

    fn case(case_ref: &str, nationality: &str, operation: &str, round: u32) -> Case {
        let mut c = located_case(Stage::Closed);
        c.case_ref = case_ref.to_owned();
        c.nationality = Some(nationality.to_owned());
        c.operation = Some(Operation {
            operation_id: operation.to_owned(),
            round,
        });
        c.closed = true;
        for r in [MOTHER, SON, DAUGHTER] {
            let p = c.person(r);
            p.decision = Some(Decision::Accepted);
            p.screening = Some(ScreeningOutcome::Cleared);
        }
        c
    }

    #[test]
    fn rounds_add_up_to_their_operation_and_other_states_cases_are_left_out() {
        let cases = [
            case("HOL-P5-000001", "KZ", "KZ-ZHUSAN-2019", 1),
            case("HOL-P5-000002", "KZ", "KZ-ZHUSAN-2019", 2),
            case("HOL-P5-000003", "KZ", "KZ-ZHUSAN-2019", 2),
            // Carried on Kazakhstan's flight, counted by Uzbekistan.
            case("HOL-P5-000004", "UZ", "KZ-ZHUSAN-2019", 2),
        ];
        let report = Report::of("KZ", &cases);
        assert_eq!(report.rows.len(), 2);
        assert_eq!(
            (report.rows[1].round, report.rows[1].figures.families),
            (2, 2)
        );
        let zhusan = report
            .operation("KZ", "KZ-ZHUSAN-2019")
            .expect("the operation");
        assert_eq!(zhusan.rounds, 2);
        assert_eq!(
            (
                zhusan.figures.families,
                zhusan.figures.located,
                zhusan.figures.located_children,
                zhusan.figures.accepted,
                zhusan.figures.cleared.female,
                zhusan.figures.cleared.male,
            ),
            (3, 9, 6, 9, 6, 3)
        );
        assert_eq!(zhusan.figures, report.total(|_| true));

        let merged = Report::merge([report.clone(), Report::of("UZ", &cases)]);
        assert_eq!(merged.operations.len(), 2);
        assert_eq!(merged.operations[0], *zhusan);
        assert_eq!(merged.operations[1].figures.families, 1);

        let text = report.render();
        assert!(
            text.lines()
                .any(|l| l.starts_with("KZ  KZ-ZHUSAN-2019     all     9     6")),
            "{text}"
        );
    }
}
