//! Progress for people, on stderr: a bar while targets are checked (only on a terminal, in
//! human output, when not quiet) and notices (banners, warnings). Machine output never sees
//! any of it: stdout holds only the result.

use std::io::{IsTerminal, Write};
use std::sync::Mutex;

use crate::ops::{Notice, Progress};
use crate::redact::redact;

/// The progress sink of a run.
pub struct TerminalProgress {
    /// Draw a bar: stderr is a terminal, output is human, not quiet.
    bar_allowed: bool,
    quiet: bool,
    bar: Mutex<Option<indicatif::ProgressBar>>,
}

impl TerminalProgress {
    /// `human` is whether the output format is for people.
    pub fn new(human: bool, quiet: bool) -> TerminalProgress {
        TerminalProgress {
            bar_allowed: human && !quiet && std::io::stderr().is_terminal(),
            quiet,
            bar: Mutex::new(None),
        }
    }

    fn bar(&self) -> std::sync::MutexGuard<'_, Option<indicatif::ProgressBar>> {
        self.bar.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Progress for TerminalProgress {
    fn notice(&self, notice: Notice<'_>) {
        let (style, text) = match notice {
            Notice::Banner(_) if self.quiet => return,
            Notice::Banner(text) => (
                anstyle::Style::new().fg_color(Some(anstyle::AnsiColor::Yellow.into())),
                text.to_string(),
            ),
            Notice::Warning(text) => (anstyle::Style::new(), format!("warning: {text}")),
            Notice::Step(_) if self.quiet => return,
            Notice::Step(text) => (anstyle::Style::new().dimmed(), format!("• {text}")),
        };
        let text = redact(&text).into_owned();
        let line = format!("{style}{text}{style:#}");
        match self.bar().as_ref() {
            Some(bar) => bar.println(line),
            None => {
                let _ = writeln!(anstream::stderr(), "{line}");
            }
        }
    }

    fn begin(&self, what: &str, total: usize) {
        if !self.bar_allowed {
            return;
        }
        let bar = indicatif::ProgressBar::new(total as u64);
        bar.set_style(
            indicatif::ProgressStyle::with_template(&format!(
                "{{spinner}} {what} {{pos}}/{{len}} {{wide_msg}}"
            ))
            .expect("valid template"),
        );
        bar.enable_steady_tick(std::time::Duration::from_millis(120));
        *self.bar() = Some(bar);
    }

    fn advance(&self, item: &str) {
        if let Some(bar) = self.bar().as_ref() {
            bar.set_message(item.to_string());
            bar.inc(1);
        }
    }

    fn end(&self) {
        if let Some(bar) = self.bar().take() {
            bar.finish_and_clear();
        }
    }
}
