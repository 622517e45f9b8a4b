//! Progress bars on standard error (drawn only on a terminal).

use indicatif::{ProgressBar, ProgressStyle};

/// A bar for `total` entries, starting at `done`.
pub(crate) fn bar(total: u64, done: u64, verb: &str) -> ProgressBar {
    let bar = ProgressBar::new(total.max(done));
    let template = format!(
        "{{spinner}} {verb} [{{bar:40}}] {{human_pos}}/{{human_len}} entries, {{elapsed}}, ETA {{eta}}"
    );
    if let Ok(style) = ProgressStyle::with_template(&template) {
        bar.set_style(style.progress_chars("=> "));
    }
    bar.set_position(done);
    bar
}

/// A counter for a read whose total is not known yet.
pub(crate) fn counter(verb: &str) -> ProgressBar {
    let bar = ProgressBar::new_spinner();
    let template = format!("{{spinner}} {verb}: {{human_pos}} entries, {{elapsed}}");
    if let Ok(style) = ProgressStyle::with_template(&template) {
        bar.set_style(style);
    }
    bar
}
