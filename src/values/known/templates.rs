//! Which `.Values` paths a chart's templates read, found without a Go-template parser: the
//! actions (`{{ … }}`) are tokenised, and a stack of `with`/`range`/`if`/`define` blocks keeps
//! track of what the dot and each variable stand for.
//!
//! The reader is permissive by design: whatever it cannot follow makes more keys known, never
//! fewer, because a missed read would turn into a false `values/unknown-key`. A template it
//! cannot tokenise at all (an action that never ends, an `end` without a block) makes every key
//! known. Its work is bounded: one pass over the text, blocks on an explicit stack, and the only
//! recursion (parenthesised expressions) stops at [`MAX_PAREN_DEPTH`].

use std::collections::BTreeSet;

use crate::nesting::MAX_DEPTH;

/// A path of keys under `.Values` (`["image", "tag"]`); empty is `.Values` itself.
pub type Path = Vec<String>;

/// What the templates read.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct TemplateReads {
    /// Paths read (`.Values.image.tag`): each one, and every prefix of it, is a known key.
    pub read: BTreeSet<Path>,
    /// Subtrees handed whole to something that takes any key (`toYaml`, `range`, `include`,
    /// `tpl`): every key beneath them is known.
    pub open: BTreeSet<Path>,
    /// `.Values` itself handed to such a thing, or a template that could not be followed:
    /// every key is known.
    pub everything: bool,
}

/// Parentheses nested deeper than this in one action make every key known: no real template
/// comes near it, and it bounds the recursion of the expression reader.
pub const MAX_PAREN_DEPTH: usize = 32;

/// Blocks (`if`, `with`, `range`, `define`) open at once deeper than this make every key known.
/// They live on a heap stack, so the limit only bounds memory.
pub const MAX_BLOCK_DEPTH: usize = 10_000;

/// Variables alive at once past this many make every key known: it bounds the lookups, which
/// real templates need a handful of.
const MAX_VARIABLES: usize = 10_000;

/// The alternatives a value may stand for (`default .Values.a .Values.b`) are kept up to this
/// many; past it the value's paths are opened and it is forgotten.
const MAX_ALTERNATIVES: usize = 64;

/// Functions that take a map whole and accept any key in it: what is handed to them is open.
const OPENERS: &[&str] = &[
    "toYaml",
    "toJson",
    "toPrettyJson",
    "toRawJson",
    "mustToJson",
    "mustToPrettyJson",
    "mustToRawJson",
    "toToml",
    "tpl",
    "include",
    "keys",
    "values",
    "pick",
    "omit",
    "pluck",
    "set",
    "unset",
];

/// Add what `text`, a template of a chart, reads to `reads`.
pub fn read_template(text: &str, reads: &mut TemplateReads) {
    let mut reader = Reader {
        dot: Val::Root,
        vars: Vec::new(),
        blocks: Vec::new(),
        out: reads,
    };
    if reader.run(text).is_err() {
        reader.out.everything = true;
    }
}

/// What a template could not be followed through; every key is then known.
#[derive(Debug)]
struct Unsure;

/// What an expression stands for.
#[derive(Debug, Clone, PartialEq)]
enum Val {
    /// The template's data: `.` at the top of a file, `$`.
    Root,
    /// One of these subtrees of `.Values` (never empty).
    Paths(Vec<Path>),
    /// Anything else: a string, a number, a value not under `.Values`.
    Unknown,
}

impl Val {
    fn paths(&self) -> &[Path] {
        match self {
            Val::Paths(paths) => paths,
            _ => &[],
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum BlockKind {
    If,
    With,
    Range,
    Define,
}

/// Where a pipeline that binds variables stands.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Header {
    /// A plain action: `{{ $x := … }}`.
    Action,
    /// The header of `if`, `with`, `else if`, `else with`.
    Block,
    /// The header of `range`.
    Range,
}

/// An open block: what the dot and the variables were before it.
struct Block {
    kind: BlockKind,
    outer_dot: Val,
    vars_len: usize,
}

struct Reader<'r> {
    dot: Val,
    vars: Vec<(String, Val)>,
    blocks: Vec<Block>,
    out: &'r mut TemplateReads,
}

/// A token of an action.
#[derive(Debug, Clone, PartialEq)]
enum Tok {
    /// `.a.b`, `$x.a.b`, `$`, `.`: the variable (`Some("")` for `$`) and the fields.
    /// `attached` is a field access on the parenthesised value just before it (`(…).a`).
    Chain {
        var: Option<String>,
        fields: Vec<String>,
        attached: bool,
    },
    Str(String),
    Word(String),
    Open,
    Close,
    Pipe,
    Declare,
    Assign,
    Comma,
    Other,
}

/// One operand of a command, evaluated.
struct Operand {
    val: Val,
    word: Option<String>,
    text: Option<String>,
}

impl Reader<'_> {
    fn run(&mut self, text: &str) -> Result<(), Unsure> {
        let mut from = 0;
        while let Some(action) = next_action(text, from)? {
            from = action.after;
            if let Some(content) = action.content {
                self.action(&lex(content))?;
            }
        }
        // A block left open is what helm reports as "unexpected EOF".
        match self.blocks.is_empty() {
            true => Ok(()),
            false => Err(Unsure),
        }
    }

    fn action(&mut self, toks: &[Tok]) -> Result<(), Unsure> {
        let keyword = match toks.first() {
            None => return Ok(()),
            Some(Tok::Word(w)) => w.as_str(),
            Some(_) => "",
        };
        match keyword {
            // Variables declared in a block's header live until its `end`.
            "if" => {
                let vars_len = self.vars.len();
                self.declaring_pipeline(&toks[1..], Header::Block)?;
                self.push(BlockKind::If, vars_len)?;
            }
            "with" => {
                let vars_len = self.vars.len();
                let value = self.declaring_pipeline(&toks[1..], Header::Block)?;
                self.push(BlockKind::With, vars_len)?;
                self.dot = value;
            }
            "range" => {
                let vars_len = self.vars.len();
                let value = self.declaring_pipeline(&toks[1..], Header::Range)?;
                self.open(&value);
                self.push(BlockKind::Range, vars_len)?;
                // The dot is one element of what is iterated, which is open.
                self.dot = Val::Unknown;
            }
            "else" => {
                let block = self.blocks.last().ok_or(Unsure)?;
                if block.kind == BlockKind::Define {
                    // helm refuses an `else` outside `if`, `with` and `range`.
                    return Err(Unsure);
                }
                self.dot = block.outer_dot.clone();
                self.vars.truncate(block.vars_len);
                match toks.get(1) {
                    Some(Tok::Word(w)) if w == "if" => {
                        self.declaring_pipeline(&toks[2..], Header::Block)?;
                    }
                    Some(Tok::Word(w)) if w == "with" => {
                        self.dot = self.declaring_pipeline(&toks[2..], Header::Block)?;
                    }
                    _ => {}
                }
            }
            "end" => {
                let block = self.blocks.pop().ok_or(Unsure)?;
                self.dot = block.outer_dot;
                self.vars.truncate(block.vars_len);
            }
            "define" => {
                self.push(BlockKind::Define, self.vars.len())?;
                // A named template is mostly called with the root context (`include "x" .`);
                // what else it is called with is opened where it is called.
                self.dot = Val::Root;
            }
            "block" => {
                // `block "name" pipeline`: a define called at once with the pipeline.
                let value = self.pipeline(toks.get(2..).unwrap_or_default(), 0)?;
                self.open(&value);
                // Unlike `define`, it may sit inside other blocks; its body sees the value as
                // the dot, as `with` would.
                self.push(BlockKind::With, self.vars.len())?;
                self.dot = value;
            }
            "template" => {
                let value = self.pipeline(toks.get(2..).unwrap_or_default(), 0)?;
                self.open(&value);
            }
            "break" | "continue" => {}
            _ => {
                self.declaring_pipeline(toks, Header::Action)?;
            }
        }
        Ok(())
    }

    fn push(&mut self, kind: BlockKind, vars_len: usize) -> Result<(), Unsure> {
        if self.blocks.len() >= MAX_BLOCK_DEPTH {
            return Err(Unsure);
        }
        if kind == BlockKind::Define && !self.blocks.is_empty() {
            // helm refuses a define inside another block.
            return Err(Unsure);
        }
        self.blocks.push(Block {
            kind,
            outer_dot: self.dot.clone(),
            vars_len,
        });
        Ok(())
    }

    /// A pipeline that may start with `$x :=`, `$x =` or (`range`) `$k, $v :=`; binds the
    /// variables and returns the pipeline's value. A range's variables hold elements, not the
    /// iterated value; a block's header declares them in the block's own scope.
    fn declaring_pipeline(&mut self, toks: &[Tok], at: Header) -> Result<Val, Unsure> {
        let (names, assign, rest) = declarations(toks);
        let value = self.pipeline(rest, 0)?;
        for name in &names {
            let held = match (at, names.len()) {
                (Header::Range, _) | (_, 2) => Val::Unknown,
                _ => value.clone(),
            };
            self.bind(name, held, assign, at != Header::Action)?;
        }
        Ok(value)
    }

    /// The value of `cmd | cmd | …`; each command's value is the last argument of the next.
    fn pipeline(&mut self, toks: &[Tok], depth: usize) -> Result<Val, Unsure> {
        if depth > MAX_PAREN_DEPTH {
            return Err(Unsure);
        }
        let mut input: Option<Val> = None;
        for command in split_pipes(toks) {
            input = Some(self.command(command, input, depth)?);
        }
        Ok(input.unwrap_or(Val::Unknown))
    }

    fn command(&mut self, toks: &[Tok], input: Option<Val>, depth: usize) -> Result<Val, Unsure> {
        let mut operands = Vec::new();
        let mut i = 0;
        while i < toks.len() {
            match &toks[i] {
                Tok::Open => {
                    let close = matching_close(toks, i).ok_or(Unsure)?;
                    let (names, assign, inner) = declarations(&toks[i + 1..close]);
                    let mut val = self.pipeline(inner, depth + 1)?;
                    if let [name] = names.as_slice() {
                        self.bind(name, val.clone(), assign, false)?;
                    }
                    i = close + 1;
                    if let Some(Tok::Chain {
                        var: None,
                        fields,
                        attached: true,
                    }) = toks.get(i)
                    {
                        val = self.field_of(&val, fields);
                        i += 1;
                    }
                    operands.push(Operand {
                        val,
                        word: None,
                        text: None,
                    });
                }
                Tok::Chain { var, fields, .. } => {
                    let base = match var {
                        None => self.dot.clone(),
                        Some(name) if name.is_empty() => Val::Root,
                        Some(name) => self.lookup(name),
                    };
                    let val = self.field_of(&base, fields);
                    operands.push(Operand {
                        val,
                        word: None,
                        text: None,
                    });
                    i += 1;
                }
                Tok::Str(s) => {
                    operands.push(Operand {
                        val: Val::Unknown,
                        word: None,
                        text: Some(s.clone()),
                    });
                    i += 1;
                }
                Tok::Word(w) => {
                    operands.push(Operand {
                        val: Val::Unknown,
                        word: Some(w.clone()),
                        text: None,
                    });
                    i += 1;
                }
                _ => i += 1,
            }
        }
        let function = match operands.first() {
            Some(Operand { word: Some(w), .. })
                if !matches!(w.as_str(), "nil" | "true" | "false") =>
            {
                Some(w.clone())
            }
            _ => None,
        };
        let Some(function) = function else {
            // A value on its own (`.Values.a`), or piped into a method: its alternatives.
            let mut vals: Vec<Val> = operands.into_iter().map(|o| o.val).collect();
            vals.extend(input);
            return Ok(match vals.as_slice() {
                [single] => single.clone(),
                _ => self.union(vals.iter()),
            });
        };
        let mut args: Vec<Operand> = operands.into_iter().skip(1).collect();
        if let Some(val) = input {
            args.push(Operand {
                val,
                word: None,
                text: None,
            });
        }
        Ok(self.call(&function, &args))
    }

    /// What calling `function` with `args` reads and stands for.
    fn call(&mut self, function: &str, args: &[Operand]) -> Val {
        match function {
            "index" => match args.split_first() {
                Some((base, keys)) => self.keyed(&base.val, keys),
                None => Val::Unknown,
            },
            "get" | "hasKey" if args.len() == 2 => {
                let value = self.keyed(&args[0].val, &args[1..]);
                match function {
                    "get" => value,
                    _ => Val::Unknown,
                }
            }
            // `dig "a" "b" default map`.
            "dig" if args.len() >= 3 => {
                let (map, rest) = args.split_last().expect("three arguments");
                self.keyed(&map.val, &rest[..rest.len() - 1])
            }
            f if OPENERS.contains(&f) || f == "dig" || f == "get" || f == "hasKey" => {
                for arg in args {
                    self.open(&arg.val);
                }
                Val::Unknown
            }
            // Anything else may hand back one of its arguments (`default`, `coalesce`,
            // `ternary`, `merge`, `dict`): it stands for all of them, so whatever takes the
            // result later opens them.
            _ => self.union(args.iter().map(|a| &a.val)),
        }
    }

    /// `base` indexed by `keys`: literal keys narrow the path; a key computed at render time
    /// opens what is indexed.
    fn keyed(&mut self, base: &Val, keys: &[Operand]) -> Val {
        let Val::Paths(paths) = base else {
            return Val::Unknown;
        };
        let mut out = Vec::new();
        for path in paths {
            let mut path = path.clone();
            let mut literal = true;
            for key in keys {
                match &key.text {
                    Some(text) => path.push(text.clone()),
                    None => {
                        literal = false;
                        break;
                    }
                }
            }
            let path = self.bounded(path);
            match literal {
                true => {
                    self.out.read.insert(path.clone());
                    out.push(path);
                }
                false => self.open_path(path),
            }
        }
        match out.is_empty() {
            true => Val::Unknown,
            false => Val::Paths(out),
        }
    }

    /// `base.fields…`; a `Values` field anywhere starts over at `.Values` (`$.Values`,
    /// `.ctx.Values`, `$root.Values` are the chart's values, whatever the dot is).
    fn field_of(&mut self, base: &Val, fields: &[String]) -> Val {
        if let Some(at) = fields.iter().position(|f| f == "Values") {
            let path = self.bounded(fields[at + 1..].to_vec());
            self.out.read.insert(path.clone());
            return Val::Paths(vec![path]);
        }
        match base {
            _ if fields.is_empty() => base.clone(),
            Val::Paths(paths) => {
                let mut out = Vec::new();
                for path in paths {
                    let extended = self.bounded([path.as_slice(), fields].concat());
                    self.out.read.insert(extended.clone());
                    out.push(extended);
                }
                Val::Paths(out)
            }
            // `.Release.Name`, `.Chart.Name`, fields of a range element.
            Val::Root | Val::Unknown => Val::Unknown,
        }
    }

    fn lookup(&self, name: &str) -> Val {
        self.vars
            .iter()
            .rev()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.clone())
            .unwrap_or(Val::Unknown)
    }

    /// All alternatives of `vals`, within [`MAX_ALTERNATIVES`]: past it every path is opened
    /// and the value forgotten (which also keeps the de-duplication below linear).
    fn union<'v>(&mut self, vals: impl Iterator<Item = &'v Val>) -> Val {
        let mut paths: Vec<Path> = Vec::new();
        let mut overflowed = false;
        for path in vals.flat_map(Val::paths) {
            if overflowed {
                self.open_path(path.clone());
            } else if !paths.contains(path) {
                paths.push(path.clone());
                if paths.len() > MAX_ALTERNATIVES {
                    overflowed = true;
                    for path in std::mem::take(&mut paths) {
                        self.open_path(path);
                    }
                }
            }
        }
        match paths.is_empty() {
            true => Val::Unknown,
            false => Val::Paths(paths),
        }
    }

    /// Bind `$name`: `=` changes the variable in scope (it may stand for its old value or
    /// the new one); `:=` declares it in a new scope (a block's header) or the current one,
    /// where a second declaration replaces the first.
    fn bind(&mut self, name: &str, val: Val, assign: bool, new_scope: bool) -> Result<(), Unsure> {
        if assign && let Some(at) = self.vars.iter().rposition(|(n, _)| n == name) {
            let both = self.union([&self.vars[at].1.clone(), &val].into_iter());
            self.vars[at].1 = both;
            return Ok(());
        }
        let scope = match new_scope {
            true => self.vars.len(),
            false => self.blocks.last().map_or(0, |b| b.vars_len),
        };
        if let Some(slot) = self.vars[scope..].iter_mut().find(|(n, _)| n == name) {
            slot.1 = val;
            return Ok(());
        }
        if self.vars.len() >= MAX_VARIABLES {
            return Err(Unsure);
        }
        self.vars.push((name.to_string(), val));
        Ok(())
    }

    fn open(&mut self, val: &Val) {
        for path in val.paths().to_vec() {
            self.open_path(path);
        }
    }

    fn open_path(&mut self, path: Path) {
        if path.is_empty() {
            self.out.everything = true;
        }
        self.out.open.insert(path);
    }

    /// Values never nest deeper than [`MAX_DEPTH`]: a longer path is cut there and opened,
    /// which accepts exactly what the longer one would.
    fn bounded(&mut self, mut path: Path) -> Path {
        if path.len() > MAX_DEPTH {
            path.truncate(MAX_DEPTH);
            self.out.open.insert(path.clone());
        }
        path
    }
}

/// `$x :=`, `$x =`, `$k, $v :=` at the start of a pipeline: the names, whether it assigns
/// (`=`) rather than declares, and the rest.
fn declarations(toks: &[Tok]) -> (Vec<String>, bool, &[Tok]) {
    let var = |t: Option<&Tok>| match t {
        Some(Tok::Chain {
            var: Some(name),
            fields,
            ..
        }) if fields.is_empty() && !name.is_empty() => Some(name.clone()),
        _ => None,
    };
    let binds = |t: Option<&Tok>| match t {
        Some(Tok::Declare) => Some(false),
        Some(Tok::Assign) => Some(true),
        _ => None,
    };
    if let Some(first) = var(toks.first()) {
        if let Some(assign) = binds(toks.get(1)) {
            return (vec![first], assign, &toks[2..]);
        }
        if toks.get(1) == Some(&Tok::Comma)
            && let Some(second) = var(toks.get(2))
            && let Some(assign) = binds(toks.get(3))
        {
            return (vec![first, second], assign, &toks[4..]);
        }
    }
    (Vec::new(), false, toks)
}

/// The commands of a pipeline: split at `|` outside parentheses.
fn split_pipes(toks: &[Tok]) -> Vec<&[Tok]> {
    let mut out = Vec::new();
    let (mut depth, mut start) = (0usize, 0usize);
    for (i, tok) in toks.iter().enumerate() {
        match tok {
            Tok::Open => depth += 1,
            Tok::Close => depth = depth.saturating_sub(1),
            Tok::Pipe if depth == 0 => {
                out.push(&toks[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(&toks[start..]);
    out
}

fn matching_close(toks: &[Tok], open: usize) -> Option<usize> {
    let mut depth = 0usize;
    for (i, tok) in toks.iter().enumerate().skip(open) {
        match tok {
            Tok::Open => depth += 1,
            Tok::Close => {
                depth -= 1;
                if depth == 0 {
                    return Some(i);
                }
            }
            _ => {}
        }
    }
    None
}

/// One action found in a template: its content without delimiters and trim markers (`None`
/// for a comment), and where the text after it starts.
struct Action<'t> {
    content: Option<&'t str>,
    after: usize,
}

/// The next action at or after byte `from`; `Err` for one that never ends.
fn next_action(text: &str, from: usize) -> Result<Option<Action<'_>>, Unsure> {
    let Some(open) = text[from..].find("{{").map(|i| from + i) else {
        return Ok(None);
    };
    let bytes = text.as_bytes();
    let mut start = open + 2;
    // `{{- ` trims the text before; `{{-3}}` is the number -3.
    if bytes.get(start) == Some(&b'-') && bytes.get(start + 1).is_some_and(u8::is_ascii_whitespace)
    {
        start += 1;
    }
    let content_start = start;
    while bytes.get(start).is_some_and(u8::is_ascii_whitespace) {
        start += 1;
    }
    if text[start..].starts_with("/*") {
        let end = text[start + 2..].find("*/").ok_or(Unsure)? + start + 4;
        let rest = text[end..].trim_start_matches(|c: char| c.is_ascii_whitespace());
        let rest = rest.strip_prefix('-').unwrap_or(rest);
        let rest = rest.trim_start_matches(|c: char| c.is_ascii_whitespace());
        if !rest.starts_with("}}") {
            return Err(Unsure);
        }
        let after = text.len() - rest.len() + 2;
        return Ok(Some(Action {
            content: None,
            after,
        }));
    }
    let mut i = start;
    while i < bytes.len() {
        match bytes[i] {
            quote @ (b'"' | b'\'' | b'`') => i = string_end(bytes, i, quote)?,
            b'}' if bytes.get(i + 1) == Some(&b'}') => {
                let mut content = &text[content_start..i];
                // ` -}}` trims the text after.
                if let Some(kept) = content.strip_suffix('-')
                    && kept.ends_with(|c: char| c.is_ascii_whitespace())
                {
                    content = kept;
                }
                return Ok(Some(Action {
                    content: Some(content),
                    after: i + 2,
                }));
            }
            _ => i += 1,
        }
    }
    Err(Unsure)
}

/// The byte after the string literal opened by `quote` at `start`.
fn string_end(bytes: &[u8], start: usize, quote: u8) -> Result<usize, Unsure> {
    let mut i = start + 1;
    while i < bytes.len() {
        match bytes[i] {
            b'\\' if quote != b'`' => i += 2,
            b if b == quote => return Ok(i + 1),
            _ => i += 1,
        }
    }
    Err(Unsure)
}

fn is_word_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

/// The tokens of an action's content.
fn lex(content: &str) -> Vec<Tok> {
    let bytes = content.as_bytes();
    let mut toks = Vec::new();
    let mut i = 0;
    // Whether the previous token was `)` with nothing between: `(…).a` reads a field of it.
    let mut after_close = false;
    while i < bytes.len() {
        let b = bytes[i];
        let was_after_close = std::mem::replace(&mut after_close, false);
        match b {
            b if b.is_ascii_whitespace() => i += 1,
            b'(' => {
                toks.push(Tok::Open);
                i += 1;
            }
            b')' => {
                toks.push(Tok::Close);
                after_close = true;
                i += 1;
            }
            b'|' => {
                toks.push(Tok::Pipe);
                i += 1;
            }
            b',' => {
                toks.push(Tok::Comma);
                i += 1;
            }
            b':' if bytes.get(i + 1) == Some(&b'=') => {
                toks.push(Tok::Declare);
                i += 2;
            }
            b'=' => {
                toks.push(Tok::Assign);
                i += 1;
            }
            b'"' | b'`' => {
                // The action's end was found past every literal, so each one is closed.
                let end = string_end(bytes, i, b).unwrap_or(bytes.len());
                let raw = content.get(i + 1..end.saturating_sub(1)).unwrap_or("");
                let text = match b {
                    b'"' => unescape(raw),
                    _ => raw.to_string(),
                };
                toks.push(Tok::Str(text));
                i = end;
            }
            b'\'' => {
                i = string_end(bytes, i, b).unwrap_or(bytes.len());
                toks.push(Tok::Other);
            }
            b'$' => {
                let start = i + 1;
                i = start;
                while i < bytes.len() && is_word_byte(bytes[i]) {
                    i += 1;
                }
                let name = content[start..i].to_string();
                let fields = fields(content, &mut i);
                toks.push(Tok::Chain {
                    var: Some(name),
                    fields,
                    attached: false,
                });
            }
            b'.' if !bytes.get(i + 1).is_some_and(u8::is_ascii_digit) => {
                let fields = fields(content, &mut i);
                toks.push(Tok::Chain {
                    var: None,
                    fields,
                    attached: was_after_close,
                });
            }
            b if b.is_ascii_alphabetic() || b == b'_' => {
                let start = i;
                while i < bytes.len() && is_word_byte(bytes[i]) {
                    i += 1;
                }
                toks.push(Tok::Word(content[start..i].to_string()));
            }
            _ => {
                // Numbers and anything else: no values are read through them.
                i += 1;
                while i < bytes.len() && (is_word_byte(bytes[i]) || bytes[i] == b'.') {
                    i += 1;
                }
                toks.push(Tok::Other);
            }
        }
    }
    toks
}

/// `.a.b` at `i`: the field names (none for a lone `.`); `i` moves past them.
fn fields(content: &str, i: &mut usize) -> Vec<String> {
    let bytes = content.as_bytes();
    let mut out = Vec::new();
    while *i < bytes.len() && bytes[*i] == b'.' {
        let start = *i + 1;
        *i = start;
        while *i < bytes.len() && is_word_byte(bytes[*i]) {
            *i += 1;
        }
        if *i > start {
            out.push(content[start..*i].to_string());
        }
    }
    out
}

/// A Go string literal's text (the escapes keys are written with).
fn unescape(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    let mut chars = raw.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('n') => out.push('\n'),
            Some('t') => out.push('\t'),
            Some(other) => out.push(other),
            None => {}
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reads(text: &str) -> TemplateReads {
        let mut reads = TemplateReads::default();
        read_template(text, &mut reads);
        reads
    }

    fn path(dotted: &str) -> Path {
        match dotted {
            "" => Vec::new(),
            _ => dotted.split('.').map(String::from).collect(),
        }
    }

    #[track_caller]
    fn assert_read(reads: &TemplateReads, dotted: &str) {
        assert!(
            reads.read.contains(&path(dotted)),
            "{dotted} not read: {reads:?}"
        );
    }

    #[track_caller]
    fn assert_open(reads: &TemplateReads, dotted: &str) {
        assert!(
            reads.open.contains(&path(dotted)),
            "{dotted} not open: {reads:?}"
        );
    }

    #[test]
    fn a_field_chain_is_read_from_the_dot_and_from_the_root() {
        let found = reads("image: {{ .Values.image.repository }}:{{ $.Values.image.tag }}\n");
        assert_read(&found, "image.repository");
        assert_read(&found, "image.tag");
        assert!(found.open.is_empty() && !found.everything, "{found:?}");
        // `.Release.Name` and `.Chart` are not values.
        let found = reads("{{ .Release.Name }}-{{ .Chart.Name }}");
        assert!(found.read.is_empty(), "{found:?}");
    }

    #[test]
    fn index_with_literal_keys_reads_the_path_and_a_computed_key_opens_the_map() {
        let found = reads(
            r#"{{ index .Values "backend-api" "image" }} {{ index .Values.ingress "class-name" }}"#,
        );
        assert_read(&found, "backend-api.image");
        assert_read(&found, "ingress.class-name");
        let found = reads(r#"{{ range $k := list "a" }}{{ index $.Values.hosts $k }}{{ end }}"#);
        assert_open(&found, "hosts");
        assert!(!found.everything);
    }

    #[test]
    fn with_makes_the_dot_the_subtree_until_its_else_or_end() {
        let found = reads(
            "{{- with .Values.service }}\nport: {{ .port }}\n{{- with .tls }}{{ .secretName }}{{ end }}\n{{- else }}{{ .Values.fallback }}{{ .Release.Name }}\n{{- end }}\n{{ .name }}",
        );
        assert_read(&found, "service.port");
        assert_read(&found, "service.tls.secretName");
        assert_read(&found, "fallback");
        // After `end` the dot is the root again: `.name` is no value.
        assert!(!found.read.contains(&path("service.name")), "{found:?}");
        assert!(!found.read.contains(&path("name")), "{found:?}");
        let found = reads("{{ with .Values.a }}{{ else with .Values.b }}{{ .c }}{{ end }}");
        assert_read(&found, "b.c");
    }

    #[test]
    fn range_opens_what_it_iterates() {
        let found = reads("{{ range .Values.hosts }}- {{ .host }}\n{{ end }}");
        assert_open(&found, "hosts");
        // An element's fields are not top-level values.
        assert!(!found.read.contains(&path("host")), "{found:?}");
        let found = reads(
            "{{- range $name, $value := .Values.env }}\n- name: {{ $name }}\n  value: {{ $value.x }}\n{{- end }}",
        );
        assert_open(&found, "env");
        assert!(!found.read.contains(&path("env.x")), "{found:?}");
    }

    #[test]
    fn variables_stand_for_what_they_were_given() {
        let found = reads(
            "{{- $svc := .Values.service -}}\n{{ $svc.port }}\n{{- $img := index .Values \"image\" }}{{ $img.tag }}\n{{ $svc = .Values.other }}{{ $svc.name }}",
        );
        assert_read(&found, "service.port");
        assert_read(&found, "image.tag");
        assert_read(&found, "other.name");
        let found = reads("{{ with $c := .Values.config }}{{ $c.level }}{{ end }}{{ $c.after }}");
        assert_read(&found, "config.level");
        // A variable of a block's header is gone after its `end`.
        assert!(!found.read.contains(&path("config.after")), "{found:?}");
        // A header's variable shadows an outer one until `end`; `=` inside a block changes the
        // outer one, which may then stand for either value.
        let found = reads(
            "{{ $x := .Values.a }}{{ with $x := .Values.b }}{{ end }}{{ $x.c }}{{ if true }}{{ $x = .Values.d }}{{ end }}{{ $x.e }}",
        );
        for read in ["a.c", "a.e", "d.e"] {
            assert_read(&found, read);
        }
        assert!(!found.read.contains(&path("b.c")), "{found:?}");
        // `default` and `coalesce` may hand back any of their arguments.
        let found = reads("{{ $r := .Values.resources | default dict }}{{ $r.limits }}");
        assert_read(&found, "resources.limits");
    }

    #[test]
    fn subtrees_handed_to_what_takes_any_key_are_open() {
        let found = reads(
            "{{ toYaml .Values.podAnnotations }}\n{{ .Values.labels | toYaml | nindent 4 }}\n{{ tpl .Values.extraConfig . }}\n{{ include \"x.env\" .Values.env }}\n{{ include \"x.y\" (dict \"ctx\" $ \"cfg\" .Values.cfg) }}\n{{- with .Values.resources }}{{ toYaml . }}{{ end }}",
        );
        for open in [
            "podAnnotations",
            "labels",
            "extraConfig",
            "env",
            "cfg",
            "resources",
        ] {
            assert_open(&found, open);
        }
        assert!(!found.everything, "{found:?}");
        // The root context handed to a helper is not `.Values`.
        let found = reads("{{ include \"x.labels\" . }}{{ template \"x.name\" $ }}");
        assert!(!found.everything && found.open.is_empty(), "{found:?}");
    }

    #[test]
    fn values_handed_whole_make_every_key_known() {
        assert!(reads("{{ toYaml .Values }}").everything);
        assert!(reads("{{ .Values | toJson }}").everything);
        assert!(reads("{{ range $k, $v := $.Values }}{{ end }}").everything);
        assert!(!reads("{{ if .Values }}x{{ end }}").everything);
    }

    #[test]
    fn defines_and_helpers_are_read_with_the_root_context() {
        let found = reads(
            "{{/*\nFull name. {{ .Values.notRead }}\n*/}}\n{{- define \"app.fullname\" -}}\n{{- if .Values.fullnameOverride }}{{ .Values.fullnameOverride | trunc 63 }}{{ end -}}\n{{- end -}}\n{{- define \"app.ctx\" -}}{{ .ctx.Values.nested.key }}{{- end }}",
        );
        assert_read(&found, "fullnameOverride");
        assert_read(&found, "nested.key");
        assert!(!found.read.contains(&path("notRead")), "{found:?}");
    }

    #[test]
    fn comments_trims_and_strings_holding_braces_do_not_end_an_action() {
        let found = reads(
            "{{- /* a comment with \"quotes\" and {{ .Values.no }} */ -}}\n{{ printf \"}}%s{{\" .Values.after.string }}\n{{ \"{{\" }} .Values.literal.text {{ \"}}\" }}\n{{- `raw }}` | replace .Values.raw.arg \"\" -}}\n{{-3}}",
        );
        assert_read(&found, "after.string");
        assert_read(&found, "raw.arg");
        assert!(!found.read.contains(&path("no")), "{found:?}");
        assert!(!found.read.contains(&path("literal.text")), "{found:?}");
        assert!(!found.everything, "{found:?}");
        // Text beyond ASCII, inside and outside actions.
        let found = reads("é{{ .Values.ünïcode | default \"héllo\" }}ü{{ 'é' }}{{ .Values.x·y }}");
        assert_read(&found, "x");
        assert!(!found.everything, "{found:?}");
    }

    #[test]
    fn get_haskey_dig_and_parenthesised_fields_narrow_the_path() {
        let found = reads(
            "{{ get .Values.a \"b-c\" }}{{ if hasKey .Values.d \"e\" }}{{ end }}{{ dig \"f\" \"g\" \"\" .Values.h }}{{ (index .Values \"i\").j }}",
        );
        for read in ["a.b-c", "d.e", "h.f.g", "i.j"] {
            assert_read(&found, read);
        }
    }

    #[test]
    fn a_template_that_cannot_be_followed_makes_every_key_known() {
        for broken in [
            "{{ .Values.a ",
            "{{ if .Values.a }}",
            "{{ end }}",
            "{{/* never closed",
            "{{ \"unterminated }}",
            "{{ define \"a\" }}{{ define \"b\" }}{{ end }}{{ end }}",
        ] {
            assert!(reads(broken).everything, "{broken:?}");
        }
    }

    /// Fragments of actions cut and joined every which way: the reader never panics and every
    /// path it reports stays within the values' depth.
    #[test]
    fn any_jumble_of_template_fragments_is_read_without_a_panic() {
        const PIECES: &[&str] = &[
            "{{", "}}", "{{-", "-}}", " ", "\"", "`", "'", "(", ")", "|", ":=", "=", ",", "$",
            "$x", ".", ".Values", ".a", "index", "with", "range", "if", "else", "end", "define",
            "block", "template", "toYaml", "\"k\"", "/*", "*/", "é", "\\", "-", "3", "\n",
        ];
        let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
        for _ in 0..3000 {
            let mut text = String::new();
            for _ in 0..24 {
                // xorshift: a fixed sequence, so a failure reproduces.
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                text.push_str(PIECES[(seed % PIECES.len() as u64) as usize]);
            }
            let found = reads(&text);
            assert!(
                found
                    .read
                    .iter()
                    .chain(&found.open)
                    .all(|p| p.len() <= MAX_DEPTH),
                "{text:?}"
            );
        }
    }

    #[test]
    fn huge_and_deep_templates_are_bounded() {
        // Parentheses far past the limit: no stack overflow, every key known.
        let deep = format!(
            "{{{{ {}.Values.a{} }}}}",
            "(".repeat(100_000),
            ")".repeat(100_000)
        );
        assert!(reads(&deep).everything);
        // Blocks past the limit.
        let blocks = "{{ if .Values.a }}".repeat(MAX_BLOCK_DEPTH + 1)
            + &"{{ end }}".repeat(MAX_BLOCK_DEPTH + 1);
        assert!(reads(&blocks).everything);
        // Blocks within it are followed.
        let blocks = "{{ with .Values.a }}".repeat(50) + "{{ .b }}" + &"{{ end }}".repeat(50);
        assert!(!reads(&blocks).everything);
        // A path longer than values can nest is cut at the limit and opened.
        let long = format!("{{{{ .Values{} }}}}", ".a".repeat(MAX_DEPTH * 3));
        let found = reads(&long);
        assert!(found.read.iter().all(|p| p.len() <= MAX_DEPTH), "too long");
        assert!(
            found.open.iter().any(|p| p.len() == MAX_DEPTH),
            "not opened"
        );
        // Variables past the limit: every key known; redeclaring one name is no growth.
        let vars: String = (0..MAX_VARIABLES + 1)
            .map(|i| format!("{{{{ $v{i} := 1 }}}}"))
            .collect();
        assert!(reads(&vars).everything);
        assert!(!reads(&"{{ $v := .Values.a }}".repeat(MAX_VARIABLES + 1)).everything);
        // A value standing for too many paths: each of them opened, the value forgotten.
        let many: String = (0..MAX_ALTERNATIVES + 1)
            .map(|i| format!(" .Values.k{i}"))
            .collect();
        let found = reads(&format!("{{{{ $m := coalesce{many} }}}}{{{{ $m.x }}}}"));
        assert!(
            found.open.contains(&path("k0")) && found.open.contains(&path("k64")),
            "{found:?}"
        );
        assert!(!found.read.contains(&path("k0.x")), "{found:?}");
        // Many actions: linear work.
        let many = "{{ .Values.a.b }}".repeat(100_000);
        assert_eq!(reads(&many).read.len(), 1);
    }
}
