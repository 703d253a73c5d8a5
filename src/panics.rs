//! Panics of the libraries rowferry drives, contained.
//!
//! polars and the workbook reader are large, and a hostile input can reach a panic inside them
//! (an SQL interval they cannot parse, a crafted OLE file). Where rowferry hands them what a
//! user wrote or read, it calls them through [`contain`]: a panic there becomes an `Err` with
//! the library's message, which the caller turns into a clear error naming the file or the
//! expression, instead of a crash. The panic's own message is not printed: the hook installed
//! here stays quiet on a thread inside [`contain`] and defers to the previous hook elsewhere,
//! so a bug of rowferry's own still shows as one.

use std::cell::{Cell, RefCell};
use std::panic::{self, AssertUnwindSafe};
use std::sync::Once;

thread_local! {
    static QUIET: Cell<u32> = const { Cell::new(0) };
    static LAST: RefCell<String> = const { RefCell::new(String::new()) };
}

fn install() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let previous = panic::take_hook();
        panic::set_hook(Box::new(move |info| {
            if QUIET.with(Cell::get) > 0 {
                let text = match info.payload().downcast_ref::<&str>() {
                    Some(s) => (*s).to_string(),
                    None => info
                        .payload()
                        .downcast_ref::<String>()
                        .cloned()
                        .unwrap_or_else(|| "a panic without a message".into()),
                };
                let place = info
                    .location()
                    .map(|l| format!(" ({}:{})", l.file(), l.line()))
                    .unwrap_or_default();
                LAST.with(|l| *l.borrow_mut() = format!("{text}{place}"));
            } else {
                previous(info);
            }
        }));
    });
}

/// Runs `f`; a panic inside it is returned as its message.
pub fn contain<T>(f: impl FnOnce() -> T) -> Result<T, String> {
    install();
    QUIET.with(|q| q.set(q.get() + 1));
    let result = panic::catch_unwind(AssertUnwindSafe(f));
    QUIET.with(|q| q.set(q.get() - 1));
    result.map_err(|_| LAST.with(|l| std::mem::take(&mut *l.borrow_mut())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_panic_inside_is_an_error_with_its_message() {
        assert_eq!(contain(|| 2 + 2), Ok(4));
        let e = contain(|| -> u8 { panic!("bad interval") }).expect_err("contained");
        assert!(e.starts_with("bad interval ("), "{e}");
        // Nested: the inner one is contained, the outer goes on.
        let outer = contain(|| contain(|| -> u8 { panic!("inner") }).is_err());
        assert_eq!(outer, Ok(true));
    }
}
