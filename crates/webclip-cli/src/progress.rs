//! Progress and notes on stderr: a live line on a terminal, a few plain lines otherwise.

use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant};

pub struct Reporter {
    quiet: bool,
    tty: bool,
    last: Option<Instant>,
    live: bool,
}

impl Reporter {
    pub fn new(quiet: bool) -> Self {
        Reporter { quiet, tty: std::io::stderr().is_terminal(), last: None, live: false }
    }

    /// `--quiet`: nothing on stderr.
    pub fn is_quiet(&self) -> bool {
        self.quiet
    }

    fn clear_live(&mut self) {
        if self.live {
            eprint!("\r\x1b[2K");
            self.live = false;
        }
    }

    /// A one-off message.
    pub fn note(&mut self, msg: &str) {
        if self.quiet {
            return;
        }
        self.clear_live();
        eprintln!("webclip: {msg}");
    }

    /// `done` of `total` items of `what`; shown only for jobs big enough to wait on.
    pub fn progress(&mut self, what: &str, done: usize, total: usize) {
        if self.quiet || total < 2 {
            return;
        }
        let now = Instant::now();
        let due = self.last.is_none_or(|t| now - t > Duration::from_millis(if self.tty { 100 } else { 2000 }));
        if !(due || done == total) {
            return;
        }
        self.last = Some(now);
        if self.tty {
            eprint!("\r\x1b[2Kwebclip: {what} {done}/{total}");
            let _ = std::io::stderr().flush();
            self.live = true;
            if done == total {
                self.clear_live();
            }
        } else if done == total || due {
            eprintln!("webclip: {what} {done}/{total}");
        }
    }

    /// A status line that replaces itself on a terminal, and is printed every few seconds
    /// otherwise.
    pub fn progress_line(&mut self, line: &str) {
        if self.quiet {
            return;
        }
        let now = Instant::now();
        let due = self.last.is_none_or(|t| now - t > Duration::from_millis(if self.tty { 100 } else { 5000 }));
        if !due {
            return;
        }
        self.last = Some(now);
        if self.tty {
            eprint!("\r\x1b[2Kwebclip: {line}");
            let _ = std::io::stderr().flush();
            self.live = true;
        } else {
            eprintln!("webclip: {line}");
        }
    }

    /// A callback for the core's progress hooks.
    pub fn callback<'a>(&'a mut self, what: &'a str) -> impl FnMut(usize, usize) + 'a {
        move |d, t| self.progress(what, d, t)
    }

    /// Ends any live line.
    pub fn done(&mut self) {
        self.clear_live();
    }
}
