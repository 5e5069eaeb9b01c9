//! A pass over a request body that counts its lists before anything is built from it.
//!
//! A body of `max_body_bytes` parsed whole holds far more memory than its bytes: 4 MiB of
//! `["", "", ...]` is 1.4 million strings, about 60 MiB, built before `[serve] max_inputs` can
//! refuse the list. This pass reads the JSON without keeping any of it (keys aside) and stops
//! at a list, or an object, longer than the limit, naming it as the typed parse would
//! (`inputs.sentences`, `pairs`); the typed parse runs only on a body that passed.

use std::cell::RefCell;
use std::fmt;

use serde::de::{DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

/// A list (or an object) of the body longer than the limit: its path and its length.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TooLong {
    /// The field's path, as errors name fields (`inputs.sentences`, `pairs[3].x`); empty for
    /// the body itself.
    pub path: String,
    /// How many items it holds (counted to where the body ends, if it breaks off).
    pub items: usize,
    /// Whether it is an object (held to `limit.max(64)` keys), not a list.
    pub object: bool,
}

/// The first list or object of the JSON `bytes` holding more than `limit` items (objects:
/// more than `limit.max(64)` keys, as no request object needs more), if any. A body that is
/// not JSON passes: the typed parse says what is wrong with it.
pub(crate) fn too_long(bytes: &[u8], limit: usize) -> Option<TooLong> {
    let state = State {
        path: RefCell::new(Vec::new()),
        found: RefCell::new(None),
        limit,
    };
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let _ = Scan(&state).deserialize(&mut de);
    state.found.into_inner()
}

enum Segment {
    Key(String),
    Index(usize),
}

struct State {
    path: RefCell<Vec<Segment>>,
    found: RefCell<Option<TooLong>>,
    limit: usize,
}

impl State {
    fn path(&self) -> String {
        let mut out = String::new();
        for s in self.path.borrow().iter() {
            match s {
                Segment::Key(k) if out.is_empty() => out.push_str(k),
                Segment::Key(k) => {
                    out.push('.');
                    out.push_str(k);
                }
                Segment::Index(i) => out.push_str(&format!("[{i}]")),
            }
        }
        out
    }

    /// Notes the container at the current path as too long; the error stops the pass.
    fn stop<E: serde::de::Error>(&self, items: usize, object: bool) -> E {
        *self.found.borrow_mut() = Some(TooLong {
            path: self.path(),
            items,
            object,
        });
        E::custom("too long")
    }
}

struct Scan<'a>(&'a State);

impl<'de> DeserializeSeed<'de> for Scan<'_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Scan<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E>(self, _: bool) -> Result<(), E> {
        Ok(())
    }
    fn visit_i64<E>(self, _: i64) -> Result<(), E> {
        Ok(())
    }
    fn visit_u64<E>(self, _: u64) -> Result<(), E> {
        Ok(())
    }
    fn visit_f64<E>(self, _: f64) -> Result<(), E> {
        Ok(())
    }
    fn visit_str<E>(self, _: &str) -> Result<(), E> {
        Ok(())
    }
    fn visit_unit<E>(self) -> Result<(), E> {
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let st = self.0;
        let mut n = 0;
        loop {
            st.path.borrow_mut().push(Segment::Index(n));
            let item = seq.next_element_seed(Scan(st));
            st.path.borrow_mut().pop();
            if item?.is_none() {
                return Ok(());
            }
            n += 1;
            if n > st.limit {
                // The rest is counted, not looked into: the error says how many there are
                // (as many as there are before a body that breaks off breaks off).
                while let Ok(Some(_)) = seq.next_element::<IgnoredAny>() {
                    n += 1;
                }
                return Err(st.stop(n, false));
            }
        }
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let st = self.0;
        let mut n = 0;
        while let Some(key) = map.next_key::<String>()? {
            st.path.borrow_mut().push(Segment::Key(key));
            let value = map.next_value_seed(Scan(st));
            st.path.borrow_mut().pop();
            value?;
            n += 1;
            if n > st.limit.max(64) {
                while let Ok(Some(_)) = map.next_entry::<IgnoredAny, IgnoredAny>() {
                    n += 1;
                }
                return Err(st.stop(n, true));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list(n: usize) -> String {
        format!("[{}]", vec!["\"a\""; n].join(","))
    }

    #[test]
    fn a_list_past_the_limit_is_named_with_its_length() {
        let body = format!(
            r#"{{"inputs": {{"source_sentence": "a", "sentences": {}}}}}"#,
            list(11)
        );
        assert_eq!(
            too_long(body.as_bytes(), 10),
            Some(TooLong {
                path: "inputs.sentences".into(),
                items: 11,
                object: false
            })
        );
        assert_eq!(too_long(body.as_bytes(), 11), None);
        // Inside a list of objects, and a list of lists (token arrays).
        let pairs = format!(r#"{{"pairs": [{{"id": "1", "x": {}}}]}}"#, list(3));
        assert_eq!(
            too_long(pairs.as_bytes(), 2).map(|t| t.path),
            Some("pairs[0].x".into())
        );
        let nested = format!(r#"{{"input": [[1, 2], {}]}}"#, list(5));
        assert_eq!(
            too_long(nested.as_bytes(), 4),
            Some(TooLong {
                path: "input[1]".into(),
                items: 5,
                object: false
            })
        );
    }

    #[test]
    fn objects_are_held_to_at_least_64_keys_and_bad_json_passes() {
        let keys = |n: usize| {
            let k: Vec<String> = (0..n).map(|i| format!("\"k{i}\": 1")).collect();
            format!(r#"{{"inputs": {{{}}}}}"#, k.join(","))
        };
        assert_eq!(too_long(keys(64).as_bytes(), 1), None);
        assert_eq!(
            too_long(keys(65).as_bytes(), 1),
            Some(TooLong {
                path: "inputs".into(),
                items: 65,
                object: true
            })
        );
        // A body that is itself a list: its path is empty (the caller names it "the body").
        assert_eq!(
            too_long(b"[1, 2, 3]", 2),
            Some(TooLong {
                path: String::new(),
                items: 3,
                object: false
            })
        );
        // Not JSON, or cut short: the typed parse names what is wrong.
        assert_eq!(too_long(b"{\"inputs\": [\"a\", ", 10), None);
        assert_eq!(too_long(b"nonsense", 10), None);
        // Past the limit before the body breaks off: still too long.
        let cut = &list(20)[..30];
        let body = format!(r#"{{"input": {cut}"#);
        assert_eq!(
            too_long(body.as_bytes(), 3).map(|t| t.path),
            Some("input".into())
        );
    }
}
