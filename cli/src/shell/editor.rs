//! The interactive prompt: rustyline with history that keeps each statement whole, as it was
//! typed (line breaks and all), and Tab completion of keywords, catalog names, `\` commands,
//! connection names after `\c` and file names after `\i`, `\o` and `\e`.

use std::cell::RefCell;
use std::path::PathBuf;
use std::rc::Rc;

use rustyline::completion::{Completer, FilenameCompleter, Pair};
use rustyline::error::ReadlineError;
use rustyline::highlight::Highlighter;
use rustyline::hint::Hinter;
use rustyline::history::{FileHistory, History as _};
use rustyline::validate::Validator;
use rustyline::{CompletionType, Config, Context, Editor, Helper};

use keeperdb_core::App;
use keeperdb_core::history::may_carry_password;

use super::meta::COMMANDS;
use super::{Live, Shell, Step, history_path};
use crate::exit::{self, Exit};
use crate::session;

/// Statements kept in the history file.
const HISTORY_SIZE: usize = 2000;

pub(crate) fn interactive(shell: &mut Shell) -> Result<(), Exit> {
    let config = Config::builder()
        .max_history_size(HISTORY_SIZE)
        .map_err(|e| Exit::usage(format!("cannot start the line editor: {e}")))?
        // A statement typed with a leading space is not kept, as in bash and psql.
        .history_ignore_space(true)
        .completion_type(CompletionType::List)
        .auto_add_history(false)
        // rustyline would ask the terminal where the cursor is before each prompt and read
        // the answer from stdin, eating what was typed ahead meanwhile. Output always ends
        // with a line feed here, so the prompt starts a line without asking.
        .check_cursor_position(false)
        .build();
    let mut editor: Editor<ShellHelper, FileHistory> = Editor::with_config(config)
        .map_err(|e| Exit::usage(format!("cannot start the line editor: {e}")))?;
    let pending = Rc::new(RefCell::new(String::new()));
    editor.set_helper(Some(ShellHelper {
        app: shell.app,
        live: shell.live.clone(),
        pending: pending.clone(),
        connections: RefCell::new(None),
        files: FilenameCompleter::new(),
    }));
    let history = history_path(shell.app);
    let _ = editor.load_history(&history);
    {
        let live = shell.live.borrow();
        println!(
            "keeperdb shell: {} ({}). End statements with `;`, `\\?` for help, `\\q` to quit.",
            crate::safe::text(&live.session.connection.spec.name, crate::safe::FIELD),
            crate::safe::text(&live.session.connection.spec.target(), crate::safe::FIELD)
        );
    }
    // The lines of the statement being typed, exactly as typed: history keeps the statement
    // whole, so recalling it brings back every line, and a `--` comment ends where it did.
    let mut typed: Vec<String> = Vec::new();
    loop {
        let name = shell.prompt_name();
        let prompt = if shell.buffer.is_empty() {
            format!("{name}=> ")
        } else {
            format!("{name}-> ")
        };
        *pending.borrow_mut() = typed.join("\n");
        match editor.readline(&prompt) {
            Ok(line) => {
                if !line.trim().is_empty() || !typed.is_empty() {
                    typed.push(line.clone());
                }
                let result = shell.handle_line(&line);
                if let Some(edited) = shell.edited.take() {
                    // `\e`: what came back from the editor is what was typed.
                    typed = vec![edited];
                }
                if shell.buffer.is_empty() && !typed.is_empty() {
                    let entry = typed.join("\n");
                    if !may_carry_password(&entry) {
                        let _ = editor.add_history_entry(entry);
                    }
                    typed.clear();
                }
                match result {
                    Ok(Step::Quit) => break,
                    Ok(Step::Continue) => {}
                    // Connection lost: nothing more can run.
                    Err(f) if f.code == exit::CONNECTION => {
                        save_history(&mut editor, &history);
                        return Err(f);
                    }
                    Err(f) => {
                        if f.code == exit::INTERRUPTED {
                            session::take_interrupt();
                        }
                        eprintln!("error: {}", f.message);
                    }
                }
            }
            Err(ReadlineError::Interrupted) => {
                // Ctrl-C at the prompt drops the statement being typed, as psql does.
                shell.buffer.take_rest();
                typed.clear();
            }
            Err(ReadlineError::Eof) => break,
            Err(e) => {
                save_history(&mut editor, &history);
                return Err(Exit::usage(format!("cannot read input: {e}")));
            }
        }
    }
    save_history(&mut editor, &history);
    Ok(())
}

fn save_history(editor: &mut Editor<ShellHelper, FileHistory>, path: &PathBuf) {
    if let Some(dir) = path.parent() {
        let _ = std::fs::create_dir_all(dir);
    }
    if editor.history().is_empty() {
        return;
    }
    if let Err(e) = editor.save_history(path) {
        eprintln!("warning: cannot save history to {}: {e}", path.display());
    }
}

struct ShellHelper<'a> {
    app: &'a App,
    live: Rc<RefCell<Live>>,
    /// The lines typed so far of the statement being written.
    pending: Rc<RefCell<String>>,
    /// Connection names, read at the first `\c` completion.
    connections: RefCell<Option<Vec<String>>>,
    files: FilenameCompleter,
}

fn pairs(candidates: impl IntoIterator<Item = String>) -> Vec<Pair> {
    candidates
        .into_iter()
        .map(|c| Pair {
            display: c.clone(),
            replacement: c,
        })
        .collect()
}

impl ShellHelper<'_> {
    /// Complete a word of SQL: `before` is text that comes first (earlier lines, or a `FROM`
    /// for `\d`), `line` the current line.
    fn sql(&self, before: &str, line: &str, pos: usize) -> (usize, Vec<Pair>) {
        let Ok(mut live) = self.live.try_borrow_mut() else {
            return (pos, Vec::new());
        };
        let text = format!("{before}{line}");
        let live = &mut *live;
        match live
            .completer
            .complete(live.session.inner_mut(), &text, before.len() + pos)
        {
            Ok(c) => (c.start.saturating_sub(before.len()), pairs(c.candidates)),
            // Completion must never get in the way of typing: no catalog, no candidates.
            Err(_) => (pos, Vec::new()),
        }
    }

    fn command(
        &self,
        line: &str,
        pos: usize,
        ctx: &Context<'_>,
    ) -> rustyline::Result<(usize, Vec<Pair>)> {
        let Some((cmd, _)) = line[..pos].split_once(char::is_whitespace) else {
            let typed = &line[..pos];
            let found = COMMANDS
                .iter()
                .filter(|c| c.starts_with(typed))
                .map(|c| c.to_string());
            return Ok((0, pairs(found)));
        };
        let arg_start = line[..pos]
            .rfind(char::is_whitespace)
            .map_or(pos, |i| i + 1);
        let word = &line[arg_start..pos];
        match cmd {
            "\\c" | "\\connect" => {
                let mut names = self.connections.borrow_mut();
                let names = names.get_or_insert_with(|| self.app.connection_names());
                let found = names.iter().filter(|n| n.starts_with(word)).cloned();
                Ok((arg_start, pairs(found)))
            }
            "\\i" | "\\include" | "\\o" | "\\out" | "\\e" | "\\edit" => {
                self.files.complete(line, pos, ctx)
            }
            "\\d" | "\\dt" => {
                let (start, found) = self.sql("SELECT * FROM ", word, word.len());
                Ok((arg_start + start, found))
            }
            _ => Ok((pos, Vec::new())),
        }
    }
}

impl Completer for ShellHelper<'_> {
    type Candidate = Pair;

    fn complete(
        &self,
        line: &str,
        pos: usize,
        ctx: &Context<'_>,
    ) -> rustyline::Result<(usize, Vec<Pair>)> {
        let pending = self.pending.borrow().clone();
        if pending.is_empty() && line.trim_start().starts_with('\\') {
            let indent = line.len() - line.trim_start().len();
            if pos < indent {
                return Ok((pos, Vec::new()));
            }
            let (start, found) = self.command(&line[indent..], pos - indent, ctx)?;
            return Ok((start + indent, found));
        }
        let before = if pending.is_empty() {
            String::new()
        } else {
            format!("{pending}\n")
        };
        Ok(self.sql(&before, line, pos))
    }
}

impl Hinter for ShellHelper<'_> {
    type Hint = String;
}

impl Highlighter for ShellHelper<'_> {}

impl Validator for ShellHelper<'_> {}

impl Helper for ShellHelper<'_> {}
