//! Progress that plugins and long work report through the core's one callback type, drawn as
//! an indicatif bar on stderr (`Configuring... 4 of 245`). Nothing is drawn when stderr is not
//! a terminal, so scripts and pipes see no bar.

use std::io::IsTerminal;
use std::sync::Arc;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use keeperdb_core::ProgressSink;

/// A sink that draws on stderr, or `None` when stderr is not a terminal.
pub fn terminal_sink() -> Option<ProgressSink> {
    if !std::io::stderr().is_terminal() {
        return None;
    }
    let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
    let style = ProgressStyle::with_template("{msg} {pos} of {len} {wide_bar}")
        .unwrap_or_else(|_| ProgressStyle::default_bar());
    bar.set_style(style);
    Some(Arc::new(move |done: u64, total: u64, message: &str| {
        bar.set_length(total);
        bar.set_position(done.min(total));
        // The message comes from a plugin: the host has already made it safe for a terminal.
        bar.set_message(message.to_string());
        if total > 0 && done >= total {
            bar.finish_and_clear();
        }
    }))
}

/// A spinner with the elapsed time for work that cannot count its steps (compiling a
/// component), or `None` when stderr is not a terminal. Clear it with `finish_and_clear`.
pub fn spinner(message: String) -> Option<ProgressBar> {
    if !std::io::stderr().is_terminal() {
        return None;
    }
    let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
    let style = ProgressStyle::with_template("{spinner} {msg} {elapsed}")
        .unwrap_or_else(|_| ProgressStyle::default_spinner());
    bar.set_style(style);
    bar.set_message(message);
    bar.enable_steady_tick(std::time::Duration::from_millis(120));
    Some(bar)
}
