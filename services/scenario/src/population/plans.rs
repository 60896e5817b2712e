//! The operations and what each of their rounds carries, taken from public
//! reporting: the figures every seed reproduces exactly.

/// Kazakhstan's operation Zhusan, three rounds.
pub const ZHUSAN: &str = "KZ-ZHUSAN-2019";
/// Uzbekistan's operation Mehr-1, one round.
pub const MEHR: &str = "UZ-MEHR-2019";
/// Tajikistan's flight, which carried one Kazakh family home in transit.
pub const TAJIK_FLIGHT: &str = "TJ-2019";

/// What one round carries, from public reporting. Women are the wives of
/// the fathers, two per grandmother unit (she and her adult daughter) and
/// the mothers heading their own units.
#[derive(Debug)]
pub(super) struct RoundPlan {
    pub(super) operation_id: &'static str,
    pub(super) round: u8,
    pub(super) nationality: &'static str,
    pub(super) carrier: Option<&'static str>,
    /// Men heading a unit with their wife and children.
    pub(super) fathers: usize,
    /// Men of 18 to 20 living in their mother's unit.
    pub(super) adult_sons: usize,
    /// Units of a grandmother, her adult daughter and the daughter's
    /// children.
    pub(super) grandmothers: usize,
    /// Women heading a unit with their children.
    pub(super) mothers: usize,
    pub(super) children: usize,
    pub(super) orphans: usize,
    pub(super) under_six: usize,
    pub(super) orphans_under_six: usize,
    pub(super) detained_men: usize,
    pub(super) detained_women: usize,
}

#[cfg(test)]
impl RoundPlan {
    fn men(&self) -> usize {
        self.fathers + self.adult_sons
    }

    fn women(&self) -> usize {
        self.fathers + 2 * self.grandmothers + self.mothers
    }

    fn people(&self) -> usize {
        self.men() + self.women() + self.children
    }
}

/// Every round of every operation, in the order they are generated.
pub(super) const PLANS: [RoundPlan; 5] = [
    // Zhusan 1, January: 47 people, 30 children.
    RoundPlan {
        operation_id: ZHUSAN,
        round: 1,
        nationality: "KZ",
        carrier: None,
        fathers: 5,
        adult_sons: 2,
        grandmothers: 0,
        mothers: 5,
        children: 30,
        orphans: 0,
        under_six: 21,
        orphans_under_six: 0,
        detained_men: 6,
        detained_women: 1,
    },
    // Zhusan 2, early May: 231 people, 156 children, 18 of them orphans.
    RoundPlan {
        operation_id: ZHUSAN,
        round: 2,
        nationality: "KZ",
        carrier: None,
        fathers: 12,
        adult_sons: 5,
        grandmothers: 2,
        mothers: 42,
        children: 156,
        orphans: 18,
        under_six: 109,
        orphans_under_six: 9,
        detained_men: 16,
        detained_women: 2,
    },
    // Zhusan 3, end of May: 238 women and children, 171 children.
    RoundPlan {
        operation_id: ZHUSAN,
        round: 3,
        nationality: "KZ",
        carrier: None,
        fathers: 0,
        adult_sons: 0,
        grandmothers: 4,
        mothers: 59,
        children: 171,
        orphans: 0,
        under_six: 120,
        orphans_under_six: 0,
        detained_men: 0,
        detained_women: 2,
    },
    // Mehr-1, May: 156 people, 106 children, 48 women, 2 men.
    RoundPlan {
        operation_id: MEHR,
        round: 1,
        nationality: "UZ",
        carrier: None,
        fathers: 1,
        adult_sons: 1,
        grandmothers: 1,
        mothers: 45,
        children: 106,
        orphans: 0,
        under_six: 74,
        orphans_under_six: 0,
        detained_men: 0,
        detained_women: 0,
    },
    // A Kazakh mother and her four children on Tajikistan's flight.
    RoundPlan {
        operation_id: TAJIK_FLIGHT,
        round: 1,
        nationality: "KZ",
        carrier: Some("TJ"),
        fathers: 0,
        adult_sons: 0,
        grandmothers: 0,
        mothers: 1,
        children: 4,
        orphans: 0,
        under_six: 3,
        orphans_under_six: 0,
        detained_men: 0,
        detained_women: 0,
    },
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plans_add_up_to_the_reported_figures() {
        let people: Vec<usize> = PLANS.iter().map(RoundPlan::people).collect();
        assert_eq!(people, [47, 231, 238, 156, 5]);
        let zhusan: Vec<&RoundPlan> = PLANS.iter().filter(|p| p.operation_id == ZHUSAN).collect();
        assert_eq!(zhusan.iter().map(|p| p.people()).sum::<usize>(), 516);
        assert_eq!(zhusan.iter().map(|p| p.children).sum::<usize>(), 357);
        assert_eq!(
            zhusan
                .iter()
                .map(|p| p.detained_men + p.detained_women)
                .sum::<usize>(),
            27
        );
        assert_eq!(zhusan[2].men(), 0);
        assert_eq!((PLANS[3].women(), PLANS[3].men()), (48, 2));
        for plan in &PLANS {
            assert!(
                plan.children - plan.orphans >= plan.fathers + plan.grandmothers + plan.mothers
            );
            assert!(plan.adult_sons <= plan.mothers);
            assert!(plan.detained_men <= plan.men() && plan.detained_women <= plan.women());
        }
    }
}
