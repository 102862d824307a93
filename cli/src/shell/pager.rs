//! Long output through a pager, as psql does: `KEEPERDB_PAGER`, else `PAGER` (set but empty:
//! no pager), else `less -S`, so wide rows scroll sideways instead of wrapping. Output is held
//! until it is known not to fit the terminal; from then on it streams into the pager, so a
//! result of any size needs the memory of one screen.

use std::io::{self, Write};
use std::process::{Child, ChildStdin, Command, Stdio};

/// The pager a shell uses, if any.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pager {
    command: Option<String>,
}

impl Pager {
    /// The pager the environment asks for.
    pub fn from_env() -> Self {
        let chosen = ["KEEPERDB_PAGER", "PAGER"]
            .iter()
            .find_map(|v| std::env::var(v).ok());
        let command = match chosen {
            Some(c) if c.trim().is_empty() => None,
            Some(c) => Some(c),
            None => Some("less -S".to_string()),
        };
        Pager { command }
    }

    /// No pager.
    pub fn off() -> Self {
        Pager { command: None }
    }

    /// The command run, if any.
    pub fn command(&self) -> Option<&str> {
        self.command.as_deref()
    }

    /// Output for the terminal: through the pager once it does not fit `rows` x `cols`.
    pub fn output(&self, rows: usize, cols: usize) -> Paged {
        Paged {
            command: self.command.clone(),
            rows,
            cols,
            held: Vec::new(),
            lines: 0,
            column: 0,
            widest: 0,
            child: None,
        }
    }
}

/// Output held for the screen or streamed to the pager; [`finish`](Paged::finish) it.
pub struct Paged {
    command: Option<String>,
    rows: usize,
    cols: usize,
    held: Vec<u8>,
    lines: usize,
    /// Width of the line being written, in characters.
    column: usize,
    /// Width of the widest line so far.
    widest: usize,
    child: Option<(Child, ChildStdin)>,
}

impl Paged {
    /// Whether what is held no longer fits: a line wider than the screen, or more lines than
    /// it has (one is left for the prompt).
    fn overflows(&self) -> bool {
        self.lines >= self.rows || self.widest.max(self.column) > self.cols
    }

    fn start_pager(&mut self, command: &str) -> io::Result<()> {
        let mut child = Command::new("sh")
            .args(["-c", command])
            .stdin(Stdio::piped())
            .spawn()
            .map_err(|e| io::Error::other(format!("cannot start the pager `{command}`: {e}")))?;
        let Some(mut stdin) = child.stdin.take() else {
            return Err(io::Error::other("the pager has no input"));
        };
        crate::session::set_paging(true);
        stdin.write_all(&std::mem::take(&mut self.held))?;
        self.child = Some((child, stdin));
        Ok(())
    }

    /// Show what is held (when it fit the screen), or wait for the pager to be closed.
    pub fn finish(mut self) -> io::Result<()> {
        match self.child.take() {
            Some((mut child, stdin)) => {
                drop(stdin);
                let waited = child.wait();
                crate::session::set_paging(false);
                waited.map(|_| ())
            }
            None => {
                let mut out = io::stdout().lock();
                out.write_all(&self.held)?;
                out.flush()
            }
        }
    }
}

impl Write for Paged {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if let Some((_, stdin)) = &mut self.child {
            return stdin.write(buf);
        }
        self.held.extend_from_slice(buf);
        for &b in buf {
            match b {
                b'\n' => {
                    self.lines += 1;
                    self.widest = self.widest.max(self.column);
                    self.column = 0;
                }
                // UTF-8 continuation bytes do not start a character.
                b if b & 0xC0 == 0x80 => {}
                _ => self.column += 1,
            }
        }
        if let Some(command) = self.command.clone()
            && self.overflows()
            && let Err(e) = self.start_pager(&command)
        {
            // Without a pager the output still goes to the screen.
            eprintln!("warning: {e}; showing the output without it");
            self.command = None;
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        match &mut self.child {
            Some((_, stdin)) => stdin.flush(),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn output_that_fits_the_screen_is_held_for_it_and_a_long_one_is_not() {
        let pager = Pager {
            command: Some("cat >/dev/null".into()),
        };
        let mut fits = pager.output(10, 20);
        fits.write_all(b"one\ntwo\n").unwrap();
        assert!(fits.child.is_none());
        assert_eq!(fits.held, b"one\ntwo\n");

        let mut tall = pager.output(3, 20);
        tall.write_all(b"1\n2\n3\n").unwrap();
        assert!(
            tall.child.is_some(),
            "more lines than the screen go to the pager"
        );
        tall.finish().unwrap();

        let mut wide = pager.output(10, 5);
        wide.write_all("ééééé".as_bytes()).unwrap();
        assert!(wide.child.is_none(), "five characters fit five columns");
        wide.write_all(b"x").unwrap();
        assert!(
            wide.child.is_some(),
            "a line wider than the screen goes to the pager"
        );
        wide.finish().unwrap();
    }
}
