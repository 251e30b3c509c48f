//! Small helpers: random identifiers, time formatting, HTML escaping.

use ams_protocol::AmsDateTime;

/// `n` random bytes from the operating system.
pub(crate) fn random_bytes<const N: usize>() -> [u8; N] {
    let mut out = [0u8; N];
    // The OS generator does not fail on the platforms we run on; a failure would only make ids
    // less random, never wrong, and the sandbox is not a security boundary.
    let _ = getrandom::fill(&mut out);
    out
}

/// Lowercase hex of `n` random bytes.
pub(crate) fn random_hex<const N: usize>() -> String {
    random_bytes::<N>()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// A string of `len` random decimal digits.
pub(crate) fn random_digits(len: usize) -> String {
    let mut out = String::with_capacity(len);
    while out.len() < len {
        for b in random_bytes::<16>() {
            if b < 250 && out.len() < len {
                out.push(char::from(b'0' + b % 10));
            }
        }
    }
    out
}

/// An AMS datetime (`2024-01-01T08:00:00+08:00`) for a Unix-millisecond instant, in UTC+8 like
/// Alipay's own answers.
pub(crate) fn ams_time(unix_ms: i64) -> AmsDateTime {
    AmsDateTime::from_unix_millis(unix_ms, 8 * 60)
        .unwrap_or_else(|_| AmsDateTime::new("1970-01-01T08:00:00+08:00"))
}

/// The `yyyyMMdd` date in UTC+8 of a Unix-millisecond instant (for payment ids).
pub(crate) fn date_digits(unix_ms: i64) -> String {
    ams_time(unix_ms)
        .as_str()
        .get(0..10)
        .unwrap_or("19700101")
        .replace('-', "")
}

/// Escapes text for HTML element content and attribute values.
pub(crate) fn html_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            other => out.push(other),
        }
    }
    out
}

/// Percent-encodes a query-string value (RFC 3986 unreserved characters pass).
pub(crate) fn query_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Appends query parameters to a URL that may already have a query (and keeps any fragment last).
pub(crate) fn append_query(url: &str, params: &[(&str, &str)]) -> String {
    let (base, fragment) = match url.split_once('#') {
        Some((b, f)) => (b, Some(f)),
        None => (url, None),
    };
    let mut out = base.to_owned();
    let mut sep = if base.contains('?') { '&' } else { '?' };
    for (name, value) in params {
        out.push(sep);
        out.push_str(&query_escape(name));
        out.push('=');
        out.push_str(&query_escape(value));
        sep = '&';
    }
    if let Some(f) = fragment {
        out.push('#');
        out.push_str(f);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_is_appended_before_the_fragment() {
        assert_eq!(
            append_query(
                "https://m.example/r?x=1#top",
                &[("authCode", "A B"), ("authState", "s&t")]
            ),
            "https://m.example/r?x=1&authCode=A%20B&authState=s%26t#top"
        );
        assert_eq!(
            append_query("https://m.example/r", &[("a", "1")]),
            "https://m.example/r?a=1"
        );
    }

    #[test]
    fn times_are_in_utc_plus_8() {
        assert_eq!(
            ams_time(1_704_067_200_000).as_str(),
            "2024-01-01T08:00:00+08:00"
        );
        assert_eq!(date_digits(1_704_067_200_000), "20240101");
    }

    #[test]
    fn ids_have_the_requested_shape() {
        assert_eq!(random_digits(24).len(), 24);
        assert!(random_digits(24).bytes().all(|b| b.is_ascii_digit()));
        assert_eq!(random_hex::<16>().len(), 32);
        assert_ne!(random_hex::<16>(), random_hex::<16>());
    }
}
