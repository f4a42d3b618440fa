//! The contact types live in `paysync_core::contact`, where the reconciler produces them; they are
//! re-exported here so connectors and their callers keep one vocabulary.

pub use paysync_core::contact::*;

/// Keeps the text of a free-form property within a destination's length limit, on a character
/// boundary. Destinations refuse whole requests over such limits, which would fail the whole batch.
pub(crate) fn clip(value: &str, max_chars: usize) -> String {
    value.trim().chars().take(max_chars).collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn clip_counts_characters() {
        assert_eq!(super::clip(" héllo ", 3), "hél");
    }
}
