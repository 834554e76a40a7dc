//! The words of DESIGN.md's vocabulary as types, so that an agency kind or a
//! role that the design does not name cannot be stored.

macro_rules! vocabulary {
    ($(#[$meta:meta])* $name:ident, $what:literal { $($variant:ident => $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
        #[serde(rename_all = "snake_case")]
        pub enum $name { $($variant),+ }

        impl $name {
            /// Every value, in the order DESIGN.md lists them.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The stored and displayed name, e.g. `childrens_social_care`.
            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }
        }

        impl ::std::fmt::Display for $name {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl ::std::str::FromStr for $name {
            type Err = String;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                match s {
                    $($text => Ok($name::$variant),)+
                    other => Err(format!(
                        "unknown {} '{}': expected one of {}",
                        $what,
                        other,
                        [$($text),+].join(", ")
                    )),
                }
            }
        }
    };
}
pub(crate) use vocabulary;

vocabulary!(
    /// The kinds of agency taking part in a safeguarding partnership (DESIGN.md, "Agency").
    AgencyKind, "agency kind" {
        ChildrensSocialCare => "childrens_social_care",
        Police => "police",
        Health => "health",
        Education => "education",
        Housing => "housing",
        Probation => "probation",
        YouthJustice => "youth_justice",
        EarlyHelp => "early_help",
        Other => "other",
    }
);

vocabulary!(
    /// A practitioner's role within their own agency (DESIGN.md, "Practitioner").
    /// Roles never grant access to a case by themselves: case membership does.
    Role, "role" {
        Practitioner => "practitioner",
        Manager => "manager",
        Admin => "admin",
        Auditor => "auditor",
    }
);

vocabulary!(
    /// Whether a case is open (DESIGN.md, "Case").
    CaseStatus, "case status" {
        Open => "open",
        Closed => "closed",
    }
);

impl AgencyKind {
    /// A human label for pages.
    pub fn label(self) -> &'static str {
        match self {
            AgencyKind::ChildrensSocialCare => "Children's social care",
            AgencyKind::Police => "Police",
            AgencyKind::Health => "Health",
            AgencyKind::Education => "Education",
            AgencyKind::Housing => "Housing",
            AgencyKind::Probation => "Probation",
            AgencyKind::YouthJustice => "Youth justice",
            AgencyKind::EarlyHelp => "Early help",
            AgencyKind::Other => "Other",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_unknown_names_are_refused() {
        for kind in AgencyKind::ALL {
            assert_eq!(kind.as_str().parse::<AgencyKind>(), Ok(*kind));
        }
        for role in Role::ALL {
            assert_eq!(role.as_str().parse::<Role>(), Ok(*role));
        }
        let err = "social_services".parse::<AgencyKind>().unwrap_err();
        assert!(err.contains("childrens_social_care"), "{err}");
        assert!("superuser".parse::<Role>().is_err());
    }
}
