//! Declarative macros that generate the repetitive parts of the wire types.
//!
//! * `wire_enum!` — a forward-compatible string enum (`#[non_exhaustive]`, final `Unknown(String)`,
//!   infallible parsing, hand-written serde impls).
//! * `id_newtype!` — a transparent string newtype for identifiers.
//! * `secret_newtype!` — a string newtype whose `Debug` is redacted.
//! * `optional_setters!` — chainable `with_x(...)` setters for `Option` fields.
//!
//! The macros are crate-internal; new products add their types inside this crate.

/// Generates a forward-compatible wire enum.
///
/// ```text
/// wire_enum! {
///     /// Doc of the enum.
///     pub enum OsType {
///         /// Apple iOS.
///         Ios = "IOS",
///         /// Android.
///         Android = "ANDROID",
///     }
/// }
/// ```
///
/// The generated enum is `#[non_exhaustive]`, ends with `Unknown(String)` (holding the exact wire string of
/// any value not listed), and gets `KNOWN`, `as_str`, `from_wire`, `is_known`, `Display`, `FromStr`
/// (`Err = Infallible`), `From<&str>`, `From<String>`, `Serialize` and `Deserialize`.
macro_rules! wire_enum {
    (
        $(#[$meta:meta])*
        pub enum $name:ident {
            $(
                $(#[$vmeta:meta])*
                $variant:ident = $wire:literal,
            )+
        }
    ) => {
        $(#[$meta])*
        ///
        /// This enum is forward compatible: a value this crate does not know parses into
        /// [`Unknown`](Self::Unknown) carrying the exact wire string, and serialises back unchanged.
        /// Never *send* an `Unknown` value in a request.
        #[derive(Debug, Clone, PartialEq, Eq, Hash)]
        #[non_exhaustive]
        pub enum $name {
            $(
                $(#[$vmeta])*
                #[doc = concat!("\n\nWire value: `", $wire, "`.")]
                $variant,
            )+
            /// A value not known to this version of the crate (the exact wire string).
            Unknown(::std::string::String),
        }

        impl $name {
            /// Every value known to this crate, in declaration order (without `Unknown`).
            pub const KNOWN: &'static [$name] = &[$($name::$variant,)+];

            /// The exact wire string of this value.
            #[must_use]
            pub fn as_str(&self) -> &str {
                match self {
                    $($name::$variant => $wire,)+
                    $name::Unknown(other) => other.as_str(),
                }
            }

            /// Parses a wire string; never fails (unknown strings become `Unknown`).
            #[must_use]
            pub fn from_wire(value: &str) -> Self {
                match value {
                    $($wire => $name::$variant,)+
                    other => $name::Unknown(other.to_owned()),
                }
            }

            /// `true` unless this is the `Unknown` catch-all.
            #[must_use]
            pub fn is_known(&self) -> bool {
                !matches!(self, $name::Unknown(_))
            }
        }

        impl ::core::fmt::Display for $name {
            fn fmt(&self, f: &mut ::core::fmt::Formatter<'_>) -> ::core::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl ::core::str::FromStr for $name {
            type Err = ::core::convert::Infallible;

            fn from_str(value: &str) -> ::core::result::Result<Self, Self::Err> {
                Ok(Self::from_wire(value))
            }
        }

        impl ::core::convert::From<&str> for $name {
            fn from(value: &str) -> Self {
                Self::from_wire(value)
            }
        }

        impl ::core::convert::From<::std::string::String> for $name {
            fn from(value: ::std::string::String) -> Self {
                match value.as_str() {
                    $($wire => $name::$variant,)+
                    _ => $name::Unknown(value),
                }
            }
        }

        impl ::serde::Serialize for $name {
            fn serialize<S: ::serde::Serializer>(
                &self,
                serializer: S,
            ) -> ::core::result::Result<S::Ok, S::Error> {
                serializer.serialize_str(self.as_str())
            }
        }

        impl<'de> ::serde::Deserialize<'de> for $name {
            fn deserialize<D: ::serde::Deserializer<'de>>(
                deserializer: D,
            ) -> ::core::result::Result<Self, D::Error> {
                struct WireVisitor;

                impl ::serde::de::Visitor<'_> for WireVisitor {
                    type Value = $name;

                    fn expecting(&self, f: &mut ::core::fmt::Formatter<'_>) -> ::core::fmt::Result {
                        f.write_str(concat!("a string (", stringify!($name), ")"))
                    }

                    fn visit_str<E: ::serde::de::Error>(
                        self,
                        value: &str,
                    ) -> ::core::result::Result<$name, E> {
                        Ok($name::from_wire(value))
                    }

                    fn visit_string<E: ::serde::de::Error>(
                        self,
                        value: ::std::string::String,
                    ) -> ::core::result::Result<$name, E> {
                        Ok($name::from(value))
                    }
                }

                deserializer.deserialize_str(WireVisitor)
            }
        }
    };
}

/// Generates a transparent string newtype for an identifier.
///
/// Gives `new`, `as_str`, `into_inner`, `Display`, `FromStr` (`Err = Infallible`), `From<String>`,
/// `From<&str>`, `AsRef<str>` and transparent serde.
macro_rules! id_newtype {
    ($(#[$meta:meta])* $name:ident) => {
        $(#[$meta])*
        #[derive(
            Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, ::serde::Serialize, ::serde::Deserialize,
        )]
        #[serde(transparent)]
        pub struct $name(::std::string::String);

        impl $name {
            /// Wraps a string.
            #[must_use]
            pub fn new(value: impl Into<::std::string::String>) -> Self {
                Self(value.into())
            }

            /// The identifier as a string slice.
            #[must_use]
            pub fn as_str(&self) -> &str {
                &self.0
            }

            /// Unwraps into the inner string.
            #[must_use]
            pub fn into_inner(self) -> ::std::string::String {
                self.0
            }
        }

        impl ::core::fmt::Display for $name {
            fn fmt(&self, f: &mut ::core::fmt::Formatter<'_>) -> ::core::fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl ::core::str::FromStr for $name {
            type Err = ::core::convert::Infallible;

            fn from_str(value: &str) -> ::core::result::Result<Self, Self::Err> {
                Ok(Self(value.to_owned()))
            }
        }

        impl ::core::convert::From<::std::string::String> for $name {
            fn from(value: ::std::string::String) -> Self {
                Self(value)
            }
        }

        impl ::core::convert::From<&str> for $name {
            fn from(value: &str) -> Self {
                Self(value.to_owned())
            }
        }

        impl ::core::convert::AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }
    };
}

/// Generates a string newtype for a secret value (token, code).
///
/// `Debug` prints only the type name and the length, never the value; there is deliberately no
/// `Display`, `AsRef<str>` or `Deref`. The value is reachable only through `expose_secret()`. Serde is
/// transparent: the real value goes on the wire.
macro_rules! secret_newtype {
    ($(#[$meta:meta])* $name:ident) => {
        $(#[$meta])*
        ///
        #[doc = concat!(
            "`Debug` output is redacted (`", stringify!($name), "(<redacted; N chars>)`); use ",
            "[`expose_secret`](Self::expose_secret) to read the value."
        )]
        #[derive(Clone, PartialEq, Eq, Hash, ::serde::Serialize, ::serde::Deserialize)]
        #[serde(transparent)]
        pub struct $name(::std::string::String);

        impl $name {
            /// Wraps a secret string.
            #[must_use]
            pub fn new(value: impl Into<::std::string::String>) -> Self {
                Self(value.into())
            }

            /// Returns the secret value.
            ///
            /// # Security
            ///
            /// This is the raw credential. Do not log it, put it in error messages, metrics or URLs,
            /// or store it unencrypted; call this only where the value must actually be sent or
            /// compared.
            #[must_use]
            pub fn expose_secret(&self) -> &str {
                &self.0
            }

            /// Length of the secret in characters (safe to log).
            #[must_use]
            pub fn char_len(&self) -> usize {
                self.0.chars().count()
            }
        }

        impl ::core::fmt::Debug for $name {
            fn fmt(&self, f: &mut ::core::fmt::Formatter<'_>) -> ::core::fmt::Result {
                write!(f, concat!(stringify!($name), "(<redacted; {} chars>)"), self.char_len())
            }
        }

        impl ::core::convert::From<::std::string::String> for $name {
            fn from(value: ::std::string::String) -> Self {
                Self(value)
            }
        }

        impl ::core::convert::From<&str> for $name {
            fn from(value: &str) -> Self {
                Self(value.to_owned())
            }
        }
    };
}

/// Generates chainable `with_x(value)` setters for `Option<T>` fields of a struct.
///
/// ```text
/// optional_setters!(RevokeRequest {
///     with_merchant_account_id => merchant_account_id: String,
/// });
/// ```
macro_rules! optional_setters {
    ($ty:ident { $($fn_name:ident => $field:ident : $t:ty),* $(,)? }) => {
        impl $ty {
            $(
                #[doc = concat!("Sets the optional `", stringify!($field), "` field (builder style).")]
                #[must_use]
                pub fn $fn_name(mut self, value: impl Into<$t>) -> Self {
                    self.$field = Some(value.into());
                    self
                }
            )*
        }
    };
}

pub(crate) use id_newtype;
pub(crate) use optional_setters;
pub(crate) use secret_newtype;
pub(crate) use wire_enum;
