//! A plugin that loops, allocates without end or panics fails that call with a
//! clear error while the host goes on; a plugin that imports the clock (or
//! anything but the canonical types) is refused at load.

use crate::{runtime, test_program};
use switchboard_pipeline::plugins::translator::{CallError, Translator};

fn rogue() -> Translator {
    Translator::load(runtime(), "rogue", &test_program("rogue_translator.wasm")).expect("loads")
}

#[test]
fn an_endless_loop_is_stopped_at_the_deadline() {
    let rogue = rogue();
    let mut instance = rogue.instantiate().expect("instance");
    let error = instance.decode(b"loop").expect_err("must be stopped");
    assert!(
        matches!(
            error,
            CallError::DeadlineExceeded {
                function: "decode",
                ..
            }
        ),
        "{error}"
    );
    // The instance is replaced and serves the next call.
    assert_eq!(instance.decode(b"ok").expect("no trap"), Ok(Vec::new()));
}

#[test]
fn unbounded_allocation_hits_the_memory_limit() {
    let rogue = rogue();
    let mut instance = rogue.instantiate().expect("instance");
    let error = instance.decode(b"grow").expect_err("must trap");
    assert!(matches!(error, CallError::Trapped { .. }), "{error}");
    assert_eq!(instance.decode(b"ok").expect("no trap"), Ok(Vec::new()));
}

#[test]
fn a_panic_is_reported_with_its_message() {
    let rogue = rogue();
    let mut instance = rogue.instantiate().expect("instance");
    let error = instance.decode(b"panic").expect_err("must trap");
    let text = error.to_string();
    assert!(
        text.contains("rogue translator panicked on purpose"),
        "{text}"
    );
    assert!(text.contains("`decode`"), "{text}");
}

#[test]
fn a_translator_that_reads_the_clock_is_refused() {
    let error = Translator::load(runtime(), "clock", &test_program("clock_translator.wasm"))
        .err()
        .expect("must be refused");
    let text = format!("{error:#}");
    assert!(text.contains("wasi:clocks/"), "{text}");
    assert!(text.contains("translator `clock` imports"), "{text}");
}
