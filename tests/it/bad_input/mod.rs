//! The bad-input corpus: inputs a user can get wrong (a broken file, a misconfigured
//! repository, a misbehaving tool), each run through the real binary. Every case asserts the
//! exit code, the message located at the file (and line) that caused it, and that nothing
//! panicked or overflowed its stack.

mod engine;
