//! Credentials out of URLs: the one form in which legate logs, shows or returns a URL it was
//! given (webhooks, a store URL), since their user information and query strings often carry
//! tokens and passwords.

/// What replaces each removed part.
const MASK: &str = "***";

/// `url` without its credentials: the user information (`user:password@`) becomes `***@`, the
/// query string `?***` and the fragment `#***`; the scheme, host (name, IPv4 or `[IPv6]`), port
/// and path stay. Text without a scheme is read as `host/path…` (so `user:pw@host` loses its
/// `user:pw` too); text with none of these parts comes back unchanged. No I/O, no errors: any
/// string has a redacted form.
pub fn redact_url(url: &str) -> String {
    let (prefix, rest) = match url.find("://") {
        Some(i) if is_scheme(&url[..i]) => url.split_at(i + 3),
        _ => url.split_at(if url.starts_with("//") { 2 } else { 0 }),
    };
    // The authority ends where the path, query or fragment begins.
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(end);
    let mut out = String::with_capacity(url.len());
    out.push_str(prefix);
    match authority.rfind('@') {
        Some(at) => {
            out.push_str(MASK);
            out.push_str(&authority[at..]);
        }
        None => out.push_str(authority),
    }
    let path_end = tail.find(['?', '#']).unwrap_or(tail.len());
    out.push_str(&tail[..path_end]);
    let after = &tail[path_end..];
    if after.starts_with('?') {
        out.push('?');
        out.push_str(MASK);
    }
    if after.contains('#') {
        out.push('#');
        out.push_str(MASK);
    }
    out
}

/// RFC 3986: `ALPHA *( ALPHA / DIGIT / "+" / "-" / "." )`.
fn is_scheme(s: &str) -> bool {
    let mut chars = s.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
}

#[cfg(test)]
mod tests {
    use super::redact_url;

    #[test]
    fn credentials_go_and_everything_else_stays() {
        let table = [
            // (given, shown)
            ("https://h.example/hook", "https://h.example/hook"),
            ("https://user:secret@h.example/p", "https://***@h.example/p"),
            ("https://secret@h.example", "https://***@h.example"),
            ("http://h:8080/p?token=secret", "http://h:8080/p?***"),
            ("http://h/p?token=secret#frag", "http://h/p?***#***"),
            ("http://h/p#secret", "http://h/p#***"),
            ("http://h?secret", "http://h?***"),
            (
                "https://u:s%40cret@h.example:8443/a/b?x=1&y=2",
                "https://***@h.example:8443/a/b?***",
            ),
            // The last `@` of the authority ends the user information.
            ("http://u@x:p@ss@h/p", "http://***@h/p"),
            // An `@` in the path is not user information.
            (
                "https://reg.example/@scope/pkg",
                "https://reg.example/@scope/pkg",
            ),
            (
                "http://[::1]:9000/hook?k=secret",
                "http://[::1]:9000/hook?***",
            ),
            (
                "http://u:secret@[fe80::1%25eth0]/x",
                "http://***@[fe80::1%25eth0]/x",
            ),
            (
                "postgres://postgres:secret@127.0.0.1:5432/db?sslmode=require&password=secret",
                "postgres://***@127.0.0.1:5432/db?***",
            ),
            // No scheme: read as host/path.
            ("user:secret@h.example/p?t=secret", "***@h.example/p?***"),
            ("//user:secret@h.example/p", "//***@h.example/p"),
            ("h.example:80/p", "h.example:80/p"),
            // Not URLs at all.
            ("", ""),
            ("notify-send", "notify-send"),
            ("just some words", "just some words"),
            ("1://x", "1://x"),
        ];
        for (given, shown) in table {
            assert_eq!(redact_url(given), shown, "redacting {given:?}");
            assert!(!redact_url(given).contains("secret"), "{given:?}");
        }
    }

    #[test]
    fn redacting_twice_changes_nothing_more() {
        for u in ["https://a:b@h/p?q#f", "http://[::1]/x", "h/p?q", "plain"] {
            let once = redact_url(u);
            assert_eq!(redact_url(&once), once);
        }
    }
}
