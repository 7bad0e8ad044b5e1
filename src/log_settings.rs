//! The `logging` section: how many of the per-request log lines are written. Refusals and
//! failures are always logged; successful requests (status below 400) can be sampled, as busy
//! Workers deployments commonly do, because writing a line is a measurable part of a request's CPU.
//! Reference: docs/config.md, "Logging".

use std::cell::Cell;

use serde::Deserialize;

use crate::section::{Problems, Section};

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogSettings {
    /// The share of successful requests whose `request` line is written, 0 to 1 (default 1: all).
    pub success_sample_rate: f64,
}

impl Default for LogSettings {
    fn default() -> Self {
        LogSettings {
            success_sample_rate: 1.0,
        }
    }
}

impl Section for LogSettings {
    const PATH: &'static str = "logging";
    fn check(&self) -> Problems {
        if (0.0..=1.0).contains(&self.success_sample_rate) {
            Vec::new()
        } else {
            vec![(
                "logging.success_sample_rate".to_string(),
                "must be a number from 0 to 1 (the share of successful requests logged)"
                    .to_string(),
            )]
        }
    }
}

/// Decides, request by request, whether the `request` line is written. Sampling is a running
/// credit, not a coin toss: of n successful requests exactly ⌊n·rate⌋ or ⌈n·rate⌉ are logged, spread
/// evenly, with no call to the runtime for randomness.
/// The credit counts in millionths of a line, so that adding up a rate like 0.1 never falls short
/// of a whole line by a rounding error.
#[derive(Debug, Default)]
pub(crate) struct RequestLogSampler {
    credit: Cell<u32>,
}

const LINE: u32 = 1_000_000;

impl RequestLogSampler {
    pub(crate) fn admits(&self, settings: &LogSettings, status: u16) -> bool {
        if status >= 400 || settings.success_sample_rate >= 1.0 {
            return true;
        }
        // `check` keeps the rate within 0..=1, so this is 0..=LINE.
        let share = (settings.success_sample_rate * f64::from(LINE)).round() as u32;
        let credit = self.credit.get() + share;
        if credit >= LINE {
            self.credit.set(credit - LINE);
            true
        } else {
            self.credit.set(credit);
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn logged(rate: f64, statuses: &[u16]) -> Vec<bool> {
        let settings = LogSettings {
            success_sample_rate: rate,
        };
        let sampler = RequestLogSampler::default();
        statuses
            .iter()
            .map(|&s| sampler.admits(&settings, s))
            .collect()
    }

    #[test]
    fn every_line_by_default() {
        assert_eq!(LogSettings::default().success_sample_rate, 1.0);
        assert!(logged(1.0, &[200; 50]).iter().all(|&l| l));
    }

    #[test]
    fn refusals_and_failures_are_always_logged() {
        for status in [400, 401, 403, 404, 429, 500, 502, 503, 504] {
            assert_eq!(logged(0.0, &[status; 3]), [true; 3], "{status}");
        }
        assert_eq!(logged(0.0, &[200, 204, 301, 308, 101]), [false; 5]);
    }

    #[test]
    fn the_share_of_successes_is_exact_and_evenly_spread() {
        assert_eq!(
            logged(0.5, &[200; 6]),
            [false, true, false, true, false, true]
        );
        let tenth = logged(0.1, &[200; 1000]);
        assert_eq!(tenth.iter().filter(|&&l| l).count(), 100);
        // A refusal in between neither uses nor resets the credit.
        assert_eq!(logged(0.5, &[200, 401, 200]), [false, true, true]);
    }

    #[test]
    fn a_rate_outside_zero_to_one_is_refused() {
        for rate in [-0.1, 1.5, f64::NAN] {
            let problems = LogSettings {
                success_sample_rate: rate,
            }
            .check();
            assert_eq!(problems.len(), 1, "{rate}");
            assert_eq!(problems[0].0, "logging.success_sample_rate");
        }
        assert!(LogSettings {
            success_sample_rate: 0.0
        }
        .check()
        .is_empty());
    }
}
