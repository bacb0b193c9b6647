//! The bad-input corpus: inputs that once crashed, starved or fooled stackctl, one module per
//! kind of input. Every case asserts the exit code, the located message, and that nothing
//! panicked or overflowed its stack.

mod limits;
