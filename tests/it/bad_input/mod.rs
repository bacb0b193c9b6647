//! The bad-input corpus: stackctl run on inputs a user can produce by mistake (or a tool by
//! accident), or that once crashed, starved or fooled it. Each case asserts the exit code, a
//! message that names the file (and line, when there is one) and the fix, and that nothing
//! panicked, overflowed its stack or hung. One module per kind of input.

mod engine;
mod files;
mod limits;
