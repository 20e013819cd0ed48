//! Service-level targets and the clock that measures them: how long a ticket may wait for its
//! first staff response and for its resolution, counted in wall-clock time or in business
//! hours, and whether a ticket is on time, at risk (80 % of a target used) or breached.

use chrono::{DateTime, Datelike, Duration, NaiveTime, TimeZone, Utc, Weekday};

use crate::error::Error;
use crate::tickets::Priority;

/// The share of a target after which a ticket is at risk, in per cent.
pub const AT_RISK_PERCENT: i64 = 80;

/// The time allowed at one priority, in minutes of the SLA clock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SlaTarget {
    first_response_minutes: u32,
    resolution_minutes: u32,
}

impl SlaTarget {
    /// Most minutes a target may have (a year).
    pub const MAX_MINUTES: u32 = 366 * 24 * 60;

    /// Validates a target: both at least a minute and at most a year, and the resolution no
    /// sooner than the first response.
    pub fn new(first_response_minutes: u32, resolution_minutes: u32) -> Result<Self, Error> {
        for (field, minutes) in
            [("first_response_minutes", first_response_minutes), ("resolution_minutes", resolution_minutes)]
        {
            if !(1..=Self::MAX_MINUTES).contains(&minutes) {
                return Err(Error::invalid(field, "out_of_range", "a target is between 1 minute and 366 days"));
            }
        }
        if resolution_minutes < first_response_minutes {
            return Err(Error::invalid(
                "resolution_minutes",
                "before_first_response",
                "the resolution target cannot be shorter than the first-response target",
            ));
        }
        Ok(Self { first_response_minutes, resolution_minutes })
    }

    /// Minutes until the first staff response is due.
    pub fn first_response_minutes(self) -> u32 {
        self.first_response_minutes
    }

    /// Minutes until the resolution is due.
    pub fn resolution_minutes(self) -> u32 {
        self.resolution_minutes
    }
}

/// One target per priority.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SlaTargets {
    /// `low`.
    pub low: SlaTarget,
    /// `medium`.
    pub medium: SlaTarget,
    /// `high`.
    pub high: SlaTarget,
    /// `urgent`.
    pub urgent: SlaTarget,
}

impl Default for SlaTargets {
    /// Urgent 1 h / 8 h, high 4 h / 2 days, medium 1 day / 5 days, low 3 days / 10 days.
    fn default() -> Self {
        const H: u32 = 60;
        const D: u32 = 24 * H;
        let target = |first, resolution| SlaTarget { first_response_minutes: first, resolution_minutes: resolution };
        Self {
            urgent: target(H, 8 * H),
            high: target(4 * H, 2 * D),
            medium: target(D, 5 * D),
            low: target(3 * D, 10 * D),
        }
    }
}

impl SlaTargets {
    /// The target of a priority.
    pub fn for_priority(&self, priority: Priority) -> SlaTarget {
        match priority {
            Priority::Low => self.low,
            Priority::Medium => self.medium,
            Priority::High => self.high,
            Priority::Urgent => self.urgent,
        }
    }
}

/// When support works: the same hours on the chosen weekdays, in a fixed offset from UTC.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BusinessHours {
    days: Vec<Weekday>,
    start: NaiveTime,
    end: NaiveTime,
    utc_offset_minutes: i32,
}

impl BusinessHours {
    /// Validates business hours: at least one day, `start` before `end`, an offset within ±14 h.
    pub fn new(days: Vec<Weekday>, start: NaiveTime, end: NaiveTime, utc_offset_minutes: i32) -> Result<Self, Error> {
        if days.is_empty() {
            return Err(Error::invalid("days", "required", "business hours need at least one day"));
        }
        if start >= end {
            return Err(Error::invalid("end", "before_start", "business hours end after they start"));
        }
        if utc_offset_minutes.abs() > 14 * 60 {
            return Err(Error::invalid("utc_offset_minutes", "out_of_range", "a UTC offset is within ±14 hours"));
        }
        let mut days = days;
        days.sort_by_key(Weekday::num_days_from_monday);
        days.dedup();
        Ok(Self { days, start, end, utc_offset_minutes })
    }

    /// Monday to Friday, 09:00–17:00 at the offset.
    pub fn weekdays_nine_to_five(utc_offset_minutes: i32) -> Self {
        let days = vec![Weekday::Mon, Weekday::Tue, Weekday::Wed, Weekday::Thu, Weekday::Fri];
        let (start, end) = (NaiveTime::from_hms_opt(9, 0, 0), NaiveTime::from_hms_opt(17, 0, 0));
        Self::new(days, start.unwrap_or_default(), end.unwrap_or_default(), utc_offset_minutes)
            .unwrap_or_else(|_| unreachable!("fixed hours are valid"))
    }

    /// The working days.
    pub fn days(&self) -> &[Weekday] {
        &self.days
    }

    /// Opening time (local).
    pub fn start(&self) -> NaiveTime {
        self.start
    }

    /// Closing time (local).
    pub fn end(&self) -> NaiveTime {
        self.end
    }

    /// Offset of local time from UTC, in minutes.
    pub fn utc_offset_minutes(&self) -> i32 {
        self.utc_offset_minutes
    }

    fn offset(&self) -> chrono::FixedOffset {
        chrono::FixedOffset::east_opt(self.utc_offset_minutes * 60).unwrap_or_else(|| unreachable!("checked in new"))
    }

    /// The open window of the local day of `at`, in UTC, if that day is a working day.
    fn window_of_day(&self, day: chrono::NaiveDate) -> Option<(DateTime<Utc>, DateTime<Utc>)> {
        if !self.days.contains(&day.weekday()) {
            return None;
        }
        let offset = self.offset();
        let open = offset.from_local_datetime(&day.and_time(self.start)).single()?.with_timezone(&Utc);
        let close = offset.from_local_datetime(&day.and_time(self.end)).single()?.with_timezone(&Utc);
        Some((open, close))
    }
}

/// How SLA time is counted.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum SlaClock {
    /// Every minute counts.
    #[default]
    WallClock,
    /// Only minutes within business hours count.
    Business(BusinessHours),
}

/// The longest span the business clock walks day by day (targets are at most a year, and a
/// week has at least one working day).
const MAX_DAYS_WALKED: i64 = 8 * 366;

impl SlaClock {
    /// The SLA time between `from` and `to` (zero if `to` is not after `from`).
    pub fn elapsed(&self, from: DateTime<Utc>, to: DateTime<Utc>) -> Duration {
        if to <= from {
            return Duration::zero();
        }
        match self {
            SlaClock::WallClock => to - from,
            SlaClock::Business(hours) => {
                let offset = hours.offset();
                let mut day = from.with_timezone(&offset).date_naive();
                let last = to.with_timezone(&offset).date_naive();
                let mut total = Duration::zero();
                let mut walked = 0;
                while day <= last && walked <= MAX_DAYS_WALKED {
                    if let Some((open, close)) = hours.window_of_day(day) {
                        let (a, b) = (open.max(from), close.min(to));
                        if b > a {
                            total += b - a;
                        }
                    }
                    day = day.succ_opt().unwrap_or(day);
                    walked += 1;
                }
                total
            }
        }
    }

    /// The instant at which `minutes` of SLA time have passed since `from`.
    pub fn due(&self, from: DateTime<Utc>, minutes: u32) -> DateTime<Utc> {
        let mut left = Duration::minutes(i64::from(minutes));
        match self {
            SlaClock::WallClock => from + left,
            SlaClock::Business(hours) => {
                let offset = hours.offset();
                let mut day = from.with_timezone(&offset).date_naive();
                for _ in 0..MAX_DAYS_WALKED {
                    if let Some((open, close)) = hours.window_of_day(day) {
                        let start = open.max(from);
                        if close > start {
                            let available = close - start;
                            if left <= available {
                                return start + left;
                            }
                            left -= available;
                        }
                    }
                    day = day.succ_opt().unwrap_or(day);
                }
                from + Duration::days(MAX_DAYS_WALKED)
            }
        }
    }
}

/// Where a ticket stands against its targets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SlaState {
    /// Within 80 % of every running target.
    #[default]
    Ok,
    /// 80 % or more of a target used.
    AtRisk,
    /// A target passed.
    Breached,
}

impl SlaState {
    /// The stable name used in the API and the store.
    pub fn as_str(self) -> &'static str {
        match self {
            SlaState::Ok => "ok",
            SlaState::AtRisk => "at_risk",
            SlaState::Breached => "breached",
        }
    }

    /// Parses a stable name.
    pub fn parse(s: &str) -> Option<Self> {
        [SlaState::Ok, SlaState::AtRisk, SlaState::Breached].into_iter().find(|x| x.as_str() == s)
    }

    /// The event to record when a ticket goes from `self` to `now`: only getting worse is an
    /// event (a ticket at risk that is then answered does not "recover" into the history).
    pub fn worsened_to(self, now: SlaState) -> Option<SlaState> {
        (now > self).then_some(now)
    }
}

/// The state of one timer: `used` of `target` minutes, or stopped.
fn timer_state(used: Duration, target_minutes: u32) -> SlaState {
    let used = used.num_seconds();
    let target = i64::from(target_minutes) * 60;
    if used >= target {
        SlaState::Breached
    } else if used * 100 >= target * AT_RISK_PERCENT {
        SlaState::AtRisk
    } else {
        SlaState::Ok
    }
}

/// What the SLA says of one ticket at one moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SlaStatus {
    /// The worse of the two timers.
    pub state: SlaState,
    /// When the first staff response is (or was) due.
    pub first_response_due: DateTime<Utc>,
    /// When the resolution is (or was) due.
    pub resolution_due: DateTime<Utc>,
}

/// The facts about a ticket that its SLA depends on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SlaFacts {
    /// Its priority now (the targets of the current priority apply from the start).
    pub priority: Priority,
    /// When it was raised.
    pub created_at: DateTime<Utc>,
    /// When staff first replied in public, if they have.
    pub first_response_at: Option<DateTime<Utc>>,
    /// When it was resolved, if it is.
    pub resolved_at: Option<DateTime<Utc>>,
}

/// Evaluates a ticket's SLA at `now`: each timer runs from the ticket's creation until its
/// event (the first public staff reply; the resolution) or `now`; a stopped timer keeps the
/// state it stopped in, so a late answer stays breached.
pub fn evaluate(targets: &SlaTargets, clock: &SlaClock, facts: SlaFacts, now: DateTime<Utc>) -> SlaStatus {
    let target = targets.for_priority(facts.priority);
    let until = |event: Option<DateTime<Utc>>| event.map_or(now, |at| at.min(now));
    let first = timer_state(
        clock.elapsed(facts.created_at, until(facts.first_response_at.or(facts.resolved_at))),
        target.first_response_minutes,
    );
    let resolution = timer_state(clock.elapsed(facts.created_at, until(facts.resolved_at)), target.resolution_minutes);
    SlaStatus {
        state: first.max(resolution),
        first_response_due: clock.due(facts.created_at, target.first_response_minutes),
        resolution_due: clock.due(facts.created_at, target.resolution_minutes),
    }
}

/// When a ticket's targets fall due: set when it is raised, when its priority changes and
/// when admins change the targets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SlaDue {
    /// When the first staff response is due.
    pub first_response: DateTime<Utc>,
    /// When the resolution is due.
    pub resolution: DateTime<Utc>,
}

/// A ticket's SLA as stored: its state as of the last SLA check, its due times, and when
/// staff first answered in public.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TicketSla {
    /// The state the last check found (the SLA job runs every `OSTS_SLA_INTERVAL_SECS`).
    pub state: SlaState,
    /// When its targets fall due (`None` for a ticket raised before SLAs existed, until the
    /// SLA job has set them).
    pub due: Option<SlaDue>,
    /// When staff first replied in public, if they have.
    pub first_response_at: Option<DateTime<Utc>>,
}

/// What admins set: a target per priority, and business hours (`None`: wall-clock time).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SlaSettings {
    /// The targets.
    pub targets: SlaTargets,
    /// When support works; `None` counts every minute.
    pub business_hours: Option<BusinessHours>,
}

impl SlaSettings {
    /// The clock these settings count with.
    pub fn clock(&self) -> SlaClock {
        match &self.business_hours {
            Some(hours) => SlaClock::Business(hours.clone()),
            None => SlaClock::WallClock,
        }
    }

    /// The due times of a ticket of `priority` raised at `created_at`.
    pub fn due(&self, priority: Priority, created_at: DateTime<Utc>) -> SlaDue {
        let clock = self.clock();
        let target = self.targets.for_priority(priority);
        SlaDue {
            first_response: clock.due(created_at, target.first_response_minutes),
            resolution: clock.due(created_at, target.resolution_minutes),
        }
    }

    /// A ticket's SLA at `now` under these settings.
    pub fn evaluate(&self, facts: SlaFacts, now: DateTime<Utc>) -> SlaStatus {
        evaluate(&self.targets, &self.clock(), facts, now)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(day: u32, h: u32, m: u32) -> DateTime<Utc> {
        // December 2026: the 1st is a Tuesday.
        Utc.with_ymd_and_hms(2026, 12, day, h, m, 0).single().unwrap()
    }

    fn facts(priority: Priority, created_at: DateTime<Utc>) -> SlaFacts {
        SlaFacts { priority, created_at, first_response_at: None, resolved_at: None }
    }

    #[test]
    fn targets_are_validated() {
        assert!(SlaTarget::new(60, 480).is_ok());
        assert!(SlaTarget::new(0, 480).is_err());
        assert!(SlaTarget::new(60, SlaTarget::MAX_MINUTES + 1).is_err());
        assert!(SlaTarget::new(120, 60).is_err());
        assert_eq!(SlaTargets::default().for_priority(Priority::Urgent), SlaTarget::new(60, 480).unwrap());
    }

    #[test]
    fn wall_clock_states_over_time() {
        let targets = SlaTargets::default();
        let clock = SlaClock::WallClock;
        // Urgent: first response 60 min, resolution 480 min.
        let created = t(1, 10, 0);
        let table = [
            (t(1, 10, 47), SlaState::Ok),
            (t(1, 10, 48), SlaState::AtRisk), // 80 % of 60 minutes
            (t(1, 11, 0), SlaState::Breached),
        ];
        for (now, expected) in table {
            assert_eq!(evaluate(&targets, &clock, facts(Priority::Urgent, created), now).state, expected, "{now}");
        }
        let status = evaluate(&targets, &clock, facts(Priority::Urgent, created), t(1, 10, 0));
        assert_eq!((status.first_response_due, status.resolution_due), (t(1, 11, 0), t(1, 18, 0)));
    }

    #[test]
    fn a_first_response_stops_its_timer_and_a_late_one_stays_breached() {
        let targets = SlaTargets::default();
        let clock = SlaClock::WallClock;
        let created = t(1, 10, 0);
        let answered = SlaFacts { first_response_at: Some(t(1, 10, 30)), ..facts(Priority::Urgent, created) };
        // Answered in time: only the resolution timer runs (6 h of 8 = 75 %).
        assert_eq!(evaluate(&targets, &clock, answered, t(1, 16, 0)).state, SlaState::Ok);
        assert_eq!(evaluate(&targets, &clock, answered, t(1, 16, 24)).state, SlaState::AtRisk);
        let late = SlaFacts { first_response_at: Some(t(1, 11, 30)), ..facts(Priority::Urgent, created) };
        assert_eq!(evaluate(&targets, &clock, late, t(1, 12, 0)).state, SlaState::Breached);
        // Resolved in time: nothing runs any more.
        let resolved = SlaFacts { resolved_at: Some(t(1, 10, 20)), ..facts(Priority::Urgent, created) };
        assert_eq!(evaluate(&targets, &clock, resolved, t(9, 0, 0)).state, SlaState::Ok);
    }

    #[test]
    fn business_hours_count_only_open_minutes() {
        // Monday to Friday 09:00-17:00 UTC. 4 Dec 2026 is a Friday.
        let clock = SlaClock::Business(BusinessHours::weekdays_nine_to_five(0));
        // (from, to, expected minutes)
        let table = [
            (t(1, 10, 0), t(1, 11, 0), 60),
            (t(1, 7, 0), t(1, 10, 0), 60),   // before opening counts from 09:00
            (t(1, 16, 0), t(2, 10, 0), 120), // overnight
            (t(4, 16, 0), t(7, 10, 0), 120), // over the weekend
            (t(5, 10, 0), t(6, 12, 0), 0),   // Saturday to Sunday
            (t(1, 12, 0), t(1, 11, 0), 0),   // backwards
        ];
        for (from, to, minutes) in table {
            assert_eq!(clock.elapsed(from, to), Duration::minutes(minutes), "{from} -> {to}");
        }
        // An urgent ticket raised on Friday at 16:30 is due for a first response on Monday 09:30.
        assert_eq!(clock.due(t(4, 16, 30), 60), t(7, 9, 30));
        // Raised on Saturday: due an hour after Monday's opening.
        assert_eq!(clock.due(t(5, 12, 0), 60), t(7, 10, 0));
        for (from, minutes) in [(t(1, 8, 0), 30), (t(3, 16, 59), 481), (t(4, 12, 0), 2880)] {
            let due = clock.due(from, minutes);
            assert_eq!(clock.elapsed(from, due), Duration::minutes(i64::from(minutes)), "due and elapsed agree");
        }
    }

    #[test]
    fn business_hours_follow_their_offset() {
        // 09:00-17:00 at UTC+05:30 is 03:30-11:30 UTC.
        let clock = SlaClock::Business(BusinessHours::weekdays_nine_to_five(330));
        assert_eq!(clock.elapsed(t(1, 3, 0), t(1, 4, 30)), Duration::minutes(60));
        assert_eq!(clock.due(t(1, 11, 0), 60), t(2, 4, 0));
        assert!(BusinessHours::new(vec![], NaiveTime::MIN, NaiveTime::MIN, 0).is_err());
        let nine = NaiveTime::from_hms_opt(9, 0, 0).unwrap();
        assert!(BusinessHours::new(vec![Weekday::Mon], nine, nine, 0).is_err());
        assert!(BusinessHours::new(vec![Weekday::Mon], NaiveTime::MIN, nine, 15 * 60).is_err());
    }

    #[test]
    fn only_worsening_is_an_event() {
        use SlaState::*;
        let all = [Ok, AtRisk, Breached];
        for from in all {
            for to in all {
                let expected = match (from, to) {
                    (Ok, AtRisk) | (Ok, Breached) | (AtRisk, Breached) => Some(to),
                    (Ok, Ok) | (AtRisk, Ok) | (AtRisk, AtRisk) | (Breached, _) => None,
                };
                assert_eq!(from.worsened_to(to), expected, "{from:?} -> {to:?}");
            }
        }
        for s in all {
            assert_eq!(SlaState::parse(s.as_str()), Some(s));
        }
    }
}
