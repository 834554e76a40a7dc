//! The statutory clock's calendar (DESIGN.md, "Statutory clock"): working
//! days are Monday to Friday less England and Wales bank holidays, which are
//! computed (with the one-off changes announced by proclamation), plus any
//! extra closure days a partnership configures.
//!
//! The deadlines themselves come from Working Together to Safeguard Children
//! and the statutory guidance on children who run away or go missing.

use std::collections::BTreeSet;

use time::{Date, Duration, Month, Weekday};

/// Easter Sunday (Gregorian), by the anonymous Gregorian algorithm.
pub fn easter_sunday(year: i32) -> Option<Date> {
    let a = year % 19;
    let b = year / 100;
    let c = year % 100;
    let d = b / 4;
    let e = b % 4;
    let f = (b + 8) / 25;
    let g = (b - f + 1) / 3;
    let h = (19 * a + b - d - g + 15) % 30;
    let i = c / 4;
    let k = c % 4;
    let l = (32 + 2 * e + 2 * i - h - k) % 7;
    let m = (a + 11 * h + 22 * l) / 451;
    let month = (h + l - 7 * m + 114) / 31;
    let day = (h + l - 7 * m + 114) % 31 + 1;
    Date::from_calendar_date(year, Month::try_from(month as u8).ok()?, day as u8).ok()
}

fn date(year: i32, month: Month, day: u8) -> Option<Date> {
    Date::from_calendar_date(year, month, day).ok()
}

/// The first `weekday` on or after `d`.
fn on_or_after(d: Date, weekday: Weekday) -> Date {
    let mut d = d;
    while d.weekday() != weekday {
        d = d.next_day().unwrap_or(d);
    }
    d
}

/// The last `weekday` on or before `d`.
fn on_or_before(d: Date, weekday: Weekday) -> Date {
    let mut d = d;
    while d.weekday() != weekday {
        d = d.previous_day().unwrap_or(d);
    }
    d
}

fn is_weekend(d: Date) -> bool {
    matches!(d.weekday(), Weekday::Saturday | Weekday::Sunday)
}

/// England and Wales bank holidays in a year, in date order.
pub fn bank_holidays(year: i32) -> Vec<Date> {
    let mut days = BTreeSet::new();
    let mut add = |d: Option<Date>| {
        if let Some(d) = d {
            days.insert(d);
        }
    };
    // New Year's Day, or the Monday after when it falls at a weekend.
    add(date(year, Month::January, 1).map(|d| {
        if is_weekend(d) {
            on_or_after(d, Weekday::Monday)
        } else {
            d
        }
    }));
    // Good Friday and Easter Monday.
    if let Some(easter) = easter_sunday(year) {
        add(Some(easter - Duration::days(2)));
        add(Some(easter + Duration::days(1)));
    }
    // Early May: the first Monday, moved for VE Day anniversaries.
    add(match year {
        1995 => date(1995, Month::May, 8),
        2020 => date(2020, Month::May, 8),
        _ => date(year, Month::May, 1).map(|d| on_or_after(d, Weekday::Monday)),
    });
    // Spring: the last Monday of May, moved for jubilees.
    match year {
        2002 => {
            add(date(2002, Month::June, 3));
            add(date(2002, Month::June, 4));
        }
        2012 => {
            add(date(2012, Month::June, 4));
            add(date(2012, Month::June, 5));
        }
        2022 => {
            add(date(2022, Month::June, 2));
            add(date(2022, Month::June, 3));
        }
        _ => add(date(year, Month::May, 31).map(|d| on_or_before(d, Weekday::Monday))),
    }
    // Summer: the last Monday of August.
    add(date(year, Month::August, 31).map(|d| on_or_before(d, Weekday::Monday)));
    // Christmas Day and Boxing Day, with substitute days after a weekend.
    if let (Some(christmas), Some(boxing)) = (
        date(year, Month::December, 25),
        date(year, Month::December, 26),
    ) {
        match christmas.weekday() {
            Weekday::Friday => {
                add(Some(christmas));
                add(Some(christmas + Duration::days(3)));
            }
            Weekday::Saturday => {
                add(Some(christmas + Duration::days(2)));
                add(Some(christmas + Duration::days(3)));
            }
            Weekday::Sunday => {
                add(Some(boxing));
                add(Some(christmas + Duration::days(2)));
            }
            _ => {
                add(Some(christmas));
                add(Some(boxing));
            }
        }
    }
    // One-off bank holidays by proclamation.
    for (y, m, d) in [
        (1999, Month::December, 31),
        (2011, Month::April, 29),
        (2022, Month::September, 19),
        (2023, Month::May, 8),
    ] {
        if y == year {
            add(date(y, m, d));
        }
    }
    days.into_iter().collect()
}

/// Which days are working days: weekdays that are neither bank holidays nor
/// the partnership's own closure days.
#[derive(Clone, Debug, Default)]
pub struct Calendar {
    closures: BTreeSet<Date>,
}

impl Calendar {
    /// A calendar with extra closure days (e.g. a council's Christmas shutdown).
    pub fn with_closures(closures: impl IntoIterator<Item = Date>) -> Self {
        Self {
            closures: closures.into_iter().collect(),
        }
    }

    pub fn is_working_day(&self, d: Date) -> bool {
        !is_weekend(d) && !self.closures.contains(&d) && !bank_holidays(d.year()).contains(&d)
    }

    /// The `n`th working day after `start` (`start` itself not counted);
    /// `n = 0` is the first working day on or after `start`.
    pub fn add_working_days(&self, start: Date, n: u32) -> Date {
        let mut d = start;
        if n == 0 {
            while !self.is_working_day(d) {
                d = d.next_day().unwrap_or(d);
            }
            return d;
        }
        let mut left = n;
        while left > 0 {
            d = d.next_day().unwrap_or(d);
            if self.is_working_day(d) {
                left -= 1;
            }
        }
        d
    }

    /// Working days after `from` up to and including `to` (negative if `to` is earlier).
    pub fn working_days_between(&self, from: Date, to: Date) -> i64 {
        let (a, b, sign) = if from <= to {
            (from, to, 1)
        } else {
            (to, from, -1)
        };
        let mut n = 0;
        let mut d = a;
        while d < b {
            d = d.next_day().unwrap_or(b);
            if self.is_working_day(d) {
                n += 1;
            }
        }
        sign * n
    }
}

/// The same day `months` later, or the month's last day when it is shorter
/// ("within three months" of 31 January is 30 April).
pub fn add_months(d: Date, months: u32) -> Date {
    let total = d.year() * 12 + (d.month() as i32 - 1) + months as i32;
    let (year, month0) = (total.div_euclid(12), total.rem_euclid(12));
    let month = Month::try_from(month0 as u8 + 1).unwrap_or(Month::December);
    let last = time::util::days_in_month(month, year);
    Date::from_calendar_date(year, month, d.day().min(last)).unwrap_or(d)
}

/// The statutory time limits (DESIGN.md's table).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Limit {
    /// Referral accepted → assessment completed: 45 working days.
    Assessment,
    /// Concern of significant harm → strategy discussion: the same or next
    /// working day (`next_day` configurable).
    StrategyDiscussion { next_day: bool },
    /// Strategy discussion deciding a section 47 enquiry → initial child
    /// protection conference: 15 working days.
    InitialConference,
    /// Initial conference → first core group: 10 working days.
    FirstCoreGroup,
    /// Initial conference → first review conference: 3 months.
    FirstReview,
    /// Review conference → next review: 6 months at most.
    NextReview,
}

impl Limit {
    /// The last day on which the next step is in time.
    pub fn due(self, calendar: &Calendar, start: Date) -> Date {
        match self {
            Limit::Assessment => calendar.add_working_days(start, 45),
            Limit::StrategyDiscussion { next_day } => {
                calendar.add_working_days(start, u32::from(next_day))
            }
            Limit::InitialConference => calendar.add_working_days(start, 15),
            Limit::FirstCoreGroup => calendar.add_working_days(start, 10),
            Limit::FirstReview => add_months(start, 3),
            Limit::NextReview => add_months(start, 6),
        }
    }
}

/// Return from a missing episode → return home interview offered: a plain
/// 72 hours, not working days (statutory guidance on children who run away
/// or go missing from home or care).
pub const RETURN_HOME_INTERVIEW_HOURS: i64 = 72;

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use time::macros::date;

    #[test]
    fn bank_holidays_match_the_published_lists() {
        // gov.uk/bank-holidays, England and Wales.
        assert_eq!(
            bank_holidays(2026),
            vec![
                date!(2026 - 01 - 01),
                date!(2026 - 04 - 03),
                date!(2026 - 04 - 06),
                date!(2026 - 05 - 04),
                date!(2026 - 05 - 25),
                date!(2026 - 08 - 31),
                date!(2026 - 12 - 25),
                date!(2026 - 12 - 28),
            ]
        );
        assert_eq!(
            bank_holidays(2025),
            vec![
                date!(2025 - 01 - 01),
                date!(2025 - 04 - 18),
                date!(2025 - 04 - 21),
                date!(2025 - 05 - 05),
                date!(2025 - 05 - 26),
                date!(2025 - 08 - 25),
                date!(2025 - 12 - 25),
                date!(2025 - 12 - 26),
            ]
        );
        assert_eq!(
            bank_holidays(2022),
            vec![
                date!(2022 - 01 - 03),
                date!(2022 - 04 - 15),
                date!(2022 - 04 - 18),
                date!(2022 - 05 - 02),
                date!(2022 - 06 - 02),
                date!(2022 - 06 - 03),
                date!(2022 - 08 - 29),
                date!(2022 - 09 - 19),
                date!(2022 - 12 - 26),
                date!(2022 - 12 - 27),
            ]
        );
        assert_eq!(
            bank_holidays(2027),
            vec![
                date!(2027 - 01 - 01),
                date!(2027 - 03 - 26),
                date!(2027 - 03 - 29),
                date!(2027 - 05 - 03),
                date!(2027 - 05 - 31),
                date!(2027 - 08 - 30),
                date!(2027 - 12 - 27),
                date!(2027 - 12 - 28),
            ]
        );
        // 2024: Easter in March; Christmas and Boxing Day on weekdays.
        assert_eq!(
            bank_holidays(2024),
            vec![
                date!(2024 - 01 - 01),
                date!(2024 - 03 - 29),
                date!(2024 - 04 - 01),
                date!(2024 - 05 - 06),
                date!(2024 - 05 - 27),
                date!(2024 - 08 - 26),
                date!(2024 - 12 - 25),
                date!(2024 - 12 - 26),
            ]
        );
        assert!(bank_holidays(2020).contains(&date!(2020 - 05 - 08)));
        assert!(bank_holidays(2023).contains(&date!(2023 - 05 - 08)));
    }

    #[test]
    fn statutory_limits_count_working_days() {
        let cal = Calendar::default();
        // A concern on Christmas Eve 2026: the next working day is Tuesday 29
        // December (Christmas, the weekend and the Boxing Day substitute).
        assert_eq!(
            Limit::StrategyDiscussion { next_day: true }.due(&cal, date!(2026 - 12 - 24)),
            date!(2026 - 12 - 29)
        );
        assert_eq!(
            Limit::StrategyDiscussion { next_day: false }.due(&cal, date!(2026 - 12 - 24)),
            date!(2026 - 12 - 24)
        );
        // 15 working days from Monday 30 March 2026 skip Good Friday and Easter Monday.
        assert_eq!(
            Limit::InitialConference.due(&cal, date!(2026 - 03 - 30)),
            date!(2026 - 04 - 22)
        );
        assert_eq!(
            Limit::FirstCoreGroup.due(&cal, date!(2026 - 11 - 24)),
            date!(2026 - 12 - 08)
        );
        assert_eq!(
            Limit::FirstReview.due(&cal, date!(2026 - 01 - 31)),
            date!(2026 - 04 - 30)
        );
        assert_eq!(
            Limit::NextReview.due(&cal, date!(2026 - 08 - 31)),
            date!(2027 - 02 - 28)
        );
        // A council's own closure day counts against the clock too.
        let closed = Calendar::with_closures([date!(2026 - 12 - 29)]);
        assert_eq!(
            Limit::StrategyDiscussion { next_day: true }.due(&closed, date!(2026 - 12 - 24)),
            date!(2026 - 12 - 30)
        );
    }

    proptest! {
        #[test]
        fn adding_working_days_lands_on_a_working_day_that_many_days_later(
            offset in 0i64..3650, n in 1u32..60,
        ) {
            let cal = Calendar::default();
            let start = date!(2020 - 01 - 01) + Duration::days(offset);
            let due = cal.add_working_days(start, n);
            prop_assert!(cal.is_working_day(due));
            prop_assert!(due > start);
            prop_assert_eq!(cal.working_days_between(start, due), i64::from(n));
            prop_assert_eq!(cal.working_days_between(due, start), -i64::from(n));
            // Monotonic: one more working day is always later.
            prop_assert!(cal.add_working_days(start, n + 1) > due);
        }

        #[test]
        fn a_later_start_never_gives_an_earlier_deadline(
            offset in 0i64..3650, gap in 0i64..20, n in 0u32..60,
        ) {
            let cal = Calendar::default();
            let a = date!(2024 - 01 - 01) + Duration::days(offset);
            let b = a + Duration::days(gap);
            prop_assert!(cal.add_working_days(b, n) >= cal.add_working_days(a, n));
            // Never a weekend or a bank holiday.
            let due = cal.add_working_days(a, n);
            prop_assert!(!matches!(due.weekday(), Weekday::Saturday | Weekday::Sunday));
            prop_assert!(!bank_holidays(due.year()).contains(&due));
        }
    }
}
