//! A minimal RFC 4180 CSV reader (quoted fields, doubled quotes, CRLF).
//!
//! Hand-written rather than the `csv` crate: that crate enables
//! `serde_core`'s `default` feature, which changes the build hash of every
//! serde-dependent crate in the workspace (arrow, parquet, ...) and forces a
//! full rebuild of them; the importer only needs records of strings.

/// Splits CSV text into records of fields. A quote that is not closed makes
/// the rest of the input one last (malformed) record, reported as `Err`.
pub(crate) fn records(text: &str) -> Vec<Result<Vec<String>, ()>> {
    let mut out = Vec::new();
    let mut rec: Vec<String> = Vec::new();
    let mut field = String::new();
    let mut chars = text.chars().peekable();
    let mut in_quotes = false;
    let mut any = false;
    while let Some(c) = chars.next() {
        any = true;
        if in_quotes {
            if c == '"' {
                if chars.peek() == Some(&'"') {
                    chars.next();
                    field.push('"');
                } else {
                    in_quotes = false;
                }
            } else {
                field.push(c);
            }
            continue;
        }
        match c {
            '"' if field.is_empty() => in_quotes = true,
            ',' => rec.push(std::mem::take(&mut field)),
            '\r' if chars.peek() == Some(&'\n') => {}
            '\n' => {
                rec.push(std::mem::take(&mut field));
                out.push(Ok(std::mem::take(&mut rec)));
                any = false;
            }
            c => field.push(c),
        }
    }
    if in_quotes {
        out.push(Err(()));
    } else if any {
        rec.push(field);
        out.push(Ok(rec));
    }
    // Blank lines are not records.
    out.retain(|r| !matches!(r, Ok(v) if v.len() == 1 && v[0].trim().is_empty()));
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn quotes_commas_crlf_and_unclosed_quotes() {
        let r = super::records("a,\"b,\"\"c\"\"\"\r\n\n1,2\n\"x");
        assert_eq!(r[0], Ok(vec!["a".to_string(), "b,\"c\"".to_string()]));
        assert_eq!(r[1], Ok(vec!["1".to_string(), "2".to_string()]));
        assert_eq!(r[2], Err(()));
        assert_eq!(r.len(), 3);
    }
}
