//! Reading the JSON documents promotion and the burn-in take (a calibration, an
//! expectation): bounded in size, and with every name-keyed map refusing a key given twice,
//! which plain `serde_json` would settle silently by keeping the last value.

use crate::error::{CalibrateError, Result};
use serde::de::{Deserializer, Error as _, MapAccess, Visitor};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::fmt;
use std::io::Read;
use std::marker::PhantomData;
use std::path::Path;

/// The largest document read (a calibration of hundreds of phases is a few MiB).
pub const MAX_DOC_BYTES: u64 = 64 * 1024 * 1024;

/// Reads the file at `path` (`what` it should be, for the error), refusing one larger than
/// [`MAX_DOC_BYTES`].
pub(crate) fn read_doc(path: &Path, what: &str) -> Result<Vec<u8>> {
    let file = std::fs::File::open(path).map_err(|e| CalibrateError::io(path, e))?;
    let mut bytes = Vec::new();
    file.take(MAX_DOC_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| CalibrateError::io(path, e))?;
    if bytes.len() as u64 > MAX_DOC_BYTES {
        return Err(CalibrateError::input(
            path,
            format!(
                "larger than {} MiB: not {what}",
                MAX_DOC_BYTES / (1024 * 1024)
            ),
        ));
    }
    Ok(bytes)
}

/// `deserialize_with` for a `BTreeMap<String, V>` whose keys are names (phases,
/// percentiles): a key given twice is an error naming it.
pub(crate) fn unique_keys<'de, D, V>(d: D) -> std::result::Result<BTreeMap<String, V>, D::Error>
where
    D: Deserializer<'de>,
    V: Deserialize<'de>,
{
    struct Keys<V>(PhantomData<V>);
    impl<'de, V: Deserialize<'de>> Visitor<'de> for Keys<V> {
        type Value = BTreeMap<String, V>;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("an object")
        }

        fn visit_map<A: MapAccess<'de>>(
            self,
            mut m: A,
        ) -> std::result::Result<Self::Value, A::Error> {
            let mut out = BTreeMap::new();
            while let Some(k) = m.next_key::<String>()? {
                if out.contains_key(&k) {
                    return Err(A::Error::custom(format!(
                        "the key `{k}` appears twice in one object"
                    )));
                }
                let v = m.next_value()?;
                out.insert(k, v);
            }
            Ok(out)
        }
    }
    d.deserialize_map(Keys(PhantomData))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Deserialize)]
    struct Doc {
        #[serde(deserialize_with = "unique_keys")]
        phases: BTreeMap<String, u32>,
    }

    #[test]
    fn a_repeated_key_is_an_error_with_its_place_and_distinct_keys_pass() {
        let d: Doc = serde_json::from_str(r#"{"phases": {"a": 1, "b": 2}}"#).unwrap();
        assert_eq!(d.phases.len(), 2);
        let e = serde_json::from_str::<Doc>("{\"phases\": {\"a\": 1,\n \"a\": 2}}")
            .unwrap_err()
            .to_string();
        assert!(e.contains("the key `a` appears twice"), "{e}");
        assert!(e.contains("line 2"), "{e}");
    }

    #[test]
    fn a_document_over_the_bound_is_refused_before_it_is_parsed() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("big.json");
        let f = std::fs::File::create(&p).unwrap();
        f.set_len(MAX_DOC_BYTES + 1).unwrap();
        let e = read_doc(&p, "a calibration document")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("larger than 64 MiB: not a calibration document"),
            "{e}"
        );
        std::fs::write(&p, b"{}").unwrap();
        assert_eq!(read_doc(&p, "x").unwrap(), b"{}");
    }
}
