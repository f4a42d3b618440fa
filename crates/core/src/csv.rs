//! CSV for exports opened in spreadsheets (RFC 4180 quoting), with formula injection
//! neutralised: a cell starting with `=`, `+`, `-`, `@`, a tab or a carriage return would be run
//! as a formula by Excel, LibreOffice or Sheets, so it is prefixed with `'` (OWASP's advice).

/// One line (ending in CRLF, as RFC 4180 says).
pub fn row<S: AsRef<str>>(cells: &[S]) -> String {
    let mut line = cells
        .iter()
        .map(|c| cell(c.as_ref()))
        .collect::<Vec<_>>()
        .join(",");
    line.push_str("\r\n");
    line
}

/// One cell, neutralised and quoted when needed.
pub fn cell(value: &str) -> String {
    let neutral = if value.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{value}")
    } else {
        value.to_owned()
    };
    if neutral.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", neutral.replace('"', "\"\""))
    } else {
        neutral
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn quotes_and_neutralises() {
        assert_eq!(cell("plain"), "plain");
        assert_eq!(cell("a,b"), "\"a,b\"");
        assert_eq!(cell("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(cell("=HYPERLINK(\"x\")"), "\"'=HYPERLINK(\"\"x\"\")\"");
        assert_eq!(cell("+1"), "'+1");
        assert_eq!(cell("-2"), "'-2");
        assert_eq!(cell("@SUM(A1)"), "'@SUM(A1)");
        assert_eq!(row(&["a", "b"]), "a,b\r\n");
    }

    proptest! {
        /// Whatever the input, no cell can start a formula, and the cell reads back to the
        /// neutralised value.
        #[test]
        fn no_cell_starts_a_formula(value in any::<String>()) {
            let out = cell(&value);
            let unquoted = match out.strip_prefix('"').and_then(|s| s.strip_suffix('"')) {
                Some(inner) => inner.replace("\"\"", "\""),
                None => out.clone(),
            };
            prop_assert!(!unquoted.starts_with(['=', '+', '-', '@', '\t', '\r']));
            let prefixed = format!("'{}", value);
            prop_assert!(unquoted == value || unquoted == prefixed);
        }
    }
}
