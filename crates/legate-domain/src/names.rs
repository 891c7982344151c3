//! Wire names of legate's unit enums, read from the variant tables strum derives, so a new
//! variant is named, parsed and listed without a hand-kept table to forget.

use strum::VariantArray;

/// Every variant's wire name, in declaration order, joined with `sep`: the list of valid
/// values that a message about an unknown name shows.
pub(crate) fn joined<T>(sep: &str) -> String
where
    T: VariantArray + Copy + Into<&'static str>,
{
    let names: Vec<&str> = T::VARIANTS.iter().map(|&v| v.into()).collect();
    names.join(sep)
}

/// Checks, for every variant of `T`, that its name parses back to it and is exactly its serde
/// JSON string (both ways), so the store, the API and MCP payloads agree.
#[cfg(test)]
pub(crate) fn assert_round_trips<T>()
where
    T: VariantArray
        + Copy
        + Into<&'static str>
        + std::str::FromStr
        + serde::Serialize
        + serde::de::DeserializeOwned
        + PartialEq
        + std::fmt::Debug,
    <T as std::str::FromStr>::Err: std::fmt::Debug,
{
    assert!(!T::VARIANTS.is_empty());
    for &v in T::VARIANTS {
        let name: &'static str = v.into();
        assert_eq!(name.parse::<T>().unwrap(), v, "{name} parses back");
        let json = serde_json::to_string(&v).unwrap();
        assert_eq!(
            json,
            format!("\"{name}\""),
            "serde writes {v:?} as its name"
        );
        assert_eq!(
            serde_json::from_str::<T>(&json).unwrap(),
            v,
            "serde reads {name}"
        );
    }
    let unknown = "no_such_name".parse::<T>();
    assert!(unknown.is_err(), "an unknown name is refused");
}
