//! GCRA (the generic cell rate algorithm, ITU-T I.371), in exact integer arithmetic.
//!
//! A bucket is one number, the *theoretical arrival time* (TAT): the instant at which the bucket
//! would be full again if nothing more arrived. With emission interval `T = period / limit` and
//! capacity `burst · T`, a unit is admitted at `now` when
//! `max(TAT, now) + T − now ≤ burst · T`, and admitting it adds `T` to the TAT.
//!
//! `T` is rarely a whole number of milliseconds (60 000 ms / 7), so time is counted in units of
//! `1/limit` ms: then `T = period_ms` exactly and every comparison is exact. Values are `u128`
//! (`now_ms · limit` exceeds 2^53 but never 2^80).
//!
//! One operation serves both modes: `acquire` first hands back `refund` units (a lease that went
//! unused), then books `charge` units unconditionally (units an isolate already admitted on
//! credit — this is where a `fast` overshoot is paid back: the TAT moves into the future and the
//! identity waits correspondingly longer), then grants up to `want` units as the bucket allows.

use super::policy::Rate;

/// A TAT in units of `1/limit` ms since the epoch.
pub type Tat = u128;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Acquire {
    /// Units booked no matter what (admitted earlier on credit).
    pub charge: u64,
    /// Units handed back (leased, never used).
    pub refund: u64,
    /// Units asked for now; `granted ≤ want`.
    pub want: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Grant {
    pub granted: u64,
    /// Units that could be admitted right now, after this grant.
    pub remaining: u64,
    /// Milliseconds until one more unit than `remaining` is available (always ≥ 1). When nothing
    /// was granted this is the wait before a retry can succeed.
    pub next_ms: u64,
}

impl Grant {
    /// The RateLimit `t` parameter and the `Retry-After` value: `next_ms` in whole seconds,
    /// rounded up so that a client that waits that long is never early.
    pub fn next_secs(&self) -> u64 {
        self.next_ms.div_ceil(1000)
    }
}

fn scaled_now(rate: &Rate, now_ms: u64) -> u128 {
    u128::from(now_ms) * u128::from(rate.limit)
}

/// Books `req` against the bucket whose TAT is `tat` (0 for a bucket never used) and returns the
/// new TAT with what was granted and the state after.
pub fn acquire(rate: &Rate, tat: Tat, now_ms: u64, req: Acquire) -> (Tat, Grant) {
    let now = scaled_now(rate, now_ms);
    let t_unit = u128::from(rate.period_ms);
    let mut t = tat.max(now);
    t = t.saturating_sub(u128::from(req.refund) * t_unit).max(now);
    t += u128::from(req.charge) * t_unit;
    let avail = available(rate, t, now);
    let granted = avail.min(u128::from(req.want));
    t += granted * t_unit;
    let grant = Grant {
        // `granted ≤ want`, a u64.
        granted: granted as u64,
        ..state(rate, t, now)
    };
    (t, grant)
}

/// The bucket's state without booking anything.
pub fn peek(rate: &Rate, tat: Tat, now_ms: u64) -> Grant {
    let now = scaled_now(rate, now_ms);
    state(rate, tat.max(now), now)
}

fn available(rate: &Rate, t: u128, now: u128) -> u128 {
    let cap = u128::from(rate.burst) * u128::from(rate.period_ms);
    let debt = t - now;
    if debt >= cap {
        0
    } else {
        (cap - debt) / u128::from(rate.period_ms)
    }
}

fn state(rate: &Rate, t: u128, now: u128) -> Grant {
    let t_unit = u128::from(rate.period_ms);
    let cap = u128::from(rate.burst) * t_unit;
    let remaining = available(rate, t, now);
    // The (remaining+1)-th unit fits once the debt has fallen to cap − (remaining+1)·T.
    let next_scaled = (t - now) + (remaining + 1) * t_unit - cap;
    let limit = u128::from(rate.limit);
    let next_ms = next_scaled.div_ceil(limit).max(1);
    Grant {
        granted: 0,
        remaining: remaining.min(u128::from(u64::MAX)) as u64,
        next_ms: next_ms.min(u128::from(u64::MAX)) as u64,
    }
}

/// The TAT in milliseconds, rounded up: when the bucket is full again and its state can be
/// forgotten (a bucket at `tat ≤ now` is identical to a fresh one).
pub fn full_at_ms(rate: &Rate, tat: Tat) -> u64 {
    let ms = tat.div_ceil(u128::from(rate.limit));
    ms.min(u128::from(u64::MAX)) as u64
}

/// Re-expresses a TAT stored under another `limit` (the policy was reconfigured): the instant is
/// kept, rounded up so that a change never grants extra units.
pub fn rescale(tat: Tat, from_limit: u64, to_limit: u64) -> Tat {
    if from_limit == to_limit || from_limit == 0 {
        return tat;
    }
    (tat * u128::from(to_limit)).div_ceil(u128::from(from_limit))
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: u64 = 1_767_225_600_000;

    fn rate(limit: u64, period_secs: u64, burst: u64) -> Rate {
        Rate {
            limit,
            period_ms: period_secs * 1000,
            burst,
        }
    }

    fn one() -> Acquire {
        Acquire {
            want: 1,
            ..Default::default()
        }
    }

    /// Admits one request at a time at `now`, counting how many pass.
    fn admitted_at(r: &Rate, tat: &mut Tat, now: u64, n: u64) -> u64 {
        let mut ok = 0;
        for _ in 0..n {
            let (t, g) = acquire(r, *tat, now, one());
            *tat = t;
            ok += g.granted;
        }
        ok
    }

    #[test]
    fn a_fresh_bucket_admits_exactly_the_burst_at_once() {
        for (limit, period, burst) in [
            (10, 60, 10),
            (100, 60, 20),
            (7, 60, 7),
            (1, 1, 1),
            (5, 1, 50),
            (1_000_000, 1, 1_000_000),
        ] {
            let r = rate(limit, period, burst);
            let mut tat = 0;
            let n = burst.min(2000) + 5;
            let expect = burst.min(n);
            if burst <= 2000 {
                assert_eq!(
                    admitted_at(&r, &mut tat, NOW, n),
                    expect,
                    "{limit}/{period}s burst {burst}"
                );
            }
        }
    }

    #[test]
    fn headers_state_for_three_per_minute() {
        let r = rate(3, 60, 3);
        let (tat, g) = acquire(&r, 0, NOW, one());
        assert_eq!(
            g,
            Grant {
                granted: 1,
                remaining: 2,
                next_ms: 20_000
            }
        );
        let (tat, g) = acquire(&r, tat, NOW + 300, one());
        assert_eq!(
            g,
            Grant {
                granted: 1,
                remaining: 1,
                next_ms: 19_700
            }
        );
        assert_eq!(g.next_secs(), 20);
        let (tat, g) = acquire(&r, tat, NOW + 600, one());
        assert_eq!(
            g,
            Grant {
                granted: 1,
                remaining: 0,
                next_ms: 19_400
            }
        );
        let (tat2, g) = acquire(&r, tat, NOW + 900, one());
        assert_eq!(tat2, tat, "a refusal books nothing");
        assert_eq!(
            g,
            Grant {
                granted: 0,
                remaining: 0,
                next_ms: 19_100
            }
        );
        assert_eq!(g.next_secs(), 20);
        // At exactly the announced time one unit is back.
        let (_, g) = acquire(&r, tat, NOW + 900 + 19_100, one());
        assert_eq!(g.granted, 1);
        let (_, g) = acquire(&r, tat, NOW + 900 + 19_099, one());
        assert_eq!(g.granted, 0);
        assert_eq!(g.next_ms, 1);
    }

    #[test]
    fn fractional_emission_interval_is_exact() {
        // 7 per minute: T = 8571.428… ms. After the burst, the n-th unit returns at n·60000/7 ms.
        let r = rate(7, 60, 7);
        let mut tat = 0;
        assert_eq!(admitted_at(&r, &mut tat, NOW, 7), 7);
        for n in 1..=14u64 {
            let exact = n * 60_000 / 7 + u64::from(n * 60_000 % 7 != 0); // ceil
            let (_, before) = acquire(&r, tat, NOW + exact - 1, one());
            assert_eq!(before.granted, 0, "unit {n} early");
            let (t, at) = acquire(&r, tat, NOW + exact, one());
            assert_eq!(at.granted, 1, "unit {n} on time");
            tat = t;
        }
    }

    #[test]
    fn long_run_rate_is_the_limit() {
        // Hammer a 10 per second bucket every millisecond for 10 s: burst + 10 s × 10/s.
        let r = rate(10, 1, 10);
        let mut tat = 0;
        let mut ok = 0;
        for ms in 0..10_000 {
            let (t, g) = acquire(&r, tat, NOW + ms, one());
            tat = t;
            ok += g.granted;
        }
        assert_eq!(ok, 10 + 100 - 1);
    }

    #[test]
    fn over_any_window_admits_at_most_burst_plus_rate() {
        let r = rate(5, 10, 3); // T = 2 s
        let mut tat = 0;
        let mut times = Vec::new();
        for ms in (0..60_000).step_by(50) {
            let (t, g) = acquire(&r, tat, NOW + ms, one());
            tat = t;
            if g.granted == 1 {
                times.push(ms);
            }
        }
        for (i, start) in times.iter().enumerate() {
            for w in [1_000u64, 2_000, 10_000, 20_000] {
                let n = times[i..].iter().take_while(|t| **t < start + w).count() as u64;
                let bound = 3 + (w - 1) / 2_000;
                assert!(n <= bound, "{n} in {w} ms from {start}");
            }
        }
    }

    #[test]
    fn batches_grant_what_fits() {
        let r = rate(10, 10, 10);
        let (tat, g) = acquire(
            &r,
            0,
            NOW,
            Acquire {
                want: 4,
                ..Default::default()
            },
        );
        assert_eq!((g.granted, g.remaining), (4, 6));
        let (tat, g) = acquire(
            &r,
            tat,
            NOW,
            Acquire {
                want: 10,
                ..Default::default()
            },
        );
        assert_eq!((g.granted, g.remaining), (6, 0));
        let (_, g) = acquire(
            &r,
            tat,
            NOW,
            Acquire {
                want: 10,
                ..Default::default()
            },
        );
        assert_eq!((g.granted, g.remaining, g.next_ms), (0, 0, 1000));
    }

    #[test]
    fn charges_are_booked_even_past_the_capacity() {
        let r = rate(10, 10, 10); // T = 1 s
        let (tat, g) = acquire(
            &r,
            0,
            NOW,
            Acquire {
                charge: 13,
                want: 1,
                refund: 0,
            },
        );
        assert_eq!((g.granted, g.remaining), (0, 0));
        // 13 units booked on a capacity of 10: 3 s of debt beyond empty, plus one unit's wait.
        assert_eq!(g.next_ms, 4_000);
        let (_, g) = acquire(
            &r,
            tat,
            NOW + 3_999,
            Acquire {
                want: 1,
                ..Default::default()
            },
        );
        assert_eq!(g.granted, 0);
        let (_, g) = acquire(
            &r,
            tat,
            NOW + 4_000,
            Acquire {
                want: 1,
                ..Default::default()
            },
        );
        assert_eq!(g.granted, 1);
    }

    #[test]
    fn refunds_never_go_below_full() {
        let r = rate(10, 10, 10);
        let (tat, _) = acquire(
            &r,
            0,
            NOW,
            Acquire {
                want: 5,
                ..Default::default()
            },
        );
        let (tat, g) = acquire(
            &r,
            tat,
            NOW,
            Acquire {
                refund: 3,
                ..Default::default()
            },
        );
        assert_eq!(g.remaining, 8);
        let (_, g) = acquire(
            &r,
            tat,
            NOW,
            Acquire {
                refund: 100,
                ..Default::default()
            },
        );
        assert_eq!(g.remaining, 10);
        let (_, g) = acquire(
            &r,
            0,
            NOW,
            Acquire {
                refund: 100,
                want: 11,
                charge: 0,
            },
        );
        assert_eq!(g.granted, 10);
    }

    #[test]
    fn peek_and_forgetting() {
        let r = rate(3, 60, 3);
        assert_eq!(
            peek(&r, 0, NOW),
            Grant {
                granted: 0,
                remaining: 3,
                next_ms: 20_000
            }
        );
        let (tat, _) = acquire(
            &r,
            0,
            NOW,
            Acquire {
                want: 2,
                ..Default::default()
            },
        );
        assert_eq!(full_at_ms(&r, tat), NOW + 40_000);
        assert_eq!(peek(&r, tat, NOW + 40_000).remaining, 3);
        assert_eq!(peek(&r, tat, NOW + 39_999).remaining, 2);
    }

    #[test]
    fn rescaling_keeps_the_instant() {
        let r3 = rate(3, 60, 3);
        let (tat, _) = acquire(&r3, 0, NOW, one());
        let r6 = rate(6, 60, 6);
        let t6 = rescale(tat, 3, 6);
        assert_eq!(full_at_ms(&r6, t6), full_at_ms(&r3, tat));
        assert_eq!(rescale(tat, 3, 3), tat);
        assert_eq!(rescale(7, 3, 2), 5, "rounded up");
    }

    #[test]
    fn extremes_do_not_overflow() {
        let r = rate(1_000_000, 2_592_000, 1_000_000);
        let (tat, g) = acquire(
            &r,
            0,
            u64::MAX / 2,
            Acquire {
                charge: u64::MAX,
                refund: 0,
                want: u64::MAX,
            },
        );
        assert_eq!(g.granted, 0);
        assert!(g.next_ms > 0);
        let _ = peek(&r, tat, u64::MAX / 2);
        let _ = full_at_ms(&r, tat);
    }
}
