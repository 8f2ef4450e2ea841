//! The SSRF guard: webhook targets must be public addresses, unless
//! `webhooks.allow_private_targets`.
//!
//! A URL is checked when it is registered (a clear 422) and again at every delivery against
//! the addresses its host resolves to *then*: the HTTP client resolves through
//! [`GuardedResolver`], which refuses a forbidden address, and connects to exactly the
//! addresses it checked, so a host that later resolves to an internal address (DNS
//! rebinding) is refused too.

use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

/// Whether `ip` is an address webhooks must not reach: loopback, private, link-local,
/// unique-local, unspecified, multicast, broadcast, carrier-grade NAT, and IPv4-mapped or
/// -compatible forms of those.
pub fn is_forbidden(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => forbidden_v4(v4),
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return forbidden_v4(v4);
            }
            let segments = v6.segments();
            // ::a.b.c.d (IPv4-compatible, deprecated but still routed by some stacks).
            if segments[..6].iter().all(|s| *s == 0) && !v6.is_loopback() && !v6.is_unspecified() {
                return forbidden_v4(Ipv4Addr::from(
                    (u32::from(segments[6]) << 16) | u32::from(segments[7]),
                ));
            }
            forbidden_v6(v6)
        }
    }
}

fn forbidden_v4(ip: Ipv4Addr) -> bool {
    let [a, b, ..] = ip.octets();
    ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || ip.is_unspecified()
        || ip.is_multicast()
        || ip.is_broadcast()
        || a == 0
        || (a == 100 && (64..128).contains(&b))
}

fn forbidden_v6(ip: Ipv6Addr) -> bool {
    let first = ip.segments()[0];
    ip.is_loopback()
        || ip.is_unspecified()
        || ip.is_multicast()
        || (first & 0xfe00) == 0xfc00
        || (first & 0xffc0) == 0xfe80
}

/// Longest wait for the name lookup at registration: a request must not hang on DNS.
const LOOKUP_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

/// A URL that failed the check, with the sentence for the client.
pub type Refusal = &'static str;

/// Parses and checks a webhook URL: http(s), a host, and (unless `allow_private`) only
/// public addresses for it.
pub async fn check_url(text: &str, allow_private: bool) -> Result<reqwest::Url, Refusal> {
    let url = reqwest::Url::parse(text).map_err(|_| "must be an absolute http or https URL")?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err("must be an http or https URL");
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err("must not carry credentials");
    }
    let host = url.host_str().ok_or("must name a host")?;
    if allow_private {
        return Ok(url);
    }
    let port = url.port_or_known_default().unwrap_or(443);
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let lookup = tokio::net::lookup_host((host, port));
    let addrs: Vec<SocketAddr> = tokio::time::timeout(LOOKUP_TIMEOUT, lookup)
        .await
        .map_err(|_| "the host does not resolve (the lookup timed out)")?
        .map_err(|_| "the host does not resolve")?
        .collect();
    if addrs.is_empty() {
        return Err("the host does not resolve");
    }
    if addrs.iter().any(|a| is_forbidden(a.ip())) {
        return Err(
            "loopback, link-local and private-range targets are refused (webhooks.allow_private_targets)",
        );
    }
    Ok(url)
}

/// Whether a URL's host is an IP literal that is forbidden (the client does not resolve
/// literals, so [`GuardedResolver`] never sees them).
pub fn literal_forbidden(url: &reqwest::Url) -> bool {
    url.host_str()
        .map(|host| host.trim_start_matches('[').trim_end_matches(']'))
        .and_then(|host| host.parse::<IpAddr>().ok())
        .is_some_and(is_forbidden)
}

/// The delivery client's resolver: the system's, minus forbidden addresses.
pub struct GuardedResolver;

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        Box::pin(async move {
            let addrs: Vec<SocketAddr> =
                tokio::net::lookup_host((name.as_str(), 0)).await?.collect();
            if addrs.iter().any(|a| is_forbidden(a.ip())) {
                return Err(
                    "the host resolves to a loopback, link-local or private address".into(),
                );
            }
            Ok(Box::new(addrs.into_iter()) as Addrs)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn internal_addresses_are_forbidden_in_every_spelling() {
        for ip in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "0.0.0.0",
            "100.64.0.1",
            "224.0.0.1",
            "::1",
            "::",
            "fe80::1",
            "fd00::1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
            "ff02::1",
        ] {
            assert!(is_forbidden(ip.parse().expect("ip")), "{ip}");
        }
        for ip in [
            "93.184.216.34",
            "8.8.8.8",
            "2606:4700::1111",
            "::ffff:8.8.8.8",
        ] {
            assert!(!is_forbidden(ip.parse().expect("ip")), "{ip}");
        }
    }
}
