//! The console: where structured log lines go, readable in `wrangler tail`.
//! What a line says is [`crate::wire::log_line`]'s.

use crate::wire::log_line::LogLine;

/// Prints one structured log line, readable in `wrangler tail`.
pub(crate) fn emit(line: LogLine<'_>) {
    let json = line.to_json();
    if line.level == "error" {
        worker::console_error!("{json}");
    } else {
        worker::console_log!("{json}");
    }
}
