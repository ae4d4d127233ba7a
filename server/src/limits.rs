//! Per-IP request rate limiting: a token bucket per client address.

use std::{collections::HashMap, net::IpAddr, sync::Mutex, time::Instant};

/// Buckets kept at most; past it, idle ones are dropped (a flood of addresses cannot grow memory).
const MAX_CLIENTS: usize = 65_536;

/// A token bucket per IP: `rate` requests per second, bursts up to `rate`.
pub(crate) struct RateLimiter {
    rate: f64,
    buckets: Mutex<HashMap<IpAddr, (f64, Instant)>>,
}

impl RateLimiter {
    pub(crate) fn new(rate: u32) -> Self {
        RateLimiter { rate: f64::from(rate.max(1)), buckets: Mutex::new(HashMap::new()) }
    }

    /// Takes a token for `ip`; `false` when its bucket is empty.
    pub(crate) fn allow(&self, ip: IpAddr) -> bool {
        let now = Instant::now();
        let mut buckets = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        if buckets.len() >= MAX_CLIENTS && !buckets.contains_key(&ip) {
            let rate = self.rate;
            buckets.retain(|_, (tokens, at)| *tokens + now.duration_since(*at).as_secs_f64() * rate < rate);
        }
        let (tokens, at) = buckets.entry(ip).or_insert((self.rate, now));
        *tokens = (*tokens + now.duration_since(*at).as_secs_f64() * self.rate).min(self.rate);
        *at = now;
        if *tokens >= 1.0 {
            *tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_over_the_rate_is_refused_and_other_clients_are_not() {
        let limiter = RateLimiter::new(5);
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        let b: IpAddr = "10.0.0.2".parse().unwrap();
        assert_eq!((0..10).filter(|_| limiter.allow(a)).count(), 5);
        assert!(limiter.allow(b));
    }
}

/// Requests in flight per client IP. HTTP/1.1 serves one request at a time per connection, so
/// this caps how many of a client's connections can hold workers at once.
pub(crate) struct InFlight {
    max: usize,
    counts: Mutex<HashMap<IpAddr, usize>>,
}

/// A taken slot; gives it back when dropped.
pub(crate) struct Slot<'a> {
    owner: &'a InFlight,
    ip: IpAddr,
}

impl InFlight {
    pub(crate) fn new(max: usize) -> Self {
        InFlight { max: max.max(1), counts: Mutex::new(HashMap::new()) }
    }

    /// Takes a slot for `ip`, or `None` when it already has `max` requests in flight.
    pub(crate) fn enter(&self, ip: IpAddr) -> Option<Slot<'_>> {
        let mut counts = self.counts.lock().unwrap_or_else(|p| p.into_inner());
        let count = counts.entry(ip).or_insert(0);
        if *count >= self.max {
            return None;
        }
        *count += 1;
        Some(Slot { owner: self, ip })
    }
}

impl Drop for Slot<'_> {
    fn drop(&mut self) {
        let mut counts = self.owner.counts.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(count) = counts.get_mut(&self.ip) {
            *count -= 1;
            if *count == 0 {
                counts.remove(&self.ip);
            }
        }
    }
}

#[cfg(test)]
mod in_flight_tests {
    use super::*;

    #[test]
    fn slots_are_per_ip_and_come_back() {
        let limit = InFlight::new(2);
        let ip: IpAddr = "10.0.0.1".parse().unwrap();
        let (a, b) = (limit.enter(ip).unwrap(), limit.enter(ip).unwrap());
        assert!(limit.enter(ip).is_none());
        assert!(limit.enter("10.0.0.2".parse().unwrap()).is_some());
        drop(a);
        assert!(limit.enter(ip).is_some());
        drop(b);
    }
}
