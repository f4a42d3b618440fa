use std::time::{SystemTime, UNIX_EPOCH};

/// The wall clock in unix milliseconds. The engine is where time is read; the core only receives it.
pub fn now_ms() -> paysync_core::UnixMs {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}
