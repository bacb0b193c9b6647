//! The bad-input corpus: each case feeds stackctl one kind of broken or hostile input through
//! the real binary and asserts the exit code, the located message, and that the process did
//! not panic or abort. One module per area.

mod depth;
