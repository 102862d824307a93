//! Fault injection: rules that make chosen requests slow, fail, or vanish.

use std::time::Duration;

use crate::EmulatorError;

/// What goes wrong with a request.
#[derive(Debug, Clone, PartialEq)]
pub enum Fault {
    /// Wait this long before answering (combines with any other fault).
    Latency(Duration),
    /// Answer with this HTTP status and a non-JSON (HTML) body, as a failing proxy or load
    /// balancer does. The SDK reports `Invalid JSON response`.
    HttpStatus(u16),
    /// Answer `403 {"error":"throttled","retry_after":..}`; the SDK sleeps `retry_after`
    /// seconds and retries, at most 5 times.
    Throttle {
        /// Seconds the client is told to wait (keep it small in tests, e.g. 0.05).
        retry_after: f64,
    },
    /// Close the connection after reading the request, without an answer; the request is
    /// not applied.
    DropConnection,
    /// Apply the request, then close the connection without an answer: the client cannot
    /// tell whether its write happened (what a network cut at the wrong moment does).
    LoseReply,
    /// Send the (correct) answer in small chunks with a pause between them; with `truncate`
    /// the connection closes half-way through the body.
    SlowBody {
        /// Pause between 16-byte chunks.
        chunk_delay: Duration,
        /// Close the connection after half of the body.
        truncate: bool,
    },
    /// Answer `{"error":"key","key_id":<current id>}` as the service does when it rotates its
    /// key. The SDK retries at once with the same key, so this fires at most once per rule.
    KeyRotation,
}

/// A fault, which requests it hits, and how often.
#[derive(Debug, Clone, PartialEq)]
pub struct FaultRule {
    /// The fault.
    pub fault: Fault,
    /// Only requests to this endpoint (e.g. `get_secret`) count; `None` = all.
    pub endpoint: Option<String>,
    /// Let this many matching requests through untouched before the fault starts.
    pub after: u64,
    /// Fire at most this many times; `None` = for every later matching request.
    pub times: Option<u64>,
}

impl FaultRule {
    /// A rule that hits every request from now on.
    pub fn new(fault: Fault) -> Self {
        FaultRule {
            fault,
            endpoint: None,
            after: 0,
            times: None,
        }
    }
    /// Restricts the rule to one endpoint.
    pub fn on(mut self, endpoint: &str) -> Self {
        self.endpoint = Some(endpoint.to_string());
        self
    }
    /// Starts firing after `n` matching requests went through.
    pub fn after(mut self, n: u64) -> Self {
        self.after = n;
        self
    }
    /// Fires `n` times, then stops.
    pub fn times(mut self, n: u64) -> Self {
        self.times = Some(n);
        self
    }

    /// Parses the command-line form `KIND[=VALUE][,endpoint=NAME][,after=N][,times=N]`, with
    /// KIND one of `latency=MS`, `status=CODE`, `throttle[=SECONDS]`, `drop`, `lose-reply`,
    /// `slow-body=MS`, `truncate[=MS]`, `key-rotation`.
    pub fn parse(spec: &str) -> Result<FaultRule, EmulatorError> {
        let bad = |reason: &str| EmulatorError::FaultSpec {
            spec: spec.to_string(),
            reason: reason.to_string(),
        };
        let mut parts = spec.split(',').map(str::trim);
        let head = parts
            .next()
            .filter(|s| !s.is_empty())
            .ok_or_else(|| bad("empty"))?;
        let (kind, value) = match head.split_once('=') {
            Some((k, v)) => (k, Some(v)),
            None => (head, None),
        };
        let ms = |v: Option<&str>, default: Option<u64>| -> Result<Duration, EmulatorError> {
            let n = match v {
                Some(v) => v
                    .trim_end_matches("ms")
                    .parse::<u64>()
                    .map_err(|_| bad("expected milliseconds"))?,
                None => default.ok_or_else(|| bad("needs a value in milliseconds"))?,
            };
            Ok(Duration::from_millis(n))
        };
        let fault = match kind {
            "latency" => Fault::Latency(ms(value, None)?),
            "status" => {
                let code = value.ok_or_else(|| bad("needs an HTTP status"))?;
                let code: u16 = code.parse().map_err(|_| bad("status is not a number"))?;
                if !(400..=599).contains(&code) || code == 403 {
                    return Err(bad(
                        "status must be 400-599 other than 403 (use throttle for 403)",
                    ));
                }
                Fault::HttpStatus(code)
            }
            "throttle" => {
                let retry_after = match value {
                    Some(v) => v
                        .parse::<f64>()
                        .ok()
                        .filter(|x| *x >= 0.0)
                        .ok_or_else(|| bad("retry_after must be seconds >= 0"))?,
                    None => 0.05,
                };
                Fault::Throttle { retry_after }
            }
            "drop" => Fault::DropConnection,
            "lose-reply" => Fault::LoseReply,
            "slow-body" => Fault::SlowBody {
                chunk_delay: ms(value, Some(20))?,
                truncate: false,
            },
            "truncate" => Fault::SlowBody {
                chunk_delay: ms(value, Some(0))?,
                truncate: true,
            },
            "key-rotation" => Fault::KeyRotation,
            _ => return Err(bad("unknown fault kind")),
        };
        let mut rule = FaultRule::new(fault);
        for p in parts {
            let (k, v) = p
                .split_once('=')
                .ok_or_else(|| bad("options are key=value"))?;
            match k {
                "endpoint" => rule.endpoint = Some(v.to_string()),
                "after" => rule.after = v.parse().map_err(|_| bad("after is not a number"))?,
                "times" => rule.times = Some(v.parse().map_err(|_| bad("times is not a number"))?),
                _ => return Err(bad("unknown option")),
            }
        }
        Ok(rule)
    }
}

/// A rule with its counters.
#[derive(Debug)]
pub(crate) struct RuleState {
    rule: FaultRule,
    seen: u64,
    fired: u64,
}

impl RuleState {
    pub fn new(rule: FaultRule) -> Self {
        RuleState {
            rule,
            seen: 0,
            fired: 0,
        }
    }
}

/// What happens to one request.
#[derive(Debug, Default)]
pub(crate) struct Decision {
    pub latency: Duration,
    pub fault: Option<Fault>,
    pub fired: u64,
}

/// Counts `endpoint` against every rule and returns the faults that fire for it.
pub(crate) fn decide(rules: &mut [RuleState], endpoint: &str) -> Decision {
    let mut d = Decision::default();
    for r in rules.iter_mut() {
        if r.rule.endpoint.as_deref().is_some_and(|e| e != endpoint) {
            continue;
        }
        r.seen += 1;
        let limit = match (&r.rule.fault, r.rule.times) {
            (Fault::KeyRotation, t) => Some(t.unwrap_or(1).min(1)),
            (_, t) => t,
        };
        if r.seen <= r.rule.after || limit.is_some_and(|t| r.fired >= t) {
            continue;
        }
        match &r.rule.fault {
            Fault::Latency(l) => {
                r.fired += 1;
                d.fired += 1;
                d.latency += *l;
            }
            other if d.fault.is_none() => {
                r.fired += 1;
                d.fired += 1;
                d.fault = Some(other.clone());
            }
            _ => {}
        }
    }
    d
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_forms() {
        assert_eq!(
            FaultRule::parse("throttle=0.05,endpoint=get_secret,after=2,times=3").unwrap(),
            FaultRule::new(Fault::Throttle { retry_after: 0.05 })
                .on("get_secret")
                .after(2)
                .times(3)
        );
        assert_eq!(
            FaultRule::parse("latency=150ms").unwrap().fault,
            Fault::Latency(Duration::from_millis(150))
        );
        assert_eq!(
            FaultRule::parse("status=503").unwrap().fault,
            Fault::HttpStatus(503)
        );
        assert_eq!(
            FaultRule::parse("drop").unwrap().fault,
            Fault::DropConnection
        );
        assert_eq!(
            FaultRule::parse("key-rotation").unwrap().fault,
            Fault::KeyRotation
        );
        for bad in [
            "",
            "boom",
            "status",
            "status=200",
            "latency=x",
            "drop,after",
            "drop,color=red",
        ] {
            let e = FaultRule::parse(bad).unwrap_err().to_string();
            assert!(e.contains("bad fault spec"), "{bad}: {e}");
        }
    }

    #[test]
    fn after_and_times_count_matching_requests_only() {
        let mut rules = vec![RuleState::new(
            FaultRule::new(Fault::DropConnection)
                .on("get_secret")
                .after(1)
                .times(2),
        )];
        let hits: Vec<bool> = [
            "get_secret",
            "get_folders",
            "get_secret",
            "get_secret",
            "get_secret",
        ]
        .iter()
        .map(|e| decide(&mut rules, e).fault.is_some())
        .collect();
        assert_eq!(hits, [false, false, true, true, false]);
    }

    #[test]
    fn key_rotation_fires_once_even_without_times() {
        let mut rules = vec![RuleState::new(FaultRule::new(Fault::KeyRotation))];
        assert!(decide(&mut rules, "get_secret").fault.is_some());
        assert!(decide(&mut rules, "get_secret").fault.is_none());
    }
}
