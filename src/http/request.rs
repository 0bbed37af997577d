//! Request parsing shared by the API families: host → project, query strings.

use axum::http::request::Parts;

use cairn_auth::decode_query_component;
pub use cairn_auth::percent_decode;

/// Decoded query parameters in order of appearance.
#[derive(Debug, Default)]
pub struct Query(Vec<(String, String)>);

impl Query {
    /// Parses a raw query string.
    pub fn parse(raw: Option<&str>) -> Self {
        let Some(raw) = raw else {
            return Self::default();
        };
        Query(
            raw.split('&')
                .filter(|p| !p.is_empty())
                .map(|p| match p.split_once('=') {
                    Some((k, v)) => (decode_query_component(k), decode_query_component(v)),
                    None => (decode_query_component(p), String::new()),
                })
                .collect(),
        )
    }

    /// Every parameter, decoded, in order of appearance.
    pub fn pairs(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// First value of `key`.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
}

/// The host the request was addressed to, without port: the `Host` header, else the authority of
/// an absolute-form target (as sent through an HTTP proxy).
pub fn request_host(parts: &Parts) -> Option<String> {
    let raw = parts
        .headers
        .get(axum::http::header::HOST)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
        .or_else(|| parts.uri.authority().map(|a| a.as_str().to_string()))?;
    // A fully qualified name may end in a dot; it names the same host.
    Some(strip_port(&raw).trim_end_matches('.').to_ascii_lowercase())
}

fn strip_port(host: &str) -> &str {
    if let Some(rest) = host.strip_prefix('[') {
        // [v6]:port
        return rest.split(']').next().unwrap_or(rest);
    }
    match host.rsplit_once(':') {
        Some((h, port)) if port.bytes().all(|b| b.is_ascii_digit()) => h,
        _ => host,
    }
}

fn is_ip_literal(h: &str) -> bool {
    h.parse::<std::net::IpAddr>().is_ok()
}

/// A host that names neither a configured endpoint nor `<project>.<endpoint>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownHost(pub String);

/// The project a host addresses: `<project>.<endpoint>` or `<project>.<IP>`; none for a
/// configured endpoint or an IP literal. Anything else is an [`UnknownHost`]: Cairn does not
/// guess which part of an unknown name is the project.
pub fn project_from_host(host: &str, endpoints: &[String]) -> Result<Option<String>, UnknownHost> {
    if is_ip_literal(host) || endpoints.iter().any(|e| e.eq_ignore_ascii_case(host)) {
        return Ok(None);
    }
    if let Some((first, rest)) = host.split_once('.') {
        let known = is_ip_literal(rest) || endpoints.iter().any(|e| e.eq_ignore_ascii_case(rest));
        if known && !first.is_empty() {
            return Ok(Some(first.to_string()));
        }
    }
    Err(UnknownHost(host.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_map_to_projects() {
        let eps = vec!["localhost".to_string(), "log.example.com".to_string()];
        let p = |h: &str| project_from_host(h, &eps);
        assert_eq!(p("localhost"), Ok(None));
        assert_eq!(p("proj.localhost"), Ok(Some("proj".into())));
        assert_eq!(p("proj.log.example.com"), Ok(Some("proj".into())));
        assert_eq!(p("log.example.com"), Ok(None));
        assert_eq!(p("127.0.0.1"), Ok(None));
        assert_eq!(p("::1"), Ok(None));
        assert_eq!(p("myproj.127.0.0.1"), Ok(Some("myproj".into())));
        // Names Cairn was not told about are not guessed at.
        for unknown in [
            "proj.cn-hangzhou.log.aliyuncs.com",
            "cn-hangzhou.log.aliyuncs.com",
            "single",
            "a.proj.localhost",
            ".localhost",
        ] {
            assert_eq!(p(unknown), Err(UnknownHost(unknown.into())), "{unknown}");
        }
    }

    #[test]
    fn the_request_host_is_lower_case_without_port_or_final_dot() {
        let parts = |host: &str| {
            axum::http::Request::builder()
                .uri("/")
                .header("host", host)
                .body(())
                .unwrap()
                .into_parts()
                .0
        };
        assert_eq!(
            request_host(&parts("Proj.LocalHost.:7070")).as_deref(),
            Some("proj.localhost")
        );
        assert_eq!(request_host(&parts("[::1]:80")).as_deref(), Some("::1"));
    }

    #[test]
    fn ports_are_stripped() {
        assert_eq!(strip_port("a.b:8080"), "a.b");
        assert_eq!(strip_port("a.b"), "a.b");
        assert_eq!(strip_port("[::1]:80"), "::1");
    }

    #[test]
    fn query_decoding_is_form_decoding() {
        let q = Query::parse(Some("cursor=MTI%3D&type=log&key=a+b&plus=a%2Bb&empty="));
        assert_eq!(q.get("cursor"), Some("MTI="));
        assert_eq!(q.get("key"), Some("a b"));
        assert_eq!(q.get("plus"), Some("a+b"));
        assert_eq!(q.get("empty"), Some(""));
        assert_eq!(q.get("none"), None);
        assert_eq!(percent_decode("%zz%4"), "%zz%4");
    }
}
