//! Birth dates with their accuracy against a registry's exact date.
//!
//! A camp date is a range (a year, a month or a day) and an accuracy
//! (`exact` from a document, `approximate` as declared, `estimated` from an
//! age). The comparison says how far the registry's day lies from that
//! range; what the distance weighs depends on how the camp knew the date:
//! a year-only estimate one year off is ordinary, a documented exact date
//! one year off weighs against.

use serde::Serialize;

/// A day counted from 1970-01-01 (proleptic Gregorian).
pub fn day_number(year: i32, month: u32, day: u32) -> i32 {
    // Howard Hinnant's days_from_civil.
    let y = if month <= 2 { year - 1 } else { year };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = (y - era * 400) as u32;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe as i32 - 719_468
}

fn days_in_month(year: i32, month: u32) -> u32 {
    match month {
        2 if (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// How a camp knew a date.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Accuracy {
    Exact,
    Approximate,
    Estimated,
}

impl Accuracy {
    pub fn parse(value: &str) -> Option<Self> {
        match value {
            "exact" => Some(Self::Exact),
            "approximate" => Some(Self::Approximate),
            "estimated" => Some(Self::Estimated),
            _ => None,
        }
    }
}

/// A date as a camp records it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CampDate {
    pub year: i32,
    pub month: Option<u32>,
    pub day: Option<u32>,
    pub accuracy: Accuracy,
}

impl CampDate {
    /// `YYYY`, `YYYY-MM` or `YYYY-MM-DD` with its accuracy.
    pub fn parse(value: &str, accuracy: &str) -> Option<Self> {
        let accuracy = Accuracy::parse(accuracy)?;
        let mut parts = value.split('-');
        let year: i32 = parts.next()?.parse().ok()?;
        let month: Option<u32> = parts.next().map(str::parse).transpose().ok()?;
        let day: Option<u32> = parts.next().map(str::parse).transpose().ok()?;
        if parts.next().is_some()
            || month.is_some_and(|m| !(1..=12).contains(&m))
            || day.is_some_and(|d| d < 1 || month.is_none_or(|m| d > days_in_month(year, m)))
        {
            return None;
        }
        Some(Self {
            year,
            month,
            day,
            accuracy,
        })
    }

    /// The first and last day the date allows.
    pub fn range(&self) -> (i32, i32) {
        match (self.month, self.day) {
            (Some(m), Some(d)) => {
                let n = day_number(self.year, m, d);
                (n, n)
            }
            (Some(m), None) => (
                day_number(self.year, m, 1),
                day_number(self.year, m, days_in_month(self.year, m)),
            ),
            _ => (day_number(self.year, 1, 1), day_number(self.year, 12, 31)),
        }
    }

    /// Which of the weight tables applies.
    pub fn kind(&self) -> DateKind {
        match (self.day.is_some(), self.month.is_some(), self.accuracy) {
            (true, _, Accuracy::Exact) => DateKind::ExactDay,
            (true, _, _) => DateKind::ApproximateDay,
            (false, true, _) => DateKind::Month,
            (false, false, Accuracy::Estimated) => DateKind::EstimatedYear,
            (false, false, _) => DateKind::Year,
        }
    }

    /// The birth years the blocking looks in.
    pub fn years(&self) -> std::ops::RangeInclusive<i32> {
        let slack = match self.kind() {
            DateKind::ExactDay | DateKind::Month => 1,
            DateKind::ApproximateDay | DateKind::Year => 1,
            DateKind::EstimatedYear => 2,
        };
        self.year - slack..=self.year + slack
    }
}

/// A camp date by precision and accuracy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum DateKind {
    ExactDay,
    ApproximateDay,
    Month,
    Year,
    EstimatedYear,
}

/// Where the registry's day falls against the camp's date, nearest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum DateLevel {
    /// Inside the camp's range: the same day, month or year.
    Within,
    /// At most 31 days outside it, or day and month swapped.
    Days,
    /// The same calendar year, further than that.
    SameYear,
    /// At most one year outside the range.
    OneYear,
    TwoYears,
    ThreeYears,
    Further,
}

/// Compares a registry day with a camp date.
pub fn compare(camp: &CampDate, registry_day: i32, registry_year: i32) -> DateLevel {
    let (first, last) = camp.range();
    if (first..=last).contains(&registry_day) {
        return DateLevel::Within;
    }
    let distance = if registry_day < first {
        first - registry_day
    } else {
        registry_day - last
    };
    if let (Some(m), Some(d)) = (camp.month, camp.day)
        && d <= 12
        && m != d
        && camp.year == registry_year
        && registry_day == day_number(camp.year, d, m)
    {
        return DateLevel::Days;
    }
    if distance <= 31 {
        DateLevel::Days
    } else if registry_year == camp.year {
        DateLevel::SameYear
    } else if distance <= 366 {
        DateLevel::OneYear
    } else if distance <= 731 {
        DateLevel::TwoYears
    } else if distance <= 1096 {
        DateLevel::ThreeYears
    } else {
        DateLevel::Further
    }
}

/// A registry date `YYYY-MM-DD`: its day number and year.
pub fn parse_registry(value: &str) -> Option<(i32, i32)> {
    let date = CampDate::parse(value, "exact")?;
    let (Some(m), Some(d)) = (date.month, date.day) else {
        return None;
    };
    Some((day_number(date.year, m, d), date.year))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn level(camp: &str, accuracy: &str, registry: &str) -> DateLevel {
        let camp = CampDate::parse(camp, accuracy).unwrap_or_else(|| panic!("{camp}"));
        let (day, year) = parse_registry(registry).unwrap_or_else(|| panic!("{registry}"));
        compare(&camp, day, year)
    }

    #[test]
    fn a_year_or_month_matches_every_day_in_it() {
        assert_eq!(level("2016", "estimated", "2016-12-31"), DateLevel::Within);
        assert_eq!(
            level("2016-04", "approximate", "2016-04-30"),
            DateLevel::Within
        );
        assert_eq!(level("2016", "estimated", "2017-06-01"), DateLevel::OneYear);
    }

    #[test]
    fn exact_dates_are_measured_by_distance() {
        assert_eq!(
            level("2013-08-02", "exact", "2013-08-02"),
            DateLevel::Within
        );
        assert_eq!(level("2013-08-02", "exact", "2013-02-08"), DateLevel::Days);
        assert_eq!(level("2013-08-02", "exact", "2013-08-20"), DateLevel::Days);
        assert_eq!(
            level("2013-08-02", "exact", "2013-12-20"),
            DateLevel::SameYear
        );
        assert_eq!(
            level("2013-08-02", "exact", "2009-01-01"),
            DateLevel::Further
        );
    }

    #[test]
    fn impossible_dates_are_refused() {
        assert!(CampDate::parse("2015-02-29", "exact").is_none());
        assert!(CampDate::parse("2016-02-29", "exact").is_some());
        assert!(CampDate::parse("2016-13", "exact").is_none());
        assert!(CampDate::parse("2016", "guessed").is_none());
    }
}
