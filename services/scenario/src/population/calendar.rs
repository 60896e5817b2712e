//! Days as numbers, for drawing birth dates and computing ages.

use std::fmt;

/// A calendar day, counted from 1970-01-01 (proleptic Gregorian).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Day(i32);

impl Day {
    /// The day `year-month-day` (which must exist).
    pub const fn from_ymd(year: i32, month: u32, day: u32) -> Self {
        // Howard Hinnant's days_from_civil.
        let y = if month <= 2 { year - 1 } else { year };
        let era = if y >= 0 { y } else { y - 399 } / 400;
        let yoe = (y - era * 400) as u32;
        let mp = (month + 9) % 12;
        let doy = (153 * mp + 2) / 5 + day - 1;
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
        Self(era * 146_097 + doe as i32 - 719_468)
    }

    pub fn ymd(self) -> (i32, u32, u32) {
        // Howard Hinnant's civil_from_days.
        let z = self.0 + 719_468;
        let era = if z >= 0 { z } else { z - 146_096 } / 146_097;
        let doe = (z - era * 146_097) as u32;
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
        let y = yoe as i32 + era * 400;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let d = doy - (153 * mp + 2) / 5 + 1;
        let m = if mp < 10 { mp + 3 } else { mp - 9 };
        (if m <= 2 { y + 1 } else { y }, m, d)
    }

    pub const fn number(self) -> i32 {
        self.0
    }

    pub const fn from_number(number: i32) -> Self {
        Self(number)
    }

    /// The same day `years` years earlier (28 February for 29 February).
    pub fn years_before(self, years: i32) -> Self {
        let (y, m, d) = self.ymd();
        let d = if m == 2 && d == 29 { 28 } else { d };
        Self::from_ymd(y - years, m, d)
    }

    /// Full years of age on `on` of someone born on this day.
    pub fn age_on(self, on: Day) -> i32 {
        let (by, bm, bd) = self.ymd();
        let (y, m, d) = on.ymd();
        y - by - i32::from((m, d) < (bm, bd))
    }
}

impl fmt::Display for Day {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (y, m, d) = self.ymd();
        write!(f, "{y:04}-{m:02}-{d:02}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn days_round_trip() {
        assert_eq!(Day::from_ymd(1970, 1, 1).number(), 0);
        assert_eq!(Day::from_ymd(2019, 5, 1).to_string(), "2019-05-01");
        for n in -30_000..30_000 {
            let day = Day::from_number(n);
            let (y, m, d) = day.ymd();
            assert_eq!(Day::from_ymd(y, m, d), day);
        }
    }

    #[test]
    fn ages_turn_on_the_birthday() {
        let on = Day::from_ymd(2019, 5, 1);
        assert_eq!(Day::from_ymd(2001, 5, 1).age_on(on), 18);
        assert_eq!(Day::from_ymd(2001, 5, 2).age_on(on), 17);
        assert_eq!(Day::from_ymd(2013, 5, 2).age_on(on), 5);
        assert_eq!(
            Day::from_ymd(2016, 2, 29).years_before(1).to_string(),
            "2015-02-28"
        );
    }
}
